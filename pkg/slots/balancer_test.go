package slots

import (
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"
)

func ids(prefix string, n int) []string {
	out := make([]string, n)
	for i := range out {
		out[i] = fmt.Sprintf("%s%02d", prefix, i+1)
	}
	return out
}

// loads is the tenant count of each member under assignment a.
func loads(a [][]int32, w []int) []int {
	out := make([]int, len(a))
	for m, ps := range a {
		for _, p := range ps {
			out[m] += w[p]
		}
	}
	return out
}

func spread(l []int) int { return slices.Max(l) - slices.Min(l) }

// checkCover fails unless every slot is in exactly one member's list.
func checkCover(t *testing.T, a [][]int32, n int) {
	t.Helper()
	seen := make([]int, n)
	for _, ps := range a {
		for _, p := range ps {
			seen[p]++
		}
	}
	for p, c := range seen {
		if c != 1 {
			t.Fatalf("slot %d assigned %d times: %v", p, c, a)
		}
	}
}

func TestAssignBalancesTenantsNotSlots(t *testing.T) {
	for _, tc := range []struct {
		prefix           string
		tenants, members int
	}{
		{"t", 30, 3}, {"tenant-", 30, 3}, {"t", 20, 3}, {"t", 30, 4}, {"c", 200, 3}, {"c", 200, 7}, {"t", 1, 2}, {"t", 3, 2},
	} {
		t.Run(fmt.Sprintf("%s%d/%d", tc.prefix, tc.tenants, tc.members), func(t *testing.T) {
			w := Weights(ids(tc.prefix, tc.tenants), DefaultPartitions)
			a := Assign(make([][]int32, tc.members), w)
			checkCover(t, a, DefaultPartitions)
			if l := loads(a, w); spread(l) > 1 {
				t.Fatalf("tenants per member %v: max − min = %d, want ≤ 1", l, spread(l))
			}
			if b := Assign(make([][]int32, tc.members), w); !slices.EqualFunc(a, b, slices.Equal) {
				t.Fatal("the same input gave two assignments")
			}
		})
	}
}

func TestAssignIsSticky(t *testing.T) {
	w := Weights(ids("t", 30), DefaultPartitions)
	three := Assign(make([][]int32, 3), w)

	// A fourth member joins: the three only give slots away.
	four := Assign(append(slices.Clone(three), nil), w)
	checkCover(t, four, DefaultPartitions)
	if l := loads(four, w); spread(l) > 1 {
		t.Fatalf("after a join: tenants per member %v", l)
	}
	moved := 0
	for m := range 3 {
		for _, p := range four[m] {
			if !slices.Contains(three[m], p) {
				t.Errorf("member %d gained slot %d when a member joined", m, p)
			}
		}
		for _, p := range three[m] {
			if !slices.Contains(four[m], p) {
				moved += w[p]
			}
		}
	}
	if got := loads(four, w)[3]; moved != got {
		t.Errorf("%d tenants moved, the new member got %d", moved, got)
	}

	// Member 1 leaves: the others keep everything they had.
	left := Assign([][]int32{four[0], four[2], four[3]}, w)
	checkCover(t, left, DefaultPartitions)
	if l := loads(left, w); spread(l) > 1 {
		t.Fatalf("after a leave: tenants per member %v", l)
	}
	for i, m := range []int{0, 2, 3} {
		for _, p := range four[m] {
			if !slices.Contains(left[i], p) {
				t.Errorf("member %d lost slot %d when another left", m, p)
			}
		}
	}

	// A balanced assignment stays as it is.
	if again := Assign(three, w); !slices.EqualFunc(again, three, slices.Equal) {
		t.Errorf("a balanced assignment changed: %v → %v", three, again)
	}
}

func TestAssignAlwaysCovers(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for range 200 {
		n := 1 + rng.IntN(80)
		w := make([]int, n)
		for p := range w {
			w[p] = rng.IntN(4)
		}
		members := 1 + rng.IntN(6)
		owned := make([][]int32, members)
		for p := range n {
			if m := rng.IntN(members + 1); m < members {
				owned[m] = append(owned[m], int32(p))
			}
		}
		a := Assign(owned, w)
		checkCover(t, a, n)
		// No single move could narrow the widest gap further.
		l := loads(a, w)
		hi, lo := slices.Index(l, slices.Max(l)), slices.Index(l, slices.Min(l))
		for _, p := range a[hi] {
			if d := l[hi] - l[lo]; w[p] > 0 && w[p] < d && abs(d-2*w[p]) < d {
				t.Fatalf("slot %d (weight %d) could move from %d to %d: loads %v", p, w[p], hi, lo, l)
			}
		}
	}
}

func TestClaimsKeepTheNewestGeneration(t *testing.T) {
	got := Claims([][]int32{{1, 2, 3}, {3, 4}, {4}}, []int32{5, 6, 6})
	want := [][]int32{{1, 2}, {3, 4}, nil}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("Claims = %v, want %v", got, want)
	}
}

func TestOfIsStable(t *testing.T) {
	// The mapping is a contract: changing it re-maps every tenant.
	for _, tc := range []struct {
		id   string
		n    int32
		want int32
	}{{"acme", 64, 47}, {"acme", 16, 15}, {"globex", 64, 14}, {"t01", 64, 8}, {"", 64, 0x811c9dc5 % 64}} {
		if got := Of(tc.id, tc.n); got != tc.want {
			t.Errorf("Of(%q, %d) = %d, want %d", tc.id, tc.n, got, tc.want)
		}
	}
}
