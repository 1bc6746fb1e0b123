package xdr

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unicode/utf8"
)

var (
	// ErrMalformed marks a 2xx reply whose body is not the documented shape:
	// not JSON, not an object, or without "reply". Retryable.
	ErrMalformed = errors.New("xdr: malformed reply")

	// ErrTruncated marks a reply body that ended early or whose gzip stream
	// is corrupt. Retryable.
	ErrTruncated = errors.New("xdr: truncated or corrupt reply body")

	// ErrTimeout marks a call that ran out of its per-request timeout
	// (Config.Timeout) while the caller's context was still live. Errors
	// carrying it also match context.DeadlineExceeded. Retryable.
	ErrTimeout = errors.New("xdr: request timed out")

	// ErrInvalidRequest marks a request the client refused before any I/O
	// (see IncidentsRequest.Validate). Not retryable.
	ErrInvalidRequest = errors.New("xdr: invalid request")

	// ErrReplyTooLarge marks a reply body larger than Config.MaxReplyBytes
	// (after decompression). Not retryable: the same request would get the
	// same reply. An enrichment that gets it is dead-lettered; a poll that
	// gets it fails its tenant, which restarts with backoff.
	ErrReplyTooLarge = errors.New("xdr: reply body too large")
)

// DefaultRateLimitWait is the wait RetryAfter reports for an HTTP 429 that
// carries no usable Retry-After header: the documented rate limit is 10 calls
// in a 60-second window.
const DefaultRateLimitWait = 60 * time.Second

// maxRetryAfter bounds a Retry-After header so a hostile value cannot
// overflow a time.Duration or park the caller for years.
const maxRetryAfter = 24 * time.Hour

// Size caps for what an error keeps from a server's body. Every text is
// scrubbed of the key (see scrubber) after it is decoded and before it is
// cut to its cap, so no cap can leave part of a key behind.
const (
	maxErrorBody = 64 << 10 // bytes of an error body that are read at all
	maxMessage   = 1024     // bytes kept of err_msg and err_extra
	maxExcerpt   = 200      // bytes kept of a non-JSON body
)

// APIError is an HTTP reply outside 2xx. Its fields come from either error
// envelope the API uses ({"reply":{"err_code","err_msg","err_extra"}} or the
// same three at top level), from the 422 shape ({"code","status","message",
// "errors"}), or, for a non-JSON body such as a proxy's HTML page, from a short
// excerpt of it. Message and Extra are capped at about 1 KiB each. No field
// holds the client's key, in any spelling the server may have echoed it in.
type APIError struct {
	Endpoint     string        // get_incidents or get_incident_extra_data
	Status       int           // HTTP status code
	Code         string        // err_code (or 422 code) as text, whether sent as string or number
	Message      string        // err_msg (or 422 message), trimmed; an excerpt for non-JSON bodies
	Extra        string        // err_extra (or 422 errors): a string, or a list/object re-encoded compactly
	RetryAfter   time.Duration // from Retry-After (seconds or HTTP-date); DefaultRateLimitWait on a 429 without it
	AdvancedAuth bool          // the request was signed with an advanced key
}

// Error renders the error on one line, e.g.
// "get_incident_extra_data: HTTP 429: Exceeded 10 requests in a 60-second window; retry after 1m0s",
// with a hint for 401, 402 and 403. It never includes request headers or the key.
func (e *APIError) Error() string {
	var b strings.Builder
	if e.Endpoint != "" {
		b.WriteString(e.Endpoint)
	} else {
		b.WriteString("xdr")
	}
	b.WriteString(": HTTP ")
	b.WriteString(strconv.Itoa(e.Status))
	b.WriteString(": ")
	switch {
	case e.Message != "":
		b.WriteString(e.Message)
	case http.StatusText(e.Status) != "":
		b.WriteString(http.StatusText(e.Status))
	default:
		b.WriteString("no message")
	}
	if e.Code != "" && e.Code != strconv.Itoa(e.Status) {
		b.WriteString(" [err_code ")
		b.WriteString(e.Code)
		b.WriteString("]")
	}
	if e.Extra != "" {
		b.WriteString(" (")
		b.WriteString(e.Extra)
		b.WriteString(")")
	}
	if e.RetryAfter > 0 {
		b.WriteString("; retry after ")
		b.WriteString(e.RetryAfter.String())
	}
	switch e.Status {
	case http.StatusUnauthorized:
		if e.AdvancedAuth {
			b.WriteString("; advanced API keys sign a timestamp, so a 401 is often clock skew between this host and the tenant: check the host clock (NTP), then the key id and key")
		} else {
			b.WriteString("; check the API key id and key, and that the key is neither expired nor revoked")
		}
	case http.StatusPaymentRequired:
		b.WriteString("; the tenant lacks the licence this API requires")
	case http.StatusForbidden:
		b.WriteString("; the API key's role lacks the RBAC permission this API requires")
	}
	return b.String()
}

// Retryable reports whether err is worth another attempt. It is the one place
// that decides:
//
//   - true: HTTP 408, 429 and 5xx; ErrTruncated; ErrMalformed; ErrTimeout (the
//     per-request timeout); ErrReplyBudget; connection resets, refusals,
//     unexpected EOF and other network errors.
//   - false: nil; every other status (400, 401, 402, 403, 404, 422, ...);
//     an answer that the incident does not exist (IncidentNotFound), whatever
//     its status; context.Canceled and a context.DeadlineExceeded of the
//     caller's own context; ErrInvalidRequest, ErrReplyTooLarge and anything
//     unknown.
func Retryable(err error) bool {
	if err == nil || IncidentNotFound(err) {
		return false
	}
	switch {
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, ErrTimeout):
		return true
	case errors.Is(err, context.DeadlineExceeded):
		return false // the caller's deadline: its budget is spent
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		s := ae.Status
		return s == http.StatusRequestTimeout || s == http.StatusTooManyRequests || (s >= 500 && s <= 599)
	}
	switch {
	case errors.Is(err, ErrTruncated), errors.Is(err, ErrMalformed), errors.Is(err, ErrReplyBudget):
		return true
	case errors.Is(err, ErrInvalidRequest), errors.Is(err, ErrReplyTooLarge):
		return false
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, net.ErrClosed):
		return true
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.ECONNREFUSED),
		errors.Is(err, syscall.ECONNABORTED), errors.Is(err, syscall.EPIPE),
		errors.Is(err, syscall.ETIMEDOUT), errors.Is(err, syscall.EHOSTUNREACH),
		errors.Is(err, syscall.ENETUNREACH):
		return true
	}
	if _, ok := errors.AsType[*net.OpError](err); ok {
		return true
	}
	if _, ok := errors.AsType[*net.DNSError](err); ok {
		return true
	}
	if ne, ok := errors.AsType[net.Error](err); ok && ne.Timeout() {
		return true
	}
	return false
}

// notFoundText matches what the API says of an incident id it does not know
// (merged into another incident, or deleted): "Incident 42 was not found",
// "incident 42 does not exist", "no such incident".
var notFoundText = regexp.MustCompile(`(?i)\bincident\b.*\b(not found|does not exist|doesn't exist|no longer exists)\b|\b(no such|unknown) incident\b`)

// IncidentNotFound reports whether err is the API's answer that the incident
// asked for does not exist: an *APIError whose err_msg or err_extra says so.
// The API gives it its catch-all status, 500 (the simulated tenant does too,
// by default), and a 404 or 400 is possible; the status alone is not enough,
// since a 500 is usually a server fault and a 404 a wrong base URL. Such an
// error is not retryable: the same call gets the same answer.
func IncidentNotFound(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	if !ok {
		return false
	}
	switch ae.Status {
	case http.StatusUnauthorized, http.StatusPaymentRequired, http.StatusForbidden, http.StatusTooManyRequests:
		return false
	}
	return notFoundText.MatchString(ae.Message) || notFoundText.MatchString(ae.Extra)
}

// RetryAfter returns how long the server asked the caller to wait before the
// next attempt, and whether it asked at all. It is set for any *APIError whose
// reply carried Retry-After, and for every 429 (DefaultRateLimitWait when the
// header is missing or unparseable).
func RetryAfter(err error) (time.Duration, bool) {
	if ae, ok := errors.AsType[*APIError](err); ok && ae.RetryAfter > 0 {
		return ae.RetryAfter, true
	}
	return 0, false
}

// DefaultMaxRetryAfter caps the wait a Retry-After can impose on the
// connector (XDR_MAX_RETRY_AFTER): the documented rate window is 60 s, so a
// longer ask is a broken or hostile reply, and honouring a day of it would
// stop the tenant for a day.
const DefaultMaxRetryAfter = 5 * time.Minute

// RetryWait is the one policy for how long to wait after a failed call: the
// server's Retry-After when it sent one (every 429 counts as sending one,
// see RetryAfter), at most limit, else fallback. capped reports that limit
// cut the server's ask short; the caller should say so. A limit of zero or
// less does not cap.
func RetryWait(err error, fallback, limit time.Duration) (wait time.Duration, capped bool) {
	d, ok := RetryAfter(err)
	if !ok {
		return fallback, false
	}
	if limit > 0 && d > limit {
		return limit, true
	}
	return d, false
}

// parseRetryAfter reads a Retry-After value: delta seconds or an HTTP-date
// (relative to now). ok is false when the value is absent or unreadable. The
// result is clamped to [0, maxRetryAfter].
func parseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(maxRetryAfter/time.Second) {
			return maxRetryAfter, true
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	d := t.Sub(now)
	switch {
	case d < 0:
		d = 0
	case d > maxRetryAfter:
		d = maxRetryAfter
	}
	// HTTP-dates have whole-second precision; round up so the caller never
	// comes back a fraction of a second early.
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return d, true
}

// newAPIError builds the error for a non-2xx reply from its status, headers
// and (at most maxErrorBody bytes of) body, scrubbing every text of the key
// with sc before capping it.
func newAPIError(endpoint string, status int, h http.Header, body []byte, now time.Time, advanced bool, sc *scrubber) *APIError {
	e := &APIError{Endpoint: endpoint, Status: status, AdvancedAuth: advanced}
	fillFromBody(e, h.Get("Content-Type"), sc.bytes(body), sc)
	if d, ok := parseRetryAfter(h.Get("Retry-After"), now); ok {
		e.RetryAfter = d
	}
	if status == http.StatusTooManyRequests && e.RetryAfter <= 0 {
		e.RetryAfter = DefaultRateLimitWait
	}
	return e
}

// fillFromBody sets Code, Message and Extra from whichever error envelope the
// body uses, each decoded, scrubbed by sc, then capped.
func fillFromBody(e *APIError, contentType string, body []byte, sc *scrubber) {
	body = bytes.TrimSpace(body)
	if len(body) == 0 {
		return
	}
	keep := func(s string) string { return capText(sc.text(s), maxMessage) }
	var top map[string]json.RawMessage
	if err := json.Unmarshal(body, &top); err != nil {
		if json.Valid(body) {
			// A JSON scalar or list: keep it as the message.
			e.Message = keep(errText(body))
			return
		}
		e.Message = nonJSONExcerpt(contentType, body, sc)
		return
	}
	fields := top
	if r, ok := top["reply"]; ok {
		var inner map[string]json.RawMessage
		if json.Unmarshal(r, &inner) == nil && hasAny(inner, "err_code", "err_msg", "err_extra") {
			fields = inner
		} else if !hasAny(top, "err_code", "err_msg", "err_extra") {
			// {"reply": "text"} or a reply without the error fields.
			e.Message = keep(errText(r))
			return
		}
	}
	if hasAny(fields, "err_code", "err_msg", "err_extra") {
		e.Code = keep(errText(fields["err_code"]))
		e.Message = keep(errText(fields["err_msg"]))
		e.Extra = keep(errText(fields["err_extra"]))
		return
	}
	// The 422 shape: {"code", "status", "message", "errors"}.
	e.Code = keep(errText(fields["code"]))
	e.Message = keep(errText(fields["message"]))
	if e.Message == "" {
		e.Message = keep(errText(fields["status"]))
	}
	e.Extra = keep(errText(fields["errors"]))
	if e.Code == "" && e.Message == "" && e.Extra == "" {
		// An object in no known envelope: keep it, compacted, as the message.
		e.Message = keep(errText(body))
	}
}

func hasAny(m map[string]json.RawMessage, keys ...string) bool {
	for _, k := range keys {
		if _, ok := m[k]; ok {
			return true
		}
	}
	return false
}

// errText renders one error field: a string or number as Text reads it,
// true and false as written, an empty list or object as "", any other list
// or object re-encoded compactly.
func errText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if s := string(raw); s == "true" || s == "false" {
		return s
	}
	if len(raw) == 0 || raw[0] != '{' && raw[0] != '[' {
		return Text(raw)
	}
	var buf bytes.Buffer
	if json.Compact(&buf, raw) != nil {
		return ""
	}
	if s := buf.String(); s != "{}" && s != "[]" {
		return s
	}
	return ""
}

// nonJSONExcerpt describes a body that is not JSON (an HTML error page from a
// proxy, say) in at most maxExcerpt bytes: the page title when there is one,
// else the start of the text with whitespace collapsed; scrubbed by sc
// before it is cut.
func nonJSONExcerpt(contentType string, body []byte, sc *scrubber) string {
	text := sc.text(string(body))
	lower := strings.ToLower(text)
	if i := strings.Index(lower, "<title>"); i >= 0 {
		rest := text[i+len("<title>"):]
		if j := strings.Index(strings.ToLower(rest), "</title>"); j >= 0 {
			text = rest[:j]
		}
	}
	text = strings.Join(strings.Fields(strings.ToValidUTF8(text, "\uFFFD")), " ")
	text = capText(text, maxExcerpt)
	mt := strings.TrimSpace(strings.SplitN(sc.text(contentType), ";", 2)[0])
	if mt == "" {
		return "non-JSON reply: " + text
	}
	return "non-JSON reply (" + capText(mt, 64) + "): " + text
}

// capText cuts s to at most n bytes at a rune boundary, marking the cut.
func capText(s string, n int) string {
	if len(s) <= n {
		return s
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + "…"
}
