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
		Restricted: p.restrict, Commits: p.commits}
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
