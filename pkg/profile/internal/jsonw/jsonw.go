// Package jsonw appends JSON to a byte slice, value by value, as
// encoding/json would encode the same values with HTML escaping off: the
// output profiles write their documents with it instead of building maps
// and encoding them through reflection.
package jsonw

import (
	"bytes"
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

// Writer appends one JSON document to B. It places the commas: each value
// (or key) after the first of an object or list is preceded by one. The
// zero value writes a document from the start of B.
type Writer struct {
	B     []byte
	comma bool // a value was written at this level: the next needs a comma
}

// Mark is a position of a Writer to go back to (see Back).
type Mark struct {
	n     int
	comma bool
}

// Mark returns the current position.
func (w *Writer) Mark() Mark { return Mark{len(w.B), w.comma} }

// Back drops what was written since m.
func (w *Writer) Back(m Mark) { w.B, w.comma = w.B[:m.n], m.comma }

func (w *Writer) sep() {
	if w.comma {
		w.B = append(w.B, ',')
	}
}

// Key writes an object key. k is written as it is: it must need no
// escaping (the profiles' own field names); see QuotedKey for others.
func (w *Writer) Key(k string) {
	b := w.B
	if w.comma {
		b = append(b, ',', '"')
	} else {
		b = append(b, '"')
	}
	b = append(b, k...)
	w.B = append(b, '"', ':')
	w.comma = false
}

// QuotedKey writes an object key, escaped as encoding/json escapes it.
func (w *Writer) QuotedKey(k string) {
	w.sep()
	w.B = appendString(w.B, k)
	w.B = append(w.B, ':')
	w.comma = false
}

// Open starts an object, Close ends it; OpenList and CloseList do the same
// for a list.
func (w *Writer) Open()      { w.open('{') }
func (w *Writer) Close()     { w.close('}') }
func (w *Writer) OpenList()  { w.open('[') }
func (w *Writer) CloseList() { w.close(']') }

// OpenKey writes the key k and starts its object; OpenListKey its list.
func (w *Writer) OpenKey(k string)     { w.Key(k); w.Open() }
func (w *Writer) OpenListKey(k string) { w.Key(k); w.OpenList() }

func (w *Writer) open(c byte) {
	w.sep()
	w.B = append(w.B, c)
	w.comma = false
}

func (w *Writer) close(c byte) {
	w.B = append(w.B, c)
	w.comma = true
}

// String writes a string value.
func (w *Writer) String(s string) {
	w.sep()
	w.B = appendString(w.B, s)
	w.comma = true
}

// Int writes an integer value.
func (w *Writer) Int(n int64) {
	w.sep()
	w.B = strconv.AppendInt(w.B, n, 10)
	w.comma = true
}

// Bool writes a boolean value.
func (w *Writer) Bool(b bool) {
	w.sep()
	w.B = strconv.AppendBool(w.B, b)
	w.comma = true
}

// Raw writes raw, a valid JSON value, compacted as encoding/json writes a
// json.RawMessage (whitespace outside strings dropped, nothing escaped).
func (w *Writer) Raw(raw []byte) {
	w.sep()
	w.B = AppendCompact(w.B, raw)
	w.comma = true
}

// Value writes bytes already encoded as a JSON value, unchanged.
func (w *Writer) Value(b []byte) {
	w.sep()
	w.B = append(w.B, b...)
	w.comma = true
}

// Str writes the member k: s.
func (w *Writer) Str(k, s string) { w.Key(k); w.String(s) }

// StrOmit writes the member k: s unless s is empty (omitempty).
func (w *Writer) StrOmit(k, s string) {
	if s != "" {
		w.Key(k)
		w.String(s)
	}
}

// StrsOmit writes the members of kv, pairs of a key and its string value,
// each unless its value is empty (StrOmit for each pair).
func (w *Writer) StrsOmit(kv ...string) {
	for i := 0; i+1 < len(kv); i += 2 {
		w.StrOmit(kv[i], kv[i+1])
	}
}

// IntField writes the member k: n.
func (w *Writer) IntField(k string, n int64) { w.Key(k); w.Int(n) }

// IntOmit writes the member k: n unless n is 0 (omitempty).
func (w *Writer) IntOmit(k string, n int64) {
	if n != 0 {
		w.Key(k)
		w.Int(n)
	}
}

// Strings writes the member k: the list of ss, unless ss is empty
// (omitempty).
func (w *Writer) Strings(k string, ss []string) {
	if len(ss) == 0 {
		return
	}
	w.Key(k)
	w.OpenList()
	for _, s := range ss {
		w.String(s)
	}
	w.CloseList()
}

// Plain reports whether s is printable ASCII without a quote or a
// backslash: a string encoding/json writes as it is, between quotes. It
// reads eight bytes at a time.
func Plain(s string) bool {
	i := 0
	for ; i+8 <= len(s); i += 8 {
		x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
			uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
		if special(x) {
			return false
		}
	}
	for ; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

const (
	ones  = 0x0101010101010101
	highs = 0x8080808080808080
)

// special reports whether any byte of x is below 0x20, at or above 0x80, a
// quote or a backslash. Each test says whether some byte matches, exactly
// (the zero-byte test's borrows can only spread above a byte that
// matches).
func special(x uint64) bool {
	quote, backslash := x^(ones*'"'), x^(ones*'\\')
	t := x | (x-ones*0x20) & ^x |
		(quote-ones) & ^quote |
		(backslash-ones) & ^backslash
	return t&highs != 0
}

// AppendCompact appends raw, a valid JSON value, without the whitespace
// outside its strings. A string's end is found with bytes.IndexByte, so a
// long string costs about a copy.
func AppendCompact(b, raw []byte) []byte {
	start := 0
	for i := 0; i < len(raw); i++ {
		switch raw[i] {
		case '"':
			i = StringEnd(raw, i+1)
		case ' ', '\t', '\n', '\r':
			b = append(b, raw[start:i]...)
			start = i + 1
		}
	}
	return append(b, raw[start:]...)
}

// StringEnd returns the index of the quote that ends the string whose
// contents start at raw[i]: the first quote after an even run of
// backslashes (len(raw) when there is none, in bytes that are not valid
// JSON after all).
func StringEnd(raw []byte, i int) int {
	for {
		q := bytes.IndexByte(raw[i:], '"')
		if q < 0 {
			return len(raw)
		}
		q += i
		n := 0
		for n < q-i && raw[q-1-n] == '\\' {
			n++
		}
		if n%2 == 0 {
			return q
		}
		i = q + 1
	}
}

// htmlSpecial reports whether b may hold a character json.Marshal escapes
// in a json.RawMessage: '<', '>', '&', or a 0xE2 byte, which starts U+2028
// and U+2029 (and other characters, which it may then report too). It
// reads eight bytes at a time.
func htmlSpecial(b []byte) bool {
	i := 0
	for ; i+8 <= len(b); i += 8 {
		x := uint64(b[i]) | uint64(b[i+1])<<8 | uint64(b[i+2])<<16 | uint64(b[i+3])<<24 |
			uint64(b[i+4])<<32 | uint64(b[i+5])<<40 | uint64(b[i+6])<<48 | uint64(b[i+7])<<56
		lt, gt, amp, e2 := x^(ones*'<'), x^(ones*'>'), x^(ones*'&'), x^(ones*0xE2)
		if ((lt-ones)&^lt|(gt-ones)&^gt|(amp-ones)&^amp|(e2-ones)&^e2)&highs != 0 {
			return true
		}
	}
	for ; i < len(b); i++ {
		if c := b[i]; c == '<' || c == '>' || c == '&' || c == 0xE2 {
			return true
		}
	}
	return false
}

// RawList returns what json.Marshal returns for items, a list of valid
// JSON values: each compacted, with '<', '>', '&', U+2028 and U+2029
// escaped as json.Marshal escapes them. An item that may have one of those
// (htmlSpecial) is handed to json.Marshal; the others are compacted here,
// without reflection.
func RawList(items []json.RawMessage) json.RawMessage {
	if items == nil {
		return json.RawMessage("null")
	}
	n := 2
	for _, it := range items {
		n += len(it) + 1
	}
	b := make([]byte, 0, n)
	b = append(b, '[')
	for i, it := range items {
		if i > 0 {
			b = append(b, ',')
		}
		if len(it) == 0 {
			b = append(b, "null"...) // as json.Marshal writes a nil RawMessage
			continue
		}
		if htmlSpecial(it) {
			m, err := json.Marshal(it)
			if err != nil {
				return json.RawMessage("null") // not valid JSON after all: as encoding/json fails
			}
			b = append(b, m...)
			continue
		}
		b = AppendCompact(b, it)
	}
	return append(b, ']')
}

// RawMap writes m as encoding/json writes a map[string]json.RawMessage:
// keys sorted, values compacted.
func (w *Writer) RawMap(m map[string]json.RawMessage) {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	w.Open()
	for _, k := range keys {
		w.QuotedKey(k)
		w.Raw(m[k])
	}
	w.Close()
}

// appendString appends s as encoding/json writes a string with HTML
// escaping off: record.AppendString, except that a backspace and a form
// feed are written \b and \f, as encoding/json writes them, where
// record.AppendString (whose native records keep their bytes) writes
// \u0008 and \u000c.
func appendString(b []byte, s string) []byte {
	if Plain(s) { // printable ASCII without a quote or backslash: as it is
		b = append(b, '"')
		b = append(b, s...)
		return append(b, '"')
	}
	if !strings.ContainsAny(s, "\b\f") {
		return record.AppendString(b, s)
	}
	b = append(b, '"')
	for s != "" {
		i := strings.IndexAny(s, "\b\f")
		seg := s
		if i >= 0 {
			seg = s[:i]
		}
		if seg != "" {
			n := len(b)
			b = record.AppendString(b, seg)
			b = append(b[:n], b[n+1:len(b)-1]...) // without its quotes
		}
		if i < 0 {
			break
		}
		if s[i] == '\b' {
			b = append(b, '\\', 'b')
		} else {
			b = append(b, '\\', 'f')
		}
		s = s[i+1:]
	}
	return append(b, '"')
}
