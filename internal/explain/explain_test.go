package explain

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestOneTextPerStatus: each status has its line (GET /tenants) and its
// reason and fix (check), from one table.
func TestOneTextPerStatus(t *testing.T) {
	for _, tc := range []struct {
		ae         xdr.APIError
		line, why  string
		fixContain string
	}{
		{xdr.APIError{Status: 401}, "the API rejected the key (401): check api_key_id, the key and auth_mode (standard or advanced)", KeyRefused, "XDR_AUTH_MODE=advanced"},
		{xdr.APIError{Status: 401, AdvancedAuth: true}, "the API rejected the key (401): check api_key_id, the key and auth_mode (standard or advanced)", "most often clock skew", "NTP"},
		{xdr.APIError{Status: 402}, "the tenant has no licence for the API (402)", "lacks the licence", "licence"},
		{xdr.APIError{Status: 403}, "the key's role lacks a permission (403): grant it incident read access", "lacks a permission", "incident view permission"},
		{xdr.APIError{Status: 404}, "the API answered HTTP 404", "does not serve the API", "Copy API URL"},
		{xdr.APIError{Status: 422}, "the API answered HTTP 422", "rejected the request", "FILTER_STATUSES"},
		{xdr.APIError{Status: 429}, "the API answered HTTP 429", "rate-limiting", "its own key"},
		{xdr.APIError{Status: 503}, "the API answered HTTP 503", "unreachable or failing", "retry"},
		{xdr.APIError{Status: 418}, "the API answered HTTP 418", "", "check XDR_BASE_URL and the key"},
	} {
		ae := tc.ae
		if got := Line(&ae); got != tc.line {
			t.Errorf("%d: line %q, want %q", ae.Status, got, tc.line)
		}
		reason, fix, ok := Call(fmt.Errorf("polling: %w", &ae), "get_incidents")
		if !ok || !strings.HasPrefix(reason, fmt.Sprintf("HTTP %d from get_incidents", ae.Status)) || !strings.Contains(reason, tc.why) || !strings.Contains(fix, tc.fixContain) {
			t.Errorf("%d: reason %q, fix %q", ae.Status, reason, fix)
		}
	}
	if _, _, ok := Call(errors.New("dial tcp: refused"), "get_incidents"); ok {
		t.Error("an error that is not the API's was explained as one")
	}
}
