package xdr

import (
	"encoding/json"
	"strings"
	"unicode/utf8"
)

// Text reads a JSON string or number as text. It is the one reading of
// scalars in the connector: typed fields, record keys, error messages, the
// output profiles and the tail command all read through it, so a value reads
// the same wherever it is read and a key never depends on how a tenant
// spelled it.
//
//   - A string reads as its value, trimmed of surrounding white space. Its
//     content is not reinterpreted: "891.0" stays "891.0".
//   - A number whose value is a whole number of at most 21 digits reads as
//     that integer in decimal: 891, 891.0, 8.91e2 and 89100e-2 all read as
//     "891", and -0 and 0.0 as "0". The value is read exactly, not through
//     float64, so 0.99999999999999999 is not a whole number. Every other
//     number reads as written: "1.5", "1e400", and a whole number of more
//     than 21 digits (the JavaScript threshold for writing a number
//     without an exponent) spelled with an exponent or fraction. An integer
//     literal always reads as written, whatever its length, except -0.
//   - true, false, null, objects, lists, empty input and anything that is
//     not valid JSON read as "": a boolean is not the text of an id, a name
//     or a key part (readers of flags read the literal themselves).
//
// raw may carry JSON white space around the value. Text neither fails nor
// panics, and its result for a number is itself a JSON number with the
// same value; it does not retain raw.
func Text(raw []byte) string {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		if n := len(raw); n >= 2 && raw[n-1] == '"' && plainString(raw[1:n-1]) {
			return strings.TrimSpace(string(raw[1 : n-1])) // nothing to unquote
		}
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case c == '-' || c >= '0' && c <= '9':
		return wholeNumberText(string(raw))
	}
	return "" // true, false, null, objects, lists, invalid input
}

// maxWholeDigits is the longest whole number Text writes out in full when it
// was spelled with a fraction or an exponent.
const maxWholeDigits = 21

// wholeNumberText is Text for a token that starts like a number: "" when it
// is not a valid JSON number.
func wholeNumberText(lit string) string {
	intPart, frac, exp, ok := splitNumber(lit)
	if !ok {
		return ""
	}
	neg := lit[0] == '-'
	if frac == "" && exp == "" {
		if lit == "-0" {
			return "0"
		}
		return lit // an integer literal: JSON allows no leading zeros, so it is canonical
	}
	// The value is ±digits × 10^e10, exactly.
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return "0"
	}
	trimmed := strings.TrimRight(digits, "0")
	e10, ok := exponent(exp)
	if !ok {
		return lit // an exponent too large to write out
	}
	e10 += int64(len(digits)-len(trimmed)) - int64(len(frac))
	if e10 < 0 || int64(len(trimmed))+e10 > maxWholeDigits {
		return lit
	}
	var b strings.Builder
	b.Grow(maxWholeDigits + 1)
	if neg {
		b.WriteByte('-')
	}
	b.WriteString(trimmed)
	for range e10 {
		b.WriteByte('0')
	}
	return b.String()
}

// splitNumber splits a JSON number literal, -?int(.frac)?([eE][+-]?digits)?,
// into its integer digits, fraction digits and exponent (with its sign, no
// letter); ok is false when lit is not one.
func splitNumber(lit string) (intPart, frac, exp string, ok bool) {
	s := strings.TrimPrefix(lit, "-")
	i := digitRun(s)
	if i == 0 || s[0] == '0' && i > 1 {
		return "", "", "", false
	}
	intPart, s = s[:i], s[i:]
	if strings.HasPrefix(s, ".") {
		j := digitRun(s[1:])
		if j == 0 {
			return "", "", "", false
		}
		frac, s = s[1:1+j], s[1+j:]
	}
	if s != "" && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		sign := ""
		if s != "" && (s[0] == '+' || s[0] == '-') {
			sign, s = s[:1], s[1:]
		}
		j := digitRun(s)
		if j == 0 {
			return "", "", "", false
		}
		exp, s = sign+s[:j], s[j:]
	}
	return intPart, frac, exp, s == ""
}

func digitRun(s string) int {
	i := 0
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i
}

// exponent reads a signed decimal exponent; ok is false when its magnitude
// is beyond any number Text writes out ("" is 0).
func exponent(s string) (int64, bool) {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimLeft(strings.TrimLeft(s, "+-"), "0")
	if len(s) > 9 {
		return 0, false
	}
	var v int64
	for i := 0; i < len(s); i++ {
		v = v*10 + int64(s[i]-'0')
	}
	if neg {
		v = -v
	}
	return v, true
}

// plainString reports whether body, the inside of a JSON string, needs no
// unquoting: no escape, no quote, no control character, valid UTF-8.
func plainString(body []byte) bool {
	for _, c := range body {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
	}
	return utf8.Valid(body)
}

// trimJSONSpace removes the white space JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	isSpace := func(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }
	for len(b) > 0 && isSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && isSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

// Missing reports whether s, a scalar's text, stands for no value: empty, or
// one of the sentinels tenants send (N/A, NA, UNKNOWN, NONE, NULL, -), in any
// case and with surrounding white space.
func Missing(s string) bool {
	switch strings.ToUpper(strings.TrimSpace(s)) {
	case "", "N/A", "NA", "UNKNOWN", "NONE", "NULL", "-":
		return true
	}
	return false
}

// Severity normalises an incident or alert severity: trimmed and
// lower-cased, with the "SEV_040_" style prefix some alert sources use
// removed, so "SEV_040_HIGH", " High" and "high" all read as "high". A value
// that is Missing ("unknown" among them) reads as "". Words it does not know
// are kept (lower-cased): it names, it does not rank. It is the one severity
// reading: the enrichment queue ranks by it and the output profiles map it.
func Severity(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(s, "sev_"); ok {
		if _, name, ok := strings.Cut(rest, "_"); ok {
			s = name
		}
	}
	if Missing(s) {
		return ""
	}
	return s
}
