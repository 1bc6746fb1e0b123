package check

import (
	"context"
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
)

// The ACL probes ask the brokers what the connector's principal may do with
// requests that change nothing, so that a check run beside a live connector
// disturbs none of it:
//
//   - the group: DescribeGroups (DESCRIBE), and a JoinGroup with a session
//     timeout no broker accepts (READ): the brokers authorize a join before
//     they validate it, so an allowed principal gets INVALID_SESSION_TIMEOUT
//     and nobody joins or rebalances;
//   - the slots topic: its metadata (DESCRIBE) and a fetch of nothing from its
//     first partition (READ);
//   - each tenant's transactional id: DescribeTransactions (DESCRIBE), and an
//     EndTxn for a producer id no producer has (WRITE): the brokers authorize
//     it, then refuse it with INVALID_PRODUCER_ID_MAPPING and change nothing.
//     An InitProducerID would be the obvious probe, but on a live tenant's id
//     it fences that tenant's writer, and a probe id of its own would prove
//     nothing when the ACLs name each tenant's id.

// aclFix is the fix for a missing ACL: the operation on the resource, as
// kafka-acls.sh spells it.
func aclFix(op, resourceFlag, name string) string {
	return fmt.Sprintf("grant the connector's principal %s on it (kafka-acls.sh --add --allow-principal User:<principal> --operation %s %s '%s'), or on a prefix of it (--resource-pattern-type prefixed)",
		strings.ToUpper(op), op, resourceFlag, name)
}

// checkGroupACLs checks that the principal may describe and join the
// connector's group.
func checkGroupACLs(ctx context.Context, r *report, cl *kgo.Client, cfg *config.Config) {
	group := cfg.GroupID()
	name := "group " + group
	dgs, err := kadm.NewClient(cl).DescribeGroups(ctx, group)
	if err == nil {
		if g, ok := dgs[group]; ok && g.Err != nil && !errors.Is(g.Err, kerr.GroupIDNotFound) {
			err = g.Err
		}
	}
	switch {
	case errors.Is(err, kerr.GroupAuthorizationFailed):
		r.fail(name, "the principal may not DESCRIBE the connector's group (finding its coordinator, reading who owns which slot): "+err.Error(),
			aclFix("Read", "--group", group)+"; READ implies DESCRIBE")
		return
	case err != nil:
		reason, fix := kafkaFailure(err, cfg)
		r.fail(name, "describing the group: "+reason, fix)
		return
	}
	join := kmsg.NewPtrJoinGroupRequest()
	join.Group, join.SessionTimeoutMillis, join.RebalanceTimeoutMillis = group, 1, 1
	join.ProtocolType = "consumer"
	proto := kmsg.NewJoinGroupRequestProtocol()
	proto.Name = "xdr-slots-check"
	join.Protocols = append(join.Protocols, proto)
	resp, err := join.RequestWith(ctx, cl)
	if err != nil {
		reason, fix := kafkaFailure(err, cfg)
		r.fail(name, "asking to join the group: "+reason, fix)
		return
	}
	switch jerr := kerr.ErrorForCode(resp.ErrorCode); {
	case errors.Is(jerr, kerr.GroupAuthorizationFailed):
		r.fail(name, "the principal may not READ the connector's group (join it, sync, heartbeat, leave): "+jerr.Error(),
			aclFix("Read", "--group", group))
		return
	case jerr == nil || errors.Is(jerr, kerr.MemberIDRequired):
		// A broker that took a 1 ms session: leave at once.
		if resp.MemberID != "" {
			leave := kmsg.NewPtrLeaveGroupRequest()
			leave.Group, leave.MemberID = group, resp.MemberID
			m := kmsg.NewLeaveGroupRequestMember()
			m.MemberID = resp.MemberID
			leave.Members = append(leave.Members, m)
			_, _ = leave.RequestWith(ctx, cl)
		}
	}
	r.pass(name, "the principal may DESCRIBE and READ (join) it")
}

// checkSlotsACLs checks that the principal may read the slots topic, which
// the group consumes to be given slots (nothing is written to it). The
// topic's metadata was read already (DESCRIBE); a missing one is checked by
// whether it could be created.
func checkSlotsACLs(ctx context.Context, r *report, cl *kgo.Client, cfg *config.Config, d kadm.TopicDetail) {
	t := cfg.TopicSlots
	name := "slots topic " + t
	if len(d.Partitions) == 0 {
		return
	}
	p := d.Partitions[0]
	fetch := kmsg.NewPtrFetchRequest()
	fetch.ReplicaID, fetch.MaxWaitMillis, fetch.MinBytes, fetch.MaxBytes, fetch.SessionEpoch = -1, 0, 0, 1, -1
	ft := kmsg.NewFetchRequestTopic()
	ft.Topic, ft.TopicID = t, d.ID
	fp := kmsg.NewFetchRequestTopicPartition()
	fp.Partition, fp.FetchOffset, fp.PartitionMaxBytes, fp.CurrentLeaderEpoch, fp.LogStartOffset = p.Partition, 0, 1, -1, -1
	ft.Partitions = append(ft.Partitions, fp)
	fetch.Topics = append(fetch.Topics, ft)
	resp, err := fetch.RequestWith(ctx, cl.Broker(int(p.Leader)))
	if err == nil {
		err = kerr.ErrorForCode(resp.ErrorCode)
	}
	if err == nil {
		for _, rt := range resp.Topics {
			for _, rp := range rt.Partitions {
				if e := kerr.ErrorForCode(rp.ErrorCode); e != nil && err == nil {
					err = e
				}
			}
		}
	}
	switch {
	case errors.Is(err, kerr.TopicAuthorizationFailed):
		r.fail(name, "the principal may not READ the slots topic, which the connector's group consumes to share the tenants: "+err.Error(),
			aclFix("Read", "--topic", t))
		return
	case err != nil && !errors.Is(err, kerr.OffsetOutOfRange):
		reason, fix := kafkaFailure(err, cfg)
		r.fail(name, "reading the slots topic: "+reason, fix)
		return
	}
	// A run asks to create the topic at every start, existing or not, and
	// the brokers authorize that before they find it exists.
	resps, err := kadm.NewClient(cl).ValidateCreateTopics(ctx, 1, int16(cfg.KafkaReplication), nil, t)
	if err == nil {
		if cr, ok := resps[t]; ok {
			err = cr.Err
		}
	}
	if errors.Is(err, kerr.TopicAuthorizationFailed) || errors.Is(err, kerr.ClusterAuthorizationFailed) {
		r.fail(name, "the principal may not CREATE the slots topic, which the connector asks for at every start, existing or not: "+err.Error(),
			aclFix("Create", "--topic", t))
		return
	}
	r.pass(name, "the principal may DESCRIBE, READ and CREATE it")
}

// checkTxnACLs checks that the principal may use each tenant's transactional
// id: every tenant writes its offsets (and, exactly-once, its records) in
// transactions of it when the connector writes to an external Kafka.
func checkTxnACLs(ctx context.Context, r *report, cl *kgo.Client, cfg *config.Config) {
	ids := txnIDs(cfg)
	if len(ids) == 0 {
		return
	}
	adm := kadm.NewClient(cl)
	var denied []string
	fail := func(id, op, why string, err error) {
		denied = append(denied, id)
		r.fail("transactional id "+id, fmt.Sprintf("the principal may not %s it (%s): %v", strings.ToUpper(op), why, err),
			aclFix("Write", "--transactional-id", id)+"; WRITE implies DESCRIBE")
	}
	for _, id := range ids {
		dts, err := adm.DescribeTransactions(ctx, id)
		if err == nil {
			if dt, ok := dts[id]; ok && dt.Err != nil && !errors.Is(dt.Err, kerr.TransactionalIDNotFound) {
				err = dt.Err
			}
		}
		if errors.Is(err, kerr.TransactionalIDAuthorizationFailed) {
			fail(id, "Describe", "finding its coordinator", err)
			continue
		}
		if err != nil {
			reason, fix := kafkaFailure(err, cfg)
			r.fail("transactional id "+id, "describing its transaction: "+reason, fix)
			denied = append(denied, id)
			continue
		}
		end := kmsg.NewPtrEndTxnRequest()
		end.TransactionalID, end.ProducerID, end.ProducerEpoch, end.Commit = id, math.MaxInt64, 0, false
		resp, err := end.RequestWith(ctx, cl)
		if err == nil {
			err = kerr.ErrorForCode(resp.ErrorCode)
		}
		switch {
		case errors.Is(err, kerr.TransactionalIDAuthorizationFailed):
			fail(id, "Write", "initialising its producer, committing its transactions", err)
		case err == nil, errors.Is(err, kerr.InvalidProducerIDMapping), errors.Is(err, kerr.ProducerFenced),
			errors.Is(err, kerr.InvalidProducerEpoch), errors.Is(err, kerr.InvalidTxnState):
			// Allowed: refused for the producer id, which no producer has.
		default:
			reason, fix := kafkaFailure(err, cfg)
			r.fail("transactional id "+id, "probing its use: "+reason, fix)
			denied = append(denied, id)
		}
	}
	if len(denied) == 0 {
		what := ids[0]
		if len(ids) > 1 {
			what = fmt.Sprintf("%d tenants' (%s ...)", len(ids), ids[0])
		}
		r.pass("transactional ids", fmt.Sprintf("the principal may DESCRIBE and WRITE %s", what))
	}
}

// txnIDs lists the transactional ids a run uses: one per enabled tenant
// (the environment's one tenant without a tenants file), and its write-back
// applier's when it reads commands. A file that does not load was reported
// already: its ids are left out.
func txnIDs(cfg *config.Config) []string {
	plans, err := cfg.Plans()
	if err != nil {
		return nil
	}
	var ids []string
	for _, p := range plans {
		if !p.Tenant.Disabled {
			ids = append(ids, pipeline.TransactionalID(cfg.ConnectorName, p.Tenant.ID))
			if p.Tenant.Writeback || cfg.WritebackOn() {
				ids = append(ids, app.WritebackTransactionalID(cfg.ConnectorName, p.Tenant.ID))
			}
		}
	}
	return ids
}
