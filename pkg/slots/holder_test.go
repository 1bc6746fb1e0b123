package slots

import (
	"context"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// TestHolderOfIsTheCoordinatorsWord: in a settled group each member's
// HolderOf agrees with what the members were told; once member a is cut off
// from the coordinator (its heartbeats hang) and b owns every slot, a still
// believes it owns its old slots, but HolderOf — asked over another client,
// since a's own connection waits behind the hung heartbeat — says b owns
// them and a is no longer a member.
func TestHolderOfIsTheCoordinatorsWord(t *testing.T) {
	e := newGroupEnv(t)
	a := e.join("a", "a")
	b := e.join("b", "b")
	e.settled("two members", a, b)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var fromA []int32
	for p := range e.n {
		var h Holder
		var err error
		for {
			if h, err = a.m.HolderOf(ctx, nil, p); err == nil || ctx.Err() != nil {
				break
			}
			time.Sleep(50 * time.Millisecond) // ErrUnsettled right after a rebalance
		}
		if err != nil {
			t.Fatal(err)
		}
		mine := slices.Contains(a.m.Owned(), p)
		want := "b"
		if mine {
			want = "a"
			fromA = append(fromA, p)
		}
		if h != (Holder{Who: want, Mine: mine, Member: true}) {
			t.Errorf("slot %d: a's HolderOf = %+v, want owner %s (mine %v)", p, h, want, mine)
		}
	}

	wake := make(chan struct{})
	defer close(wake)
	e.c.ControlKey(int16(kmsg.Heartbeat), func(req kmsg.Request) (kmsg.Response, error, bool) {
		e.c.KeepControl()
		if id := req.(*kmsg.HeartbeatRequest).InstanceID; id != nil && *id == "a" {
			e.c.SleepControl(func() { <-wake })
		}
		return nil, nil, false
	})
	deadline := time.Now().Add(20 * time.Second)
	for len(b.m.Owned()) != int(e.n) {
		if time.Now().After(deadline) {
			t.Fatalf("b owns %v, not every slot, after a was cut off", b.m.Owned())
		}
		time.Sleep(50 * time.Millisecond)
	}
	if !slices.Equal(a.m.Owned(), fromA) {
		t.Fatalf("a, cut off, believes it owns %v; the test expects it still to believe %v", a.m.Owned(), fromA)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.c.ListenAddrs()...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	for _, p := range fromA {
		h, err := a.m.HolderOf(ctx, kadm.NewClient(cl), p)
		if err != nil {
			t.Fatal(err)
		}
		if h != (Holder{Who: "b"}) {
			t.Errorf("slot %d after a was cut off: %+v, want b's and a no member", p, h)
		}
	}
}
