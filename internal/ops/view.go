package ops

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/dlq"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

// tenant is one tenant as status and redrive see it.
type tenant struct {
	id     string
	dlq    string        // its DLQ topic
	window time.Duration // its ENRICH_RATE_WINDOW
	limit  int           // its ENRICH_RATE_LIMIT
	bulk   string        // its ENRICH_BULK: auto, on or off
	// found: no TENANTS_FILE names it, the offsets topic does (a
	// multi-tenant run's data read with the env-only configuration); its
	// window, limit, bulk mode and DLQ topic are the env's, as an entry of a tenants
	// file without settings of its own would have.
	found bool
}

// View is what `connector status` and `connector redrive` read: the
// configured tenants, their offsets state and their DLQ records, read once
// from Kafka as `connector run` is configured.
type View struct {
	cfg      *config.Config
	tenants  []tenant
	cl       *kgo.Client // a producer with the connector's settings
	offsets  map[string]offsets.Loaded
	noTopic  bool                   // the offsets topic does not exist
	dlq      map[string][]dlq.Entry // by tenant id
	skipped  int                    // records of the DLQ topics that are not DLQ envelopes
	embedded string                 // "running" or "stopped" when KAFKA_BROKERS is unset
	closeAll func()
}

// tenantsOf lists the tenants of cfg — every tenant of TENANTS_FILE, or the
// one tenant of an env-only configuration, named as `connector run` names
// it — keeping only only (when not empty).
func tenantsOf(cfg *config.Config, only string) ([]tenant, error) {
	plans, err := cfg.Plans()
	if err != nil {
		return nil, fmt.Errorf("%w: the tenants file is not valid:%s", config.ErrUsage, config.IndentLines(err.Error()))
	}
	var ts []tenant
	for _, p := range plans {
		ts = append(ts, tenant{id: p.Tenant.ID, dlq: p.Topics.DLQ, window: p.Tenant.EnrichRateWindow, limit: p.Tenant.EnrichRateLimit, bulk: p.Tenant.EnrichBulk})
	}
	if only == "" {
		return ts, nil
	}
	for _, t := range ts {
		if t.id == only {
			return []tenant{t}, nil
		}
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		ids[i] = t.id
	}
	return nil, fmt.Errorf("%w: --tenant %s is not a configured tenant (%s)", config.ErrUsage, only, strings.Join(ids, ", "))
}

// Open connects to the Kafka of cfg, as `connector run` is configured by it
// (the embedded broker of DATA_DIR when KAFKA_BROKERS is unset, running or
// not; cfg then names it, and a demo cfg gets the demo's settings), and reads the
// offsets and DLQ topics of the tenants. write says that the caller writes
// through the view (redrive): a stopped embedded broker's data is then
// opened in place, else a copy of it (see embedded.BrokerFor). Call Close
// when done.
func Open(ctx context.Context, cfg *config.Config, onlyTenant string, write bool, stderr io.Writer) (*View, error) {
	// The demo's tenant and rate window, as `connector run` sets them.
	embedded.ApplyDemo(cfg, os.LookupEnv)
	// Without a tenants file the offsets topic names the tenants: --tenant
	// is checked once it is read.
	envOnly := cfg.TenantsFile == ""
	filter := onlyTenant
	if envOnly {
		filter = ""
	}
	tenants, err := tenantsOf(cfg, filter)
	if err != nil {
		return nil, err
	}
	v := &View{cfg: cfg, tenants: tenants, closeAll: func() {}}
	if len(cfg.KafkaBrokers) == 0 {
		v.embedded = "stopped"
		if embedded.RunningBrokerAddr(cfg.DataDir) != "" {
			v.embedded = "running"
		}
		addr, closeBroker, err := embedded.BrokerFor(cfg.DataDir, "", write, stderr)
		if err != nil {
			return nil, err
		}
		v.closeAll = closeBroker
		cfg.KafkaBrokers = []string{addr}
	}
	ok := false
	defer func() {
		if !ok {
			v.Close()
		}
	}()
	connOpts, err := app.KafkaOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrUsage, err)
	}
	producerOpts, err := app.ProducerOptions(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", config.ErrUsage, err)
	}
	cl, err := kgo.NewClient(append(slices.Clone(connOpts), producerOpts...)...)
	if err != nil {
		return nil, fmt.Errorf("creating Kafka client: %w", err)
	}
	closeBroker := v.closeAll
	v.cl, v.closeAll = cl, func() { cl.Close(); closeBroker() }

	ids := make([]string, len(tenants))
	for i, t := range tenants {
		ids[i] = t.id
	}
	load := ids
	if envOnly {
		load = nil // every tenant the offsets topic names
	}
	v.offsets, err = offsets.LoadTenants(ctx, cl, cfg.TopicOffsets, cfg.ConnectorName, load, connOpts)
	if errors.Is(err, kerr.UnknownTopicOrPartition) {
		v.noTopic, err = true, nil
		v.offsets = map[string]offsets.Loaded{}
	}
	if err != nil {
		return nil, fmt.Errorf("reading the offsets topic %s: %w", cfg.TopicOffsets, err)
	}
	if envOnly {
		v.tenants, err = withFoundTenants(cfg, tenants[0], v.offsets, onlyTenant)
		if err != nil {
			return nil, err
		}
		tenants = v.tenants
	}
	for _, t := range tenants {
		if _, ok := v.offsets[t.id]; !ok {
			v.offsets[t.id] = offsets.Loaded{State: offsets.State{Pending: map[string]offsets.Pending{}, Redrives: map[string]offsets.RedriveValue{}}}
		}
	}
	v.dlq = map[string][]dlq.Entry{}
	read := map[string][]dlq.Entry{}
	for _, t := range tenants {
		entries, done := read[t.dlq]
		if !done {
			var skipped int
			entries, skipped, _, err = dlq.Read(ctx, cl, t.dlq, connOpts)
			if err != nil {
				return nil, fmt.Errorf("reading the DLQ topic %s: %w", t.dlq, err)
			}
			read[t.dlq] = entries
			v.skipped += skipped
		}
		v.dlq[t.id] = dlq.Of(entries, cfg.ConnectorName, t.id)
	}
	ok = true
	return v, nil
}

// withFoundTenants is the tenants of an env-only configuration: env, the
// tenant its XDR_* variables name, and every other tenant found in the
// offsets topic (loaded), as a multi-tenant run left them. env is left out
// when the topic knows nothing of it but knows other tenants: it is then
// only the name the env-only configuration would give a tenant, not one
// that ran. only (when not empty) keeps that tenant alone.
func withFoundTenants(cfg *config.Config, env tenant, loaded map[string]offsets.Loaded, only string) ([]tenant, error) {
	var ts []tenant
	if _, ok := loaded[env.id]; ok || len(loaded) == 0 {
		ts = append(ts, env)
	}
	for id := range loaded {
		if id != env.id {
			ts = append(ts, tenant{id: id, dlq: cfg.DataTopicsOf(id).DLQ, window: env.window, limit: env.limit, bulk: env.bulk, found: true})
		}
	}
	slices.SortFunc(ts, func(a, b tenant) int { return strings.Compare(a.id, b.id) })
	if only == "" {
		return ts, nil
	}
	ids := make([]string, len(ts))
	for i, t := range ts {
		if t.id == only {
			return []tenant{t}, nil
		}
		ids[i] = t.id
	}
	return nil, fmt.Errorf("%w: --tenant %s is neither the tenant of the XDR_* variables nor one found in the offsets topic %s (%s)",
		config.ErrUsage, only, cfg.TopicOffsets, strings.Join(ids, ", "))
}

// Close closes the view's Kafka client and gives up the embedded broker
// it opened, if any.
func (v *View) Close() { v.closeAll() }

// runState says whether a connector runs for a tenant, from its last commit:
// a running connector commits every COMMIT_INTERVAL, even when the tenant is
// quiet, and only its final commit says clean_shutdown.
func (v *View) runState(l offsets.Loaded, now time.Time) string {
	switch {
	case !l.Found:
		return "never-committed"
	case l.State.Clean:
		return "stopped"
	case v.embedded == "stopped":
		return "stopped-unclean"
	case now.Sub(time.UnixMilli(l.State.CommittedAt)) <= 3*v.cfg.CommitInterval+10*time.Second:
		return "running"
	default:
		return "stopped-unclean"
	}
}
