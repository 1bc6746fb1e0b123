package main

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
)

// tailCluster is a kfake cluster with a client producing to it.
func tailCluster(t *testing.T) (brokers string, cl *kgo.Client) {
	t.Helper()
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DefaultNumPartitions(3))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	cl, err = kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	return c.ListenAddrs()[0], cl
}

func produce(t *testing.T, cl *kgo.Client, rs ...*kgo.Record) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, rs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
}

func TestTailPrintsKeysHeadersAndPrettyJSON(t *testing.T) {
	brokers, cl := tailCluster(t)
	ctx := context.Background()
	if _, err := kadm.NewClient(cl).CreateTopic(ctx, 1, 1, nil, "known"); err != nil {
		t.Fatal(err)
	}
	produce(t, cl,
		&kgo.Record{Topic: "known", Key: []byte("891"), Value: []byte(`{"incident_id":"891","data":{"alerts":[1,2]}}`),
			Headers: []kgo.RecordHeader{{Key: "xdr.record_type", Value: []byte("incident.change")}, {Key: "xdr.schema_version", Value: []byte("1")}}},
		&kgo.Record{Topic: "known", Key: []byte("892"), Value: []byte("not json")},
		&kgo.Record{Topic: "known", Key: []byte("893")}, // a tombstone
		&kgo.Record{Topic: "known", Key: []byte("894"), Value: []byte(`{"never":"printed with --max 3"}`)},
	)
	out, code := runBinary(t, map[string]string{"KAFKA_BROKERS": brokers}, "tail", "--max", "3", "known")
	if code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, out)
	}
	want := []string{
		"known [0] @0  ",
		"key: 891\nheaders: xdr.record_type=incident.change, xdr.schema_version=1\n{\n  \"incident_id\": \"891\",\n  \"data\": {\n    \"alerts\": [\n      1,\n      2\n    ]\n  }\n}\n",
		"known [0] @1  ",
		"key: 892\nnot json\n",
		"key: 893\n(tombstone: no value)\n",
	}
	for _, w := range want {
		if !strings.Contains(out, w) {
			t.Errorf("output lacks %q:\n%s", w, out)
		}
	}
	if strings.Contains(out, "key: 894") || strings.Contains(out, "never") {
		t.Errorf("--max 3 printed a fourth record:\n%s", out)
	}

	// Flags after the topic work too.
	if out, code := runBinary(t, map[string]string{"KAFKA_BROKERS": brokers}, "tail", "known", "--max", "1"); code != 0 || strings.Count(out, "key: ") != 1 {
		t.Errorf("tail known --max 1: exit %d; output:\n%s", code, out)
	}
}

func TestTailReadsEveryPartitionToTheEndThenExits(t *testing.T) {
	brokers, cl := tailCluster(t)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 3, 1, nil, "spread"); err != nil {
		t.Fatal(err)
	}
	var rs []*kgo.Record
	for i := range 30 {
		rs = append(rs, &kgo.Record{Topic: "spread", Partition: int32(i % 3), Key: fmt.Appendf(nil, "key-%02d", i), Value: fmt.Appendf(nil, `{"n":%d}`, i)})
	}
	produce(t, cl, rs...)
	out, code := runBinary(t, map[string]string{"KAFKA_BROKERS": brokers}, "tail", "spread")
	if code != 0 {
		t.Fatalf("exit %d; output:\n%s", code, out)
	}
	for i := range 30 {
		if !strings.Contains(out, fmt.Sprintf("key: key-%02d\n{\n  \"n\": %d\n}\n", i, i)) {
			t.Errorf("record %d missing", i)
		}
	}
	if n := strings.Count(out, "key: "); n != 30 {
		t.Errorf("printed %d records, want 30", n)
	}

	out, code = runBinary(t, map[string]string{"KAFKA_BROKERS": brokers}, "tail", "absent")
	if code != 1 || !strings.Contains(out, "topic absent does not exist") {
		t.Errorf("missing topic: exit %d; output:\n%s", code, out)
	}
}

func TestTailFollowFromEnd(t *testing.T) {
	brokers, cl := tailCluster(t)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 2, 1, nil, "live"); err != nil {
		t.Fatal(err)
	}
	produce(t, cl, &kgo.Record{Topic: "live", Key: []byte("old"), Value: []byte(`{}`)})
	p := startBinary(t, map[string]string{"KAFKA_BROKERS": brokers}, "tail", "--from-end", "--max", "2", "live")
	// tail says when it is positioned; records produced after that are new.
	testkit.WaitFor(t, 20*time.Second, "tail to be positioned", func() bool { return strings.Contains(p.out.String(), "following live") })
	produce(t, cl, &kgo.Record{Topic: "live", Partition: 0, Key: []byte("new-1"), Value: []byte(`{"x":1}`)},
		&kgo.Record{Topic: "live", Partition: 1, Key: []byte("new-2"), Value: []byte(`{"x":2}`)})
	select {
	case <-p.done:
	case <-time.After(20 * time.Second):
		t.Fatalf("tail --max 2 did not stop after two new records; output:\n%s", p.out.String())
	}
	out := p.out.String()
	if p.status != 0 || !strings.Contains(out, "key: new-1") || !strings.Contains(out, "key: new-2") || strings.Contains(out, "key: old") {
		t.Errorf("exit %d; want the two new records only:\n%s", p.status, out)
	}
}

func TestTailWithoutBrokersNamesTheAddress(t *testing.T) {
	out, code := runBinary(t, map[string]string{"DATA_DIR": t.TempDir()}, "tail", "xdr.incidents")
	if code != 2 || !strings.Contains(out, "KAFKA_BROKERS is not set") || !strings.Contains(out, "address the connector printed") {
		t.Errorf("exit %d, want 2 and a message naming KAFKA_BROKERS; output:\n%s", code, out)
	}
	out, code = runBinary(t, nil, "tail")
	if code != 2 || !strings.Contains(out, "TOPIC") {
		t.Errorf("no topic: exit %d, want 2; output:\n%s", code, out)
	}
	out, code = runBinary(t, nil, "tail", "--help")
	if code != 0 || !strings.Contains(out, "--follow") && !strings.Contains(out, "-follow") {
		t.Errorf("tail --help: exit %d; output:\n%s", code, out)
	}
}

// TestTailFiltersByKeyAndIncident: --key keeps the records of a key,
// --incident those of an incident (by the incident_id of the value, or of an
// offsets key), both repeatable, and --max counts what they let through.
func TestTailFiltersByKeyAndIncident(t *testing.T) {
	brokers, cl := tailCluster(t)
	if _, err := kadm.NewClient(cl).CreateTopic(context.Background(), 2, 1, nil, "mixed"); err != nil {
		t.Fatal(err)
	}
	rec := func(p int32, key, value string) *kgo.Record {
		r := &kgo.Record{Topic: "mixed", Partition: p, Key: []byte(key)}
		if value != "" {
			r.Value = []byte(value)
		}
		return r
	}
	produce(t, cl,
		rec(0, "891", `{"record_type":"incident.change","incident_id":"891","n":1}`),
		rec(1, "114341", `{"record_type":"alert","incident_id":"891","n":2}`),
		rec(0, "892", `{"record_type":"incident.change","incident_id":"892","n":3}`),
		rec(1, "891/network/DOMAIN/a.example", `{"record_type":"artifact.network","incident_id":"891","n":4}`),
		rec(0, `{"connector":"c","tenant":"t","kind":"pending","incident_id":"891"}`, ""), // a tombstone of the offsets topic
		rec(1, "acme/891", `{"record_type":"incident.change","incident_id":"891","tenant":"acme","n":6}`),
		rec(0, "893", `{"incident_id":893,"n":7}`),
	)
	env := map[string]string{"KAFKA_BROKERS": brokers}
	count := func(out string) int { return strings.Count(out, "key: ") }
	for _, tc := range []struct {
		args []string
		want []string // keys printed
	}{
		{[]string{"--key", "891"}, []string{"891"}},
		{[]string{"--key", "acme/891", "--key", "892"}, []string{"acme/891", "892"}},
		{[]string{"--incident", "891"}, []string{"891", "114341", "891/network/DOMAIN/a.example", `{"connector":"c","tenant":"t","kind":"pending","incident_id":"891"}`, "acme/891"}},
		{[]string{"--incident", "892", "--incident", "893"}, []string{"892", "893"}},
		{[]string{"--incident", "891", "--key", "acme/891"}, []string{"acme/891"}},
		{[]string{"--incident", "891", "--max", "2"}, nil}, // any two of 891's
		{[]string{"--key", "nothing"}, []string{}},
	} {
		out, code := runBinary(t, env, append(append([]string{"tail"}, tc.args...), "mixed")...)
		if code != 0 {
			t.Errorf("%v: exit %d; output:\n%s", tc.args, code, out)
			continue
		}
		if tc.want == nil {
			if count(out) != 2 || strings.Contains(out, `"n": 3`) || strings.Contains(out, `"n": 7`) {
				t.Errorf("%v: want two records of incident 891; output:\n%s", tc.args, out)
			}
			continue
		}
		if count(out) != len(tc.want) {
			t.Errorf("%v: printed %d records, want %d; output:\n%s", tc.args, count(out), len(tc.want), out)
		}
		for _, k := range tc.want {
			if !strings.Contains(out, "key: "+k+"\n") {
				t.Errorf("%v: record %s missing; output:\n%s", tc.args, k, out)
			}
		}
	}
	if out, code := runBinary(t, env, "tail", "--key", "", "mixed"); code != 2 || !strings.Contains(out, "-key") {
		t.Errorf("--key with an empty value: exit %d, want 2; output:\n%s", code, out)
	}
}
