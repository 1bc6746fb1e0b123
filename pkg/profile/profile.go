// Package profile turns the connector's fetched data into the records of the
// output profiles (OUTPUT_PROFILES) beside the native ones: OCSF events
// (package ocsf) and ECS documents (package ecs), each on its profile's own
// topics, keyed like the native records (the incident id, enrich.ReplyKeys). They are
// made from the same decoded API objects, in the same batch as the native
// records, so enabling a profile costs no API call and, in exactly-once
// mode, a batch's records of every profile are in one transaction.
//
// An object that a profile cannot map becomes a DLQ record with the reason,
// in place of that one record; the native records and the other profiles'
// are published as usual.
package profile

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ecs"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ocsf"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Profile names, as OUTPUT_PROFILES lists them.
const (
	Native = "native"
	OCSF   = "ocsf"
	ECS    = "ecs"
)

// Names are the profiles, in the order records of a batch follow.
var Names = []string{Native, OCSF, ECS}

// DLQStage is the Stage of the DLQ record of an object a profile could not
// map.
const DLQStage = record.StageProfile

// Set is the enabled profiles. Its zero value has none; Default is native
// alone, the connector's output without OUTPUT_PROFILES.
type Set struct{ native, ocsf, ecs bool }

// Default is the native profile alone.
var Default = Set{native: true}

// ErrUnknown is returned by Parse for a name that is not a profile.
var ErrUnknown = errors.New("unknown output profile")

// Parse reads a comma-separated list of profile names (case and surrounding
// spaces ignored). It returns an error wrapping ErrUnknown for any other
// name, and one for an empty list.
func Parse(list string) (Set, error) {
	var s Set
	for name := range strings.SplitSeq(list, ",") {
		switch strings.ToLower(strings.TrimSpace(name)) {
		case Native:
			s.native = true
		case OCSF:
			s.ocsf = true
		case ECS:
			s.ecs = true
		case "":
		default:
			return Set{}, fmt.Errorf("%w %q (want %s)", ErrUnknown, strings.TrimSpace(name), strings.Join(Names, ", "))
		}
	}
	if s == (Set{}) {
		return Set{}, errors.New("no output profile (want one or more of " + strings.Join(Names, ", ") + ")")
	}
	return s, nil
}

// Native, OCSF and ECS report whether a profile is enabled.
func (s Set) Native() bool { return s.native }
func (s Set) OCSF() bool   { return s.ocsf }
func (s Set) ECS() bool    { return s.ecs }

// NativeOnly reports whether the set is native alone: the records are
// exactly the native ones.
func (s Set) NativeOnly() bool { return s == Default }

// String lists the enabled profiles, comma-separated.
func (s Set) String() string {
	var out []string
	for i, on := range []bool{s.native, s.ocsf, s.ecs} {
		if on {
			out = append(out, Names[i])
		}
	}
	return strings.Join(out, ",")
}

// Change returns the records of one incident version as get_incidents
// returned it: native, its native change record (or its stand-in), first
// when the native profile is on; then the OCSF and the ECS record.
func (s Set) Change(m record.Meta, inc xdr.Incident, native record.Record) []record.Record {
	out := make([]record.Record, 0, 3)
	if s.native {
		out = append(out, native)
	}
	version := inc.ModificationTime
	if s.ocsf {
		f, err := ocsf.IncidentChange(m, inc)
		out = append(out, encode(m, f, err, record.TopicOCSFIncidents, record.TypeOCSFIncidentChange, inc.ID, inc.ID, version))
	}
	if s.ecs {
		d, err := ecs.IncidentChange(m, inc)
		out = append(out, encode(m, d, err, record.TopicECSIncidents, record.TypeECSIncidentChange, inc.ID, inc.ID, version))
	}
	return out
}

// Enriched returns the records of one get_incident_extra_data reply, given
// native, the reply's native records as enrich.Flatten returned them for the
// queued version: the native records when the native profile is on (their
// DLQ records always), then the OCSF incident and one OCSF record per alert,
// then the same for ECS. Every profile record carries the version the native
// records carry.
func (s Set) Enriched(m record.Meta, version int64, ed *xdr.ExtraData, native []record.Record) []record.Record {
	if s.NativeOnly() {
		return native
	}
	id := ed.Incident.ID
	version = max(version, ed.Incident.ModificationTime)
	n := len(ed.Alerts.Data) + 1
	out := make([]record.Record, 0, len(native)+2*n)
	for _, r := range native {
		if s.native || r.Topic == record.TopicDLQ {
			out = append(out, r)
		}
	}
	keys := enrich.ReplyKeys(ed).Alerts // the native records' keys: one rule for every topic
	if s.ocsf {
		f, err := ocsf.IncidentEnriched(m, version, ed)
		out = append(out, encode(m, f, err, record.TopicOCSFIncidents, record.TypeOCSFIncidentEnriched, id, id, version))
		for i, a := range ed.Alerts.Data {
			f, err := ocsf.Alert(m, version, ed.Incident, a, keys[i])
			out = append(out, encode(m, f, err, record.TopicOCSFAlerts, record.TypeOCSFAlert, keys[i], id, version))
		}
	}
	if s.ecs {
		d, err := ecs.IncidentEnriched(m, version, ed)
		out = append(out, encode(m, d, err, record.TopicECSIncidents, record.TypeECSIncidentEnriched, id, id, version))
		for i, a := range ed.Alerts.Data {
			d, err := ecs.Alert(m, version, ed.Incident, a, keys[i])
			out = append(out, encode(m, d, err, record.TopicECSAlerts, record.TypeECSAlert, keys[i], id, version))
		}
	}
	return out
}

// encode turns a mapped event into its record, or the mapping's failure
// into a DLQ record naming the profile record it stands for; a record
// larger than m.MaxBytes becomes its record.Oversized stand-in.
func encode(m record.Meta, v any, err error, topic record.Topic, typ, key, incidentID string, version int64) record.Record {
	var value []byte
	if err == nil {
		value, err = marshal(v)
	}
	if err != nil {
		return record.DeadLetter(m, incidentID, version, &record.DLQError{
			Stage: DLQStage, Message: fmt.Sprintf("mapping to %s: %v", typ, err), Attempts: 1, FailedAt: m.FetchedAt,
			RecordType: typ, RecordKey: key, RecordTopic: topic.String(),
		})
	}
	r := record.Raw(topic, typ, key, value, incidentID, version)
	if !record.Fits(m, r) {
		return record.Oversized(m, r, m.FetchedAt)
	}
	return r
}

// marshal encodes v as compact JSON without escaping HTML characters (the
// native records do not either), with no trailing newline.
func marshal(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimRight(b.Bytes(), "\n"), nil
}

// Topics reports the topic roles of the enabled profiles besides the
// native ones.
func (s Set) Topics() []record.Topic {
	var out []record.Topic
	if s.ocsf {
		out = append(out, record.TopicOCSFIncidents, record.TopicOCSFAlerts)
	}
	if s.ecs {
		out = append(out, record.TopicECSIncidents, record.TopicECSAlerts)
	}
	return slices.Clip(out)
}
