// Package record is the connector's record model: what a record is (its
// topic role, type, key, incident version and encoded value), how each API
// object is keyed (keys.go: AlertKey, ReplyKeys, ...), the envelope every
// native record's value follows, and the one encoder that writes it.
//
// Stages build records only through this package: the enricher decides which
// records a reply becomes (package enrich, Flatten), the output profiles map
// the same objects under the same keys (package profile), the sink decides
// where each topic role goes (package sink). A second output
// format is a second encoder here, not a change to either stage.
package record

import (
	"encoding/json"
	"errors"
)

// SchemaVersion is the version of the record envelope, sent in every record's
// value and in its HeaderSchemaVersion header. Bump it on an incompatible change.
const SchemaVersion = 1

// Header names carried by every record.
const (
	HeaderRecordType    = "xdr.record_type"
	HeaderSchemaVersion = "xdr.schema_version"
	HeaderTenant        = "xdr.tenant" // multi-tenant mode only: the tenant id
)

// Topic names a logical output (a topic role); Topics maps each to a Kafka
// topic name, which the sink writes it to.
type Topic uint8

const (
	TopicIncidents Topic = iota // incident change and enriched-incident records
	TopicAlerts                 // one record per alert
	TopicArtifacts              // one record per network or file artifact
	TopicDLQ                    // enrichments that failed for good

	// The output profiles' topics (OUTPUT_PROFILES): the same incident
	// versions and alerts as TopicIncidents and TopicAlerts, keyed alike.
	TopicOCSFIncidents // OCSF Incident Findings
	TopicOCSFAlerts    // OCSF Detection Findings
	TopicECSIncidents  // ECS incident documents
	TopicECSAlerts     // ECS alert documents
)

// Record types: the value of HeaderRecordType and of the envelope's record_type.
const (
	TypeIncidentChange   = "incident.change"
	TypeIncidentEnriched = "incident.enriched"
	TypeAlert            = "alert"
	TypeNetworkArtifact  = "artifact.network"
	TypeFileArtifact     = "artifact.file"
	TypeDLQ              = "dlq"

	// Output profiles: the profile, then the native type the record stands
	// beside.
	TypeOCSFIncidentChange   = "ocsf.incident.change"
	TypeOCSFIncidentEnriched = "ocsf.incident.enriched"
	TypeOCSFAlert            = "ocsf.alert"
	TypeECSIncidentChange    = "ecs.incident.change"
	TypeECSIncidentEnriched  = "ecs.incident.enriched"
	TypeECSAlert             = "ecs.alert"
)

// Record is one keyed record bound for a topic role. Value is the encoded
// envelope. IncidentID and Version name the incident version the record
// belongs to (Version is its modification_time, epoch ms), so no stage needs
// to decode Value to learn them.
type Record struct {
	Topic      Topic
	Type       string
	Key        []byte
	Value      []byte
	IncidentID string
	Version    int64
}

// Meta is what every record of one connector instance and tenant shares.
type Meta struct {
	Connector   string
	Tenant      string
	AlertsLimit int   // the alerts_limit the extra data was fetched with
	FetchedAt   int64 // when the reply came back, epoch ms
	// MaxBytes is the largest record Kafka is expected to accept
	// (KAFKA_MAX_RECORD_BYTES); a larger one is replaced by an Oversized
	// DLQ record. 0: no limit.
	MaxBytes int
}

// ErrRejected marks a produce error that no retry can fix: Kafka refused
// the record itself (too large, invalid). The sink wraps such errors with
// it; the stage that owns the record dead-letters it instead of stopping.
var ErrRejected = errors.New("record rejected by Kafka")

// HeaderSlack is what Size adds to a record's key and value for its
// headers (record type, schema version, traceparent) and Kafka's per-record
// framing.
const HeaderSlack = 256

// Size is the bytes a record takes against Meta.MaxBytes.
func Size(r Record) int { return len(r.Key) + len(r.Value) + HeaderSlack }

// ExcerptBytes is how much of an oversized record's value its DLQ record
// keeps.
const ExcerptBytes = 4096

// Envelope is the JSON value of every record. Data holds the API object
// exactly as received, with every field it had.
type Envelope struct {
	SchemaVersion    int    `json:"schema_version"`
	RecordType       string `json:"record_type"`
	Connector        string `json:"connector"`
	Tenant           string `json:"tenant,omitempty"`
	IncidentID       string `json:"incident_id"`
	ModificationTime int64  `json:"modification_time"` // of the incident version the record belongs to, epoch ms

	AlertID      string `json:"alert_id,omitempty"`      // alert records: the API's alert_id, or the derived key
	ArtifactType string `json:"artifact_type,omitempty"` // artifact records: DOMAIN, IP, HASH, ...

	Enrichment *EnrichmentInfo `json:"enrichment,omitempty"` // enriched-incident records
	Error      *DLQError       `json:"error,omitempty"`      // DLQ records

	Data json.RawMessage `json:"data"`
}

// EnrichmentInfo summarises a get_incident_extra_data reply on the enriched
// incident record, so truncation is never silent.
type EnrichmentInfo struct {
	AlertsTotalCount           int   `json:"alerts_total_count"`
	AlertsReceived             int   `json:"alerts_received"`
	AlertsTruncated            bool  `json:"alerts_truncated"`
	AlertsLimit                int   `json:"alerts_limit"`
	NetworkArtifactsTotalCount int   `json:"network_artifacts_total_count"`
	FileArtifactsTotalCount    int   `json:"file_artifacts_total_count"`
	FetchedAt                  int64 `json:"fetched_at"` // epoch ms
	// OversizedRecords counts this reply's records that exceeded
	// KAFKA_MAX_RECORD_BYTES and went to the DLQ instead (omitted when 0).
	OversizedRecords int `json:"oversized_records,omitempty"`
	// KeyCollisions counts this reply's objects whose own key an earlier,
	// different object of the reply had, so that their records carry a
	// suffixed key (omitted when 0; see ReplyKeys).
	KeyCollisions int `json:"key_collisions,omitempty"`
}

// DLQError describes why an enrichment, or one record, was given up.
type DLQError struct {
	Stage    string `json:"stage"` // "enrich"; StagePublish for a record Kafka would not take; StageProfile for an object a profile could not map
	Message  string `json:"message"`
	Status   int    `json:"http_status,omitempty"`
	Code     string `json:"err_code,omitempty"`
	Attempts int    `json:"attempts"`
	FailedAt int64  `json:"failed_at"` // epoch ms

	// For a record replaced because of its size (Stage StagePublish).
	RecordType  string `json:"record_type,omitempty"`  // the replaced record's type
	RecordKey   string `json:"record_key,omitempty"`   // its key
	RecordTopic string `json:"record_topic,omitempty"` // its topic role: incidents, alerts, artifacts
	RecordBytes int    `json:"record_bytes,omitempty"` // its size (see Size)
	LimitBytes  int    `json:"limit_bytes,omitempty"`  // KAFKA_MAX_RECORD_BYTES
}

// StagePublish is the DLQ stage of a record replaced because Kafka would not
// take it.
const StagePublish = "publish"

// StageProfile is the DLQ stage of an object an output profile (OCSF, ECS)
// could not map; its native record was published.
const StageProfile = "profile"
