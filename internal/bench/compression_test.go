package bench

import (
	"context"
	"strings"
	"testing"

	"github.com/klauspost/compress/zstd"
	"github.com/pierrec/lz4/v4"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// BenchmarkZstdLevels compresses the record values of one 1,000-alert reply
// of the simulated tenant (the cost phase's data), each topic's values apart
// in 64 KiB batches, with zstd as franz-go sets it up (64 KiB window, one
// goroutine) at each level the sink could use, and reports MB/s, the
// compression ratio and the bytes of the reply's values for each profile. The sink's level is chosen from it (see
// docs/BENCHMARKS.md).
func BenchmarkZstdLevels(b *testing.B) {
	values := costValues(b)
	for _, level := range []zstd.EncoderLevel{zstd.SpeedFastest, zstd.SpeedDefault} {
		enc, err := zstd.NewWriter(nil, zstd.WithWindowSize(64<<10), zstd.WithEncoderConcurrency(1),
			zstd.WithZeroFrames(true), zstd.WithEncoderLevel(level))
		if err != nil {
			b.Fatal(err)
		}
		for _, name := range profile.Names {
			in := values[name]
			b.Run(level.String()+"/"+name, func(b *testing.B) {
				b.SetBytes(int64(len(in)))
				var out []byte
				var compressed int
				for b.Loop() {
					compressed = 0
					for off := 0; off < len(in); off += compressBatch {
						out = enc.EncodeAll(in[off:min(off+compressBatch, len(in))], out[:0])
						compressed += len(out)
					}
				}
				b.ReportMetric(float64(len(in))/float64(compressed), "ratio")
				b.ReportMetric(float64(len(in)), "B/reply")
			})
		}
	}
}

// BenchmarkLZ4 compresses the same values as BenchmarkZstdLevels, in the
// same batches, with lz4 blocks at franz-go's default level: the sink's
// fallback codec, and the one other codec fast enough to consider.
func BenchmarkLZ4(b *testing.B) {
	values := costValues(b)
	for _, name := range profile.Names {
		in := values[name]
		b.Run(name, func(b *testing.B) {
			b.SetBytes(int64(len(in)))
			var c lz4.Compressor
			out := make([]byte, lz4.CompressBlockBound(compressBatch))
			var compressed int
			for b.Loop() {
				compressed = 0
				for off := 0; off < len(in); off += compressBatch {
					n, err := c.CompressBlock(in[off:min(off+compressBatch, len(in))], out)
					if err != nil {
						b.Fatal(err)
					}
					compressed += n
				}
			}
			b.ReportMetric(float64(len(in))/float64(compressed), "ratio")
			b.ReportMetric(float64(len(in)), "B/reply")
		})
	}
}

// compressBatch is the batch the compression benchmarks compress at once.
const compressBatch = 64 << 10

// costValues returns the record values of one cost-phase reply with every
// output profile, one after another, by profile.
func costValues(b *testing.B) map[string][]byte {
	ed, meta := costReply(b)
	native, _ := enrich.Flatten(meta, ed.Incident.ModificationTime, ed)
	all, _ := profile.Parse(strings.Join(profile.Names, ","))
	values := map[string][]byte{}
	for _, r := range all.Enriched(meta, ed.Incident.ModificationTime, ed, native) {
		name := profile.Native
		switch r.Topic {
		case record.TopicOCSFIncidents, record.TopicOCSFAlerts:
			name = profile.OCSF
		case record.TopicECSIncidents, record.TopicECSAlerts:
			name = profile.ECS
		}
		values[name] = append(values[name], r.Value...)
	}
	return values
}

// costReply fetches one 1,000-alert reply of the simulated tenant, as the
// cost phase does, with the cost phase's record metadata.
func costReply(b *testing.B) (*xdr.ExtraData, enrich.Meta) {
	sim := xdrtest.New(xdrtest.Config{Seed: 14, Incidents: 1, MaxAlerts: costAlerts, RateLimit: 1 << 20})
	id := sim.IncidentIDs()[0]
	if tr, _ := sim.Truth(id); tr.AlertCount < costAlerts {
		sim.AddAlerts(id, costAlerts-tr.AlertCount)
	}
	api, _, stop, err := newSimClient(sim)
	if err != nil {
		b.Fatal(err)
	}
	ed, err := api.GetIncidentExtraData(context.Background(), xdr.ExtraDataRequest{IncidentID: id, AlertsLimit: costAlerts})
	stop()
	if err != nil {
		b.Fatal(err)
	}
	return ed, enrich.Meta{Connector: "bench-cost", Tenant: "sim", AlertsLimit: costAlerts}
}
