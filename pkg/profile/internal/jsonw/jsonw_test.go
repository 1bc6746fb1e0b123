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
