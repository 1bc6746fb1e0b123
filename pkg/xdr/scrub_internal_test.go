package xdr

import (
	"bytes"
	"fmt"
	"slices"
	"testing"
	"unicode/utf8"
)

// BenchmarkReplyKeyCheck is the cost of the check every successful reply
// goes through: a 4 MB body (about a 1,000-alert extra-data reply) with no
// echo, against a 64-character base64 key.
func BenchmarkReplyKeyCheck(b *testing.B) {
	sc := newScrubber("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4sq2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s")
	body := bytes.Repeat([]byte(`{"alert_id":"123456","description":"Suspicious process execution by svc_backup","host_ip":["10.0.0.1"]},`), 4<<20/106)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, n := sc.reply(body); n != 0 {
			b.Fatal(n)
		}
	}
}

// Every form reply looks for holds the anchor, so a body without the
// anchor cannot hold a form; a key without a long enough run is checked
// form by form.
func TestReplyAnchor(t *testing.T) {
	for _, key := range []string{"q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s", "0123456789abcdef0123456789abcdef", "ab/cd/ef+gh=ij/kl/mn", "a-b_c.d~e"} {
		sc := newScrubber(key)
		for _, a := range sc.anchors {
			for _, f := range escapedForms(key) {
				if !bytes.Contains(f, a) {
					t.Errorf("key %q: form %q lacks the anchor %q", key, f, a)
				}
			}
		}
		for _, f := range escapedForms(key) {
			body := []byte(`{"note":"` + string(f) + `"}`)
			if out, n := sc.reply(body); n != 1 || bytes.Contains(out, []byte(key)) {
				t.Errorf("key %q: form %q: %d replaced, body %s", key, f, n, out)
			}
		}
	}
	if a := anchorOf("ab/cd/ef+gh=ij/kl/mn", 0, 20); a != nil {
		t.Errorf("anchor %q of a key without a run of %d", a, minAnchor)
	}
	// Of the runs long enough, the one starting with the rarest character.
	if a := string(anchorOf("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s", 0, 32)); a != "Wc3Ne7" {
		t.Errorf("anchor %q, want Wc3Ne7", a)
	}
}

// BenchmarkErrorScrub is the cost of scrubbing a whole 64 KiB error body
// (the most that is read of one) full of escapes, which every decoding
// level walks.
func BenchmarkErrorScrub(b *testing.B) {
	sc := newScrubber("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4sq2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s")
	body := bytes.Repeat([]byte(`{"err_msg":"a \"quoted\" path C:\\\\tmp\\\\x &amp;&#47; 100%25 done"},`), 64<<10/64)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		sc.bytes(body)
	}
}

// CharEncodings spell one character the ways a server (or a proxy, or a
// JSON string inside JSON) may echo it. Each is valid inside a JSON string.
// The scrubber's tests, inside and outside the package, draw on this one
// list.
var CharEncodings = []func(c byte) string{
	func(c byte) string { return string(c) },
	func(c byte) string {
		if c == '/' {
			return `\/`
		}
		return string(c)
	},
	func(c byte) string { return fmt.Sprintf(`\u%04x`, c) },
	func(c byte) string { return fmt.Sprintf(`\u%04X`, c) },
	func(c byte) string { return fmt.Sprintf("%%%02X", c) },
	func(c byte) string { return fmt.Sprintf("%%%02x", c) },
	func(c byte) string { return fmt.Sprintf("&#%d;", c) },
	func(c byte) string { return fmt.Sprintf("&#x%x;", c) },
	func(c byte) string { return fmt.Sprintf("&#x%02X;", c) },
	func(c byte) string { return fmt.Sprintf("&#%d", c) },
	func(c byte) string {
		switch c {
		case '/':
			return "&sol;"
		case '+':
			return "&plus;"
		case '=':
			return "&equals;"
		case '_':
			return "&lowbar;"
		case '.':
			return "&period;"
		}
		return string(c)
	},
	func(c byte) string { return fmt.Sprintf(`\\u%04x`, c) }, // JSON in JSON
	func(c byte) string {
		if c == '/' {
			return `\\\/`
		}
		return string(c)
	},
	func(c byte) string {
		if c == '/' {
			return `\\/`
		}
		return string(c)
	},
	func(c byte) string { return fmt.Sprintf("%%25%02X", c) },    // percent-encoded twice
	func(c byte) string { return fmt.Sprintf("&amp;#%d;", c) },   // HTML-escaped twice
	func(c byte) string { return fmt.Sprintf(`\u0026#%d;`, c) },  // an entity, JSON-escaped
	func(c byte) string { return fmt.Sprintf(`\u0025%02X`, c) },  // a percent escape, JSON-escaped
	func(c byte) string { return fmt.Sprintf("&#x5C;u%04x", c) }, // a JSON escape, HTML-escaped
}

// escapedForms returns the key as it is and spelled with each of
// CharEncodings for the characters that are not letters or digits (in a
// base64 key: / + =), as a server most likely echoes it. Duplicates are
// dropped; the longest form comes first.
func escapedForms(key string) [][]byte {
	var out [][]byte
	for _, enc := range CharEncodings {
		var b []byte
		for j := 0; j < len(key); j++ {
			if c := key[j]; isAlnum(c) || c >= utf8.RuneSelf {
				b = append(b, c)
			} else {
				b = append(b, enc(c)...)
			}
		}
		if !slices.ContainsFunc(out, func(f []byte) bool { return bytes.Equal(f, b) }) {
			out = append(out, b)
		}
	}
	slices.SortStableFunc(out, func(a, b []byte) int { return len(b) - len(a) })
	return out
}

// TestReplyLooksOnlyAroundSignsOfTheKey: a reply is searched thoroughly
// only around a sign of the key. A literal \u0065 in a string (written
// \\u0065, as obfuscated command lines carry it) is no sign; a real \u0065
// escape of one of the key's letters is; an echo with one letter escaped in
// the middle of a large body is scrubbed, and the rest of the body is left
// byte for byte.
func TestReplyLooksOnlyAroundSignsOfTheKey(t *testing.T) {
	const key = "q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s"
	sc := newScrubber(key)
	filler := bytes.Repeat([]byte(`{"alert_id":"123456","cmd":"powershell -enc SQBFAFgA","host_ip":["10.0.0.1"]},`), 1<<20/80)
	literal := append(append([]byte(nil), filler...), []byte(`{"cmd":"var s = '\\u0065\\u0076al' \\\\\\u0061"}`)...)
	if w := sc.windows(literal); len(w) != 0 {
		t.Errorf("a body whose only \\u escapes are escaped backslashes has windows %v", w)
	}
	escaped := []byte(`{"cmd":"\u0065"}`)
	if w := sc.windows(escaped); len(w) != 1 {
		t.Errorf("a \\u0065 escape of a letter of the key: windows %v, want one", w)
	}
	echo := `\u0071` + key[1:]
	body := append(append(append([]byte(nil), filler...), []byte(`{"note":"auth `+echo+`"},`)...), filler...)
	out, n := sc.reply(body)
	want := append(append(append([]byte(nil), filler...), []byte(`{"note":"auth [REDACTED]"},`)...), filler...)
	if n != 1 || !bytes.Equal(out, want) {
		t.Errorf("echo in the middle of %d bytes: %d replaced, body changed elsewhere or kept the echo: %v", len(body), n, bytes.Contains(out, []byte(key[1:])))
	}
}

// BenchmarkReplyWithEscapedBackslashes is the check of a 4 MB reply whose
// alerts carry literal \u escapes (obfuscated scripts), with no echo.
func BenchmarkReplyWithEscapedBackslashes(b *testing.B) {
	sc := newScrubber("q2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4sq2Lm/Zx+9VbR/tY0aWc3Ne7=Hf/KpD4s")
	body := bytes.Repeat([]byte(`{"alert_id":"123456","cmd":"var s = '\\u0065\\u0076al'","host_ip":["10.0.0.1"]},`), 4<<20/84)
	b.SetBytes(int64(len(body)))
	for b.Loop() {
		if _, n := sc.reply(body); n != 0 {
			b.Fatal(n)
		}
	}
}
