package xdrtest

import (
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// Fault is a failure the tenant can inject into its replies.
type Fault int

const (
	// FaultServerError answers 500, 502 and 503 in turn, each with an error
	// body of a different documented shape.
	FaultServerError Fault = iota + 1
	// FaultSlow holds the request for the slow delay (Config.SlowDelay,
	// SetSlowDelay), then answers normally. A client that gives up first
	// gets nothing.
	FaultSlow
	// FaultReset closes the connection (TCP reset where possible) without a reply.
	FaultReset
	// FaultTruncatedGzip answers with Content-Encoding: gzip and a body
	// that is a valid gzip header and the first half of the stream.
	FaultTruncatedGzip
	// FaultMalformedJSON answers 200 with the first half of the real body.
	FaultMalformedJSON
	// Fault429 answers 429 with Retry-After: 1 regardless of the window.
	Fault429
)

func (f Fault) String() string {
	switch f {
	case FaultServerError:
		return "server-error"
	case FaultSlow:
		return "slow"
	case FaultReset:
		return "reset"
	case FaultTruncatedGzip:
		return "truncated-gzip"
	case FaultMalformedJSON:
		return "malformed-json"
	case Fault429:
		return "429"
	}
	return "fault(" + strconv.Itoa(int(f)) + ")"
}

type pendingFault struct {
	endpoint string // "" matches both
	fault    Fault
	left     int
}

// Inject makes the next n authenticated requests to endpoint
// (EndpointIncidents, EndpointExtraData, or "" for both) get f. Injections
// queue: a request takes the oldest one that matches it. Unauthenticated
// requests take none. n < 1 does nothing.
//
// Faulted get_incident_extra_data calls still count toward the rate window.
func (t *Tenant) Inject(endpoint string, f Fault, n int) {
	if n < 1 {
		return
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	t.faults = append(t.faults, pendingFault{endpoint: strings.Trim(endpoint, "/"), fault: f, left: n})
}

// SetSlowDelay sets how long FaultSlow holds a request.
func (t *Tenant) SetSlowDelay(d time.Duration) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.slowDelay = d
}

// FailIncident makes every get_incident_extra_data call for id fail with
// status (e.g. 500) and an error body; status 0 lifts it. Such calls count
// toward the rate window.
func (t *Tenant) FailIncident(id string, status int) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if status == 0 {
		delete(t.failures, id)
		return
	}
	t.failures[id] = status
}

func (t *Tenant) takeFault(endpoint string) Fault {
	t.mu.Lock()
	defer t.mu.Unlock()
	for i := range t.faults {
		p := &t.faults[i]
		if p.endpoint != "" && p.endpoint != endpoint {
			continue
		}
		f := p.fault
		if p.left--; p.left == 0 {
			t.faults = append(t.faults[:i], t.faults[i+1:]...)
		}
		return f
	}
	return 0
}

// serverError returns the next of 500, 502, 503.
func (t *Tenant) serverError() reply {
	t.mu.Lock()
	n := t.serverErrN
	t.serverErrN++
	t.mu.Unlock()
	switch n % 3 {
	case 0:
		return errReply(http.StatusInternalServerError, shapeReplyList, 500, apiErrMsg, "internal error")
	case 1:
		return errReply(http.StatusBadGateway, shapeTopLevel, 502, "Bad Gateway", "upstream service unavailable")
	default:
		return errReply(http.StatusServiceUnavailable, shapeReply, 503, "Service Unavailable", "the service is temporarily unavailable")
	}
}

// resetConnection drops the connection without a reply.
func resetConnection(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // the server aborts the connection or stream
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0) // RST instead of FIN
	}
	_ = conn.Close()
}

// writeTruncatedGzip sends rep's status with a gzip body cut in half.
func writeTruncatedGzip(w http.ResponseWriter, rep reply) {
	gz := gzipBytes(rep.body)
	cut := gz[:max(10, len(gz)/2)] // 10 bytes: the gzip header
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Content-Encoding", "gzip")
	h.Set("Content-Length", strconv.Itoa(len(cut)))
	w.WriteHeader(rep.status)
	_, _ = w.Write(cut)
}

// SetRevoked revokes the tenant's API key (true) or restores it (false).
// While the key is revoked, every request to either endpoint is refused with
// HTTP 401 and the API's unauthorized error body, the reply a wrong key
// gets, whatever credentials it carries. Like other refused keys, such
// requests take no injected fault and do not count toward the rate window;
// refused get_incident_extra_data calls appear in ExtraDataCalls with status
// 401.
func (t *Tenant) SetRevoked(revoked bool) { t.revoked.Store(revoked) }

// Revoked reports whether the tenant's API key is revoked (see SetRevoked).
func (t *Tenant) Revoked() bool { return t.revoked.Load() }

// checkKey refuses every request while the key is revoked and otherwise
// authenticates it.
func (t *Tenant) checkKey(r *http.Request, now time.Time) (reply, bool) {
	if t.revoked.Load() {
		return errReply(http.StatusUnauthorized, shapeReply, 401, unauthorizedMsg, "API key revoked"), false
	}
	return t.authenticate(r, now)
}
