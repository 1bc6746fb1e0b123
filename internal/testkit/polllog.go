package testkit

import (
	"net/http"
	"slices"
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

// Shown returns the rule for Verify-like checks of connector processes,
// whose polls a test sees only in the simulator's call log (calls of one
// tenant, see xdrtest.CallLog.Of): a version must be published when a
// process was shown it and took the reply. Shown: a get_incidents call was
// answered, with 200, entirely while the version was the one the API showed
// — the simulator decided the reply while it was visible, at or after the
// call arrived and before the reply was sent. Taken: the same process called
// get_incidents for the tenant again later in the same run (sameRun(replica,
// answered, next call) reports that no new run of the tenant began in that
// process in between; nil means runs never end) — the source reads one page
// at a time, so its next call proves the reply was handed on. The reply a
// run was waiting for when it stopped or crashed is not taken: the next
// owner re-reads the version if it is still visible, and is then shown it.
//
// Excused are the versions no process could publish: superseded before any
// process first polled the tenant, or while none polled it (a handover
// longer than the version lived).
func Shown(calls []xdrtest.Request, sameRun func(replica string, answered, next time.Time) bool) func(xdrtest.Version) bool {
	var polls []xdrtest.Request
	for _, c := range calls {
		if c.Endpoint == xdrtest.EndpointIncidents {
			polls = append(polls, c)
		}
	}
	slices.SortFunc(polls, func(a, b xdrtest.Request) int { return a.Arrived.Compare(b.Arrived) })
	var taken [][2]int64 // arrived, replied (epoch ms) of the replies that were taken
	for i, c := range polls {
		if c.Status != http.StatusOK {
			continue
		}
		for _, n := range polls[i+1:] {
			if n.Replica == c.Replica && n.Arrived.After(c.Arrived) {
				if sameRun == nil || sameRun(c.Replica, c.Replied, n.Arrived) {
					taken = append(taken, [2]int64{c.Arrived.UnixMilli(), c.Replied.UnixMilli()})
				}
				break
			}
		}
	}
	return func(v xdrtest.Version) bool {
		for _, p := range taken {
			if p[0] >= v.VisibleAt && (v.SupersededAt == 0 || p[1] < v.SupersededAt) {
				return true
			}
		}
		return false
	}
}

// Polled reports whether calls hold a get_incidents call answered with 200:
// a process has read the tenant's incidents once, so every version stamped
// after that reply was sent supersedes one the process was shown.
func Polled(calls []xdrtest.Request) bool {
	return slices.ContainsFunc(calls, func(c xdrtest.Request) bool {
		return c.Endpoint == xdrtest.EndpointIncidents && c.Status == http.StatusOK
	})
}
