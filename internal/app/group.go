package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/plugin/kslog"
	"go.opentelemetry.io/otel/metric"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/slots"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// StateUnowned is the state GET /tenants reports for a tenant of the file
// whose slot no process of the connector has owned for a grace period.
const StateUnowned = "unowned"

// Metrics of scale-out.
const (
	MetricTenantsOwned   = "xdr_connector.tenants.owned"   // gauge: tenants this process runs (the slots it owns)
	MetricTenantsUnowned = "xdr_connector.tenants.unowned" // gauge: tenants of the file in no process's slot for the grace period
	MetricGroupLive      = "xdr_connector.group.live"      // gauge: 1 while this process hears from the group coordinator, else 0 (its tenants call nothing)
	MetricTenantsMoved   = "xdr_connector.tenants.moved"   // gauge: tenants stopped here because the group moved their slots (StateMoved)
)

// group is a fleet's membership in the connector's consumer group: which
// slots this process owns, and what is known of the others. It is the
// fleet's ownership with membership (owns), and the member's slots.Handler,
// which tells the fleet when its slots change. Its state has its own lock,
// never held while it calls the fleet; the fleet may ask it under its own.
type group struct {
	member     *slots.Member
	admin      *kadm.Client // asks the coordinator who owns a slot, over the fleet's producer's connections
	partitions int32
	replica    string        // this process's name in the group: KAFKA_GROUP_INSTANCE_ID, else host and pid
	grace      time.Duration // how long a slot may be nobody's before its tenants are reported unowned
	drainFor   time.Duration // how long Revoked waits for the tenants of revoked slots
	cfg        *config.Config
	log        *slog.Logger // the fleet's
	tenants    tenantSet

	mu      sync.Mutex
	owned   map[int32]bool       // the slots this member owns, by the member's last word from the group
	unowned map[string]time.Time // tenants whose slot nobody owned, since when
	slotOf_ map[string]int32     // cache of slots.Of
}

// tenantSet is what a group asks of the fleet whose tenants it owns.
type tenantSet interface {
	// enabled returns the tenants of the configuration that run (not
	// disabled).
	enabled() []string
	// reconcile starts the tenants this process owns that do not run, and
	// stops those it no longer owns.
	reconcile()
	// release stops the running tenants for which gone is true and returns
	// them, with channels closed once their runs — and earlier runs of them
	// still draining — have ended.
	release(gone func(id string) bool) (ids []string, done []<-chan struct{})
}

// owns reports whether this process owns tenant id's slot, by the member's
// last word from the group.
func (g *group) owns(id string) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.owned[g.slotLocked(id)]
}

func (g *group) slotOf(id string) int32 {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.slotLocked(id)
}

// slotLocked is tenant id's slot, from the cache of slots.Of. g.mu must be
// held.
func (g *group) slotLocked(id string) int32 {
	if p, ok := g.slotOf_[id]; ok {
		return p
	}
	p := slots.Of(id, g.partitions)
	g.slotOf_[id] = p
	return p
}

// duplicateMemberFix says what to do when two live processes claim one
// member id.
const duplicateMemberFix = "give each process its own KAFKA_GROUP_INSTANCE_ID (unset, it is made of the host name and DATA_DIR, " +
	"numbered per process on one host), or stop the other process"

// replicaName names this process in the group and in the User-Agent of its
// API calls: the instance id, else the host name and process id.
func replicaName(cfg *config.Config) string {
	if cfg.GroupInstanceID != "" {
		return cfg.GroupInstanceID
	}
	host, _ := os.Hostname()
	return fmt.Sprintf("%s-%d", host, os.Getpid())
}

// weightsOf counts the tenants that run (not disabled) in each of n slots.
func weightsOf(want map[string]config.Tenant, n int32) []int {
	return slots.Weights(enabledOf(want), n)
}

// enabledOf returns the ids of the tenants of want that run (not disabled).
func enabledOf(want map[string]config.Tenant) []string {
	ids := make([]string, 0, len(want))
	for id, t := range want {
		if !t.Disabled {
			ids = append(ids, id)
		}
	}
	return ids
}

// joinGroup creates the slots topic (or finds it), joins the connector's
// group and runs the membership until the returned stop is called, which
// leaves the group: call it after every tenant has stopped. A membership
// that ends by itself calls fail with the cause (its slots are lost by
// then): another live process joined with this one's member id. From then
// on the fleet runs the tenants of the slots the group owns.
func (f *fleet) joinGroup(ctx context.Context, kcl *kgo.Client, fail func(error)) (stop func(), err error) {
	cfg := f.shared.cfg
	n, err := slots.EnsureTopic(ctx, kadm.NewClient(kcl), cfg.TopicSlots, int32(cfg.SlotsPartitions), int16(cfg.KafkaReplication))
	if err != nil {
		return nil, err
	}
	if int(n) != cfg.SlotsPartitions {
		f.log.Warn("the slots topic has another partition count than KAFKA_SLOTS_PARTITIONS; its own count maps tenants to slots (recreate the topic, with every replica stopped, to change it)",
			"topic", cfg.TopicSlots, "partitions", n, "KAFKA_SLOTS_PARTITIONS", cfg.SlotsPartitions)
	}
	g := &group{partitions: n, replica: replicaName(cfg), owned: map[int32]bool{}, unowned: map[string]time.Time{}, slotOf_: map[string]int32{},
		grace: cfg.GroupSessionTimeout + cfg.GroupRebalanceTimeout, drainFor: cfg.GroupRebalanceTimeout - cfg.GroupHeartbeatInterval,
		cfg: cfg, log: f.log, tenants: f}
	log := f.log.With("stage", "group")
	m, err := slots.New(slots.Config{
		Group: cfg.GroupID(), Topic: cfg.TopicSlots, Partitions: n, InstanceID: cfg.GroupInstanceID,
		SessionTimeout: cfg.GroupSessionTimeout, RebalanceTimeout: cfg.GroupRebalanceTimeout, HeartbeatInterval: cfg.GroupHeartbeatInterval,
		Weights:    func(n int32) []int { return slots.Weights(f.enabled(), n) },
		ClientOpts: append(append([]kgo.Opt{}, f.shared.connOpts...), kgo.WithLogger(kslog.New(kafkaLogger(cfg, log, f.shared.stderr)))),
		Logger:     log,
	}, g)
	if err != nil {
		return nil, err
	}
	g.member, g.admin = m, kadm.NewClient(kcl)
	f.mu.Lock()
	f.group, f.own = g, g
	f.mu.Unlock()
	mctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := m.Run(mctx)
		switch {
		case errors.Is(err, slots.ErrInstanceFenced):
			err = fmt.Errorf("%w: %s", err, duplicateMemberFix)
			log.Error("another live process of this connector joined its group with this process's member id; the group keeps the newcomer, and this process stops", "member_id", g.replica, "fix", duplicateMemberFix)
			fail(err)
		case err != nil:
			log.Error("group membership failed; this process runs no tenant", "err", err)
			fail(err)
		}
	}()
	wdone := make(chan struct{})
	go func() {
		defer close(wdone)
		g.watch(mctx, log)
	}()
	log.Info("joined the connector's group; running the tenants of the slots this process owns",
		"group", cfg.GroupID(), "slots_topic", cfg.TopicSlots, "slots", n, "replica", g.replica, "static", cfg.GroupInstanceID != "")
	return func() { cancel(); <-done; <-wdone }, nil
}

// Assigned implements slots.Handler: the tenants of the slots start (each
// fences the previous owner before its first API call).
func (g *group) Assigned(_ context.Context, ps []int32) {
	g.mu.Lock()
	for _, p := range ps {
		g.owned[p] = true
	}
	g.mu.Unlock()
	g.tenants.reconcile()
}

// Revoked implements slots.Handler: the tenants of the slots stop — stop
// polling and enriching, drain, make their final commit with the rate
// history — and Revoked returns when they have, within the rebalance
// timeout, so the next owner starts from a clean commit.
func (g *group) Revoked(ctx context.Context, ps []int32) { g.release(ctx, ps, "revoked") }

// Lost implements slots.Handler: as Revoked, but another process may own
// the slots already; its fencing refuses what the stopping tenants still
// write.
func (g *group) Lost(ctx context.Context, ps []int32) { g.release(ctx, ps, "lost") }

func (g *group) release(ctx context.Context, ps []int32, why string) {
	g.mu.Lock()
	for _, p := range ps {
		delete(g.owned, p)
	}
	g.mu.Unlock()
	ids, waits := g.tenants.release(func(id string) bool { return slices.Contains(ps, g.slotOf(id)) })
	if len(ids) == 0 && len(waits) == 0 {
		return
	}
	slices.Sort(ids)
	began := time.Now()
	t := time.NewTimer(g.drainFor)
	defer t.Stop()
	for _, done := range waits {
		select {
		case <-done:
		case <-t.C:
			g.log.Warn("tenants of "+why+" slots did not stop within the rebalance timeout; their next owner fences them", "tenants", ids)
			return
		case <-ctx.Done():
			return
		}
	}
	g.log.Info("tenants of "+why+" slots stopped and committed", "tenants", ids, "took", time.Since(began).Round(time.Millisecond))
}

// handedOver decides whether tenant id, whose writes were just fenced, was
// handed over to another process: its slot is no longer this process's,
// by the member's last word from the group or, when that still says it is,
// by the coordinator's description of the group now (a member cut off from
// the coordinator learns that it was removed only when a heartbeat gets
// through). to names the new owner when known. When the coordinator says the
// slot is this member's, the fence came from a writer outside the group:
// not a handover. A coordinator that does not describe a settled group
// within the rebalance timeout counts as a handover: this process is then
// cut off from the group, and the tenant must not fight the writer that
// fenced it.
func (g *group) handedOver(ctx context.Context, id string) (to string, moved bool) {
	if !g.owns(id) {
		return "", true
	}
	ctx, cancel := context.WithTimeout(ctx, g.cfg.GroupRebalanceTimeout)
	defer cancel()
	p := g.slotOf(id)
	for {
		h, err := g.member.HolderOf(ctx, g.admin, p)
		if err == nil {
			return h.Who, !h.Mine
		}
		if !g.owns(id) {
			return "", true // revoked or lost meanwhile
		}
		select {
		case <-ctx.Done():
			return "", true
		case <-time.After(g.cfg.GroupHeartbeatInterval):
		}
	}
}

// whileMoved holds a tenant whose slot moved until ctx ends — the group
// revokes or takes the slot here too, or the process stops — and returns
// false; or until the coordinator says the slot is this member's again (a
// new assignment, not a retry), checked every session timeout, and returns
// true.
func (g *group) whileMoved(ctx context.Context, id string) bool {
	every := g.cfg.GroupSessionTimeout
	p := g.slotOf(id)
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return false
		case <-t.C:
		}
		actx, cancel := context.WithTimeout(ctx, every)
		h, err := g.member.HolderOf(actx, g.admin, p)
		cancel()
		if err == nil && h.Mine && g.owns(id) {
			return true
		}
	}
}

// movedReason is the reason GET /tenants gives for a moved tenant; to names
// the new owner when known.
func movedReason(to string) string {
	if to == "" {
		return "its slot moved to another process of this connector, which runs the tenant now; not retried here"
	}
	return "its slot moved to " + to + ", which runs the tenant now; not retried here"
}

// watch logs when this process loses and regains contact with the group
// coordinator, and keeps what is known of slots owned by nobody.
func (g *group) watch(ctx context.Context, log *slog.Logger) {
	cfg := g.cfg
	every := min(max(time.Second, cfg.GroupSessionTimeout/3), 15*time.Second)
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	live, last := false, time.Time{}
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		switch now := g.member.Live(); {
		case live && !now:
			log.Warn("no word from the group coordinator for a session timeout; this process's tenants stop calling the XDR API until it hears from it again (another process may own them now)",
				"session_timeout", cfg.GroupSessionTimeout)
			live = false
		case !live && now:
			live = true
		}
		if time.Since(last) < every {
			continue
		}
		last = time.Now()
		actx, cancel := context.WithTimeout(ctx, every)
		owners, err := g.member.Assignment(actx)
		cancel()
		if err != nil {
			log.Debug("describing the group failed", "err", err)
			continue
		}
		g.noteOwners(g.tenants.enabled(), owners, time.Now())
	}
}

// noteOwners records, for each tenant id, whether some member owns its
// slot, keeping since when nobody has.
func (g *group) noteOwners(ids []string, owners map[int32]string, now time.Time) {
	g.mu.Lock()
	defer g.mu.Unlock()
	seen := map[string]bool{}
	for _, id := range ids {
		seen[id] = true
		if _, owned := owners[g.slotLocked(id)]; owned {
			delete(g.unowned, id)
		} else if _, ok := g.unowned[id]; !ok {
			g.unowned[id] = now
		}
	}
	for id := range g.unowned {
		if !seen[id] {
			delete(g.unowned, id)
		}
	}
}

// unownedStatuses are the lines of GET /tenants for tenants that nobody has
// owned for the grace period.
func (g *group) unownedStatuses(now time.Time) []TenantStatus {
	g.mu.Lock()
	defer g.mu.Unlock()
	var out []TenantStatus
	for id, since := range g.unowned {
		if now.Sub(since) >= g.grace {
			out = append(out, TenantStatus{ID: id, State: StateUnowned, Since: since.UTC(),
				Reason: fmt.Sprintf("no process of this connector owns its slot %d (are all replicas down, or cut off from Kafka?)", g.slotOf_[id])})
		}
	}
	return out
}

// registerGroupMetrics exposes the owned and unowned tenant counts and the
// contact with the coordinator.
func (o *observability) registerGroupMetrics(f *fleet) (metric.Registration, error) {
	m := o.meterProvider.Meter(meterScope)
	owned, err := m.Int64ObservableGauge(MetricTenantsOwned, metric.WithDescription("Tenants this process runs: those of the slots it owns."))
	if err != nil {
		return nil, err
	}
	unowned, err := m.Int64ObservableGauge(MetricTenantsUnowned, metric.WithDescription("Tenants of the file whose slot no process has owned for the grace period."))
	if err != nil {
		return nil, err
	}
	live, err := m.Int64ObservableGauge(MetricGroupLive, metric.WithDescription("1 while this process hears from the group coordinator; 0 when its tenants stop calling the API."))
	if err != nil {
		return nil, err
	}
	moved, err := m.Int64ObservableGauge(MetricTenantsMoved, metric.WithDescription("Tenants this process stopped because the group moved their slots to another process, which fenced it; not retried here."))
	if err != nil {
		return nil, err
	}
	return m.RegisterCallback(func(_ context.Context, ob metric.Observer) error {
		f.mu.Lock()
		n, nm := 0, 0
		for _, s := range f.slots {
			switch {
			case s.state() == StateMoved:
				nm++
			case !s.t.Disabled:
				n++
			}
		}
		g := f.group
		f.mu.Unlock()
		ob.ObserveInt64(owned, int64(n))
		ob.ObserveInt64(moved, int64(nm))
		if g == nil {
			return nil
		}
		ob.ObserveInt64(unowned, int64(len(g.unownedStatuses(time.Now()))))
		l := int64(0)
		if g.member.Live() {
			l = 1
		}
		ob.ObserveInt64(live, l)
		return nil
	}, owned, unowned, live, moved)
}

// gate holds a tenant's API calls while the process is cut off from the
// group coordinator (see slots.Member.Live). The zero gate holds nothing.
type gate struct {
	member *slots.Member
	stop   <-chan struct{} // the tenant's run
}

// gatedAPI is a tenant's API behind its gate: no call starts while the
// process may have lost the tenant without knowing.
type gatedAPI struct {
	api  pipeline.API
	gate gate
}

func (g gatedAPI) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	if err := g.gate.member.WaitLive(ctx, g.gate.stop); err != nil {
		return nil, err
	}
	return g.api.GetIncidents(ctx, req)
}

func (g gatedAPI) GetIncidentExtraData(ctx context.Context, req xdr.ExtraDataRequest) (*xdr.ExtraData, error) {
	if err := g.gate.member.WaitLive(ctx, g.gate.stop); err != nil {
		return nil, err
	}
	return g.api.GetIncidentExtraData(ctx, req)
}
