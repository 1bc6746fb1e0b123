// Package slots spreads the tenants of one connector over its processes
// with Kafka's own group membership, the way Kafka Connect spreads tasks over
// its workers: every process of a connector joins one consumer group on a
// small compacted topic whose partitions are the slots; a tenant lives in
// slot Of(id, partitions); owning a partition means owning its tenants.
//
// The group balances with Balancer, a cooperative balancer that weighs each
// slot by the tenants in it, so replicas run as equal a number of tenants as
// the slots allow (with many more slots than replicas, max − min ≤ 1), and a
// slot moves only after its old owner has revoked it (incremental
// cooperative rebalancing, KIP-429). Member runs the membership: it reports
// slots assigned, revoked and lost to a Handler, and says whether the
// process has heard from the group coordinator recently enough to act as an
// owner (Live): a process cut off from the coordinator must stop calling the
// XDR API before the group gives its slots to another.
//
// Nothing here fences writers: a new owner fences the previous one through
// the tenant's transactional id (see pkg/pipeline).
package slots

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
)

// DefaultPartitions is the slot count of a slots topic the connector
// creates, unless configured otherwise. It is fixed at creation: changing it
// re-maps tenants to slots.
const DefaultPartitions = 64

// Of is the slot of a tenant among n: the FNV-1a hash of its id, modulo n.
// Every process computes the same slot for the same id and n. n must be
// positive.
func Of(tenant string, n int32) int32 {
	h := fnv.New32a()
	_, _ = h.Write([]byte(tenant))
	return int32(h.Sum32() % uint32(n))
}

// Weights counts the tenants of each of n slots; ids are the tenants that
// run (a disabled tenant costs nothing and weighs nothing).
func Weights(ids []string, n int32) []int {
	w := make([]int, n)
	for _, id := range ids {
		w[Of(id, n)]++
	}
	return w
}

// EnsureTopic creates the slots topic, compacted, with partitions
// partitions, or finds the existing one, and returns its partition count,
// which is what maps tenants to slots from then on (an existing topic keeps
// its count whatever partitions says).
func EnsureTopic(ctx context.Context, adm *kadm.Client, topic string, partitions int32, replication int16) (int32, error) {
	compact := "compact"
	resp, err := adm.CreateTopic(ctx, partitions, replication, map[string]*string{"cleanup.policy": &compact}, topic)
	if err == nil {
		err = resp.Err
	}
	if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
		return 0, fmt.Errorf("creating slots topic %s: %w", topic, err)
	}
	tds, err := adm.ListTopics(ctx, topic)
	if err != nil {
		return 0, fmt.Errorf("describing slots topic %s: %w", topic, err)
	}
	td, ok := tds[topic]
	switch {
	case !ok:
		return 0, fmt.Errorf("slots topic %s was not found after creating it", topic)
	case td.Err != nil:
		return 0, fmt.Errorf("describing slots topic %s: %w", topic, td.Err)
	}
	if len(td.Partitions) == 0 {
		return 0, fmt.Errorf("slots topic %s has no partitions", topic)
	}
	return int32(len(td.Partitions)), nil
}
