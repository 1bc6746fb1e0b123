// Package dlq reads what the connector dead-lettered and decides what
// `connector redrive` asks for again. The DLQ records (schemas/dlq.schema.json)
// are the source: each names the incident, the version whose enrichment was
// given up, and why (error.stage, http_status, failed_at). The redrive
// requests, and the ledger of what was redriven, live in the offsets topic
// (offsets.RedriveValue).
package dlq

import (
	"context"
	"encoding/json"
	"errors"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

// Entry is one DLQ record.
type Entry struct {
	Topic     string
	Partition int32
	Offset    int64

	Connector        string
	Tenant           string
	IncidentID       string
	ModificationTime int64 // the version whose enrichment (or one record) was given up, epoch ms
	Error            record.DLQError
}

// Error classes besides an HTTP status ("403").
const (
	ClassPublish = "publish"  // error.stage "publish": a record Kafka would not take
	ClassNoReply = "no-reply" // an enrichment given up without an HTTP status: timeouts, network errors, replies for another incident or malformed
	// ClassProfile: an object an output profile could not map. Its native
	// record was published and the mapping is pure, so enriching it again
	// would fail the same way: redrive never selects it.
	ClassProfile = "profile"
	// ClassNotFound: an enrichment given up because the API said the incident
	// does not exist (merged into another, or deleted), whatever the status
	// it said it with (500). Nothing is owed for it, so redrive selects it
	// only when asked by name (--class not-found, or --incident): after
	// XDR_BASE_URL was fixed to the tenant the offsets belong to.
	ClassNotFound = "not-found"
)

// notFoundMessage starts the error message of a ClassNotFound record: the
// text of enrich.ErrIncidentNotFound, which the enrichment wraps the API's
// answer in (a test holds the two equal).
const notFoundMessage = "the incident does not exist (merged or deleted); not retried"

// Class is what `connector status` counts and `connector redrive --class`
// selects by: ClassPublish, ClassProfile, ClassNotFound, the HTTP status of
// the last reply ("403", "500"), or ClassNoReply.
func (e Entry) Class() string {
	switch {
	case e.Error.Stage == record.StagePublish:
		return ClassPublish
	case e.Error.Stage == record.StageProfile:
		return ClassProfile
	case strings.HasPrefix(e.Error.Message, notFoundMessage):
		return ClassNotFound
	case e.Error.Status > 0:
		return strconv.Itoa(e.Error.Status)
	default:
		return ClassNoReply
	}
}

var classPattern = regexp.MustCompile(`^([1-5][0-9][0-9]|[1-5]xx|publish|no-reply|not-found)$`)

// ValidClass reports whether c is a class Filter accepts: an HTTP status
// ("403"), a family ("5xx"), ClassPublish, ClassNoReply or ClassNotFound.
func ValidClass(c string) bool { return classPattern.MatchString(c) }

// Filter selects entries; an empty list matches everything.
type Filter struct {
	Incidents []string // incident ids
	Classes   []string // see ValidClass
}

// Match reports whether e passes f. An entry of ClassProfile never does;
// one of ClassNotFound only when f names its incident or its class.
func (f Filter) Match(e Entry) bool {
	if e.Class() == ClassProfile {
		return false
	}
	if len(f.Incidents) > 0 && !slices.Contains(f.Incidents, e.IncidentID) {
		return false
	}
	if len(f.Classes) == 0 {
		return e.Class() != ClassNotFound || len(f.Incidents) > 0
	}
	c := e.Class()
	for _, want := range f.Classes {
		if want == c || len(want) == 3 && want[1:] == "xx" && len(c) == 3 && c[0] == want[0] && c != ClassNoReply {
			return true
		}
	}
	return false
}

// Read reads topic from its start to its end at the time of the call, with
// read_committed (offsets.ReadToEnd), and returns its DLQ records. cl is any
// client of the cluster (for the offsets); clientOpts are the connection
// options of the reader it creates. A topic that does not exist holds
// nothing (exists false). Records that are not DLQ envelopes are counted in
// skipped.
func Read(ctx context.Context, cl *kgo.Client, topic string, clientOpts []kgo.Opt) (entries []Entry, skipped int, exists bool, err error) {
	err = offsets.ReadToEnd(ctx, cl, topic, clientOpts, func(r *kgo.Record) error {
		if e, ok := decode(r); ok {
			entries = append(entries, e)
		} else {
			skipped++
		}
		return nil
	})
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		return nil, 0, false, nil
	}
	if err != nil {
		return nil, 0, true, err
	}
	return entries, skipped, true, nil
}

// decode reads a DLQ envelope; ok is false for anything else.
func decode(r *kgo.Record) (Entry, bool) {
	var env record.Envelope
	if r.Value == nil || json.Unmarshal(r.Value, &env) != nil || env.RecordType != record.TypeDLQ || env.Error == nil || env.IncidentID == "" {
		return Entry{}, false
	}
	return Entry{Topic: r.Topic, Partition: r.Partition, Offset: r.Offset, Connector: env.Connector, Tenant: env.Tenant,
		IncidentID: env.IncidentID, ModificationTime: env.ModificationTime, Error: *env.Error}, true
}

// Of returns the entries of one connector and tenant.
func Of(entries []Entry, connector, tenant string) []Entry {
	var out []Entry
	for _, e := range entries {
		if e.Connector == connector && e.Tenant == tenant {
			out = append(out, e)
		}
	}
	return out
}

// Outstanding reports whether e failed after the last redrive of its
// incident in st (a redrive covers the DLQ records that failed at or before
// its FailedAt).
func Outstanding(e Entry, st offsets.State) bool {
	r, ok := st.Redrives[e.IncidentID]
	return !ok || e.Error.FailedAt > r.FailedAt
}

// Skip is an incident Plan does not ask for again, and why.
type Skip struct {
	IncidentID string
	Reason     string
}

// Skip reasons.
const (
	SkipRedriven  = "redriven already"                                        // the ledger covers its newest failure
	SkipRequested = "requested already; the connector's next start queues it" // a request waits
	SkipOwed      = "owed already: the connector enriches it anyway"          // a pending enrichment covers the version
)

// Plan returns the redrive requests for one tenant's entries (see Of) that f
// selects, one per incident, given the tenant's offsets state st: the newest
// dead-lettered version and failure of each incident not yet redriven, and
// not owed already. Requests carry no RequestedAt (the Store stamps it).
// Both lists are sorted by incident id.
func Plan(entries []Entry, st offsets.State, f Filter) (reqs []offsets.RedriveValue, skips []Skip) {
	type acc struct {
		req     offsets.RedriveValue
		matched bool
		fresh   bool
	}
	by := map[string]*acc{}
	for _, e := range entries {
		if !f.Match(e) {
			continue
		}
		a := by[e.IncidentID]
		if a == nil {
			a = &acc{req: offsets.RedriveValue{SchemaVersion: offsets.RecordVersion, IncidentID: e.IncidentID}}
			by[e.IncidentID] = a
		}
		a.matched = true
		if !Outstanding(e, st) {
			continue
		}
		a.fresh = true
		a.req.ModificationTime = max(a.req.ModificationTime, e.ModificationTime)
		a.req.FailedAt = max(a.req.FailedAt, e.Error.FailedAt)
	}
	ids := make([]string, 0, len(by))
	for id := range by {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	for _, id := range ids {
		a := by[id]
		switch r, ok := st.Redrives[id]; {
		case !a.fresh && ok && r.AppliedAt == 0:
			skips = append(skips, Skip{id, SkipRequested})
		case !a.fresh:
			skips = append(skips, Skip{id, SkipRedriven})
		case st.Pending[id].ModificationTime >= a.req.ModificationTime:
			skips = append(skips, Skip{id, SkipOwed})
		default:
			reqs = append(reqs, a.req)
		}
	}
	return reqs, skips
}

// Summary is what `connector status` says of one tenant's DLQ.
type Summary struct {
	Records      int            `json:"records"`
	Incidents    int            `json:"incidents"`
	ByClass      map[string]int `json:"by_class"`
	Outstanding  int            `json:"outstanding_incidents"` // incidents with a failure no redrive covers, not-found ones aside
	NotFound     int            `json:"not_found_incidents"`   // incidents dead-lettered because they no longer exist (ClassNotFound): nothing to do
	Waiting      int            `json:"redrives_waiting"`      // redrive requests the next start queues
	Redriven     int            `json:"redriven_incidents"`    // incidents in the ledger, applied
	NewestFailed int64          `json:"newest_failed_at,omitempty"`
	OldestFailed int64          `json:"oldest_failed_at,omitempty"`
}

// Summarize counts one tenant's entries against its offsets state.
func Summarize(entries []Entry, st offsets.State) Summary {
	s := Summary{ByClass: map[string]int{}}
	incidents, outstanding, notFound := map[string]bool{}, map[string]bool{}, map[string]bool{}
	for _, e := range entries {
		s.Records++
		s.ByClass[e.Class()]++
		incidents[e.IncidentID] = true
		switch {
		case e.Class() == ClassNotFound:
			notFound[e.IncidentID] = true
		case Outstanding(e, st):
			outstanding[e.IncidentID] = true
		}
		if t := e.Error.FailedAt; t > 0 {
			s.NewestFailed = max(s.NewestFailed, t)
			if s.OldestFailed == 0 || t < s.OldestFailed {
				s.OldestFailed = t
			}
		}
	}
	for id := range outstanding {
		delete(notFound, id) // it failed otherwise too: that one is to redrive
	}
	s.Incidents, s.Outstanding, s.NotFound = len(incidents), len(outstanding), len(notFound)
	for _, r := range st.Redrives {
		if r.AppliedAt == 0 {
			s.Waiting++
		} else {
			s.Redriven++
		}
	}
	return s
}
