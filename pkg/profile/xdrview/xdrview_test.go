package xdrview

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
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
			if json.Unmarshal(w, &s) == nil && xdr.Text(got) != trim(s) {
				t.Fatalf("New(%q): text of %q is %q, the decoder reads %q", raw, k, xdr.Text(got), s)
			}
			if a, b := v.scalarText(got), xdr.Text(got); a != b {
				t.Fatalf("New(%q): the View reads %q as %q, xdr.Text as %q", raw, k, a, b)
			}
		}
	})
}

func trim(s string) string { return string(bytes.TrimSpace([]byte(s))) }

// FuzzScalarTextIsXDRText: the View's fast reading of a scalar returns byte
// for byte what xdr.Text returns, whatever the input (valid JSON or not),
// with or without a View, and a string it unquoted into the View's buffer
// stays as it was when the buffer is written again; a field reads through
// Scalar as xdr.Text reads its value. Missing and Severity are xdr's.
func FuzzScalarTextIsXDRText(f *testing.F) {
	for _, s := range []string{`"891"`, `891`, `891.0`, `8.91e2`, `-0`, `-05`, `05`, `0`, `-7`, `0.0`, `1e21`, `1e22`, `1.5`,
		`true`, `false`, `null`, `{}`, `[1]`, `" x "`, "\t\"x\"\n", "\v\"x\"", `"a\"b"`, `"a"b"`, `"tab\tx"`, "\"ctl\x01\"",
		`"\u00e9"`, `"\ud800"`, "\"\xff\"", `"a\\b\/c\n"`, `"a\x"`, `"a\"`, `"`, `+1`, `.5`, `1e-400`, `"N/A"`, `" SEV_040_HIGH "`,
		`UNKNOWN`, "UN\u212aNOWN", `nı`} {
		f.Add([]byte(s))
	}
	var v View // one View for every input: its buffer only grows
	f.Fuzz(func(t *testing.T, raw []byte) {
		want := xdr.Text(raw)
		if got := (*View)(nil).scalarText(raw); got != want {
			t.Fatalf("scalarText(%q) without a View = %q, xdr.Text %q", raw, got, want)
		}
		got := v.scalarText(raw)
		if got != want {
			t.Fatalf("scalarText(%q) = %q, xdr.Text %q", raw, got, want)
		}
		keep := strings.Clone(got)
		if again := v.scalarText(raw); again != want || got != keep {
			t.Fatalf("scalarText(%q) again = %q, the first reading now %q, want %q", raw, again, got, want)
		}
		if json.Valid(raw) && !bytes.HasPrefix(bytes.TrimSpace(raw), []byte("[")) {
			obj, err := New([]byte(`{"a":` + string(raw) + `}`))
			if err != nil {
				t.Fatal(err)
			}
			if got := obj.Scalar("a"); got != want {
				t.Fatalf("Scalar of %q = %q, xdr.Text %q", raw, got, want)
			}
		}
		s := string(raw)
		if got, want := Missing(s), xdr.Missing(s); got != want {
			t.Fatalf("Missing(%q) = %v, xdr.Missing %v", s, got, want)
		}
		if got, want := Severity(s), xdr.Severity(s); got != want {
			t.Fatalf("Severity(%q) = %q, xdr.Severity %q", s, got, want)
		}
	})
}

// FuzzLowerIsToLower: Lower and TextLower read as strings.ToLower, and a
// lower-cased field stays what it was when the View moves to another
// object and lower-cases that one's.
func FuzzLowerIsToLower(f *testing.F) {
	for _, s := range []string{"", "abc", "ABCDEF0123", "MiXeD-Case_1", "ÉCOLE", "\xffA", "İ"} {
		f.Add(s, "D41D8CD98F00B204E9800998ECF8427E")
	}
	f.Fuzz(func(t *testing.T, s, other string) {
		var v View
		if got := v.Lower(s); got != strings.ToLower(s) {
			t.Fatalf("Lower(%q) = %q, want %q", s, got, strings.ToLower(s))
		}
		raw, _ := json.Marshal(map[string]string{"h": s})
		if err := v.Reset(raw); err != nil {
			t.Fatal(err)
		}
		first, want1 := v.TextLower("h"), strings.ToLower(v.Text("h"))
		if first != want1 || v.TextLower("h") != want1 {
			t.Fatalf("TextLower of %s = %q, want %q", raw, first, want1)
		}
		raw2, _ := json.Marshal(map[string]string{"h": other})
		if err := v.Reset(raw2); err != nil {
			t.Fatal(err)
		}
		if want := strings.ToLower(v.Text("h")); v.TextLower("h") != want {
			t.Fatalf("TextLower of %s after another object = %q, want %q", raw2, v.TextLower("h"), want)
		}
		if first != want1 {
			t.Fatalf("the first object's lower-cased text changed to %q, want %q", first, want1)
		}
	})
}

// FuzzAppendRestIsEncodingJSON: the rest of an object is written as
// encoding/json writes the map Rest returns (HTML escaping off): keys
// sorted and escaped where they need it, values compacted, whatever the
// object's spacing, key spelling and values.
func FuzzAppendRestIsEncodingJSON(f *testing.F) {
	for _, seed := range []string{
		`{"b": 1, "a" : { "x" : [ 1 , 2 ] }, "c":"s p a c e d", "d":null}`,
		"{\"k\u00e9y\":\"v\",\"\u2028\":[ ],\"tab\":\"\\t\",\"n\":-1.5e3}",
		`{"a\u0041":1,"<&>":"<&>","e":{ }}`, `{}`, `{"used":1}`,
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		v, err := New(json.RawMessage(raw))
		if err != nil {
			return
		}
		v.Use("used")
		var want bytes.Buffer
		enc := json.NewEncoder(&want)
		enc.SetEscapeHTML(false)
		rest := v.Rest()
		if rest == nil {
			rest = map[string]json.RawMessage{}
		}
		if err := enc.Encode(rest); err != nil {
			t.Fatal(err)
		}
		var w jsonw.Writer
		if n := v.AppendRest(&w); n != len(rest) {
			t.Fatalf("AppendRest wrote %d members, Rest has %d", n, len(rest))
		}
		if len(rest) == 0 {
			w.B = append(w.B, "{}"...)
		}
		if got := strings.TrimSuffix(want.String(), "\n"); string(w.B) != got {
			t.Fatalf("AppendRest of %s\n= %s\nencoding/json: %s", raw, w.B, got)
		}
	})
}

// FuzzResetIsNew: a View reset to an object reads it as a new View of it
// does, whatever object it held before: members, their order and values,
// lookups, texts and the rest it writes. Each object is also read after one
// with the same keys in the same order and other values (the View then
// keeps its index), and after itself.
// sameAsNew fails t unless got, a reused View, reads raw as want, a new
// View of it, does: its members, their texts and its rest.
func sameAsNew(t *testing.T, label string, got, want *View, raw string) {
	t.Helper()
	if len(got.fields) != len(want.fields) {
		t.Fatalf("%s %s: %d members, a new View %d", label, raw, len(got.fields), len(want.fields))
	}
	for _, w := range want.fields {
		// (A key with an escape is read through a map, in no order.)
		g := got.get(w.key)
		if g == nil || !bytes.Equal(g.val, w.val) || g.plainKey != w.plainKey {
			t.Fatalf("%s %s: member %q is %+v, a new View's %+v", label, raw, w.key, g, w)
		}
		if a, b := got.Text(w.key), want.Text(w.key); a != b {
			t.Fatalf("%s %s: text of %q is %q, a new View's %q", label, raw, w.key, a, b)
		}
	}
	got.Use("a")
	want.Use("a")
	var gw, ww jsonw.Writer
	if gn, wn := got.AppendRest(&gw), want.AppendRest(&ww); gn != wn || !bytes.Equal(gw.B, ww.B) {
		t.Fatalf("%s %s: rest %s (%d), a new View's %s (%d)", label, raw, gw.B, gn, ww.B, wn)
	}
}

// readAll reads every member of v and writes its rest, as a mapping does.
func readAll(v *View) {
	for _, fl := range v.fields {
		v.Text(fl.key)
	}
	v.Use("b")
	var w jsonw.Writer
	v.AppendRest(&w)
}

func FuzzResetIsNew(f *testing.F) {
	for _, seed := range [][2]string{
		{`{"a":1,"b":"x"}`, `{"a":2,"b":"y"}`}, {`{"a":1,"b":"x"}`, `{"a":1}`}, {`{"a":1}`, `{"a":1,"b":2}`},
		{`{"a":1,"b":2}`, `{"b":1,"a":2}`}, {`{"a":1,"a":2}`, `{"a":3,"a":4}`}, {`{"a":1,"b":2}`, `{"a":1,"b":2,"a":3}`},
		{`{"a":1}`, `{"a\u0041":1}`}, {`{"k":1}`, `[1]`}, {`{"<>":1,"b":null}`, `{"<>":"x","b":null}`},
	} {
		f.Add(seed[0], seed[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		var v View
		// Every object is copied into one buffer, as a caller decoding
		// each into the same json.RawMessage has it: the bytes of the
		// object before become the next one's.
		var buf []byte
		into := func(s string) json.RawMessage { buf = append(buf[:0], s...); return buf }
		if v.Reset(into(a)) == nil {
			readAll(&v)
		}
		fresh, err := New(json.RawMessage(b))
		if rerr := v.Reset(into(b)); (rerr != nil) != (err != nil) {
			t.Fatalf("Reset(%s) after %s: error %v, New's %v", b, a, rerr, err)
		}
		if err != nil {
			return
		}
		sameAsNew(t, "after "+a+":", &v, fresh, b)
		// The same keys in the same order, other values.
		var other strings.Builder
		other.WriteString("{")
		for i, fl := range v.fields {
			if i > 0 {
				other.WriteString(",")
			}
			k, _ := json.Marshal(fl.key)
			fmt.Fprintf(&other, `%s:"v%d"`, k, i)
		}
		other.WriteString("}")
		b2 := other.String()
		readAll(&v)
		if err := v.Reset(into(b2)); err != nil {
			t.Fatalf("Reset(%s): %v", b2, err)
		}
		fresh2, err := New(json.RawMessage(b2))
		if err != nil {
			t.Fatal(err)
		}
		sameAsNew(t, "after "+b+":", &v, fresh2, b2)
		if err := v.Reset(into(b2)); err != nil {
			t.Fatal(err)
		}
		fresh2, _ = New(json.RawMessage(b2))
		sameAsNew(t, "after itself:", &v, fresh2, b2)
	})
}

// FuzzShapesInTurn: a View that reads objects of a few shapes in any order
// (each copied into one buffer, the bytes of the object before becoming
// the next one's) reads each as a new View does, whichever of its kept
// shapes the object has, or none: objects of more shapes than a View
// keeps, objects whose keys begin or end as another's, repeated keys.
func FuzzShapesInTurn(f *testing.F) {
	for _, seed := range []struct{ a, b, c, order string }{
		{`{"a":1,"b":2,"c":3}`, `{"a":1,"b":2}`, `{"a":1,"c":2,"b":3}`, "\x00\x01\x02\x00\x03\x04\x05\x00\x06\x07\x01"},
		{`{"x":1,"y":[1,{"z":2}]}`, `{}`, `{"x":null,"x":2}`, "\x00\x01\x00\x02\x00\x02\x02\x05\x08"},
		{`{"<>":"v","b":"N/A"}`, `{"<>":1}`, `{"b":"x","<>":2}`, "\x02\x01\x00\x03\x06\x00\x01\x02\x03\x04\x05\x06\x07\x08"},
		{`{"a\u0041":1,"b":2}`, `{"a":1,"b":2}`, `[1]`, "\x00\x01\x00\x01\x02\x01"},
	} {
		f.Add(seed.a, seed.b, seed.c, []byte(seed.order))
	}
	f.Fuzz(func(t *testing.T, a, b, c string, order []byte) {
		if len(order) > 64 {
			order = order[:64]
		}
		// The objects: the three, and for each one that is an object,
		// its keys with other values, its first keys, and its keys with
		// one more.
		objs := []string{a, b, c}
		for _, o := range []string{a, b, c} {
			var keys []string
			dec := json.NewDecoder(strings.NewReader(o))
			if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
				continue
			}
			for dec.More() {
				tok, err := dec.Token()
				if err != nil {
					break
				}
				keys = append(keys, tok.(string))
				var skip json.RawMessage
				if dec.Decode(&skip) != nil {
					break
				}
			}
			objs = append(objs, object(keys, "w"), object(keys[:len(keys)/2], "p"), object(append(keys[:len(keys):len(keys)], "more"), "m"))
		}
		var v View
		var buf []byte
		for step, pick := range order {
			raw := objs[int(pick)%len(objs)]
			buf = append(buf[:0], raw...)
			fresh, err := New(json.RawMessage(raw))
			if rerr := v.Reset(buf); (rerr != nil) != (err != nil) {
				t.Fatalf("step %d: Reset(%s): error %v, New's %v", step, raw, rerr, err)
			}
			if err != nil {
				continue
			}
			sameAsNew(t, fmt.Sprintf("step %d:", step), &v, fresh, raw)
			readAll(&v)
		}
		if len(v.shapes) > maxShapes {
			t.Fatalf("the View keeps %d shapes, at most %d", len(v.shapes), maxShapes)
		}
	})
}

// object returns a JSON object of keys, in order, each with a string
// value made of tag and its place.
func object(keys []string, tag string) string {
	var b strings.Builder
	b.WriteString("{")
	for i, k := range keys {
		if i > 0 {
			b.WriteString(",")
		}
		q, _ := json.Marshal(k)
		fmt.Fprintf(&b, `%s:"%s%d"`, q, tag, i)
	}
	b.WriteString("}")
	return b.String()
}
