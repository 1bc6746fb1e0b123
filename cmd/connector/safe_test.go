package main

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestRunChecksTheKeyBeforeStartingAnything: a refused key stops run with
// check's advice, exit 1, before the embedded broker starts, a topic is
// created or the how-to-read block is printed.
func TestRunChecksTheKeyBeforeStartingAnything(t *testing.T) {
	const wrong = "wrong-key-0123456789-do-not-print"
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	advID, advKey := e.Sim.AdvancedCredentials()
	for _, tc := range []struct {
		name, keyID, key string
		want             []string
	}{
		{"a wrong standard key", e.KeyID, wrong, []string{"HTTP 401", "the tenant does not accept this key", "set XDR_AUTH_MODE=advanced if it is an advanced key"}},
		{"the advanced key as a standard one", advID, advKey, []string{"HTTP 401", "the tenant accepts this key only as an advanced key", "fix: set XDR_AUTH_MODE=advanced"}},
	} {
		dataDir := filepath.Join(t.TempDir(), "data")
		out, code := runBinary(t, map[string]string{"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": tc.keyID, "XDR_API_KEY": tc.key, "DATA_DIR": dataDir}, "run")
		if code != 1 {
			t.Errorf("%s: exit %d, want 1; output:\n%s", tc.name, code, out)
		}
		for _, w := range append(tc.want, "connector: the tenant refused the first API call") {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.name, w, out)
			}
		}
		for _, never := range []string{"embedded Kafka broker", "kcat", "connector tail", "Summary"} {
			if strings.Contains(out, never) {
				t.Errorf("%s: output has %q: something started before the key was checked:\n%s", tc.name, never, out)
			}
		}
		if _, err := os.Stat(dataDir); !os.IsNotExist(err) {
			t.Errorf("%s: DATA_DIR was created (%v): the embedded broker started", tc.name, err)
		}
		noSecret(t, out, wrong, advKey, e.Key)
	}

	// With KAFKA_BROKERS set, no topic is created either.
	out, code := runBinary(t, map[string]string{"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": wrong,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ",")}, "run")
	if code != 1 || !strings.Contains(out, "HTTP 401") {
		t.Fatalf("with KAFKA_BROKERS: exit %d; output:\n%s", code, out)
	}
	topics := e.Topics()
	if len(topics.Names()) > 0 {
		t.Errorf("run with a refused key created topics: %v", topics.Names())
	}
}

// TestDemoWithAdvancedAuth: the zero-config demo's simulated tenant has an
// advanced key too, and XDR_AUTH_MODE=advanced uses it.
func TestDemoWithAdvancedAuth(t *testing.T) {
	env := map[string]string{"DATA_DIR": filepath.Join(t.TempDir(), "data"), "XDR_AUTH_MODE": "advanced"}
	p := startBinary(t, env)
	var addr string
	testkit.WaitFor(t, 30*time.Second, "the embedded broker's address", func() bool {
		m := brokerLine.FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	e := &testkit.Env{T: t, Brokers: []string{addr}}
	testkit.WaitFor(t, 60*time.Second, "a committed watermark", func() bool {
		st, found := e.ReadState("xdr-connector", "simulated")
		return found && st.Watermark > 0
	})
	if code := p.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d, want 0; output:\n%s", code, p.out.String())
	}
	// "HTTP 401" is how every refusal reads (xdr.APIError); a bare "401"
	// also matches a port or a temporary directory's name.
	if out := p.out.String(); strings.Contains(out, "HTTP 401") || strings.Contains(out, "refused the first API call") {
		t.Errorf("the demo's advanced key was refused:\n%s", out)
	}
}

// TestTopicPrefixNamesEveryTopicOfARun: with KAFKA_TOPIC_PREFIX alone, every
// record and the offsets go to <prefix>.* topics, and no xdr.* topic exists
// (the slots topic too: with KAFKA_BROKERS the connector joins its group).
func TestTopicPrefixNamesEveryTopicOfARun(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 5, Incidents: 6, MaxAlerts: 3, RateWindow: 100 * time.Millisecond})
	r := startConnector(t, e, map[string]string{"KAFKA_TOPIC_PREFIX": "soc.eu"}, runDeps{})
	cl, err := kgo.NewClient(e.ConnOpts()...)
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	want := []string{"soc.eu.alerts", "soc.eu.artifacts", "soc.eu.connector.offsets", "soc.eu.connector.slots", "soc.eu.dlq", "soc.eu.incidents"}
	testkit.WaitFor(t, 30*time.Second, "records in soc.eu.alerts", func() bool { return hasRecords(e.Brokers, "soc.eu.alerts") })
	r.stop(t)
	topics, err := adm.ListTopics(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(topics.Names(), " "); got != strings.Join(want, " ") {
		t.Errorf("topics %s, want %s", got, strings.Join(want, " "))
	}
	for _, topic := range []string{"soc.eu.incidents", "soc.eu.connector.offsets"} {
		if !hasRecords(e.Brokers, topic) {
			t.Errorf("%s has no records", topic)
		}
	}
}

// TestRunLogsWarningsAtStart: a setting outside what the API documents is
// logged at start, per tenant with a tenants file, and the connector runs.
func TestRunLogsWarningsAtStart(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 4, Incidents: 3, MaxAlerts: 2})
	env := map[string]string{"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_REPLICATION_FACTOR": "1", "LOOKBACK": "0s", "POLL_INTERVAL": "200ms"}
	p := startBinary(t, env, "run")
	testkit.WaitFor(t, 30*time.Second, "the warning", func() bool {
		return strings.Contains(p.out.String(), `level=WARN msg="a setting is outside what the API documents" setting=LOOKBACK warning="is 0:`)
	})
	testkit.WaitFor(t, 30*time.Second, "a committed watermark", func() bool {
		st, found := e.ReadState("xdr-connector", strings.TrimPrefix(e.BaseURL, "http://"))
		return found && st.Watermark > 0
	})
	if code := p.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d, want 0; output:\n%s", code, p.out.String())
	}

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(e.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(file, []byte("tenants:\n  - id: acme\n    base_url: "+e.BaseURL+"\n    api_key_id: \""+e.KeyID+"\"\n    api_key_file: "+keyFile+
		"\n    enrich_rate_limit: 30\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	p = startBinary(t, map[string]string{"TENANTS_FILE": file, "KAFKA_BROKERS": env["KAFKA_BROKERS"], "KAFKA_REPLICATION_FACTOR": "1"}, "run")
	testkit.WaitFor(t, 30*time.Second, "the tenant's warning", func() bool {
		return strings.Contains(p.out.String(), `msg="a setting is outside what the API documents" tenant=acme setting=enrich_rate_limit warning="30 calls per 1m0s`)
	})
	// A tenant added by a reload warns as it starts.
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte("tenants:\n  - id: acme\n    base_url: "+e.BaseURL+"\n    api_key_id: \""+e.KeyID+"\"\n    api_key_file: "+keyFile+
		"\n    enrich_rate_limit: 30\n  - id: late\n    base_url: "+e.BaseURL+"\n    api_key_id: \""+e.KeyID+"\"\n    api_key_file: "+keyFile+"\n    lookback: 0s\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if err := p.cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
	testkit.WaitFor(t, 30*time.Second, "the added tenant's warning", func() bool {
		return strings.Contains(p.out.String(), `tenant=late setting=lookback warning="is 0:`)
	})
	if n := strings.Count(p.out.String(), "tenant=acme setting=enrich_rate_limit"); n != 1 {
		t.Errorf("acme's warning logged %d times, want once (the reload did not change it)", n)
	}
	if code := p.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("tenants file, SIGINT: exit %d, want 0; output:\n%s", code, p.out.String())
	}
	noSecret(t, p.out.String(), e.Key)
}
