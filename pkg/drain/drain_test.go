package drain

import (
	"slices"
	"testing"
	"time"
)

// samplesOf samples depth(t) every step from 0 to span (t in seconds).
func samplesOf(span, step time.Duration, depth func(t float64) int) []Sample {
	t0 := time.Unix(1000, 0)
	var out []Sample
	for d := time.Duration(0); d <= span; d += step {
		out = append(out, Sample{t0.Add(d), depth(d.Seconds())})
	}
	return out
}

// TestEstimateDrain: the ETA comes from the measured net drain rate,
// arrivals included, not from the budget.
func TestEstimateDrain(t *testing.T) {
	const span, minSpan = 30 * time.Second, 15 * time.Second
	// The demo's budget, 10 calls per 2 s, spent in one burst per window.
	done := func(t float64) int { return 10 * (int(t)/2 + 1) }
	for _, tc := range []struct {
		name      string
		samples   []Sample
		Trend     string
		ETA       time.Duration // exact, or
		rateRange [2]float64    // a range for the rate, for bursty queues
		note      string
	}{
		{name: "nothing sampled", samples: nil, Trend: ""},
		{name: "empty", samples: samplesOf(span, time.Second, func(t float64) int { return 0 }), Trend: Empty, note: ""},
		{name: "measuring", samples: samplesOf(10*time.Second, time.Second, func(t float64) int { return 300 - 5*int(t) }), Trend: Measuring, note: ""},
		// 5 enrichments a second, 2 changes a second arriving: it drains at
		// 3 a second, not 5: 210 left take 70 s, not 42 s.
		{name: "draining with arrivals", samples: samplesOf(span, time.Second, func(t float64) int { return 300 - 3*int(t) }),
			Trend: Draining, ETA: 70 * time.Second, note: " (~1m10s)"},
		{name: "bursty drain, steady arrivals", samples: samplesOf(span, 250*time.Millisecond, func(t float64) int { return 300 - done(t) + int(2*t) }),
			Trend: Draining, rateRange: [2]float64{2.7, 3.3}},
		// The budget drains 5 a second while 6 a second arrive (a bulk
		// update at 12 s, then a stream): the budget-based ETA said ~60s.
		{name: "growing at full budget", samples: samplesOf(span, 250*time.Millisecond, func(t float64) int {
			n := 300 - done(t) + int(4*t)
			if t >= 12 {
				n += 40
			}
			return n
		}), Trend: Growing, note: " (growing)"},
		{name: "steady", samples: samplesOf(span, time.Second, func(t float64) int { return 120 }), Trend: Steady, note: " (steady)"},
	} {
		got := From(tc.samples, minSpan, 0)
		if got.Trend != tc.Trend {
			t.Errorf("%s: trend %q (rate %.2f/s), want %q", tc.name, got.Trend, got.Rate, tc.Trend)
			continue
		}
		if tc.ETA > 0 && got.ETA != tc.ETA {
			t.Errorf("%s: ETA %s, want %s", tc.name, got.ETA, tc.ETA)
		}
		if r := tc.rateRange; r[1] > 0 && (got.Rate < r[0] || got.Rate > r[1]) {
			t.Errorf("%s: rate %.2f/s, want within %v", tc.name, got.Rate, r)
		}
		if tc.note != "" && got.Note() != tc.note {
			t.Errorf("%s: shows %q, want %q", tc.name, got.Note(), tc.note)
		}
		if tc.Trend != Draining && got.ETA != 0 {
			t.Errorf("%s: an ETA (%s) for a queue that is not draining", tc.name, got.ETA)
		}
	}
}

// TestDrainMeterForgetsOldSamples: the rate is measured over the last
// window only, so a queue that grew and now drains is shown draining.
func TestDrainMeterForgetsOldSamples(t *testing.T) {
	m := NewMeter(10, 2*time.Second) // the demo's budget: a 2-minute drain window
	if m.window != 2*time.Minute || m.minSpan != 30*time.Second {
		t.Fatalf("drain window %s, first estimate after %s; want 2m and 30s", m.window, m.minSpan)
	}
	t0 := time.Unix(1000, 0)
	for s := range 241 {
		depth := 100 + 5*s // grows for 2 minutes ...
		if s > 120 {
			depth = 700 - 4*(s-120) // ... then drains at 4 a second
		}
		m.Add(t0.Add(time.Duration(s)*time.Second), depth)
	}
	if n := len(m.samples); n != 121 {
		t.Errorf("%d samples kept, want the last 2 minutes' (121)", n)
	}
	if est := m.Estimate(); est.Trend != Draining || est.ETA != 55*time.Second {
		t.Errorf("estimate %+v, want draining, 220 left at 4/s: 55s", est)
	}
	if w, first := Window(time.Minute); w != 4*time.Minute || first != 2*time.Minute {
		t.Errorf("with the API's 60 s window: drain window %s, first estimate after %s; want 4m and 2m", w, first)
	}
}

// TestDrainEstimateIsStableUnderBulkUpdates replays the demo's pattern for
// 20 minutes — a bulk update queues refill incidents every 28 s while the
// budget drains 10 every 2 s — sampled as the display does. Changes then
// take about the whole budget: the queue swings with the bulk updates and
// does not empty, so the estimate must say "growing" or "steady", never an
// ETA over a near-zero rate that jumps by the hour (62 s, then 4958 s). With
// fewer changes it drains, and every ETA stays within ten times the best
// (the depth over the budget) and twenty times it, which bounds how far it
// can jump.
func TestDrainEstimateIsStableUnderBulkUpdates(t *testing.T) {
	replay := func(refill int, each func(depth int, est Estimate)) {
		m := NewMeter(10, 2*time.Second)
		t0 := time.Unix(1000, 0)
		depth := 300
		for tick := range 20 * 60 * 4 { // 250 ms each
			at := time.Duration(tick) * 250 * time.Millisecond
			if tick > 0 && at%(28*time.Second) == 0 {
				depth += refill
			}
			if at%(2*time.Second) == 0 {
				depth -= min(10, depth)
			}
			m.Add(t0.Add(at), depth)
			if at >= 2*time.Minute {
				each(depth, m.Estimate())
			}
		}
	}
	// 150 every 28 s: 5.36/s arrive, 5/s drain, it grows by 0.36/s; 140:
	// it neither grows nor drains.
	for _, refill := range []int{150, 140} {
		trends := map[string]int{}
		replay(refill, func(depth int, est Estimate) {
			trends[est.Trend]++
			if est.ETA != 0 || est.Best != max(time.Second, time.Duration(float64(depth)/5*float64(time.Second)).Round(time.Second)) {
				t.Fatalf("refill %d, depth %d: %+v, want no ETA and a best of depth/5 s", refill, depth, est)
			}
		})
		t.Logf("refill %d every 28 s: trends %v", refill, trends)
		if trends[Draining] != 0 || refill == 140 && len(trends) != 1 {
			t.Errorf("refill %d every 28 s: trends %v, want growing or steady, and steady throughout for a queue that neither grows nor drains", refill, trends)
		}
	}
	// 80 every 28 s: it drains at about 2.1/s net.
	var etas []time.Duration
	replay(80, func(depth int, est Estimate) {
		if est.Trend == Draining {
			etas = append(etas, est.ETA)
			if est.ETA < est.Best || est.ETA > 20*est.Best {
				t.Fatalf("depth %d: ETA %s outside [%s, 20×%[3]s]", depth, est.ETA, est.Best)
			}
		}
	})
	if len(etas) == 0 {
		t.Fatal("a queue that drains at 2.1/s net never showed an ETA")
	}
	t.Logf("refill 80 every 28 s: ETA from %s to %s", slices.Min(etas), slices.Max(etas))
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		54 * time.Second: "54s", 70 * time.Second: "1m10s", 12*time.Minute + 5*time.Second: "12m05s",
		3*time.Hour + 7*time.Minute + 40*time.Second: "3h07m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestTrackerSamplesWhenRead: readers at any cadence feed one meter, and
// the estimate is the meter's over their samples.
func TestTrackerSamplesWhenRead(t *testing.T) {
	tr := NewTracker(2 * time.Second)
	t0 := time.Unix(1000, 0)
	var est Estimate
	for s := range 31 {
		if s == 20 {
			est = tr.Sample(t0.Add(time.Duration(s)*time.Second-time.Millisecond), 100-2*s, 5) // a second reader
		}
		est = tr.Sample(t0.Add(time.Duration(s)*time.Second), 100-2*s, 5)
		if s < 30 && est.Trend != Measuring {
			t.Fatalf("after %d s: %+v, want measuring for 30 s", s, est)
		}
	}
	if est.Trend != Draining || est.ETA != 20*time.Second {
		t.Errorf("after 30 s draining 2/s to 40: %+v, want draining, ETA 20s", est)
	}
}

// Two readers that took their instants before the tracker's lock may sample
// out of order: the late one counts at the newest instant, and the samples
// stay in order.
func TestTrackerKeepsSamplesInOrder(t *testing.T) {
	tr := NewTracker(2 * time.Second)
	t0 := time.Unix(1000, 0)
	tr.Sample(t0.Add(10*time.Second), 50, 5)
	tr.Sample(t0.Add(9*time.Second), 49, 5)
	tr.mu.Lock()
	defer tr.mu.Unlock()
	s := tr.m.samples
	if len(s) != 2 || s[1].At.Before(s[0].At) || s[1].Depth != 49 {
		t.Errorf("samples %+v, want the late one at the newest instant", s)
	}
}
