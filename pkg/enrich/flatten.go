package enrich

import (
	"errors"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// This file turns API objects into records. Everything in it is pure: no
// I/O, no clock, no logging.

// Meta is what every record of one connector instance shares.
type Meta = record.Meta

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
// (topic alerts), one per network artifact and one per file artifact (topic
// artifacts), each keyed as record.ReplyKeys says: no two different objects of the
// reply share a key, and the enriched incident counts the objects whose key
// took a suffix in enrichment.key_collisions (and so does info).
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
	keys := record.ReplyKeys(ed)
	info.KeyCollisions = keys.Collisions
	for i := range ed.Alerts.Data {
		a := &ed.Alerts.Data[i]
		key := keys.Alerts[i]
		add(record.TopicAlerts, record.TypeAlert, key, &record.Envelope{AlertID: key, Data: a.Raw})
	}
	for i := range ed.NetworkArtifacts.Data {
		a := &ed.NetworkArtifacts.Data[i]
		add(record.TopicArtifacts, record.TypeNetworkArtifact, keys.Network[i],
			&record.Envelope{ArtifactType: strings.TrimSpace(a.Type), Data: a.Raw})
	}
	for i := range ed.FileArtifacts.Data {
		a := &ed.FileArtifacts.Data[i]
		add(record.TopicArtifacts, record.TypeFileArtifact, keys.File[i],
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
