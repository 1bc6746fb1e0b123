package xdrview

import (
	"bytes"
	"encoding/json"
)

// List-shaped scalars. The v2 alerts API sends most alert fields as lists
// (host_ip ["10.0.0.5"], event_id ["2"], actor_process_os_pid [996],
// user_name ["ACME\\bob"]), where get_incident_extra_data sends the same
// fields as scalars. The scalar readers (Text, Scalar, Int, Time, Bool, Port)
// read such a list as its first present value: its first element that is a
// scalar and not missing (see Missing), else its first non-null element, so
// a one-element list reads exactly as its element. A list of several present
// values reads as the first of them, and the field is kept (see Keep): the
// mapping places the first value, Rest still returns the whole list as sent.
// Empty lists, lists of nulls and nested lists read as absent.
//
// List, Split, IPs and Mitres read every element of a list already; a
// mapping reads all the values of a field with them where its target holds
// several.

// scalar returns the raw value a scalar reader reads for the named field,
// and marks the field used; a list of several present values is also kept.
func (v *View) scalar(name string) json.RawMessage {
	item, several := v.firstOfList(v.Raw(name))
	if several {
		v.Keep(name)
	}
	return item
}

// Keep marks the named fields as only partly placed by the mapping: Rest
// returns them as sent even when they are used. Unuse and ResetUse leave
// them kept.
func (v *View) Keep(names ...string) {
	for _, n := range names {
		if f := v.get(n); f != nil {
			f.kept = true
		}
	}
}

// firstOfList returns raw itself when it is not a JSON list. For a list, it
// returns its first element that is a scalar with a value that is not
// missing, else its first non-null element (a list of sentinels reads as
// its first sentinel), else nil; several reports whether the list holds more
// than one distinct present value.
func (v *View) firstOfList(raw json.RawMessage) (item json.RawMessage, several bool) {
	t := bytes.TrimSpace(raw)
	if len(t) == 0 || t[0] != '[' {
		return raw, false
	}
	var fallback json.RawMessage
	var first string
	for els := (elems{b: t}); ; {
		it, ok := els.next()
		if !ok {
			break
		}
		if len(it) == 0 || isNull(it) || it[0] == '[' || it[0] == '{' {
			continue
		}
		if fallback == nil {
			fallback = it
		}
		s := v.scalarText(it)
		switch {
		case Missing(s):
		case item == nil:
			item, first = it, s
		case s != first:
			return item, true
		}
	}
	if item == nil {
		return fallback, false
	}
	return item, false
}
