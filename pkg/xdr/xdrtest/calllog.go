package xdrtest

import (
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Request is one request a Fleet answered: the tenant of its path, the
// replica named in its User-Agent (a connector of a group adds
// "replica/<name>"; "" otherwise), its endpoint (EndpointIncidents,
// EndpointExtraData, or "" for another path), its HTTP status, and when it
// arrived and was answered.
type Request struct {
	Tenant, Replica  string
	Endpoint         string
	Status           int
	Arrived, Replied time.Time
}

// CallLog records every request to a Fleet's handler; safe for concurrent
// use.
type CallLog struct {
	mu    sync.Mutex
	calls []Request
}

// Wrap returns h, recording each request it answers.
func (l *CallLog) Wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c := Request{Arrived: time.Now()}
		rest, _ := strings.CutPrefix(r.URL.Path, FleetPrefix)
		c.Tenant, _, _ = strings.Cut(rest, "/")
		if _, after, ok := strings.Cut(r.UserAgent(), "replica/"); ok {
			c.Replica, _, _ = strings.Cut(after, " ")
		}
		for _, e := range []string{EndpointIncidents, EndpointExtraData} {
			if strings.Contains(r.URL.Path, e) {
				c.Endpoint = e
			}
		}
		sw := &statusWriter{ResponseWriter: w}
		h.ServeHTTP(sw, r)
		c.Status, c.Replied = sw.status, time.Now()
		l.mu.Lock()
		l.calls = append(l.calls, c)
		l.mu.Unlock()
	})
}

// Of returns the calls for tenant (every tenant's if ""), in arrival order.
func (l *CallLog) Of(tenant string) []Request {
	l.mu.Lock()
	out := make([]Request, 0, len(l.calls))
	for _, c := range l.calls {
		if tenant == "" || c.Tenant == tenant {
			out = append(out, c)
		}
	}
	l.mu.Unlock()
	slices.SortFunc(out, func(a, b Request) int { return a.Arrived.Compare(b.Arrived) })
	return out
}

// statusWriter notes the status a handler answered with.
type statusWriter struct {
	http.ResponseWriter
	status int
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriter.Write(b)
}
