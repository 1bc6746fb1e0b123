package app

import (
	"context"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// stepFleet is a fleet whose reload loop a test drives step by step, with
// the time of each read: its context has ended, so applying a file changes
// the wanted set and starts nothing.
type stepFleet struct {
	f    *fleet
	file string
	logs *testkit.LogBuffer
	ctx  context.Context
}

const stepSettle = time.Second

func newStepFleet(t *testing.T, content string) *stepFleet {
	t.Helper()
	return newStepFleetEnv(t, nil, content)
}

// newStepFleetEnv is newStepFleet with more of the environment than
// TENANTS_FILE.
func newStepFleetEnv(t *testing.T, env map[string]string, content string) *stepFleet {
	t.Helper()
	dir := t.TempDir()
	key := filepath.Join(dir, "key")
	if err := os.WriteFile(key, []byte("k3y\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "tenants.yaml")
	s := &stepFleet{file: file, logs: &testkit.LogBuffer{}}
	s.write(t, content)
	vars := map[string]string{"TENANTS_FILE": file}
	for k, v := range env {
		vars[k] = v
	}
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(vars))
	if err != nil {
		t.Fatal(err)
	}
	ts, err := config.LoadTenants(file, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s.ctx = ctx
	s.f = &fleet{shared: shared{cfg: cfg}, log: slog.New(slog.NewJSONHandler(s.logs, nil)), path: file, multi: true,
		retryMin: time.Minute, retryMax: time.Hour, slots: map[string]*slot{}, prev: map[string]chan struct{}{},
		settle: settler{settle: stepSettle}}
	s.f.start(ctx, ts)
	return s
}

// write replaces the file's content in place, as an editor or `>` does.
func (s *stepFleet) write(t *testing.T, content string) {
	t.Helper()
	content = strings.ReplaceAll(content, "KEY", filepath.Join(filepath.Dir(s.file), "key"))
	if err := os.WriteFile(s.file, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
}

// baseURL is tenant acme's wanted base URL.
func (s *stepFleet) baseURL() string {
	s.f.mu.Lock()
	defer s.f.mu.Unlock()
	return s.f.want["acme"].BaseURL
}

func tenantsYAML(baseURL string) string {
	return "tenants:\n  - id: acme\n    api_key_id: \"1\"\n    api_key_file: KEY\n    base_url: " + baseURL + "\n"
}

// TestReloadAppliesOnlyAStableFile: a tenants file rewritten in place in two
// steps — its base_url cut short first, which still parses and passes every
// check (loopback http) — is applied only in its final state, once two reads
// settle apart agree; the intermediate state is never the wanted set.
func TestReloadAppliesOnlyAStableFile(t *testing.T) {
	s := newStepFleet(t, tenantsYAML("http://127.0.0.1:8089"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	check := func(step, want string) {
		t.Helper()
		if got := s.baseURL(); got != want {
			t.Fatalf("%s: acme's base_url is %s, want %s", step, got, want)
		}
	}

	s.write(t, tenantsYAML("http://127.0.0.1:80")) // the writer's first step
	if wait := s.f.reload(s.ctx, false, t0); wait != stepSettle {
		t.Errorf("first read of a change: wait %s, want %s", wait, stepSettle)
	}
	check("the half-written file read once", "http://127.0.0.1:8089")
	if wait := s.f.reload(s.ctx, false, t0.Add(stepSettle/2)); wait != stepSettle/2 {
		t.Errorf("second read, too soon: wait %s, want %s", wait, stepSettle/2)
	}
	check("the half-written file read twice, too soon", "http://127.0.0.1:8089")

	s.write(t, tenantsYAML("http://127.0.0.1:8090")) // the writer's last step
	if wait := s.f.reload(s.ctx, false, t0.Add(stepSettle)); wait != stepSettle {
		t.Errorf("the final file, first read: wait %s, want %s", wait, stepSettle)
	}
	check("the final file read once", "http://127.0.0.1:8089")
	if wait := s.f.reload(s.ctx, false, t0.Add(2*stepSettle)); wait != 0 {
		t.Errorf("the final file, read again settle later: wait %s, want 0", wait)
	}
	check("the final file read twice, settle apart", "http://127.0.0.1:8090")

	if n := len(s.logs.Lines(`"msg":"tenants file reloaded"`)); n != 1 {
		t.Errorf("%d reloads logged, want 1:\n%s", n, s.logs.String())
	}
	if l := s.logs.Lines(`base_url changed`, `"from":"http://127.0.0.1:8089"`, `"to":"http://127.0.0.1:8090"`); len(l) != 1 {
		t.Errorf("the base_url change is not logged with both URLs:\n%s", s.logs.String())
	}
	// Read again, unchanged: nothing held back, nothing logged.
	if wait := s.f.reload(s.ctx, false, t0.Add(3*stepSettle)); wait != 0 {
		t.Errorf("an unchanged file: wait %s", wait)
	}
}

// TestReloadRefusesABaseURLThatStartWouldRefuse: a base_url changed to
// http:// on another host fails the checks of start and the whole file is
// refused, once it is stable, with the tenant and key named.
func TestReloadRefusesABaseURLThatStartWouldRefuse(t *testing.T) {
	s := newStepFleet(t, tenantsYAML("https://api-acme.example"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.write(t, tenantsYAML("http://api-acme.example"))
	for i := range 3 {
		s.f.reload(s.ctx, false, t0.Add(time.Duration(i)*stepSettle))
		if got := s.baseURL(); got != "https://api-acme.example" {
			t.Fatalf("read %d: acme's base_url is %s", i, got)
		}
	}
	if l := s.logs.Lines(`rejected as a whole`, `tenant acme: base_url: http:// to api-acme.example would send the API key in clear text`); len(l) != 1 {
		t.Errorf("want the refusal logged once, naming the tenant and base_url:\n%s", s.logs.String())
	}
}

// TestReloadRefusesABaseURLCarryingCredentials: a base_url changed to one
// carrying the key as its userinfo (https://KEY@host, token style) fails
// the checks of start, which say why without quoting the URL; the log
// never holds the key. A URL with a user logged elsewhere shows
// [REDACTED] in the user's place (url.Redacted hides only a password).
func TestReloadRefusesABaseURLCarryingCredentials(t *testing.T) {
	const key = "Zq8nVx3LkP0rT7yWb2HcJ5mDf9GsAe4U"
	for _, withKey := range []string{"https://" + key + "@api-acme.example", "https://user:" + key + "@api-acme.example"} {
		s := newStepFleet(t, tenantsYAML("https://api-acme.example"))
		t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
		s.write(t, tenantsYAML(withKey))
		for i := range 3 {
			s.f.reload(s.ctx, false, t0.Add(time.Duration(i)*stepSettle))
			if got := s.baseURL(); got != "https://api-acme.example" {
				t.Fatalf("read %d: acme's base_url is %s", i, got)
			}
		}
		if l := s.logs.Lines(`rejected as a whole`, `tenant acme: base_url: must not carry credentials`); len(l) != 1 {
			t.Errorf("want the refusal logged once, naming the tenant and base_url:\n%s", s.logs.String())
		}
		if strings.Contains(s.logs.String(), key) {
			t.Errorf("the log holds the key:\n%s", s.logs.String())
		}
	}
	if got := redactedURL("https://" + key + "@api-acme.example/x"); strings.Contains(got, key) || got != "https://[REDACTED]@api-acme.example/x" {
		t.Errorf("redactedURL = %q", got)
	}
}

// TestReloadRefusesCollidingTopics: a tenant added whose topics collide with
// a running tenant's (t1's OCSF incidents are t1.ocsf's native incidents
// under soc.{tenant}) makes the whole file refused at the reload, naming
// the pair; the running tenants stay as they were.
func TestReloadRefusesCollidingTopics(t *testing.T) {
	tenant := func(id string) string {
		return "  - id: " + id + "\n    api_key_id: \"1\"\n    api_key_file: KEY\n    base_url: https://api-" + strings.ReplaceAll(id, ".", "-") + ".example\n"
	}
	s := newStepFleetEnv(t, map[string]string{"KAFKA_TOPIC_PREFIX": "soc.{tenant}", "KAFKA_TOPIC_OFFSETS": "soc.offsets", "OUTPUT_PROFILES": "native,ocsf"},
		"tenants:\n"+tenant("t1"))
	t0 := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	s.write(t, "tenants:\n"+tenant("t1")+tenant("t1.ocsf"))
	for i := range 3 {
		s.f.reload(s.ctx, false, t0.Add(time.Duration(i)*stepSettle))
	}
	s.f.mu.Lock()
	ids := slices.Sorted(maps.Keys(s.f.want))
	s.f.mu.Unlock()
	if !slices.Equal(ids, []string{"t1"}) {
		t.Errorf("the wanted tenants are %v, want t1 alone", ids)
	}
	if l := s.logs.Lines(`rejected as a whole`, `tenant t1's KAFKA_TOPIC_OCSF_INCIDENTS (soc.t1.ocsf.incidents) and tenant t1.ocsf's KAFKA_TOPIC_INCIDENTS (soc.t1.ocsf.incidents)`); len(l) != 1 {
		t.Errorf("want the refusal logged once, naming both tenants, roles and the topic:\n%s", s.logs.String())
	}
}
