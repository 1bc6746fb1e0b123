package jsonw

import (
	"bytes"
	"encoding/json"
	"testing"
)

// FuzzStringMatchesEncodingJSON: a string is written as encoding/json
// writes it with HTML escaping off, control characters (\b and \f among
// them), invalid UTF-8 and U+2028 included.
func FuzzStringMatchesEncodingJSON(f *testing.F) {
	for _, s := range []string{"", "plain", "0\f0", "\b", "a\\u000cb\f", "tab\tnl\n\x01", "<&>", "\u2028", "caf\xc3", "\"q\""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		var b bytes.Buffer
		enc := json.NewEncoder(&b)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(s); err != nil {
			t.Fatal(err)
		}
		want := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
		var w Writer
		w.String(s)
		if !bytes.Equal(w.B, want) {
			t.Fatalf("String(%q) = %s, encoding/json %s", s, w.B, want)
		}
	})
}

// plainByByte is Plain one byte at a time, the rule it must keep.
func plainByByte(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x80 || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// TestPlainFindsEachSpecialByteAnywhere puts every byte value at every
// position of strings of 1 to 24 printable bytes (around the eight-byte
// steps), beside neighbours that make the word tests borrow.
func TestPlainFindsEachSpecialByteAnywhere(t *testing.T) {
	for _, fill := range []byte{' ', '!', '#', '[', ']', '~', 'a'} {
		for n := 1; n <= 24; n++ {
			for pos := range n {
				for c := range 256 {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(c)
					if got, want := Plain(string(b)), plainByByte(string(b)); got != want {
						t.Fatalf("Plain(%q) = %v, want %v", b, got, want)
					}
				}
			}
		}
	}
}

// FuzzPlainMatchesByteRule: Plain says what the byte-at-a-time rule says.
func FuzzPlainMatchesByteRule(f *testing.F) {
	for _, s := range []string{"", "plain text of some length", "0123456\x1f", "01234567\"", "\\", "é", "\x7f\x80"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if got, want := Plain(s), plainByByte(s); got != want {
			t.Fatalf("Plain(%q) = %v, want %v", s, got, want)
		}
	})
}

// FuzzRawListMatchesMarshal: RawList returns json.Marshal's bytes for a
// list of valid JSON values, whatever their spacing and contents.
func FuzzRawListMatchesMarshal(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2], "b" : "x y"}`, `"<tag>&"`, "\"\u2028\"", ` 12 `, `null`, `[ {"k":"\n"} ]`} {
		f.Add(s, `{"c":true}`)
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var items []json.RawMessage
		for _, s := range []string{a, b, a} {
			if json.Valid([]byte(s)) {
				items = append(items, json.RawMessage(s))
			}
		}
		want, err := json.Marshal(items)
		if err != nil {
			t.Fatal(err)
		}
		if got := RawList(items); !bytes.Equal(got, want) {
			t.Fatalf("RawList(%q) = %s, json.Marshal %s", items, got, want)
		}
		if got := RawList(nil); string(got) != "null" {
			t.Fatalf("RawList(nil) = %s", got)
		}
	})
}

// TestHTMLSpecialFindsEachByteAnywhere puts every byte value at every
// position of 1 to 24 bytes, beside neighbours one above and below the
// bytes it looks for (which make the word tests borrow), and holds
// htmlSpecial to its byte rule.
func TestHTMLSpecialFindsEachByteAnywhere(t *testing.T) {
	byByte := func(b []byte) bool {
		for _, c := range b {
			if c == '<' || c == '>' || c == '&' || c == 0xE2 {
				return true
			}
		}
		return false
	}
	for _, fill := range []byte{'%', '\'', ';', '=', '?', 0xE1, 0xE3, 0xFF, 0} {
		for n := 1; n <= 24; n++ {
			for pos := range n {
				for c := range 256 {
					b := bytes.Repeat([]byte{fill}, n)
					b[pos] = byte(c)
					if got, want := htmlSpecial(b), byByte(b); got != want {
						t.Fatalf("htmlSpecial(%q) = %v, want %v", b, got, want)
					}
				}
			}
		}
	}
}

// FuzzAppendCompactMatchesCompact: AppendCompact writes what json.Compact
// writes for a valid JSON value, escaped quotes and runs of backslashes in
// its strings included.
func FuzzAppendCompactMatchesCompact(f *testing.F) {
	for _, s := range []string{`{"a": [1, 2], "b" : "x y"}`, `"a\\" `, `" \" \\\" "`, "[ \"\\\\\\\\\" , \t\n{ } ]", ` 12 `, `"é \u2028"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if !json.Valid([]byte(s)) {
			return
		}
		var want bytes.Buffer
		if err := json.Compact(&want, []byte(s)); err != nil {
			t.Fatal(err)
		}
		if got := AppendCompact([]byte("x"), []byte(s)); !bytes.Equal(got[1:], want.Bytes()) || got[0] != 'x' {
			t.Fatalf("AppendCompact(%q) = %q, json.Compact %q", s, got, want.Bytes())
		}
	})
}
