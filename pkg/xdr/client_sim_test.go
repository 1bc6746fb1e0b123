package xdr_test

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/clocktest"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Client against the simulated tenant of pkg/xdr/xdrtest, which imports
// nothing from this package and so checks the client independently.

// startSim starts a tenant on a fake clock and returns it with its base URL.
func startSim(t *testing.T, cfg xdrtest.Config) (*xdrtest.Tenant, string, *clocktest.Clock) {
	t.Helper()
	tenant, base, clk, _ := startSimStop(t, cfg)
	return tenant, base, clk
}

// startSimStop is startSim that also returns the (idempotent) stop function,
// which waits for in-flight handlers.
func startSimStop(t *testing.T, cfg xdrtest.Config) (*xdrtest.Tenant, string, *clocktest.Clock, func()) {
	t.Helper()
	clk := clocktest.New(time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC))
	cfg.Now = clk.Now
	if cfg.Key == "" {
		cfg.Key, cfg.KeyID = testKey, testKeyID
		cfg.AdvancedKey, cfg.AdvancedKeyID = testAdvancedKey, testAdvancedKeyID
	}
	tenant := xdrtest.New(cfg)
	base, stop := tenant.Start()
	t.Cleanup(stop)
	return tenant, base, clk, stop
}

// The simulator's advanced key: a key of its own, as in the product.
const (
	testAdvancedKey   = "Adv4nc3dS3cr3t-9f8e7d6c5b4a3f2e1d0c9b8a7f6e5d4c3b2a1f0e9d8c7b6a5"
	testAdvancedKeyID = "43"
)

// simClient is a client of the simulator started by startSim, with the key
// of mode.
func simClient(t *testing.T, base string, mode xdr.AuthMode, clk *clocktest.Clock, opts ...xdr.Option) *xdr.Client {
	t.Helper()
	if mode != xdr.AuthAdvanced {
		return newClient(t, base, mode, append([]xdr.Option{xdr.WithClock(clk.Now)}, opts...)...)
	}
	c, err := xdr.New(xdr.Config{BaseURL: base, KeyID: testAdvancedKeyID, Key: xdr.NewSecret(testAdvancedKey), AuthMode: mode},
		append([]xdr.Option{xdr.WithClock(clk.Now)}, opts...)...)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return c
}

// visible returns the ids the key may see and the restricted ones.
func visible(t *testing.T, tenant *xdrtest.Tenant) (open, restricted []string) {
	t.Helper()
	for _, id := range tenant.IncidentIDs() {
		tr, ok := tenant.Truth(id)
		if !ok {
			t.Fatalf("Truth(%s) unknown", id)
		}
		if tr.Restricted {
			restricted = append(restricted, id)
		} else {
			open = append(open, id)
		}
	}
	slices.Sort(open)
	slices.Sort(restricted)
	return open, restricted
}

// checkPaged asserts that paging saw every visible incident exactly once,
// with its current modification_time, and reported every restricted id.
func checkPaged(t *testing.T, tenant *xdrtest.Tenant, got []xdr.Incident, restrictedSeen map[string]bool) {
	t.Helper()
	open, restricted := visible(t, tenant)
	if len(open) <= xdr.MaxPageSize {
		t.Fatalf("only %d visible incidents: paging is not exercised", len(open))
	}
	var ids []string
	for _, in := range got {
		ids = append(ids, in.ID)
		tr, _ := tenant.Truth(in.ID)
		if in.ModificationTime != tr.ModificationTime {
			t.Errorf("incident %s: modification_time %d, want %d", in.ID, in.ModificationTime, tr.ModificationTime)
		}
		if !strings.Contains(string(in.Raw), `"x_custom_field"`) {
			t.Errorf("incident %s: Raw lost the undocumented x_custom_field", in.ID)
		}
	}
	slices.Sort(ids)
	if d := slices.Compact(slices.Clone(ids)); len(d) != len(ids) {
		t.Errorf("paging returned %d incidents but only %d distinct", len(ids), len(d))
	}
	if !slices.Equal(ids, open) {
		t.Errorf("paging saw %d incidents, want the %d visible ones", len(ids), len(open))
	}
	var rs []string
	for id := range restrictedSeen {
		rs = append(rs, id)
	}
	slices.Sort(rs)
	if !slices.Equal(rs, restricted) {
		t.Errorf("restricted ids seen %v, want %v", rs, restricted)
	}
}

func TestSimPagingKeyset(t *testing.T) {
	for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
		t.Run(string(mode), func(t *testing.T) {
			tenant, base, clk := startSim(t, xdrtest.Config{Seed: 11, Incidents: 260, MaxAlerts: 20, RestrictedFraction: 0.05})
			clk.Add(time.Second)
			bulk := tenant.BulkUpdate(150) // 150 incidents share one millisecond: more than a page
			clk.Add(time.Second)
			c := simClient(t, base, mode, clk)

			// Keyset on (modification_time, position within that millisecond).
			var got []xdr.Incident
			restricted := map[string]bool{}
			cursor, skip := int64(0), 0
			for pages := 0; ; pages++ {
				if pages > 20 {
					t.Fatal("paging does not terminate")
				}
				r, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{
					Filters:    []xdr.Filter{xdr.ModifiedSince(cursor)},
					SearchFrom: skip, SearchTo: skip + xdr.MaxPageSize,
					Sort: &xdr.Sort{Field: xdr.FieldModificationTime, Keyword: xdr.SortAsc},
				})
				if err != nil {
					t.Fatalf("page %d: %v", pages, err)
				}
				for _, id := range r.RestrictedIDs {
					restricted[id] = true
				}
				for _, in := range r.Incidents {
					if in.ModificationTime < cursor {
						t.Fatalf("incident %s at %d before the cursor %d", in.ID, in.ModificationTime, cursor)
					}
					if in.ModificationTime == cursor {
						skip++
					} else {
						cursor, skip = in.ModificationTime, 1
					}
					got = append(got, in)
				}
				if len(r.Incidents) < xdr.MaxPageSize {
					break
				}
			}
			checkPaged(t, tenant, got, restricted)
			var sameMs int
			for _, in := range got {
				if in.ModificationTime == bulk[0].ModificationTime {
					sameMs++
				}
			}
			if sameMs <= xdr.MaxPageSize {
				t.Errorf("only %d incidents in the bulk millisecond: the tie case is not exercised", sameMs)
			}
		})
	}
}

func TestSimPagingOffset(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 12, Incidents: 230, MaxAlerts: 20, RestrictedFraction: 0.05})
	c := simClient(t, base, xdr.AuthAdvanced, clk)
	var got []xdr.Incident
	restricted := map[string]bool{}
	total := -1
	for page := 0; ; page++ {
		r, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{
			SearchFrom: page * xdr.MaxPageSize, SearchTo: (page + 1) * xdr.MaxPageSize,
			Sort: &xdr.Sort{Field: xdr.FieldCreationTime, Keyword: xdr.SortAsc},
		})
		if err != nil {
			t.Fatalf("page %d: %v", page, err)
		}
		if total < 0 {
			total = r.TotalCount
		}
		if r.ResultCount != len(r.Incidents) {
			t.Errorf("page %d: result_count %d, %d incidents", page, r.ResultCount, len(r.Incidents))
		}
		for _, id := range r.RestrictedIDs {
			restricted[id] = true
		}
		got = append(got, r.Incidents...)
		if len(r.Incidents) < xdr.MaxPageSize {
			break
		}
	}
	checkPaged(t, tenant, got, restricted)
	if total != len(got) {
		t.Errorf("total_count %d, paged %d", total, len(got))
	}
}

func TestSimAuthFailures(t *testing.T) {
	_, base, clk := startSim(t, xdrtest.Config{Seed: 13, Incidents: 5})
	ok := xdr.IncidentsRequest{SearchTo: 10}
	for _, mode := range []xdr.AuthMode{xdr.AuthStandard, xdr.AuthAdvanced} {
		if _, err := simClient(t, base, mode, clk).GetIncidents(t.Context(), ok); err != nil {
			t.Errorf("%s key: %v", mode, err)
		}
	}

	skewed := func() time.Time { return clk.Now().Add(10 * time.Minute) }
	client := func(mode xdr.AuthMode, keyID, key string, now func() time.Time) *xdr.Client {
		c, err := xdr.New(xdr.Config{BaseURL: base, KeyID: keyID, Key: xdr.NewSecret(key), AuthMode: mode}, xdr.WithClock(now))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	tests := []struct {
		name     string
		c        *xdr.Client
		wantSkew bool
	}{
		{"standard, wrong key", client(xdr.AuthStandard, testKeyID, "not-"+testKey, clk.Now), false},
		{"advanced, wrong key", client(xdr.AuthAdvanced, testAdvancedKeyID, "not-"+testAdvancedKey, clk.Now), true},
		{"standard, unknown key id", client(xdr.AuthStandard, "999", testKey, clk.Now), false},
		{"advanced, clock 10 minutes ahead", client(xdr.AuthAdvanced, testAdvancedKeyID, testAdvancedKey, skewed), true},
		// Each key works in its own mode only, as in the product.
		{"the advanced key sent as standard", client(xdr.AuthStandard, testAdvancedKeyID, testAdvancedKey, clk.Now), false},
		{"the standard key signed as advanced", client(xdr.AuthAdvanced, testKeyID, testKey, clk.Now), true},
	}
	for _, tt := range tests {
		_, err := tt.c.GetIncidents(t.Context(), ok)
		ae, isAPI := errors.AsType[*xdr.APIError](err)
		if !isAPI || ae.Status != 401 {
			t.Errorf("%s: err = %v, want HTTP 401", tt.name, err)
			continue
		}
		if xdr.Retryable(err) {
			t.Errorf("%s: 401 is retryable", tt.name)
		}
		if got := strings.Contains(err.Error(), "clock skew"); got != tt.wantSkew {
			t.Errorf("%s: mentions clock skew = %v: %v", tt.name, got, err)
		}
		if strings.Contains(err.Error(), testKey) || strings.Contains(err.Error(), testAdvancedKey) {
			t.Errorf("%s: error leaks the key", tt.name)
		}
	}
}

func TestSimRateLimit(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 14, Incidents: 5, MaxAlerts: 5, RateLimit: 3, RateWindow: time.Minute})
	c := simClient(t, base, xdr.AuthAdvanced, clk)
	id := tenant.IncidentIDs()[0]
	call := func() error {
		_, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: id})
		return err
	}
	for i := range 3 {
		if err := call(); err != nil {
			t.Fatalf("call %d within the limit: %v", i, err)
		}
	}
	expect429 := func(want time.Duration) {
		t.Helper()
		err := call()
		ae, ok := errors.AsType[*xdr.APIError](err)
		if !ok || ae.Status != 429 {
			t.Fatalf("err = %v, want HTTP 429", err)
		}
		if d, ok := xdr.RetryAfter(err); !ok || d != want {
			t.Errorf("RetryAfter = %v, %v; want %v", d, ok, want)
		}
		if !xdr.Retryable(err) || !strings.Contains(err.Error(), "Exceeded 3 requests") {
			t.Errorf("429 error: %v", err)
		}
	}
	expect429(60 * time.Second)
	clk.Add(20 * time.Second)
	expect429(40 * time.Second)
	clk.Add(40 * time.Second)
	if err := call(); err != nil {
		t.Errorf("after waiting Retry-After: %v", err)
	}
	// An injected 429 carries Retry-After: 1.
	clk.Add(time.Hour)
	tenant.Inject(xdrtest.EndpointExtraData, xdrtest.Fault429, 1)
	expect429(time.Second)

	// One HTTP request per call, refused ones included.
	if n := len(tenant.ExtraDataCalls()); n != 7 {
		t.Errorf("tenant logged %d calls, want 7 (one per client call)", n)
	}
}

func TestSimFaults(t *testing.T) {
	tenant, base, clk, stop := startSimStop(t, xdrtest.Config{Seed: 15, Incidents: 5, MaxAlerts: 5, RateLimit: 1000})
	id := tenant.IncidentIDs()[0]
	c, err := xdr.New(xdr.Config{BaseURL: base, KeyID: testKeyID, Key: xdr.NewSecret(testKey), Timeout: 200 * time.Millisecond}, xdr.WithClock(clk.Now))
	if err != nil {
		t.Fatal(err)
	}
	tenant.SetSlowDelay(time.Minute)
	apiStatus := func(status int) func(error) bool {
		return func(err error) bool { ae, ok := errors.AsType[*xdr.APIError](err); return ok && ae.Status == status }
	}
	tests := []struct {
		fault xdrtest.Fault
		check func(error) bool
	}{
		{xdrtest.FaultTruncatedGzip, func(err error) bool { return errors.Is(err, xdr.ErrTruncated) }},
		{xdrtest.FaultMalformedJSON, func(err error) bool { return errors.Is(err, xdr.ErrMalformed) }},
		{xdrtest.FaultServerError, apiStatus(500)},
		{xdrtest.FaultServerError, apiStatus(502)},
		{xdrtest.FaultServerError, apiStatus(503)},
		{xdrtest.FaultReset, func(err error) bool { _, ok := errors.AsType[*xdr.APIError](err); return err != nil && !ok }},
		{xdrtest.FaultSlow, func(err error) bool { return errors.Is(err, xdr.ErrTimeout) }},
	}
	for _, tt := range tests {
		tenant.Inject(xdrtest.EndpointExtraData, tt.fault, 1)
		_, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: id})
		if !tt.check(err) || !xdr.Retryable(err) {
			t.Errorf("%s: err = %v (retryable %v)", tt.fault, err, xdr.Retryable(err))
		}
	}
	// Unknown incident: the API's catch-all 500.
	_, err = c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "99999999"})
	if ae, ok := errors.AsType[*xdr.APIError](err); !ok || ae.Status != 500 {
		t.Errorf("unknown incident: %v", err)
	}
	// The same fault on get_incidents.
	tenant.Inject(xdrtest.EndpointIncidents, xdrtest.FaultTruncatedGzip, 1)
	if _, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{SearchTo: 10}); !errors.Is(err, xdr.ErrTruncated) {
		t.Errorf("get_incidents truncated gzip: %v", err)
	}
	// One request per call, and no retries: the tenant logs a call when its
	// handler ends (for the slow fault, after the client hung up), so count
	// once the server has drained.
	stop()
	if n, want := len(tenant.ExtraDataCalls()), len(tests)+1; n != want {
		t.Errorf("tenant logged %d get_incident_extra_data requests for %d calls", n, want)
	}
}

func TestSimExtraData(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 16, Incidents: 40, MaxAlerts: 60, RateLimit: 1000})
	c := simClient(t, base, xdr.AuthStandard, clk)
	var best xdrtest.Truth
	for _, id := range tenant.IncidentIDs() {
		if tr, _ := tenant.Truth(id); !tr.Restricted && tr.AlertCount > best.AlertCount {
			best = tr
		}
	}
	const limit = 5
	if best.AlertCount <= limit {
		t.Fatalf("no incident with more than %d alerts", limit)
	}
	d, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: best.IncidentID, AlertsLimit: limit})
	if err != nil {
		t.Fatal(err)
	}
	if d.Incident.ID != best.IncidentID || d.Incident.ModificationTime != best.ModificationTime {
		t.Errorf("incident %s@%d, want %s@%d", d.Incident.ID, d.Incident.ModificationTime, best.IncidentID, best.ModificationTime)
	}
	if !d.Alerts.Truncated() || d.Alerts.TotalCount != best.AlertCount || len(d.Alerts.Data) != limit {
		t.Errorf("alerts: total %d, got %d; want total %d, got %d", d.Alerts.TotalCount, len(d.Alerts.Data), best.AlertCount, limit)
	}
	for i, a := range d.Alerts.Data {
		if a.ID != best.AlertIDs[i] {
			t.Errorf("alert %d: id %q, want %q", i, a.ID, best.AlertIDs[i])
		}
		if a.CaseID != best.IncidentID {
			t.Errorf("alert %d: case_id %q, want %q", i, a.CaseID, best.IncidentID)
		}
	}
	if d.NetworkArtifacts.TotalCount != best.NetworkArtifacts || d.FileArtifacts.TotalCount != best.FileArtifacts {
		t.Errorf("artifacts: %d network, %d file; want %d, %d",
			d.NetworkArtifacts.TotalCount, d.FileArtifacts.TotalCount, best.NetworkArtifacts, best.FileArtifacts)
	}

	// Without a limit every alert arrives.
	d, err = c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: best.IncidentID})
	if err != nil {
		t.Fatal(err)
	}
	if d.Alerts.Truncated() || len(d.Alerts.Data) != best.AlertCount {
		t.Errorf("default alerts_limit: got %d of %d alerts", len(d.Alerts.Data), best.AlertCount)
	}
}
