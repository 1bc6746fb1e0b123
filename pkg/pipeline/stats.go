package pipeline

import (
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
)

// Stats is a point-in-time view of the pipeline for progress displays,
// metrics and readiness.
type Stats struct {
	Started     bool
	Polls       int64
	LastPoll    source.PollResult
	LastPollErr error
	Versions    int64            // incident versions published
	Restricted  int64            // restricted incident ids seen
	Oversized   int64            // change records larger than KAFKA_MAX_RECORD_BYTES, dead-lettered
	Future      int64            // incidents seen stamped beyond the clock's tolerance
	Clamped     int64            // polls whose mark was held at the clock because of them
	Untrusted   int64            // total_count values missing or contradicting the rows
	Dropped     int64            // incidents without incident_id or modification_time, skipped
	Poisoned    int64            // incidents the client could not decode, skipped
	KeyEchoes   int64            // echoes of the API key replaced by [REDACTED] in get_incidents replies
	Produced    map[string]int64 // records acknowledged per topic
	Commits     int64
	QueueDepth  int
	Enrich      enrich.Stats
	Offsets     offsets.Stats
}

// Stats returns the current figures. It is safe to call at any time.
func (p *Pipeline) Stats() Stats {
	p.statsMu.Lock()
	s := Stats{Polls: p.polls, LastPoll: p.lastPoll, LastPollErr: p.lastErr, Versions: p.versions,
		Restricted: p.restrict, Commits: p.commits, Oversized: p.oversized, Future: p.future, Clamped: p.clamped,
		Untrusted: p.untrusted, Dropped: p.dropped, Poisoned: p.poisoned, KeyEchoes: p.echoes}
	p.statsMu.Unlock()
	s.Produced = p.sink.Produced()
	select {
	case <-p.ready:
		s.Started = true
		s.QueueDepth = p.enricher.Len()
		s.Enrich = p.enricher.Stats()
		s.Offsets = p.tracker.Stats()
	default:
	}
	return s
}

func (p *Pipeline) countCommit() {
	p.statsMu.Lock()
	p.commits++
	p.statsMu.Unlock()
}
