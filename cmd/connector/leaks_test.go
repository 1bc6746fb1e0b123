package main

import (
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestSASLRefusalQuotingThePasswordIsNeverPrinted: a broker (or a Kafka
// proxy) that refuses SASL/PLAIN and quotes what it received in the
// SASLAuthenticate error message has franz-go's error quote the password;
// check, status, tail, redrive and run print it scrubbed.
func TestSASLRefusalQuotingThePasswordIsNeverPrinted(t *testing.T) {
	const password = "kafka-password-do-not-print"
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5}, kfake.EnableSASL(), kfake.Superuser("PLAIN", "connector", "the-right-one"))
	e.Cluster.ControlKey(int16(kmsg.SASLAuthenticate), func(kreq kmsg.Request) (kmsg.Response, error, bool) {
		e.Cluster.KeepControl()
		req := kreq.(*kmsg.SASLAuthenticateRequest)
		resp := req.ResponseKind().(*kmsg.SASLAuthenticateResponse)
		resp.ErrorCode = kerr.SaslAuthenticationFailed.Code
		msg := "invalid credentials: " + strings.ReplaceAll(string(req.SASLAuthBytes), "\x00", " ")
		resp.ErrorMessage = &msg
		return resp, nil, true
	})
	env := checkEnv(e)
	env["KAFKA_SASL_MECHANISM"], env["KAFKA_SASL_USERNAME"], env["KAFKA_SASL_PASSWORD"] = "PLAIN", "connector", password
	out, code := runBinary(t, env, "check", "--timeout", "5s")
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	noSecret(t, out, password, e.Key)

	// status, tail and redrive print it too.
	for _, args := range [][]string{{"status"}, {"tail", "incidents"}, {"redrive", "--all", "--dry-run"}} {
		p := startBinary(t, env, args...)
		testkit.WaitFor(t, 30*time.Second, "the SASL refusal in "+args[0]+"'s output", func() bool {
			return strings.Contains(p.out.String(), "SASL_AUTHENTICATION_FAILED")
		})
		noSecret(t, p.out.String(), password, e.Key)
	}

	// run logs the same refusal.
	p := startBinary(t, env, "run")
	testkit.WaitFor(t, 30*time.Second, "the SASL refusal in run's output", func() bool {
		return strings.Contains(p.out.String(), "SASL_AUTHENTICATION_FAILED")
	})
	noSecret(t, p.out.String(), password, e.Key)
}

// TestHelpNeverPrintsTheSecretsOfTheEnvironment: every subcommand's
// --help, and an unknown flag's error, with the secrets set in the
// environment.
func TestHelpNeverPrintsTheSecretsOfTheEnvironment(t *testing.T) {
	const key, password = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U", "kafka-password-do-not-print"
	env := map[string]string{"XDR_BASE_URL": "https://api-x.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY": key,
		"KAFKA_BROKERS": "127.0.0.1:1", "KAFKA_SASL_MECHANISM": "PLAIN", "KAFKA_SASL_USERNAME": "u", "KAFKA_SASL_PASSWORD": password}
	for _, c := range commands() {
		for _, args := range [][]string{{c.name, "--help"}, {c.name, "--no-such-flag"}} {
			out, _ := runBinary(t, env, args...)
			noSecret(t, out, key, password)
		}
	}
}

// TestBaseURLCarryingTheKeyIsNeverEchoed: XDR_BASE_URL with the key as
// userinfo (user or password), in its query, or in a port, through check
// and run.
func TestBaseURLCarryingTheKeyIsNeverEchoed(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 2})
	host := strings.TrimPrefix(e.BaseURL, "http://")
	for _, base := range []string{
		"http://" + key + "@" + host,
		"http://1:" + key + "@" + host,
		"http://" + host + "/?token=" + key,
		"http://" + host + "/#" + key,
		"http://1:" + key[:10] + "/" + key[10:] + "@" + host,
		"http://" + host + ":" + key,
	} {
		for _, cmd := range []string{"check", "run"} {
			env := checkEnv(e)
			env["XDR_BASE_URL"] = base
			out, _ := runBinary(t, env, cmd)
			for i := 0; i+8 <= len(key); i++ {
				if strings.Contains(out, key[i:i+8]) {
					t.Errorf("%s with XDR_BASE_URL of %d bytes: the output holds %q:\n%s", cmd, len(base), key[i:i+8], out)
					break
				}
			}
		}
	}
}

// TestTenantsEndpointNeverShowsAMalformedReplyQuotingTheKey: a tenant whose
// API (or a proxy in front of it) answers get_incidents with a header line
// quoting the request's Authorization header fails with net/http's error;
// GET /tenants and the log show it scrubbed.
func TestTenantsEndpointNeverShowsAMalformedReplyQuotingTheKey(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 2})
	hostile := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = buf.WriteString("HTTP/1.1 200 OK\r\nContent-Length: 2\r\nyou sent authorization " + r.Header.Get("Authorization") + "\r\n\r\n{}")
		_ = buf.Flush()
	}))
	t.Cleanup(hostile.Close)
	file := filepath.Join(t.TempDir(), "tenants.yaml")
	if err := os.WriteFile(file, []byte("tenants:\n  - id: acme\n    base_url: "+hostile.URL+"\n    api_key_id: \""+e.KeyID+"\"\n    api_key: "+e.Key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	r := startConnector(t, e, map[string]string{"XDR_BASE_URL": "", "XDR_API_KEY_ID": "", "XDR_API_KEY": "", "XDR_TENANT": "",
		"TENANTS_FILE": file, "HTTP_TENANTS_ENABLED": "true", "KAFKA_TOPIC_INCIDENTS": "xdr.{tenant}.incidents",
		"KAFKA_TOPIC_ALERTS": "xdr.{tenant}.alerts", "KAFKA_TOPIC_ARTIFACTS": "xdr.{tenant}.artifacts", "KAFKA_TOPIC_DLQ": "xdr.{tenant}.dlq"}, runDeps{})
	var body string
	testkit.WaitFor(t, 30*time.Second, "a last_error for acme in GET /tenants", func() bool {
		_, body = r.get(t, "/tenants")
		return strings.Contains(body, `"last_error"`)
	})
	noSecret(t, body, e.Key)
	noSecret(t, r.out.String(), e.Key)
}
