package xdr

import (
	"bufio"
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/metric"
	metricnoop "go.opentelemetry.io/otel/metric/noop"
	"go.opentelemetry.io/otel/trace"
	tracenoop "go.opentelemetry.io/otel/trace/noop"
)

// Endpoint names, as they appear in URLs and in APIError.Endpoint.
const (
	EndpointGetIncidents         = "get_incidents"
	EndpointGetIncidentExtraData = "get_incident_extra_data"
)

// Defaults applied by New to zero Config fields.
const (
	DefaultTimeout   = 30 * time.Second
	DefaultUserAgent = "xdr-kafka-connector"

	// DefaultMaxReplyBytes caps one reply after decompression: 16 MiB, from
	// what the largest reply can hold. get_incident_extra_data sends at
	// most 1,000 alerts (alerts_limit); the simulated tenant's largest
	// alert is 1,384 bytes of JSON (mean 1,243) and a 1,000-alert reply
	// 1.24 MB. Real alerts carry longer command lines, paths and more
	// fields: allowing 8 times the largest, 1,000 x 11 KB = 11 MB, plus
	// the incident (under 2 KB) and its artifacts (under 500 bytes each;
	// 5,000 of them are 2.5 MB) is under 14 MB, rounded up to 16 MiB. A
	// get_incidents page (100 incidents of under 2 KB) is far below it.
	DefaultMaxReplyBytes = 16 << 20
)

// apiPath is the path prefix of every endpoint below the base URL.
const apiPath = "/public_api/v1"

// Config configures a Client. Zero values take the defaults documented per
// field.
type Config struct {
	// BaseURL is the tenant's API URL, https://api-<tenant-fqdn>, with or
	// without a trailing /public_api/v1 and trailing slashes. It must be
	// http or https and carry no credentials, query or fragment.
	BaseURL string
	// KeyID is the API key's id, sent as x-xdr-auth-id. Required.
	KeyID string
	// Key is the API key. Required.
	Key Secret
	// AuthMode must match the key's type. Default AuthStandard.
	AuthMode AuthMode
	// Timeout bounds one request, from sending to the last byte of the
	// reply. Default DefaultTimeout (30s).
	Timeout time.Duration
	// UserAgent is sent in User-Agent. Default DefaultUserAgent.
	UserAgent string
	// MaxReplyBytes caps a reply body after decompression; a larger one
	// fails with ErrReplyTooLarge once MaxReplyBytes have been read, and
	// no more is buffered. Default DefaultMaxReplyBytes (16 MiB).
	MaxReplyBytes int64
}

// Option configures optional parts of a Client.
type Option func(*Client)

// WithHTTPClient makes the Client send through hc instead of a private
// client with a clone of http.DefaultTransport that follows no redirects. The Client sets
// Accept-Encoding itself and decompresses replies, so hc's transport does not
// need to. A nil hc is ignored.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc != nil {
			c.hc = hc
		}
	}
}

// WithClock sets the clock used for advanced-key timestamps and for
// Retry-After dates. Default time.Now. A nil now is ignored.
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now != nil {
			c.now = now
		}
	}
}

// WithRandom sets the source of advanced-key nonces. Default crypto/rand. The
// Client serialises reads, so r need not be safe for concurrent use. A nil r
// is ignored.
func WithRandom(r io.Reader) Option {
	return func(c *Client) {
		if r != nil {
			c.rand = r
		}
	}
}

// WithTracerProvider makes the Client start one client span per API call,
// named after the endpoint (get_incidents, get_incident_extra_data), child of
// the span ctx carries. Its attributes are the endpoint, the method, the
// server's host, the URL path and the HTTP status; never a header, so never
// the key. A failed call sets the span's status to the error, whose text
// never holds the key either. Default: no spans. A nil tp is ignored.
func WithTracerProvider(tp trace.TracerProvider) Option {
	return func(c *Client) {
		if tp != nil {
			c.tp = tp
		}
	}
}

// WithMeterProvider makes the Client count its API calls (MetricCalls, by
// endpoint and status) and time them (MetricDuration, by endpoint).
// Default: no metrics. A nil mp is ignored.
func WithMeterProvider(mp metric.MeterProvider) Option {
	return func(c *Client) {
		if mp != nil {
			c.mp = mp
		}
	}
}

// WithMetricAttributes adds attrs to every measurement of the Client's
// metrics, besides endpoint and status: the tenant, when a process runs
// several clients.
func WithMetricAttributes(attrs ...attribute.KeyValue) Option {
	return func(c *Client) { c.metricAttrs = append(c.metricAttrs, attrs...) }
}

// Instrument names of WithMeterProvider. The status attribute is the HTTP
// status code ("200", "429", ...), or "timeout", "canceled" or "error" when
// no reply came back; a 2xx reply that does not decode counts as "malformed".
const (
	MetricCalls    = "xdr_connector.api.calls"    // counter{endpoint,status}
	MetricDuration = "xdr_connector.api.duration" // histogram{endpoint,status}, seconds
)

// instrumentationScope names the client's tracer and meter.
const instrumentationScope = "github.com/soc-tools/xdr-kafka-connector/pkg/xdr"

// Client calls the Cortex XDR incidents API. Each call makes exactly one HTTP
// attempt and never retries; see Retryable and RetryAfter. A Client is safe
// for concurrent use.
type Client struct {
	base     string // normalised: no /public_api/v1, no trailing slash
	hc       *http.Client
	timeout  time.Duration
	ua       string
	maxReply int64
	budget   *ReplyBudget // shared by the Clients of a process (WithReplyBudget); nil: none
	now      func() time.Time
	rand     io.Reader
	signer   *signer   // behind a pointer so printing a Client value never reaches the key
	sc       *scrubber // removes the key from what the server sends back; a pointer for the same reason

	tp trace.TracerProvider
	mp metric.MeterProvider
	// metricAttrs are added to every measurement (WithMetricAttributes).
	metricAttrs []attribute.KeyValue
	tracer      trace.Tracer
	calls       metric.Int64Counter
	duration    metric.Float64Histogram
	host        string
}

// New validates cfg and returns a Client. It fails when the base URL does not
// parse, is not http(s), or carries credentials, a query or a fragment; when
// the key id or key is missing or unusable in a header; when the auth mode is
// unknown; or when a duration or size is negative. Error messages never
// contain the key.
func New(cfg Config, opts ...Option) (*Client, error) {
	base, err := normaliseBaseURL(cfg.BaseURL)
	if err != nil {
		return nil, fmt.Errorf("configuring xdr client: %w", err)
	}
	keyID := strings.TrimSpace(cfg.KeyID)
	if keyID == "" {
		return nil, errors.New("configuring xdr client: API key id is required")
	}
	if !headerSafe(keyID) {
		return nil, errors.New("configuring xdr client: API key id contains white space or control characters")
	}
	if cfg.Key.IsZero() {
		return nil, errors.New("configuring xdr client: API key is required")
	}
	if !headerSafe(cfg.Key.Reveal()) {
		return nil, errors.New("configuring xdr client: API key contains white space or control characters")
	}
	mode := AuthMode(strings.ToLower(strings.TrimSpace(string(cfg.AuthMode))))
	switch mode {
	case "":
		mode = AuthStandard
	case AuthStandard, AuthAdvanced:
	default:
		return nil, fmt.Errorf("configuring xdr client: unknown auth mode %q (want %s or %s)", cfg.AuthMode, AuthStandard, AuthAdvanced)
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("configuring xdr client: negative timeout %s", cfg.Timeout)
	}
	if cfg.MaxReplyBytes < 0 {
		return nil, fmt.Errorf("configuring xdr client: negative MaxReplyBytes %d", cfg.MaxReplyBytes)
	}
	c := &Client{
		base:     base,
		timeout:  orDefault(cfg.Timeout, DefaultTimeout),
		ua:       orDefault(strings.TrimSpace(cfg.UserAgent), DefaultUserAgent),
		maxReply: orDefault(cfg.MaxReplyBytes, DefaultMaxReplyBytes),
		now:      time.Now,
		rand:     rand.Reader,
		tp:       tracenoop.NewTracerProvider(),
		mp:       metricnoop.NewMeterProvider(),
	}
	for _, o := range opts {
		o(c)
	}
	if c.budget != nil && MinReplyBudget(c.maxReply) > c.budget.Size() {
		return nil, fmt.Errorf("configuring xdr client: a reply of MaxReplyBytes %d needs a reply budget of %d bytes, not %d", c.maxReply, MinReplyBudget(c.maxReply), c.budget.Size())
	}
	if u, err := url.Parse(base); err == nil {
		c.host = u.Hostname()
	}
	c.tracer = c.tp.Tracer(instrumentationScope)
	meter := c.mp.Meter(instrumentationScope)
	if c.calls, err = meter.Int64Counter(MetricCalls, metric.WithUnit("{call}"),
		metric.WithDescription("HTTP calls to the Cortex XDR API, by endpoint and status.")); err != nil {
		return nil, fmt.Errorf("configuring xdr client: creating metrics: %w", err)
	}
	if c.duration, err = meter.Float64Histogram(MetricDuration, metric.WithUnit("s"),
		metric.WithDescription("Duration of HTTP calls to the Cortex XDR API, by endpoint and status."),
		metric.WithExplicitBucketBoundaries(0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)); err != nil {
		return nil, fmt.Errorf("configuring xdr client: creating metrics: %w", err)
	}
	if c.hc == nil {
		var rt http.RoundTripper = http.DefaultTransport
		if t, ok := rt.(*http.Transport); ok {
			rt = t.Clone()
		}
		// Redirects are not followed: a POST turned into a GET, or the key
		// sent to another host, helps nobody; the 3xx comes back as an
		// APIError so the base URL can be fixed.
		c.hc = &http.Client{
			Transport:     rt,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	c.signer = &signer{mode: mode, keyID: keyID, key: cfg.Key, now: c.now, rand: c.rand}
	c.sc = newScrubber(cfg.Key.Reveal())
	if looksSecret(cfg.KeyID) {
		c.sc = c.sc.withAlso(cfg.KeyID)
	}
	return c, nil
}

// orDefault returns v, or def when v is the zero value.
func orDefault[T comparable](v, def T) T {
	var zero T
	if v == zero {
		return def
	}
	return v
}

// headerSafe reports whether s can be sent as a header value unchanged.
func headerSafe(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c <= ' ' || c == 0x7f {
			return false
		}
	}
	return true
}

// normaliseBaseURL accepts the tenant URL with or without /public_api/v1 and
// trailing slashes and returns it without either. Errors never quote the URL,
// which might hold credentials.
func normaliseBaseURL(raw string) (string, error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", errors.New("base URL is required")
	}
	u, err := url.Parse(raw)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("parsing base URL: %w", err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", errors.New("base URL must start with https:// (or http://)")
	case u.Host == "":
		return "", errors.New("base URL has no host")
	case u.User != nil:
		return "", errors.New("base URL must not carry credentials")
	case u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		return "", errors.New("base URL must not carry a query or fragment")
	}
	path := strings.TrimRight(u.EscapedPath(), "/")
	path = strings.TrimRight(strings.TrimSuffix(path, apiPath), "/")
	return u.Scheme + "://" + u.Host + path, nil
}

// BaseURL returns the normalised base URL: scheme and host (and any path
// prefix), without /public_api/v1 and without a trailing slash.
func (c *Client) BaseURL() string { return c.base }

// String describes the client without its key.
func (c *Client) String() string {
	if c == nil || c.signer == nil {
		return "xdr.Client(nil)"
	}
	return fmt.Sprintf("xdr.Client{BaseURL: %q, KeyID: %q, AuthMode: %q, Key: %s}", c.base, c.signer.keyID, c.signer.mode, redacted)
}

// GoString is String, so %#v never reaches the key.
func (c *Client) GoString() string { return c.String() }

// Format prints String for every verb, so no verb reaches the key.
func (c *Client) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, c.String()) }

// GetIncidents calls get_incidents once. req is validated first (errors wrap
// ErrInvalidRequest; nothing is sent). Failures are *APIError for a non-2xx
// reply, or errors wrapping ErrMalformed, ErrTruncated, ErrTimeout,
// ErrReplyTooLarge, the caller's context error, or a transport error; decide
// with Retryable.
func (c *Client) GetIncidents(ctx context.Context, req IncidentsRequest) (_ *IncidentsReply, err error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating %s request: %w", EndpointGetIncidents, err)
	}
	ctx, span := c.tracer.Start(ctx, EndpointGetIncidents, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.Int("xdr.search_from", req.SearchFrom), attribute.Int("xdr.search_to", req.SearchTo)))
	start, status := time.Now(), 0
	defer func() { c.observe(ctx, span, EndpointGetIncidents, start, status, err) }()
	body, status, release, err := c.call(ctx, EndpointGetIncidents, req)
	if err != nil {
		return nil, err
	}
	defer release()
	body, echoes := c.sc.reply(body)
	reply, err := DecodeIncidentsReply(body)
	if err != nil {
		return nil, c.malformed(EndpointGetIncidents, body, err)
	}
	reply.KeyEchoes = echoes
	span.SetAttributes(attribute.Int("xdr.result_count", len(reply.Incidents)), attribute.Int("xdr.total_count", reply.TotalCount))
	return reply, nil
}

// GetIncidentExtraData calls get_incident_extra_data once; AlertsLimit 0
// sends DefaultAlertsLimit. Errors are as for GetIncidents. The reply's
// Alerts.Truncated reports when the incident has more alerts than were sent.
func (c *Client) GetIncidentExtraData(ctx context.Context, req ExtraDataRequest) (_ *ExtraData, err error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating %s request: %w", EndpointGetIncidentExtraData, err)
	}
	req.IncidentID = strings.TrimSpace(req.IncidentID)
	if req.AlertsLimit == 0 {
		req.AlertsLimit = DefaultAlertsLimit
	}
	ctx, span := c.tracer.Start(ctx, EndpointGetIncidentExtraData, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("xdr.incident_id", req.IncidentID), attribute.Int("xdr.alerts_limit", req.AlertsLimit)))
	start, status := time.Now(), 0
	defer func() { c.observe(ctx, span, EndpointGetIncidentExtraData, start, status, err) }()
	body, status, release, err := c.call(ctx, EndpointGetIncidentExtraData, req)
	if err != nil {
		return nil, err
	}
	defer release()
	body, echoes := c.sc.reply(body)
	data, err := DecodeExtraData(body)
	if err != nil {
		return nil, c.malformed(EndpointGetIncidentExtraData, body, err)
	}
	data.KeyEchoes = echoes
	return data, nil
}

// observe ends the span of one API call and records its metrics. status is
// the HTTP status, 0 when no reply came back.
func (c *Client) observe(ctx context.Context, span trace.Span, endpoint string, start time.Time, status int, err error) {
	label := statusLabel(status, err)
	attrs := metric.WithAttributes(append([]attribute.KeyValue{attribute.String("endpoint", endpoint), attribute.String("status", label)}, c.metricAttrs...)...)
	c.calls.Add(ctx, 1, attrs)
	c.duration.Record(ctx, time.Since(start).Seconds(), attrs)
	if !span.IsRecording() {
		span.End()
		return
	}
	span.SetAttributes(
		attribute.String("http.request.method", http.MethodPost),
		attribute.String("server.address", c.host),
		attribute.String("url.path", endpointPath(endpoint)),
	)
	if status != 0 {
		span.SetAttributes(attribute.Int("http.response.status_code", status))
	}
	if err != nil {
		span.SetAttributes(attribute.String("error.type", label))
		if ae, ok := errors.AsType[*APIError](err); ok && ae.Code != "" {
			span.SetAttributes(attribute.String("xdr.err_code", ae.Code))
		}
		span.SetStatus(codes.Error, err.Error())
	}
	span.End()
}

// statusLabel is the status attribute of MetricCalls.
func statusLabel(status int, err error) string {
	switch {
	case status >= 200 && status <= 299 && err != nil:
		return "malformed"
	case status != 0:
		return strconv.Itoa(status)
	case errors.Is(err, ErrTimeout):
		return "timeout"
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return "canceled"
	case err != nil:
		return "error"
	}
	return "ok"
}

// errRequestTimeout is the cancellation cause of the per-request context.
var errRequestTimeout = errors.New("per-request timeout")

// call POSTs {"request_data": data} to endpoint once and returns the 2xx
// body, decompressed, the HTTP status (0 when no reply came back), and the
// function that gives the body's bytes back to the reply budget, to be
// called once the body is decoded (nil when err is not).
func (c *Client) call(ctx context.Context, endpoint string, data any) (_ []byte, _ int, release func(), _ error) {
	payload, err := json.Marshal(struct {
		RequestData any `json:"request_data"`
	}{data})
	if err != nil {
		return nil, 0, nil, fmt.Errorf("encoding %s request: %w", endpoint, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, 0, nil, fmt.Errorf("calling %s: %w", endpoint, err)
	}
	rctx, cancel := context.WithTimeoutCause(ctx, c.timeout, errRequestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, c.base+endpointPath(endpoint), bytes.NewReader(payload))
	if err != nil {
		return nil, 0, nil, fmt.Errorf("building %s request: %w", endpoint, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")
	req.Header.Set("Accept-Encoding", "gzip")
	req.Header.Set("User-Agent", c.ua)
	if err := c.signer.sign(req.Header); err != nil {
		return nil, 0, nil, fmt.Errorf("signing %s request: %w", endpoint, err)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, 0, nil, c.failure(ctx, rctx, endpoint, err)
	}
	defer func() { _ = resp.Body.Close() }()

	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		var body []byte
		if r, err := bodyReader(resp, c.sc); err == nil {
			body, _ = io.ReadAll(io.LimitReader(r, maxErrorBody)) // whatever arrived is enough
		}
		// newAPIError scrubs the body, and each text after decoding it and
		// before capping it, so no escape and no cap can leave part of a key.
		return nil, resp.StatusCode, nil, newAPIError(endpoint, resp.StatusCode, resp.Header, body, c.now(), c.signer.mode == AuthAdvanced, c.sc)
	}
	res := &reservation{b: c.budget}
	body, err := readReply(rctx, resp, c.maxReply, res, c.sc)
	if err != nil {
		res.release()
		return nil, 0, nil, c.failure(ctx, rctx, endpoint, err)
	}
	return body, resp.StatusCode, res.release, nil
}

// failure wraps a transport or body error, telling apart the caller's
// context ending (not retryable) and the per-request timeout (ErrTimeout).
func (c *Client) failure(parent, rctx context.Context, endpoint string, err error) error {
	if perr := parent.Err(); perr != nil {
		return fmt.Errorf("calling %s: %w", endpoint, perr)
	}
	if errors.Is(context.Cause(rctx), errRequestTimeout) {
		return fmt.Errorf("calling %s: %w after %s: %w", endpoint, ErrTimeout, c.timeout, context.DeadlineExceeded)
	}
	// Any other timeout (an http.Client.Timeout, a dialer's) is this
	// attempt's too, not the caller's: mark it so Retryable sees ErrTimeout
	// before the context.DeadlineExceeded it may also match.
	err = c.scrubbed(err)
	if ne, ok := errors.AsType[net.Error](err); errors.Is(err, context.DeadlineExceeded) || ok && ne.Timeout() {
		return fmt.Errorf("calling %s: %w: %w", endpoint, ErrTimeout, err)
	}
	return fmt.Errorf("calling %s: %w", endpoint, err)
}

// scrubbed returns err with its text scrubbed of the key when it holds it:
// a transport error may quote what the server sent (net/http quotes a
// malformed header line, a proxy may have copied the request's headers
// into it).
func (c *Client) scrubbed(err error) error {
	msg := err.Error()
	if clean := c.sc.text(msg); clean != msg {
		return &scrubbedError{msg: clean, err: err}
	}
	return err
}

// scrubbedError is an error whose text was scrubbed of the key; errors.Is
// and errors.As still see its cause, whose own text must not be printed.
type scrubbedError struct {
	msg string
	err error
}

func (e *scrubbedError) Error() string { return e.msg }
func (e *scrubbedError) Unwrap() error { return e.err }

// malformed wraps a decoding error of a 2xx body, adding a short excerpt when
// the body is not JSON at all (a proxy's HTML page, say). The error message
// a reply carried, and the excerpt, are scrubbed of the key before they are
// cut.
func (c *Client) malformed(endpoint string, body []byte, err error) error {
	if ce, ok := errors.AsType[*carriedError](err); ok {
		err = &carriedError{endpoint: ce.endpoint, msg: c.sc.text(ce.msg)}
	}
	if t := bytes.TrimSpace(body); len(t) > 0 && !json.Valid(t) && t[0] != '{' && t[0] != '[' {
		return fmt.Errorf("calling %s: %w [%s]", endpoint, err, nonJSONExcerpt("", t, c.sc))
	}
	return fmt.Errorf("calling %s: %w", endpoint, err)
}

// bodyReader returns the reply body, gunzipped when the server says so or
// when the body starts with the gzip magic despite no Content-Encoding. An
// encoding it cannot read is named in its error scrubbed by sc, as server
// text.
func bodyReader(resp *http.Response, sc *scrubber) (io.Reader, error) {
	br := bufio.NewReader(resp.Body)
	sent := strings.TrimSpace(resp.Header.Get("Content-Encoding"))
	enc := strings.ToLower(sent)
	gz := enc == "gzip" || enc == "x-gzip"
	switch {
	case gz:
	case enc == "" || enc == "identity":
		if magic, err := br.Peek(2); err == nil && magic[0] == 0x1f && magic[1] == 0x8b {
			gz = true
		}
	default:
		return nil, fmt.Errorf("%w: unsupported Content-Encoding %q", ErrMalformed, capText(sc.text(sent), 32))
	}
	if !gz {
		return br, nil
	}
	zr, err := gzip.NewReader(br)
	if err != nil {
		return nil, bodyError(err)
	}
	return zr, nil
}

// readReply reads a 2xx body of at most limit bytes after decompression,
// holding its bytes in res (see readLimited); sc scrubs the server text of
// its errors.
func readReply(ctx context.Context, resp *http.Response, limit int64, res *reservation, sc *scrubber) ([]byte, error) {
	r, err := bodyReader(resp, sc)
	if err != nil {
		return nil, err
	}
	return readLimited(ctx, r, limit, res)
}

// bodyError marks a body that ended early or a corrupt gzip stream as
// ErrTruncated; other errors (resets, timeouts) pass through.
func bodyError(err error) error {
	var corrupt flate.CorruptInputError
	switch {
	case errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF),
		errors.Is(err, gzip.ErrHeader), errors.Is(err, gzip.ErrChecksum),
		errors.As(err, &corrupt):
		return fmt.Errorf("reading reply body: %w: %w", ErrTruncated, err)
	}
	return fmt.Errorf("reading reply body: %w", err)
}
