// Package topicread reads a Kafka topic from its start (or its end) to the
// end it has when the reading starts, or on without end: the one reader of
// the offsets topic, the DLQ topics and `connector tail`.
//
// Records are read with read_committed, so an aborted transaction's records
// never reach the caller; control records are passed over.
package topicread

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

// End is where a reading that does not follow stops.
type End int

const (
	// HighWatermark stops at the high watermark at the time of the call.
	// Reading to it with read_committed waits until every transaction open
	// then has ended, so what is read is final.
	HighWatermark End = iota
	// LastStable stops at the last stable offset: what read_committed can
	// reach now, without waiting for open transactions.
	LastStable
)

// Options say where a reading starts and stops; the zero value reads from
// the start to the high watermark.
type Options struct {
	End     End
	FromEnd bool // start at End instead of the topic's start (implies nothing to read without Follow)
	Follow  bool // keep reading past End until ctx is done or fn returns an error
	// OnStart, when set, is called once with the number of partitions
	// before the first fetch.
	OnStart func(partitions int)
}

// Read hands each record of topic, control records excepted, to fn, in
// each partition's order, from where o says to where it says; an error from
// fn stops the reading and is returned as it is. cl is any client of the
// cluster (for listing offsets); clientOpts are the connection options of
// the consumer Read creates and closes.
//
// A topic that does not exist is an error wrapping
// kerr.UnknownTopicOrPartition. When ctx is done the error wraps ctx's.
// Without Follow, records past the end listed at the start are not handed
// to fn.
func Read(ctx context.Context, cl *kgo.Client, topic string, clientOpts []kgo.Opt, o Options, fn func(*kgo.Record) error) error {
	adm := kadm.NewClient(cl)
	list := adm.ListEndOffsets
	if o.End == LastStable {
		list = adm.ListCommittedOffsets
	}
	ends, err := list(ctx, topic)
	if err == nil {
		err = ends.Error()
	}
	if err != nil {
		return fmt.Errorf("listing the end offsets of %s: %w", topic, err)
	}
	from := ends
	if !o.FromEnd {
		if from, err = adm.ListStartOffsets(ctx, topic); err == nil {
			err = from.Error()
		}
		if err != nil {
			return fmt.Errorf("listing the start offsets of %s: %w", topic, err)
		}
	}
	parts := map[int32]kgo.Offset{}
	remaining := map[int32]int64{} // partition -> end still to reach (without Follow)
	from.Each(func(l kadm.ListedOffset) { parts[l.Partition] = kgo.NewOffset().At(l.Offset) })
	ends.Each(func(l kadm.ListedOffset) {
		if start := from[l.Topic][l.Partition].Offset; l.Offset > start {
			remaining[l.Partition] = l.Offset
		}
	})
	if !o.Follow && len(remaining) == 0 {
		if o.OnStart != nil {
			o.OnStart(len(parts))
		}
		return nil
	}
	rd, err := kgo.NewClient(append(slices.Clone(clientOpts),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()), kgo.KeepControlRecords())...)
	if err != nil {
		return fmt.Errorf("creating a reader of %s: %w", topic, err)
	}
	defer rd.Close()
	if o.OnStart != nil {
		o.OnStart(len(parts))
	}
	for o.Follow || len(remaining) > 0 {
		fs := rd.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("reading %s: %w", topic, err)
		}
		var ferr error
		fs.EachError(func(t string, p int32, e error) {
			if ferr == nil && !errors.Is(e, context.Canceled) {
				ferr = fmt.Errorf("reading %s partition %d: %w", t, p, e)
			}
		})
		if ferr != nil {
			return ferr
		}
		for _, r := range fs.Records() {
			if end, ok := remaining[r.Partition]; ok && r.Offset+1 >= end {
				delete(remaining, r.Partition)
			}
			if r.Attrs.IsControl() {
				continue
			}
			if end, ok := ends[r.Topic][r.Partition]; !o.Follow && ok && r.Offset >= end.Offset {
				continue // past the end listed at the start
			}
			if err := fn(r); err != nil {
				return err
			}
		}
	}
	return nil
}
