package topicread

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

func cluster(t *testing.T) (*kgo.Client, []kgo.Opt) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	opts := []kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}
	cl, err := kgo.NewClient(append(slices.Clone(opts), kgo.DefaultProduceTopic("t"))...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, "t"); err != nil {
		t.Fatal(err)
	}
	return cl, opts
}

func produce(t *testing.T, cl *kgo.Client, values ...string) {
	t.Helper()
	for _, v := range values {
		if err := cl.ProduceSync(context.Background(), &kgo.Record{Key: []byte(v), Value: []byte(v)}).FirstErr(); err != nil {
			t.Fatal(err)
		}
	}
}

func read(t *testing.T, cl *kgo.Client, opts []kgo.Opt, o Options) []string {
	t.Helper()
	var got []string
	if err := Read(context.Background(), cl, "t", opts, o, func(r *kgo.Record) error {
		got = append(got, string(r.Value))
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	slices.Sort(got)
	return got
}

// TestReadToTheEndOfEveryPartition: a reading without Follow returns every
// record of every partition up to the end listed at its start, at either
// end, and nothing from an empty topic.
func TestReadToTheEndOfEveryPartition(t *testing.T) {
	cl, opts := cluster(t)
	if got := read(t, cl, opts, Options{}); len(got) != 0 {
		t.Fatalf("empty topic: read %v", got)
	}
	var want []string
	for i := range 30 {
		want = append(want, fmt.Sprintf("r%02d", i))
	}
	produce(t, cl, want...)
	for _, end := range []End{HighWatermark, LastStable} {
		if got := read(t, cl, opts, Options{End: end}); !slices.Equal(got, want) {
			t.Errorf("end %d: read %v, want %v", end, got, want)
		}
	}
	if got := read(t, cl, opts, Options{FromEnd: true}); len(got) != 0 {
		t.Errorf("from the end without follow: read %v, want nothing", got)
	}
}

// TestReadFollowsFromTheEnd: with FromEnd and Follow, only records written
// after the start are read, and fn's error ends the reading as it is.
func TestReadFollowsFromTheEnd(t *testing.T) {
	cl, opts := cluster(t)
	produce(t, cl, "old")
	stop := errors.New("stop")
	started := make(chan int, 1)
	done := make(chan error, 1)
	var got []string
	go func() {
		done <- Read(context.Background(), cl, "t", opts, Options{FromEnd: true, Follow: true, OnStart: func(n int) { started <- n }},
			func(r *kgo.Record) error {
				got = append(got, string(r.Value))
				if len(got) == 2 {
					return stop
				}
				return nil
			})
	}()
	if n := <-started; n != 3 {
		t.Errorf("OnStart got %d partitions, want 3", n)
	}
	produce(t, cl, "new1", "new2")
	select {
	case err := <-done:
		if !errors.Is(err, stop) {
			t.Fatalf("Read: %v, want fn's error", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("the follower never read the new records")
	}
	slices.Sort(got)
	if !slices.Equal(got, []string{"new1", "new2"}) {
		t.Errorf("read %v, want the new records only", got)
	}
}

// TestReadAMissingTopic: a topic that does not exist is an error wrapping
// kerr.UnknownTopicOrPartition, which callers tell apart.
func TestReadAMissingTopic(t *testing.T) {
	cl, opts := cluster(t)
	err := Read(context.Background(), cl, "missing", opts, Options{}, func(*kgo.Record) error { return nil })
	if !errors.Is(err, kerr.UnknownTopicOrPartition) {
		t.Errorf("Read of a missing topic: %v, want UnknownTopicOrPartition", err)
	}
}
