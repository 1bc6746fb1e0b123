package config

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

func load(env map[string]string) (*Config, error) {
	return Load(context.Background(), envconfig.MapLookuper(env))
}

func TestPlainHTTPToAnotherHostIsRefused(t *testing.T) {
	tenant := func(url string) map[string]string {
		return map[string]string{"XDR_BASE_URL": url, "XDR_API_KEY_ID": "1", "XDR_API_KEY": testKey}
	}
	for url, refused := range map[string]bool{
		"http://api-x.example":                      true,
		"HTTP://api-x.example:8080/public_api/v1":   true,
		"http://10.0.0.8:8089":                      true,
		"http://127.0.0.1:8089":                     false,
		"http://127.10.0.1:8089":                    false,
		"http://localhost:8089":                     false,
		"http://[::1]:8089":                         false,
		"https://api-x.xdr.us.paloaltonetworks.com": false,
	} {
		_, err := load(tenant(url))
		if got := err != nil; got != refused {
			t.Errorf("%s: refused = %v (%v), want %v", url, got, err, refused)
			continue
		}
		if refused {
			msg := err.Error()
			if !strings.HasPrefix(msg, "XDR_BASE_URL: ") || !strings.Contains(msg, "clear text") || !strings.Contains(msg, "XDR_ALLOW_INSECURE_HTTP=true") {
				t.Errorf("%s: %q does not name XDR_BASE_URL, the risk and the opt-out", url, msg)
			}
			if strings.Contains(msg, testKey) {
				t.Errorf("%s: the error leaks the key", url)
			}
			env := tenant(url)
			env["XDR_ALLOW_INSECURE_HTTP"] = "true"
			if _, err := load(env); err != nil {
				t.Errorf("%s with XDR_ALLOW_INSECURE_HTTP=true: %v", url, err)
			}
		}
	}
}

func TestTenantPlainHTTPIsRefusedNamingTheTenant(t *testing.T) {
	file := `
tenants:
  - id: acme
    base_url: http://api-acme.example
    api_key_id: "1"
    api_key: acme-secret-do-not-print
  - id: sim
    base_url: http://127.0.0.1:8089/t/sim
    api_key_id: "1"
    api_key: sim-secret
`
	_, err := ParseTenants([]byte(file), envDefaults(t))
	if err == nil {
		t.Fatal("a tenant with http:// to another host was accepted")
	}
	msg := err.Error()
	if !strings.Contains(msg, "tenant acme: base_url: http:// to api-acme.example would send the API key in clear text") || strings.Contains(msg, "tenant sim") {
		t.Errorf("error does not name acme's base_url alone: %q", msg)
	}
	if strings.Contains(msg, "acme-secret-do-not-print") {
		t.Error("the error leaks the key")
	}
	env := envDefaults(t)
	env.XDRAllowInsecureHTTP = true
	if ts, err := ParseTenants([]byte(file), env); err != nil || len(ts) != 2 {
		t.Errorf("with XDR_ALLOW_INSECURE_HTTP: %d tenants, %v", len(ts), err)
	}
}

func TestHTTPAddrIsHostPort(t *testing.T) {
	for addr, ok := range map[string]bool{
		":8080": true, "127.0.0.1:0": true, "[::1]:9090": true, "0.0.0.0:65535": true,
		"18081": false, "localhost": false, ":http": false, ":70000": false, "a:b:c": false,
	} {
		_, err := load(map[string]string{"HTTP_ADDR": addr})
		if (err == nil) != ok {
			t.Errorf("HTTP_ADDR=%s: error %v, want ok=%v", addr, err, ok)
			continue
		}
		if err != nil && !strings.HasPrefix(err.Error(), "HTTP_ADDR: ") {
			t.Errorf("HTTP_ADDR=%s: %q does not name HTTP_ADDR", addr, err)
		}
	}
	_, err := load(map[string]string{"HTTP_ADDR": "18081"})
	if err == nil || !strings.Contains(err.Error(), "write :18081") {
		t.Errorf("a bare port is not explained: %v", err)
	}
}

func TestKeyFileErrorsNameThePathOnce(t *testing.T) {
	empty := filepath.Join(t.TempDir(), "empty-key")
	if err := os.WriteFile(empty, []byte("\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	for path, want := range map[string]string{
		"/nonexistent/key": "XDR_API_KEY_FILE: cannot be read (no such file or directory); the value is not shown, in case it is the secret itself: 16 characters, an absolute path",
		empty:              "XDR_API_KEY_FILE: " + empty + " is empty",
	} {
		_, err := load(map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "7", "XDR_API_KEY_FILE": path})
		if err == nil || err.Error() != want {
			t.Errorf("XDR_API_KEY_FILE=%s: error %q, want exactly %q", path, err, want)
		}
	}
	file := "tenants:\n  - id: acme\n    base_url: https://api-acme.example\n    api_key_id: \"1\"\n    api_key_file: " + empty + "\n"
	_, err := ParseTenants([]byte(file), envDefaults(t))
	if err == nil || err.Error() != "TENANTS_FILE: tenant acme: api_key_file: "+empty+" is empty" {
		t.Errorf("tenant with an empty key file: %v", err)
	}
}

func TestTopicPrefixNamesEveryTopic(t *testing.T) {
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	topics := func(c *Config) string {
		return strings.Join([]string{c.TopicIncidents, c.TopicAlerts, c.TopicArtifacts, c.TopicDLQ, c.TopicOffsets}, " ")
	}
	if got, want := topics(c), "xdr.incidents xdr.alerts xdr.artifacts xdr.dlq xdr.connector.offsets"; got != want {
		t.Errorf("no prefix: %s, want %s", got, want)
	}
	c, err = load(map[string]string{"KAFKA_TOPIC_PREFIX": "soc.xdr-eu"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topics(c), "soc.xdr-eu.incidents soc.xdr-eu.alerts soc.xdr-eu.artifacts soc.xdr-eu.dlq soc.xdr-eu.connector.offsets"; got != want {
		t.Errorf("prefix: %s, want %s", got, want)
	}
	c, err = load(map[string]string{"KAFKA_TOPIC_PREFIX": "soc", "KAFKA_TOPIC_DLQ": "dead.letters"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topics(c), "soc.incidents soc.alerts soc.artifacts dead.letters soc.connector.offsets"; got != want {
		t.Errorf("prefix with an override: %s, want %s", got, want)
	}
	// {tenant} in the prefix names the data topics per tenant; the offsets
	// topic is the process's own.
	c, err = load(map[string]string{"TENANTS_FILE": "x", "KAFKA_TOPIC_PREFIX": "soc.{tenant}", "KAFKA_TOPIC_OFFSETS": "soc.offsets"})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := topics(c), "soc.{tenant}.incidents soc.{tenant}.alerts soc.{tenant}.artifacts soc.{tenant}.dlq soc.offsets"; got != want {
		t.Errorf("{tenant} prefix: %s, want %s", got, want)
	}
	for _, tc := range []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc."}, "KAFKA_TOPIC_PREFIX: \"soc.\" must not end with a dot"},
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc xdr"}, "KAFKA_TOPIC_PREFIX: \"soc xdr\" is not the start of a valid Kafka topic name"},
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc.{tenant}"}, "KAFKA_TOPIC_PREFIX: {tenant} is replaced by each tenant's id only with TENANTS_FILE"},
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc.{tenant}", "TENANTS_FILE": "x"}, "KAFKA_TOPIC_PREFIX: contains {tenant}, but the offsets topic is one for every tenant: set KAFKA_TOPIC_OFFSETS as well"},
	} {
		_, err := load(tc.env)
		if err == nil || !strings.HasPrefix(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
			t.Errorf("%v: error %q, want one line starting %q (the topics it names are not reported again)", tc.env, err, tc.want)
		}
	}
}

func TestWarningsOutsideTheDocumentedAPI(t *testing.T) {
	real := map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "42", "XDR_API_KEY": testKey}
	with := func(kv ...string) map[string]string {
		env := map[string]string{}
		for k, v := range real {
			env[k] = v
		}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tc := range []struct {
		env  map[string]string
		want []string // settings warned about
	}{
		{real, nil},
		{with("ENRICH_RATE_LIMIT", "11"), []string{"ENRICH_RATE_LIMIT"}},
		{with("ENRICH_RATE_WINDOW", "59s"), []string{"ENRICH_RATE_LIMIT"}},
		{with("ENRICH_RATE_LIMIT", "20", "ENRICH_RATE_WINDOW", "120s"), nil},
		{with("ENRICH_RATE_LIMIT", "5", "ENRICH_RATE_WINDOW", "30s"), nil},
		{with("LOOKBACK", "0s"), []string{"LOOKBACK"}},
		{with("XDR_API_KEY_ID", "key-42"), []string{"XDR_API_KEY_ID"}},
		{with("LOOKBACK", "0s", "ENRICH_RATE_LIMIT", "100", "XDR_API_KEY_ID", "x"), []string{"ENRICH_RATE_LIMIT", "LOOKBACK", "XDR_API_KEY_ID"}},
		// The demo's simulated tenant (no XDR_BASE_URL) has its own budget;
		// a loopback URL may be a proxy to a real tenant.
		{map[string]string{"ENRICH_RATE_WINDOW": "2s"}, nil},
		{map[string]string{"LOOKBACK": "0s"}, []string{"LOOKBACK"}},
		{with("XDR_BASE_URL", "http://127.0.0.1:8089", "ENRICH_RATE_WINDOW", "2s"), []string{"ENRICH_RATE_LIMIT"}},
	} {
		c, err := load(tc.env)
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		var got []string
		for _, w := range c.Warnings() {
			got = append(got, w.Setting)
			if strings.Contains(w.String(), testKey) {
				t.Errorf("%v: warning leaks the key", tc.env)
			}
		}
		if strings.Join(got, ",") != strings.Join(tc.want, ",") {
			t.Errorf("%v: warnings %v, want %v", tc.env, c.Warnings(), tc.want)
		}
	}

	file := `
defaults:
  enrich_rate_window: 30s
tenants:
  - id: acme
    base_url: https://api-acme.example
    api_key_id: acme
    api_key: acme-secret
    lookback: 0s
  - id: globex
    base_url: https://api-globex.example
    api_key_id: "7"
    api_key: globex-secret
    enrich_rate_limit: 5
`
	env := envDefaults(t)
	if w := env.Warnings(); len(w) != 0 {
		t.Errorf("the environment of a tenants file warns for itself: %v", w)
	}
	ts, err := ParseTenants([]byte(file), env)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tn := range ts {
		for _, w := range tn.Warnings() {
			got = append(got, "tenant "+w.Tenant+": "+w.Setting)
			if !strings.HasPrefix(w.String(), "tenant "+w.Tenant+": "+w.Setting+": ") {
				t.Errorf("%q does not name the tenant and the key", w)
			}
		}
	}
	if want := "tenant acme: enrich_rate_limit,tenant acme: lookback,tenant acme: api_key_id"; strings.Join(got, ",") != want {
		t.Errorf("tenant warnings %v, want %s", got, want)
	}
}
