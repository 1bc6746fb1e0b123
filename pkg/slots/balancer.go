package slots

import (
	"crypto/sha256"
	"encoding/binary"
	"slices"
	"sort"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// ProtocolName is the group protocol of Balancer. Every process of a
// connector must offer it; a group cannot mix it with another balancer.
const ProtocolName = "xdr-tenant-weighted"

// Balancer is a cooperative group balancer over the partitions of one topic
// (the slots) that weighs each slot by the tenants in it. The leader balances
// with its own weights; every member computes the same weights from the same
// tenants file, and a member whose file changed rejoins with a new digest of
// its weights in its metadata, so the group rebalances (see
// Member.Rebalance).
//
// Balancing keeps every slot with its current owner where it can, gives free
// slots (of members that left) heaviest first to the least loaded member,
// then moves or swaps slots from the most to the least loaded member while
// that narrows the gap. A slot that moves between two members is withheld
// from its new owner until the old one has revoked it and rejoined
// (kgo.BalancePlan.AdjustCooperative): no slot is ever owned twice.
type Balancer struct {
	topic   string
	n       int32 // the topic's partition count, as this member found it
	weights func(n int32) []int
}

// NewBalancer returns the balancer of the n partitions of topic; weights
// returns the tenant count of each of n slots, from this process's tenants
// file. It is called from the group's goroutine and must not block.
func NewBalancer(topic string, n int32, weights func(n int32) []int) *Balancer {
	return &Balancer{topic: topic, n: n, weights: weights}
}

var (
	_ kgo.GroupBalancer           = (*Balancer)(nil)
	_ kgo.ConsumerBalancerBalance = (*Balancer)(nil)
)

// ProtocolName implements kgo.GroupBalancer.
func (*Balancer) ProtocolName() string { return ProtocolName }

// IsCooperative implements kgo.GroupBalancer: members keep their slots
// through a rebalance and give up only those that move.
func (*Balancer) IsCooperative() bool { return true }

// JoinGroupMetadata implements kgo.GroupBalancer: the consumer protocol's
// metadata with the slots this member owns, its generation, and a digest of
// its weights as user data.
func (b *Balancer) JoinGroupMetadata(interests []string, current map[string][]int32, generation int32) []byte {
	meta := kmsg.NewConsumerMemberMetadata()
	meta.Version = 3
	meta.Topics = interests
	meta.Generation = generation
	for topic, ps := range current {
		o := kmsg.NewConsumerMemberMetadataOwnedPartition()
		o.Topic = topic
		o.Partitions = ps
		meta.OwnedPartitions = append(meta.OwnedPartitions, o)
	}
	sort.Slice(meta.OwnedPartitions, func(i, j int) bool { return meta.OwnedPartitions[i].Topic < meta.OwnedPartitions[j].Topic })
	meta.UserData = b.digest()
	return meta.AppendTo(nil)
}

// digest is a hash of the weights of the slots this member knows of: a
// changed tenants file changes it.
func (b *Balancer) digest() []byte {
	h := sha256.New()
	for _, w := range b.weights(b.n) {
		_ = binary.Write(h, binary.BigEndian, int32(w))
	}
	return h.Sum(nil)[:8]
}

// ParseSyncAssignment implements kgo.GroupBalancer.
func (*Balancer) ParseSyncAssignment(assignment []byte) (map[string][]int32, error) {
	return kgo.ParseConsumerSyncAssignment(assignment)
}

// MemberBalancer implements kgo.GroupBalancer.
func (b *Balancer) MemberBalancer(members []kmsg.JoinGroupResponseMember) (kgo.GroupMemberBalancer, map[string]struct{}, error) {
	cb, err := kgo.NewConsumerBalancer(b, members)
	return cb, cb.MemberTopics(), err
}

// Balance implements kgo.ConsumerBalancerBalance; it runs on the leader.
func (b *Balancer) Balance(cb *kgo.ConsumerBalancer, topics map[string]int32) kgo.IntoSyncAssignment {
	n := topics[b.topic]
	members := cb.Members()
	owned := make([][]int32, len(members))
	gens := make([]int32, len(members))
	i := 0
	cb.EachMember(func(_ *kmsg.JoinGroupResponseMember, meta *kmsg.ConsumerMemberMetadata) {
		defer func() { i++ }() // EachMember goes through Members in order
		gens[i] = meta.Generation
		for _, o := range meta.OwnedPartitions {
			if o.Topic == b.topic {
				owned[i] = append(owned[i], o.Partitions...)
			}
		}
	})
	plan := cb.NewPlan()
	if n > 0 {
		w := b.weights(n)
		for i, ps := range Assign(Claims(owned, gens), w) {
			if len(ps) > 0 {
				plan.AddPartitions(&members[i], b.topic, ps)
			}
		}
	}
	plan.AdjustCooperative(cb)
	return plan
}

// Claims resolves the slots each member says it owns: a slot claimed by
// more than one member stays with the claim of the highest generation (the
// others missed a rebalance), the first such member on a tie.
func Claims(owned [][]int32, gens []int32) [][]int32 {
	best := map[int32]int{}
	for m, ps := range owned {
		for _, p := range ps {
			if o, ok := best[p]; !ok || gens[m] > gens[o] {
				best[p] = m
			}
		}
	}
	out := make([][]int32, len(owned))
	for m, ps := range owned {
		for _, p := range ps {
			if best[p] == m && !slices.Contains(out[m], p) {
				out[m] = append(out[m], p)
			}
		}
	}
	return out
}

// Assign is the balancing itself, a pure function: given the slots each
// member owns now (resolved by Claims) and the weight of each slot, it
// returns the slots each member is to own, each list sorted. Every slot is
// assigned to exactly one member (when there is one). It is deterministic.
func Assign(owned [][]int32, w []int) [][]int32 {
	members, n := len(owned), len(w)
	out := make([][]int32, members)
	if members == 0 {
		return out
	}
	owner := make([]int, n)
	for p := range owner {
		owner[p] = -1
	}
	load, count := make([]int, members), make([]int, members)
	for m, ps := range owned {
		for _, p := range ps {
			if p >= 0 && int(p) < n && owner[p] == -1 {
				owner[p] = m
				load[m] += w[p]
				count[m]++
			}
		}
	}
	var free []int
	for p, m := range owner {
		if m == -1 {
			free = append(free, p)
		}
	}
	sort.SliceStable(free, func(i, j int) bool { return w[free[i]] > w[free[j]] })
	for _, p := range free {
		m := 0
		for c := 1; c < members; c++ {
			if load[c] < load[m] || load[c] == load[m] && count[c] < count[m] {
				m = c
			}
		}
		owner[p] = m
		load[m] += w[p]
		count[m]++
	}
	move := func(p, to int) {
		from := owner[p]
		load[from] -= w[p]
		count[from]--
		owner[p] = to
		load[to] += w[p]
		count[to]++
	}
	// Each step narrows the gap between two members (0 < x < d leaves them
	// |d − 2x| apart), so the sum of squared loads falls and the loop ends.
	for range n * members * 4 {
		if !improve(owner, load, w, move) {
			break
		}
	}
	for p, m := range owner {
		out[m] = append(out[m], int32(p))
	}
	return out
}

// improve makes one move or swap that narrows the gap between a more and a
// less loaded member by more than nothing, the pair furthest apart first; it
// reports whether it found one.
func improve(owner, load, w []int, move func(p, to int)) bool {
	order := make([]int, len(load))
	for i := range order {
		order[i] = i
	}
	sort.SliceStable(order, func(i, j int) bool { return load[order[i]] > load[order[j]] })
	for hi := 0; hi < len(order); hi++ {
		for lo := len(order) - 1; lo > hi; lo-- {
			a, b := order[hi], order[lo]
			d := load[a] - load[b]
			if d <= 1 {
				continue
			}
			bestP, bestGap := -1, d
			for p, m := range owner {
				if m == a && w[p] > 0 && w[p] < d {
					if gap := abs(d - 2*w[p]); gap < bestGap {
						bestP, bestGap = p, gap
					}
				}
			}
			if bestP >= 0 {
				move(bestP, b)
				return true
			}
			bp, bq := -1, -1
			for p, m := range owner {
				if m != a || w[p] == 0 {
					continue
				}
				for q, mq := range owner {
					if mq != b {
						continue
					}
					if x := w[p] - w[q]; x > 0 && x < d {
						if gap := abs(d - 2*x); gap < bestGap {
							bp, bq, bestGap = p, q, gap
						}
					}
				}
			}
			if bp >= 0 {
				move(bp, b)
				move(bq, a)
				return true
			}
		}
	}
	return false
}

func abs(x int) int {
	if x < 0 {
		return -x
	}
	return x
}
