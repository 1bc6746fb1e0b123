package xdr

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Tolerant decoding.
//
// Real tenants stray from the documentation (see API-NOTES.md), so the typed
// fields are read leniently and nothing inside "reply" is ever rejected:
//
//   - ids may be strings or numbers; both become their decimal text;
//   - times and counts may be integers, floats, numeric strings or null
//     (null, objects and anything unreadable become 0);
//   - typed strings are read by Text (trimmed; a number as its decimal text,
//     see Text), severities are also lower-cased (Raw is never altered);
//   - list sections may be {"total_count","data"} objects, bare lists, or
//     null; a missing total_count is len(data); null items are skipped;
//   - artifact items may be objects or bare strings (the latter land in Value).
//
// Every object keeps Raw, a private copy of its bytes exactly as received,
// except that invalid UTF-8 is replaced by U+FFFD (as encoding/json does when
// it decodes a string), so every record value is valid JSON text for strict
// consumers; the incident stays published rather than lost for one bad byte.
//
// What is checked is the shape every record is built on: a body that is not
// a JSON object with a "reply" object is an error wrapping ErrMalformed, and
// so is an extra-data reply that fails ExtraData.Check (no incident object
// with an id, an alert that is not an object, ...) or whose section is
// neither an object, a list nor null. Such a reply is never half-published.

// DecodeIncidentsReply decodes a get_incidents reply body,
// {"reply": {"total_count", "result_count", "incidents", "restricted_incident_ids"}}.
// It returns an error wrapping ErrMalformed only when the body is not a JSON
// object with a "reply" object, or when "reply" carries an error instead of
// incidents. The result does not alias body.
func DecodeIncidentsReply(body []byte) (*IncidentsReply, error) {
	var r IncidentsReply
	if err := r.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	return &r, nil
}

// DecodeExtraData decodes a get_incident_extra_data reply body,
// {"reply": {"incident", "alerts", "network_artifacts", "file_artifacts"}},
// under the same rules as DecodeIncidentsReply. Besides the envelope, it
// returns an error wrapping ErrMalformed for a reply that does not pass
// ExtraData.Check, or whose alerts, network_artifacts or file_artifacts
// section is neither a {"total_count", "data"} object, a list nor null (a
// reply of another endpoint's shape, an empty reply): every successful
// result can be published whole.
func DecodeExtraData(body []byte) (*ExtraData, error) {
	var d ExtraData
	if err := d.UnmarshalJSON(body); err != nil {
		return nil, err
	}
	return &d, nil
}

// UnmarshalJSON decodes a whole get_incidents body (the {"reply": ...}
// envelope); see DecodeIncidentsReply.
func (r *IncidentsReply) UnmarshalJSON(b []byte) error {
	reply, err := replyObject(b)
	if err != nil {
		return fmt.Errorf("decoding get_incidents reply: %w", err)
	}
	if _, ok := reply["incidents"]; !ok && hasAny(reply, "err_code", "err_msg") {
		return &carriedError{endpoint: "get_incidents", msg: errText(reply["err_msg"])}
	}
	items := arrayItems(reply["incidents"])
	out := IncidentsReply{
		Incidents:     make([]Incident, 0, len(items)),
		RestrictedIDs: []string{},
	}
	for _, it := range items {
		out.Incidents = append(out.Incidents, decodeIncident(it))
	}
	for _, it := range arrayItems(reply["restricted_incident_ids"]) {
		if id := Text(it); id != "" {
			out.RestrictedIDs = append(out.RestrictedIDs, id)
		}
	}
	out.TotalCount = countOr(reply["total_count"], -1)
	if out.TotalCount < 0 {
		out.TotalCount, out.TotalCountMissing = len(out.Incidents), true
	}
	out.ResultCount = countOr(reply["result_count"], len(out.Incidents))
	*r = out
	return nil
}

// UnmarshalJSON decodes a whole get_incident_extra_data body (the
// {"reply": ...} envelope); see DecodeExtraData.
func (d *ExtraData) UnmarshalJSON(b []byte) error {
	reply, err := replyObject(b)
	if err != nil {
		return fmt.Errorf("decoding get_incident_extra_data reply: %w", err)
	}
	out, err := extraDataOf(reply)
	if _, carried := errors.AsType[*carriedError](err); carried {
		return err // it names the endpoint; the client scrubs its message
	}
	if err != nil {
		return fmt.Errorf("decoding get_incident_extra_data reply: %w", err)
	}
	*d = out
	return nil
}

// extraDataOf decodes one incident's extra data from the members of its
// object: the "reply" of get_incident_extra_data, or one item of
// get_multiple_incidents_extra_data, which has the same shape. It fails,
// wrapping ErrMalformed, when the object carries an error instead of an
// incident, when a section is neither an object, a list nor null, or when the
// result does not pass ExtraData.Check.
func extraDataOf(reply map[string]json.RawMessage) (ExtraData, error) {
	if _, ok := reply["incident"]; !ok && hasAny(reply, "err_code", "err_msg") {
		return ExtraData{}, &carriedError{endpoint: "get_incident_extra_data", msg: errText(reply["err_msg"])}
	}
	for _, name := range []string{"alerts", "network_artifacts", "file_artifacts"} {
		if !sectionShaped(reply[name]) {
			return ExtraData{}, fmt.Errorf("%w: %q is neither an object, a list nor null", ErrMalformed, name)
		}
	}
	var out ExtraData
	if raw := reply["incident"]; !isNull(raw) {
		out.Incident = decodeIncident(raw)
	}
	out.Alerts = decodeAlertList(reply["alerts"])
	out.NetworkArtifacts = decodeNetworkArtifactList(reply["network_artifacts"])
	out.FileArtifacts = decodeFileArtifactList(reply["file_artifacts"])
	if err := out.Check(); err != nil {
		return ExtraData{}, err
	}
	return out, nil
}

// Check reports whether d can be published as an incident's enrichment, every
// object as its Raw bytes: the incident is a JSON object with an id (ID, read
// from its incident_id), every alert is a JSON object, and every artifact a
// JSON object or a string. It returns nil or an error wrapping ErrMalformed
// that names the first fault. An object without Raw fails, as it has nothing
// to publish. DecodeExtraData returns only replies that pass Check; a caller
// that gets an ExtraData from elsewhere checks it before publishing it.
func (d *ExtraData) Check() error {
	switch {
	case len(bytes.TrimSpace(d.Incident.Raw)) == 0 || isNull(d.Incident.Raw):
		return fmt.Errorf("%w: the reply has no incident object", ErrMalformed)
	case !rawIs(d.Incident.Raw, '{'):
		return fmt.Errorf("%w: the reply's incident is not an object", ErrMalformed)
	case strings.TrimSpace(d.Incident.ID) == "":
		return fmt.Errorf("%w: the reply's incident has no incident_id", ErrMalformed)
	}
	for i := range d.Alerts.Data {
		if !rawIs(d.Alerts.Data[i].Raw, '{') {
			return fmt.Errorf("%w: alert %d of the reply is not an object", ErrMalformed, i)
		}
	}
	for i := range d.NetworkArtifacts.Data {
		if !rawIs(d.NetworkArtifacts.Data[i].Raw, '{', '"') {
			return fmt.Errorf("%w: network artifact %d of the reply is neither an object nor a string", ErrMalformed, i)
		}
	}
	for i := range d.FileArtifacts.Data {
		if !rawIs(d.FileArtifacts.Data[i].Raw, '{', '"') {
			return fmt.Errorf("%w: file artifact %d of the reply is neither an object nor a string", ErrMalformed, i)
		}
	}
	return nil
}

// rawIs reports whether raw, a JSON value, starts with one of the bytes
// given: '{' for an object, '"' for a string.
func rawIs(raw []byte, first ...byte) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) > 0 && bytes.IndexByte(first, raw[0]) >= 0
}

// sectionShaped reports whether raw is absent, null, a list or an object,
// the shapes section reads.
func sectionShaped(raw json.RawMessage) bool {
	raw = bytes.TrimSpace(raw)
	return len(raw) == 0 || isNull(raw) || raw[0] == '[' || raw[0] == '{'
}

// unmarshalKept is the UnmarshalJSON of a type that keeps its JSON: b must
// be valid JSON (else checkValue's error); JSON null leaves *dst unchanged;
// anything else sets *dst to decode of a trimmed copy of b, which the value
// may keep as its Raw.
func unmarshalKept[T any](dst *T, b []byte, decode func([]byte) T) error {
	if err := checkValue(b); err != nil || isNull(b) {
		return err
	}
	*dst = decode(bytes.Clone(bytes.TrimSpace(b)))
	return nil
}

// UnmarshalJSON fills the typed fields tolerantly and keeps a copy of b in
// Raw. A JSON null leaves the incident unchanged; any other valid JSON value
// is accepted (a non-object only sets Raw).
func (inc *Incident) UnmarshalJSON(b []byte) error { return unmarshalKept(inc, b, decodeIncident) }

// UnmarshalJSON fills the typed fields tolerantly and keeps a copy of b in
// Raw. A JSON null leaves the alert unchanged.
func (a *Alert) UnmarshalJSON(b []byte) error { return unmarshalKept(a, b, decodeAlert) }

// UnmarshalJSON accepts an artifact object or a bare string (which lands in
// Value) and keeps a copy of b in Raw. A JSON null leaves it unchanged.
func (n *NetworkArtifact) UnmarshalJSON(b []byte) error {
	return unmarshalKept(n, b, decodeNetworkArtifact)
}

// UnmarshalJSON accepts an artifact object or a bare string (which lands in
// Value) and keeps a copy of b in Raw. A JSON null leaves it unchanged.
func (f *FileArtifact) UnmarshalJSON(b []byte) error { return unmarshalKept(f, b, decodeFileArtifact) }

// UnmarshalJSON decodes an alerts section; see the package's tolerance rules.
func (l *AlertList) UnmarshalJSON(b []byte) error {
	if err := checkValue(b); err != nil {
		return err
	}
	*l = decodeAlertList(b)
	return nil
}

// UnmarshalJSON decodes a network_artifacts section.
func (l *NetworkArtifactList) UnmarshalJSON(b []byte) error {
	if err := checkValue(b); err != nil {
		return err
	}
	*l = decodeNetworkArtifactList(b)
	return nil
}

// UnmarshalJSON decodes a file_artifacts section.
func (l *FileArtifactList) UnmarshalJSON(b []byte) error {
	if err := checkValue(b); err != nil {
		return err
	}
	*l = decodeFileArtifactList(b)
	return nil
}

// The decode* functions below take ownership of their argument, which must be
// valid JSON: they keep it as Raw without copying. Callers pass slices that
// json.Unmarshal freshly allocated (json.RawMessage values) or clones.

func decodeIncident(b []byte) Incident {
	inc := Incident{Raw: json.RawMessage(b)}
	m, ok := object(b)
	if !ok {
		return inc
	}
	inc.ID = Text(m["incident_id"])
	inc.CreationTime = int64Value(m["creation_time"])
	inc.ModificationTime = int64Value(m["modification_time"])
	inc.Status = Text(m["status"])
	inc.Severity = strings.ToLower(Text(m["severity"]))
	inc.AlertCount = intValue(m["alert_count"])
	return inc
}

func decodeAlert(b []byte) Alert {
	a := Alert{Raw: json.RawMessage(b)}
	m, ok := object(b)
	if !ok {
		return a
	}
	a.ID = Text(m["alert_id"])
	a.CaseID = Text(m["case_id"])
	a.Severity = strings.ToLower(Text(m["severity"]))
	a.Name = Text(m["name"])
	a.Source = Text(m["source"])
	a.HostName = Text(m["host_name"])
	a.DetectionTimestamp = int64Value(m["detection_timestamp"])
	return a
}

func decodeNetworkArtifact(b []byte) NetworkArtifact {
	n := NetworkArtifact{Raw: json.RawMessage(b)}
	m, ok := object(b)
	if !ok {
		n.Value = Text(b)
		return n
	}
	n.Type = Text(m["type"])
	n.Domain = Text(m["network_domain"])
	n.RemoteIP = Text(m["network_remote_ip"])
	n.RemotePort = intValue(m["network_remote_port"])
	return n
}

func decodeFileArtifact(b []byte) FileArtifact {
	f := FileArtifact{Raw: json.RawMessage(b)}
	m, ok := object(b)
	if !ok {
		f.Value = Text(b)
		return f
	}
	f.Type = Text(m["type"])
	f.SHA256 = Text(m["file_sha256"])
	f.FileName = Text(m["file_name"])
	return f
}

func decodeAlertList(b []byte) AlertList {
	items, total := section(b)
	l := AlertList{Data: make([]Alert, 0, len(items))}
	for _, it := range items {
		l.Data = append(l.Data, decodeAlert(it))
	}
	l.TotalCount = countOr(total, len(l.Data))
	return l
}

func decodeNetworkArtifactList(b []byte) NetworkArtifactList {
	items, total := section(b)
	l := NetworkArtifactList{Data: make([]NetworkArtifact, 0, len(items))}
	for _, it := range items {
		l.Data = append(l.Data, decodeNetworkArtifact(it))
	}
	l.TotalCount = countOr(total, len(l.Data))
	return l
}

func decodeFileArtifactList(b []byte) FileArtifactList {
	items, total := section(b)
	l := FileArtifactList{Data: make([]FileArtifact, 0, len(items))}
	for _, it := range items {
		l.Data = append(l.Data, decodeFileArtifact(it))
	}
	l.TotalCount = countOr(total, len(l.Data))
	return l
}

// carriedError is a 2xx reply that carries an error (err_msg) instead of
// its data. It wraps ErrMalformed. msg is kept whole, so that the client
// can scrub it of the key before Error cuts it to maxMessage.
type carriedError struct {
	endpoint string // get_incidents, get_incident_extra_data or get_multiple_incidents_extra_data
	msg      string
}

func (e *carriedError) Error() string {
	return "decoding " + e.endpoint + " reply: " + ErrMalformed.Error() + ": reply carries an error: " + capText(e.msg, maxMessage)
}

func (e *carriedError) Unwrap() error { return ErrMalformed }

// replyObject checks the envelope and returns the fields of "reply".
func replyObject(b []byte) (map[string]json.RawMessage, error) {
	b = validUTF8(bytes.TrimSpace(b))
	if len(b) == 0 {
		return nil, fmt.Errorf("%w: empty body", ErrMalformed)
	}
	if b[0] != '{' {
		if !json.Valid(b) {
			return nil, fmt.Errorf("%w: body is not JSON", ErrMalformed)
		}
		return nil, fmt.Errorf("%w: body is not a JSON object", ErrMalformed)
	}
	var top map[string]json.RawMessage
	if err := json.Unmarshal(b, &top); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrMalformed, err)
	}
	raw, ok := top["reply"]
	if !ok {
		return nil, fmt.Errorf("%w: no \"reply\" in body", ErrMalformed)
	}
	reply, ok := object(raw)
	if !ok {
		return nil, fmt.Errorf("%w: \"reply\" is not an object", ErrMalformed)
	}
	return reply, nil
}

// validUTF8 returns b, or a copy with each run of invalid UTF-8 replaced by
// U+FFFD.
func validUTF8(b []byte) []byte {
	if utf8.Valid(b) {
		return b
	}
	return bytes.ToValidUTF8(b, []byte("\uFFFD"))
}

// section reads a {"total_count", "data"} section, a bare list, or null.
// total is nil when total_count is absent.
func section(b []byte) (items []json.RawMessage, total json.RawMessage) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 {
		return nil, nil
	}
	switch b[0] {
	case '[':
		return arrayItems(b), nil
	case '{':
		m, _ := object(b)
		return arrayItems(m["data"]), m["total_count"]
	}
	return nil, nil
}

// arrayItems returns the non-null elements of a JSON list; a single non-list,
// non-null value is taken as a list of one; null or absent is an empty list.
func arrayItems(raw json.RawMessage) []json.RawMessage {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || isNull(raw) {
		return nil
	}
	if raw[0] != '[' {
		return []json.RawMessage{raw}
	}
	var items []json.RawMessage
	if json.Unmarshal(raw, &items) != nil {
		return nil
	}
	kept := items[:0]
	for _, it := range items {
		if !isNull(it) {
			kept = append(kept, it)
		}
	}
	return kept
}

// object decodes a JSON object into its members; ok is false for any other
// value. Of duplicate keys the last wins.
func object(b []byte) (map[string]json.RawMessage, bool) {
	b = bytes.TrimSpace(b)
	if len(b) == 0 || b[0] != '{' {
		return nil, false
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(b, &m) != nil {
		return nil, false
	}
	return m, true
}

func isNull(b []byte) bool { return string(bytes.TrimSpace(b)) == "null" }

func checkValue(b []byte) error {
	if !json.Valid(b) {
		return fmt.Errorf("%w: not a JSON value", ErrMalformed)
	}
	return nil
}

// int64Value reads a time or count: an integer, a float (truncated), or a
// numeric string. null, out-of-range and other values yield 0.
func int64Value(raw json.RawMessage) int64 {
	v, _ := parseInt64(raw)
	return v
}

func intValue(raw json.RawMessage) int {
	v, _ := parseInt64(raw)
	if v > math.MaxInt || v < math.MinInt {
		return 0
	}
	return int(v)
}

// countOr reads a count, falling back to def when it is absent or unreadable.
func countOr(raw json.RawMessage, def int) int {
	v, ok := parseInt64(raw)
	if !ok || v > math.MaxInt || v < math.MinInt {
		return def
	}
	return int(v)
}

func parseInt64(raw json.RawMessage) (int64, bool) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return 0, false
	}
	s := string(raw)
	if raw[0] == '"' {
		if json.Unmarshal(raw, &s) != nil {
			return 0, false
		}
		s = strings.TrimSpace(s)
	}
	if !isNumeric(s) {
		return 0, false
	}
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil && !errors.Is(err, strconv.ErrRange) || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, false
	}
	// float64(math.MaxInt64) rounds up to 2^63, which is out of range.
	if f >= math.MaxInt64 || f < math.MinInt64 {
		return 0, false
	}
	return int64(f), true
}

// isNumeric reports whether s looks like a decimal number (it may still fail
// to parse); it rules out the words and hex forms strconv.ParseFloat accepts.
func isNumeric(s string) bool {
	digit := false
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c >= '0' && c <= '9':
			digit = true
		case c == '-' || c == '+' || c == '.' || c == 'e' || c == 'E':
		default:
			return false
		}
	}
	return digit
}

// MarshalJSON returns Raw when it is set, so an incident re-encodes as it
// was received (json.Marshal compacts white space); otherwise it encodes the typed fields under the API's
// names.
func (inc Incident) MarshalJSON() ([]byte, error) {
	if len(inc.Raw) > 0 {
		return inc.Raw, nil
	}
	return json.Marshal(struct {
		ID               string `json:"incident_id"`
		CreationTime     int64  `json:"creation_time"`
		ModificationTime int64  `json:"modification_time"`
		Status           string `json:"status"`
		Severity         string `json:"severity"`
		AlertCount       int    `json:"alert_count"`
	}{inc.ID, inc.CreationTime, inc.ModificationTime, inc.Status, inc.Severity, inc.AlertCount})
}

// MarshalJSON returns Raw when it is set; otherwise it encodes the typed
// fields under the API's names.
func (a Alert) MarshalJSON() ([]byte, error) {
	if len(a.Raw) > 0 {
		return a.Raw, nil
	}
	return json.Marshal(struct {
		ID                 string `json:"alert_id,omitempty"`
		CaseID             string `json:"case_id,omitempty"`
		Severity           string `json:"severity"`
		Name               string `json:"name"`
		Source             string `json:"source"`
		HostName           string `json:"host_name"`
		DetectionTimestamp int64  `json:"detection_timestamp"`
	}{a.ID, a.CaseID, a.Severity, a.Name, a.Source, a.HostName, a.DetectionTimestamp})
}

// MarshalJSON returns Raw when it is set; otherwise Value as a bare string
// when it is set, else the typed fields under the API's names.
func (n NetworkArtifact) MarshalJSON() ([]byte, error) {
	switch {
	case len(n.Raw) > 0:
		return n.Raw, nil
	case n.Value != "":
		return json.Marshal(n.Value)
	}
	return json.Marshal(struct {
		Type       string `json:"type"`
		Domain     string `json:"network_domain"`
		RemoteIP   string `json:"network_remote_ip"`
		RemotePort int    `json:"network_remote_port"`
	}{n.Type, n.Domain, n.RemoteIP, n.RemotePort})
}

// MarshalJSON returns Raw when it is set; otherwise Value as a bare string
// when it is set, else the typed fields under the API's names.
func (f FileArtifact) MarshalJSON() ([]byte, error) {
	switch {
	case len(f.Raw) > 0:
		return f.Raw, nil
	case f.Value != "":
		return json.Marshal(f.Value)
	}
	return json.Marshal(struct {
		Type     string `json:"type"`
		SHA256   string `json:"file_sha256"`
		FileName string `json:"file_name"`
	}{f.Type, f.SHA256, f.FileName})
}

// MarshalJSON encodes the section as the API does: {"total_count", "data"}.
func (l AlertList) MarshalJSON() ([]byte, error) {
	return marshalSection(l.TotalCount, l.Data)
}

// MarshalJSON encodes the section as the API does: {"total_count", "data"}.
func (l NetworkArtifactList) MarshalJSON() ([]byte, error) {
	return marshalSection(l.TotalCount, l.Data)
}

// MarshalJSON encodes the section as the API does: {"total_count", "data"}.
func (l FileArtifactList) MarshalJSON() ([]byte, error) {
	return marshalSection(l.TotalCount, l.Data)
}

func marshalSection[T any](total int, data []T) ([]byte, error) {
	if data == nil {
		data = []T{}
	}
	return json.Marshal(struct {
		TotalCount int `json:"total_count"`
		Data       []T `json:"data"`
	}{total, data})
}
