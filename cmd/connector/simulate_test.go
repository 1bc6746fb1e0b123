package main

import (
	"bufio"
	"context"
	"errors"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// simulated is one in-process run of `connector simulate`.
type simulated struct {
	out  *testkit.LogBuffer
	addr string // the listener, host:port
	stop func() error
}

// startSimulate runs simulateCmd with args until the returned stop, and
// waits for it to print its hint line.
func startSimulate(t *testing.T, args ...string) *simulated {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	s := &simulated{out: &testkit.LogBuffer{}}
	errc := make(chan error, 1)
	go func() { errc <- simulateCmd(ctx, args, s.out, s.out) }()
	var once bool
	var runErr error
	s.stop = func() error {
		if !once {
			once = true
			cancel()
			select {
			case runErr = <-errc:
			case <-time.After(10 * time.Second):
				runErr = errors.New("simulate did not return within 10s of its context ending")
			}
		}
		return runErr
	}
	t.Cleanup(func() { _ = s.stop() })

	listening := regexp.MustCompile(`listening on (\S+);`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(s.out.String(), "TENANTS_FILE=") {
		select {
		case err := <-errc:
			t.Fatalf("simulate returned early: %v\n%s", err, s.out)
		case <-time.After(10 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("simulate printed no hint within 10s:\n%s", s.out)
		}
	}
	m := listening.FindStringSubmatch(s.out.String())
	if m == nil {
		t.Fatalf("no listener address in the output:\n%s", s.out)
	}
	s.addr = m[1]
	return s
}

// fileTenant is one entry of a tenants file.
type fileTenant map[string]string

// readTenantsFile parses the tenants file format simulate writes: a
// "tenants:" list of flat maps with scalar values, plain or double-quoted.
func readTenantsFile(t *testing.T, path string) []fileTenant {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []fileTenant
	inList := false
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		trimmed := strings.TrimSpace(line)
		switch {
		case trimmed == "" || strings.HasPrefix(trimmed, "#"):
			continue
		case line == "tenants:":
			inList = true
			continue
		case !inList && (line == "defaults:" || strings.HasPrefix(line, "  ")):
			continue // the simulator's budget, checked through LoadTenants
		case !inList:
			t.Fatalf("unexpected line before tenants: %q", line)
		}
		item, isNew := strings.CutPrefix(line, "  - ")
		if isNew {
			out = append(out, fileTenant{})
		} else if item, isNew = strings.CutPrefix(line, "    "); !isNew || len(out) == 0 {
			t.Fatalf("unexpected line %q", line)
		}
		k, v, ok := strings.Cut(item, ": ")
		if !ok {
			t.Fatalf("line %q is not key: value", line)
		}
		if strings.HasPrefix(v, `"`) {
			if v, err = strconv.Unquote(v); err != nil {
				t.Fatalf("line %q: %v", line, err)
			}
		}
		if _, dup := out[len(out)-1][k]; dup {
			t.Fatalf("key %s twice in one tenant", k)
		}
		out[len(out)-1][k] = v
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// clientFor is a client of a tenant of the file, with its standard key, or
// for AuthAdvanced with the advanced key simulate writes beside it (key id
// n + the standard one's, for n tenants).
func clientFor(t *testing.T, ft fileTenant, mode xdr.AuthMode, n int) *xdr.Client {
	t.Helper()
	file, keyID := ft["api_key_file"], ft["api_key_id"]
	if mode == xdr.AuthAdvanced {
		id, err := strconv.Atoi(keyID)
		if err != nil {
			t.Fatal(err)
		}
		file, keyID = file+".advanced", strconv.Itoa(n+id)
	}
	key, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := xdr.New(xdr.Config{BaseURL: ft["base_url"], KeyID: keyID, Key: xdr.NewSecret(strings.TrimSpace(string(key))), AuthMode: mode})
	if err != nil {
		t.Fatalf("%s: %v", ft["id"], err)
	}
	return c
}

func TestSimulateTenants(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "t.yaml")
	s := startSimulate(t, "--tenants", "3", "--addr", "127.0.0.1:0", "--tenants-file", path, "--mutate-every", "0", "--incidents", "20")
	out := s.out.String()
	if !strings.Contains(out, "TENANTS_FILE="+path+" connector run") || !strings.Contains(out, "tenants file: "+path) {
		t.Errorf("output lacks the tenants file or the hint:\n%s", out)
	}

	tenants := readTenantsFile(t, path)
	var ids []string
	for _, ft := range tenants {
		ids = append(ids, ft["id"])
	}
	if !slices.Equal(ids, []string{"t1", "t2", "t3"}) {
		t.Fatalf("tenants %v, want t1..t3", ids)
	}
	if runtime.GOOS != "windows" {
		if st, err := os.Stat(path + ".keys"); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("key directory: %v, mode %v; want 0700", err, st.Mode().Perm())
		}
	}
	keys, keyIDs := map[string]bool{}, map[string]bool{}
	firstTimes := map[string]bool{}
	for _, ft := range tenants {
		id := ft["id"]
		if want := "http://" + s.addr + "/t/" + id; ft["base_url"] != want {
			t.Errorf("%s: base_url %q, want %q", id, ft["base_url"], want)
		}
		if want := path + ".keys" + string(filepath.Separator) + id; ft["api_key_file"] != want || !filepath.IsAbs(ft["api_key_file"]) {
			t.Errorf("%s: api_key_file %q, want %q", id, ft["api_key_file"], want)
		}
		if ft["auth_mode"] != "standard" || ft["api_key_id"] == "" {
			t.Errorf("%s: auth_mode %q, api_key_id %q", id, ft["auth_mode"], ft["api_key_id"])
		}
		st, err := os.Stat(ft["api_key_file"])
		if err != nil {
			t.Fatal(err)
		}
		if runtime.GOOS != "windows" && st.Mode().Perm() != 0o600 {
			t.Errorf("%s: key file mode %v, want 0600", id, st.Mode().Perm())
		}
		key, _ := os.ReadFile(ft["api_key_file"])
		keys[strings.TrimSpace(string(key))], keyIDs[ft["api_key_id"]] = true, true

		for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
			rep, err := clientFor(t, ft, mode, 3).GetIncidents(t.Context(), xdr.IncidentsRequest{SearchFrom: 0, SearchTo: 100})
			if err != nil {
				t.Fatalf("%s (%s): get_incidents: %v", id, mode, err)
			}
			if rep.TotalCount != 20 || len(rep.Incidents) != 20 {
				t.Errorf("%s (%s): %d of %d incidents, want 20", id, mode, len(rep.Incidents), rep.TotalCount)
			}
			if mode == xdr.AuthStandard {
				var times []string
				for _, in := range rep.Incidents {
					times = append(times, strconv.FormatInt(in.ModificationTime, 10))
				}
				firstTimes[strings.Join(times, ",")] = true
			}
		}
	}
	// The connector's own loader takes the file as written.
	env, err := config.Load(t.Context(), envconfig.MapLookuper(map[string]string{"TENANTS_FILE": path}))
	if err != nil {
		t.Fatal(err)
	}
	loaded, err := config.LoadTenants(path, env)
	if err != nil {
		t.Fatalf("LoadTenants: %v", err)
	}
	for i, lt := range loaded {
		key, _ := os.ReadFile(tenants[i]["api_key_file"])
		if lt.ID != tenants[i]["id"] || lt.BaseURL != tenants[i]["base_url"] || lt.APIKeyID != tenants[i]["api_key_id"] ||
			lt.AuthMode != "standard" || lt.APIKey.Reveal() != strings.TrimSpace(string(key)) ||
			lt.EnrichRateLimit != 10 || lt.EnrichRateWindow != time.Minute {
			t.Errorf("LoadTenants tenant %d: %s at %s key id %s (%s), want the file's %v", i, lt.ID, lt.BaseURL, lt.APIKeyID, lt.AuthMode, tenants[i])
		}
	}
	if len(loaded) != 3 {
		t.Errorf("LoadTenants: %d tenants, want 3", len(loaded))
	}

	if len(keys) != 3 || len(keyIDs) != 3 {
		t.Errorf("%d distinct keys and %d distinct key ids for 3 tenants", len(keys), len(keyIDs))
	}
	if len(firstTimes) != 3 {
		t.Errorf("the tenants do not have distinct data (seeds seed+i)")
	}

	// One tenant's key is refused on another's path.
	cross := tenants[0]
	cross["base_url"] = tenants[1]["base_url"]
	_, err = clientFor(t, cross, xdr.AuthStandard, 3).GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1})
	var ae *xdr.APIError
	if !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("t1's key on t2's path: %v, want HTTP 401", err)
	}
	// Each key works in its own mode only: the standard key cannot sign.
	// (cross is tenants[0], changed: use t3.)
	_, err = clientFor(t, tenants[2], xdr.AuthStandard, 3).GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1})
	if err != nil {
		t.Fatal(err)
	}
	signed := tenants[2]
	key, _ := os.ReadFile(signed["api_key_file"])
	c, err := xdr.New(xdr.Config{BaseURL: signed["base_url"], KeyID: signed["api_key_id"], Key: xdr.NewSecret(strings.TrimSpace(string(key))), AuthMode: xdr.AuthAdvanced})
	if err != nil {
		t.Fatal(err)
	}
	if _, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1}); !errors.As(err, &ae) || ae.Status != http.StatusUnauthorized {
		t.Errorf("the standard key signed as advanced: %v, want HTTP 401", err)
	}

	if err := s.stop(); err != nil {
		t.Errorf("simulate: %v", err)
	}
}

func TestSimulateTenantsChangeAndStop(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "tenants.yaml")
	s := startSimulate(t, "--tenants", "2", "--addr", "127.0.0.1:0", "--tenants-file", path, "--mutate-every", "2ms", "--incidents", "10")
	tenants := readTenantsFile(t, path)
	if len(tenants) != 2 {
		t.Fatalf("%d tenants, want 2", len(tenants))
	}
	for _, ft := range tenants {
		c := clientFor(t, ft, xdr.AuthStandard, 2)
		latest := func() int64 {
			rep, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1, Sort: &xdr.Sort{Field: "modification_time", Keyword: "desc"}})
			if err != nil || len(rep.Incidents) == 0 {
				t.Fatalf("%s: %v", ft["id"], err)
			}
			return rep.Incidents[0].ModificationTime
		}
		first := latest()
		deadline := time.Now().Add(5 * time.Second)
		for latest() == first {
			if time.Now().After(deadline) {
				t.Fatalf("%s did not change within 5s", ft["id"])
			}
			time.Sleep(10 * time.Millisecond)
		}
	}
	if err := s.stop(); err != nil {
		t.Errorf("simulate: %v", err)
	}
}

func TestSimulateTenantsDefaultFile(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	s := startSimulate(t, "--tenants", "12", "--addr", "127.0.0.1:0", "--mutate-every", "0", "--incidents", "-1")
	tenants := readTenantsFile(t, filepath.Join(dir, "tenants.yaml"))
	if len(tenants) != 12 || tenants[0]["id"] != "t01" || tenants[11]["id"] != "t12" {
		t.Fatalf("tenants %v, want t01..t12", tenants)
	}
	if !strings.Contains(s.out.String(), "TENANTS_FILE="+filepath.Join(dir, "tenants.yaml")+" connector run") {
		t.Errorf("hint does not name the absolute default file:\n%s", s.out)
	}
}

func TestSimulateTenantsUsage(t *testing.T) {
	for _, args := range [][]string{
		{"--tenants", "-1"},
		{"--tenants-file", "x.yaml"},
		{"--tenants", "2", "--tenants-file", ""},
	} {
		err := simulateCmd(t.Context(), args, &testkit.LogBuffer{}, &testkit.LogBuffer{})
		if !errors.Is(err, errUsage) {
			t.Errorf("simulate %q: %v, want a usage error", args, err)
		}
	}
	// An unwritable tenants file fails before serving.
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	err := simulateCmd(ctx, []string{"--tenants", "1", "--addr", "127.0.0.1:0", "--tenants-file", filepath.Join(notDir, "t.yaml")}, &testkit.LogBuffer{}, &testkit.LogBuffer{})
	if err == nil || errors.Is(err, errUsage) || ctx.Err() != nil {
		t.Errorf("unwritable tenants file: %v", err)
	}
}

// TestSimulateServesTwoKeysOnLoopbackOnly: the one-tenant simulator prints a
// standard and an advanced key that work in their own mode only, and refuses
// an address beyond loopback unless --allow-remote is given.
func TestSimulateServesTwoKeysOnLoopbackOnly(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	out := &testkit.LogBuffer{}
	errc := make(chan error, 1)
	go func() {
		errc <- simulateCmd(ctx, []string{"--addr", "127.0.0.1:0", "--mutate-every", "0", "--incidents", "5"}, out, out)
	}()
	t.Cleanup(func() { cancel(); <-errc })
	line := regexp.MustCompile(`(?m)^  (standard|advanced) key: XDR_AUTH_MODE=(\S+) XDR_API_KEY_ID=(\S+) XDR_API_KEY=(\S+)$`)
	base := regexp.MustCompile(`XDR_BASE_URL=(\S+)`)
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(out.String(), "Try: curl") {
		if time.Now().After(deadline) {
			t.Fatalf("simulate printed no keys:\n%s", out)
		}
		time.Sleep(10 * time.Millisecond)
	}
	keys := line.FindAllStringSubmatch(out.String(), -1)
	if len(keys) != 2 || keys[0][3] == keys[1][3] || keys[0][4] == keys[1][4] {
		t.Fatalf("want two distinct keys, got %q in:\n%s", keys, out)
	}
	url := base.FindStringSubmatch(out.String())[1]
	for _, k := range keys {
		for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
			c, err := xdr.New(xdr.Config{BaseURL: url, KeyID: k[3], Key: xdr.NewSecret(k[4]), AuthMode: mode})
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 1})
			var ae *xdr.APIError
			switch {
			case string(mode) == k[2] && err != nil:
				t.Errorf("the %s key in its own mode: %v", k[1], err)
			case string(mode) != k[2] && (!errors.As(err, &ae) || ae.Status != http.StatusUnauthorized):
				t.Errorf("the %s key used as %s: %v, want HTTP 401", k[1], mode, err)
			}
		}
	}

	for _, addr := range []string{":0", "0.0.0.0:0", "[::]:0", "192.0.2.1:0"} {
		out := &testkit.LogBuffer{}
		err := simulateCmd(t.Context(), []string{"--addr", addr}, out, out)
		if !errors.Is(err, errUsage) || !strings.Contains(err.Error(), "--allow-remote") || !strings.Contains(err.Error(), "--addr "+addr) {
			t.Errorf("--addr %s: %v, want a usage error naming --addr and --allow-remote", addr, err)
		}
	}
	// --allow-remote serves every interface when asked; the URL it prints
	// dials loopback.
	rctx, rcancel := context.WithCancel(t.Context())
	rout := &testkit.LogBuffer{}
	rerr := make(chan error, 1)
	go func() {
		rerr <- simulateCmd(rctx, []string{"--addr", "0.0.0.0:0", "--allow-remote", "--mutate-every", "0", "--incidents", "1"}, rout, rout)
	}()
	deadline = time.Now().Add(10 * time.Second)
	for !strings.Contains(rout.String(), "XDR_BASE_URL=http://127.0.0.1:") {
		select {
		case err := <-rerr:
			t.Fatalf("simulate --allow-remote: %v\n%s", err, rout)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("simulate --allow-remote printed no URL:\n%s", rout)
		}
		time.Sleep(10 * time.Millisecond)
	}
	rcancel()
	if err := <-rerr; err != nil {
		t.Errorf("simulate --allow-remote: %v", err)
	}
}

// TestSimulateOnAPortInUseSuggestsAnother: a second simulator on the port
// of a first one says to choose another with --addr, for one tenant and for
// a fleet.
func TestSimulateOnAPortInUseSuggestsAnother(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	for _, args := range [][]string{{"--addr", ln.Addr().String()}, {"--addr", ln.Addr().String(), "--tenants", "2", "--tenants-file", filepath.Join(t.TempDir(), "t.yaml")}} {
		var out testkit.LogBuffer
		err := simulateCmd(context.Background(), args, &out, &out)
		if err == nil || !strings.Contains(err.Error(), "address already in use") || !strings.Contains(err.Error(), "--addr 127.0.0.1:8090") {
			t.Errorf("simulate %v on a port in use: %v", args, err)
		}
	}
}
