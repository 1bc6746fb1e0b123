package telemetry

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
)

// HealthConfig configures the readiness checks of Health. Zero durations take
// the defaults noted.
type HealthConfig struct {
	// Started reports whether the offsets are loaded and the stages run.
	// Required.
	Started func() bool
	// Ping checks that Kafka answers (kgo.Client.Ping). Required.
	Ping func(context.Context) error
	// PingTimeout bounds one Ping; default 2s.
	PingTimeout time.Duration
	// PingEvery is how long a Ping's result is reused; default 5s. Probes
	// arriving more often share one Ping instead of piling up on the broker.
	PingEvery time.Duration
	// PollStale is how old the last successful poll may be: a few poll
	// intervals. Zero turns the check off.
	PollStale time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// Health answers /readyz: the offsets are loaded, Kafka answers, and a poll
// of get_incidents succeeded recently. Its methods are safe for concurrent
// use.
type Health struct {
	cfg HealthConfig

	pollMu     sync.Mutex
	lastPollOK time.Time
	lastErr    error

	pingMu   sync.Mutex // held while pinging: one Ping at a time
	pingAt   time.Time
	pingErr  error
	havePing bool
}

// NewHealth returns a Health for cfg. It reports an error when Started or
// Ping is missing or a duration is negative.
func NewHealth(cfg HealthConfig) (*Health, error) {
	if cfg.Started == nil || cfg.Ping == nil {
		return nil, errors.New("creating health checks: Started and Ping are required")
	}
	if cfg.PingTimeout < 0 || cfg.PingEvery < 0 || cfg.PollStale < 0 {
		return nil, errors.New("creating health checks: durations must not be negative")
	}
	if cfg.PingTimeout == 0 {
		cfg.PingTimeout = 2 * time.Second
	}
	if cfg.PingEvery == 0 {
		cfg.PingEvery = 5 * time.Second
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Health{cfg: cfg}, nil
}

// PollDone records the outcome of a poll that ended at end; err nil means it
// succeeded. It never blocks for long, so it can be a pipeline poll observer.
func (h *Health) PollDone(end time.Time, err error) {
	h.pollMu.Lock()
	defer h.pollMu.Unlock()
	h.lastErr = err
	if err == nil && end.After(h.lastPollOK) {
		h.lastPollOK = end
	}
}

// LastPollSuccess returns the end of the last successful poll, zero if none.
func (h *Health) LastPollSuccess() time.Time {
	h.pollMu.Lock()
	defer h.pollMu.Unlock()
	return h.lastPollOK
}

// Check is the outcome of one readiness check.
type Check struct {
	Name string // offsets, kafka, poll
	Err  error  // nil when the check passed
}

// Ready runs every check (Kafka's at most once per PingEvery) and reports
// whether all passed, with each check's outcome in a fixed order.
func (h *Health) Ready(ctx context.Context) (bool, []Check) {
	checks := []Check{{Name: "offsets"}, {Name: "kafka"}, {Name: "poll"}}
	if !h.cfg.Started() {
		checks[0].Err = errors.New("offsets not loaded yet")
	}
	checks[1].Err = h.ping(ctx)
	if h.cfg.PollStale > 0 {
		h.pollMu.Lock()
		last, lastErr := h.lastPollOK, h.lastErr
		h.pollMu.Unlock()
		switch age := h.cfg.Now().Sub(last); {
		case last.IsZero() && lastErr != nil:
			checks[2].Err = fmt.Errorf("no successful poll yet; last error: %w", lastErr)
		case last.IsZero():
			checks[2].Err = errors.New("no successful poll yet")
		case age > h.cfg.PollStale && lastErr != nil:
			checks[2].Err = fmt.Errorf("last successful poll %s ago; last error: %w", age.Truncate(time.Millisecond), lastErr)
		case age > h.cfg.PollStale:
			checks[2].Err = fmt.Errorf("last successful poll %s ago", age.Truncate(time.Millisecond))
		}
	}
	ok := true
	for _, c := range checks {
		ok = ok && c.Err == nil
	}
	return ok, checks
}

// ping returns Kafka's last answer when it is fresh, else pings again.
func (h *Health) ping(ctx context.Context) error {
	h.pingMu.Lock()
	defer h.pingMu.Unlock()
	if h.havePing && h.cfg.Now().Sub(h.pingAt) < h.cfg.PingEvery {
		return h.pingErr
	}
	pctx, cancel := context.WithTimeout(ctx, h.cfg.PingTimeout)
	defer cancel()
	err := h.cfg.Ping(pctx)
	if err != nil {
		err = fmt.Errorf("pinging Kafka: %w", err)
	}
	h.pingAt, h.pingErr, h.havePing = h.cfg.Now(), err, true
	return err
}
