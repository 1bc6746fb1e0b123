package record

import (
	"strconv"
	"unicode/utf8"
)

// New encodes one record for topic with the given key and envelope; Type,
// IncidentID and Version come from env. Connector, Tenant and SchemaVersion
// come from m and SchemaVersion, whatever env holds.
func New(m Meta, topic Topic, key string, env *Envelope) Record {
	buf := make([]byte, 0, envelopeSize(m, env)+len(key))
	buf = append(buf, key...)
	k := len(buf)
	buf = appendEnvelope(buf, m, env)
	return Record{Topic: topic, Type: env.RecordType, Key: buf[:k:k], Value: buf[k:], IncidentID: env.IncidentID, Version: env.ModificationTime}
}

// Raw returns a record whose value is value as it is, not an envelope: the
// output profiles' records (OCSF events, ECS documents) are their format's
// own JSON. It does not copy key or value.
func Raw(topic Topic, typ string, key string, value []byte, incidentID string, version int64) Record {
	return Record{Topic: topic, Type: typ, Key: []byte(key), Value: value, IncidentID: incidentID, Version: version}
}

// DeadLetter encodes the DLQ record of the incident version (id, version):
// topic dlq, key the incident id, error block e, and data
// {"incident_id", "modification_time"}, so a consumer of the DLQ alone knows
// what to fetch again.
func DeadLetter(m Meta, id string, version int64, e *DLQError) Record {
	data := make([]byte, 0, 64+len(id))
	data = append(data, `{"incident_id":`...)
	data = AppendString(data, id)
	data = append(data, `,"modification_time":`...)
	data = strconv.AppendInt(data, version, 10)
	data = append(data, '}')
	return New(m, TopicDLQ, id, &Envelope{RecordType: TypeDLQ, IncidentID: id, ModificationTime: version, Error: e, Data: data})
}

// Oversized returns the DLQ record that stands in for r, a record larger
// than m.MaxBytes, so that the rest of its incident's records can still be
// published and nothing is lost without a trace: topic dlq, key the incident
// id, an error block naming r's type, key, topic role and size, and data
// {"incident_id", "modification_time", "excerpt"} with the first
// ExcerptBytes of r's value. at is the time, epoch ms.
func Oversized(m Meta, r Record, at int64) Record {
	size := Size(r)
	e := &DLQError{
		Stage: StagePublish, FailedAt: at,
		Message:    "record of " + strconv.Itoa(size) + " bytes exceeds KAFKA_MAX_RECORD_BYTES (" + strconv.Itoa(m.MaxBytes) + "); an excerpt is kept",
		RecordType: r.Type, RecordKey: excerpt(r.Key, 512), RecordTopic: r.Topic.String(), RecordBytes: size, LimitBytes: m.MaxBytes,
	}
	data := make([]byte, 0, 96+len(r.IncidentID)+2*ExcerptBytes)
	data = append(data, `{"incident_id":`...)
	data = AppendString(data, r.IncidentID)
	data = append(data, `,"modification_time":`...)
	data = strconv.AppendInt(data, r.Version, 10)
	data = append(data, `,"excerpt":`...)
	data = AppendString(data, excerpt(r.Value, ExcerptBytes))
	data = append(data, '}')
	return New(m, TopicDLQ, r.IncidentID, &Envelope{RecordType: TypeDLQ, IncidentID: r.IncidentID, ModificationTime: r.Version, Error: e, Data: data})
}

// Fits reports whether r is within m.MaxBytes (always, with no limit).
func Fits(m Meta, r Record) bool { return m.MaxBytes <= 0 || Size(r) <= m.MaxBytes }

// excerpt returns at most n bytes of b, cut on a UTF-8 boundary.
func excerpt(b []byte, n int) string {
	if len(b) <= n {
		return string(b)
	}
	for n > 0 && !utf8.RuneStart(b[n]) {
		n--
	}
	return string(b[:n])
}

// Builder encodes many records into one backing buffer, so a reply with a
// thousand alerts costs a handful of allocations. Records returned share that
// buffer: their Key and Value must be treated as read-only.
type Builder struct {
	m     Meta
	buf   []byte
	spans []span
	recs  []Record
}

type span struct{ k0, k1, v1 int } // key buf[k0:k1], value buf[k1:v1]

// NewBuilder returns a Builder for about n records whose encoding takes about
// size bytes in all. The hints only size the buffers: an underestimate costs a
// re-allocation, never correctness.
func NewBuilder(m Meta, n, size int) *Builder {
	return &Builder{m: m, buf: make([]byte, 0, size), spans: make([]span, 0, n), recs: make([]Record, 0, n)}
}

// Add appends a record for topic with key and the envelope env (see New).
func (b *Builder) Add(topic Topic, key string, env *Envelope) {
	k0 := len(b.buf)
	b.buf = append(b.buf, key...)
	k1 := len(b.buf)
	b.buf = appendEnvelope(b.buf, b.m, env)
	b.spans = append(b.spans, span{k0, k1, len(b.buf)})
	b.recs = append(b.recs, Record{Topic: topic, Type: env.RecordType, IncidentID: env.IncidentID, Version: env.ModificationTime})
}

// Fit is Add for a record that must fit m.MaxBytes: one that does not is
// replaced by its Oversized DLQ record (stamped at), and Fit reports false.
func (b *Builder) Fit(topic Topic, key string, env *Envelope, at int64) bool {
	k0, n := len(b.buf), len(b.recs)
	b.Add(topic, key, env)
	s := b.spans[n]
	r := b.recs[n]
	r.Key, r.Value = b.buf[s.k0:s.k1:s.k1], b.buf[s.k1:s.v1:s.v1]
	if Fits(b.m, r) {
		return true
	}
	stand := Oversized(b.m, r, at) // copies what it keeps of r before r's bytes are dropped
	b.buf, b.spans, b.recs = b.buf[:k0], b.spans[:n], b.recs[:n]
	b.buf = append(b.buf, stand.Key...)
	k1 := len(b.buf)
	b.buf = append(b.buf, stand.Value...)
	b.spans = append(b.spans, span{k0, k1, len(b.buf)})
	b.recs = append(b.recs, Record{Topic: TopicDLQ, Type: TypeDLQ, IncidentID: stand.IncidentID, Version: stand.Version})
	return false
}

// Records returns the records added so far, in order. Call it once, after the
// last Add.
func (b *Builder) Records() []Record {
	for i, s := range b.spans {
		b.recs[i].Key = b.buf[s.k0:s.k1:s.k1]
		b.recs[i].Value = b.buf[s.k1:s.v1:s.v1]
	}
	return b.recs
}

// EnvelopeOverhead is a generous estimate of what an envelope adds to its
// data and to the strings of m, for sizing a Builder.
func EnvelopeOverhead(m Meta) int { return 320 + 2*(len(m.Connector)+len(m.Tenant)) }

// envelopeSize is a generous estimate of an encoded envelope.
func envelopeSize(m Meta, env *Envelope) int {
	n := EnvelopeOverhead(m) + len(env.Data) + 2*(len(env.IncidentID)+len(env.AlertID)+len(env.ArtifactType))
	if env.Error != nil {
		n += 2 * (len(env.Error.Message) + len(env.Error.Code) + len(env.Error.Stage))
	}
	return n
}

// appendEnvelope appends env as JSON, with Connector and Tenant from m and
// SchemaVersion SchemaVersion. It produces what encoding/json would for
// Envelope (same field names, order and omitempty rules), except that
// Data is copied byte for byte — encoding/json would compact it and escape
// HTML characters — and an empty Data is written as null. It is hand-written
// because it runs once per record on the hot path.
func appendEnvelope(b []byte, m Meta, env *Envelope) []byte {
	b = append(b, `{"schema_version":`...)
	b = strconv.AppendInt(b, SchemaVersion, 10)
	b = append(b, `,"record_type":`...)
	b = AppendString(b, env.RecordType)
	b = append(b, `,"connector":`...)
	b = AppendString(b, m.Connector)
	if m.Tenant != "" {
		b = append(b, `,"tenant":`...)
		b = AppendString(b, m.Tenant)
	}
	b = append(b, `,"incident_id":`...)
	b = AppendString(b, env.IncidentID)
	b = append(b, `,"modification_time":`...)
	b = strconv.AppendInt(b, env.ModificationTime, 10)
	if env.AlertID != "" {
		b = append(b, `,"alert_id":`...)
		b = AppendString(b, env.AlertID)
	}
	if env.ArtifactType != "" {
		b = append(b, `,"artifact_type":`...)
		b = AppendString(b, env.ArtifactType)
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
		if e.OversizedRecords != 0 {
			b = append(b, `,"oversized_records":`...)
			b = strconv.AppendInt(b, int64(e.OversizedRecords), 10)
		}
		if e.KeyCollisions != 0 {
			b = append(b, `,"key_collisions":`...)
			b = strconv.AppendInt(b, int64(e.KeyCollisions), 10)
		}
		b = append(b, '}')
	}
	if e := env.Error; e != nil {
		b = append(b, `,"error":{"stage":`...)
		b = AppendString(b, e.Stage)
		b = append(b, `,"message":`...)
		b = AppendString(b, e.Message)
		if e.Status != 0 {
			b = append(b, `,"http_status":`...)
			b = strconv.AppendInt(b, int64(e.Status), 10)
		}
		if e.Code != "" {
			b = append(b, `,"err_code":`...)
			b = AppendString(b, e.Code)
		}
		b = append(b, `,"attempts":`...)
		b = strconv.AppendInt(b, int64(e.Attempts), 10)
		b = append(b, `,"failed_at":`...)
		b = strconv.AppendInt(b, e.FailedAt, 10)
		for _, f := range [...]struct{ name, v string }{
			{`,"record_type":`, e.RecordType}, {`,"record_key":`, e.RecordKey}, {`,"record_topic":`, e.RecordTopic},
		} {
			if f.v != "" {
				b = append(b, f.name...)
				b = AppendString(b, f.v)
			}
		}
		if e.RecordBytes != 0 {
			b = append(b, `,"record_bytes":`...)
			b = strconv.AppendInt(b, int64(e.RecordBytes), 10)
		}
		if e.LimitBytes != 0 {
			b = append(b, `,"limit_bytes":`...)
			b = strconv.AppendInt(b, int64(e.LimitBytes), 10)
		}
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

// AppendString appends s as a JSON string. Control characters, quote and
// backslash are escaped, as are U+2028 and U+2029; invalid UTF-8 becomes
// U+FFFD, as encoding/json does. HTML characters are left alone.
func AppendString(b []byte, s string) []byte {
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
