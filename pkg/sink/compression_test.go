package sink

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

// TestEveryCodecIsReadBack: with Compression(codec) after ProducerOpts, the
// batches a Sink produces carry that codec, and franz-go — and kcat
// (librdkafka), where it is installed — read back every record as it was
// published.
func TestEveryCodecIsReadBack(t *testing.T) {
	if !slices.Equal(Codecs, config.KafkaCodecs) {
		t.Fatalf("sink.Codecs %v, config.KafkaCodecs (what KAFKA_COMPRESSION accepts) %v", Codecs, config.KafkaCodecs)
	}
	attr := map[string]uint8{"none": 0, "gzip": 1, "snappy": 2, "lz4": 3, "zstd": 4} // the codec bits of a batch's attributes
	kcat, _ := exec.LookPath("kcat")
	for _, codec := range Codecs {
		t.Run(codec, func(t *testing.T) {
			c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(1, testTopics.All()...))
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			compression, err := Compression(codec)
			if err != nil {
				t.Fatal(err)
			}
			cl, err := kgo.NewClient(append(append([]kgo.Opt{kgo.SeedBrokers(c.ListenAddrs()...)}, ProducerOpts()...), compression)...)
			if err != nil {
				t.Fatal(err)
			}
			defer cl.Close()
			s, err := New(cl, testTopics)
			if err != nil {
				t.Fatal(err)
			}
			want := make([]record.Record, 200)
			for i := range want {
				// Values that compress, as the connector's JSON does.
				value := fmt.Sprintf(`{"incident_id":"%d","description":%q}`, i, strings.Repeat("suspicious process tree ", 1+i%7))
				want[i] = record.Record{Topic: record.TopicAlerts, Type: record.TypeAlert, Key: fmt.Appendf(nil, "k%03d", i), Value: []byte(value)}
			}
			done := make(chan error, 1)
			if err := s.Publish(context.Background(), Enrichments, want, func(err error) { done <- err }); err != nil {
				t.Fatal(err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}

			rd, err := kgo.NewClient(kgo.SeedBrokers(c.ListenAddrs()...), kgo.ConsumeTopics(testTopics.Alerts), kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()))
			if err != nil {
				t.Fatal(err)
			}
			defer rd.Close()
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			var got []*kgo.Record
			for len(got) < len(want) && ctx.Err() == nil {
				got = append(got, rd.PollFetches(ctx).Records()...)
			}
			if len(got) != len(want) {
				t.Fatalf("read %d records, want %d", len(got), len(want))
			}
			for i, r := range got {
				if !bytes.Equal(r.Key, want[i].Key) || !bytes.Equal(r.Value, want[i].Value) {
					t.Fatalf("record %d is %s=%s, want %s=%s", i, r.Key, r.Value, want[i].Key, want[i].Value)
				}
				if ct := r.Attrs.CompressionType(); ct != attr[codec] {
					t.Fatalf("record %d came in a batch of codec %d, want %d (%s)", i, ct, attr[codec], codec)
				}
			}

			if kcat == "" {
				return // TestKcatReadsWhatTheConnectorWrote says how to install it
			}
			kctx, kcancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer kcancel()
			out, err := exec.CommandContext(kctx, kcat, "-b", c.ListenAddrs()[0], "-C", "-t", testTopics.Alerts, "-f", `%k\t%s\n`, "-e", "-o", "beginning", "-q").Output()
			if err != nil {
				t.Fatalf("kcat: %v", err)
			}
			lines := strings.Split(strings.TrimSuffix(string(out), "\n"), "\n")
			if len(lines) != len(want) {
				t.Fatalf("kcat read %d records, want %d", len(lines), len(want))
			}
			for i, line := range lines {
				if w := string(want[i].Key) + "\t" + string(want[i].Value); line != w {
					t.Fatalf("kcat read record %d as %q, want %q", i, line, w)
				}
			}
		})
	}
	if _, err := Compression("brotli"); err == nil || !strings.Contains(err.Error(), "zstd, lz4, snappy, gzip, none") {
		t.Errorf("Compression(brotli): %v, want an error naming the codecs", err)
	}
}
