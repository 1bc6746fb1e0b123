package xdr_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

// TestIncidentNotFound: the API's answer that an incident does not exist is
// told apart by its text, not by its status, which is usually the catch-all
// 500 (and a 404 without such text is a wrong URL).
func TestIncidentNotFound(t *testing.T) {
	const msg = "An error occurred while processing XDR public API"
	for _, tt := range []struct {
		name string
		err  error
		want bool
	}{
		{"500, simulator's body", &xdr.APIError{Status: 500, Code: "500", Message: msg, Extra: "Incident 42 was not found"}, true},
		{"404, in err_msg", &xdr.APIError{Status: 404, Message: "incident 42 does not exist"}, true},
		{"400, no such incident", &xdr.APIError{Status: 400, Message: "No such incident: 42"}, true},
		{"wrapped", fmt.Errorf("fetching extra data for incident 42: %w", &xdr.APIError{Status: 500, Extra: "Incident 42 was not found"}), true},
		{"plain 500", &xdr.APIError{Status: 500, Message: msg}, false},
		{"404 endpoint", &xdr.APIError{Status: 404, Message: "Not Found", Extra: "no such public API endpoint"}, false},
		{"403 restricted incident", &xdr.APIError{Status: 403, Message: "Forbidden", Extra: "no permission for incident 42; incident not found in your scope"}, false},
		{"429", &xdr.APIError{Status: 429, Message: "Exceeded 10 requests"}, false},
		{"not an API error", errors.New("incident 42 was not found"), false},
		{"nil", nil, false},
	} {
		if got := xdr.IncidentNotFound(tt.err); got != tt.want {
			t.Errorf("IncidentNotFound(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestRetryable(t *testing.T) {
	api := func(status int) error {
		return fmt.Errorf("enriching incident 7: %w", &xdr.APIError{Endpoint: xdr.EndpointGetIncidentExtraData, Status: status})
	}
	wrap := func(err error) error { return fmt.Errorf("calling get_incidents: %w", err) }
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"400", api(400), false},
		{"401", api(401), false},
		{"402", api(402), false},
		{"403", api(403), false},
		{"404", api(404), false},
		{"405", api(405), false},
		{"409", api(409), false},
		{"413", api(413), false},
		{"422", api(422), false},
		{"302", api(302), false},
		{"408", api(408), true},
		{"429", api(429), true},
		{"500", api(500), true},
		{"501", api(501), true},
		{"502", api(502), true},
		{"503", api(503), true},
		{"504", api(504), true},
		{"599", api(599), true},
		{"ErrTruncated", wrap(fmt.Errorf("reading reply body: %w: %w", xdr.ErrTruncated, io.ErrUnexpectedEOF)), true},
		{"ErrMalformed", wrap(xdr.ErrMalformed), true},
		{"ErrTimeout", wrap(fmt.Errorf("%w after 30s: %w", xdr.ErrTimeout, context.DeadlineExceeded)), true},
		{"ErrInvalidRequest", wrap(xdr.ErrInvalidRequest), false},
		{"ErrReplyTooLarge", wrap(xdr.ErrReplyTooLarge), false},
		{"ErrReplyBudget", wrap(xdr.ErrReplyBudget), true},
		{"context.Canceled", wrap(context.Canceled), false},
		{"caller's DeadlineExceeded", wrap(context.DeadlineExceeded), false},
		{"Canceled beside a reset", errors.Join(context.Canceled, syscall.ECONNRESET), false},
		{"io.EOF", wrap(&url.Error{Op: "Post", URL: "https://x", Err: io.EOF}), true},
		{"unexpected EOF", wrap(io.ErrUnexpectedEOF), true},
		{"connection reset", wrap(&url.Error{Op: "Post", URL: "https://x", Err: &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)}}), true},
		{"connection refused", wrap(&net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}), true},
		{"bare ECONNRESET", wrap(syscall.ECONNRESET), true},
		{"broken pipe", wrap(syscall.EPIPE), true},
		{"DNS failure", wrap(&net.DNSError{Err: "no such host", Name: "api-x", IsNotFound: true}), true},
		{"net timeout", wrap(&url.Error{Op: "Post", URL: "https://x", Err: timeoutErr{}}), true},
		{"closed connection", wrap(net.ErrClosed), true},
		{"unknown", errors.New("something else"), false},
		{"500: incident not found", &xdr.APIError{Status: 500, Message: "An error occurred while processing XDR public API", Extra: "Incident 7 was not found"}, false},
		{"unsupported scheme", &url.Error{Op: "Post", URL: "gopher://x", Err: errors.New("unsupported protocol scheme")}, false},
	}
	for _, tt := range tests {
		if got := xdr.Retryable(tt.err); got != tt.want {
			t.Errorf("Retryable(%s: %v) = %v, want %v", tt.name, tt.err, got, tt.want)
		}
	}
}

func TestRetryAfterFunc(t *testing.T) {
	err := fmt.Errorf("x: %w", &xdr.APIError{Status: 429, RetryAfter: 42 * time.Second})
	if d, ok := xdr.RetryAfter(err); !ok || d != 42*time.Second {
		t.Errorf("RetryAfter = %v, %v", d, ok)
	}
	for _, err := range []error{nil, errors.New("x"), &xdr.APIError{Status: 500}} {
		if d, ok := xdr.RetryAfter(err); ok || d != 0 {
			t.Errorf("RetryAfter(%v) = %v, %v; want 0, false", err, d, ok)
		}
	}
}

func TestAPIErrorHints(t *testing.T) {
	tests := []struct {
		err  xdr.APIError
		want []string
		not  []string
	}{
		{xdr.APIError{Endpoint: "get_incident_extra_data", Status: 429, Message: "Exceeded 10 requests in a 60-second window", RetryAfter: time.Minute},
			[]string{"get_incident_extra_data: HTTP 429: Exceeded 10 requests in a 60-second window", "retry after 1m0s"}, nil},
		{xdr.APIError{Endpoint: "get_incidents", Status: 401, AdvancedAuth: true}, []string{"HTTP 401: Unauthorized", "clock skew", "timestamp"}, nil},
		{xdr.APIError{Endpoint: "get_incidents", Status: 401}, []string{"key id and key"}, []string{"clock"}},
		{xdr.APIError{Endpoint: "get_incidents", Status: 402}, []string{"licence"}, nil},
		{xdr.APIError{Endpoint: "get_incidents", Status: 403}, []string{"role", "permission"}, nil},
		{xdr.APIError{Endpoint: "get_incidents", Status: 500, Code: "E17", Message: "boom", Extra: "[1]"}, []string{"HTTP 500: boom [err_code E17] ([1])"}, nil},
		{xdr.APIError{Endpoint: "get_incidents", Status: 500, Code: "500"}, []string{"HTTP 500: Internal Server Error"}, []string{"err_code"}},
	}
	for _, tt := range tests {
		s := tt.err.Error()
		for _, w := range tt.want {
			if !strings.Contains(s, w) {
				t.Errorf("%q lacks %q", s, w)
			}
		}
		for _, n := range tt.not {
			if strings.Contains(s, n) {
				t.Errorf("%q should not contain %q", s, n)
			}
		}
	}
}
