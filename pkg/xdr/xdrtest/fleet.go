package xdrtest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// FleetPrefix is the path prefix under which a Fleet serves each tenant:
// tenant <id> answers at /t/<id>/public_api/v1/incidents/...
const FleetPrefix = "/t/"

// Fleet is a set of simulated tenants served under one listener, tenant <id>
// below the path prefix /t/<id>. Each tenant is an independent Tenant with
// its own Config: its own data, credentials, rate window, faults and
// mutation stream. A Fleet is an http.Handler; all methods are safe for
// concurrent use.
type Fleet struct {
	ids     []string
	tenants map[string]*Tenant
}

// NewFleet builds one tenant per id, in order, tenant i from cfg(i, id)
// (nil cfg: Config{Seed: i}). Where that Config leaves KeyID or Key empty,
// NewFleet fills them with credentials of the tenant's own: key id
// strconv.Itoa(i+1) and a 64-character hex key derived from the id and
// Config.Seed (see FleetKey); likewise its advanced key, id
// strconv.Itoa(len(ids)+i+1). Every tenant's credentials are therefore
// distinct and the same on every run, and one tenant's key is refused (401)
// on another tenant's path; a cfg that sets Key explicitly is taken as is.
//
// An id must be non-empty and made of ASCII letters, digits, '.', '_' and
// '-', not start with '.' or '-', and be unique; NewFleet panics otherwise.
func NewFleet(ids []string, cfg func(i int, id string) Config) *Fleet {
	f := &Fleet{ids: make([]string, 0, len(ids)), tenants: make(map[string]*Tenant, len(ids))}
	for i, id := range ids {
		if !validFleetID(id) {
			panic(fmt.Sprintf("xdrtest: invalid fleet tenant id %q", id))
		}
		if _, dup := f.tenants[id]; dup {
			panic(fmt.Sprintf("xdrtest: duplicate fleet tenant id %q", id))
		}
		c := Config{Seed: int64(i)}
		if cfg != nil {
			c = cfg(i, id)
		}
		if c.KeyID == "" {
			c.KeyID = strconv.Itoa(i + 1)
		}
		if c.Key == "" {
			c.Key = FleetKey(id, c.Seed)
		}
		if c.AdvancedKeyID == "" {
			c.AdvancedKeyID = strconv.Itoa(len(ids) + i + 1)
		}
		if c.AdvancedKey == "" {
			c.AdvancedKey = FleetKey(id+"\x00advanced", c.Seed)
		}
		f.ids = append(f.ids, id)
		f.tenants[id] = New(c)
	}
	return f
}

// FleetKey is the API key NewFleet gives tenant id with data seed seed when
// its Config sets none: the hex SHA-256 of both, 64 characters.
func FleetKey(id string, seed int64) string {
	sum := sha256.Sum256([]byte("xdrtest fleet key\x00" + id + "\x00" + strconv.FormatInt(seed, 10)))
	return hex.EncodeToString(sum[:])
}

func validFleetID(id string) bool {
	if id == "" || id[0] == '.' || id[0] == '-' {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '.' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}

// Tenant returns the tenant with id, or nil if the fleet has none.
func (f *Fleet) Tenant(id string) *Tenant { return f.tenants[id] }

// IDs returns the tenant ids in the order NewFleet got them.
func (f *Fleet) IDs() []string { return append([]string(nil), f.ids...) }

// BaseURL joins the fleet's root URL (as Start returns it, with or without a
// trailing slash) and a tenant id into that tenant's base URL, e.g.
// http://127.0.0.1:8089/t/acme, to which a client appends
// /public_api/v1/incidents/... It does not check that the fleet has id.
func (f *Fleet) BaseURL(root, id string) string {
	return strings.TrimRight(root, "/") + FleetPrefix + id
}

// TenantEntry is tenant id's entry of a tenants file (TENANTS_FILE) for the
// fleet served at root: its id, base URL and standard key, inline. More keys
// of the entry may follow it, indented as its own.
func (f *Fleet) TenantEntry(root, id string) string { return f.entry(root, id).Format() }

// TenantsFile is a tenants file (TENANTS_FILE) naming tenants ids of the
// fleet served at root, each entry as TenantEntry writes it, without
// defaults.
func (f *Fleet) TenantsFile(root string, ids ...string) string {
	entries := make([]config.TenantsFileEntry, len(ids))
	for i, id := range ids {
		entries[i] = f.entry(root, id)
	}
	return config.FormatTenantsFile("", config.TenantsFileDefaults{}, entries)
}

func (f *Fleet) entry(root, id string) config.TenantsFileEntry {
	keyID, key := f.Tenant(id).Credentials()
	return config.TenantsFileEntry{ID: id, BaseURL: f.BaseURL(root, id), APIKeyID: keyID, APIKey: key}
}

// Start serves the fleet on a fresh 127.0.0.1 port. It returns the root URL
// (http://127.0.0.1:port; see BaseURL for a tenant's) and a stop function
// that closes the server and waits for it; stop is idempotent. Start panics
// if it cannot listen, like httptest.NewServer.
func (f *Fleet) Start() (rootURL string, stop func()) { return startLoopback(f) }

// Serve serves the fleet on ln until ctx is done, then shuts the server down
// (in-flight requests see their context cancelled) and returns nil. It
// returns a wrapped error if serving fails for another reason. Serve closes
// ln.
func (f *Fleet) Serve(ctx context.Context, ln net.Listener) error {
	return serve(ctx, ln, f, "simulated fleet")
}

// ServeHTTP implements http.Handler: a request for /t/<id>/<rest> goes to
// tenant id's handler as a request for /<rest>. A path outside /t/, or
// naming a tenant the fleet does not have, is 404 with the API's error body.
func (f *Fleet) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rest, ok := strings.CutPrefix(r.URL.Path, FleetPrefix)
	id, sub, _ := strings.Cut(rest, "/")
	t := f.tenants[id]
	if !ok || t == nil {
		writeFleetReply(w, r, errReply(http.StatusNotFound, shapeReply, 404, "Not Found", "no such tenant"))
		return
	}
	r2 := new(http.Request)
	*r2 = *r
	r2.URL = new(url.URL)
	*r2.URL = *r.URL
	r2.URL.Path = "/" + sub
	r2.URL.RawPath = ""
	t.ServeHTTP(w, r2)
}

// writeFleetReply sends rep as JSON, gzip-compressed when the client accepts
// gzip, like Tenant.write.
func writeFleetReply(w http.ResponseWriter, r *http.Request, rep reply) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Add("Vary", "Accept-Encoding")
	body := rep.body
	if acceptsGzip(r.Header.Values("Accept-Encoding")) {
		body = gzipBytes(body)
		h.Set("Content-Encoding", "gzip")
	}
	w.WriteHeader(rep.status)
	_, _ = w.Write(body)
}

// RunMutations runs every tenant's own mutation stream (Tenant.RunMutations
// with cfg, each choosing from its own Config.Seed) concurrently, and returns
// when all have ended: when cfg.Steps are done or ctx is done. It returns
// nil then, or, for an invalid cfg, the first tenant's error.
func (f *Fleet) RunMutations(ctx context.Context, cfg MutationConfig) error {
	errs := make([]error, len(f.ids))
	var wg sync.WaitGroup
	for i, id := range f.ids {
		t := f.tenants[id]
		wg.Go(func() {
			if err := t.RunMutations(ctx, cfg); err != nil {
				errs[i] = fmt.Errorf("tenant %s: %w", id, err)
			}
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return err
		}
	}
	return nil
}
