package testkit

import (
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// PollLog records the polls of one or more pipeline runs and when runs were
// crashed, so a test can tell exactly which incident versions a correct
// connector must have published: those that a complete poll read while they
// were visible, in a run that was not crashed before it could publish them.
type PollLog struct {
	mu      sync.Mutex
	polls   []pollSpan
	crashed map[int]int64 // run -> epoch ms
}

type pollSpan struct {
	run        int
	start, end int64 // epoch ms
}

// Observer returns the poll callback for run number run.
func (l *PollLog) Observer(run int) func(source.PollResult, error) {
	return func(r source.PollResult, err error) {
		if err != nil || !r.Complete {
			return
		}
		l.mu.Lock()
		l.polls = append(l.polls, pollSpan{run: run, start: r.Started.UnixMilli(), end: r.Started.Add(r.Duration).UnixMilli()})
		l.mu.Unlock()
	}
}

// Crashed records that run was abandoned now.
func (l *PollLog) Crashed(run int) {
	l.mu.Lock()
	if l.crashed == nil {
		l.crashed = map[int]int64{}
	}
	l.crashed[run] = time.Now().UnixMilli()
	l.mu.Unlock()
}

// Polls returns how many complete polls were recorded.
func (l *PollLog) Polls() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.polls)
}

// Expect returns the rule for Verify: a version must be published when a
// complete poll ran inside its visibility window and its run lived at least
// grace after that poll (time enough for Kafka to acknowledge).
func (l *PollLog) Expect(grace time.Duration) func(xdrtest.Version) bool {
	l.mu.Lock()
	polls := append([]pollSpan(nil), l.polls...)
	crashed := make(map[int]int64, len(l.crashed))
	for k, v := range l.crashed {
		crashed[k] = v
	}
	l.mu.Unlock()
	return func(v xdrtest.Version) bool {
		for _, p := range polls {
			if p.start < v.VisibleAt || (v.SupersededAt != 0 && p.end >= v.SupersededAt) {
				continue
			}
			if c, ok := crashed[p.run]; ok && c < p.end+grace.Milliseconds() {
				continue
			}
			return true
		}
		return false
	}
}
