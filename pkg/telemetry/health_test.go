package telemetry

import (
	"context"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
)

func TestReadiness(t *testing.T) {
	clk := clocktest.New(time.Unix(1_700_000_000, 0))
	var started atomic.Bool
	var pingMu sync.Mutex
	pingErr := errors.New("dial tcp: connection refused")
	setPing := func(err error) { pingMu.Lock(); pingErr = err; pingMu.Unlock() }
	var pings atomic.Int32
	h, err := NewHealth(HealthConfig{
		Started: started.Load,
		Ping: func(context.Context) error {
			pings.Add(1)
			pingMu.Lock()
			defer pingMu.Unlock()
			return pingErr
		},
		PingEvery: 5 * time.Second, PollStale: time.Minute, Now: clk.Now,
	})
	if err != nil {
		t.Fatal(err)
	}
	failing := func() []string {
		ok, checks := h.Ready(context.Background())
		var f []string
		for _, c := range checks {
			if c.Err != nil {
				f = append(f, c.Name)
			}
		}
		if ok != (len(f) == 0) {
			t.Fatalf("ready %v with failing checks %v", ok, f)
		}
		return f
	}
	check := func(want ...string) {
		t.Helper()
		if got := failing(); strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("failing checks %v, want %v", got, want)
		}
	}
	check("offsets", "kafka", "poll")
	started.Store(true)
	setPing(nil)
	check("kafka", "poll") // the failed ping is reused for 5s
	if n := pings.Load(); n != 1 {
		t.Errorf("%d pings within PingEvery, want 1", n)
	}
	clk.Add(5 * time.Second)
	h.PollDone(clk.Now(), errors.New("503"))
	check("poll")
	h.PollDone(clk.Now(), nil)
	check()
	clk.Add(61 * time.Second)
	h.PollDone(clk.Now(), errors.New("timeout"))
	check("poll")
	h.PollDone(clk.Now(), nil)
	check()
	if got := h.LastPollSuccess(); !got.Equal(clk.Now()) {
		t.Errorf("LastPollSuccess = %v, want %v", got, clk.Now())
	}
	setPing(errors.New("broker gone"))
	clk.Add(5 * time.Second)
	check("kafka")

	if _, err := NewHealth(HealthConfig{Started: started.Load}); err == nil {
		t.Error("NewHealth without Ping succeeded")
	}
}

func TestServerEndpoints(t *testing.T) {
	var ready atomic.Bool
	h, err := NewHealth(HealthConfig{Started: ready.Load, Ping: func(context.Context) error { return nil }, PingEvery: time.Nanosecond})
	if err != nil {
		t.Fatal(err)
	}
	metrics := http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "m 1\n") })
	srv, err := NewServer("127.0.0.1:0", metrics, h, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	base := "http://" + srv.Addr().String()
	get := func(method, path string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, nil)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer func() { _ = resp.Body.Close() }()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tc := range []struct {
		method, path string
		code         int
		body         string
	}{
		{"GET", "/healthz", 200, "ok"},
		{"GET", "/metrics", 200, "m 1"},
		{"GET", "/readyz", 503, "[-] offsets: offsets not loaded yet"},
		{"POST", "/readyz", 405, ""},
		{"GET", "/debug/pprof/", 404, ""},
	} {
		code, body := get(tc.method, tc.path)
		if code != tc.code || !strings.Contains(body, tc.body) {
			t.Errorf("%s %s = %d %q, want %d containing %q", tc.method, tc.path, code, body, tc.code, tc.body)
		}
	}
	ready.Store(true)
	if code, body := get("GET", "/readyz"); code != 200 || !strings.Contains(body, "[+] kafka ok") {
		t.Errorf("ready /readyz = %d %q", code, body)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Serve: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after cancel")
	}
	if _, err := http.Get(base + "/healthz"); err == nil {
		t.Error("server still answers after shutdown")
	}
}
