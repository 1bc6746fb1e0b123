package slots

import (
	"context"
	"errors"
	"fmt"

	"github.com/twmb/franz-go/pkg/kadm"
)

// Holder is who owns a slot, as the group coordinator describes a stable
// group now.
type Holder struct {
	// Who names the slot's owner: its instance id, or its client id and
	// host; "" when no member owns the slot.
	Who string
	// Mine: the owner is this member, in the group's current generation.
	Mine bool
	// Member: this member is in the group now. A member the coordinator
	// removed (it fell silent for a session timeout, or another process
	// took its instance id) is not, though it may not know it yet.
	Member bool
}

// ErrUnsettled means the group is rebalancing (or empty), so the
// coordinator's description says nothing yet about who owns a slot; ask
// again once the rebalance has ended.
var ErrUnsettled = errors.New("the group is rebalancing")

// HolderOf asks the coordinator who owns slot p now. This is the group's
// word, which outranks what this member was last told (Owned): a member cut
// off from the coordinator keeps believing it owns its slots until a
// heartbeat error reaches it, while the group may have moved them already.
// It returns ErrUnsettled (wrapped) while the group is not stable.
//
// adm asks the coordinator; nil means the member's own client, whose
// request waits behind a heartbeat the coordinator does not answer (franz-go
// sends both on one connection): pass another client of the process to get
// an answer while the member is cut off that way.
func (m *Member) HolderOf(ctx context.Context, adm *kadm.Client, p int32) (Holder, error) {
	m.mu.Lock()
	cl := m.cl
	m.mu.Unlock()
	if cl == nil {
		return Holder{}, errors.New("not in the group")
	}
	self, _ := cl.GroupMetadata()
	if adm == nil {
		adm = kadm.NewClient(cl)
	}
	dgs, err := adm.DescribeGroups(ctx, m.cfg.Group)
	if err != nil {
		return Holder{}, fmt.Errorf("describing group %s: %w", m.cfg.Group, err)
	}
	g, ok := dgs[m.cfg.Group]
	switch {
	case !ok:
		return Holder{}, fmt.Errorf("describing group %s: not in the reply", m.cfg.Group)
	case g.Err != nil:
		return Holder{}, fmt.Errorf("describing group %s: %w", m.cfg.Group, g.Err)
	case g.State != "Stable":
		return Holder{}, fmt.Errorf("describing group %s (state %s): %w", m.cfg.Group, g.State, ErrUnsettled)
	}
	var h Holder
	for _, mem := range g.Members {
		mine := self != "" && mem.MemberID == self
		h.Member = h.Member || mine
		a, ok := mem.Assigned.AsConsumer()
		if !ok {
			continue
		}
		for _, t := range a.Topics {
			if t.Topic != m.cfg.Topic {
				continue
			}
			for _, q := range t.Partitions {
				if q == p {
					h.Who, h.Mine = mem.ClientID+"@"+mem.ClientHost, mine
					if mem.InstanceID != nil {
						h.Who = *mem.InstanceID
					}
				}
			}
		}
	}
	return h, nil
}
