// Package xdrview reads the fields of an XDR API object the way the output
// profiles (OCSF, ECS) need them: by name, tolerantly, with the quirks of
// real tenants smoothed out. It is the one input type those mappings share.
//
// Real tenants send ids as strings or numbers, times as integers, floats or
// numeric strings, "N/A" and "UNKNOWN" where a value is missing, tags as a
// string or a list, IP and MAC lists as comma-joined strings, and booleans as
// false or "No". A View reads each of these the same way for every profile:
// missing values (null, "", and the sentinels) read as absent.
//
// Everything here is pure: no I/O, no clock, no logging.
package xdrview

import (
	"bytes"
	"encoding/json"
	"errors"
	"math"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
	"unsafe"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// ErrNotObject means an API object's bytes are not a JSON object, so no
// field of it can be mapped.
var ErrNotObject = errors.New("not a JSON object")

// View is one API object's fields by name, each as the raw JSON it had. A
// View records which fields a mapping consumed (Use), so that the rest can
// be carried along unchanged (Rest).
//
// A View reads the object's bytes in place: the strings its readers return
// share memory with those bytes, which must not change while the strings
// are in use (the decoder's json.RawMessage never does). Reset reuses a
// View for another object, so that a mapping of many objects allocates
// nothing per object once the View has grown to the largest of them; the
// strings read from the previous object stay valid. A View is not safe for
// concurrent use.
type View struct {
	fields []field
	order  []int32  // scratch of AppendRest
	buf    []byte   // the strings unquoted, appended to only
	items  []string // scratch of the list readers

	// shapes are what the View built for the keys of the last objects it
	// read, the current object's first, the least recently used last; at
	// most maxShapes. An object with the keys of one of them, in the same
	// order (the alerts of a reply mostly are, in a few shapes: one per
	// alert source), reuses its index and sorted order: split compares
	// each key with the shape's at its place instead of entering it in an
	// index again, and AppendRest does not sort again.
	shapes []*shape
}

// maxShapes is how many shapes a View keeps: a reply's alerts come from a
// few sources, each with its own keys.
const maxShapes = 4

// shape is an object's keys and what a View built for them: the index
// from key to position in fields and the positions sorted by key. keys is
// the View's own copy of the keys' bytes: a caller may decode the next
// object into the bytes of the one before.
type shape struct {
	index  index   // key → position in fields
	sorted []int32 // every field, by key: made by the first AppendRest
	keys   []byte  // the keys, one after another
	ends   []int32 // where each key ends in keys
	plain  []bool  // each key needs no escaping (jsonw.Plain)
	ok     bool    // keys, ends and plain hold the object's keys, none repeated: objects may be compared with them
}

// key returns the nth key of s.
func (s *shape) key(n int) []byte {
	lo := int32(0)
	if n > 0 {
		lo = s.ends[n-1]
	}
	return s.keys[lo:s.ends[n]]
}

// cur returns the shape of the current object.
func (v *View) cur() *shape {
	if len(v.shapes) == 0 {
		v.shapes = append(v.shapes, &shape{})
		v.shapes[0].index.reset()
	}
	return v.shapes[0]
}

// promote makes v.shapes[i] the current shape, keeping the others in
// order of use.
func (v *View) promote(i int) {
	if i > 0 {
		s := v.shapes[i]
		copy(v.shapes[1:i+1], v.shapes[:i])
		v.shapes[0] = s
	}
}

// fresh makes the least recently used shape, or a new one while there are
// fewer than maxShapes, the current one, emptied for an object of new keys.
func (v *View) fresh() *shape {
	if len(v.shapes) < maxShapes {
		v.shapes = append(v.shapes, &shape{})
	}
	v.promote(len(v.shapes) - 1)
	s := v.shapes[0]
	s.index.reset()
	s.sorted, s.keys, s.ends, s.plain, s.ok = s.sorted[:0], s.keys[:0], s.ends[:0], s.plain[:0], false
	return s
}

// field is one member of the object.
type field struct {
	key        string // shares memory with the object's bytes, unless it had an escape
	val        []byte // sliced from the object's bytes, trimmed
	used, kept bool
	plainKey   bool // key needs no escaping (jsonw.Plain)

	// The field as Scalar reads it, once read: both profiles read most
	// fields. lower is text lower-cased, once TextLower asked for it.
	read, several, lowered bool
	text, lower            string
}

// New decodes raw, an API object's bytes, into a View. It returns an error
// wrapping ErrNotObject when raw is not a JSON object.
func New(raw json.RawMessage) (*View, error) {
	v := &View{}
	if err := v.Reset(raw); err != nil {
		return nil, err
	}
	return v, nil
}

// Reset makes v the View of raw, as New does, forgetting the previous
// object and every Use and Keep. On error v is empty.
func (v *View) Reset(raw json.RawMessage) error {
	return v.reset(raw, true)
}

// ResetDecoded is Reset for raw that is valid JSON, as a json.RawMessage
// the decoder filled is: it spares checking it again. Invalid JSON makes
// fields of no meaning, never a panic.
func (v *View) ResetDecoded(raw json.RawMessage) error { return v.reset(raw, false) }

func (v *View) reset(raw json.RawMessage, check bool) error {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		v.clear()
		return ErrNotObject
	}
	if check && !json.Valid(raw) {
		v.clear()
		var m map[string]json.RawMessage
		return errors.Join(ErrNotObject, json.Unmarshal(raw, &m))
	}
	if !v.split(raw) {
		// A key with an escape in it: let the decoder unquote it.
		v.clear()
		var m map[string]json.RawMessage
		if err := json.Unmarshal(raw, &m); err != nil {
			return errors.Join(ErrNotObject, err)
		}
		for k, val := range m {
			v.add(k, bytes.TrimSpace(val))
		}
	}
	return nil
}

// clear empties v; the object that follows makes a shape of its own.
func (v *View) clear() {
	v.fields = v.fields[:0]
	v.fresh()
}

// add sets the member key; a later duplicate key wins, as with
// json.Unmarshal.
func (v *View) add(key string, val []byte) {
	x := &v.cur().index
	e := x.find(v.fields, key)
	if e.gen == x.gen {
		f := &v.fields[e.pos]
		f.val, f.read, f.lowered = val, false, false
		return
	}
	*e = entry{gen: x.gen, pos: int32(len(v.fields)), hash: keyHash(key)}
	v.fields = append(v.fields, field{key: key, val: val, plainKey: jsonw.Plain(key)})
	if 2*len(v.fields) > len(x.table) {
		x.grow(v.fields)
	}
}

// get returns the named member.
func (v *View) get(name string) *field {
	x := &v.cur().index
	if e := x.find(v.fields, name); e.gen == x.gen {
		return &v.fields[e.pos]
	}
	return nil
}

// index finds an object's members by key: an open-addressing hash table
// whose hash reads a few bytes of the key, where a map would hash all of
// it. The field names of API objects differ in length or in their last
// and middle bytes. Its entries are stamped with the generation of the
// object they belong to, so that a reset clears nothing.
type index struct {
	table []entry // a power of two long, at most half full
	gen   uint32
}

type entry struct {
	gen  uint32 // the entry is used when it equals index.gen
	pos  int32  // position in the View's fields
	hash uint32 // keyHash of its key: most other keys differ in it
}

func (x *index) reset() {
	x.gen++
	if x.gen == 0 || x.table == nil { // wrapped: every stamp may look current
		x.table = make([]entry, max(len(x.table), 128))
		x.gen = 1
	}
}

// find returns the entry of key: a used one when fields holds key, else
// the unused one where it goes.
func (x *index) find(fields []field, key string) *entry {
	mask := uint32(len(x.table) - 1)
	h := keyHash(key)
	for i := h & mask; ; i = (i + 1) & mask {
		e := &x.table[i]
		if e.gen != x.gen || e.hash == h && fields[e.pos].key == key {
			return e
		}
	}
}

// grow doubles the table and enters fields again.
func (x *index) grow(fields []field) {
	x.table = make([]entry, 2*len(x.table))
	for i := range fields {
		*x.find(fields[:i], fields[i].key) = entry{gen: x.gen, pos: int32(i), hash: keyHash(fields[i].key)}
	}
}

// keyHash mixes the length and the last, middle and first bytes of k.
func keyHash(k string) uint32 {
	n := len(k)
	if n == 0 {
		return 0
	}
	h := uint32(n)*0x9e3779b1 ^ uint32(k[n-1])*0x85ebca6b ^ uint32(k[n/2])*0xc2b2ae35 ^ uint32(k[0])*0x27d4eb2f
	if n >= 3 {
		h ^= uint32(k[n-2])*0x165667b1 ^ uint32(k[n/3])*0xd3a2646c
	}
	return h ^ h>>15
}

// split cuts raw, a valid JSON object, into its members: each key (which
// must hold no escape and be valid UTF-8, or ok is false) and its value's
// bytes, sliced from raw, not copied. When the keys are those of one of
// v's shapes, in the same order, that shape's index and sorted order are
// used as they are; otherwise a shape is made for them.
func (v *View) split(raw []byte) (ok bool) {
	n := 0 // members cut so far
	// like is a shape whose first n keys are those cut so far, at
	// v.shapes[at]; search is whether one may be.
	var like *shape
	at, search := 0, true
	if len(v.shapes) > 0 && v.shapes[0].ok {
		like = v.shapes[0]
	}
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != '}' {
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
			continue
		}
		// A key: raw[i] is its opening quote.
		end := bytes.IndexByte(raw[i+1:], '"')
		if end < 0 {
			return false
		}
		key := raw[i+1 : i+1+end]
		i = skipSpace(raw, i+2+end)
		i = skipSpace(raw, i+1) // the colon
		if i >= len(raw) {
			return false // not valid JSON after all (ResetDecoded): the decoder says why
		}
		start := i
		i = skipValue(raw, i)
		if i < start || i > len(raw) {
			return false
		}
		k := alias(key)
		if search && (like == nil || n >= len(like.ends) || !bytes.Equal(key, like.key(n))) {
			like, at = v.like(n, key, false)
			search = like != nil
		}
		if like != nil {
			// A key of a shape: valid, and plain or not as it was.
			v.fields = append(v.fields[:n], field{key: k, val: raw[start:i], plainKey: like.plain[n]})
		} else {
			if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
				return false
			}
			v.fields = append(v.fields[:n], field{key: k, val: raw[start:i], plainKey: jsonw.Plain(k)})
		}
		n++
		i = skipSpace(raw, i)
	}
	v.fields = v.fields[:n]
	if search && (like == nil || n != len(like.ends)) {
		like, at = v.like(n, nil, true)
	}
	if like != nil && n == len(like.ends) {
		v.promote(at)
		return true
	}
	// New keys: index the members, a repeated key keeping its first place
	// and its last value, as add does.
	s := v.fresh()
	cut := v.fields
	v.fields = v.fields[:0]
	s.ok = true
	for _, f := range cut {
		e := s.index.find(v.fields, f.key)
		if e.gen == s.index.gen {
			v.fields[e.pos].val = f.val
			s.ok = false // a repeat: the next object cannot be compared key by key
			continue
		}
		*e = entry{gen: s.index.gen, pos: int32(len(v.fields)), hash: keyHash(f.key)}
		v.fields = append(v.fields, f)
		if 2*len(v.fields) > len(s.index.table) {
			s.index.grow(v.fields)
		}
	}
	if s.ok {
		for _, f := range v.fields {
			s.keys = append(s.keys, f.key...)
			s.ends = append(s.ends, int32(len(s.keys)))
			s.plain = append(s.plain, f.plainKey)
		}
	}
	return true
}

// like returns a shape of v, and its place, whose first n keys are those
// of v.fields[:n] and whose next is key, or, when last, that has no more;
// nil when none is.
func (v *View) like(n int, key []byte, last bool) (*shape, int) {
	for at, s := range v.shapes {
		switch {
		case !s.ok:
			continue
		case last && len(s.ends) != n:
			continue
		case !last && (n >= len(s.ends) || !bytes.Equal(key, s.key(n))):
			continue
		}
		same := true
		for m := n - 1; m >= 0 && same; m-- {
			same = string(s.key(m)) == v.fields[m].key
		}
		if same {
			return s, at
		}
	}
	return nil, 0
}

// alias returns b as a string sharing its memory; b must not change while
// the string is in use.
func alias(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	return unsafe.String(&b[0], len(b))
}

func skipSpace(b []byte, i int) int {
	for i < len(b) && (b[i] == ' ' || b[i] == '\t' || b[i] == '\n' || b[i] == '\r') {
		i++
	}
	return i
}

// skipValue returns the index just past the valid JSON value at b[i].
func skipValue(b []byte, i int) int {
	depth := 0
	for ; i < len(b); i++ {
		switch b[i] {
		case '"':
			i = jsonw.StringEnd(b, i+1)
			if depth == 0 {
				return i + 1
			}
		case '{', '[':
			depth++
		case '}', ']':
			if depth == 0 {
				return i // the end of the enclosing object
			}
			depth--
			if depth == 0 {
				return i + 1
			}
		case ',':
			if depth == 0 {
				return i
			}
		case ' ', '\t', '\n', '\r':
			if depth == 0 {
				return i
			}
		}
	}
	return i
}

// Use marks the named fields as consumed by the mapping, whether or not they
// are present.
func (v *View) Use(names ...string) {
	for _, n := range names {
		if f := v.get(n); f != nil {
			f.used = true
		}
	}
}

// Unuse takes back Use for the named fields: a mapping that read them but
// had nowhere to put them leaves them to Rest.
func (v *View) Unuse(names ...string) {
	for _, n := range names {
		if f := v.get(n); f != nil {
			f.used = false
		}
	}
}

// ResetUse forgets every Use: Rest then returns every non-null field.
func (v *View) ResetUse() {
	for i := range v.fields {
		v.fields[i].used = false
	}
}

// Forget forgets every Use and Keep, as Reset does, for a second mapping of
// the same object.
func (v *View) Forget() {
	for i := range v.fields {
		v.fields[i].used, v.fields[i].kept = false, false
	}
}

// Raw returns a field's raw JSON and marks it used; nil when absent.
func (v *View) Raw(name string) json.RawMessage {
	f := v.get(name)
	if f == nil {
		return nil
	}
	f.used = true
	return f.val
}

// inRest reports whether Rest returns f.
func (f *field) inRest() bool { return (!f.used || f.kept) && !isNull(f.val) }

// Rest returns the fields not marked used, and those kept (see Keep),
// without those that are null: null carries no value, and the API sends
// many. Nil when none remain.
func (v *View) Rest() map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for i := range v.fields {
		f := &v.fields[i]
		if !f.inRest() {
			continue
		}
		if out == nil {
			out = make(map[string]json.RawMessage, len(v.fields))
		}
		out[f.key] = f.val
	}
	return out
}

// Member is one member of a JSON object: a key and its value's JSON.
type Member struct {
	Key   string
	Value []byte
}

// AppendRest writes the object Rest returns, with the members of extra
// added (replacing a field of the same name), as encoding/json writes a
// map[string]json.RawMessage: keys sorted, values compacted. n is the
// number of members written; with none, w is left as it was and nothing is
// written.
func (v *View) AppendRest(w *jsonw.Writer, extra ...Member) (n int) {
	sh := v.cur()
	if len(sh.sorted) != len(v.fields) { // the first mapping of an object of these keys
		sh.sorted = sh.sorted[:0]
		for i := range v.fields {
			sh.sorted = append(sh.sorted, int32(i))
		}
		slices.SortFunc(sh.sorted, func(a, b int32) int { return strings.Compare(v.fields[a].key, v.fields[b].key) })
	}
	v.order = v.order[:0]
	for _, i := range sh.sorted {
		if v.fields[i].inRest() {
			v.order = append(v.order, i)
		}
	}
	if len(v.order) == 0 && len(extra) == 0 {
		return 0
	}
	slices.SortFunc(extra, func(a, b Member) int { return strings.Compare(a.Key, b.Key) })
	w.Open()
	i, j := 0, 0
	for i < len(v.order) || j < len(extra) {
		var key string
		var val []byte
		plain := false
		switch {
		case j == len(extra) || i < len(v.order) && v.fields[v.order[i]].key < extra[j].Key:
			f := &v.fields[v.order[i]]
			key, val, plain = f.key, f.val, f.plainKey
			i++
		default:
			if i < len(v.order) && v.fields[v.order[i]].key == extra[j].Key {
				i++ // replaced
			}
			key, val = extra[j].Key, extra[j].Value
			j++
		}
		if plain {
			w.Key(key)
		} else {
			w.QuotedKey(key)
		}
		if len(val) > 0 && val[0] != '{' && val[0] != '[' {
			w.Value(val) // a scalar: no whitespace outside its string to drop
		} else {
			w.Raw(val)
		}
		n++
	}
	w.Close()
	return n
}

// Text returns a string or number field as xdr.Text reads it (trimmed; a
// whole number as its integer text, so 891 and 891.0 both read "891"); a
// list reads as its first present value (see lists.go). Booleans, null,
// objects, empty lists and the sentinels (see Missing) read as "".
func (v *View) Text(name string) string {
	s := v.Scalar(name)
	if Missing(s) {
		return ""
	}
	return s
}

// TextLower is strings.ToLower(v.Text(name)), lower-cased once per object
// for every mapping that asks, and into v's buffer, not a new string.
func (v *View) TextLower(name string) string {
	s := v.Text(name)
	if s == "" {
		return ""
	}
	f := v.get(name)
	if !f.lowered {
		f.lower, f.lowered = v.Lower(s), true
	}
	return f.lower
}

// Lower is strings.ToLower(s); an ASCII s with upper-case letters is
// lower-cased into v's buffer, and s without any is returned as it is.
func (v *View) Lower(s string) string {
	upper := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		upper = upper || 'A' <= c && c <= 'Z'
	}
	if !upper {
		return s
	}
	if cap(v.buf)-len(v.buf) < len(s) {
		v.buf = make([]byte, 0, max(4096, len(s)))
	}
	n := len(v.buf)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
		}
		v.buf = append(v.buf, c)
	}
	return alias(v.buf[n:])
}

// Scalar is Text without the sentinels rule: "UNKNOWN" reads as "UNKNOWN".
// It marks the field used, and kept when it is a list of several present
// values (see lists.go).
func (v *View) Scalar(name string) string {
	f := v.get(name)
	if f == nil {
		return ""
	}
	f.used = true
	if !f.read {
		item, several := v.firstOfList(f.val)
		f.text, f.several, f.read = v.scalarText(item), several, true
	}
	if f.several {
		f.kept = true
	}
	return f.text
}

// Int returns an integer field: an integer, an integral float, or a numeric
// string, or a list of one (see lists.go). ok is false when the field is
// absent, null or unreadable.
func (v *View) Int(name string) (n int64, ok bool) {
	return v.parseInt(v.scalar(name))
}

// Time returns a time field in epoch milliseconds, 0 when it is absent,
// unreadable or not positive.
func (v *View) Time(name string) int64 {
	n, ok := v.Int(name)
	if !ok || n <= 0 {
		return 0
	}
	return n
}

// Bool returns a boolean field: true/false, or the strings "true", "yes",
// "false", "no" in any case, or a list of one (see lists.go). ok is false
// otherwise.
func (v *View) Bool(name string) (b, ok bool) {
	raw := bytes.TrimSpace(v.scalar(name))
	switch string(raw) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	s := v.scalarText(raw)
	switch {
	case strings.EqualFold(s, "true"), strings.EqualFold(s, "yes"):
		return true, true
	case strings.EqualFold(s, "false"), strings.EqualFold(s, "no"):
		return false, true
	}
	return false, false
}

// List returns a field that is a string or a list of strings (tags are
// either): each value trimmed, missing values dropped, duplicates removed,
// in their order. Numbers in a list read as their text.
func (v *View) List(name string) []string { return v.AppendList(nil, name) }

// AppendList appends the values List returns to dst (duplicates of what dst
// held before are not dropped).
func (v *View) AppendList(dst []string, name string) []string {
	raw := v.Raw(name)
	n := len(dst)
	add := func(s string) {
		if !Missing(s) && !slices.Contains(dst[n:], s) {
			dst = append(dst, s)
		}
	}
	if len(raw) > 0 && raw[0] == '[' {
		for it := (elems{b: raw}); ; {
			e, ok := it.next()
			if !ok {
				break
			}
			add(v.scalarText(e))
		}
		return dst
	}
	add(v.scalarText(raw))
	return dst
}

// elems walks the elements of a valid JSON list.
type elems struct {
	b []byte
	i int
}

// next returns the next element, trimmed; ok is false after the last.
func (it *elems) next() (e []byte, ok bool) {
	if it.i == 0 {
		it.i = 1 // past the [
	}
	for it.i < len(it.b) {
		switch it.b[it.i] {
		case ' ', '\t', '\n', '\r', ',':
			it.i++
			continue
		case ']':
			it.i = len(it.b)
			return nil, false
		}
		start := it.i
		it.i = skipValue(it.b, it.i)
		return it.b[start:it.i], true
	}
	return nil, false
}

// Split returns a field that holds comma-separated values (host_ip and mac
// do), or a list of such strings, as one list: each value trimmed, missing
// values dropped, duplicates removed.
func (v *View) Split(name string) []string { return v.AppendSplit(nil, name) }

// AppendSplit appends the values Split returns to dst (duplicates of what
// dst held before are not dropped).
func (v *View) AppendSplit(dst []string, name string) []string {
	v.items = v.AppendList(v.items[:0], name)
	n := len(dst)
	for _, s := range v.items {
		for s != "" {
			part, rest, _ := strings.Cut(s, ",")
			s = rest
			part = strings.TrimSpace(part)
			if !Missing(part) && !slices.Contains(dst[n:], part) {
				dst = append(dst, part)
			}
		}
	}
	return dst
}

// IPs returns the values of Split(name) that are IP addresses, in their
// canonical text form.
func (v *View) IPs(name string) []string { return v.AppendIPs(nil, name) }

// AppendIPs appends the values IPs returns to dst (duplicates of what dst
// held before are not dropped).
func (v *View) AppendIPs(dst []string, name string) []string {
	n := len(dst)
	dst = v.AppendSplit(dst, name)
	out := dst[:n]
	for _, s := range dst[n:] {
		if a, ok := IP(s); ok && !slices.Contains(out[n:], a) {
			out = append(out, a)
		}
	}
	clear(dst[len(out):])
	return out
}

// IP parses s as an IPv4 or IPv6 address (a zone is dropped) and returns its
// canonical text.
func IP(s string) (string, bool) {
	s = strings.TrimSpace(s)
	if canonicalIPv4(s) {
		return s, true // the common case, without parsing it twice
	}
	if !ipLike(s) {
		return "", false // spares netip the error it would allocate
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return "", false
	}
	var buf [64]byte
	text := a.WithZone("").AppendTo(buf[:0])
	if string(text) == s {
		return s, true // already canonical: no copy
	}
	return string(text), true
}

// canonicalIPv4 reports whether s is an IPv4 address in its canonical
// text: four decimal numbers of at most 255, without leading zeros,
// separated by dots.
func canonicalIPv4(s string) bool {
	fields, n, digits := 0, 0, 0
	for i := 0; i <= len(s); i++ {
		if i == len(s) || s[i] == '.' {
			if digits == 0 || n > 255 || digits > 1 && s[i-digits] == '0' {
				return false
			}
			fields++
			n, digits = 0, 0
			continue
		}
		c := s[i]
		if c < '0' || c > '9' || digits == 3 {
			return false
		}
		n = 10*n + int(c-'0')
		digits++
	}
	return fields == 4
}

// ipLike reports whether s may be an IP address: hex digits, dots and
// colons, then perhaps a zone.
func ipLike(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c >= 'a' && c <= 'f', c >= 'A' && c <= 'F', c == '.', c == ':':
		case c == '%':
			return i > 0
		default:
			return false
		}
	}
	return true
}

// Missing reports whether s stands for no value: empty, or one of the
// sentinels tenants send (N/A, NA, UNKNOWN, NONE, NULL, -), in any case. It
// is xdr.Missing, without its allocation.
func Missing(s string) bool {
	if n := len(s); n > 7 && s[0] > ' ' && s[0] < utf8.RuneSelf && s[n-1] > ' ' && s[n-1] < utf8.RuneSelf {
		return false // nothing to trim (an ASCII letter or sign at each end), longer than any sentinel
	}
	s = strings.TrimSpace(s)
	switch len(s) {
	case 0:
		return true
	case 1:
		return s == "-"
	case 2:
		return strings.EqualFold(s, "NA")
	case 3:
		return strings.EqualFold(s, "N/A")
	case 4:
		return strings.EqualFold(s, "NONE") || strings.EqualFold(s, "NULL")
	case 7:
		return strings.EqualFold(s, "UNKNOWN")
	}
	return false
}

// Severity normalises a severity as xdr.Severity does (the one severity
// reading the connector has), without its allocation: lower-cased and
// trimmed, with the "SEV_040_" style prefix some alert sources use removed,
// so "SEV_040_HIGH" reads as "high". Missing values read as "".
func Severity(s string) string { return word(s, "sev_") }

// Severity levels, as SeverityLevel ranks the severity words.
const (
	SeverityInformational = 1 + iota
	SeverityLow
	SeverityMedium
	SeverityHigh
	SeverityCritical
)

// SeverityLevel reads a severity as Severity does and ranks it: 1
// (informational or info) to 5 (critical); level is 0 for a missing value
// (word "") and for a word outside that ladder (word is then the normalised
// word). It is the one severity ladder of the profiles.
func SeverityLevel(s string) (level int, word string) {
	switch word = Severity(s); word {
	case "informational", "info":
		return SeverityInformational, word
	case "low":
		return SeverityLow, word
	case "medium":
		return SeverityMedium, word
	case "high":
		return SeverityHigh, word
	case "critical":
		return SeverityCritical, word
	}
	return 0, word
}

// Status normalises an incident or alert status: lower-cased, trimmed, with
// the "STATUS_010_" style prefix of alert resolution statuses removed, so
// "STATUS_010_NEW" reads as "new".
func Status(s string) string { return word(s, "status_") }

// word is s lower-cased and trimmed, without a prefix of the form
// prefix + "NNN_", "" when missing.
func word(s, prefix string) string {
	s = lower(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(s, prefix); ok {
		if _, name, ok := strings.Cut(rest, "_"); ok {
			s = name
		}
	}
	if Missing(s) {
		return ""
	}
	return s
}

// lower is strings.ToLower without a copy for the words severities and
// statuses are usually made of.
func lower(s string) string {
	var buf [48]byte
	if len(s) > len(buf) {
		return strings.ToLower(s)
	}
	b := buf[:len(s)]
	changed := false
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= utf8.RuneSelf {
			return strings.ToLower(s)
		}
		if 'A' <= c && c <= 'Z' {
			c += 'a' - 'A'
			changed = true
		}
		b[i] = c
	}
	if !changed {
		return s
	}
	if w, ok := words[string(b)]; ok {
		return w
	}
	return string(b)
}

// words are the lower-case texts lower returns without a copy.
var words = func() map[string]string {
	m := map[string]string{}
	for _, w := range []string{
		"informational", "info", "low", "medium", "high", "critical", "unknown",
		"new", "under_investigation", "closed", "resolved",
		"resolved_true_positive", "resolved_threat_handled", "resolved_false_positive", "resolved_known_issue",
		"resolved_security_testing", "resolved_duplicate", "resolved_duplicate_incident", "resolved_other", "resolved_auto_resolve", "resolved_auto",
	} {
		m[w] = w
		for _, p := range []string{"sev_010_", "sev_020_", "sev_030_", "sev_040_", "sev_050_", "status_010_", "status_020_", "status_025_", "status_030_", "status_040_", "status_050_", "status_060_", "status_070_", "status_080_", "status_090_", "status_100_"} {
			m[p+w] = p + w
		}
	}
	return m
}()

// Resolved reports whether a normalised status closes the incident or alert:
// it starts with "resolved" or is "closed".
func Resolved(status string) bool {
	return strings.HasPrefix(status, "resolved") || status == "closed"
}

// BaseName is the last element of a Windows or POSIX path, as path.Base
// reads it once backslashes are slashes: `C:\Windows\cmd.exe` reads
// "cmd.exe", a path ending in a separator reads "/", and a name without a
// separator reads as itself.
func BaseName(p string) string {
	i := strings.LastIndexAny(p, `\/`)
	if i < 0 {
		return p
	}
	if rest := p[i+1:]; rest != "" {
		return rest
	}
	return "/"
}

// MAC reports whether s is a MAC address in IEEE 802 notation: six pairs of
// hex digits (either case) separated by hyphens (00-50-56-AA-BB-CC) or by
// colons (00:50:56:aa:bb:cc), one separator throughout.
func MAC(s string) bool {
	if len(s) != 17 || s[2] != '-' && s[2] != ':' {
		return false
	}
	sep := s[2]
	for i := 0; i < len(s); i++ {
		c := s[i]
		if i%3 == 2 {
			if c != sep {
				return false
			}
		} else if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

// Mitre is one MITRE ATT&CK tactic or technique, as "TA0002 - Execution" or
// "T1059.001 - Command and Scripting Interpreter: PowerShell" reads.
type Mitre struct {
	ID   string // TA0002, T1059, T1059.001
	Name string // may be empty
}

// Sub reports whether m is a sub-technique (its id has a dot), and returns
// its parent technique's id.
func (m Mitre) Sub() (parent string, ok bool) {
	p, _, ok := strings.Cut(m.ID, ".")
	return p, ok && strings.HasPrefix(m.ID, "T")
}

// Mitres returns the MITRE entries of a field that is a string or a list of
// strings (see List), each parsed as "ID - Name"; an entry without " - " is
// an id alone.
func (v *View) Mitres(name string) []Mitre { return v.AppendMitres(nil, name) }

// AppendMitres appends the entries Mitres returns to dst (duplicates of
// what dst held before are not dropped).
func (v *View) AppendMitres(dst []Mitre, name string) []Mitre {
	v.items = v.AppendList(v.items[:0], name)
	n := len(dst)
	for _, s := range v.items {
		id, nm, _ := strings.Cut(s, " - ")
		m := Mitre{ID: strings.TrimSpace(id), Name: strings.TrimSpace(nm)}
		if m.ID != "" && !slices.Contains(dst[n:], m) {
			dst = append(dst, m)
		}
	}
	return dst
}

// Host splits a hosts entry, "hostname:agent-id", into its parts; an entry
// without a colon is a host name alone.
func Host(entry string) (name, agentID string) {
	name, agentID, _ = strings.Cut(strings.TrimSpace(entry), ":")
	return strings.TrimSpace(name), strings.TrimSpace(agentID)
}

// User splits a user name, "DOMAIN\user" or "user@domain", into the name and
// its domain (empty when it has none).
func User(s string) (name, domain string) {
	s = strings.TrimSpace(s)
	if d, n, ok := strings.Cut(s, `\`); ok {
		return strings.TrimLeft(n, `\`), d
	}
	if n, d, ok := strings.Cut(s, "@"); ok && n != "" && d != "" {
		return n, d
	}
	return s, ""
}

// Port reads a port number; ok only within 0–65535.
func (v *View) Port(name string) (int, bool) {
	n, ok := v.Int(name)
	if !ok || n < 0 || n > math.MaxUint16 {
		return 0, false
	}
	return int(n), true
}

// scalarText is xdr.Text, the connector's one reading of JSON scalars,
// returning byte for byte what it returns for every input (a fuzz test holds
// it to that), without its allocations in the common cases: a string
// without escapes and an integer literal read as views of raw, and a string
// with escapes is unquoted into v's buffer (v may be nil). Anything else is
// read by xdr.Text itself.
func (v *View) scalarText(raw json.RawMessage) string {
	raw = trimJSONSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch c := raw[0]; {
	case c == '"':
		if n := len(raw); n >= 2 && raw[n-1] == '"' {
			body := raw[1 : n-1]
			if plainString(body) {
				return strings.TrimSpace(alias(body)) // nothing to unquote
			}
			if s, ok := v.unquote(body); ok {
				return strings.TrimSpace(s)
			}
		}
	case c == '-' || c >= '0' && c <= '9':
		if isDigits(raw) && (c != '0' || len(raw) == 1) || c == '-' && len(raw) > 1 && raw[1] != '0' && isDigits(raw[1:]) {
			return alias(raw) // an integer literal is its own text
		}
	default:
		return "" // true, false, null, objects, lists, invalid input
	}
	return xdr.Text(raw)
}

// trimJSONSpace removes the white space JSON allows around a value.
func trimJSONSpace(b []byte) []byte {
	for len(b) > 0 && jsonSpace(b[0]) {
		b = b[1:]
	}
	for len(b) > 0 && jsonSpace(b[len(b)-1]) {
		b = b[:len(b)-1]
	}
	return b
}

func jsonSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// plainString reports whether body, the inside of a JSON string, needs no
// unquoting: no escape, no quote, no control character, valid UTF-8.
func plainString(body []byte) bool {
	if jsonw.Plain(alias(body)) {
		return true // printable ASCII, eight bytes at a time
	}
	ascii := true
	for _, c := range body {
		if c < 0x20 || c == '"' || c == '\\' {
			return false
		}
		ascii = ascii && c < utf8.RuneSelf
	}
	return ascii || utf8.Valid(body)
}

// unquote decodes body, a JSON string's body with the usual escapes, into
// v's buffer; ok is false for a \u escape, invalid UTF-8 or anything JSON
// does not allow in a string (xdr.Text then reads it). The buffer is only ever appended to, so every string
// unquoted before stays as it was.
func (v *View) unquote(body []byte) (string, bool) {
	if v == nil || bytes.Contains(body, []byte(`\u`)) || !utf8.Valid(body) {
		return "", false
	}
	if cap(v.buf)-len(v.buf) < len(body) {
		v.buf = make([]byte, 0, max(4096, len(body)))
	}
	start := len(v.buf)
	for i := 0; i < len(body); i++ {
		c := body[i]
		if c < 0x20 || c == '"' {
			return "", false // not a valid JSON string
		}
		if c != '\\' {
			v.buf = append(v.buf, c)
			continue
		}
		i++
		if i == len(body) {
			return "", false
		}
		switch body[i] {
		case '"', '\\', '/':
			c = body[i]
		case 'b':
			c = '\b'
		case 'f':
			c = '\f'
		case 'n':
			c = '\n'
		case 'r':
			c = '\r'
		case 't':
			c = '\t'
		default:
			return "", false
		}
		v.buf = append(v.buf, c)
	}
	return alias(v.buf[start:len(v.buf):len(v.buf)]), true
}

// parseInt reads an integer, an integral float within float64's exact range,
// or a numeric string holding one.
func (v *View) parseInt(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return 0, false
	}
	s := alias(raw)
	if raw[0] == '"' {
		if s = v.scalarText(raw); s == "" {
			return 0, false
		}
	}
	if !numeric(s) {
		return 0, false // spares strconv the error it would allocate
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if strings.ContainsAny(s, "xXnNiI_") { // no hex, NaN, Inf, underscores
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

// numeric reports whether s is made of the characters of a decimal number.
func numeric(s string) bool {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9', c == '-', c == '+', c == '.', c == 'e', c == 'E':
		default:
			return false
		}
	}
	return s != ""
}

func isDigits(b []byte) bool {
	for _, c := range b {
		if c < '0' || c > '9' {
			return false
		}
	}
	return len(b) > 0
}

func isNull(raw json.RawMessage) bool {
	if len(raw) < 4 || len(raw) == 4 && raw[0] != 'n' {
		return false
	}
	if mayTrim(raw[0]) || mayTrim(raw[len(raw)-1]) {
		return string(bytes.TrimSpace(raw)) == "null"
	}
	return string(raw) == "null" // trimmed already, as a View's fields are
}

// mayTrim reports whether bytes.TrimSpace may take c off an end: it is a
// space, a control character or not ASCII.
func mayTrim(c byte) bool { return c <= ' ' || c >= utf8.RuneSelf }
