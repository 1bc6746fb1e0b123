package xdrview

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// FuzzNewMatchesTheDecoder: whatever the object, a View holds the members
// json.Unmarshal finds, each value byte for byte, and refuses what it
// refuses; the text of a string member reads as the decoder reads it.
func FuzzNewMatchesTheDecoder(f *testing.F) {
	for _, seed := range []string{
		`{}`, ` { "a" : 1 , "b":"x" } `, `{"a":{"b":[1,{"c":"}"}]},"d":null}`, `{"k\u00e9y":"v","a":"\"q\"","a":2}`,
		`{"s":"tab\tx"}`, `{"s":"caf\u00e9 \\ /"}`, `[1]`, `{"a":}`, `{"a":1,}`, `{"a":tru}`, "{\"s\":\"\xff\"}",
	} {
		f.Add([]byte(seed))
	}
	if files, _ := filepath.Glob("../../xdr/testdata/*.json"); len(files) > 0 {
		for _, p := range files {
			if b, err := os.ReadFile(p); err == nil {
				f.Add(b)
			}
		}
	}
	f.Fuzz(func(t *testing.T, raw []byte) {
		var decoded View
		derr := decoded.ResetDecoded(raw) // never panics, whatever raw is
		v, err := New(raw)
		if err == nil && (derr != nil || len(decoded.fields) != len(v.fields)) {
			t.Fatalf("ResetDecoded(%q): %v, %d members; New finds %d", raw, derr, len(decoded.fields), len(v.fields))
		}
		var want map[string]json.RawMessage
		werr := json.Unmarshal(bytes.TrimSpace(raw), &want)
		if t := bytes.TrimSpace(raw); werr == nil && (len(t) == 0 || t[0] != '{') {
			werr = ErrNotObject // null decodes to a nil map without error
		}
		if (err != nil) != (werr != nil) {
			t.Fatalf("New(%q): error %v, the decoder's %v", raw, err, werr)
		}
		if err != nil {
			return
		}
		if len(v.fields) != len(want) {
			t.Fatalf("New(%q): %d members, the decoder finds %d", raw, len(v.fields), len(want))
		}
		for k, w := range want {
			f := v.get(k)
			var got []byte
			if f != nil {
				got = f.val
			}
			if f == nil || !bytes.Equal(got, w) {
				t.Fatalf("New(%q): member %q is %q, the decoder's %q", raw, k, got, w)
			}
			var s string
			if json.Unmarshal(w, &s) == nil && v.scalarText(got) != trim(s) {
				t.Fatalf("New(%q): text of %q is %q, the decoder reads %q", raw, k, v.scalarText(got), s)
			}
		}
	})
}

func trim(s string) string { return string(bytes.TrimSpace([]byte(s))) }
