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

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// This file turns API objects into records. Everything in it is pure: no
// I/O, no clock, no logging.

// Meta is what every record of one connector instance shares.
type Meta = record.Meta

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
func ChangeRecord(m Meta, inc xdr.Incident) record.Record {
	return record.New(m, record.TopicIncidents, inc.ID, &record.Envelope{
		RecordType:       record.TypeIncidentChange,
		IncidentID:       inc.ID,
		ModificationTime: inc.ModificationTime,
		Data:             inc.Raw,
	})
}

// Flatten turns one get_incident_extra_data reply into records, in this
// order: the enriched incident (topic incidents, type incident.enriched, with
// an enrichment summary that flags truncated alerts), one record per alert
// (topic alerts, keyed by AlertKey), one per network artifact and one per file
// artifact (topic artifacts, keyed by NetworkArtifactKey and FileArtifactKey).
//
// Every record carries modification_time = max(version, the reply's incident
// modification_time), and its data is the API object's bytes unchanged. ed
// must pass xdr.ExtraData.Check (xdr decoding guarantees it, the enricher
// checks it), so that every data is what its schema says: the incident an
// object with its id, each alert an object, each artifact an object or a
// string. The returned info is the enriched record's summary.
//
// A record larger than m.MaxBytes is replaced by its record.Oversized DLQ
// record; the enriched incident counts them in enrichment.oversized_records
// (and so does info).
//
// All records share one backing buffer; their Key and Value slices must be
// treated as read-only.
func Flatten(m Meta, version int64, ed *xdr.ExtraData) (recs []record.Record, info record.EnrichmentInfo) {
	inc := &ed.Incident
	id := inc.ID
	version = max(version, inc.ModificationTime)
	info = record.EnrichmentInfo{
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
	// per record.
	per := record.EnvelopeOverhead(m) + 2*len(id)
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
	b := record.NewBuilder(m, n, size)
	add := func(topic record.Topic, typ string, key string, env *record.Envelope) {
		env.RecordType = typ
		env.IncidentID = id
		env.ModificationTime = version
		if !b.Fit(topic, key, env, m.FetchedAt) {
			info.OversizedRecords++
		}
	}

	// The enriched incident is encoded last, once the oversized count is
	// known, and moved to the front.
	for i := range ed.Alerts.Data {
		a := &ed.Alerts.Data[i]
		key := AlertKey(id, *a)
		add(record.TopicAlerts, record.TypeAlert, key, &record.Envelope{AlertID: key, Data: a.Raw})
	}
	for i := range ed.NetworkArtifacts.Data {
		a := &ed.NetworkArtifacts.Data[i]
		add(record.TopicArtifacts, record.TypeNetworkArtifact, NetworkArtifactKey(id, *a),
			&record.Envelope{ArtifactType: strings.TrimSpace(a.Type), Data: a.Raw})
	}
	for i := range ed.FileArtifacts.Data {
		a := &ed.FileArtifacts.Data[i]
		add(record.TopicArtifacts, record.TypeFileArtifact, FileArtifactKey(id, *a),
			&record.Envelope{ArtifactType: strings.TrimSpace(a.Type), Data: a.Raw})
	}
	enriched := info // the record carries the count of the others
	add(record.TopicIncidents, record.TypeIncidentEnriched, id, &record.Envelope{Enrichment: &enriched, Data: inc.Raw})
	recs = b.Records()
	last := recs[len(recs)-1]
	copy(recs[1:], recs[:len(recs)-1])
	recs[0] = last
	return recs, info
}

// DLQRecord returns the dead-letter record of an enrichment given up after
// attempts calls: topic dlq, key the incident id, data
// {"incident_id", "modification_time"} of the owed version, and an error
// block with cause's message and, when cause wraps an *xdr.APIError, its HTTP
// status and err_code. at is the failure time in epoch ms. cause's message is
// copied as is: it must not hold a secret (the xdr client's errors never do).
func DLQRecord(m Meta, it offsets.Pending, cause error, attempts int, at int64) record.Record {
	e := &record.DLQError{Stage: DLQStage, Attempts: attempts, FailedAt: at, Message: "unknown error"}
	if cause != nil {
		e.Message = cause.Error()
	}
	var ae *xdr.APIError
	if errors.As(cause, &ae) {
		e.Status, e.Code = ae.Status, ae.Code
	}
	return record.DeadLetter(m, it.IncidentID, it.ModificationTime, e)
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
