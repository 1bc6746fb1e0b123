package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/soc-tools/xdr-kafka-connector/internal/explain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Tenant states, as GET /tenants reports them.
const (
	StateStarting = "starting" // building its clients, loading its offsets
	StateRunning  = "running"  // its stages run
	StateFailed   = "failed"   // it stopped with an error; it is retried with backoff, and stays failed while a retry starts
	StateMoved    = "moved"    // the group moved its slot to another process, which fenced this one: a handover; not retried (see group.handedOver)
	StateStopped  = "stopped"  // removed from the file, or the process is stopping
	StateDisabled = "disabled" // disabled: true in the file
)

// Defaults of the backoff between restarts of a failed tenant.
const (
	DefaultTenantRetryMin = time.Minute
	DefaultTenantRetryMax = 30 * time.Minute
)

// TenantStatus is one tenant's line of GET /tenants. It never holds a secret:
// errors of the XDR client and of Kafka carry none.
type TenantStatus struct {
	ID          string    `json:"id"`
	State       string    `json:"state"`
	Since       time.Time `json:"since"`
	Reason      string    `json:"reason,omitempty"`     // why it failed, in words, with what to do
	LastError   string    `json:"last_error,omitempty"` // the last error, as logged
	Failures    int       `json:"failures"`             // failed runs in a row
	NextRetry   time.Time `json:"next_retry,omitzero"`  // when a failed tenant starts again; in the past while that retry starts
	LagSeconds  float64   `json:"watermark_lag_seconds"`
	QueueDepth  int       `json:"queue_depth"`      // enrichments waiting
	Owed        int       `json:"enrichments_owed"` // enrichments not yet in Kafka: waiting, being fetched or published
	BudgetUsed  int       `json:"budget_used"`      // extra-data calls in the current window
	BudgetLimit int       `json:"budget_limit"`     // extra-data calls allowed per window
	// BudgetWindowSeconds is the window of BudgetLimit (ENRICH_RATE_WINDOW).
	BudgetWindowSeconds float64 `json:"budget_window_seconds"`
	Versions            int64   `json:"versions"`     // incident versions published by its current run
	Calls429            uint64  `json:"rate_limited"` // 429 replies in its current run
	// Bulk is ENRICH_BULK (auto, on or off); BulkFallback is set once an
	// auto tenant found get_multiple_incidents_extra_data not served and
	// fell back to single calls. BulkBudgetUsed and BulkBudgetLimit are the
	// bulk endpoint's budget, as BudgetUsed and BudgetLimit.
	Bulk            string `json:"enrich_bulk,omitempty"`
	BulkFallback    bool   `json:"enrich_bulk_fallback"`
	BulkBudgetUsed  int    `json:"bulk_budget_used"`
	BulkBudgetLimit int    `json:"bulk_budget_limit"`
	// QueueTrend is the enrichment queue's trend while the tenant runs
	// (drain.Estimate: measuring, draining, growing, steady or empty), and
	// QueueETASeconds, while it drains, when it empties at its measured
	// net drain rate.
	QueueTrend      string  `json:"enrich_queue_trend,omitempty"`
	QueueETASeconds float64 `json:"enrich_queue_eta_seconds,omitempty"`
	// EnrichCapacity is how many incidents a second its budgets let the
	// tenant enrich at most (enrich.Stats.Capacity: the single calls, plus
	// the bulk calls' incidents while bulk is active), which bounds the ETA.
	EnrichCapacity float64 `json:"enrich_capacity_per_second,omitempty"`
}

// slot is one tenant of the running set: its configuration and the run
// under way. A slot's goroutine restarts a failed tenant with backoff until
// the slot is stopped.
type slot struct {
	t      config.Tenant
	now    func() time.Time // the supervisor's clock, for Since
	cancel context.CancelFunc
	done   chan struct{}
	after  <-chan struct{} // the previous run of the tenant in this process, draining; nil if none

	mu       sync.Mutex
	status   TenantStatus
	class    string             // while failed: the failure's class (failureClass), for the failed gauge
	pipeline *pipeline.Pipeline // of the run under way; nil between runs
	queue    *drain.Tracker     // the run's queue estimate; nil before the first run
}

func (s *slot) set(state, reason string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.setLocked(state, reason, err)
}

// setLocked is set with s.mu held.
func (s *slot) setLocked(state, reason string, err error) {
	s.status.State, s.status.Since, s.status.Reason = state, s.now().UTC(), reason
	if err != nil {
		s.status.LastError = err.Error()
	}
	if state != StateFailed {
		s.status.NextRetry = time.Time{}
	}
}

func (s *slot) state() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.status.State
}

func (s *slot) snapshot() TenantStatus {
	s.mu.Lock()
	st, p, queue := s.status, s.pipeline, s.queue
	st.BudgetWindowSeconds = s.t.EnrichRateWindow.Seconds()
	st.Bulk = s.t.EnrichBulk
	s.mu.Unlock()
	if p != nil {
		ps := p.Stats()
		st.QueueDepth, st.Owed, st.Versions, st.Calls429 = ps.QueueDepth, ps.Offsets.Pending, ps.Versions, ps.Enrich.RateLimited
		st.BudgetUsed, st.BudgetLimit = ps.Enrich.Limiter.InUse, ps.Enrich.RateLimit
		st.BulkFallback = st.BulkFallback || ps.Enrich.BulkFallback
		st.BulkBudgetUsed, st.BulkBudgetLimit = ps.Enrich.BulkLimiter.InUse, ps.Enrich.BulkRateLimit
		if ps.Offsets.Watermark > 0 {
			st.LagSeconds = max(0, time.Since(time.UnixMilli(ps.Offsets.Watermark)).Seconds())
		}
		st.EnrichCapacity = ps.Enrich.Capacity
		est := queue.Sample(time.Now(), ps.QueueDepth, ps.Enrich.Capacity)
		st.QueueTrend = est.Trend
		if est.Trend == drain.Draining {
			st.QueueETASeconds = est.ETA.Seconds()
		}
	}
	return st
}

// ownership says which tenants this process runs: every tenant of the
// configuration (allTenants), or those of the slots its member of the
// connector's group owns (*group). It is safe for concurrent use and holds
// its own lock: the fleet asks it with or without its own held, and it never
// calls the fleet while holding its lock.
type ownership interface {
	owns(id string) bool
}

// allTenants is the ownership without group membership: this process runs
// every tenant.
type allTenants struct{}

func (allTenants) owns(string) bool { return true }

// fleet supervises the tenants of a tenants file (or, with group membership,
// the one tenant of the environment): one slot each, started, stopped and
// restarted as the file changes and, with group membership, as this process
// gains and loses the tenants' slots. Nothing a tenant does stops the process
// or another tenant.
type fleet struct {
	shared   shared
	log      *slog.Logger
	path     string // the tenants file; "" for the environment's tenant
	multi    bool   // tenants-file mode: records carry the tenant (see Tenant.PipelineConfig)
	retryMin time.Duration
	retryMax time.Duration
	now      func() time.Time // the supervisors' clock
	own      ownership        // which tenants run here: allTenants, or the group once joined
	group    *group           // nil: no group membership

	started chan struct{} // closed once the tenants are started

	mu       sync.Mutex
	ctx      context.Context          // the fleet's run, set by start
	want     map[string]config.Tenant // every tenant of the file
	slots    map[string]*slot         // the tenants running here
	prev     map[string]chan struct{} // runs stopped and perhaps still draining, by tenant
	rejected *fileRead                // the read last rejected, so it is logged once
	settle   settler                  // holds a changed file back until it is stable
	wg       sync.WaitGroup
}

// start runs the tenants of ts that this process owns (all, without group
// membership) until ctx ends.
func (f *fleet) start(ctx context.Context, ts []config.Tenant) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ctx = ctx
	f.want = map[string]config.Tenant{}
	for _, t := range ts {
		f.want[t.ID] = t
	}
	f.reconcileLocked()
}

// reconcile starts every wanted tenant this process owns that does not run,
// and stops every running one it should not run.
func (f *fleet) reconcile() {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.reconcileLocked()
}

// reconcileLocked is reconcile with f.mu held.
func (f *fleet) reconcileLocked() {
	for id, s := range f.slots {
		if _, ok := f.want[id]; !ok || !f.own.owns(id) {
			f.stopSlot(s)
		}
	}
	if f.ctx == nil || f.ctx.Err() != nil {
		return // stopping: nothing new starts
	}
	for id, t := range f.want {
		if f.slots[id] == nil && f.own.owns(id) {
			f.startSlot(f.ctx, t)
		}
	}
}

// enabled returns the wanted tenants that run (not disabled).
func (f *fleet) enabled() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return enabledOf(f.want)
}

// release stops the running tenants for which gone is true (ownership says
// they are no longer this process's) and returns them, with the channels of
// their runs and of earlier runs of them still draining.
func (f *fleet) release(gone func(id string) bool) (ids []string, done []<-chan struct{}) {
	f.mu.Lock()
	defer f.mu.Unlock()
	for id, s := range f.slots {
		if gone(id) {
			ids = append(ids, id)
			done = append(done, s.done)
		}
	}
	for id, d := range f.prev {
		if gone(id) && f.slots[id] == nil {
			done = append(done, d)
		}
	}
	f.reconcileLocked()
	return ids, done
}

// startSlot starts a tenant's slot, first logging its settings that are
// outside what the API documents or insecure; its run begins once the tenant's previous
// run in this process has drained and committed. f.mu must be held.
func (f *fleet) startSlot(ctx context.Context, t config.Tenant) {
	// The env tenant (active/standby) was warned about by run, in the
	// environment's names.
	if f.multi {
		for _, w := range t.Warnings() {
			f.log.Warn(w.Summary(), "tenant", w.Tenant, "setting", w.Setting, "warning", w.Message)
		}
		for _, w := range t.FileWarnings() {
			f.log.Warn("a secret file can be read by other users", "tenant", w.Tenant, "setting", w.Setting, "warning", w.Message)
		}
	}
	sctx, cancel := context.WithCancel(ctx)
	s := &slot{t: t, now: f.now, cancel: cancel, done: make(chan struct{}), status: TenantStatus{ID: t.ID}}
	if prev := f.prev[t.ID]; prev != nil {
		s.after = prev
	}
	s.set(StateStarting, "", nil)
	f.slots[t.ID] = s
	v := supervisor{log: f.log.With("tenant", t.ID), retryMin: f.retryMin, retryMax: f.retryMax, now: f.now, own: f.own, group: f.group}
	f.wg.Go(func() {
		v.supervise(sctx, s, func(ctx context.Context, log *slog.Logger) error { return f.runOnce(ctx, s, log) })
	})
}

// stopSlot stops a tenant gracefully (final commit, rate history kept); its
// done channel is remembered until a new run of the tenant has waited for it.
// f.mu must be held.
func (f *fleet) stopSlot(s *slot) {
	s.cancel()
	delete(f.slots, s.t.ID)
	f.prev[s.t.ID] = s.done
}

// supervisor runs one tenant's slot until it is stopped: it restarts a run
// that failed with backoff from retryMin, doubling to retryMax — a run that
// lasted longer than retryMax starts the backoff over — and, with group
// membership, tells a handover from a failure. now is its clock: how long a
// run lasted, and the times GET /tenants shows.
type supervisor struct {
	log      *slog.Logger
	retryMin time.Duration
	retryMax time.Duration
	now      func() time.Time
	own      ownership
	group    *group // nil: no group membership, no handover
}

// supervise runs the tenant of s with run until ctx ends, and closes s.done
// when it has stopped. run returns when its ctx ends (a graceful stop) or the
// run failed.
func (v supervisor) supervise(ctx context.Context, s *slot, run func(context.Context, *slog.Logger) error) {
	defer close(s.done)
	log := v.log
	if s.after != nil {
		select {
		case <-s.after: // drained and committed before this run loads the offsets
		case <-ctx.Done():
			s.set(StateStopped, "", nil)
			return
		}
	}
	if s.t.Disabled {
		s.set(StateDisabled, "disabled: true in the tenants file", nil)
		<-ctx.Done()
		return
	}
	delay := v.retryMin
	for {
		began := v.now()
		err := run(ctx, log)
		fenced := v.group != nil && errors.Is(err, pipeline.ErrFenced)
		if ctx.Err() != nil {
			switch {
			case fenced && !v.own.owns(s.t.ID):
				// Its slot was revoked or lost, and the next owner fenced
				// the final commit: the next owner resumes from the last
				// commit that went through.
				s.set(StateMoved, movedReason(""), nil)
				log.Info("tenant handed over: its slot moved and the next owner fenced its final commit", "err", err)
				return
			case err != nil && !errors.Is(err, context.Canceled):
				// Stopped (a reload, the process ending) and the final
				// commit failed.
				log.Warn("tenant stopped; its final commit failed", "reason", failureReason(err), "err", err)
			}
			s.set(StateStopped, "", nil)
			return
		}
		if fenced {
			if to, moved := v.group.handedOver(ctx, s.t.ID); moved {
				s.set(StateMoved, movedReason(to), nil)
				log.Info("tenant handed over: the group moved its slot to another process, which fenced this one; it is not retried here", "to", to, "err", err)
				if !v.group.whileMoved(ctx, s.t.ID) {
					return // the slot was revoked or lost here too, or the process stops: moved stays its last state
				}
				log.Info("the group gives the tenant's slot to this process again; starting it")
				s.set(StateStarting, "", nil)
				delay = v.retryMin
				continue
			}
		}
		if err == nil {
			err = errors.New("the pipeline stopped by itself")
		}
		if v.now().Sub(began) > v.retryMax {
			delay = v.retryMin
		}
		if errors.Is(err, pipeline.ErrFenced) {
			// Without the group, another process runs the tenant too; with
			// it, the group says the slot is this process's, so the writer
			// that fenced it is outside the group. Retrying soon would fence
			// the other in turn.
			delay = v.retryMax
		}
		reason := failureReason(err)
		// One update: GET /tenants never shows the failure with the last
		// one's count or retry time.
		s.mu.Lock()
		s.status.Failures++
		s.class = failureClass(err)
		s.setLocked(StateFailed, reason, err)
		s.status.NextRetry = v.now().Add(delay).UTC()
		s.mu.Unlock()
		log.Error("tenant failed; the others are not affected; retrying", "reason", reason, "retry_in", delay, "err", err)
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			s.set(StateStopped, "", nil)
			return
		case <-t.C:
		}
		// The retry starts: the tenant stays failed, with its reason, its
		// error and the time the retry began, until the new run is running
		// (loading the offsets can take a while), so that "failed" is what
		// /tenants says for the whole cycle, not for the backoff alone.
		delay = min(2*delay, v.retryMax)
	}
}

// runOnce builds the tenant's clients and pipeline and runs it until ctx
// ends (a graceful stop: final commit, rate history kept) or it fails.
func (f *fleet) runOnce(ctx context.Context, s *slot, log *slog.Logger) error {
	sh := f.shared
	if f.group != nil {
		// A process cut off from the group coordinator may have lost the
		// tenant without knowing: it must not fence the new owner.
		if err := f.group.member.WaitLive(ctx, nil); err != nil {
			return nil
		}
		sh.gate = gate{member: f.group.member, stop: ctx.Done()}
	}
	tn, err := newTenant(sh, TenantFrom(f.shared.cfg, s.t), f.multi)
	if err != nil {
		return err
	}
	defer tn.close()
	// Every per-tenant series carries its tenant, the active/standby env
	// tenant's too.
	reg, err := f.shared.obs.registerPipelineMetrics(tn.pipeline, tn.polls, tn.queue, s.t.ID)
	if err != nil {
		return err
	}
	defer func() { _ = reg.Unregister() }()
	s.mu.Lock()
	s.pipeline, s.queue = tn.pipeline, tn.queue
	s.status.BulkFallback = false // the new run tries get_multiple_incidents_extra_data again
	s.mu.Unlock()
	defer func() {
		last := s.snapshot() // the run's figures stay visible after it ends
		s.mu.Lock()
		s.pipeline = nil
		s.status.QueueDepth, s.status.Versions, s.status.Calls429 = last.QueueDepth, last.Versions, last.Calls429
		s.status.BudgetUsed, s.status.BudgetLimit, s.status.LagSeconds = 0, last.BudgetLimit, last.LagSeconds
		s.status.BulkFallback, s.status.BulkBudgetLimit = last.BulkFallback, last.BulkBudgetLimit
		s.mu.Unlock()
	}()
	runCtx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-tn.pipeline.Ready():
			s.set(StateRunning, "", nil)
			s.mu.Lock()
			s.status.Failures = 0
			s.mu.Unlock()
			log.Info("tenant running")
		case <-runCtx.Done():
		}
	}()
	wb := runWriteback(runCtx, tn.writeback, log)
	err = tn.pipeline.Run(ctx)
	stop()
	<-wb
	if f.group == nil {
		err = secondProcess(f.shared.cfg, s.t.ID, err)
	}
	return err
}

// failureReason says in words why a tenant failed, and what to do.
func failureReason(err error) string {
	if errors.Is(err, errSecondProcess) {
		return "another live process with the same CONNECTOR_NAME runs this tenant (the group is off): " + secondProcessFix
	}
	if errors.Is(err, pipeline.ErrFenced) {
		return "another instance with the same CONNECTOR_NAME and tenant writes this tenant's records now"
	}
	if ae, ok := errors.AsType[*xdr.APIError](err); ok {
		return explain.Line(ae)
	}
	msg := err.Error()
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	return msg
}

// Classes of a tenant's failure: the reason label of the failed gauge
// (MetricTenantFailed), a small fixed set.
const (
	FailureAPIUnauthorized   = "api_unauthorized"   // the API rejected the key (401)
	FailureAPIUnlicensed     = "api_unlicensed"     // no licence for the API (402)
	FailureAPIForbidden      = "api_forbidden"      // the key's role lacks a permission (403)
	FailureAPIError          = "api_error"          // another HTTP status of the API
	FailureKafkaUnauthorized = "kafka_unauthorized" // the Kafka principal may not use the tenant's transactional id
	FailureKafka             = "kafka"              // another error Kafka answered
	FailureFenced            = "fenced"             // another instance with the same CONNECTOR_NAME writes the tenant's records
	FailureSecondProcess     = "second_process"     // another live process runs the tenant, the group being off
	FailureConfig            = "config"             // the tenant's settings cannot be used
	FailureOther             = "other"              // anything else: the reason in GET /tenants and the log says what
)

// failureClass is the class of a tenant's failure, one of the Failure*
// constants; failureReason says it in words.
func failureClass(err error) string {
	switch {
	case errors.Is(err, errSecondProcess):
		return FailureSecondProcess
	case errors.Is(err, pipeline.ErrFenced):
		return FailureFenced
	case errors.Is(err, pipeline.ErrTxnNotAuthorized):
		return FailureKafkaUnauthorized
	}
	if ae, ok := errors.AsType[*xdr.APIError](err); ok {
		switch ae.Status {
		case http.StatusUnauthorized:
			return FailureAPIUnauthorized
		case http.StatusPaymentRequired:
			return FailureAPIUnlicensed
		case http.StatusForbidden:
			return FailureAPIForbidden
		}
		return FailureAPIError
	}
	if _, ok := errors.AsType[*ConfigError](err); ok {
		return FailureConfig
	}
	if _, ok := errors.AsType[*kerr.Error](err); ok {
		return FailureKafka
	}
	return FailureOther
}

// DefaultTenantsSettle is how long a changed tenants file — or a changed
// key file it names — must read the same before the change is applied.
const DefaultTenantsSettle = time.Second

// fileRead is one read of the tenants file and of the key files it names:
// its bytes, and the tenants they resolve to or why they do not.
type fileRead struct {
	b   []byte
	ts  []config.Tenant
	err error
}

// same reports whether two reads found the same: the same bytes and the same
// tenants (keys included), or the same error.
func (r fileRead) same(o fileRead) bool {
	if !bytes.Equal(r.b, o.b) || (r.err == nil) != (o.err == nil) || len(r.ts) != len(o.ts) {
		return false
	}
	if r.err != nil {
		return r.err.Error() == o.err.Error()
	}
	for i := range r.ts {
		if !r.ts[i].Equal(o.ts[i]) {
			return false
		}
	}
	return true
}

// settler holds a changed read back until a later read, at least settle
// after the first, finds the same. A file being written in place (or a key
// file being rewritten) may be read half-written, and may even parse — a
// base_url cut short is still a URL — but it is not read the same twice
// settle apart unless the writer stalled that long: it is never applied.
type settler struct {
	settle  time.Duration
	pending *fileRead
	since   time.Time
}

// offer returns 0 when r is the read offered before, at least settle ago:
// stable, to apply. Otherwise it returns how long to wait before reading
// again, and r (if it differs) is the read now held back.
func (s *settler) offer(r fileRead, now time.Time) time.Duration {
	if s.pending == nil || !s.pending.same(r) {
		s.pending, s.since = &r, now
	}
	return max(0, s.since.Add(s.settle).Sub(now))
}

func (s *settler) reset() { s.pending = nil }

// read reads the tenants file and the key files it names.
func (f *fleet) read() fileRead {
	b, err := config.ReadTenantsFile(f.path)
	if err != nil {
		return fileRead{err: &config.FieldError{Var: "TENANTS_FILE", Reason: fmt.Sprintf("cannot be read: %v", errors.Unwrap(err))}}
	}
	ts, err := config.ParseTenants(b, f.shared.cfg)
	return fileRead{b: b, ts: ts, err: err}
}

// reload re-reads the tenants file (and the key files it names) at now and
// applies it once it is stable (see settler): added tenants start, removed
// ones stop gracefully, changed ones — a rotated key included — restart, the
// others are not touched. A file that fails validation changes nothing; it
// is logged once, or again on force (SIGHUP). reload returns how long to wait
// before reading again when a change is held back, else 0.
func (f *fleet) reload(ctx context.Context, force bool, now time.Time) time.Duration {
	r := f.read()
	f.mu.Lock()
	current := r.err == nil && f.wantedLocked(r.ts)
	rejected := r.err != nil && f.rejected != nil && f.rejected.same(r)
	f.mu.Unlock()
	switch {
	case current:
		f.settle.reset()
		if force {
			f.apply(ctx, r.b, r.ts, true) // says it was read, and nothing changed
		}
		return 0
	case rejected:
		f.settle.reset()
		if force {
			f.reject(r)
		}
		return 0
	}
	if wait := f.settle.offer(r, now); wait > 0 {
		return wait
	}
	f.settle.reset()
	if r.err != nil {
		f.mu.Lock()
		f.rejected = &r
		f.mu.Unlock()
		f.reject(r)
		return 0
	}
	f.apply(ctx, r.b, r.ts, force)
	return 0
}

func (f *fleet) reject(r fileRead) {
	f.log.Error("the tenants file is not valid or cannot be read; it was rejected as a whole and the running tenants stay as they are",
		"path", f.path, "err", r.err)
}

// wantedLocked reports whether ts is the wanted set as it is. f.mu must be
// held.
func (f *fleet) wantedLocked(ts []config.Tenant) bool {
	if len(ts) != len(f.want) {
		return false
	}
	for _, t := range ts {
		if w, ok := f.want[t.ID]; !ok || !w.Equal(t) {
			return false
		}
	}
	return true
}

// apply makes the wanted set that of ts, read from the file content b.
func (f *fleet) apply(ctx context.Context, b []byte, ts []config.Tenant, force bool) {
	f.mu.Lock()
	f.rejected = nil
	want := map[string]config.Tenant{}
	for _, t := range ts {
		want[t.ID] = t
	}
	var added, removed, changed []string
	for id, old := range f.want {
		t, ok := want[id]
		switch {
		case !ok:
			removed = append(removed, id)
		case !t.Equal(old):
			changed = append(changed, id)
			if t.BaseURL != old.BaseURL {
				// Checked as at start (ParseTenants), and stable: still, the
				// tenant's key goes to another address from now on.
				f.log.Warn("a tenant's base_url changed: its API key is sent to the new URL from now on",
					"tenant", id, "from", redactedURL(old.BaseURL), "to", redactedURL(t.BaseURL))
			}
			if s := f.slots[id]; s != nil {
				f.stopSlot(s) // restarted by reconcile, once drained
			}
		}
	}
	for id := range want {
		if _, ok := f.want[id]; !ok {
			added = append(added, id)
		}
	}
	weighed := f.group != nil && !slices.Equal(weightsOf(f.want, f.group.partitions), weightsOf(want, f.group.partitions))
	f.want = want
	if f.ctx == nil {
		f.ctx = ctx
	}
	f.reconcileLocked()
	f.mu.Unlock()
	if weighed {
		f.group.member.Rebalance() // the leader balances with the new weights
	}
	if len(added)+len(removed)+len(changed) == 0 && !force {
		return
	}
	slices.Sort(added)
	slices.Sort(removed)
	slices.Sort(changed)
	f.log.Info("tenants file reloaded", "added", added, "removed", removed, "changed", changed, "tenants", len(want), "bytes", len(b))
}

// redactedURL is u without its userinfo's user and password, for a log.
func redactedURL(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "(not a URL)"
	}
	if p.User != nil {
		// url.Redacted hides a password, not a user, which may be a key.
		p.User = nil
		return strings.Replace(p.String(), "://", "://[REDACTED]@", 1)
	}
	return p.String()
}

// watch reloads the file on every signal of reload and whenever its content
// changes (checked every every), applying a change once it has read the same
// for f.settle.settle. Reading the path anew each time follows a symlink
// swap, which is how Kubernetes updates a mounted ConfigMap.
func (f *fleet) watch(ctx context.Context, reload <-chan struct{}, every time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	var recheck <-chan time.Time // armed while a change is held back
	step := func(force bool) {
		if wait := f.reload(ctx, force, time.Now()); wait > 0 && recheck == nil {
			recheck = time.After(wait)
		}
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-reload:
			f.log.Info("reloading the tenants file (SIGHUP)", "path", f.path)
			step(true)
		case <-t.C:
			step(false)
		case <-recheck:
			recheck = nil
			step(false)
		}
	}
}

// wait waits until every slot has stopped. Call it after the fleet's
// context ended: no slot starts after that.
func (f *fleet) wait() {
	f.mu.Lock() // a reconcile under way has started what it starts
	f.mu.Unlock()
	f.wg.Wait()
}

// unstopped returns the tenants whose runs in this process have not ended,
// sorted.
func (f *fleet) unstopped() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var ids []string
	for id, s := range f.slots {
		if notDone(s.done) {
			ids = append(ids, id)
		}
	}
	for id, done := range f.prev {
		if f.slots[id] == nil && notDone(done) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return slices.Compact(ids)
}

// notDone reports whether done is not closed yet.
func notDone(done <-chan struct{}) bool {
	select {
	case <-done:
		return false
	default:
		return true
	}
}

// statuses returns every tenant's status, sorted by id.
func (f *fleet) statuses() []TenantStatus {
	f.mu.Lock()
	slots := make([]*slot, 0, len(f.slots))
	for _, s := range f.slots {
		slots = append(slots, s)
	}
	f.mu.Unlock()
	out := make([]TenantStatus, 0, len(slots))
	for _, s := range slots {
		out = append(out, s.snapshot())
	}
	if f.group != nil {
		out = append(out, f.group.unownedStatuses(time.Now())...)
	}
	slices.SortFunc(out, func(a, b TenantStatus) int { return strings.Compare(a.ID, b.ID) })
	return out
}

func (f *fleet) serveTenants(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	// A tenant's last error may be a library's text quoting a secret (a
	// broker refusing SASL quotes what it was sent): the document is
	// scrubbed of the process's secrets (one Write: Encode buffers it).
	enc := json.NewEncoder(xdr.ScrubbingWriter(w))
	enc.SetIndent("", "  ")
	_ = enc.Encode(f.statuses())
}
