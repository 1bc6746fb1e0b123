package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
	"github.com/twmb/franz-go/pkg/sasl/plain"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// checkEnv is the environment of `connector check` against e.
func checkEnv(e *testkit.Env) map[string]string {
	return map[string]string{
		"XDR_BASE_URL": e.BaseURL, "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_REPLICATION_FACTOR": "1",
	}
}

// checkLines returns the ✓ and ✗ lines of a check's output.
func checkLines(out string) (pass, fail []string) {
	for _, l := range strings.Split(out, "\n") {
		switch {
		case strings.HasPrefix(l, "✓ "):
			pass = append(pass, l)
		case strings.HasPrefix(l, "✗ "):
			fail = append(fail, l)
		}
	}
	return pass, fail
}

func noSecret(t *testing.T, out string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(out, s) {
			t.Errorf("output leaks a secret (%d bytes):\n%s", len(s), out)
		}
	}
}

func createTopic(t *testing.T, brokers []string, topic string, configs map[string]*string) {
	t.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, configs, topic); err != nil {
		t.Fatalf("creating %s: %v", topic, err)
	}
}

func TestCheckAllGood(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	// Two of the data topics exist; the rest and the offsets topic do not.
	createTopic(t, e.Brokers, "xdr.incidents", nil)
	createTopic(t, e.Brokers, "xdr.alerts", nil)
	out, code := runBinary(t, checkEnv(e), "check")
	if code != 0 {
		t.Fatalf("exit %d, want 0; output:\n%s", code, out)
	}
	pass, fail := checkLines(out)
	if len(fail) > 0 {
		t.Errorf("failed checks: %q", fail)
	}
	for _, want := range []string{"configuration", "XDR API", "Kafka", "topic xdr.incidents: exists", "topic xdr.alerts: exists",
		"topic xdr.artifacts: missing; the connector creates it", "topic xdr.dlq: missing", "offsets topic xdr.connector.offsets: missing; the connector creates it at start, with cleanup.policy=compact"} {
		if !strings.Contains(strings.Join(pass, "\n"), want) {
			t.Errorf("no ✓ line with %q; output:\n%s", want, out)
		}
	}
	noSecret(t, out, e.Key)
	// check creates nothing: the missing topics are still missing.
	topics := e.Topics()
	if topics.Has("xdr.dlq") || topics.Has("xdr.connector.offsets") {
		t.Errorf("check created topics: %v", topics.Names())
	}

	compact := "compact"
	createTopic(t, e.Brokers, "xdr.connector.offsets", map[string]*string{"cleanup.policy": &compact})
	out, code = runBinary(t, checkEnv(e), "check")
	if code != 0 || !strings.Contains(out, "✓ offsets topic xdr.connector.offsets: exists with cleanup.policy=compact") {
		t.Errorf("compacted offsets topic: exit %d; output:\n%s", code, out)
	}
}

func TestCheckWrongKey(t *testing.T) {
	const wrong = "wrong-key-0123456789-do-not-print"
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	for _, tc := range []struct {
		mode string
		want []string
	}{
		{"standard", []string{"HTTP 401", "fix: check XDR_API_KEY_ID", "XDR_AUTH_MODE=advanced"}},
		{"advanced", []string{"HTTP 401", "clock skew", "NTP"}},
	} {
		env := checkEnv(e)
		env["XDR_API_KEY"], env["XDR_AUTH_MODE"] = wrong, tc.mode
		out, code := runBinary(t, env, "check")
		if code != 1 {
			t.Errorf("%s: exit %d, want 1; output:\n%s", tc.mode, code, out)
		}
		_, fail := checkLines(out)
		if len(fail) != 1 || !strings.HasPrefix(fail[0], "✗ XDR API") {
			t.Errorf("%s: want exactly the XDR API check failed, got %q", tc.mode, fail)
		}
		for _, w := range tc.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s: output lacks %q:\n%s", tc.mode, w, out)
			}
		}
		noSecret(t, out, wrong, e.Key)
	}
}

func TestCheckUnreachableBroker(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := ln.Addr().String()
	_ = ln.Close()
	env := checkEnv(e)
	env["KAFKA_BROKERS"] = closed
	start := time.Now()
	out, code := runBinary(t, env, "check") // the default --timeout
	if took := time.Since(start); took > 15*time.Second {
		t.Errorf("check took %s against a closed port", took)
	}
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	_, fail := checkLines(out)
	if len(fail) != 1 || !strings.HasPrefix(fail[0], "✗ Kafka") || !strings.Contains(fail[0], closed) || !strings.Contains(out, "fix: check KAFKA_BROKERS") {
		t.Errorf("want one ✗ Kafka line naming %s and a fix; output:\n%s", closed, out)
	}
	noSecret(t, out, e.Key)
}

func TestCheckOffsetsTopicNotCompacted(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	del := "delete"
	createTopic(t, e.Brokers, "xdr.connector.offsets", map[string]*string{"cleanup.policy": &del})
	out, code := runBinary(t, checkEnv(e), "check")
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	_, fail := checkLines(out)
	if len(fail) != 1 || !strings.Contains(fail[0], "offsets topic xdr.connector.offsets") || !strings.Contains(fail[0], "cleanup.policy=delete") ||
		!strings.Contains(out, "cleanup.policy=compact") {
		t.Errorf("want one ✗ naming cleanup.policy and the fix; output:\n%s", out)
	}
}

func TestCheckKafkaSASLRejected(t *testing.T) {
	const password = "kafka-password-do-not-print"
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5}, kfake.EnableSASL(), kfake.Superuser("PLAIN", "connector", "the-right-one"))
	env := checkEnv(e)
	env["KAFKA_SASL_MECHANISM"], env["KAFKA_SASL_USERNAME"], env["KAFKA_SASL_PASSWORD"] = "PLAIN", "connector", password
	out, code := runBinary(t, env, "check", "--timeout", "5s")
	if code != 1 {
		t.Fatalf("exit %d, want 1; output:\n%s", code, out)
	}
	_, fail := checkLines(out)
	if len(fail) != 1 || !strings.HasPrefix(fail[0], "✗ Kafka") || !strings.Contains(out, "KAFKA_SASL_PASSWORD") {
		t.Errorf("want one ✗ Kafka line with a SASL fix; output:\n%s", out)
	}
	noSecret(t, out, password, e.Key)

	env["KAFKA_SASL_PASSWORD"] = "the-right-one"
	if out, code := runBinary(t, env, "check", "--timeout", "5s"); code != 0 {
		t.Errorf("right SASL password: exit %d; output:\n%s", code, out)
	}
}

func TestCheckWithoutTenantOrBroker(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	out, code := runBinary(t, map[string]string{"KAFKA_BROKERS": strings.Join(e.Brokers, ",")}, "check")
	if code != 0 || !strings.Contains(out, "– XDR API: XDR_BASE_URL is not set") || !strings.Contains(out, "simulated tenant") || !strings.Contains(out, "✓ Kafka") {
		t.Errorf("no XDR_BASE_URL: exit %d; output:\n%s", code, out)
	}
	out, code = runBinary(t, map[string]string{"DATA_DIR": t.TempDir()}, "check")
	if code != 0 || !strings.Contains(out, "– Kafka: KAFKA_BROKERS is not set") || !strings.Contains(out, "embedded broker") {
		t.Errorf("nothing set: exit %d; output:\n%s", code, out)
	}
	out, code = runBinary(t, map[string]string{"POLL_INTERVAL": "soon"}, "check")
	if code != 2 || !strings.Contains(out, "POLL_INTERVAL") || !strings.Contains(out, "✗ configuration") {
		t.Errorf("bad configuration: exit %d, want 2; output:\n%s", code, out)
	}
	out, code = runBinary(t, nil, "check", "--help")
	if code != 0 || !strings.Contains(out, "Usage: connector check") || !strings.Contains(out, "-timeout") {
		t.Errorf("check --help: exit %d; output:\n%s", code, out)
	}
}

// TestCheckKeyOfTheOtherType: the simulator's standard and advanced keys are
// distinct, as in the product, so a key used in the wrong mode gets a 401;
// check says which XDR_AUTH_MODE the key needs.
func TestCheckKeyOfTheOtherType(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	advID, advKey := e.Sim.AdvancedCredentials()

	// The advanced key as a standard one: the probe by signature finds it.
	env := checkEnv(e)
	env["XDR_API_KEY_ID"], env["XDR_API_KEY"] = advID, advKey
	out, code := runBinary(t, env, "check")
	_, fail := checkLines(out)
	if code != 1 || len(fail) != 1 || !strings.HasPrefix(fail[0], "✗ XDR API: HTTP 401") ||
		!strings.Contains(fail[0], "the tenant accepts this key only as an advanced key") || !strings.Contains(out, "fix: set XDR_AUTH_MODE=advanced") {
		t.Errorf("advanced key as standard: exit %d; want one ✗ XDR API naming XDR_AUTH_MODE=advanced; output:\n%s", code, out)
	}
	noSecret(t, out, advKey, e.Key)

	// The standard key signed as an advanced one: never sent as it is, so
	// the advice names both causes.
	env = checkEnv(e)
	env["XDR_AUTH_MODE"] = "advanced"
	out, code = runBinary(t, env, "check")
	_, fail = checkLines(out)
	if code != 1 || len(fail) != 1 || !strings.Contains(fail[0], "HTTP 401") || !strings.Contains(out, "clock skew") ||
		!strings.Contains(out, "a standard key needs XDR_AUTH_MODE=standard") {
		t.Errorf("standard key as advanced: exit %d; output:\n%s", code, out)
	}
	noSecret(t, out, advKey, e.Key)

	// Each key in its own mode passes.
	env["XDR_API_KEY_ID"], env["XDR_API_KEY"] = advID, advKey
	if out, code := runBinary(t, env, "check"); code != 0 || !strings.Contains(out, "with the advanced key "+advID) {
		t.Errorf("advanced key as advanced: exit %d; output:\n%s", code, out)
	}
}

// TestCheckWarnsOutsideTheDocumentedAPI: a setting the API does not document
// is a ⚠ line that fails nothing, per tenant too with a tenants file.
func TestCheckWarnsOutsideTheDocumentedAPI(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5, KeyID: "svc-connector"})
	env := checkEnv(e)
	env["ENRICH_RATE_LIMIT"], env["LOOKBACK"] = "20", "0s"
	out, code := runBinary(t, env, "check")
	if code != 0 {
		t.Fatalf("exit %d, want 0 (warnings fail nothing); output:\n%s", code, out)
	}
	for _, want := range []string{
		"⚠ ENRICH_RATE_LIMIT: 20 calls per 1m0s (ENRICH_RATE_WINDOW) is more than the 10 per 1m0s that get_incident_extra_data allows",
		"⚠ LOOKBACK: is 0",
		"⚠ XDR_API_KEY_ID: is not a number (13 characters)",
		"All checks passed, with 3 warning(s)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	noSecret(t, out, e.Key)
	// A warning never echoes the id's value: it may be the key, pasted in
	// its place (a ✓ line names an id the API accepted).
	noEcho := func(out string) {
		t.Helper()
		for line := range strings.Lines(out) {
			if strings.Contains(line, "⚠") && strings.Contains(line, "svc-connector") {
				t.Errorf("a warning echoes the key id's value: %s", line)
			}
		}
	}
	noEcho(out)

	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(e.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tenants.yaml")
	tenants := "defaults:\n  enrich_rate_window: 2s\ntenants:\n" +
		"  - id: acme\n    base_url: " + e.BaseURL + "\n    api_key_id: svc-connector\n    api_key_file: " + keyFile + "\n" +
		"  - id: quiet\n    base_url: " + e.BaseURL + "\n    api_key_id: svc-connector\n    api_key_file: " + keyFile + "\n    enrich_rate_window: 60s\n"
	if err := os.WriteFile(file, []byte(tenants), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code = runBinary(t, map[string]string{"TENANTS_FILE": file, "KAFKA_BROKERS": env["KAFKA_BROKERS"], "KAFKA_REPLICATION_FACTOR": "1"}, "check")
	if code != 0 {
		t.Fatalf("tenants file: exit %d; output:\n%s", code, out)
	}
	for _, want := range []string{"⚠ tenant acme: enrich_rate_limit: 10 calls per 2s", "⚠ tenant acme: api_key_id: is not a number", `⚠ tenant quiet: api_key_id:`} {
		if !strings.Contains(out, want) {
			t.Errorf("tenants file: output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "tenant quiet: enrich_rate_limit") {
		t.Errorf("tenants file: quiet's 10 per 60s drew a warning:\n%s", out)
	}
	noEcho(out)
}

// TestCheckCoversEveryTopicARunWrites: with output profiles, scale-out and a
// tenants file naming topics per tenant, check looks at the profile topics,
// the slots topic (compacted) and each tenant's own topic names, never at a
// name with {tenant} in it.
func TestCheckCoversEveryTopicARunWrites(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 4, Incidents: 3})
	dir := t.TempDir()
	keyFile := filepath.Join(dir, "key")
	if err := os.WriteFile(keyFile, []byte(e.Key), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tenants.yaml")
	tenant := func(id string) string {
		return "  - id: " + id + "\n    base_url: " + e.BaseURL + "\n    api_key_id: \"" + e.KeyID + "\"\n    api_key_file: " + keyFile + "\n"
	}
	if err := os.WriteFile(file, []byte("tenants:\n"+tenant("acme")+tenant("globex")), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runBinary(t, map[string]string{
		"TENANTS_FILE": file, "KAFKA_BROKERS": strings.Join(e.Brokers, ","), "KAFKA_REPLICATION_FACTOR": "1",
		"OUTPUT_PROFILES": "native,ocsf", "KAFKA_TOPIC_INCIDENTS": "xdr.{tenant}.incidents", "KAFKA_GROUP_ENABLED": "true",
	}, "check")
	if code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, out)
	}
	for _, want := range []string{
		"topic xdr.acme.incidents: missing", "topic xdr.globex.incidents: missing",
		"topic xdr.ocsf.incidents: missing", "topic xdr.ocsf.alerts: missing",
		"slots topic xdr.connector.slots: missing", "offsets topic xdr.connector.offsets: missing",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "{tenant}") || strings.Contains(out, "xdr.ecs.") {
		t.Errorf("check looked at a topic no run writes:\n%s", out)
	}
}

// TestCheckRefusesCollidingTenantTopics: two tenants whose topics collide
// (t1's OCSF incidents and t1.ocsf's native incidents under
// KAFKA_TOPIC_PREFIX=soc.{tenant}) fail check's tenants file line, naming
// both tenants, roles and the topic, before any API or Kafka check.
func TestCheckRefusesCollidingTenantTopics(t *testing.T) {
	file := filepath.Join(t.TempDir(), "tenants.yaml")
	body := "tenants:\n" +
		"  - {id: t1, base_url: https://api-t1.example.com, api_key_id: 1, api_key: k1}\n" +
		"  - {id: t1.ocsf, base_url: https://api-t2.example.com, api_key_id: 2, api_key: k2}\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	out, code := runBinary(t, map[string]string{"TENANTS_FILE": file, "KAFKA_TOPIC_PREFIX": "soc.{tenant}",
		"KAFKA_TOPIC_OFFSETS": "soc.offsets", "OUTPUT_PROFILES": "native,ocsf"}, "check")
	if code != 2 {
		t.Fatalf("exit %d, want 2; output:\n%s", code, out)
	}
	_, fail := checkLines(out)
	want := "tenant t1's KAFKA_TOPIC_OCSF_INCIDENTS (soc.t1.ocsf.incidents) and tenant t1.ocsf's KAFKA_TOPIC_INCIDENTS (soc.t1.ocsf.incidents)"
	if len(fail) != 1 || !strings.HasPrefix(fail[0], "✗ tenants file") || !strings.Contains(out, want) {
		t.Errorf("want one ✗ tenants file line and %q; output:\n%s", want, out)
	}
}

// TestCheckNamesAMissingACL runs check as a principal of a broker with ACLs
// on: with every ACL a run needs, every check passes; with one taken away,
// check fails on exactly that one, naming the resource, the operation and
// the kafka-acls.sh that grants it. The probes change nothing: the group has
// no member afterwards.
func TestCheckNamesAMissingACL(t *testing.T) {
	const user, password = "connector", "connector-kafka-password"
	topic, group, txn := kmsg.ACLResourceTypeTopic, kmsg.ACLResourceTypeGroup, kmsg.ACLResourceTypeTransactionalId
	lit, pre := kmsg.ACLResourcePatternTypeLiteral, kmsg.ACLResourcePatternTypePrefixed
	acl := func(r kmsg.ACLResourceType, name string, p kmsg.ACLResourcePatternType, op kmsg.ACLOperation) kfake.ACL {
		return kfake.ACL{Resource: r, Name: name, Pattern: p, Operation: op, Allow: true}
	}
	all := []kfake.ACL{
		acl(topic, "xdr.", pre, kmsg.ACLOperationDescribe), acl(topic, "xdr.", pre, kmsg.ACLOperationWrite),
		acl(topic, "xdr.connector.offsets", lit, kmsg.ACLOperationCreate), acl(topic, "xdr.", pre, kmsg.ACLOperationDescribeConfigs),
		acl(topic, "xdr.connector.offsets", lit, kmsg.ACLOperationRead),
		acl(topic, "xdr.connector.slots", lit, kmsg.ACLOperationRead),
		acl(group, "xdr-kafka-connector/", pre, kmsg.ACLOperationRead), acl(group, "xdr-kafka-connector/", pre, kmsg.ACLOperationDescribe),
		acl(txn, "xdr-kafka-connector/", pre, kmsg.ACLOperationWrite), acl(txn, "xdr-kafka-connector/", pre, kmsg.ACLOperationDescribe),
		acl(topic, "xdr.connector.slots", lit, kmsg.ACLOperationCreate),
	}
	for _, d := range []string{"xdr.incidents", "xdr.alerts", "xdr.artifacts", "xdr.dlq"} {
		all = append(all, acl(topic, d, lit, kmsg.ACLOperationCreate))
	}
	for _, tc := range []struct {
		name    string
		drop    []int  // indexes in all
		line    string // the one ✗ line starts so
		op, fix string
	}{
		{"all granted", nil, "", "", ""},
		{"group read", []int{6}, "✗ group xdr-kafka-connector/xdr-connector", "READ", "--operation Read --group 'xdr-kafka-connector/xdr-connector'"},
		// READ implies DESCRIBE, and WRITE does: without DESCRIBE means
		// without either.
		{"group describe", []int{6, 7}, "✗ group xdr-kafka-connector/xdr-connector", "DESCRIBE", "--operation Read --group 'xdr-kafka-connector/xdr-connector'"},
		{"slots read", []int{5}, "✗ slots topic xdr.connector.slots", "READ", "--operation Read --topic 'xdr.connector.slots'"},
		{"slots create", []int{10}, "✗ slots topic xdr.connector.slots", "CREATE", "--operation Create --topic 'xdr.connector.slots'"},
		{"transactional id write", []int{8}, "✗ transactional id xdr-kafka-connector/xdr-connector/", "WRITE", "--operation Write --transactional-id 'xdr-kafka-connector/xdr-connector/"},
		{"transactional id describe", []int{8, 9}, "✗ transactional id xdr-kafka-connector/xdr-connector/", "DESCRIBE", "--operation Write --transactional-id 'xdr-kafka-connector/xdr-connector/"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var granted []kfake.ACL
			for i, a := range all {
				if !slices.Contains(tc.drop, i) {
					granted = append(granted, a)
				}
			}
			e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5}, kfake.EnableSASL(), kfake.EnableACLs(),
				kfake.Superuser("PLAIN", "admin", "admin-password"), kfake.User("PLAIN", user, password, granted...))
			admin, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...), kgo.SASL(plain.Auth{User: "admin", Pass: "admin-password"}.AsMechanism()))
			if err != nil {
				t.Fatal(err)
			}
			defer admin.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			adm := kadm.NewClient(admin)
			compact := "compact"
			if _, err := adm.CreateTopic(ctx, 2, 1, map[string]*string{"cleanup.policy": &compact}, "xdr.connector.slots"); err != nil {
				t.Fatal(err)
			}
			env := checkEnv(e)
			env["KAFKA_SASL_MECHANISM"], env["KAFKA_SASL_USERNAME"], env["KAFKA_SASL_PASSWORD"] = "PLAIN", user, password
			out, code := runBinary(t, env, "check", "--timeout", "10s")
			pass, fail := checkLines(out)
			if len(tc.drop) == 0 {
				if code != 0 || len(fail) > 0 {
					t.Fatalf("exit %d with every ACL granted; output:\n%s", code, out)
				}
				for _, want := range []string{"✓ group xdr-kafka-connector/xdr-connector: the principal may DESCRIBE and READ",
					"✓ slots topic xdr.connector.slots: the principal may DESCRIBE, READ and CREATE", "✓ transactional ids: the principal may DESCRIBE and WRITE xdr-kafka-connector/xdr-connector/"} {
					if !strings.Contains(strings.Join(pass, "\n"), want) {
						t.Errorf("no line %q; output:\n%s", want, out)
					}
				}
			} else {
				if code != 1 || len(fail) != 1 || !strings.HasPrefix(fail[0], tc.line) || !strings.Contains(fail[0], "may not "+tc.op) ||
					!strings.Contains(out, tc.fix) {
					t.Errorf("exit %d; want one ✗ line %q naming %s, with the fix %q; output:\n%s", code, tc.line, tc.op, tc.fix, out)
				}
			}
			noSecret(t, out, password, e.Key)
			ctx, cancel = context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			dgs, err := adm.DescribeGroups(ctx, "xdr-kafka-connector/xdr-connector")
			if err != nil {
				t.Fatal(err)
			}
			if g := dgs["xdr-kafka-connector/xdr-connector"]; len(g.Members) > 0 {
				t.Errorf("the check left members in the group: %+v", g.Members)
			}
		})
	}
}

// TestInsecureSettingsAreWarnedInCheckAndAtStart: TLS without verification
// and http:// through a proxy are valid, and said to be insecure by check
// and by run as it starts, without the proxy's password.
func TestInsecureSettingsAreWarnedInCheckAndAtStart(t *testing.T) {
	const proxyPassword = "proxy-password-do-not-print"
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	env := map[string]string{
		"XDR_BASE_URL": "http://api-x.invalid", "XDR_ALLOW_INSECURE_HTTP": "true", "XDR_API_KEY_ID": e.KeyID, "XDR_API_KEY": e.Key,
		"HTTP_PROXY": "http://u:" + proxyPassword + "@127.0.0.1:1", "KAFKA_BROKERS": strings.Join(e.Brokers, ","),
		"KAFKA_TLS_ENABLED": "true", "KAFKA_TLS_INSECURE_SKIP_VERIFY": "true",
	}
	out, _ := runBinary(t, env, "check", "--timeout", "2s")
	for _, want := range []string{
		"⚠ XDR_BASE_URL: http:// to api-x.invalid sends the API key in clear text",
		"⚠ XDR_BASE_URL: http:// goes through the HTTP proxy 127.0.0.1:1 (HTTP_PROXY), which receives the API key in clear text",
		"⚠ KAFKA_TLS_INSECURE_SKIP_VERIFY: the brokers' certificates are not verified",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not warn %q; output:\n%s", want, out)
		}
	}
	noSecret(t, out, proxyPassword, e.Key)

	out, _ = runBinary(t, env, "run")
	for _, want := range []string{
		`level=WARN msg="a setting is insecure" setting=XDR_BASE_URL warning="http:// to api-x.invalid sends the API key in clear text`,
		`level=WARN msg="a setting is insecure" setting=XDR_BASE_URL warning="http:// goes through the HTTP proxy 127.0.0.1:1`,
		`level=WARN msg="a setting is insecure" setting=KAFKA_TLS_INSECURE_SKIP_VERIFY`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("run does not log %q at start; output:\n%s", want, out)
		}
	}
	noSecret(t, out, proxyPassword, e.Key)
}

// TestKafkaWithoutTLSIsWarnedInCheckAndAtStart: brokers beyond loopback
// reached without TLS, and KAFKA_TLS_INSECURE_SKIP_VERIFY without TLS, are
// said to be insecure by check and by run as it starts; loopback brokers
// are not.
func TestKafkaWithoutTLSIsWarnedInCheckAndAtStart(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5})
	env := checkEnv(e)
	env["KAFKA_BROKERS"], env["KAFKA_TLS_INSECURE_SKIP_VERIFY"] = "kafka.invalid:9092", "true"
	out, _ := runBinary(t, env, "check", "--timeout", "2s")
	for _, want := range []string{
		"⚠ KAFKA_TLS_INSECURE_SKIP_VERIFY: is true, but TLS to Kafka is off",
		"⚠ KAFKA_BROKERS: kafka.invalid reached without TLS: the records (incident data) cross the network unencrypted",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("check does not warn %q; output:\n%s", want, out)
		}
	}
	noSecret(t, out, e.Key)

	p := startBinary(t, env, "run")
	testkit.WaitFor(t, 30*time.Second, "both warnings logged at start", func() bool {
		out := p.out.String()
		return strings.Contains(out, `level=WARN msg="a setting is insecure" setting=KAFKA_TLS_INSECURE_SKIP_VERIFY warning="is true, but TLS to Kafka is off`) &&
			strings.Contains(out, `level=WARN msg="a setting is insecure" setting=KAFKA_BROKERS warning="kafka.invalid reached without TLS`)
	})
	noSecret(t, p.out.String(), e.Key)

	out, code := runBinary(t, checkEnv(e), "check")
	if code != 0 || strings.Contains(out, "⚠ KAFKA_") {
		t.Errorf("loopback brokers: exit %d, want 0 and no Kafka warning; output:\n%s", code, out)
	}
}

// TestCheckSaysTheEnrichmentMode runs check against a tenant that serves
// get_multiple_incidents_extra_data and one that does not, with each
// ENRICH_BULK: one bulk call (none with off) and the mode run will use.
func TestCheckSaysTheEnrichmentMode(t *testing.T) {
	cases := []struct {
		name     string
		noBulk   bool
		mode     string
		code     int
		calls    int
		want     string
		wantFail bool
	}{
		{"served, auto", false, "", 0, 1, "✓ XDR API enrichment: bulk: get_multiple_incidents_extra_data answered (ENRICH_BULK=auto; up to 100 incidents a call; the tenant's alerts_limit_per_incident 50", false},
		{"not served, auto", true, "auto", 0, 0, "✓ XDR API enrichment: single calls: the tenant does not serve get_multiple_incidents_extra_data", false},
		{"not served, on", true, "on", 1, 0, "✗ XDR API enrichment: ENRICH_BULK=on, and the tenant does not serve get_multiple_incidents_extra_data", true},
		{"off", false, "off", 0, 0, "✓ XDR API enrichment: off: one get_incident_extra_data call per incident", false},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: 5, NoBulk: c.noBulk})
			env := checkEnv(e)
			if c.mode != "" {
				env["ENRICH_BULK"] = c.mode
			}
			out, code := runBinary(t, env, "check")
			if code != c.code {
				t.Fatalf("exit %d, want %d; output:\n%s", code, c.code, out)
			}
			if !strings.Contains(out, c.want) {
				t.Errorf("output lacks %q:\n%s", c.want, out)
			}
			// A tenant without the endpoint logs no call; one that serves
			// it got exactly one, for the incident get_incidents returned.
			calls := e.Sim.BulkCalls()
			if len(calls) != c.calls {
				t.Fatalf("%d bulk calls, want %d: %+v", len(calls), c.calls, calls)
			}
			if c.calls == 1 && (len(calls[0].IncidentIDs) != 1 || !slices.Contains(e.Sim.IncidentIDs(), calls[0].IncidentIDs[0]) || calls[0].Status != 200) {
				t.Errorf("bulk call %+v, want one known incident id answered with 200", calls[0])
			}
			if _, fail := checkLines(out); (len(fail) > 0) != c.wantFail {
				t.Errorf("failed checks %q", fail)
			}
		})
	}
}

// TestCheckProbesBulkWithoutIncidents: a tenant with no incident still tells
// whether it serves the bulk endpoint.
func TestCheckProbesBulkWithoutIncidents(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 3, Incidents: -1})
	out, code := runBinary(t, checkEnv(e), "check")
	if code != 0 {
		t.Fatalf("exit %d, want 0; output:\n%s", code, out)
	}
	if want := "✓ XDR API enrichment: bulk: get_multiple_incidents_extra_data answered"; !strings.Contains(out, want) {
		t.Errorf("output lacks %q:\n%s", want, out)
	}
	if calls := e.Sim.BulkCalls(); len(calls) != 1 || calls[0].Status != 200 {
		t.Errorf("bulk calls %+v, want one answered", calls)
	}
}
