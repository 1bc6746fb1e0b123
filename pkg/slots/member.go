package slots

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"slices"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Handler is told what the group gives and takes. Its methods are called
// one at a time from the group's goroutine, each with the slots concerned
// (never empty); the rebalance waits for them, so Assigned and Revoked
// together must fit in the rebalance timeout. None may close the member.
type Handler interface {
	// Assigned: the slots are this process's now. Their previous owner has
	// revoked them, or has left or been removed from the group.
	Assigned(ctx context.Context, slots []int32)
	// Revoked: the slots go to another process. Revoked must return only
	// once their work has stopped and its state is committed.
	Revoked(ctx context.Context, slots []int32)
	// Lost: the process was removed from the group (it fell silent for a
	// session timeout, or the coordinator fenced it); another process may
	// own the slots already. It can be called without a join ever having
	// succeeded.
	Lost(ctx context.Context, slots []int32)
}

// ErrInstanceFenced is returned by Run when the coordinator fenced this
// member because another member joined with its instance id: two live
// processes claim one static identity. Kafka keeps the newcomer; the fenced
// member stops rather than rejoin, which would fence the newcomer in turn.
var ErrInstanceFenced = errors.New("another live process joined the group with this process's instance id")

// Config configures a Member. Zero durations take Kafka's defaults.
type Config struct {
	Group      string // the consumer group: one per connector
	Topic      string // the slots topic (see EnsureTopic)
	Partitions int32  // its partition count, as EnsureTopic returned it
	// InstanceID, when set, makes the member static (KIP-345): a process
	// that crashes and comes back under the same id within the session
	// timeout (a container restarted in its pod) gets the same slots back
	// without a rebalance. A graceful stop still leaves the group explicitly,
	// so a rolling update hands the slots over at once.
	InstanceID        string
	SessionTimeout    time.Duration // default 45s
	RebalanceTimeout  time.Duration // default 60s
	HeartbeatInterval time.Duration // default 3s
	// Weights returns the tenant count of each of n slots (see Weights).
	Weights    func(n int32) []int
	ClientOpts []kgo.Opt // connection options: seeds, TLS, SASL, logger
	Logger     *slog.Logger
}

// Member is one process's membership in its connector's group. Its methods
// are safe for concurrent use.
type Member struct {
	cfg     Config
	h       Handler
	log     *slog.Logger
	contact contact

	mu    sync.Mutex
	cl    *kgo.Client // while Run runs
	owned map[int32]bool
}

// New returns a member that reports to h. Nothing joins until Run.
func New(cfg Config, h Handler) (*Member, error) {
	if cfg.Group == "" || cfg.Topic == "" || cfg.Partitions < 1 || cfg.Weights == nil {
		return nil, errors.New("slots: group, topic, partitions and weights are required")
	}
	if cfg.SessionTimeout <= 0 {
		cfg.SessionTimeout = 45 * time.Second
	}
	if cfg.RebalanceTimeout <= 0 {
		cfg.RebalanceTimeout = 60 * time.Second
	}
	if cfg.HeartbeatInterval <= 0 {
		cfg.HeartbeatInterval = 3 * time.Second
	}
	if cfg.HeartbeatInterval*3 > cfg.SessionTimeout {
		return nil, fmt.Errorf("slots: the heartbeat interval (%s) must be at most a third of the session timeout (%s)", cfg.HeartbeatInterval, cfg.SessionTimeout)
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	m := &Member{cfg: cfg, h: h, log: cfg.Logger, owned: map[int32]bool{}}
	m.contact.session, m.contact.rebalance, m.contact.margin = cfg.SessionTimeout, cfg.RebalanceTimeout, cfg.HeartbeatInterval
	return m, nil
}

// Run joins the group and stays in it until ctx is done, then leaves it
// (a static member too, by its instance id). It returns ErrInstanceFenced
// (wrapped) when another member took its instance id; the slots were
// reported lost by then. Call it once; stop the work of the slots before ctx ends, or the
// group moves them while they still run here (Revoked is called for what is
// still owned as the member leaves).
func (m *Member) Run(ctx context.Context) error {
	opts := append(slices.Clone(m.cfg.ClientOpts),
		kgo.ConsumerGroup(m.cfg.Group),
		kgo.ConsumeTopics(m.cfg.Topic),
		kgo.Balancers(NewBalancer(m.cfg.Topic, m.cfg.Partitions, m.cfg.Weights)),
		kgo.DisableAutoCommit(),
		kgo.SessionTimeout(m.cfg.SessionTimeout),
		kgo.RebalanceTimeout(m.cfg.RebalanceTimeout),
		kgo.HeartbeatInterval(m.cfg.HeartbeatInterval),
		kgo.WithHooks(&m.contact),
		kgo.OnPartitionsAssigned(func(ctx context.Context, _ *kgo.Client, a map[string][]int32) {
			if ps := m.change(a, true); len(ps) > 0 {
				m.log.Info("slots assigned", "slots", ps)
				m.h.Assigned(ctx, ps)
			}
		}),
		kgo.OnPartitionsRevoked(func(ctx context.Context, _ *kgo.Client, r map[string][]int32) {
			if ps := m.change(r, false); len(ps) > 0 {
				m.log.Info("slots revoked; stopping their tenants", "slots", ps)
				m.h.Revoked(ctx, ps)
			}
		}),
		kgo.OnPartitionsLost(func(ctx context.Context, _ *kgo.Client, l map[string][]int32) {
			if ps := m.change(l, false); len(ps) > 0 {
				m.log.Warn("slots lost: this process was removed from the group; another may own them already", "slots", ps)
				m.h.Lost(ctx, ps)
			}
		}),
	)
	if m.cfg.InstanceID != "" {
		opts = append(opts, kgo.InstanceID(m.cfg.InstanceID))
	}
	cl, err := kgo.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("creating the group client: %w", err)
	}
	m.mu.Lock()
	m.cl = cl
	m.mu.Unlock()
	pctx, stop := context.WithCancel(ctx)
	defer stop()
	m.contact.setOnFenced(stop)
	for {
		fs := cl.PollFetches(pctx)
		if pctx.Err() != nil || fs.IsClientClosed() {
			break
		}
		fs.EachError(func(t string, p int32, err error) {
			m.log.Debug("group client error", "topic", t, "partition", p, "err", err)
		})
	}
	m.mu.Lock()
	m.cl = nil
	m.mu.Unlock()
	if m.contact.wasFenced() {
		// The instance id is the newcomer's now: leaving by it would remove
		// the newcomer, and a static member's Close sends no LeaveGroup.
		cl.Close()
		return fmt.Errorf("%w (%s)", ErrInstanceFenced, m.cfg.InstanceID)
	}
	if m.cfg.InstanceID != "" {
		// Close sends no LeaveGroup for a static member: leave by its id, so
		// the others take the slots now rather than after a session timeout.
		lctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		_, err := kadm.NewClient(cl).LeaveGroup(lctx, kadm.LeaveGroup(m.cfg.Group).InstanceIDs(m.cfg.InstanceID).Reason("stopping"))
		cancel()
		if err != nil {
			m.log.Warn("leaving the group failed; the others take this process's slots after the session timeout", "err", err)
		}
	}
	cl.Close() // leaves the group (a dynamic member); Revoked runs for what is left
	return nil
}

// change records slots of the topic in a as owned (add) or no longer owned,
// and returns those that changed, sorted.
func (m *Member) change(a map[string][]int32, add bool) []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []int32
	for _, p := range a[m.cfg.Topic] {
		if m.owned[p] != add {
			out = append(out, p)
		}
		if add {
			m.owned[p] = true
		} else {
			delete(m.owned, p)
		}
	}
	slices.Sort(out)
	return out
}

// Owned returns the slots this member owns, sorted.
func (m *Member) Owned() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	out := make([]int32, 0, len(m.owned))
	for p := range m.owned {
		out = append(out, p)
	}
	slices.Sort(out)
	return out
}

// Rebalance asks the group to rebalance, for example after the tenants file
// changed the weights: the member rejoins with its new weights' digest,
// which makes the coordinator rebalance the group.
func (m *Member) Rebalance() {
	m.mu.Lock()
	cl := m.cl
	m.mu.Unlock()
	if cl != nil {
		cl.ForceRebalance()
	}
}

// Live reports whether this process may act as the owner of its slots: it
// heard from the group coordinator within the session timeout less one
// heartbeat interval (or waits for the answer to a join or sync sent within
// the rebalance timeout less one heartbeat interval). A process that is not
// live may have been removed from the group without knowing it yet — a
// zombie — and must not call the XDR API for its tenants: the coordinator
// hands their slots to another process once the session timeout has passed
// since the last heartbeat it received, and Live turns false a heartbeat
// interval before that.
func (m *Member) Live() bool { return m.contact.live(time.Now()) }

// WaitLive returns nil once the member is live, or the cause when ctx or
// stop ends first. stop lets a caller wait past ctx's deadline (a request
// timeout) while still stopping with its run.
func (m *Member) WaitLive(ctx context.Context, stop <-chan struct{}) error {
	t := time.NewTicker(50 * time.Millisecond)
	defer t.Stop()
	for !m.Live() {
		select {
		case <-stop:
			return context.Canceled
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) && stop != nil {
				ctx = context.WithoutCancel(ctx)
				continue
			}
			return ctx.Err()
		case <-t.C:
		}
	}
	return nil
}

// Assignment returns who owns each slot that some member of the group owns
// now, as the coordinator describes the group: the member's instance id, or
// its client id and host. Slots of no member are absent.
func (m *Member) Assignment(ctx context.Context) (map[int32]string, error) {
	m.mu.Lock()
	cl := m.cl
	m.mu.Unlock()
	if cl == nil {
		return nil, errors.New("not in the group")
	}
	dgs, err := kadm.NewClient(cl).DescribeGroups(ctx, m.cfg.Group)
	if err != nil {
		return nil, fmt.Errorf("describing group %s: %w", m.cfg.Group, err)
	}
	g, ok := dgs[m.cfg.Group]
	if !ok {
		return nil, fmt.Errorf("describing group %s: not in the reply", m.cfg.Group)
	}
	out := map[int32]string{}
	if errors.Is(g.Err, kerr.GroupIDNotFound) {
		return out, nil // no member at all
	}
	if g.Err != nil {
		return nil, fmt.Errorf("describing group %s: %w", m.cfg.Group, g.Err)
	}
	for _, mem := range g.Members {
		who := mem.ClientID + "@" + mem.ClientHost
		if mem.InstanceID != nil {
			who = *mem.InstanceID
		}
		a, ok := mem.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range a.Topics {
			if t.Topic == m.cfg.Topic {
				for _, p := range t.Partitions {
					out[p] = who
				}
			}
		}
	}
	return out, nil
}

// contact tracks when the group client last heard from the coordinator. It
// is a kgo hook on the member's own client, which talks to the coordinator
// only (and to brokers for the slots topic's metadata and fetches, which
// carry no group keys).
type contact struct {
	session, rebalance, margin time.Duration

	mu      sync.Mutex
	heard   time.Time // a group response read
	joining time.Time // a join or sync written, its answer not yet read
	fenced  bool      // the coordinator answered FENCED_INSTANCE_ID
	onFence func()    // told once of the fencing
}

func (c *contact) setOnFenced(f func()) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.onFence = f
}

func (c *contact) wasFenced() bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.fenced
}

var (
	_ kgo.HookBrokerWrite      = (*contact)(nil)
	_ kgo.HookBrokerRead       = (*contact)(nil)
	_ kgo.HookGroupManageError = (*contact)(nil)
)

func groupKey(key int16) bool {
	switch kmsg.Key(key) {
	case kmsg.OffsetFetch, kmsg.JoinGroup, kmsg.Heartbeat, kmsg.SyncGroup:
		return true
	}
	return false
}

func joinKey(key int16) bool {
	return kmsg.Key(key) == kmsg.JoinGroup || kmsg.Key(key) == kmsg.SyncGroup
}

func (c *contact) OnBrokerWrite(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if err == nil && joinKey(key) {
		c.mu.Lock()
		c.joining = time.Now()
		c.mu.Unlock()
	}
}

func (c *contact) OnBrokerRead(_ kgo.BrokerMetadata, key int16, _ int, _, _ time.Duration, err error) {
	if !groupKey(key) {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if joinKey(key) {
		c.joining = time.Time{}
	}
	if err == nil {
		c.heard = time.Now()
	}
}

// OnGroupManageError forgets the last contact when the coordinator says
// this member is no longer one (removed, or replaced by another with its
// instance id): a reply saying so is no sign of membership, and the
// process must not call the API for slots it may have lost until it has
// joined again.
func (c *contact) OnGroupManageError(err error) {
	if errors.Is(err, kerr.UnknownMemberID) || errors.Is(err, kerr.FencedInstanceID) || errors.Is(err, kerr.IllegalGeneration) {
		c.mu.Lock()
		c.heard = time.Time{}
		var tell func()
		if errors.Is(err, kerr.FencedInstanceID) && !c.fenced {
			c.fenced, tell = true, c.onFence
		}
		c.mu.Unlock()
		if tell != nil {
			tell()
		}
	}
}

func (c *contact) live(now time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.heard.IsZero() && now.Sub(c.heard) < c.session-c.margin {
		return true
	}
	return !c.joining.IsZero() && !c.heard.IsZero() && now.Sub(c.joining) < c.rebalance-c.margin
}
