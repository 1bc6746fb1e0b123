package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
)

// Progress cadence: the terminal line is redrawn every ttyEvery, the log line
// written every logEvery; figures are sampled every sampleEvery.
const (
	ttyEvery    = 500 * time.Millisecond
	logEvery    = 15 * time.Second
	sampleEvery = 250 * time.Millisecond
)

// progressOption configures startProgress.
type progressOption func(*progressConfig)

type progressConfig struct {
	limit  int           // extra-data calls allowed ...
	window time.Duration // ... per window; 0: budget unknown, not shown
	every  time.Duration // display cadence; default by terminal or not
	tty    *bool         // force the terminal mode (tests)
	screen *screen       // where the terminal line is drawn; default: out alone
}

// onScreen draws the terminal line on scr, the screen the logs also write
// through (see screen.logWriter), so that a log line never lands in the
// middle of the progress line.
func onScreen(scr *screen) progressOption { return func(c *progressConfig) { c.screen = scr } }

// withRateBudget tells the display the extra-data budget (ENRICH_RATE_LIMIT
// calls per ENRICH_RATE_WINDOW), so that it shows the budget in use, and
// measures the queue's drain rate over several of its windows (drainWindow).
// Without it, the budget is not shown and the drain rate is measured over 2
// minutes.
func withRateBudget(limit int, window time.Duration) progressOption {
	return func(c *progressConfig) { c.limit, c.window = limit, window }
}

// progressEvery sets the display cadence (default 500ms on a terminal, 15s
// otherwise).
func progressEvery(d time.Duration) progressOption { return func(c *progressConfig) { c.every = d } }

// progressTerminal forces the terminal display on or off (default: whether
// out is a terminal).
func progressTerminal(on bool) progressOption { return func(c *progressConfig) { c.tty = &on } }

// startProgress shows the pipeline's progress on out until the returned stop
// is called: one line redrawn in place every 500ms when out is a terminal
// (on the screen given with onScreen),
// otherwise a structured "progress" log line on log every 15 seconds. stop
// waits for the display to end; it must be called once.
func startProgress(ctx context.Context, p *pipeline.Pipeline, out io.Writer, log *slog.Logger, opts ...progressOption) (stop func()) {
	var pc progressConfig
	for _, o := range opts {
		o(&pc)
	}
	tty := isTerminal(out)
	if pc.tty != nil {
		tty = *pc.tty
	}
	if pc.every <= 0 {
		pc.every = logEvery
		if tty {
			pc.every = ttyEvery
		}
	}
	if pc.screen == nil {
		pc.screen = newScreen(out)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(min(sampleEvery, pc.every))
		defer t.Stop()
		next := time.Now().Add(pc.every)
		meter := newDrainMeter(pc.limit, pc.window)
		for {
			select {
			case <-ctx.Done():
				pc.screen.end()
				return
			case now := <-t.C:
				s := p.Stats()
				if !s.Started {
					continue
				}
				meter.add(now, s.QueueDepth)
				if now.Before(next) {
					continue
				}
				next = now.Add(pc.every)
				v := newProgressView(s, now, pc, meter.estimate())
				if tty {
					pc.screen.drawLine(v.line())
					continue
				}
				log.Info("progress", v.attrs()...)
			}
		}
	})
	return func() { cancel(); wg.Wait() }
}

// progressView is what one progress update shows.
type progressView struct {
	versions   int64            // incident versions published
	produced   map[string]int64 // records acknowledged per topic
	queue      int              // enrichments waiting
	drain      drainEstimate    // when the queue empties, at its measured drain rate
	inWindow   uint64           // extra-data calls in the last rate window, as the limiter counts them
	limit      int              // 0: budget unknown
	window     time.Duration    //
	rateLimits uint64           // 429 replies
	dlq        uint64           // enrichments given up
	lag        time.Duration    // now - watermark; 0 before the first watermark
}

func newProgressView(s pipeline.Stats, now time.Time, pc progressConfig, drain drainEstimate) progressView {
	v := progressView{versions: s.Versions, produced: s.Produced, queue: s.QueueDepth, inWindow: uint64(s.Enrich.Limiter.InUse),
		limit: pc.limit, window: pc.window, rateLimits: s.Enrich.RateLimited, dlq: s.Enrich.DLQ, drain: drain}
	if s.Offsets.Watermark > 0 {
		v.lag = max(0, now.Sub(time.UnixMilli(s.Offsets.Watermark)).Truncate(time.Second))
	}
	return v
}

// drainWindow is how far back the drain rate is measured, and minSpan how
// much of it the first estimate needs: several rate windows, since the queue
// drains in bursts of one budget per window, and at least 2 minutes (30 s for
// a first estimate), since changes arrive in bursts too (a bulk update).
func drainWindow(rateWindow time.Duration) (window, minSpan time.Duration) {
	return max(2*time.Minute, 4*rateWindow), max(30*time.Second, 2*rateWindow)
}

// queueSample is the enrichment queue's depth at one instant.
type queueSample struct {
	at    time.Time
	depth int
}

// drainMeter keeps the queue depths of the last window, for estimateDrain.
// It is used from one goroutine.
type drainMeter struct {
	window, minSpan time.Duration
	budget          float64 // extra-data calls per second the budget allows; 0: unknown
	samples         []queueSample
}

// newDrainMeter returns a meter of the drain window of rateWindow, for a
// budget of limit calls per rateWindow (limit 0: unknown).
func newDrainMeter(limit int, rateWindow time.Duration) *drainMeter {
	w, m := drainWindow(rateWindow)
	return &drainMeter{window: w, minSpan: m, budget: budgetRate(limit, rateWindow)}
}

// budgetRate is limit calls per window in calls per second; 0 when either is
// unknown.
func budgetRate(limit int, window time.Duration) float64 {
	if limit <= 0 || window <= 0 {
		return 0
	}
	return float64(limit) / window.Seconds()
}

// add records the depth at now and forgets samples older than the window.
func (m *drainMeter) add(now time.Time, depth int) {
	m.samples = append(m.samples, queueSample{now, depth})
	i := 0
	for i < len(m.samples) && now.Sub(m.samples[i].at) > m.window {
		i++
	}
	m.samples = append(m.samples[:0], m.samples[i:]...)
}

// estimate is estimateDrain over the window.
func (m *drainMeter) estimate() drainEstimate { return estimateDrain(m.samples, m.minSpan, m.budget) }

// Queue trends, as the progress log line names them (enrich_queue_trend).
const (
	trendMeasuring = "measuring" // the samples do not span minSpan yet
	trendDraining  = "draining"
	trendGrowing   = "growing"
	trendSteady    = "steady" // neither grows nor drains
	trendEmpty     = "empty"
)

// drainEstimate says when the enrichment queue empties.
type drainEstimate struct {
	trend string        // one of the trend constants; "" when nothing was sampled
	eta   time.Duration // while draining: the last depth over the net drain rate
	rate  float64       // net drain rate, incidents per second (negative while growing)
	// best is the last depth over the budget: the soonest the queue can
	// empty, if no change arrived any more; 0 when the budget is unknown or
	// nothing is queued.
	best time.Duration
}

// steadyShare is the share of the budget below which a net drain (or
// growth) counts as steady: changes take more than 95 % of the budget, the
// queue swings with their bursts and its depth over such a small rate would
// be an ETA that jumps by the hour with each burst.
const steadyShare = 0.05

// estimateDrain estimates, from the queue depths of samples (oldest first),
// when the queue empties. The net drain rate is the least-squares slope of
// depth over time, so it counts the enrichments done and the changes that
// arrived alike, and it smooths the bursts of both; the ETA is the last
// depth over that rate. Until the samples span minSpan it only says
// "measuring". A queue that does not shrink has no ETA: it is "growing" or
// "steady".
//
// With the budget known (budget calls per second, > 0) the estimate is
// bounded: the queue cannot drain faster than the budget, so the ETA is at
// least the last depth over the budget (best), and a net rate within
// steadyShare of the budget either way is "steady", so a draining ETA is
// at most 1/steadyShare times best.
func estimateDrain(samples []queueSample, minSpan time.Duration, budget float64) drainEstimate {
	if len(samples) == 0 {
		return drainEstimate{}
	}
	last := samples[len(samples)-1]
	if last.depth == 0 {
		return drainEstimate{trend: trendEmpty}
	}
	if len(samples) < 2 || last.at.Sub(samples[0].at) < minSpan {
		return drainEstimate{trend: trendMeasuring}
	}
	var mt, md float64
	for _, s := range samples {
		mt += s.at.Sub(samples[0].at).Seconds()
		md += float64(s.depth)
	}
	mt, md = mt/float64(len(samples)), md/float64(len(samples))
	var cov, vt float64
	for _, s := range samples {
		dt := s.at.Sub(samples[0].at).Seconds() - mt
		cov += dt * (float64(s.depth) - md)
		vt += dt * dt
	}
	rate := -cov / vt
	var best time.Duration
	band := 0.0 // |rate| within it is steady
	if budget > 0 {
		rate = min(rate, budget)
		best = max(time.Second, time.Duration(float64(last.depth)/budget*float64(time.Second)).Round(time.Second))
		band = steadyShare * budget
	}
	switch {
	case rate > band:
		eta := time.Duration(float64(last.depth) / rate * float64(time.Second))
		return drainEstimate{trend: trendDraining, rate: rate, eta: max(best, time.Second, eta.Round(time.Second)), best: best}
	case rate < -band:
		return drainEstimate{trend: trendGrowing, rate: rate, best: best}
	default:
		return drainEstimate{trend: trendSteady, rate: rate, best: best}
	}
}

// shortDuration renders d to the second below an hour (54s, 12m05s) and to
// the minute above (3h07m).
func shortDuration(d time.Duration) string {
	switch {
	case d < time.Minute:
		return fmt.Sprintf("%ds", int(d.Seconds()))
	case d < time.Hour:
		return fmt.Sprintf("%dm%02ds", int(d.Minutes()), int(d.Seconds())%60)
	default:
		return fmt.Sprintf("%dh%02dm", int(d.Hours()), int(d.Minutes())%60)
	}
}

// queueNote is what follows the queue depth on screen: "(~54s)" while the
// queue drains, "(growing)", "(steady)", or nothing (empty, or measuring).
func (d drainEstimate) queueNote() string {
	switch d.trend {
	case trendDraining:
		return " (~" + shortDuration(d.eta) + ")"
	case trendGrowing, trendSteady:
		return " (" + d.trend + ")"
	}
	return ""
}

// line renders the terminal line, for example
//
//	versions 305 | xdr.alerts 452, xdr.artifacts 123, xdr.incidents 335 | enrich queue 269 (~54s), budget 9/10 per 2s | lag 2s
func (v progressView) line() string {
	var b strings.Builder
	fmt.Fprintf(&b, "versions %d |", v.versions)
	for i, k := range sortedKeys(v.produced) {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, " %s %d", k, v.produced[k])
	}
	fmt.Fprintf(&b, " | enrich queue %d%s", v.queue, v.drain.queueNote())
	if v.limit > 0 {
		fmt.Fprintf(&b, ", budget %d/%d per %s", v.inWindow, v.limit, v.window)
	}
	if v.rateLimits > 0 {
		fmt.Fprintf(&b, ", 429s %d", v.rateLimits)
	}
	if v.dlq > 0 {
		fmt.Fprintf(&b, ", dlq %d", v.dlq)
	}
	fmt.Fprintf(&b, " | lag %s", v.lag)
	return b.String()
}

// attrs are the log line's attributes.
func (v progressView) attrs() []any {
	produced := make([]any, 0, len(v.produced))
	for _, k := range sortedKeys(v.produced) {
		produced = append(produced, slog.Int64(k, v.produced[k]))
	}
	a := []any{"incident_versions", v.versions, slog.Group("records", produced...), "enrich_queue", v.queue}
	if v.drain.trend != "" {
		a = append(a, "enrich_queue_trend", v.drain.trend)
	}
	if v.drain.trend == trendDraining {
		a = append(a, "enrich_eta_seconds", int64(v.drain.eta.Seconds()))
	}
	if v.drain.best > 0 {
		a = append(a, "enrich_eta_min_seconds", int64(v.drain.best.Seconds()))
	}
	if v.limit > 0 {
		a = append(a, "enrich_calls_in_window", v.inWindow, "enrich_rate_limit", v.limit, "enrich_rate_window", v.window.String())
	}
	return append(a, "enrich_429s", v.rateLimits, "dlq", v.dlq, "watermark_lag_seconds", int64(v.lag.Seconds()))
}

// printSummary writes what the run did and, if the pipeline started, how to
// read the topics.
func printSummary(out io.Writer, p *pipeline.Pipeline, cfg *config.Config) {
	s := p.Stats()
	fmt.Fprintf(out, "\nSummary: %d polls, %d incident versions, %d extra-data calls (%d answered 429), %d enrichments in the DLQ",
		s.Polls, s.Versions, s.Enrich.Calls, s.Enrich.RateLimited, s.Enrich.DLQ)
	if s.Started && s.Offsets.Pending > 0 {
		fmt.Fprintf(out, ", %d enrichments still owed (kept in %s; the next start resumes them)", s.Offsets.Pending, cfg.TopicOffsets)
	}
	fmt.Fprintln(out)
	for _, k := range sortedKeys(s.Produced) {
		fmt.Fprintf(out, "  %-24s %d records\n", k, s.Produced[k])
	}
	if s.Started {
		printHowToRead(out, cfg, false)
	}
}

// printHowToRead tells how to read the topics: with `connector tail` and
// with kcat. running says whether the connector is still running, which
// matters for the embedded broker: it listens only while its connector runs.
func printHowToRead(out io.Writer, cfg *config.Config, running bool) {
	if len(cfg.KafkaBrokers) == 0 {
		return
	}
	self := selfCommand()
	kcatAt := func(addr string) string {
		return fmt.Sprintf("kcat -b %s -C -t %s -f '%%k\\t%%h\\t%%s\\n' -e", addr, cfg.TopicIncidents)
	}
	kcat := kcatAt(cfg.KafkaBrokers[0])
	if !isEmbedded(cfg) {
		fmt.Fprintf(out, "Read the topics with:\n  %s tail %s          (same KAFKA_* environment)\n", self, cfg.TopicIncidents)
		if cfg.KafkaSASLMechanism != "" || cfg.KafkaTLSEnabled || cfg.KafkaTLSCAFile != "" {
			fmt.Fprintf(out, "  %s   (plus -X security.protocol=... and the SASL/TLS settings)\n", kcat)
		} else {
			fmt.Fprintf(out, "  %s\n", kcat)
		}
		return
	}
	if running {
		fmt.Fprintf(out, "While the connector runs, read the topics of its embedded broker with:\n  %s tail %s          (KAFKA_BROKERS unset: it finds the broker through DATA_DIR)\n  %s\n",
			self, cfg.TopicIncidents, kcat)
		return
	}
	dir := cfg.DataDir
	if abs, err := filepath.Abs(dir); err == nil {
		dir = abs
	}
	fmt.Fprintf(out, "The embedded broker stops with the connector; its topics stay in %s. Read them now with:\n"+
		"  %s tail %s          (KAFKA_BROKERS unset, DATA_DIR as for this run: tail opens the data itself)\n"+
		"or start the connector again and, while it runs, read its broker with kcat at the address it prints:\n  %s\n",
		dir, self, cfg.TopicIncidents, kcatAt("127.0.0.1:PORT"))
}

// isEmbedded reports whether cfg's broker is the embedded one this process
// runs: DATA_DIR's broker.addr names it.
func isEmbedded(cfg *config.Config) bool {
	b, err := os.ReadFile(filepath.Join(cfg.DataDir, embedded.AddrFile))
	return err == nil && len(cfg.KafkaBrokers) == 1 && strings.TrimSpace(string(b)) == cfg.KafkaBrokers[0]
}

// selfCommand is how the user started this program: "go run ./cmd/connector"
// for a binary that go run built, else the binary's name.
func selfCommand() string {
	if strings.Contains(os.Args[0], string(filepath.Separator)+"go-build") {
		return "go run ./cmd/connector"
	}
	return filepath.Base(os.Args[0])
}

func sortedKeys(m map[string]int64) []string { return slices.Sorted(maps.Keys(m)) }

func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
