package enrich

import (
	"slices"
	"testing"
	"time"
)

// TestCountingIsTheLimitersRule: the stamps that still count are those less
// than a window old, the newest n at most, oldest first; a limiter seeded
// with the stamps (WithHistory) holds exactly those.
func TestCountingIsTheLimitersRule(t *testing.T) {
	now := time.Now()
	ago := func(d time.Duration) time.Time { return now.Add(-d) }
	for _, tc := range []struct {
		name   string
		stamps []time.Time
		n      int
		want   []time.Time
	}{
		{"none", nil, 3, nil},
		{"expired ones left out", []time.Time{ago(2 * time.Second), ago(500 * time.Millisecond), ago(time.Second)}, 3, []time.Time{ago(500 * time.Millisecond)}},
		{"sorted", []time.Time{ago(100 * time.Millisecond), ago(300 * time.Millisecond)}, 3, []time.Time{ago(300 * time.Millisecond), ago(100 * time.Millisecond)}},
		{"the newest n", []time.Time{ago(400 * time.Millisecond), ago(100 * time.Millisecond), ago(300 * time.Millisecond), ago(200 * time.Millisecond)}, 2,
			[]time.Time{ago(200 * time.Millisecond), ago(100 * time.Millisecond)}},
	} {
		got := Counting(tc.stamps, tc.n, 900*time.Millisecond, now)
		if !slices.EqualFunc(got, tc.want, time.Time.Equal) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
		l, err := NewLimiter(tc.n, time.Minute, WithHistory(tc.stamps))
		if err != nil {
			t.Fatal(err)
		}
		if h := l.History(); len(h) != len(Counting(tc.stamps, tc.n, time.Minute, time.Now())) {
			t.Errorf("%s: the limiter holds %d stamps, Counting says %d", tc.name, len(h), len(Counting(tc.stamps, tc.n, time.Minute, time.Now())))
		}
	}
}
