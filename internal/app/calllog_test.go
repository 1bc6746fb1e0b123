package app

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// apiCall is one request a simulated fleet received: the tenant of its path,
// the replica named in its User-Agent ("" without group membership), and
// when it arrived and was answered.
type apiCall struct {
	Tenant, Replica  string
	Polls            bool // a get_incidents call
	Arrived, Replied time.Time
}

// callLog records every request to a simulated fleet.
type callLog struct {
	mu    sync.Mutex
	calls []apiCall
}

func (l *callLog) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := apiCall{Arrived: time.Now()}
		rest, _ := strings.CutPrefix(r.URL.Path, xdrtest.FleetPrefix)
		c.Tenant, _, _ = strings.Cut(rest, "/")
		c.Polls = strings.Contains(r.URL.Path, xdrtest.EndpointIncidents)
		if _, after, ok := strings.Cut(r.UserAgent(), "replica/"); ok {
			c.Replica, _, _ = strings.Cut(after, " ")
		}
		h.ServeHTTP(w, r)
		c.Replied = time.Now()
		l.mu.Lock()
		l.calls = append(l.calls, c)
		l.mu.Unlock()
	})
}

// of returns the calls to tenant (every tenant if ""), in arrival order.
func (l *callLog) of(tenant string) []apiCall {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []apiCall
	for _, c := range l.calls {
		if tenant == "" || c.Tenant == tenant {
			out = append(out, c)
		}
	}
	slices.SortFunc(out, func(a, b apiCall) int { return a.Arrived.Compare(b.Arrived) })
	return out
}

// logBuffer collects a process's log lines; safe for concurrent use.
type logBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

// lines returns the lines that contain every one of subs.
func (l *logBuffer) lines(subs ...string) []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []string
	for _, line := range strings.Split(l.b.String(), "\n") {
		ok := line != ""
		for _, s := range subs {
			ok = ok && strings.Contains(line, s)
		}
		if ok {
			out = append(out, line)
		}
	}
	return out
}
