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

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// ErrNotObject means an API object's bytes are not a JSON object, so no
// field of it can be mapped.
var ErrNotObject = errors.New("not a JSON object")

// View is one API object's fields by name, each as the raw JSON it had. A
// View records which fields a mapping consumed (Use), so that the rest can
// be carried along unchanged (Rest).
type View struct {
	fields map[string]json.RawMessage
	used   map[string]bool
	kept   map[string]bool // see Keep
}

// New decodes raw, an API object's bytes, into a View. It returns an error
// wrapping ErrNotObject when raw is not a JSON object.
func New(raw json.RawMessage) (*View, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || raw[0] != '{' {
		return nil, ErrNotObject
	}
	if !json.Valid(raw) {
		var m map[string]json.RawMessage
		return nil, errors.Join(ErrNotObject, json.Unmarshal(raw, &m))
	}
	m, ok := splitObject(raw)
	if !ok {
		// A key with an escape in it: let the decoder unquote it.
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, errors.Join(ErrNotObject, err)
		}
	}
	return &View{fields: m, used: make(map[string]bool, 32)}, nil
}

// splitObject cuts raw, a valid JSON object, into its members: each key
// (which must hold no escape and be valid UTF-8, or ok is false) and its value's bytes, sliced
// from raw, not copied. A later duplicate key wins, as with json.Unmarshal.
func splitObject(raw []byte) (m map[string]json.RawMessage, ok bool) {
	m = make(map[string]json.RawMessage, 48)
	i := skipSpace(raw, 1)
	for i < len(raw) && raw[i] != '}' {
		if raw[i] == ',' {
			i = skipSpace(raw, i+1)
			continue
		}
		// A key: raw[i] is its opening quote.
		end := bytes.IndexByte(raw[i+1:], '"')
		if end < 0 {
			return nil, false
		}
		key := raw[i+1 : i+1+end]
		if bytes.IndexByte(key, '\\') >= 0 || !utf8.Valid(key) {
			return nil, false
		}
		i = skipSpace(raw, i+2+end)
		i = skipSpace(raw, i+1) // the colon
		start := i
		i = skipValue(raw, i)
		m[string(key)] = raw[start:i]
		i = skipSpace(raw, i)
	}
	return m, true
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
			for i++; i < len(b) && b[i] != '"'; i++ {
				if b[i] == '\\' {
					i++
				}
			}
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
		v.used[n] = true
	}
}

// Unuse takes back Use for the named fields: a mapping that read them but
// had nowhere to put them leaves them to Rest.
func (v *View) Unuse(names ...string) {
	for _, n := range names {
		delete(v.used, n)
	}
}

// ResetUse forgets every Use: Rest then returns every non-null field.
func (v *View) ResetUse() { clear(v.used) }

// Raw returns a field's raw JSON and marks it used; nil when absent.
func (v *View) Raw(name string) json.RawMessage {
	v.used[name] = true
	return v.fields[name]
}

// Rest returns the fields not marked used, and those kept (see Keep),
// without those that are null: null carries no value, and the API sends
// many. Nil when none remain.
func (v *View) Rest() map[string]json.RawMessage {
	var out map[string]json.RawMessage
	for k, raw := range v.fields {
		if v.used[k] && !v.kept[k] || isNull(raw) {
			continue
		}
		if out == nil {
			out = make(map[string]json.RawMessage, len(v.fields))
		}
		out[k] = raw
	}
	return out
}

// Text returns a string or number field as xdr.Text reads it (trimmed; a
// whole number as its integer text, so 891 and 891.0 both read "891"); a
// list reads as its first present value (see lists.go). Booleans, null,
// objects, empty lists and the sentinels (see Missing) read as "".
func (v *View) Text(name string) string {
	s := xdr.Text(v.scalar(name))
	if Missing(s) {
		return ""
	}
	return s
}

// Scalar is Text without the sentinels rule: "UNKNOWN" reads as "UNKNOWN".
func (v *View) Scalar(name string) string { return xdr.Text(v.scalar(name)) }

// Int returns an integer field: an integer, an integral float, or a numeric
// string, or a list of one (see lists.go). ok is false when the field is
// absent, null or unreadable.
func (v *View) Int(name string) (n int64, ok bool) {
	return parseInt(v.scalar(name))
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
	switch strings.ToLower(xdr.Text(raw)) {
	case "true", "yes":
		return true, true
	case "false", "no":
		return false, true
	}
	return false, false
}

// List returns a field that is a string or a list of strings (tags are
// either): each value trimmed, missing values dropped, duplicates removed,
// in their order. Numbers in a list read as their text.
func (v *View) List(name string) []string {
	raw := bytes.TrimSpace(v.Raw(name))
	var out []string
	add := func(s string) {
		if !Missing(s) && !slices.Contains(out, s) {
			out = append(out, s)
		}
	}
	if len(raw) > 0 && raw[0] == '[' {
		var items []json.RawMessage
		if json.Unmarshal(raw, &items) == nil {
			for _, it := range items {
				add(xdr.Text(it))
			}
		}
		return out
	}
	add(xdr.Text(raw))
	return out
}

// Split returns a field that holds comma-separated values (host_ip and mac
// do), or a list of such strings, as one list: each value trimmed, missing
// values dropped, duplicates removed.
func (v *View) Split(name string) []string {
	var out []string
	for _, s := range v.List(name) {
		for part := range strings.SplitSeq(s, ",") {
			part = strings.TrimSpace(part)
			if !Missing(part) && !slices.Contains(out, part) {
				out = append(out, part)
			}
		}
	}
	return out
}

// IPs returns the values of Split(name) that are IP addresses, in their
// canonical text form.
func (v *View) IPs(name string) []string {
	var out []string
	for _, s := range v.Split(name) {
		if a, ok := IP(s); ok && !slices.Contains(out, a) {
			out = append(out, a)
		}
	}
	return out
}

// IP parses s as an IPv4 or IPv6 address (a zone is dropped) and returns its
// canonical text.
func IP(s string) (string, bool) {
	a, err := netip.ParseAddr(strings.TrimSpace(s))
	if err != nil {
		return "", false
	}
	return a.WithZone("").String(), true
}

// Missing reports whether s stands for no value: empty, or one of the
// sentinels tenants send (N/A, NA, UNKNOWN, NONE, NULL, -), in any case. It
// is xdr.Missing.
func Missing(s string) bool { return xdr.Missing(s) }

// Severity normalises a severity as xdr.Severity does (the one severity
// reading the connector has): lower-cased and trimmed, with the "SEV_040_"
// style prefix some alert sources use removed, so "SEV_040_HIGH" reads as
// "high". Missing values read as "".
func Severity(s string) string { return xdr.Severity(s) }

// Status normalises an incident or alert status: lower-cased, trimmed, with
// the "STATUS_010_" style prefix of alert resolution statuses removed, so
// "STATUS_010_NEW" reads as "new".
func Status(s string) string {
	s = strings.ToLower(strings.TrimSpace(s))
	if rest, ok := strings.CutPrefix(s, "status_"); ok {
		if _, name, ok := strings.Cut(rest, "_"); ok {
			s = name
		}
	}
	if Missing(s) {
		return ""
	}
	return s
}

// Resolved reports whether a normalised status closes the incident or alert:
// it starts with "resolved" or is "closed".
func Resolved(status string) bool {
	return strings.HasPrefix(status, "resolved") || status == "closed"
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
func (v *View) Mitres(name string) []Mitre {
	var out []Mitre
	for _, s := range v.List(name) {
		id, nm, _ := strings.Cut(s, " - ")
		m := Mitre{ID: strings.TrimSpace(id), Name: strings.TrimSpace(nm)}
		if m.ID != "" && !slices.Contains(out, m) {
			out = append(out, m)
		}
	}
	return out
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

// parseInt reads an integer, an integral float within float64's exact range,
// or a numeric string holding one.
func parseInt(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	if n, err := strconv.ParseInt(s, 10, 64); err == nil {
		return n, true
	}
	if s == "" || strings.ContainsAny(s, "xXnNiI_") { // no hex, NaN, Inf, underscores
		return 0, false
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || math.Abs(f) > 1<<53 {
		return 0, false
	}
	return int64(f), true
}

func isNull(raw json.RawMessage) bool { return string(bytes.TrimSpace(raw)) == "null" }
