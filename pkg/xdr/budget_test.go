package xdr_test

import (
	"bytes"
	"compress/gzip"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"sync"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// gzipBomb is a small gzip body that inflates to n zero bytes.
func gzipBomb(t testing.TB, n int) []byte {
	t.Helper()
	var b bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&b, gzip.BestCompression)
	chunk := make([]byte, 1<<20)
	for left := n; left > 0; left -= len(chunk) {
		if _, err := zw.Write(chunk[:min(left, len(chunk))]); err != nil {
			t.Fatal(err)
		}
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// extraDataReply is a get_incident_extra_data reply with n alerts.
func extraDataReply(n int) string {
	var b strings.Builder
	b.WriteString(`{"reply":{"incident":{"incident_id":"7","modification_time":1700000000000},"alerts":{"total_count":`)
	fmt.Fprintf(&b, "%d", n)
	b.WriteString(`,"data":[`)
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"alert_id":"%d","name":"Suspicious Process Creation","description":"%s","host_name":"ws-%d"}`, i, strings.Repeat("d", 1100), i)
	}
	b.WriteString(`]},"network_artifacts":{"total_count":0,"data":[]},"file_artifacts":{"total_count":0,"data":[]}}}`)
	return b.String()
}

// serveGzip serves body, gzip-compressed, to every call.
func serveGzip(t *testing.T, body []byte) string {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Encoding", "gzip")
		_, _ = w.Write(body)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

// TestGzipBombAcrossTenants: several tenants' clients share one reply
// budget; bomb tenants answer every call with a few kilobytes of gzip that
// inflate far past the cap. Each bomb call ends in the size error (after
// retrying the budget's transient error, as the enricher and the source
// would), the bytes held at once never exceed the budget, and the other
// tenants' replies — small ones at once, a large one after retries at worst
// — all succeed meanwhile.
func TestGzipBombAcrossTenants(t *testing.T) {
	const limit = 1 << 20 // each reply's cap
	budget := xdr.NewReplyBudget(3 * limit)
	bomb := gzipBomb(t, 32<<20)
	small := gzipped(t, extraDataReply(5))   // ~6 KB inflated: fits the first reservation
	large := gzipped(t, extraDataReply(600)) // ~700 KB inflated: grows within the cap
	client := func(url string) *xdr.Client {
		c, err := xdr.New(xdr.Config{BaseURL: url, KeyID: testKeyID, Key: xdr.NewSecret(testKey), MaxReplyBytes: limit}, xdr.WithReplyBudget(budget))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	req := xdr.ExtraDataRequest{IncidentID: "7"}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	const bombs, calls = 6, 4
	for i := range bombs {
		c := client(serveGzip(t, bomb))
		for range calls {
			wg.Go(func() {
				for attempt := 1; ; attempt++ {
					_, err := c.GetIncidentExtraData(t.Context(), req)
					if xdr.Retryable(err) && attempt < 1000 {
						continue
					}
					if !errors.Is(err, xdr.ErrReplyTooLarge) || xdr.Retryable(err) {
						errs <- fmt.Errorf("bomb tenant %d, attempt %d: err = %v, want the size error", i, attempt, err)
					}
					return
				}
			})
		}
	}
	okSmall, okLarge := client(serveGzip(t, small)), client(serveGzip(t, large))
	for range 20 {
		wg.Go(func() {
			if d, err := okSmall.GetIncidentExtraData(t.Context(), req); err != nil || len(d.Alerts.Data) != 5 {
				errs <- fmt.Errorf("small reply: err = %v", err)
			}
		})
	}
	for range 3 {
		wg.Go(func() {
			for attempt := 1; ; attempt++ {
				d, err := okLarge.GetIncidentExtraData(t.Context(), req)
				if errors.Is(err, xdr.ErrReplyBudget) && xdr.Retryable(err) && attempt < 1000 {
					continue
				}
				if err != nil || len(d.Alerts.Data) != 600 {
					errs <- fmt.Errorf("large reply, attempt %d: err = %v", attempt, err)
				}
				return
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if p := budget.Peak(); p > budget.Size() || p < limit {
		t.Errorf("peak reply bytes held = %d, want between the cap (%d) and the budget (%d)", p, limit, budget.Size())
	}
	if n := budget.InUse(); n != 0 {
		t.Errorf("%d bytes still held after every call returned", n)
	}
}

// TestGzipBombStopsAtTheDefaultCap: a 64 KB gzip body inflating to 64 MiB
// ends in ErrReplyTooLarge after DefaultMaxReplyBytes, having allocated
// about that much, not the whole body.
func TestGzipBombStopsAtTheDefaultCap(t *testing.T) {
	bomb := gzipBomb(t, 64<<20)
	url := serveGzip(t, bomb)
	c := newClient(t, url, xdr.AuthStandard)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	_, err := c.GetIncidentExtraData(t.Context(), xdr.ExtraDataRequest{IncidentID: "7"})
	runtime.ReadMemStats(&after)
	if !errors.Is(err, xdr.ErrReplyTooLarge) || xdr.Retryable(err) {
		t.Fatalf("err = %v, want the non-retryable size error", err)
	}
	// The buffer doubles up to the cap: at most twice the cap in all.
	if got := after.TotalAlloc - before.TotalAlloc; got > 3*xdr.DefaultMaxReplyBytes {
		t.Errorf("a bomb of %d compressed bytes allocated %d MiB; the cap is %d MiB", len(bomb), got>>20, xdr.DefaultMaxReplyBytes>>20)
	}
}

// TestReplyBudgetMustHoldOneReply: a reply of exactly the cap is read
// within a budget of MinReplyBudget, alone; a client whose budget is
// smaller could never read its largest reply, and New refuses it.
func TestReplyBudgetMustHoldOneReply(t *testing.T) {
	if got := xdr.MinReplyBudget(xdr.DefaultMaxReplyBytes); got != 24<<20 {
		t.Errorf("MinReplyBudget(16 MiB) = %d, want 24 MiB", got)
	}
	for _, limit := range []int64{1000, 16 << 10, 100_000, 1 << 20} {
		body := []byte(`{"reply":{"incidents":[],"pad":"` + strings.Repeat("x", int(limit)-len(`{"reply":{"incidents":[],"pad":""}}`)) + `"}}`)
		budget := xdr.NewReplyBudget(xdr.MinReplyBudget(limit))
		c, err := xdr.New(xdr.Config{BaseURL: serveGzip(t, gzipped(t, string(body))), KeyID: testKeyID, Key: xdr.NewSecret(testKey), MaxReplyBytes: limit},
			xdr.WithReplyBudget(budget))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.GetIncidents(t.Context(), xdr.IncidentsRequest{}); err != nil {
			t.Errorf("a reply of exactly its cap (%d bytes) in the smallest budget: %v", limit, err)
		}
		if budget.Peak() != budget.Size() {
			t.Errorf("cap %d: peak %d, budget %d: MinReplyBudget is not the most a reply holds", limit, budget.Peak(), budget.Size())
		}
	}
	_, err := xdr.New(xdr.Config{BaseURL: "https://api-x.example.com", KeyID: testKeyID, Key: xdr.NewSecret(testKey)},
		xdr.WithReplyBudget(xdr.NewReplyBudget(xdr.MinReplyBudget(xdr.DefaultMaxReplyBytes)-1)))
	if err == nil || !strings.Contains(err.Error(), "needs a reply budget of 25165824 bytes") {
		t.Errorf("err = %v", err)
	}
}
