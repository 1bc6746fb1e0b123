package ecs

import (
	"math/rand/v2"
	"testing"
	"time"
)

// TestDateIsWhatAppendFormatWrites: the date writer agrees with
// time.Time.AppendFormat over the years ECS documents meet and beyond
// four digits, milliseconds and leap days included.
func TestDateIsWhatAppendFormatWrites(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 24))
	ms := []int64{0, 1, 999, 1000, 951782400000, 951868799999, 253402300799999, 253402300800000, -1, -62135596800001}
	for range 20_000 {
		ms = append(ms, r.Int64N(300_000_000_000_000)-20_000_000_000_000)
	}
	for _, m := range ms {
		want := time.UnixMilli(m).UTC().AppendFormat([]byte("x"), dateLayout)
		if got := appendDate([]byte("x"), m); string(got) != string(want) {
			t.Fatalf("appendDate(%d) = %s, want %s", m, got, want)
		}
	}
}
