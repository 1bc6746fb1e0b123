package ecs

import (
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
)

// A doc is an ECS document being built: one value per ECS field (slot),
// written in the order encoding/json writes nested maps, keys sorted at
// every level, with no map and no reflection.

// slot is an ECS field the mappings set (see slots.go).
type slot uint8

type kind uint8

const (
	kNone  kind = iota
	kStr        // s
	kList       // doc.strs[lo:hi]
	kInt        // n, an int in Document
	kInt64      // n, an int64 in Document
	kDate       // n, epoch ms, written as RFC 3339 with milliseconds
	kID         // doc.id, written as hex
	kRest       // the View's Rest with doc.extra (an alert's panw_cortex.xdr)
	kMap        // doc.vendor (an incident's panw_cortex.xdr)
)

type value struct {
	kind   kind
	s      string
	n      int64
	lo, hi int32
}

type doc struct {
	vals   [nSlots]value
	strs   []string // the lists' values
	id     [16]byte
	rest   *xdrview.View
	extra  []xdrview.Member
	idText []byte // the bytes of extra's values
	vendor map[string]json.RawMessage
}

func (d *doc) reset() {
	d.vals = [nSlots]value{}
	d.strs = d.strs[:0]
	d.rest, d.vendor = nil, nil
	d.extra = d.extra[:0]
}

// setStr sets p to s; "" is not stored.
func (d *doc) setStr(p slot, s string) {
	if s != "" {
		d.vals[p] = value{kind: kStr, s: s}
	}
}

// setList sets p to a copy of list; an empty list is not stored.
func (d *doc) setList(p slot, list []string) {
	if len(list) == 0 {
		return
	}
	lo := len(d.strs)
	d.strs = append(d.strs, list...)
	d.vals[p] = value{kind: kList, lo: int32(lo), hi: int32(len(d.strs))}
}

func (d *doc) setInt(p slot, n int)     { d.vals[p] = value{kind: kInt, n: int64(n)} }
func (d *doc) setInt64(p slot, n int64) { d.vals[p] = value{kind: kInt64, n: n} }

// setDate sets p to the time ms (epoch ms); 0 or less is not stored.
func (d *doc) setDate(p slot, ms int64) {
	if ms > 0 {
		d.vals[p] = value{kind: kDate, n: ms}
	}
}

func (d *doc) setID(p slot, id [16]byte) {
	d.id = id
	d.vals[p] = value{kind: kID}
}

func (d *doc) has(p slot) bool { return d.vals[p].kind != kNone }

// str returns p's value when it is a string.
func (d *doc) str(p slot) (string, bool) {
	v := d.vals[p]
	return v.s, v.kind == kStr
}

// appendText appends s as json.Marshal encodes it (HTML characters
// escaped), as the vendor fields have always been written.
func (d *doc) appendText(b []byte, s string) []byte {
	if strings.ContainsAny(s, "<>&\u2028\u2029") {
		return append(b, mustString(s)...)
	}
	var w jsonw.Writer
	w.B = b
	w.String(s)
	return w.B
}

// order is the slots in the order their fields are written: by path,
// compared a segment at a time, as nested maps with sorted keys are.
var order, segments = func() ([]slot, [nSlots][]string) {
	var segs [nSlots][]string
	out := make([]slot, nSlots)
	for i := range out {
		out[i] = slot(i)
		if paths[i] == "@timestamp" {
			segs[i] = []string{paths[i]}
		} else {
			segs[i] = strings.Split(paths[i], ".")
		}
	}
	slices.SortFunc(out, func(a, b slot) int { return slices.Compare(segs[a], segs[b]) })
	return out, segs
}()

// sharedParents[a][b] is how many leading parent objects the fields of
// slots a and b share: the objects that stay open from one to the other.
var sharedParents = func() (t [nSlots][nSlots]uint8) {
	for a := range t {
		pa := segments[a][:len(segments[a])-1]
		for b := range t[a] {
			pb := segments[b][:len(segments[b])-1]
			c := 0
			for c < len(pa) && c < len(pb) && pa[c] == pb[c] {
				c++
			}
			t[a][b] = uint8(c)
		}
	}
	return t
}()

// appendJSON writes the document.
func (d *doc) appendJSON(w *jsonw.Writer) {
	w.Open()
	depth, last := 0, slot(0) // the objects open: the parents of last, the field written before
	for _, p := range order {
		val := &d.vals[p]
		if val.kind == kNone {
			continue
		}
		segs := segments[p]
		parents := segs[:len(segs)-1]
		c := 0
		if depth > 0 {
			c = int(sharedParents[last][p])
		}
		for ; depth > c; depth-- {
			w.Close()
		}
		for _, s := range parents[c:] {
			w.Key(s)
			w.Open()
		}
		depth, last = len(parents), p
		w.Key(segs[len(segs)-1])
		d.appendValue(w, val)
	}
	for ; depth > 0; depth-- {
		w.Close()
	}
	w.Close()
}

func (d *doc) appendValue(w *jsonw.Writer, val *value) {
	switch val.kind {
	case kStr:
		w.String(val.s)
	case kList:
		w.OpenList()
		for _, s := range d.strs[val.lo:val.hi] {
			w.String(s)
		}
		w.CloseList()
	case kInt, kInt64:
		w.Int(val.n)
	case kDate:
		w.Value(nil) // the separator
		w.B = append(w.B, '"')
		w.B = appendDate(w.B, val.n)
		w.B = append(w.B, '"')
	case kID:
		w.Value(nil)
		w.B = append(w.B, '"')
		w.B = hex.AppendEncode(w.B, d.id[:])
		w.B = append(w.B, '"')
	case kRest:
		d.rest.AppendRest(w, d.extra...)
	case kMap:
		w.RawMap(d.vendor)
	}
}

const dateLayout = "2006-01-02T15:04:05.000Z"

// appendDate appends the time ms (epoch ms) in dateLayout, UTC, as
// time.Time.AppendFormat writes it, without reading the layout.
func appendDate(b []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	year, month, day := t.Date()
	if year < 0 || year > 9999 {
		return t.AppendFormat(b, dateLayout)
	}
	hour, minute, sec := t.Clock()
	milli := t.Nanosecond() / int(time.Millisecond)
	return append(b,
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-', byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':', byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.', byte('0'+milli/100), byte('0'+milli/10%10), byte('0'+milli%10), 'Z')
}

// document returns the document as nested maps.
func (d *doc) document() Document {
	out := Document{}
	for p := range slot(nSlots) {
		val := &d.vals[p]
		var v any
		switch val.kind {
		case kNone:
			continue
		case kStr:
			v = val.s
		case kList:
			v = slices.Clone(d.strs[val.lo:val.hi])
		case kInt:
			v = int(val.n)
		case kInt64:
			v = val.n
		case kDate:
			v = time.UnixMilli(val.n).UTC().Format(dateLayout)
		case kID:
			v = hex.EncodeToString(d.id[:])
		case kRest:
			m := d.rest.Rest()
			if m == nil {
				m = map[string]json.RawMessage{}
			}
			for _, e := range d.extra {
				m[e.Key] = slices.Clone(e.Value)
			}
			v = m
		case kMap:
			v = d.vendor
		}
		obj := out
		segs := segments[p]
		for _, k := range segs[:len(segs)-1] {
			next, ok := obj[k].(Document)
			if !ok {
				next = Document{}
				obj[k] = next
			}
			obj = next
		}
		obj[segs[len(segs)-1]] = v
	}
	return out
}
