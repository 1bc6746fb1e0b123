package app

import (
	"crypto/subtle"
	"net/http"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// requireToken serves h only to a request that carries token as a bearer
// token (Authorization: Bearer <token>), and 401 to any other; with a zero
// token it is h. The token is compared in constant time and never written
// anywhere.
func requireToken(token xdr.Secret, h http.Handler) http.Handler {
	if token.IsZero() || h == nil {
		return h
	}
	want := []byte(token.Reveal())
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		scheme, got, ok := strings.Cut(r.Header.Get("Authorization"), " ")
		if !ok || !strings.EqualFold(scheme, "Bearer") || subtle.ConstantTimeCompare([]byte(strings.TrimSpace(got)), want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="xdr-kafka-connector"`)
			http.Error(w, "this endpoint needs the bearer token of HTTP_TOKEN_FILE", http.StatusUnauthorized)
			return
		}
		h.ServeHTTP(w, r)
	})
}

// tenantsOff answers GET /tenants while HTTP_TENANTS_ENABLED is not true:
// the tenants' states and last errors are for operators who ask for them.
var tenantsOff = http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "GET /tenants is off: set HTTP_TENANTS_ENABLED=true to serve it (and HTTP_TOKEN_FILE to require a token)", http.StatusNotFound)
})
