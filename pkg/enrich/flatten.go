package enrich

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"net"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// This file turns API objects into records. Everything in it is pure: no
// I/O, no clock, no logging.

// Meta is what every record of one connector instance shares.
type Meta struct {
	Connector   string
	Tenant      string
	AlertsLimit int   // the alerts_limit the extra data was fetched with
	FetchedAt   int64 // when the reply came back, epoch ms
}

// Artifact kinds, the second part of an artifact key.
const (
	KindNetwork = "network"
	KindFile    = "file"
)

// DLQStage is the Stage of every DLQ record this package writes.
const DLQStage = "enrich"

// ChangeRecord returns the record of one incident version as get_incidents
// returned it: topic incidents, type incident.change, key the incident id,
// data the incident object unchanged.
func ChangeRecord(m Meta, inc xdr.Incident) sink.Record {
	env := sink.Envelope{
		RecordType:       sink.TypeIncidentChange,
		IncidentID:       inc.ID,
		ModificationTime: inc.ModificationTime,
		Data:             inc.Raw,
	}
	buf := make([]byte, 0, envelopeSize(m, &env, len(inc.ID)))
	buf = append(buf, inc.ID...)
	k := len(buf)
	buf = appendEnvelope(buf, m, &env)
	return sink.Record{Topic: sink.TopicIncidents, Type: sink.TypeIncidentChange, Key: buf[:k:k], Value: buf[k:]}
}

// Flatten turns one get_incident_extra_data reply into records, in this
// order: the enriched incident (topic incidents, type incident.enriched, with
// an enrichment summary that flags truncated alerts), one record per alert
// (topic alerts, keyed by AlertKey), one per network artifact and one per file
// artifact (topic artifacts, keyed by NetworkArtifactKey and FileArtifactKey).
//
// Every record carries modification_time = max(version, the reply's incident
// modification_time), and its data is the API object's bytes unchanged, which
// must be valid JSON (as xdr decoding guarantees); an object with no bytes is
// written as null. The returned info is the enriched record's summary.
//
// All records share one backing buffer; their Key and Value slices must be
// treated as read-only.
func Flatten(m Meta, version int64, ed *xdr.ExtraData) (recs []sink.Record, info sink.EnrichmentInfo) {
	inc := &ed.Incident
	id := inc.ID
	version = max(version, inc.ModificationTime)
	info = sink.EnrichmentInfo{
		AlertsTotalCount:           max(ed.Alerts.TotalCount, len(ed.Alerts.Data)),
		AlertsReceived:             len(ed.Alerts.Data),
		AlertsTruncated:            ed.Alerts.Truncated(),
		AlertsLimit:                m.AlertsLimit,
		NetworkArtifactsTotalCount: max(ed.NetworkArtifacts.TotalCount, len(ed.NetworkArtifacts.Data)),
		FileArtifactsTotalCount:    max(ed.FileArtifacts.TotalCount, len(ed.FileArtifacts.Data)),
		FetchedAt:                  m.FetchedAt,
	}

	n := 1 + len(ed.Alerts.Data) + len(ed.NetworkArtifacts.Data) + len(ed.FileArtifacts.Data)
	// Size the shared buffer once: the raw objects plus a generous envelope
	// per record. Slices are cut only at the end, so an underestimate costs a
	// re-allocation, never correctness.
	per := 320 + 2*(len(m.Connector)+len(m.Tenant)+len(id))
	size := n*per + len(inc.Raw)
	for i := range ed.Alerts.Data {
		size += len(ed.Alerts.Data[i].Raw) + 2*len(ed.Alerts.Data[i].ID)
	}
	for i := range ed.NetworkArtifacts.Data {
		size += len(ed.NetworkArtifacts.Data[i].Raw) + 2*len(ed.NetworkArtifacts.Data[i].Domain)
	}
	for i := range ed.FileArtifacts.Data {
		size += len(ed.FileArtifacts.Data[i].Raw) + 2*len(ed.FileArtifacts.Data[i].FileName)
	}
	buf := make([]byte, 0, size)
	type span struct{ k0, k1, v1 int } // key buf[k0:k1], value buf[k1:v1]
	spans := make([]span, 0, n)
	recs = make([]sink.Record, 0, n)
	add := func(topic sink.Topic, typ string, key string, env *sink.Envelope) {
		k0 := len(buf)
		buf = append(buf, key...)
		k1 := len(buf)
		env.RecordType = typ
		env.IncidentID = id
		env.ModificationTime = version
		buf = appendEnvelope(buf, m, env)
		spans = append(spans, span{k0, k1, len(buf)})
		recs = append(recs, sink.Record{Topic: topic, Type: typ})
	}

	add(sink.TopicIncidents, sink.TypeIncidentEnriched, id, &sink.Envelope{Enrichment: &info, Data: inc.Raw})
	for i := range ed.Alerts.Data {
		a := &ed.Alerts.Data[i]
		key := AlertKey(id, *a)
		add(sink.TopicAlerts, sink.TypeAlert, key, &sink.Envelope{AlertID: key, Data: a.Raw})
	}
	for i := range ed.NetworkArtifacts.Data {
		a := &ed.NetworkArtifacts.Data[i]
		add(sink.TopicArtifacts, sink.TypeNetworkArtifact, NetworkArtifactKey(id, *a),
			&sink.Envelope{ArtifactType: strings.TrimSpace(a.Type), Data: a.Raw})
	}
	for i := range ed.FileArtifacts.Data {
		a := &ed.FileArtifacts.Data[i]
		add(sink.TopicArtifacts, sink.TypeFileArtifact, FileArtifactKey(id, *a),
			&sink.Envelope{ArtifactType: strings.TrimSpace(a.Type), Data: a.Raw})
	}
	for i, s := range spans {
		recs[i].Key = buf[s.k0:s.k1:s.k1]
		recs[i].Value = buf[s.k1:s.v1:s.v1]
	}
	return recs, info
}

// DLQRecord returns the dead-letter record of an enrichment given up after
// attempts calls: topic dlq, key the incident id, data
// {"incident_id", "modification_time"} of the owed version, and an error
// block with cause's message and, when cause wraps an *xdr.APIError, its HTTP
// status and err_code. at is the failure time in epoch ms. cause's message is
// copied as is: it must not hold a secret (the xdr client's errors never do).
func DLQRecord(m Meta, it Item, cause error, attempts int, at int64) sink.Record {
	e := &sink.DLQError{Stage: DLQStage, Attempts: attempts, FailedAt: at, Message: "unknown error"}
	if cause != nil {
		e.Message = cause.Error()
	}
	var ae *xdr.APIError
	if errors.As(cause, &ae) {
		e.Status, e.Code = ae.Status, ae.Code
	}
	data := make([]byte, 0, 64+len(it.IncidentID))
	data = append(data, `{"incident_id":`...)
	data = appendString(data, it.IncidentID)
	data = append(data, `,"modification_time":`...)
	data = strconv.AppendInt(data, it.ModificationTime, 10)
	data = append(data, '}')
	env := sink.Envelope{
		RecordType:       sink.TypeDLQ,
		IncidentID:       it.IncidentID,
		ModificationTime: it.ModificationTime,
		Error:            e,
		Data:             data,
	}
	buf := make([]byte, 0, envelopeSize(m, &env, len(it.IncidentID))+2*len(e.Message)+2*len(e.Code))
	buf = append(buf, it.IncidentID...)
	k := len(buf)
	buf = appendEnvelope(buf, m, &env)
	return sink.Record{Topic: sink.TopicDLQ, Type: sink.TypeDLQ, Key: buf[:k:k], Value: buf[k:]}
}

// AlertKey returns the key of an alert record: the API's alert_id when the
// alert has one; otherwise "h:" and the hex SHA-256 of the alert's identity —
// incident id, name, source, host name, detection timestamp, and the raw
// alert's event_id and external_id when present. Fields that change as an
// alert is updated (status, severity, counts) are deliberately left out, so
// the key is stable across versions of the same alert.
func AlertKey(incidentID string, a xdr.Alert) string {
	if id := strings.TrimSpace(a.ID); id != "" {
		return id
	}
	var ids struct {
		EventID    json.RawMessage `json:"event_id"`
		ExternalID json.RawMessage `json:"external_id"`
	}
	_ = json.Unmarshal(a.Raw, &ids) // best effort: a non-object contributes nothing
	h := sha256.New()
	for _, f := range []string{
		"xdr-alert-key/v1",
		incidentID,
		strings.TrimSpace(a.Name),
		strings.TrimSpace(a.Source),
		strings.TrimSpace(a.HostName),
		strconv.FormatInt(a.DetectionTimestamp, 10),
		scalarText(ids.EventID),
		scalarText(ids.ExternalID),
	} {
		// Length-prefixed, so no two field lists hash the same input.
		h.Write(strconv.AppendInt(nil, int64(len(f)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return "h:" + hex.EncodeToString(h.Sum(nil))
}

// scalarText renders a JSON scalar as text: a string unquoted and trimmed, a
// number or boolean as its literal; null, absent, objects and arrays as "".
func scalarText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 {
		return ""
	}
	switch raw[0] {
	case '"':
		var s string
		if json.Unmarshal(raw, &s) != nil {
			return ""
		}
		return strings.TrimSpace(s)
	case 'n', '{', '[':
		return ""
	}
	return string(raw)
}

// ArtifactKey returns the key of an artifact record:
// "<incident id>/<kind>/<artifact type>/<identity>", where kind is KindNetwork
// or KindFile and the type may be empty (bare-string artifacts carry none).
func ArtifactKey(incidentID, kind, artifactType, identity string) string {
	return incidentID + "/" + kind + "/" + artifactType + "/" + identity
}

// NetworkArtifactKey returns the key of a network artifact. Its identity is
// the domain (lower-cased, without a trailing dot) for DOMAIN artifacts, the
// remote IP with ":port" when a port is set (IPv6 bracketed) for IP
// artifacts, and for other or missing types the first of domain, ip[:port]
// or bare value that is present. Counts and flags are not part of it. An
// artifact with none of these is keyed by a hash of its raw bytes, the only
// identity it has.
func NetworkArtifactKey(incidentID string, a xdr.NetworkArtifact) string {
	typ := strings.ToUpper(strings.TrimSpace(a.Type))
	domain := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(a.Domain), "."))
	ip := strings.TrimSpace(a.RemoteIP)
	if ip != "" && a.RemotePort > 0 {
		ip = net.JoinHostPort(ip, strconv.Itoa(a.RemotePort))
	}
	var identity string
	switch {
	case typ == "DOMAIN" && domain != "":
		identity = domain
	case typ == "IP" && ip != "":
		identity = ip
	case domain != "":
		identity = domain
	case ip != "":
		identity = ip
	case strings.TrimSpace(a.Value) != "":
		identity = strings.TrimSpace(a.Value)
	default:
		identity = rawHash(a.Raw)
	}
	return ArtifactKey(incidentID, KindNetwork, typ, identity)
}

// FileArtifactKey returns the key of a file artifact. Its identity is the
// SHA-256 (lower-cased), else the bare value, else the file name; an artifact
// with none of these is keyed by a hash of its raw bytes.
func FileArtifactKey(incidentID string, a xdr.FileArtifact) string {
	typ := strings.ToUpper(strings.TrimSpace(a.Type))
	var identity string
	switch {
	case strings.TrimSpace(a.SHA256) != "":
		identity = strings.ToLower(strings.TrimSpace(a.SHA256))
	case strings.TrimSpace(a.Value) != "":
		identity = strings.TrimSpace(a.Value)
	case strings.TrimSpace(a.FileName) != "":
		identity = strings.TrimSpace(a.FileName)
	default:
		identity = rawHash(a.Raw)
	}
	return ArtifactKey(incidentID, KindFile, typ, identity)
}

func rawHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "h:" + hex.EncodeToString(sum[:])
}

// envelopeSize is a generous estimate of an encoded envelope plus a key of
// keyLen bytes.
func envelopeSize(m Meta, env *sink.Envelope, keyLen int) int {
	return 320 + keyLen + len(env.Data) + 2*(len(m.Connector)+len(m.Tenant)+len(env.IncidentID)+len(env.AlertID)+len(env.ArtifactType))
}

// appendEnvelope appends env as JSON, with Connector and Tenant from m and
// SchemaVersion sink.SchemaVersion. It produces what encoding/json would for
// sink.Envelope (same field names, order and omitempty rules), except that
// Data is copied byte for byte — encoding/json would compact it and escape
// HTML characters — and an empty Data is written as null. It is hand-written
// because it runs once per record on the hot path.
func appendEnvelope(b []byte, m Meta, env *sink.Envelope) []byte {
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, sink.SchemaVersion, 10)
	b = append(b, `,"record_type":`...)
	b = appendString(b, env.RecordType)
	b = append(b, `,"connector":`...)
	b = appendString(b, m.Connector)
	if m.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = appendString(b, m.Tenant)
	}
	b = append(b, `,"incident_id":`...)
	b = appendString(b, env.IncidentID)
	b = append(b, `,"modification_time":`...)
	b = strconv.AppendInt(b, env.ModificationTime, 10)
	if env.AlertID != "" {
		b = append(b, `,"alert_id":`...)
		b = appendString(b, env.AlertID)
	}
	if env.ArtifactType != "" {
		b = append(b, `,"artifact_type":`...)
		b = appendString(b, env.ArtifactType)
	}
	if e := env.Enrichment; e != nil {
		b = append(b, `,"enrichment":{"alerts_total_count":`...)
		b = strconv.AppendInt(b, int64(e.AlertsTotalCount), 10)
		b = append(b, `,"alerts_received":`...)
		b = strconv.AppendInt(b, int64(e.AlertsReceived), 10)
		b = append(b, `,"alerts_truncated":`...)
		b = strconv.AppendBool(b, e.AlertsTruncated)
		b = append(b, `,"alerts_limit":`...)
		b = strconv.AppendInt(b, int64(e.AlertsLimit), 10)
		b = append(b, `,"network_artifacts_total_count":`...)
		b = strconv.AppendInt(b, int64(e.NetworkArtifactsTotalCount), 10)
		b = append(b, `,"file_artifacts_total_count":`...)
		b = strconv.AppendInt(b, int64(e.FileArtifactsTotalCount), 10)
		b = append(b, `,"fetched_at":`...)
		b = strconv.AppendInt(b, e.FetchedAt, 10)
		b = append(b, '}')
	}
	if e := env.Error; e != nil {
		b = append(b, `,"error":{"stage":`...)
		b = appendString(b, e.Stage)
		b = append(b, `,"message":`...)
		b = appendString(b, e.Message)
		if e.Status != 0 {
			b = append(b, `,"http_status":`...)
			b = strconv.AppendInt(b, int64(e.Status), 10)
		}
		if e.Code != "" {
			b = append(b, `,"err_code":`...)
			b = appendString(b, e.Code)
		}
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(e.Attempts), 10)
		b = append(b, `,"failed_at":`...)
		b = strconv.AppendInt(b, e.FailedAt, 10)
		b = append(b, '}')
	}
	b = append(b, `,"data":`...)
	if len(env.Data) == 0 {
		b = append(b, "null"...)
	} else {
		b = append(b, env.Data...)
	}
	return append(b, '}')
}

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Control characters, quote and
// backslash are escaped, as are U+2028 and U+2029; invalid UTF-8 becomes
// U+FFFD, as encoding/json does. HTML characters are left alone.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
