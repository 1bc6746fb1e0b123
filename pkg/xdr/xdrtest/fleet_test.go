package xdrtest_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// startFleet serves two tenants, acme (seed 1, 30 incidents) and globex
// (seed 2, 45 incidents), each allowing two extra-data calls per window, on
// one manual clock.
func startFleet(t *testing.T) (*xdrtest.Fleet, string, *clocktest.Clock) {
	t.Helper()
	clk := clocktest.New(clockStart)
	incidents := map[string]int{"acme": 30, "globex": 45}
	f := xdrtest.NewFleet([]string{"acme", "globex"}, func(i int, id string) xdrtest.Config {
		return xdrtest.Config{Seed: int64(i + 1), Incidents: incidents[id], RateLimit: 2, Now: clk.Now}
	})
	root, stop := f.Start()
	t.Cleanup(stop)
	return f, root, clk
}

// fleetClient is a real client for tenant id of f, signing with the
// credentials of tenant as (id itself when as is "").
func fleetClient(t *testing.T, f *xdrtest.Fleet, root, id, as string, mode xdr.AuthMode, clk *clocktest.Clock) *xdr.Client {
	t.Helper()
	if as == "" {
		as = id
	}
	keyID, key := f.Tenant(as).CredentialsFor(string(mode))
	c, err := xdr.New(xdr.Config{BaseURL: f.BaseURL(root, id), KeyID: keyID, Key: xdr.NewSecret(key), AuthMode: mode}, xdr.WithClock(clk.Now))
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// status returns the HTTP status of a failed call, 200 for none.
func status(t *testing.T, err error) int {
	t.Helper()
	if err == nil {
		return http.StatusOK
	}
	var ae *xdr.APIError
	if !errors.As(err, &ae) {
		t.Fatalf("error %v (%T) is not an *xdr.APIError", err, err)
	}
	return ae.Status
}

func firstPage(ctx context.Context, c *xdr.Client) (*xdr.IncidentsReply, error) {
	return c.GetIncidents(ctx, xdr.IncidentsRequest{SearchFrom: 0, SearchTo: xdr.MaxPageSize})
}

func TestFleetTenantsAnswerWithTheirOwnData(t *testing.T) {
	f, root, clk := startFleet(t)
	ctx := t.Context()
	if got := f.IDs(); !slices.Equal(got, []string{"acme", "globex"}) {
		t.Fatalf("IDs() = %v", got)
	}
	for _, id := range f.IDs() {
		for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
			tn := f.Tenant(id)
			rep, err := firstPage(ctx, fleetClient(t, f, root, id, "", mode, clk))
			if err != nil {
				t.Fatalf("%s (%s): get_incidents: %v", id, mode, err)
			}
			want := tn.IncidentIDs()
			var got []string
			for _, in := range rep.Incidents {
				got = append(got, in.ID)
				tr, ok := tn.Truth(in.ID)
				if !ok || tr.ModificationTime != in.ModificationTime {
					t.Errorf("%s: incident %s modification_time %d, tenant's truth %+v (known %v)", id, in.ID, in.ModificationTime, tr, ok)
				}
			}
			slices.Sort(got)
			slices.Sort(want)
			if rep.TotalCount != len(want) || !slices.Equal(got, want) {
				t.Errorf("%s (%s): total_count %d and ids %v, want %d and %v", id, mode, rep.TotalCount, got, len(want), want)
			}
		}
	}
	if a, g := len(f.Tenant("acme").IncidentIDs()), len(f.Tenant("globex").IncidentIDs()); a != 30 || g != 45 {
		t.Fatalf("acme has %d incidents, globex %d; want 30 and 45", a, g)
	}

	// Extra data comes from the tenant named in the path.
	id := f.Tenant("globex").IncidentIDs()[0]
	data, err := fleetClient(t, f, root, "globex", "", xdr.AuthStandard, clk).GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: id})
	if err != nil {
		t.Fatalf("globex extra data: %v", err)
	}
	if tr, _ := f.Tenant("globex").Truth(id); data.Alerts.TotalCount != tr.AlertCount {
		t.Errorf("globex %s: %d alerts, truth %d", id, data.Alerts.TotalCount, tr.AlertCount)
	}
}

func TestFleetCredentialsAreDistinctAndDeterministic(t *testing.T) {
	ids := []string{"a", "b", "c"}
	cfg := func(i int, _ string) xdrtest.Config { return xdrtest.Config{Seed: 7, Incidents: -1} }
	f1, f2 := xdrtest.NewFleet(ids, cfg), xdrtest.NewFleet(ids, cfg)
	keyIDs, keys := map[string]bool{}, map[string]bool{}
	for i, id := range ids {
		kid, key := f1.Tenant(id).Credentials()
		kid2, key2 := f2.Tenant(id).Credentials()
		if kid != kid2 || key != key2 {
			t.Errorf("%s: credentials differ between two fleets built alike", id)
		}
		if want := xdrtest.FleetKey(id, 7); key != want {
			t.Errorf("%s: key is not FleetKey(id, seed)", id)
		}
		if want := string(rune('1' + i)); kid != want {
			t.Errorf("%s: key id %q, want %q", id, kid, want)
		}
		if key == xdrtest.DefaultKey || len(key) != 64 {
			t.Errorf("%s: key of %d bytes (default %v)", id, len(key), key == xdrtest.DefaultKey)
		}
		keyIDs[kid], keys[key] = true, true
	}
	if len(keyIDs) != len(ids) || len(keys) != len(ids) {
		t.Errorf("%d distinct key ids and %d distinct keys for %d tenants", len(keyIDs), len(keys), len(ids))
	}
	if xdrtest.FleetKey("a", 1) == xdrtest.FleetKey("a", 2) {
		t.Error("FleetKey ignores the seed")
	}

	explicit := xdrtest.NewFleet([]string{"x"}, func(int, string) xdrtest.Config {
		return xdrtest.Config{Incidents: -1, KeyID: "42", Key: "explicit"}
	})
	if kid, key := explicit.Tenant("x").Credentials(); kid != "42" || key != "explicit" {
		t.Errorf("explicit credentials replaced: %q", kid)
	}
	if explicit.Tenant("nope") != nil {
		t.Error("Tenant of an unknown id is not nil")
	}
}

func TestFleetRejectsBadIDs(t *testing.T) {
	for _, ids := range [][]string{{"a", "a"}, {""}, {"a/b"}, {".."}, {"-x"}, {"a b"}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("NewFleet(%q) did not panic", ids)
				}
			}()
			xdrtest.NewFleet(ids, nil)
		}()
	}
}

func TestFleetKeyRefusedOnAnotherTenant(t *testing.T) {
	f, root, clk := startFleet(t)
	for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
		_, err := firstPage(t.Context(), fleetClient(t, f, root, "globex", "acme", mode, clk))
		if got := status(t, err); got != http.StatusUnauthorized {
			t.Errorf("acme's %s key on globex's path: status %d (%v), want 401", mode, got, err)
		}
	}
	// The same key on its own path still works.
	if _, err := firstPage(t.Context(), fleetClient(t, f, root, "acme", "", xdr.AuthStandard, clk)); err != nil {
		t.Fatalf("acme on its own path: %v", err)
	}
}

func TestFleetUnknownTenantIs404(t *testing.T) {
	f, root, clk := startFleet(t)
	_, err := firstPage(t.Context(), fleetClient(t, f, root, "initech", "acme", xdr.AuthStandard, clk))
	if got := status(t, err); got != http.StatusNotFound {
		t.Errorf("unknown tenant: status %d (%v), want 404", got, err)
	}
	for _, path := range []string{"/", "/public_api/v1/incidents/get_incidents/", "/t/", "/t/acmeX/public_api/v1/incidents/get_incidents/", "/tenants/acme/public_api/v1/incidents/get_incidents/"} {
		resp, err := http.Post(root+path, "application/json", strings.NewReader(`{"request_data":{}}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound {
			t.Errorf("POST %s: status %d, want 404", path, resp.StatusCode)
		}
	}
	// Below a known tenant, an unknown endpoint is the tenant's own 404.
	resp, err := http.Post(f.BaseURL(root+"/", "acme")+"/public_api/v1/incidents/nope", "application/json", strings.NewReader(`{}`))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown endpoint of acme: status %d, want 404", resp.StatusCode)
	}
}

func TestFleetRevokedKey(t *testing.T) {
	f, root, clk := startFleet(t)
	ctx := t.Context()
	acme := fleetClient(t, f, root, "acme", "", xdr.AuthStandard, clk)
	acmeAdv := fleetClient(t, f, root, "acme", "", xdr.AuthAdvanced, clk)
	globex := fleetClient(t, f, root, "globex", "", xdr.AuthStandard, clk)
	id := f.Tenant("acme").IncidentIDs()[0]

	f.Tenant("acme").SetRevoked(true)
	if !f.Tenant("acme").Revoked() || f.Tenant("globex").Revoked() {
		t.Fatal("Revoked() does not reflect SetRevoked")
	}
	for _, c := range []*xdr.Client{acme, acmeAdv} {
		_, err := firstPage(ctx, c)
		if got := status(t, err); got != http.StatusUnauthorized {
			t.Errorf("revoked get_incidents: status %d (%v), want 401", got, err)
		}
		var ae *xdr.APIError
		if errors.As(err, &ae) && (ae.Code != "401" || ae.Message != "Public API request unauthorized") {
			t.Errorf("revoked reply: code %q message %q, want the unauthorized body", ae.Code, ae.Message)
		}
		_, err = c.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: id})
		if got := status(t, err); got != http.StatusUnauthorized {
			t.Errorf("revoked get_incident_extra_data: status %d (%v), want 401", got, err)
		}
	}
	if _, err := firstPage(ctx, globex); err != nil {
		t.Errorf("globex while acme is revoked: %v", err)
	}

	f.Tenant("acme").SetRevoked(false)
	if _, err := firstPage(ctx, acme); err != nil {
		t.Errorf("acme after restoring its key: %v", err)
	}
	if _, err := acmeAdv.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: id}); err != nil {
		t.Errorf("acme extra data after restoring its key: %v", err)
	}
}

func TestFleetRevokeConcurrently(t *testing.T) {
	f, root, clk := startFleet(t)
	acme := fleetClient(t, f, root, "acme", "", xdr.AuthStandard, clk)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 20 {
				_, err := firstPage(t.Context(), acme)
				var ae *xdr.APIError
				if err != nil && (!errors.As(err, &ae) || ae.Status != http.StatusUnauthorized) {
					t.Errorf("get_incidents while the key flips: %v", err)
				}
			}
		})
	}
	wg.Go(func() {
		for i := range 40 {
			f.Tenant("acme").SetRevoked(i%2 == 0)
		}
	})
	wg.Wait()
}

func TestFleetRateWindowsAreSeparate(t *testing.T) {
	f, root, clk := startFleet(t)
	ctx := t.Context()
	acme := fleetClient(t, f, root, "acme", "", xdr.AuthStandard, clk)
	globex := fleetClient(t, f, root, "globex", "", xdr.AuthStandard, clk)
	aID, gID := f.Tenant("acme").IncidentIDs()[0], f.Tenant("globex").IncidentIDs()[0]

	for i := range 2 {
		if _, err := acme.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: aID}); err != nil {
			t.Fatalf("acme call %d: %v", i+1, err)
		}
	}
	_, err := acme.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: aID})
	if got := status(t, err); got != http.StatusTooManyRequests {
		t.Fatalf("acme's third call in the window: status %d (%v), want 429", got, err)
	}
	for i := range 2 {
		if _, err := globex.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: gID}); err != nil {
			t.Fatalf("globex call %d after acme's window filled: %v", i+1, err)
		}
	}
	if a, g := f.Tenant("acme").Count429(), f.Tenant("globex").Count429(); a != 1 || g != 0 {
		t.Errorf("429s: acme %d, globex %d; want 1 and 0", a, g)
	}
}

func TestFleetRunMutations(t *testing.T) {
	f, _, _ := startFleet(t)
	before := map[string]int{}
	for _, id := range f.IDs() {
		before[id] = len(f.Tenant(id).Versions())
	}
	if err := f.RunMutations(t.Context(), xdrtest.MutationConfig{Steps: 5, BulkEvery: 5, BulkSize: 3}); err != nil {
		t.Fatal(err)
	}
	for _, id := range f.IDs() {
		if after := len(f.Tenant(id).Versions()); after < before[id]+5 {
			t.Errorf("%s: %d versions after 5 steps, %d before", id, after, before[id])
		}
	}
	if err := f.RunMutations(t.Context(), xdrtest.MutationConfig{}); err == nil {
		t.Error("RunMutations with neither Steps nor Interval did not fail")
	}

	// Until ctx ends.
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if err := f.RunMutations(ctx, xdrtest.MutationConfig{Interval: 1}); err != nil {
		t.Errorf("RunMutations on a done context: %v", err)
	}
}

// TestCallLogNamesTenantReplicaEndpointAndStatus: each request through a
// CallLog is recorded with its tenant, the replica of its User-Agent, its
// endpoint and the status answered.
func TestCallLogNamesTenantReplicaEndpointAndStatus(t *testing.T) {
	f := xdrtest.NewFleet([]string{"acme"}, func(int, string) xdrtest.Config { return xdrtest.Config{Seed: 1, Incidents: 3} })
	var log xdrtest.CallLog
	srv := httptest.NewServer(log.Wrap(f))
	defer srv.Close()
	req, _ := http.NewRequest(http.MethodPost, f.BaseURL(srv.URL, "acme")+"/public_api/v1/incidents/"+xdrtest.EndpointIncidents, strings.NewReader(`{}`))
	req.Header.Set("User-Agent", "xdr-kafka-connector/dev replica/r1")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	calls := log.Of("acme")
	if len(calls) != 1 || len(log.Of("globex")) != 0 || len(log.Of("")) != 1 {
		t.Fatalf("calls %+v", log.Of(""))
	}
	c := calls[0]
	if c.Tenant != "acme" || c.Replica != "r1" || c.Endpoint != xdrtest.EndpointIncidents || c.Status != resp.StatusCode || c.Replied.Before(c.Arrived) {
		t.Errorf("recorded %+v; the reply was %d", c, resp.StatusCode)
	}
}

// TestFleetTenantsFileListsTheEntries: a fleet's tenants file is the
// tenants list of the named tenants, each entry as TenantEntry writes it,
// in the order named, and nothing else.
func TestFleetTenantsFileListsTheEntries(t *testing.T) {
	f := xdrtest.NewFleet([]string{"acme", "globex"}, func(i int, _ string) xdrtest.Config {
		return xdrtest.Config{Seed: int64(i + 1), Incidents: 1}
	})
	const root = "http://127.0.0.1:8089/"
	want := "tenants:\n" + f.TenantEntry(root, "globex") + f.TenantEntry(root, "acme")
	if got := f.TenantsFile(root, "globex", "acme"); got != want {
		t.Fatalf("TenantsFile:\n%s\nwant:\n%s", got, want)
	}
	if !strings.Contains(want, "base_url: http://127.0.0.1:8089/t/globex") {
		t.Fatalf("the entries lack the tenants' base URLs:\n%s", want)
	}
}
