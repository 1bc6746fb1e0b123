package xdrtest

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// Defaults applied by New to zero-valued Config fields.
const (
	DefaultIncidents = 50
	DefaultKeyID     = "1"
	DefaultKey       = "SimulatedXdrKey0123456789abcdefSimulatedXdrKey0123456789abcdef00"
	// The advanced key is a key of its own, as in the product: it is
	// refused as a standard key, and the standard key cannot sign.
	DefaultAdvancedKeyID = "2"
	DefaultAdvancedKey   = "SimulatedXdrAdvancedKey0123456789abcdefSimulatedXdrAdvancedKey01"
	DefaultMaxSkew       = 5 * time.Minute
	DefaultRateLimit     = 10
	DefaultRateWindow    = 60 * time.Second
	DefaultMaxAlerts     = 2000
	DefaultSlowDelay     = 2 * time.Second

	// DefaultUnknownIncidentStatus is the HTTP status of a
	// get_incident_extra_data call for an incident the tenant does not know
	// (or cannot show yet): the API's catch-all 500.
	DefaultUnknownIncidentStatus = http.StatusInternalServerError
)

// Endpoint names, as used by Inject.
const (
	EndpointIncidents = "get_incidents"
	EndpointExtraData = "get_incident_extra_data"
)

const apiPrefix = "/public_api/v1/incidents/"

// maxBodyBytes caps request bodies; real requests are a few hundred bytes.
const maxBodyBytes = 1 << 20

// Config configures a simulated tenant. Zero values (and negative numbers,
// except for Incidents) take the defaults above.
type Config struct {
	Seed      int64  // data generation seed; the same seed and clock give the same data
	Incidents int    // incidents generated at construction (default 50; negative: none)
	KeyID     string // the standard key's id, its x-xdr-auth-id (default "1")
	Key       string // the standard key (default DefaultKey), accepted only unsigned
	// AdvancedKeyID and AdvancedKey are the advanced key (default "2" and
	// DefaultAdvancedKey), accepted only when signed. The two keys are
	// distinct, as in the product, so a key used in the wrong mode gets a 401.
	AdvancedKeyID string
	AdvancedKey   string
	MaxSkew       time.Duration // advanced-key timestamp tolerance either side of Now (default 5m)
	RateLimit     int           // get_incident_extra_data calls allowed ... (default 10)
	RateWindow    time.Duration // ... in any sliding window this long (default 60s)
	IndexDelay    time.Duration // a change stamped T is visible to queries from T+IndexDelay on (default 0)
	MaxAlerts     int           // upper bound of generated alerts per incident (default 2000)
	// RestrictedFraction is the share of incidents the key may not see:
	// get_incidents reports them only in restricted_incident_ids (default 0).
	RestrictedFraction float64
	// SlowDelay is how long FaultSlow holds a request (default 2s; see SetSlowDelay).
	SlowDelay time.Duration
	// UnknownIncidentStatus is the status of get_incident_extra_data for an
	// unknown incident id (default 500, the API's catch-all error).
	UnknownIncidentStatus int
	// TotalCountCap, when positive, caps the total_count get_incidents
	// reports (one public puller saw it saturate near 10,000). Results are
	// not capped. Default 0: no cap.
	TotalCountCap int
	// BulkRateLimit and BulkRateWindow are the sliding window of
	// get_multiple_incidents_extra_data, its own beside the single
	// endpoint's (default: RateLimit in RateWindow, as configured).
	BulkRateLimit  int
	BulkRateWindow time.Duration
	// AlertsLimitPerIncident is the most alerts one item of a bulk reply
	// carries (default DefaultAlertsLimitPerIncident, 50).
	AlertsLimitPerIncident int
	// NoBulk makes the tenant answer get_multiple_incidents_extra_data as a
	// tenant without it (see SetBulkServed).
	NoBulk bool
	// RequestsPerSecond, when positive, is the tenant-wide budget of calls
	// of every endpoint: a call is refused with 429 (Retry-After: 1) when
	// that many authenticated calls already lie within the last second.
	// Default 0: no such budget.
	RequestsPerSecond int
	// ReadOnly makes the keys' role one that may not edit: update_incident
	// and update_alerts answer 403, changing nothing.
	ReadOnly bool
	// Now is the clock; every stamp, the rate window, the skew check and
	// IndexDelay use it (default time.Now). It must not run backwards.
	Now func() time.Time
}

func (c Config) withDefaults() Config {
	if c.Incidents < 0 {
		c.Incidents = 0
	} else if c.Incidents == 0 {
		c.Incidents = DefaultIncidents
	}
	if c.KeyID == "" {
		c.KeyID = DefaultKeyID
	}
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.AdvancedKeyID == "" {
		c.AdvancedKeyID = DefaultAdvancedKeyID
	}
	if c.AdvancedKey == "" {
		c.AdvancedKey = DefaultAdvancedKey
	}
	if c.MaxSkew <= 0 {
		c.MaxSkew = DefaultMaxSkew
	}
	if c.RateLimit <= 0 {
		c.RateLimit = DefaultRateLimit
	}
	if c.RateWindow <= 0 {
		c.RateWindow = DefaultRateWindow
	}
	if c.IndexDelay < 0 {
		c.IndexDelay = 0
	}
	if c.MaxAlerts <= 0 {
		c.MaxAlerts = DefaultMaxAlerts
	}
	if c.RestrictedFraction < 0 {
		c.RestrictedFraction = 0
	}
	if c.SlowDelay <= 0 {
		c.SlowDelay = DefaultSlowDelay
	}
	if c.UnknownIncidentStatus < 400 || c.UnknownIncidentStatus > 599 {
		c.UnknownIncidentStatus = DefaultUnknownIncidentStatus
	}
	if c.TotalCountCap < 0 {
		c.TotalCountCap = 0
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.BulkRateLimit <= 0 {
		c.BulkRateLimit = c.RateLimit
	}
	if c.BulkRateWindow <= 0 {
		c.BulkRateWindow = c.RateWindow
	}
	if c.AlertsLimitPerIncident <= 0 {
		c.AlertsLimitPerIncident = DefaultAlertsLimitPerIncident
	}
	return c
}

// Tenant is a simulated Cortex XDR tenant. It is an http.Handler for
// POST /public_api/v1/incidents/get_incidents/ and
// /get_incident_extra_data/ (trailing slash optional). All methods are safe
// for concurrent use.
type Tenant struct {
	cfg     Config
	seed    uint64
	delayMs int64

	mu         sync.Mutex
	mrng       *rand.Rand // mutation choices; guarded by mu
	incidents  []*incident
	byID       map[string]*incident
	versions   []Version
	nextNum    int64  // next incident number
	nextAlert  int64  // next alert_id
	nextSeq    uint64 // next alert / artifact generation seed
	window     []time.Time
	calls      []Call
	count429   int
	nonces     map[string]int64 // advanced nonce -> its timestamp (ms)
	faults     []pendingFault
	slowDelay  time.Duration
	failures   map[string]int
	serverErrN int
	revoked    atomic.Bool // see SetRevoked

	noBulk        atomic.Bool // see SetBulkServed
	bulkWindow    []time.Time
	bulkCalls     []BulkCall
	bulk429       int
	writes        []WriteCall
	secondLog     []time.Time // arrivals within the last second (RequestsPerSecond)
	countPaced429 int
}

// New builds a tenant and generates cfg.Incidents incidents whose creation
// and modification times lie in the 24 hours before cfg.Now().
func New(cfg Config) *Tenant {
	cfg = cfg.withDefaults()
	t := &Tenant{
		cfg:       cfg,
		seed:      uint64(cfg.Seed),
		delayMs:   cfg.IndexDelay.Milliseconds(),
		mrng:      rand.New(rand.NewPCG(uint64(cfg.Seed), 0x6d757461)),
		byID:      make(map[string]*incident),
		nonces:    make(map[string]int64),
		failures:  make(map[string]int),
		slowDelay: cfg.SlowDelay,
	}
	t.noBulk.Store(cfg.NoBulk)
	t.generate()
	return t
}

// Credentials returns the id and key of the tenant's standard key, so a demo
// can configure its client.
func (t *Tenant) Credentials() (keyID, key string) { return t.cfg.KeyID, t.cfg.Key }

// AdvancedCredentials returns the id and key of the tenant's advanced key.
func (t *Tenant) AdvancedCredentials() (keyID, key string) {
	return t.cfg.AdvancedKeyID, t.cfg.AdvancedKey
}

// CredentialsFor returns the key of the given auth mode: the advanced key for
// "advanced", the standard key otherwise.
func (t *Tenant) CredentialsFor(mode string) (keyID, key string) {
	if mode == "advanced" {
		return t.AdvancedCredentials()
	}
	return t.Credentials()
}

// Start serves the tenant on a fresh 127.0.0.1 port. It returns the base URL
// (http://127.0.0.1:port, without /public_api/v1) and a stop function that
// closes the server and waits for it; stop is idempotent. Start panics if it
// cannot listen, like httptest.NewServer.
func (t *Tenant) Start() (baseURL string, stop func()) { return startLoopback(t) }

// Serve serves the tenant on ln until ctx is done, then shuts the server
// down (in-flight requests see their context cancelled) and returns nil. It
// returns a wrapped error if serving fails for another reason. Serve closes ln.
func (t *Tenant) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, t, "simulated tenant")
}

// startLoopback serves h on a fresh 127.0.0.1 port; see Tenant.Start.
func startLoopback(h http.Handler) (url string, stop func()) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		panic(fmt.Sprintf("xdrtest: listening on 127.0.0.1: %v", err))
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		_ = serve(ctx, ln, h, "")
	}()
	var once sync.Once
	return "http://" + ln.Addr().String(), func() {
		once.Do(func() {
			cancel()
			<-done
		})
	}
}

// serve serves h on ln until ctx is done; see Tenant.Serve. what names it in
// errors.
func serve(ctx context.Context, ln net.Listener, h http.Handler, what string) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		BaseContext:       func(net.Listener) context.Context { return ctx },
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	select {
	case err := <-errc:
		return fmt.Errorf("serving %s: %w", what, err)
	case <-ctx.Done():
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		_ = srv.Close()
	}
	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serving %s: %w", what, err)
	}
	return nil
}

// reply is a response before it is written.
type reply struct {
	status     int
	body       []byte
	retryAfter string // Retry-After header value, if any
}

// ServeHTTP implements http.Handler.
func (t *Tenant) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	endpoint, ok := strings.CutPrefix(strings.TrimSuffix(r.URL.Path, "/"), apiPrefix)
	if !ok {
		endpoint, ok = strings.CutPrefix(strings.TrimSuffix(r.URL.Path, "/"), alertsPrefix)
		ok = ok && endpoint == EndpointUpdateAlerts
	} else if endpoint == EndpointUpdateAlerts {
		ok = false
	}
	bulk := endpoint == EndpointMultipleExtraData
	if !ok || (endpoint != EndpointIncidents && endpoint != EndpointExtraData && endpoint != EndpointUpdateIncident && endpoint != EndpointUpdateAlerts && !bulk) || bulk && t.noBulk.Load() {
		t.write(w, r, errReply(http.StatusNotFound, shapeReply, 404, "Not Found", "no such public API endpoint"))
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		t.write(w, r, errReply(http.StatusMethodNotAllowed, shapeReply, 405, "Method Not Allowed", "use POST"))
		return
	}
	arrival := t.cfg.Now()
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	if err != nil {
		t.write(w, r, errReply(http.StatusBadRequest, shapeReply, 400, "Bad Request. Got an invalid JSON.", "reading the body: "+err.Error()))
		return
	}
	extra := endpoint == EndpointExtraData
	write := endpoint == EndpointUpdateIncident || endpoint == EndpointUpdateAlerts
	callID := ""
	var bulkIDs []string
	if extra {
		callID = peekIncidentID(body)
	}
	if bulk {
		bulkIDs = peekBulkIDs(body)
	}

	if rep, ok := t.checkKey(r, arrival); !ok {
		if extra {
			t.recordCall(arrival, callID, rep.status)
		}
		if bulk {
			t.recordBulkCall(arrival, bulkIDs, rep.status)
		}
		t.write(w, r, rep)
		return
	}

	if !t.paceTenant(arrival) {
		rep := pacedReply(t.cfg.RequestsPerSecond)
		if extra {
			t.recordCall(arrival, callID, rep.status)
		}
		if write {
			t.recordWrite(arrival, endpoint, body, rep.status)
		}
		t.write(w, r, rep)
		return
	}
	admitted, retryAfter := true, ""
	switch {
	case extra:
		admitted, retryAfter = t.admit(arrival)
	case bulk:
		admitted, retryAfter = t.admitBulk(arrival)
	}
	fault := t.takeFault(endpoint)
	if fault == FaultSlow {
		var held *reply
		if write {
			// A write is applied before its reply is held, as on a
			// server that did the work and answers late.
			rep := t.applyWrite(endpoint, body)
			held = &rep
			t.recordHeldWrite(arrival, endpoint, body, rep.status)
		}
		t.mu.Lock()
		d := t.slowDelay
		t.mu.Unlock()
		timer := time.NewTimer(d)
		select {
		case <-timer.C:
		case <-r.Context().Done():
			timer.Stop()
			if extra {
				t.recordCall(arrival, callID, 0)
			}
			if bulk {
				t.recordBulkCall(arrival, bulkIDs, 0)
			}
			return
		}
		fault = 0
		if held != nil {
			t.write(w, r, *held)
			return
		}
	}

	var rep reply
	switch fault {
	case FaultReset:
		if extra {
			t.recordCall(arrival, callID, 0)
		}
		if bulk {
			t.recordBulkCall(arrival, bulkIDs, 0)
		}
		if write {
			// The update is applied and its reply lost, as when a
			// connection drops after the server did the work.
			t.applyWrite(endpoint, body)
			t.recordWrite(arrival, endpoint, body, 0)
		}
		resetConnection(w)
		return
	case FaultServerError:
		rep = t.serverError()
	case Fault429:
		rep = rateLimitedReply(t.cfg.RateLimit, t.cfg.RateWindow, "1")
	default:
		switch {
		case !admitted && fault == 0 && bulk:
			rep = rateLimitedReply(t.cfg.BulkRateLimit, t.cfg.BulkRateWindow, retryAfter)
		case !admitted && fault == 0:
			t.mu.Lock()
			t.count429++
			t.mu.Unlock()
			rep = rateLimitedReply(t.cfg.RateLimit, t.cfg.RateWindow, retryAfter)
		case extra:
			rep = t.extraData(body)
		case bulk:
			rep = t.multipleExtraData(body)
		case write:
			rep = t.applyWrite(endpoint, body)
		default:
			rep = t.getIncidents(body)
		}
	}
	if fault == FaultMalformedJSON {
		rep = reply{status: http.StatusOK, body: rep.body[:len(rep.body)/2]}
	}
	if extra {
		t.recordCall(arrival, callID, rep.status)
	}
	if bulk {
		t.recordBulkCall(arrival, bulkIDs, rep.status)
	}
	if write {
		t.recordWrite(arrival, endpoint, body, rep.status)
	}
	if fault == FaultTruncatedGzip {
		writeTruncatedGzip(w, rep)
		return
	}
	t.write(w, r, rep)
}

// write sends rep as JSON, gzip-compressed when the client accepts gzip.
func (t *Tenant) write(w http.ResponseWriter, r *http.Request, rep reply) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Add("Vary", "Accept-Encoding")
	if rep.retryAfter != "" {
		h.Set("Retry-After", rep.retryAfter)
	}
	body := rep.body
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

// acceptsGzip reports whether any Accept-Encoding value lists gzip with a
// non-zero quality.
func acceptsGzip(values []string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			coding, params, _ := strings.Cut(strings.TrimSpace(part), ";")
			if !strings.EqualFold(strings.TrimSpace(coding), "gzip") {
				continue
			}
			q := strings.ReplaceAll(strings.TrimSpace(params), " ", "")
			if q == "q=0" || q == "q=0.0" || q == "q=0.00" || q == "q=0.000" {
				continue
			}
			return true
		}
	}
	return false
}

func gzipBytes(b []byte) []byte {
	var buf bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&buf, gzip.BestSpeed)
	_, _ = zw.Write(b)
	_ = zw.Close()
	return buf.Bytes()
}

// peekIncidentID extracts request_data.incident_id for the call log, or "".
func peekIncidentID(body []byte) string {
	var env struct {
		RequestData struct {
			IncidentID any `json:"incident_id"`
		} `json:"request_data"`
	}
	if json.Unmarshal(body, &env) != nil {
		return ""
	}
	switch v := env.RequestData.IncidentID.(type) {
	case string:
		return v
	case float64:
		return fmt.Sprint(v)
	}
	return ""
}

// Error body shapes. The API documents the three err_ fields both wrapped in
// "reply" (Xpanse page) and at top level (XDR page); tenants in the wild send
// err_code as an integer or a string, err_msg with leading whitespace, and
// err_extra as a string or a list of objects. The simulator mixes them.
type errShape int

const (
	shapeReply         errShape = iota // {"reply":{"err_code":<int>,"err_msg","err_extra":<string>}}
	shapeReplyList                     // {"reply":{"err_code":<int>,"err_msg":" <leading space>","err_extra":[{...}]}}
	shapeTopLevel                      // {"err_code":"<string>","err_msg","err_extra":<string>}
	shapeReplyStrCode                  // {"reply":{"err_code":"<string>","err_msg","err_extra":<string>}}
	shapeUnprocessable                 // {"code":<int>,"status","message","errors":{...}} (HTTP 422)
)

// errReply builds an error reply. extra is the err_extra text.
func errReply(status int, shape errShape, code int, msg, extra string) reply {
	var v any
	switch shape {
	case shapeReplyList:
		v = map[string]any{"reply": map[string]any{
			"err_code":  code,
			"err_msg":   " " + msg,
			"err_extra": []any{map[string]any{"code": code, "message": extra}},
		}}
	case shapeTopLevel:
		v = map[string]any{"err_code": fmt.Sprint(code), "err_msg": msg, "err_extra": extra}
	case shapeReplyStrCode:
		v = map[string]any{"reply": map[string]any{"err_code": fmt.Sprint(code), "err_msg": msg, "err_extra": extra}}
	case shapeUnprocessable:
		v = map[string]any{"code": code, "status": http.StatusText(status), "message": msg,
			"errors": map[string]any{"request_data": []string{extra}}}
	default:
		v = map[string]any{"reply": map[string]any{"err_code": code, "err_msg": msg, "err_extra": extra}}
	}
	b, _ := json.Marshal(v)
	return reply{status: status, body: b}
}

// okReply wraps v as {"reply": v}.
func okReply(v any) reply {
	b, err := json.Marshal(map[string]any{"reply": v})
	if err != nil {
		return errReply(http.StatusInternalServerError, shapeReply, 500, "An error occurred while processing XDR public API", "encoding the reply: "+err.Error())
	}
	return reply{status: http.StatusOK, body: b}
}
