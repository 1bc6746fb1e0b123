package main

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/ops"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

// TestStatusWithoutTenantsFileShowsEveryTenantOfTheOffsetsTopic commits
// three tenants into an offsets topic, as a multi-tenant run does, and runs
// status with the env-only configuration of the demo: it lists the three
// (not the env's "simulated", which never ran), marked unconfigured and
// saying that TENANTS_FILE names their settings; --tenant picks one of them.
func TestStatusWithoutTenantsFileShowsEveryTenantOfTheOffsetsTopic(t *testing.T) {
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(1))
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cl, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.AllowAutoTopicCreation())
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if err := offsets.EnsureTopic(ctx, kadm.NewClient(cl), "xdr.connector.offsets", 1); err != nil {
		t.Fatal(err)
	}
	for i, id := range []string{"t1", "t2", "t3"} {
		s, err := offsets.NewStore(cl, offsets.StoreConfig{Topic: "xdr.connector.offsets", Connector: "xdr-connector", Tenant: id})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(ctx, offsets.Delta{Watermark: int64(1000 * (i + 1)), Clean: true}); err != nil {
			t.Fatal(err)
		}
	}
	env := map[string]string{"KAFKA_BROKERS": strings.Join(c.ListenAddrs(), ",")}

	out, code := runBinary(t, env, "status", "--json")
	var rep ops.StatusReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
		t.Fatalf("status --json: exit %d\n%s", code, out)
	}
	var ids []string
	for _, ts := range rep.Tenants {
		ids = append(ids, ts.Tenant)
		if !ts.Unconfigured || ts.State != "stopped" {
			t.Errorf("tenant %s: unconfigured %v, state %s; want a stopped tenant found in the offsets topic", ts.Tenant, ts.Unconfigured, ts.State)
		}
	}
	if strings.Join(ids, ",") != "t1,t2,t3" {
		t.Errorf("status lists %v, want the offsets topic's t1, t2, t3", ids)
	}

	out, code = runBinary(t, env, "status")
	if code != 0 || !strings.Contains(out, "TENANTS_FILE is not set") || !strings.Contains(out, "tenant t3: stopped cleanly") || strings.Contains(out, "simulated") {
		t.Errorf("status: exit %d\n%s", code, out)
	}
	out, code = runBinary(t, env, "status", "--json", "--tenant", "t2")
	rep = ops.StatusReport{}
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || len(rep.Tenants) != 1 || rep.Tenants[0].Watermark != 2000 {
		t.Errorf("status --tenant t2: exit %d\n%s", code, out)
	}
}
