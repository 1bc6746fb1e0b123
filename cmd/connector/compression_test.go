package main

import (
	"context"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestKafkaCompressionReachesTheBatches: the batches the connector writes
// carry the codec KAFKA_COMPRESSION names, zstd when it is unset, and no
// other; a batch that would not shrink (an offsets record alone, say) is
// left uncompressed, as franz-go does.
func TestKafkaCompressionReachesTheBatches(t *testing.T) {
	for _, tc := range []struct {
		setting string
		codec   uint8 // a batch's codec bits: gzip 1, snappy 2, lz4 3, zstd 4
	}{{"", 4}, {"lz4", 3}, {"gzip", 1}} {
		t.Run("KAFKA_COMPRESSION="+tc.setting, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 8, Incidents: 6, MaxAlerts: 3, RateWindow: 100 * time.Millisecond})
			env := map[string]string{}
			if tc.setting != "" {
				env["KAFKA_COMPRESSION"] = tc.setting
			}
			r := startConnector(t, e, env, runDeps{})
			topics := []string{"xdr.incidents", "xdr.alerts", "xdr.connector.offsets"}
			testkit.WaitFor(t, 30*time.Second, "records in every topic", func() bool {
				for _, topic := range topics {
					if !hasRecords(e.Brokers, topic) {
						return false
					}
				}
				return true
			})
			r.stop(t)
			for _, topic := range topics {
				cl, err := kgo.NewClient(kgo.SeedBrokers(e.Brokers...), kgo.ConsumeTopics(topic), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
				if err != nil {
					t.Fatal(err)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				recs := cl.PollFetches(ctx).Records()
				cancel()
				cl.Close()
				if len(recs) == 0 {
					t.Fatalf("%s: nothing read", topic)
				}
				compressed := 0
				for _, rec := range recs {
					switch ct := rec.Attrs.CompressionType(); ct {
					case tc.codec:
						compressed++
					case 0:
					default:
						t.Fatalf("%s: a record came in a batch of codec %d, want %d", topic, ct, tc.codec)
					}
				}
				if compressed == 0 && topic != "xdr.connector.offsets" {
					t.Errorf("%s: none of %d records came in a batch of codec %d", topic, len(recs), tc.codec)
				}
			}
		})
	}
}
