package xdr_test

import (
	"bytes"
	"encoding/json"
	"math/big"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestText pins the one reading of JSON scalars: the spellings tenants use
// for one value read alike, and the rest reads as written.
func TestText(t *testing.T) {
	for _, tc := range []struct{ raw, want string }{
		{`"891"`, "891"},
		{` "  891 " `, "891"},
		{`"891.0"`, "891.0"}, // a string is not reinterpreted
		{`"a\u0020b\n"`, "a b"},
		{`"caf\u00e9"`, "café"},
		{`""`, ""},
		{`891`, "891"},
		{`891.0`, "891"},
		{`891.000`, "891"},
		{`8.91e2`, "891"},
		{`8.91E+2`, "891"},
		{`89100e-2`, "891"},
		{`-17`, "-17"},
		{`-17.0`, "-17"},
		{`-0`, "0"},
		{`0.0`, "0"},
		{`-0.0e9`, "0"},
		{`0e-999999999999`, "0"},
		{`1.5`, "1.5"},
		{`12e-1`, "12e-1"},
		{`0.99999999999999999`, "0.99999999999999999"}, // float64 would round it to 1
		{`9007199254740993.0`, "9007199254740993"},     // beyond float64's exact integers
		{`1e20`, "100000000000000000000"},
		{`1e21`, "1e21"}, // 22 digits
		{`1e22`, "1e22"},
		{`1e400`, "1e400"},
		{`123456789012345678901234567890`, "123456789012345678901234567890"},
		{`1700000000000`, "1700000000000"},
		{`true`, ""},
		{`false`, ""},
		{`null`, ""},
		{`{"a":1}`, ""},
		{`["1"]`, ""},
		{``, ""},
		{`   `, ""},
		{`01`, ""},
		{`1.`, ""},
		{`.5`, ""},
		{`+1`, ""},
		{`1e`, ""},
		{`- 1`, ""},
		{`"open`, ""},
		{`"a" "b"`, ""},
		{"\"tab\there\"", ""}, // a raw control character is not JSON
		{`nope`, ""},
		{"\u00a01", ""}, // not JSON white space
	} {
		if got := xdr.Text([]byte(tc.raw)); got != tc.want {
			t.Errorf("Text(%q) = %q, want %q", tc.raw, got, tc.want)
		}
	}
}

func TestSeverity(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"high", "high"},
		{" High ", "high"},
		{"SEV_040_HIGH", "high"},
		{"sev_050_critical", "critical"},
		{"SEV_010_INFO", "info"},
		{"medium", "medium"},
		{"unknown", ""},
		{"SEV_000_UNKNOWN", ""},
		{"N/A", ""},
		{"", ""},
		{"sev_", "sev_"},
		{"severe", "severe"},
	} {
		if got := xdr.Severity(tc.in); got != tc.want {
			t.Errorf("Severity(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzText holds Text to encoding/json: invalid input reads as "", a string
// as the decoder's string trimmed, a number as a number of the same value
// (exactly, by big.Rat) that is the literal itself unless it is a whole
// number; booleans, null, objects and lists as "". Text is idempotent on
// what it returns for a number.
func FuzzText(f *testing.F) {
	for _, s := range []string{`"891"`, `891`, `891.0`, `8.91e2`, `-0`, `0.0`, `1e21`, `1e22`, `1.5`, `true`,
		`null`, `{}`, `[1]`, `" x "`, `"\u00e9"`, `"\ud800"`, "\"\xff\"", `1e-400`, `-12.50e1`, `0e99999999999999`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		got := xdr.Text(raw)
		if !json.Valid(raw) {
			if got != "" {
				t.Fatalf("Text(%q) = %q for invalid JSON", raw, got)
			}
			return
		}
		d := json.NewDecoder(bytes.NewReader(raw))
		d.UseNumber()
		var v any
		if err := d.Decode(&v); err != nil {
			t.Fatalf("decoding valid JSON %q: %v", raw, err)
		}
		switch v := v.(type) {
		case string:
			if want := strings.TrimSpace(v); got != want {
				t.Fatalf("Text(%q) = %q, the decoder reads %q", raw, got, want)
			}
		case json.Number:
			lit := v.String()
			if !json.Valid([]byte(got)) || got == "" || got[0] == '"' {
				t.Fatalf("Text(%q) = %q, not a JSON number", raw, got)
			}
			if again := xdr.Text([]byte(got)); again != got {
				t.Fatalf("Text(%q) = %q, but Text(%q) = %q", raw, got, got, again)
			}
			if got == lit {
				return
			}
			if strings.ContainsAny(got, ".eE") {
				t.Fatalf("Text(%q) = %q: rewritten, yet not an integer", raw, got)
			}
			if got == "0" { // only a zero mantissa reads as 0, whatever its exponent
				mant, _, _ := strings.Cut(strings.ToLower(strings.TrimPrefix(lit, "-")), "e")
				if strings.Trim(mant, "0.") != "" {
					t.Fatalf("Text(%q) = 0", raw)
				}
				return
			}
			if len(lit) > 64 {
				return // big.Rat would build a huge number from a long exponent
			}
			a, ok1 := new(big.Rat).SetString(lit)
			b, ok2 := new(big.Rat).SetString(got)
			if !ok1 || !ok2 || a.Cmp(b) != 0 {
				t.Fatalf("Text(%q) = %q, another value", raw, got)
			}
		default: // bool, nil, map, slice
			if got != "" {
				t.Fatalf("Text(%q) = %q, want \"\"", raw, got)
			}
		}
	})
}
