// Package profile turns the connector's fetched data into the records of the
// output profiles (OUTPUT_PROFILES) beside the native ones: OCSF events
// (package ocsf) and ECS documents (package ecs), each on its profile's own
// topics, keyed like the native records (the incident id, record.ReplyKeys).
// They are made from the same decoded API objects, in the same batch as the
// native records, so enabling a profile costs no API call and, in
// exactly-once mode, a batch's records of every profile are in one
// transaction.
//
// An object that a profile cannot map becomes a DLQ record with the reason,
// in place of that one record; the native records and the other profiles'
// are published as usual.
package profile

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ecs"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ocsf"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
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
	w := jsonw.Writer{B: make([]byte, 0, 4*len(inc.Raw)+2048)}
	if s.ocsf {
		start := len(w.B)
		err := ocsf.AppendIncidentChange(&w, m, inc)
		out = append(out, finish(m, w.B[start:], err, record.TopicOCSFIncidents, record.TypeOCSFIncidentChange, keyBytes(inc.ID), inc.ID, version))
		w = jsonw.Writer{B: w.B}
	}
	if s.ecs {
		var enc ecs.Encoder
		start := len(w.B)
		err := enc.AppendIncidentChange(&w, m, inc)
		out = append(out, finish(m, w.B[start:], err, record.TopicECSIncidents, record.TypeECSIncidentChange, keyBytes(inc.ID), inc.ID, version))
	}
	return out
}

// Enriched returns the records of one get_incident_extra_data reply, given
// native, the reply's native records as enrich.Flatten returned them for the
// queued version: the native records when the native profile is on (their
// DLQ records always), then the OCSF incident and one OCSF record per alert,
// then the same for ECS. Every profile record carries the version the native
// records carry.
//
// Each alert is read once, into one xdrview.View both profiles map it from,
// and every profile record's key and value are slices of a few shared
// buffers (read-only, as the native records' are).
func (s Set) Enriched(m record.Meta, version int64, ed *xdr.ExtraData, native []record.Record) []record.Record {
	if s.NativeOnly() {
		return native
	}
	id := ed.Incident.ID
	version = max(version, ed.Incident.ModificationTime)
	n := len(ed.Alerts.Data)
	out := make([]record.Record, 0, len(native)+2*(n+1))
	for _, r := range native {
		if s.native || r.Topic == record.TopicDLQ {
			out = append(out, r)
		}
	}
	keys := record.ReplyKeys(ed).Alerts // the native records' keys: one rule for every topic

	// The slots of the profile records: each profile's incident, then its
	// alerts.
	first := len(out)
	ocsfAt, ecsAt := -1, -1
	if s.ocsf {
		ocsfAt = len(out)
		out = out[:len(out)+1+n]
	}
	if s.ecs {
		ecsAt = len(out)
		out = out[:len(out)+1+n]
	}
	clear(out[first:])

	// One buffer for every profile record of the reply, sized for the
	// documents: an OCSF one takes about twice the bytes of the object it
	// maps and a kilobyte, an ECS one about one and a half times and half
	// a kilobyte. Too small, it grows; too large, it costs its clearing.
	per := func(raw int) int {
		n := 0
		if s.ocsf {
			n += 2*raw + 1024
		}
		if s.ecs {
			n += raw + raw/2 + 512
		}
		return n
	}
	size, keyLen := per(2*len(ed.Incident.Raw)+2048), len(id)
	for i := range ed.Alerts.Data {
		size += per(len(ed.Alerts.Data[i].Raw))
		keyLen += len(keys[i])
	}
	kb := make([]byte, 0, keyLen)
	kb = append(kb, id...)
	incKey := kb[:len(id):len(id)]
	w := jsonw.Writer{B: make([]byte, 0, size)}
	var infos []byte // the OCSF alerts' findings, for the incident's finding_info_list
	var firstSeen, lastSeen int64
	var oenc ocsf.Encoder
	var eenc ecs.Encoder
	var view xdrview.View
	for i, a := range ed.Alerts.Data {
		k0 := len(kb)
		kb = append(kb, keys[i]...)
		key := kb[k0:len(kb):len(kb)]
		err := view.ResetDecoded(a.Raw) // ed passed xdr.ExtraData.Check: every alert is valid JSON
		if s.ocsf {
			w = jsonw.Writer{B: w.B}
			start := len(w.B)
			var oerr error
			if err != nil {
				oerr = ocsf.AlertError(ed.Incident, err)
			} else {
				fi, created := oenc.AppendAlert(&w, m, version, ed.Incident, keys[i], &view)
				if len(infos) > 0 {
					infos = append(infos, ',')
				}
				infos = append(infos, w.B[fi[0]:fi[1]]...)
				if created > 0 {
					firstSeen = minPositive(firstSeen, created)
					lastSeen = max(lastSeen, created)
				}
			}
			out[ocsfAt+1+i] = finish(m, w.B[start:len(w.B):len(w.B)], oerr, record.TopicOCSFAlerts, record.TypeOCSFAlert, key, id, version)
		}
		if s.ecs {
			w = jsonw.Writer{B: w.B}
			start := len(w.B)
			var eerr error
			if err != nil {
				eerr = ecs.AlertError(ed.Incident, err)
			} else {
				eenc.AppendAlert(&w, m, version, ed.Incident, keys[i], &view)
			}
			out[ecsAt+1+i] = finish(m, w.B[start:len(w.B):len(w.B)], eerr, record.TopicECSAlerts, record.TypeECSAlert, key, id, version)
		}
	}
	if s.ocsf {
		w = jsonw.Writer{B: w.B}
		start := len(w.B)
		err := ocsf.AppendIncidentEnriched(&w, m, version, ed, infos, firstSeen, lastSeen)
		out[ocsfAt] = finish(m, w.B[start:len(w.B):len(w.B)], err, record.TopicOCSFIncidents, record.TypeOCSFIncidentEnriched, incKey, id, version)
	}
	if s.ecs {
		w = jsonw.Writer{B: w.B}
		start := len(w.B)
		err := eenc.AppendIncidentEnriched(&w, m, version, ed)
		out[ecsAt] = finish(m, w.B[start:len(w.B):len(w.B)], err, record.TopicECSIncidents, record.TypeECSIncidentEnriched, incKey, id, version)
	}
	return out
}

func minPositive(a, b int64) int64 {
	if a <= 0 || b < a {
		return b
	}
	return a
}

func keyBytes(s string) []byte { return []byte(s) }

// finish returns the record of a written event, or the mapping's failure
// as a DLQ record naming the profile record it stands for; a record larger
// than m.MaxBytes becomes its record.Oversized stand-in.
func finish(m record.Meta, value []byte, err error, topic record.Topic, typ string, key []byte, incidentID string, version int64) record.Record {
	if err != nil {
		return record.DeadLetter(m, incidentID, version, &record.DLQError{
			Stage: DLQStage, Message: fmt.Sprintf("mapping to %s: %v", typ, err), Attempts: 1, FailedAt: m.FetchedAt,
			RecordType: typ, RecordKey: string(key), RecordTopic: topic.String(),
		})
	}
	r := record.Record{Topic: topic, Type: typ, Key: key, Value: value, IncidentID: incidentID, Version: version}
	if !record.Fits(m, r) {
		return record.Oversized(m, r, m.FetchedAt)
	}
	return r
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
