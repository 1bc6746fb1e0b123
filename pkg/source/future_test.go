package source

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// delayedTenant is an in-memory tenant whose changes become visible to
// get_incidents some time after they are stamped, with a clock of its own
// that may run ahead of the connector's. It remembers every version that was
// an incident's visible state when a poll started: those are the versions
// the source owes.
type delayedTenant struct {
	versions map[string][]version // incident id -> versions, in the order they were made
	owed     map[string]map[int64]bool
}

type version struct {
	stamp, visible int64 // epoch ms: modification_time, and when get_incidents first shows it
}

func (d *delayedTenant) change(id string, stamp, visible int64) {
	d.versions[id] = append(d.versions[id], version{stamp, visible})
}

// current is what get_incidents shows at now: for each incident, its newest
// version that is visible by then.
func (d *delayedTenant) current(now int64) []xdr.Incident {
	var out []xdr.Incident
	for id, vs := range d.versions {
		for i := len(vs) - 1; i >= 0; i-- {
			if vs[i].visible <= now {
				out = append(out, xdr.Incident{ID: id, ModificationTime: vs[i].stamp,
					Raw: []byte(fmt.Sprintf(`{"incident_id":%q,"modification_time":%d}`, id, vs[i].stamp))})
				break
			}
		}
	}
	return out
}

// TestFutureStampNeverMovesTheWatermarkPastWhatWasRead: whatever LOOKBACK,
// POLL_INTERVAL, the future tolerance and the tenant's clock skew are, an
// incident stamped a day ahead (and others just ahead) never costs another
// incident a version, on a tenant whose changes become visible up to half
// LOOKBACK after their stamp and whose clock may run behind by the rest. Every version that was an incident's visible
// state when a poll started is emitted, once. (Before, the mark was held at
// the clock plus the tolerance, so with a lookback shorter than the
// tolerance every change stamped in between fell below the next cursor.)
func TestFutureStampNeverMovesTheWatermarkPastWhatWasRead(t *testing.T) {
	lookbacks := []time.Duration{500 * time.Millisecond, time.Second, 4 * time.Second, 10 * time.Second, 29 * time.Second, 2 * time.Minute}
	intervals := []time.Duration{100 * time.Millisecond, 500 * time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second}
	tolerances := []time.Duration{time.Millisecond, time.Second, 5 * time.Second, 30 * time.Second, 5 * time.Minute}
	for seed := range uint64(60) {
		rng := rand.New(rand.NewPCG(seed, 20))
		lookback := lookbacks[rng.IntN(len(lookbacks))]
		interval := intervals[rng.IntN(len(intervals))]
		tolerance := tolerances[rng.IntN(len(tolerances))]
		// Indexing takes up to half the lookback; the tenant's clock runs up
		// to the other half behind the connector's, or up to twice the
		// tolerance ahead of it. (A stamp ahead of the tenant's clock by
		// less than its lag behind the connector's cannot be told from a
		// good one: LOOKBACK covers the indexing lag plus that lag.)
		behind := lookback / 2
		skew := time.Duration(rng.Int64N(int64(behind+2*tolerance))) - behind
		name := fmt.Sprintf("seed=%d/lookback=%s/interval=%s/tolerance=%s/skew=%s", seed, lookback, interval, tolerance, skew)
		t.Run(name, func(t *testing.T) {
			checkNoVersionLost(t, rng, lookback, interval, tolerance, skew)
		})
	}
}

func checkNoVersionLost(t *testing.T, rng *rand.Rand, lookback, interval, tolerance, skew time.Duration) {
	now := time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC)
	clock := func() time.Time { return now }
	ms := func() int64 { return now.UnixMilli() }
	tenant := &delayedTenant{versions: map[string][]version{}, owed: map[string]map[int64]bool{}}
	tenant.change("far", ms()+24*time.Hour.Milliseconds(), ms())                            // a clock gone wrong by a day
	tenant.change("near", ms()+tolerance.Milliseconds()/2+1, ms())                          // just ahead, within the tolerance
	tenant.change("beyond", ms()+tolerance.Milliseconds()+time.Minute.Milliseconds(), ms()) // ahead, beyond it
	m := &memLister{}
	c := &collector{}
	s, err := New(Config{PollInterval: interval, Lookback: lookback, FutureTolerance: tolerance},
		m, Start{Watermark: 1}, c.handle, WithClock(clock), WithBackoff(fastBackoff))
	if err != nil {
		t.Fatal(err)
	}
	const polls = 150
	step := interval / 10
	for p := range polls {
		// Between two polls, incidents change at random moments, stamped by
		// the tenant's clock and visible after up to LOOKBACK.
		for range 10 {
			now = now.Add(step)
			if rng.IntN(3) == 0 {
				id := strconv.Itoa(rng.IntN(40))
				if p > polls/2 && rng.IntN(4) == 0 {
					id = []string{"far", "near", "beyond"}[rng.IntN(3)] // the future ones change for real too
				}
				stamp := now.Add(skew).UnixMilli()
				delay := rng.Int64N(lookback.Milliseconds()/2 + 1)
				tenant.change(id, stamp, now.UnixMilli()+delay)
			}
		}
		visible := tenant.current(ms())
		for _, inc := range visible {
			if tenant.owed[inc.ID] == nil {
				tenant.owed[inc.ID] = map[int64]bool{}
			}
			tenant.owed[inc.ID][inc.ModificationTime] = true
		}
		m.mu.Lock()
		m.incs = visible
		m.mu.Unlock()
		if _, err := s.Poll(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	lost := 0
	for id, vs := range tenant.owed {
		for v := range vs {
			if !c.has(id, v) {
				lost++
				if lost <= 5 {
					t.Errorf("incident %s version %d (%s after the start) was visible at a poll and never emitted",
						id, v, time.Duration(v-time.Date(2026, 6, 1, 12, 0, 0, 0, time.UTC).UnixMilli())*time.Millisecond)
				}
			}
		}
	}
	for id, vs := range c.got {
		seen := map[int64]bool{}
		for _, v := range vs {
			if seen[v] {
				t.Errorf("incident %s version %d emitted twice", id, v)
			}
			seen[v] = true
		}
	}
	if lost > 0 {
		t.Fatalf("%d versions lost", lost)
	}
}
