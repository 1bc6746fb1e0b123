package xdr

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// cycleReader yields 0, 1, ..., 255, 0, 1, ... so every byte value is
// equally common.
type cycleReader struct{ next byte }

func (r *cycleReader) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = r.next
		r.next++
	}
	return len(p), nil
}

// TestNonceUnbiased feeds a perfectly uniform byte stream: with rejection
// sampling every character comes out about equally often, whereas b%62 on
// every byte would make A..H (the residues of 248..255) 25% more common.
func TestNonceUnbiased(t *testing.T) {
	s := &signer{mode: AuthAdvanced, rand: &cycleReader{}}
	counts := map[rune]int{}
	for range 4096 {
		n, err := s.nonce()
		if err != nil {
			t.Fatal(err)
		}
		if len(n) != nonceLen {
			t.Fatalf("nonce %q has %d characters", n, len(n))
		}
		for _, c := range n {
			counts[c]++
		}
	}
	if len(counts) != len(nonceAlphabet) {
		t.Fatalf("%d distinct characters, want %d", len(counts), len(nonceAlphabet))
	}
	lo, hi := 1<<30, 0
	for _, c := range nonceAlphabet {
		lo, hi = min(lo, counts[c]), max(hi, counts[c])
	}
	if float64(hi)/float64(lo) > 1.1 {
		t.Errorf("character counts range from %d to %d: biased", lo, hi)
	}
}

func TestSignReplacesHeaders(t *testing.T) {
	now := time.UnixMilli(1700000000000)
	s := &signer{mode: AuthAdvanced, keyID: "9", key: NewSecret("sekrit"), now: func() time.Time { return now }, rand: &cycleReader{}}
	h := http.Header{}
	if err := s.sign(h); err != nil {
		t.Fatal(err)
	}
	first := h.Clone()
	now = now.Add(time.Millisecond)
	if err := s.sign(h); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{HeaderNonce, HeaderTimestamp, "Authorization"} {
		if len(h.Values(name)) != 1 {
			t.Errorf("%s has %d values after re-signing", name, len(h.Values(name)))
		}
		if h.Get(name) == first.Get(name) {
			t.Errorf("%s unchanged on re-signing: %q", name, h.Get(name))
		}
	}
	if h.Get(HeaderTimestamp) != "1700000000001" {
		t.Errorf("timestamp %q", h.Get(HeaderTimestamp))
	}
	// Precomputed: printf '%s' "sekrit${nonce}1700000000000" | sha256sum, with
	// the all-"A" nonce below.
	if got := advancedSignature(NewSecret("sekrit"), strings.Repeat("A", 64), "1700000000000"); got != "b20bf8ad053a1eb083f167a403ebb921d00e812c16e61bddf0e012b6e2e1a98e" {
		t.Errorf("advancedSignature = %s", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in     string
		want   time.Duration
		wantOK bool
	}{
		{"", 0, false},
		{"0", 0, true},
		{" 30 ", 30 * time.Second, true},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
		{"99999999999999999999", 0, false},
		{"9999999999", maxRetryAfter, true},
		{now.Add(2 * time.Minute).Format(http.TimeFormat), 2 * time.Minute, true},
		{now.Add(-time.Minute).Format(http.TimeFormat), 0, true},
		{now.Add(48 * time.Hour).Format(http.TimeFormat), maxRetryAfter, true},
		{"Sat, 01 Mar 2025 12:00:30 GMT", 30 * time.Second, true},
		{"Saturday, 01-Mar-25 12:00:30 GMT", 30 * time.Second, true}, // RFC 850
		{"Sat Mar  1 12:00:30 2025", 30 * time.Second, true},         // ANSI C
	}
	for _, tt := range tests {
		got, ok := parseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.wantOK {
			t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.in, got, ok, tt.want, tt.wantOK)
		}
	}
	// Sub-second clocks round the wait up.
	if got, _ := parseRetryAfter("Sat, 01 Mar 2025 12:00:30 GMT", now.Add(300*time.Millisecond)); got != 30*time.Second {
		t.Errorf("rounding: got %v, want 30s", got)
	}
}
