package ops

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/dlq"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

// Redrive writes a redrive request into the offsets topic for each
// incident of the DLQ that filter selects and no redrive covers yet (see
// dlq.Plan), tenant by tenant, stamped now, and prints what it asks and
// skips to out; dry prints and writes nothing.
func (v *View) Redrive(ctx context.Context, filter dlq.Filter, dry bool, now time.Time, out io.Writer) error {
	if v.noTopic {
		return fmt.Errorf("the offsets topic %s does not exist: no connector has run against this Kafka cluster, so nothing was dead-lettered", v.cfg.TopicOffsets)
	}
	var recs []*kgo.Record
	running := 0
	for _, t := range v.tenants {
		l := v.offsets[t.id]
		reqs, skips := dlq.Plan(v.dlq[t.id], l.State, filter)
		fmt.Fprintf(out, "tenant %s: %d incidents to redrive, %d skipped (%d DLQ records in %s)\n", t.id, len(reqs), len(skips), len(v.dlq[t.id]), t.dlq)
		for _, r := range reqs {
			fmt.Fprintf(out, "  redrive %s  version %s, last failed %s\n", r.IncidentID, stamp(r.ModificationTime), stamp(r.FailedAt))
		}
		for _, s := range skips {
			fmt.Fprintf(out, "  skip    %s  %s\n", s.IncidentID, s.Reason)
		}
		if len(reqs) == 0 {
			continue
		}
		if v.runState(l, now) == "running" {
			running++
		}
		store, err := offsets.NewStore(v.cl, offsets.StoreConfig{Topic: v.cfg.TopicOffsets, Connector: v.cfg.ConnectorName, Tenant: t.id})
		if err != nil {
			return err
		}
		for _, r := range reqs {
			r.RequestedAt = now.UnixMilli()
			recs = append(recs, store.RedriveRecord(r))
		}
	}
	switch {
	case len(recs) == 0:
		fmt.Fprintln(out, "nothing to redrive")
		return nil
	case dry:
		fmt.Fprintf(out, "--dry-run: %d redrive requests not written\n", len(recs))
		return nil
	}
	if err := v.cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		return fmt.Errorf("writing redrive requests to %s: %w", v.cfg.TopicOffsets, err)
	}
	fmt.Fprintf(out, "wrote %d redrive requests to %s; the connector queues them at its next start\n", len(recs), v.cfg.TopicOffsets)
	if running > 0 {
		fmt.Fprintf(out, "a connector is running for %d of these tenants: restart it (SIGTERM, then start it again) so it queues them now\n", running)
	}
	return nil
}
