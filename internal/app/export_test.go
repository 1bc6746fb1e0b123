package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
)

// Tuning is what New leaves at its defaults and this package's tests set:
// the fleet's timings, its supervisors' clock and a record of every poll.
type Tuning struct {
	WatchEvery     time.Duration    // how often the tenants file's content is checked; 0: 2s
	TenantsSettle  time.Duration    // 0: DefaultTenantsSettle
	TenantRetryMin time.Duration    // 0: DefaultTenantRetryMin
	TenantRetryMax time.Duration    // 0: DefaultTenantRetryMax
	Now            func() time.Time // nil: time.Now
	// OnPoll, when set, is told of every poll of every tenant as it ends
	// (a test's record of which versions a poll could read).
	OnPoll func(tenant string, r source.PollResult, err error)
}

// NewTuned is New with the timings and hooks of t.
func NewTuned(ctx context.Context, cfg *config.Config, log *slog.Logger, deps Deps, t Tuning) (*Process, error) {
	tn := tuning{watchEvery: t.WatchEvery, settle: t.TenantsSettle, retryMin: t.TenantRetryMin, retryMax: t.TenantRetryMax, now: t.Now}
	if on := t.OnPoll; on != nil {
		tn.tenantOpts = func(id string) []pipeline.Option {
			return []pipeline.Option{pipeline.WithPollObserver(func(r source.PollResult, err error) { on(id, r, err) })}
		}
	}
	return newProcess(ctx, cfg, log, deps, tn)
}
