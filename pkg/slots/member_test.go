package slots

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ledger records who owns each slot as the handlers hear it, and every
// moment a slot was given to a member while another live member held it.
type ledger struct {
	mu      sync.Mutex
	owner   map[int32]*Member
	names   map[*Member]string
	doubles []string
}

type recorder struct {
	l *ledger
	m *Member
}

func (r *recorder) Assigned(_ context.Context, ps []int32) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	for _, p := range ps {
		if o := r.l.owner[p]; o != nil && o != r.m && o.Live() {
			r.l.doubles = append(r.l.doubles, fmt.Sprintf("slot %d given to %s while %s, live, owned it", p, r.l.names[r.m], r.l.names[o]))
		}
		r.l.owner[p] = r.m
	}
}

func (r *recorder) Revoked(_ context.Context, ps []int32) { r.release(ps) }
func (r *recorder) Lost(_ context.Context, ps []int32)    { r.release(ps) }

func (r *recorder) release(ps []int32) {
	r.l.mu.Lock()
	defer r.l.mu.Unlock()
	for _, p := range ps {
		if r.l.owner[p] == r.m {
			delete(r.l.owner, p)
		}
	}
}

type groupEnv struct {
	t       *testing.T
	c       *kfake.Cluster
	l       *ledger
	weights []int
	n       int32
}

func newGroupEnv(t *testing.T) *groupEnv {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.GroupMinSessionTimeout(100*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	n, err := EnsureTopic(ctx, kadm.NewClient(cl), "slots", 16, 1)
	if err != nil || n != 16 {
		t.Fatalf("EnsureTopic = %d, %v", n, err)
	}
	if again, err := EnsureTopic(ctx, kadm.NewClient(cl), "slots", 32, 1); err != nil || again != 16 {
		t.Fatalf("EnsureTopic of an existing topic = %d, %v; want its own 16", again, err)
	}
	return &groupEnv{t: t, c: c, l: &ledger{owner: map[int32]*Member{}, names: map[*Member]string{}},
		weights: Weights(ids("t", 30), n), n: n}
}

type running struct {
	m    *Member
	stop context.CancelFunc
	done chan struct{}
	err  error // Run's, once done is closed
}

func (e *groupEnv) join(name, instance string) *running {
	e.t.Helper()
	r := &recorder{l: e.l}
	m, err := New(Config{Group: "g", Topic: "slots", Partitions: e.n, InstanceID: instance,
		SessionTimeout: 1500 * time.Millisecond, RebalanceTimeout: 3 * time.Second, HeartbeatInterval: 150 * time.Millisecond,
		Weights: func(n int32) []int { return e.weights }, ClientOpts: []kgo.Opt{kgo.SeedBrokers(e.c.ListenAddrs()...)}}, r)
	if err != nil {
		e.t.Fatal(err)
	}
	r.m = m
	e.l.mu.Lock()
	e.l.names[m] = name
	e.l.mu.Unlock()
	ctx, cancel := context.WithCancel(context.Background())
	run := &running{m: m, stop: cancel, done: make(chan struct{})}
	go func() {
		defer close(run.done)
		run.err = m.Run(ctx)
	}()
	e.t.Cleanup(func() { cancel(); <-run.done })
	return run
}

// settled waits until the members own every slot between them, the tenants
// spread evenly.
func (e *groupEnv) settled(what string, ms ...*running) {
	e.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		var owned [][]int32
		for _, r := range ms {
			owned = append(owned, r.m.Owned())
		}
		total := 0
		for _, o := range owned {
			total += len(o)
		}
		l := loads(owned, e.weights)
		if total == int(e.n) && spread(l) <= 1 {
			cover := map[int32]int{}
			for _, o := range owned {
				for _, p := range o {
					cover[p]++
				}
			}
			if len(cover) == int(e.n) {
				return
			}
		}
		if time.Now().After(deadline) {
			e.t.Fatalf("%s: the group did not settle: owned %v, tenants %v", what, owned, l)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (e *groupEnv) noDoubles() {
	e.t.Helper()
	e.l.mu.Lock()
	defer e.l.mu.Unlock()
	for _, d := range e.l.doubles {
		e.t.Error(d)
	}
}

func TestMembersShareTheSlotsAndHandThemOver(t *testing.T) {
	e := newGroupEnv(t)
	a := e.join("a", "")
	e.settled("one member", a)
	if !slices.Equal(a.m.Owned(), func() []int32 {
		var all []int32
		for p := range e.n {
			all = append(all, p)
		}
		return all
	}()) {
		t.Fatalf("one member owns %v, want every slot", a.m.Owned())
	}
	b := e.join("b", "")
	c := e.join("c", "")
	e.settled("three members", a, b, c)
	d := e.join("d", "d") // static
	e.settled("four members", a, b, c, d)

	// Two leave cleanly: the others take their slots at once.
	b.stop()
	<-b.done
	c.stop()
	<-c.done
	e.settled("two left", a, d)

	// A static member leaves by its id when it stops: its slots move at
	// once, not after a session timeout.
	stopped := time.Now()
	d.stop()
	<-d.done
	e.settled("the static member left", a)
	if took := time.Since(stopped); took >= 1500*time.Millisecond {
		t.Errorf("a static member's slots moved %s after it stopped, a session timeout", took)
	}

	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	as, err := a.m.Assignment(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if len(as) != int(e.n) {
		t.Errorf("the group describes %d owned slots, want %d", len(as), e.n)
	}
	e.noDoubles()
}

// TestACutOffMemberStopsBeingLive cuts one static member's group requests:
// it stops being live before the coordinator gives its slots away, is told
// it lost them, and the other member owns everything.
func TestACutOffMemberStopsBeingLive(t *testing.T) {
	e := newGroupEnv(t)
	a := e.join("a", "a")
	b := e.join("b", "b")
	e.settled("two members", a, b)
	if !a.m.Live() || !b.m.Live() {
		t.Fatal("members not live")
	}
	var mu sync.Mutex
	cut := true
	for _, key := range []kmsg.Key{kmsg.Heartbeat, kmsg.JoinGroup, kmsg.SyncGroup} {
		e.c.ControlKey(int16(key), func(req kmsg.Request) (kmsg.Response, error, bool) {
			e.c.KeepControl()
			mu.Lock()
			defer mu.Unlock()
			if cut && testkit.FromGroupMember(req, "a") {
				return nil, fmt.Errorf("cut off"), true
			}
			return nil, nil, false
		})
	}
	cutAt := time.Now()
	for a.m.Live() {
		if time.Since(cutAt) > 1500*time.Millisecond {
			t.Fatal("a cut-off member is still live after a session timeout")
		}
		time.Sleep(10 * time.Millisecond)
	}
	e.settled("b alone", b)
	if n := len(a.m.Owned()); n != 0 {
		t.Errorf("the cut-off member still owns %d slots after b took them", n)
	}
	e.noDoubles()

	mu.Lock()
	cut = false
	mu.Unlock()
	e.settled("a back", a, b)
	e.noDoubles()
}

// TestARemovedMemberIsNotLive: a reply saying this member is no longer one
// (unknown member id, a fenced instance id) ends the contact it would
// otherwise count as; a rebalance under way does not.
func TestARemovedMemberIsNotLive(t *testing.T) {
	for _, tc := range []struct {
		err  error
		live bool
	}{
		{kerr.RebalanceInProgress, true},
		{kerr.UnknownMemberID, false},
		{kerr.FencedInstanceID, false},
		{kerr.IllegalGeneration, false},
	} {
		c := &contact{session: 10 * time.Second, rebalance: 10 * time.Second, margin: time.Second}
		c.OnBrokerRead(kgo.BrokerMetadata{}, int16(kmsg.Heartbeat), 0, 0, 0, nil)
		if !c.live(time.Now()) {
			t.Fatal("not live right after a heartbeat's reply")
		}
		c.OnGroupManageError(fmt.Errorf("heartbeating: %w", tc.err))
		if got := c.live(time.Now()); got != tc.live {
			t.Errorf("after %v: live %v, want %v", tc.err, got, tc.live)
		}
	}
}

// TestTwoLiveMembersWithOneInstanceID: a second live member joins with the
// instance id of the first. The coordinator keeps the newcomer and fences
// the first, whose Run returns ErrInstanceFenced instead of rejoining (which
// would fence the newcomer back); the newcomer keeps every slot. Without
// the stop, the first would rejoin, fence the newcomer, and the two would
// take the id from each other for ever.
func TestTwoLiveMembersWithOneInstanceID(t *testing.T) {
	e := newGroupEnv(t)
	a := e.join("a", "same")
	e.settled("a alone", a)
	b := e.join("b", "same")
	select {
	case <-a.done:
	case <-time.After(20 * time.Second):
		t.Fatal("the fenced member is still running")
	}
	if !errors.Is(a.err, ErrInstanceFenced) || !strings.Contains(a.err.Error(), "same") {
		t.Fatalf("the fenced member's Run returned %v, want ErrInstanceFenced naming the id", a.err)
	}
	if n := len(a.m.Owned()); n != 0 || a.m.Live() {
		t.Errorf("the fenced member still owns %d slots (live %v)", n, a.m.Live())
	}
	e.settled("the newcomer keeps every slot", b)
	select {
	case <-b.done:
		t.Fatalf("the newcomer stopped: %v", b.err)
	default:
	}
	// The coordinator gives the newcomer the slots as it fences the first
	// member, which hears of it at its next heartbeat: the two overlap for
	// up to a heartbeat interval (the tenants' transactional ids fence the
	// first member's writes).
}

// TestARestartedStaticMemberTakesItsSlotsBack: a static member that dies
// without leaving (its process killed) and comes back under its instance id
// owns its slots again at once, not after a session timeout.
func TestARestartedStaticMemberTakesItsSlotsBack(t *testing.T) {
	e := newGroupEnv(t)
	a := e.join("a", "a")
	b := e.join("b", "b")
	e.settled("two members", a, b)
	before := a.m.Owned()
	// A kill: the member stops without leaving the group (a static
	// member's client sends no LeaveGroup; Run's own is refused here).
	var mu sync.Mutex
	dead := true
	e.c.ControlKey(int16(kmsg.LeaveGroup), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.c.KeepControl()
		mu.Lock()
		defer mu.Unlock()
		if !dead {
			return nil, nil, false
		}
		resp := req.ResponseKind().(*kmsg.LeaveGroupResponse)
		resp.ErrorCode = kerr.UnknownMemberID.Code
		return resp, nil, true
	})
	a.stop()
	<-a.done
	mu.Lock()
	dead = false
	mu.Unlock()
	restarted := time.Now()
	a2 := e.join("a again", "a")
	e.settled("a back", a2, b)
	if took := time.Since(restarted); took >= 1500*time.Millisecond {
		t.Errorf("the restarted member took its slots back after %s, a session timeout", took)
	}
	t.Logf("slots before the kill %v, after the restart %v, back within %s", before, a2.m.Owned(), time.Since(restarted).Round(time.Millisecond))
}
