package app

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// get is GET base+path with an optional bearer token: the status and body.
func get(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = resp.Body.Close() }()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestTenantsEndpointIsOffByDefault: without HTTP_TENANTS_ENABLED, GET
// /tenants answers 404 and says how to turn it on; /metrics, /healthz and
// /readyz are served as before.
func TestTenantsEndpointIsOffByDefault(t *testing.T) {
	e := newFleetEnv(t, 1, 2)
	r := e.start(map[string]string{"HTTP_TENANTS_ENABLED": "false"})
	if code, body := get(t, r.base, "/tenants", ""); code != http.StatusNotFound || !strings.Contains(body, "HTTP_TENANTS_ENABLED=true") {
		t.Errorf("GET /tenants = %d %q, want 404 naming HTTP_TENANTS_ENABLED", code, body)
	}
	for _, p := range []string{"/metrics", "/healthz"} {
		if code, _ := get(t, r.base, p, ""); code != http.StatusOK {
			t.Errorf("GET %s = %d, want 200", p, code)
		}
	}
}

// TestTokenGuardsMetricsAndTenants: with HTTP_TOKEN_FILE, /metrics and
// /tenants answer 401 without the token or with another, 200 with it;
// /healthz stays open to probes.
func TestTokenGuardsMetricsAndTenants(t *testing.T) {
	const token = "s3cret-metrics-t0ken"
	file := filepath.Join(t.TempDir(), "token")
	if err := os.WriteFile(file, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	e := newFleetEnv(t, 1, 2)
	r := e.start(map[string]string{"HTTP_TOKEN_FILE": file})
	for _, p := range []string{"/metrics", "/tenants"} {
		for _, bad := range []string{"", "wrong", token + "x"} {
			if code, body := get(t, r.base, p, bad); code != http.StatusUnauthorized || strings.Contains(body, token) {
				t.Errorf("GET %s with token %q = %d %q, want 401 without the token", p, bad, code, body)
			}
		}
		if code, _ := get(t, r.base, p, token); code != http.StatusOK {
			t.Errorf("GET %s with the token = %d, want 200", p, code)
		}
	}
	if code, _ := get(t, r.base, "/healthz", ""); code != http.StatusOK {
		t.Errorf("GET /healthz without a token = %d, want 200", code)
	}
	if strings.Contains(r.logs.String(), token) {
		t.Error("the token is in the log")
	}
}
