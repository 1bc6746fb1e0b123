package app

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.opentelemetry.io/otel/attribute"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/telemetry"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Write calls, and the applier's reads, take a slot of the tenant's pacer
// (pacedAPI) like every other call: the API's budget of about 10 requests a
// second is one for every endpoint. The applier makes one call at a time and
// the pacer serves its waiters in order, so a poll waits behind at most one
// write-back call.

func (p pacedAPI) UpdateIncident(ctx context.Context, req xdr.UpdateIncidentRequest) (*xdr.UpdateReply, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.UpdateReply, error) { return p.c.UpdateIncident(ctx, req) })
}

func (p pacedAPI) UpdateAlerts(ctx context.Context, req xdr.UpdateAlertsRequest) (*xdr.UpdateReply, error) {
	return enrich.Paced(ctx, p.lim, func() (*xdr.UpdateReply, error) { return p.c.UpdateAlerts(ctx, req) })
}

// gatedWrites is the applier's API behind the tenant's gate, as gatedAPI is
// the pipeline's.
type gatedWrites struct {
	api  writeback.API
	gate gate
}

func (g gatedWrites) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	if err := g.gate.member.WaitLive(ctx, g.gate.stop); err != nil {
		return nil, err
	}
	return g.api.GetIncidents(ctx, req)
}

func (g gatedWrites) UpdateIncident(ctx context.Context, req xdr.UpdateIncidentRequest) (*xdr.UpdateReply, error) {
	if err := g.gate.member.WaitLive(ctx, g.gate.stop); err != nil {
		return nil, err
	}
	return g.api.UpdateIncident(ctx, req)
}

func (g gatedWrites) UpdateAlerts(ctx context.Context, req xdr.UpdateAlertsRequest) (*xdr.UpdateReply, error) {
	if err := g.gate.member.WaitLive(ctx, g.gate.stop); err != nil {
		return nil, err
	}
	return g.api.UpdateAlerts(ctx, req)
}

// tenantIDs answers which tenants a configuration has, for the write-back
// appliers: a command for another tenant is rejected by the applier of the
// first id only.
type tenantIDs interface {
	knows(id string) bool
	first() string
}

// oneTenant is the tenantIDs of an env-only configuration.
type oneTenant string

func (o oneTenant) knows(id string) bool { return id == string(o) }
func (o oneTenant) first() string        { return string(o) }

// knows and first make the fleet a tenantIDs: every tenant of the file,
// owned here or not, as the last reload left it.
func (f *fleet) knows(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.want[id]
	return ok
}

func (f *fleet) first() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	ids := make([]string, 0, len(f.want))
	for id := range f.want {
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return ""
	}
	return slices.Min(ids)
}

// newApplier builds tenant t's write-back applier when write-back is on for
// the process or the tenant, with the Kafka client of its own that it writes
// through (closed by close), or nil. In exactly-once mode that client is
// transactional and carries everything; in at-least-once mode with fence
// (the tenant's pipeline fences its offsets: pipeline.Config.Fencing)
// it is the transactional writer of the applier's state records
// (writeback.WithStateProducer), so an applier that lost the tenant stops as
// its pipeline does. Both use WritebackTransactionalID, never the pipeline's
// id, so the two writers of one tenant never fence each other.
func newApplier(s shared, t Tenant, api writeback.API, kcl *kgo.Client, multi, fence bool, log *slog.Logger) (a *writeback.Applier, owned *kgo.Client, err error) {
	if !t.Writeback && !s.cfg.WritebackOn() {
		return nil, nil, nil
	}
	id := ""
	if multi {
		id = t.ID
	}
	topics := s.cfg.CommandTopicsOf(id)
	var ids tenantIDs = oneTenant(t.ID)
	if s.tenantIDs != nil {
		ids = s.tenantIDs
	}
	cfg := writeback.Config{
		Connector:      s.cfg.ConnectorName,
		Policy:         writeback.Policy{Tenant: t.ID, Enabled: t.Writeback, Actions: s.cfg.Actions()},
		Known:          ids.knows,
		ReportsUnknown: func() bool { return ids.first() == t.ID },
		CommandsTopic:  topics.Commands, ResultsTopic: topics.Results, OffsetsTopic: s.cfg.TopicOffsets,
		CreateTopics: true, Partitions: int32(s.cfg.KafkaPartitions), Replication: int16(s.cfg.KafkaReplication),
		ExactlyOnce:   pipeline.Transactional(s.cfg.Delivery),
		ClientOpts:    s.connOpts,
		MaxRetryAfter: s.cfg.XDRMaxRetryAfter,
	}
	opts := []writeback.Option{writeback.WithLogger(log), writeback.WithMeterProvider(s.obs.meterProvider),
		writeback.WithMetricAttributes(attribute.String(telemetry.AttrTenant, t.ID))}
	if cfg.ExactlyOnce || fence {
		owned, err = newProducer(s, log, kgo.TransactionalID(WritebackTransactionalID(s.cfg.ConnectorName, t.ID)))
		if err != nil {
			return nil, nil, err
		}
		if cfg.ExactlyOnce {
			kcl = owned
		} else {
			opts = append(opts, writeback.WithStateProducer(owned))
		}
	}
	a, err = writeback.New(cfg, api, kcl, opts...)
	if err != nil {
		if owned != nil {
			owned.Close()
		}
		return nil, nil, &ConfigError{err}
	}
	return a, owned, nil
}

// WritebackTransactionalID is the transactional id of a tenant's write-back
// applier in exactly-once mode, and of its state records in at-least-once
// mode whenever the tenant's offsets are fenced: the tenant's own with a
// suffix, so a new owner of the tenant fences the applier of the last one.
func WritebackTransactionalID(connector, tenant string) string {
	return pipeline.TransactionalID(connector, tenant) + "/writeback"
}

// runWriteback runs a until ctx ends, restarting it with backoff when it
// fails: a failed applier never stops the tenant's pipeline. A fenced applier
// (pipeline.ErrFenced: a newer owner of the tenant runs its applier) stops
// for good: restarting it would fence the new owner in turn. The returned
// channel is closed once it has stopped; it is closed at once for a nil a.
func runWriteback(ctx context.Context, a *writeback.Applier, log *slog.Logger) <-chan struct{} {
	if a == nil {
		done := make(chan struct{})
		close(done)
		return done
	}
	return goDone(func() {
		delay := time.Second
		for {
			err := a.Run(ctx)
			if ctx.Err() != nil {
				return
			}
			if errors.Is(err, pipeline.ErrFenced) {
				log.Warn("write-back stopped: another process now applies this tenant's commands", "err", err)
				return
			}
			log.Error("write-back failed; restarting it", "err", err, "in", delay)
			t := time.NewTimer(delay)
			select {
			case <-ctx.Done():
				t.Stop()
				return
			case <-t.C:
			}
			delay = min(2*delay, time.Minute)
		}
	})
}
