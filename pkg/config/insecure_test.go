package config

import (
	"slices"
	"strings"
	"testing"
)

func TestSASLWithoutTLSToAnotherHostIsRefused(t *testing.T) {
	sasl := func(mech, brokers string, kv ...string) map[string]string {
		env := map[string]string{"KAFKA_BROKERS": brokers, "KAFKA_SASL_MECHANISM": mech, "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": "sasl-password-do-not-print"}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	for _, tc := range []struct {
		env     map[string]string
		refused bool
	}{
		{sasl("PLAIN", "kafka.example:9092"), true},
		{sasl("plain", "127.0.0.1:9092,kafka.example:9092"), true},
		{sasl("SCRAM-SHA-256", "10.0.0.8:9092"), true},
		{sasl("SCRAM-SHA-512", "kafka.example:9092"), true},
		{sasl("PLAIN", "kafka.example:9093", "KAFKA_TLS_ENABLED", "true"), false},
		{sasl("SCRAM-SHA-512", "kafka.example:9093", "KAFKA_TLS_CA_FILE", "/dev/null"), false},
		{sasl("PLAIN", "127.0.0.1:9092,localhost:9093,[::1]:9094"), false},
		{sasl("PLAIN", "kafka.example:9092", "KAFKA_ALLOW_INSECURE_SASL", "true"), false},
		{map[string]string{"KAFKA_BROKERS": "kafka.example:9092"}, false},
	} {
		c, err := load(tc.env)
		if got := err != nil; got != tc.refused {
			t.Errorf("%v: refused = %v (%v), want %v", tc.env, got, err, tc.refused)
			continue
		}
		if tc.refused {
			msg := err.Error()
			if !strings.HasPrefix(msg, "KAFKA_SASL_MECHANISM: ") || !strings.Contains(msg, "without TLS") ||
				!strings.Contains(msg, "KAFKA_TLS_ENABLED=true") || !strings.Contains(msg, "KAFKA_ALLOW_INSECURE_SASL=true") {
				t.Errorf("%v: %q does not name the setting, the risk, the fix and the opt-out", tc.env, msg)
			}
			if strings.EqualFold(tc.env["KAFKA_SASL_MECHANISM"], "PLAIN") && !strings.Contains(msg, "password in clear text") {
				t.Errorf("%v: %q does not say the password goes in clear text", tc.env, msg)
			}
			if strings.Contains(msg, "sasl-password-do-not-print") {
				t.Errorf("%v: the error leaks the password", tc.env)
			}
			continue
		}
		// Allowed by the opt-out: warned about, as insecure.
		warned := slices.ContainsFunc(c.Warnings(), func(w Warning) bool { return w.Setting == "KAFKA_ALLOW_INSECURE_SASL" && w.Insecure })
		if want := tc.env["KAFKA_ALLOW_INSECURE_SASL"] == "true"; warned != want {
			t.Errorf("%v: warned about SASL without TLS = %v, want %v (%v)", tc.env, warned, want, c.Warnings())
		}
	}
}

// Every insecure setting that is accepted is warned about, as insecure,
// without the secrets: TLS without verification, http:// to another host,
// http:// through a proxy, SASL without TLS.
func TestInsecureSettingsAreWarned(t *testing.T) {
	const proxyPassword = "proxy-password-do-not-print"
	api := func(url string, kv ...string) map[string]string {
		env := map[string]string{"XDR_BASE_URL": url, "XDR_API_KEY_ID": "1", "XDR_API_KEY": testKey}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	proxy := "http://u:" + proxyPassword + "@proxy.example:3128"
	for _, tc := range []struct {
		env  map[string]string
		want []string // "setting: start of the message"
	}{
		{api("https://api-x.example"), nil},
		{api("https://api-x.example", "KAFKA_BROKERS", "k.example:9093", "KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"),
			[]string{"KAFKA_TLS_INSECURE_SKIP_VERIFY: the brokers' certificates are not verified"}},
		{api("http://api-x.example", "XDR_ALLOW_INSECURE_HTTP", "true"),
			[]string{"XDR_BASE_URL: http:// to api-x.example sends the API key in clear text"}},
		{api("http://api-x.example", "XDR_ALLOW_INSECURE_HTTP", "true", "HTTP_PROXY", proxy),
			[]string{"XDR_BASE_URL: http:// to api-x.example sends the API key in clear text", "XDR_BASE_URL: http:// goes through the HTTP proxy proxy.example:3128 (HTTP_PROXY), which receives the API key in clear text"}},
		{api("http://api-x.example", "XDR_ALLOW_INSECURE_HTTP", "true", "http_proxy", proxy, "NO_PROXY", "api-x.example"),
			[]string{"XDR_BASE_URL: http:// to api-x.example sends the API key in clear text"}},
		// Go never sends a loopback request through a proxy, and a proxy
		// of https:// sees only the host.
		{api("http://127.0.0.1:8089", "HTTP_PROXY", proxy), nil},
		{api("https://api-x.example", "HTTPS_PROXY", proxy, "HTTP_PROXY", proxy), nil},
		{api("https://api-x.example", "KAFKA_BROKERS", "k.example:9092", "KAFKA_SASL_MECHANISM", "PLAIN", "KAFKA_SASL_USERNAME", "u",
			"KAFKA_SASL_PASSWORD", "p", "KAFKA_ALLOW_INSECURE_SASL", "true"),
			[]string{"KAFKA_ALLOW_INSECURE_SASL: PLAIN without TLS to k.example: the connection will send the SASL password in clear text"}},
	} {
		c, err := load(tc.env)
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		var got []string
		for _, w := range c.Warnings() {
			if !w.Insecure || w.Summary() != "a setting is insecure" {
				t.Errorf("%v: %v is not marked insecure", tc.env, w)
			}
			if strings.Contains(w.String(), testKey) || strings.Contains(w.String(), proxyPassword) {
				t.Errorf("%v: %q leaks a secret", tc.env, w)
			}
			got = append(got, w.String())
		}
		checkWarnings(t, tc.env, got, tc.want)
	}

	// A tenant's base_url is warned about with the tenant; the process's
	// Kafka settings once, by the environment.
	env, err := load(map[string]string{"TENANTS_FILE": "x", "XDR_ALLOW_INSECURE_HTTP": "true", "HTTP_PROXY": proxy,
		"KAFKA_BROKERS": "k.example:9093", "KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_INSECURE_SKIP_VERIFY": "true"})
	if err != nil {
		t.Fatal(err)
	}
	if w := env.Warnings(); len(w) != 1 || w[0].Setting != "KAFKA_TLS_INSECURE_SKIP_VERIFY" {
		t.Errorf("the environment of a tenants file warns %v, want only KAFKA_TLS_INSECURE_SKIP_VERIFY", w)
	}
	ts, err := ParseTenants([]byte("tenants:\n  - id: acme\n    base_url: http://api-acme.example\n    api_key_id: \"1\"\n    api_key: k\n"+
		"  - id: sim\n    base_url: http://127.0.0.1:8089/t/sim\n    api_key_id: \"1\"\n    api_key: k\n"), env)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, tn := range ts {
		for _, w := range tn.Warnings() {
			got = append(got, w.String())
		}
	}
	if len(got) != 2 || !strings.HasPrefix(got[0], "tenant acme: base_url: http:// to api-acme.example sends the API key in clear text") ||
		!strings.HasPrefix(got[1], "tenant acme: base_url: http:// goes through the HTTP proxy proxy.example:3128") {
		t.Errorf("tenant warnings:\n  %s", strings.Join(got, "\n  "))
	}
}

// Kafka reached without TLS over the network is warned about, as insecure,
// naming the brokers' hosts and the setting that turns TLS on; so is
// KAFKA_TLS_INSECURE_SKIP_VERIFY without TLS, which does nothing. Loopback
// brokers and the embedded broker are not, by the rule that refuses SASL
// without TLS; with SASL allowed without TLS one warning covers the
// credentials and the records.
func TestKafkaWithoutTLSIsWarned(t *testing.T) {
	const password = "sasl-password-do-not-print"
	kafka := func(kv ...string) map[string]string {
		env := map[string]string{}
		for i := 0; i < len(kv); i += 2 {
			env[kv[i]] = kv[i+1]
		}
		return env
	}
	sasl := func(mech string, kv ...string) map[string]string {
		return kafka(append([]string{"KAFKA_SASL_MECHANISM", mech, "KAFKA_SASL_USERNAME", "u", "KAFKA_SASL_PASSWORD", password}, kv...)...)
	}
	const (
		noEffect = "KAFKA_TLS_INSECURE_SKIP_VERIFY: is true, but TLS to Kafka is off (KAFKA_TLS_ENABLED is not true and KAFKA_TLS_CA_FILE is not set), so it has no effect"
		noVerify = "KAFKA_TLS_INSECURE_SKIP_VERIFY: the brokers' certificates are not verified"
	)
	for _, tc := range []struct {
		env  map[string]string
		want []string // "setting: start of the message"
	}{
		{kafka("KAFKA_BROKERS", "kafka.example:9092"),
			[]string{"KAFKA_BROKERS: kafka.example reached without TLS: the records (incident data) cross the network unencrypted"}},
		// Each host once, in order; the loopback ones left out.
		{kafka("KAFKA_BROKERS", "k1.example:9092, 127.0.0.1:9092,K1.example:9093,10.0.0.8:9092,[::1]:9094,[fd00::8]:9092"),
			[]string{"KAFKA_BROKERS: k1.example, 10.0.0.8, fd00::8 reached without TLS"}},
		{kafka("KAFKA_BROKERS", "127.0.0.1:9092,localhost:9093,[::1]:9094,127.0.0.2:9092"), nil},
		{kafka(), nil}, // the embedded broker
		{kafka("KAFKA_BROKERS", "kafka.example:9093", "KAFKA_TLS_ENABLED", "true"), nil},
		{kafka("KAFKA_BROKERS", "kafka.example:9093", "KAFKA_TLS_CA_FILE", "/dev/null"), nil},

		// KAFKA_TLS_INSECURE_SKIP_VERIFY without TLS: whatever the brokers.
		{kafka("KAFKA_BROKERS", "127.0.0.1:9092", "KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"), []string{noEffect}},
		{kafka("KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"), []string{noEffect}},
		{kafka("KAFKA_BROKERS", "kafka.example:9092", "KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"),
			[]string{noEffect, "KAFKA_BROKERS: kafka.example reached without TLS"}},
		{kafka("KAFKA_BROKERS", "kafka.example:9093", "KAFKA_TLS_ENABLED", "true", "KAFKA_TLS_INSECURE_SKIP_VERIFY", "true"), []string{noVerify}},

		// SASL allowed without TLS: one warning, for the credentials and the records.
		{sasl("PLAIN", "KAFKA_BROKERS", "k1.example:9092,k2.example:9092", "KAFKA_ALLOW_INSECURE_SASL", "true"),
			[]string{"KAFKA_ALLOW_INSECURE_SASL: PLAIN without TLS to k1.example, k2.example: the connection will send the SASL password in clear text, and every record unencrypted"}},
		{sasl("SCRAM-SHA-512", "KAFKA_BROKERS", "k1.example:9092", "KAFKA_ALLOW_INSECURE_SASL", "true"),
			[]string{"KAFKA_ALLOW_INSECURE_SASL: SCRAM-SHA-512 without TLS to k1.example: the connection will expose the SASL exchange (open to an offline guess of the password) and every record"}},
		{sasl("PLAIN", "KAFKA_BROKERS", "127.0.0.1:9092"), nil},
		{sasl("PLAIN", "KAFKA_BROKERS", "k1.example:9093", "KAFKA_TLS_ENABLED", "true"), nil},
	} {
		c, err := load(tc.env)
		if err != nil {
			t.Fatalf("%v: %v", tc.env, err)
		}
		var got []string
		for _, w := range c.Warnings() {
			got = append(got, w.String())
			if !w.Insecure || !strings.Contains(w.Message, "KAFKA_TLS_") {
				t.Errorf("%v: %v is not marked insecure or does not name the setting that turns TLS on", tc.env, w)
			}
			if strings.Contains(w.String(), password) {
				t.Errorf("%v: %q leaks the SASL password", tc.env, w)
			}
		}
		checkWarnings(t, tc.env, got, tc.want)
	}
}

// TestBrokerEntriesAreHostAndPort: an entry of KAFKA_BROKERS that is not
// host:port is refused by its position; one that holds user information or
// looks like a URL (a password may be in it) is described, never repeated.
func TestBrokerEntriesAreHostAndPort(t *testing.T) {
	for _, tc := range []struct {
		brokers string
		want    string // in the error; "" for none
		hidden  string // never in the error
	}{
		{"kafka.example:9092,127.0.0.1:9093,[::1]:9094", "", ""},
		{"::1,[::1],10.0.0.8", "", ""}, // addresses alone, on the client's default port
		{"kafka.example", `entry 1 "kafka.example" is not host:port`, ""},
		{"k1.example:9092,k2.example:99999", "entry 2 (16 characters) is not host:port: what follows its last colon must be a port number from 1 to 65535", ""},
		{"kafka-user:s3cret-pass", "entry 1 (22 characters) is not host:port", "s3cret-pass"},
		{"k1.example:9092,:9092", `entry 2 ":9092" is not host:port`, ""},
		{"user:s3cret-pass@kafka.example:9092", "entry 1 (35 characters) is not host:port: it looks like a URL or holds user information", "s3cret-pass"},
		{"kafka.example:9092,SASL_SSL://kafka.example:9093", "entry 2 (29 characters) is not host:port", "SASL_SSL"},
	} {
		_, err := load(map[string]string{"KAFKA_BROKERS": tc.brokers})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.brokers, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: error %v, want %q", tc.brokers, err, tc.want)
		case tc.hidden != "" && strings.Contains(err.Error(), tc.hidden):
			t.Errorf("%s: the error repeats %q: %v", tc.brokers, tc.hidden, err)
		}
	}
}

// checkWarnings compares the warnings of env, got, with want, each the
// start of one warning, in order.
func checkWarnings(t *testing.T, env map[string]string, got, want []string) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%v: warnings\n  %s\nwant\n  %s", env, strings.Join(got, "\n  "), strings.Join(want, "\n  "))
		return
	}
	for i := range got {
		if !strings.HasPrefix(got[i], want[i]) {
			t.Errorf("%v: warning %q, want it to start with %q", env, got[i], want[i])
		}
	}
}
