package xdrtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"time"
)

// Version is one state of an incident, as stamped by generation or a
// mutation. Times are epoch milliseconds. The API shows the version from
// VisibleAt (inclusive) until SupersededAt (exclusive); a version whose
// SupersededAt equals its VisibleAt was never visible.
type Version struct {
	IncidentID       string
	ModificationTime int64
	VisibleAt        int64 // ModificationTime + IndexDelay
	SupersededAt     int64 // VisibleAt of the next version; 0 while current
}

// Truth is the current state of an incident, ignoring IndexDelay.
type Truth struct {
	IncidentID       string
	ModificationTime int64
	AlertIDs         []string // alert_id of every alert in reply order; "" for alerts sent without one
	AlertCount       int
	NetworkArtifacts int
	FileArtifacts    int
	Restricted       bool
}

// MutationConfig drives RunMutations.
type MutationConfig struct {
	// Interval is the pause before each step, waited on real timers (so
	// testing/synctest can fake it); stamps still come from Config.Now.
	Interval time.Duration
	// BulkEvery makes every Nth step (N, 2N, ...) a BulkUpdate; 0 = never.
	BulkEvery int
	// BulkSize is the number of incidents per bulk update (default 150).
	BulkSize int
	// MinVersionAge: never mutate an incident whose current version's
	// modification_time is less than this before Now. CreateIncident steps
	// are always allowed; a step that finds no eligible incident creates one.
	MinVersionAge time.Duration
	// Steps stops RunMutations after this many steps; 0 = until ctx is done
	// (then Interval must be positive).
	Steps int
	// FirstStep is the number of the first step (default 1): a tenant rebuilt
	// by Replay from n steps continues with FirstStep n+1, so that its bulk
	// updates keep their rhythm.
	FirstStep int
	// Journal, when set, is told of each step before the step is applied:
	// its number and the instant it stamps. Replay, given the same Config,
	// MutationConfig and the instants, rebuilds the same tenant. An error
	// stops RunMutations, which returns it, before the step is applied. It
	// is called with the tenant locked: it must be quick and must not call
	// the tenant.
	Journal func(step int, at time.Time) error
}

// DefaultBulkSize is MutationConfig.BulkSize's default: more than one page.
const DefaultBulkSize = 150

// register adds a new incident with its first snapshot and returns that
// version. The caller holds t.mu (or is New).
func (t *Tenant) register(inc *incident, s snapshot) Version {
	s.version = len(t.versions)
	t.versions = append(t.versions, Version{IncidentID: inc.id, ModificationTime: s.mod, VisibleAt: s.visible})
	inc.snaps = []snapshot{s}
	t.incidents = append(t.incidents, inc)
	t.byID[inc.id] = inc
	return t.versions[s.version]
}

// stamp records a new version of inc modified at mod (raised to the current
// version's time if the clock lags it) after applying change to a copy of
// the current snapshot. change must replace slices, never modify them. The
// caller holds t.mu.
func (t *Tenant) stamp(inc *incident, mod, now int64, change func(*snapshot)) Version {
	cur := inc.snaps[len(inc.snaps)-1]
	next := cur
	next.mod = max(mod, cur.mod)
	next.visible = next.mod + t.delayMs
	change(&next)
	next.version = len(t.versions)
	t.versions[cur.version].SupersededAt = next.visible
	t.versions = append(t.versions, Version{IncidentID: inc.id, ModificationTime: next.mod, VisibleAt: next.visible})
	inc.snaps = append(inc.snaps, next)

	// Drop versions older than the one visible now: they cannot become
	// visible again while the clock moves forward.
	if i := visibleIndex(inc.snaps, now); i > 0 {
		inc.snaps = append([]snapshot(nil), inc.snaps[i:]...)
	}
	return t.versions[next.version]
}

// visibleIndex returns the index of the latest snapshot visible at now, or -1.
func visibleIndex(snaps []snapshot, now int64) int {
	for i := len(snaps) - 1; i >= 0; i-- {
		if snaps[i].visible <= now {
			return i
		}
	}
	return -1
}

func (t *Tenant) nowMs() int64 { return t.cfg.Now().UnixMilli() }

// ChangeStatus moves the incident to another status (resolved statuses get
// resolved_timestamp, others clear it) and returns the new version. It
// returns the zero Version for an unknown id.
func (t *Tenant) ChangeStatus(id string) Version { return t.mutate(id, t.changeStatus) }

// mutate applies change to incident id under the lock, at the current time;
// the zero Version for an unknown id.
func (t *Tenant) mutate(id string, change func(inc *incident, now int64) Version) Version {
	t.mu.Lock()
	defer t.mu.Unlock()
	inc := t.byID[id]
	if inc == nil {
		return Version{}
	}
	return change(inc, t.nowMs())
}

func (t *Tenant) changeStatus(inc *incident, now int64) Version {
	return t.stamp(inc, now, now, func(s *snapshot) {
		for {
			if st := pickWeighted(t.mrng, statusTable); st != s.status {
				s.status = st
				break
			}
		}
		s.resolvedAt, s.resolveComment = nil, nil
		if isResolved(s.status) {
			s.resolvedAt = s.mod
			if t.mrng.IntN(2) == 0 {
				s.resolveComment = "Closed after review"
			}
		}
	})
}

// AddAlerts appends n new alerts (n < 1 counts as 1; MaxAlerts does not
// apply) detected in the minute before Now, sometimes with new artifacts,
// and returns the new version. It returns the zero Version for an unknown id.
func (t *Tenant) AddAlerts(id string, n int) Version {
	return t.mutate(id, func(inc *incident, now int64) Version { return t.addAlerts(inc, max(n, 1), now) })
}

func (t *Tenant) addAlerts(inc *incident, n int, now int64) Version {
	from := max(inc.creation, now-60_000)
	inc.alerts = append(inc.alerts, t.newAlerts(t.mrng, n, from, max(from, now))...)
	for range n {
		if t.mrng.IntN(4) == 0 {
			inc.network = append(inc.network, t.newArtifacts(t.mrng, 1, len(inc.alerts))...)
		}
		if t.mrng.IntN(6) == 0 {
			inc.files = append(inc.files, t.newArtifacts(t.mrng, 1, len(inc.alerts))...)
		}
	}
	return t.stamp(inc, now, now, func(s *snapshot) {
		s.alerts, s.network, s.files = len(inc.alerts), len(inc.network), len(inc.files)
		s.recount(inc.alerts)
	})
}

// Reassign gives the incident another assignee (sometimes none) and returns
// the new version. It returns the zero Version for an unknown id.
func (t *Tenant) Reassign(id string) Version { return t.mutate(id, t.reassign) }

func (t *Tenant) reassign(inc *incident, now int64) Version {
	return t.stamp(inc, now, now, func(s *snapshot) {
		if s.assigneeMail != nil && t.mrng.IntN(6) == 0 {
			s.assigneeMail, s.assigneeName = nil, nil
			return
		}
		for {
			if a := pick(t.mrng, analysts); a[0] != s.assigneeMail {
				s.assigneeMail, s.assigneeName = a[0], a[1]
				return
			}
		}
	})
}

// CreateIncident adds a new incident, status "new", created and modified at
// Now with 1 to 20 alerts, and returns its first version. It is restricted
// with probability Config.RestrictedFraction.
func (t *Tenant) CreateIncident() Version {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.createIncident(t.nowMs())
}

func (t *Tenant) createIncident(now int64) Version {
	t.nextNum++
	restricted := t.mrng.Float64() < t.cfg.RestrictedFraction
	inc, s := t.newIncident(t.mrng, t.nextNum, now, now, 1+t.mrng.IntN(min(20, t.cfg.MaxAlerts)), restricted)
	s.status, s.resolvedAt, s.resolveComment = "new", nil, nil
	s.assigneeMail, s.assigneeName = nil, nil
	return t.register(inc, s)
}

// BulkUpdate applies one change (assignment, status or tag) to n distinct
// incidents chosen at random (all of them if n exceeds their number) and
// stamps every one with the same modification_time millisecond. It returns
// the new versions.
func (t *Tenant) BulkUpdate(n int) []Version {
	t.mu.Lock()
	defer t.mu.Unlock()
	chosen := make([]*incident, 0, min(max(n, 0), len(t.incidents)))
	for _, i := range t.mrng.Perm(len(t.incidents))[:cap(chosen)] {
		chosen = append(chosen, t.incidents[i])
	}
	return t.bulkUpdate(chosen, t.nowMs())
}

func (t *Tenant) bulkUpdate(incs []*incident, now int64) []Version {
	mod := now
	for _, inc := range incs {
		mod = max(mod, inc.snaps[len(inc.snaps)-1].mod)
	}
	var change func(*snapshot)
	switch t.mrng.IntN(3) {
	case 0:
		a := pick(t.mrng, analysts)
		change = func(s *snapshot) { s.assigneeMail, s.assigneeName = a[0], a[1] }
	case 1:
		status := pick(t.mrng, []string{"resolved_auto_resolve", "resolved_other", "under_investigation"})
		change = func(s *snapshot) {
			s.status, s.resolvedAt, s.resolveComment = status, nil, nil
			if isResolved(status) {
				s.resolvedAt, s.resolveComment = s.mod, "Bulk closed"
			}
		}
	default:
		tag := "EG:bulk-" + strconv.Itoa(t.mrng.IntN(1000))
		change = func(s *snapshot) {
			if !slices.Contains(s.tags, tag) {
				s.tags = append(slices.Clone(s.tags), tag)
			}
		}
	}
	out := make([]Version, 0, len(incs))
	for _, inc := range incs {
		out = append(out, t.stamp(inc, mod, now, change))
	}
	return out
}

// RunMutations changes the tenant step by step, choosing with an RNG seeded
// from Config.Seed: status changes, new alerts (respecting MaxAlerts),
// reassignments and new incidents, plus a BulkUpdate every BulkEvery steps.
// It returns nil when Steps are done or ctx is done, and an error for an
// invalid cfg or from cfg.Journal.
func (t *Tenant) RunMutations(ctx context.Context, cfg MutationConfig) error {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return err
	}
	if cfg.Steps == 0 && cfg.Interval == 0 {
		return errors.New("running mutations: Steps is 0, so Interval must be positive")
	}
	for step := cfg.FirstStep; cfg.Steps == 0 || step < cfg.FirstStep+cfg.Steps; step++ {
		if cfg.Interval > 0 {
			timer := time.NewTimer(cfg.Interval)
			select {
			case <-ctx.Done():
				timer.Stop()
				return nil
			case <-timer.C:
			}
		} else if ctx.Err() != nil {
			return nil
		}
		if err := t.journaledStep(step, cfg); err != nil {
			return err
		}
	}
	return nil
}

// journaledStep takes one step at the current time, journaled first. The
// clock is read under the lock, so that no query sees the tenant between the
// instant a step stamps and the step.
func (t *Tenant) journaledStep(step int, cfg MutationConfig) error {
	t.mu.Lock()
	defer t.mu.Unlock()
	at := t.cfg.Now()
	if cfg.Journal != nil {
		if err := cfg.Journal(step, at); err != nil {
			return fmt.Errorf("running mutations: journaling step %d: %w", step, err)
		}
	}
	t.mutationStep(step, cfg, at.UnixMilli())
	return nil
}

// withDefaults validates cfg and fills in its defaults.
func (cfg MutationConfig) withDefaults() (MutationConfig, error) {
	if cfg.Interval < 0 || cfg.BulkEvery < 0 || cfg.BulkSize < 0 || cfg.MinVersionAge < 0 || cfg.Steps < 0 || cfg.FirstStep < 0 {
		return cfg, errors.New("running mutations: negative setting in MutationConfig")
	}
	if cfg.BulkSize == 0 {
		cfg.BulkSize = DefaultBulkSize
	}
	if cfg.FirstStep == 0 {
		cfg.FirstStep = 1
	}
	return cfg, nil
}

// Replay rebuilds a tenant from what a Journal recorded: the tenant New(cfg)
// built at generatedAt, changed by RunMutations(mcfg) with one step at each
// instant of steps (numbered from mcfg.FirstStep). With the same cfg (but for
// its clock) and mcfg, it holds the same incidents, alerts, versions and
// mutation state as the tenant that was journaled, so that a demo can stop
// and resume the same tenant. cfg.Now is the clock from then on; it is not
// consulted during the replay. steps must not run backwards, nor before
// generatedAt. Resume the changes with RunMutations and FirstStep
// mcfg.FirstStep+len(steps).
func Replay(cfg Config, mcfg MutationConfig, generatedAt time.Time, steps []time.Time) (*Tenant, error) {
	mcfg, err := mcfg.withDefaults()
	if err != nil {
		return nil, err
	}
	prev := generatedAt
	for i, at := range steps {
		if at.Before(prev) {
			return nil, fmt.Errorf("replaying the simulated tenant: step %d at %s runs backwards", mcfg.FirstStep+i, at.Format(time.RFC3339Nano))
		}
		prev = at
	}
	clock := cfg.withDefaults().Now
	replayAt := generatedAt
	cfg.Now = func() time.Time { return replayAt }
	t := New(cfg)
	for i, at := range steps {
		replayAt = at
		t.mutationStep(mcfg.FirstStep+i, mcfg, at.UnixMilli())
	}
	t.cfg.Now = clock
	return t, nil
}

// mutationStep takes one step stamped now. The caller holds t.mu (or is
// Replay).
func (t *Tenant) mutationStep(step int, cfg MutationConfig, now int64) {
	minAge := cfg.MinVersionAge.Milliseconds()
	var eligible []*incident
	for _, inc := range t.incidents {
		if now-inc.snaps[len(inc.snaps)-1].mod >= minAge {
			eligible = append(eligible, inc)
		}
	}
	if cfg.BulkEvery > 0 && step%cfg.BulkEvery == 0 {
		if len(eligible) == 0 {
			t.createIncident(now)
			return
		}
		shuffle(t.mrng, eligible)
		t.bulkUpdate(eligible[:min(cfg.BulkSize, len(eligible))], now)
		return
	}
	if len(eligible) == 0 {
		t.createIncident(now)
		return
	}
	inc := pick(t.mrng, eligible)
	switch n := t.mrng.IntN(100); {
	case n < 35:
		t.changeStatus(inc, now)
	case n < 65:
		if room := t.cfg.MaxAlerts - len(inc.alerts); room > 0 {
			t.addAlerts(inc, min(1+t.mrng.IntN(5), room), now)
		} else {
			t.changeStatus(inc, now)
		}
	case n < 85:
		t.reassign(inc, now)
	default:
		t.createIncident(now)
	}
}

func shuffle[T any](r *rand.Rand, xs []T) {
	r.Shuffle(len(xs), func(i, j int) { xs[i], xs[j] = xs[j], xs[i] })
}

// Versions returns every version ever stamped, initial ones included, in
// stamping order.
func (t *Tenant) Versions() []Version {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.versions)
}

// IncidentIDs returns the id of every incident, restricted and not yet
// visible ones included, in creation order.
func (t *Tenant) IncidentIDs() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	ids := make([]string, len(t.incidents))
	for i, inc := range t.incidents {
		ids[i] = inc.id
	}
	return ids
}

// Truth returns the incident's current state, ignoring IndexDelay, and
// false for an unknown id.
func (t *Tenant) Truth(id string) (Truth, bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	inc := t.byID[id]
	if inc == nil {
		return Truth{}, false
	}
	cur := inc.snaps[len(inc.snaps)-1]
	ids := make([]string, cur.alerts)
	for i, a := range inc.alerts[:cur.alerts] {
		if a.id != 0 {
			ids[i] = strconv.FormatInt(a.id, 10)
		}
	}
	return Truth{
		IncidentID:       inc.id,
		ModificationTime: cur.mod,
		AlertIDs:         ids,
		AlertCount:       cur.alerts,
		NetworkArtifacts: cur.network,
		FileArtifacts:    cur.files,
		Restricted:       inc.restricted,
	}, true
}
