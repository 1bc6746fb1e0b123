package progress

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
	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
)

// Progress cadence: the terminal line is redrawn every ttyEvery, the log line
// written every logEvery; figures are sampled every sampleEvery.
const (
	ttyEvery    = 500 * time.Millisecond
	logEvery    = 15 * time.Second
	sampleEvery = 250 * time.Millisecond
)

// Option configures Start.
type Option func(*progressConfig)

type progressConfig struct {
	limit  int           // extra-data calls allowed ...
	window time.Duration // ... per window; 0: budget unknown, not shown
	every  time.Duration // display cadence; default by terminal or not
	tty    *bool         // force the terminal mode (tests)
	screen *Screen       // where the terminal line is drawn; default: out alone
}

// OnScreen draws the terminal line on scr, the screen the logs also write
// through (see Screen.LogWriter), so that a log line never lands in the
// middle of the progress line.
func OnScreen(scr *Screen) Option { return func(c *progressConfig) { c.screen = scr } }

// WithRateBudget tells the display the extra-data budget (ENRICH_RATE_LIMIT
// calls per ENRICH_RATE_WINDOW), so that it shows the budget in use, and
// measures the queue's drain rate over several of its windows (drain.Window).
// Without it, the budget is not shown and the drain rate is measured over 2
// minutes.
func WithRateBudget(limit int, window time.Duration) Option {
	return func(c *progressConfig) { c.limit, c.window = limit, window }
}

// Every sets the display cadence (default 500ms on a terminal, 15s
// otherwise).
func Every(d time.Duration) Option { return func(c *progressConfig) { c.every = d } }

// Terminal forces the terminal display on or off (default: whether
// out is a terminal).
func Terminal(on bool) Option { return func(c *progressConfig) { c.tty = &on } }

// Start shows the pipeline's progress on out until the returned stop
// is called: one line redrawn in place every 500ms when out is a terminal
// (on the screen given with OnScreen),
// otherwise a structured "progress" log line on log every 15 seconds. stop
// waits for the display to end; it must be called once.
func Start(ctx context.Context, p *pipeline.Pipeline, out io.Writer, log *slog.Logger, opts ...Option) (stop func()) {
	var pc progressConfig
	for _, o := range opts {
		o(&pc)
	}
	tty := IsTerminal(out)
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
		pc.screen = NewScreen(out)
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Go(func() {
		t := time.NewTicker(min(sampleEvery, pc.every))
		defer t.Stop()
		next := time.Now().Add(pc.every)
		meter := drain.NewMeter(pc.limit, pc.window)
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
				if s.Enrich.Capacity > 0 {
					meter.SetBudgetRate(s.Enrich.Capacity) // the bulk calls' incidents count too
				}
				meter.Add(now, s.QueueDepth)
				if now.Before(next) {
					continue
				}
				next = now.Add(pc.every)
				v := newProgressView(s, now, pc, meter.Estimate())
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
	drain      drain.Estimate   // when the queue empties, at its measured drain rate
	inWindow   uint64           // extra-data calls in the last rate window, as the limiter counts them
	limit      int              // 0: budget unknown
	window     time.Duration    //
	bulkInUse  int              // bulk calls in the bulk endpoint's window, while bulk enrichment is active
	bulkLimit  int              // 0: bulk enrichment not active, not shown
	rateLimits uint64           // 429 replies
	dlq        uint64           // enrichments given up
	lag        time.Duration    // now - watermark; 0 before the first watermark
}

func newProgressView(s pipeline.Stats, now time.Time, pc progressConfig, est drain.Estimate) progressView {
	v := progressView{versions: s.Versions, produced: s.Produced, queue: s.QueueDepth, inWindow: uint64(s.Enrich.Limiter.InUse),
		limit: pc.limit, window: pc.window, rateLimits: s.Enrich.RateLimited, dlq: s.Enrich.DLQ, drain: est}
	if s.Offsets.Watermark > 0 {
		v.lag = max(0, now.Sub(time.UnixMilli(s.Offsets.Watermark)).Truncate(time.Second))
	}
	if s.Enrich.BulkRateLimit > 0 && s.Enrich.BulkMode != enrich.BulkOff && !s.Enrich.BulkFallback {
		v.bulkInUse, v.bulkLimit = s.Enrich.BulkLimiter.InUse, s.Enrich.BulkRateLimit
	}
	return v
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
	fmt.Fprintf(&b, " | enrich queue %d%s", v.queue, v.drain.Note())
	if v.limit > 0 {
		fmt.Fprintf(&b, ", budget %d/%d per %s", v.inWindow, v.limit, v.window)
	}
	if v.bulkLimit > 0 {
		fmt.Fprintf(&b, ", bulk %d/%d", v.bulkInUse, v.bulkLimit)
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
	if v.drain.Trend != "" {
		a = append(a, "enrich_queue_trend", v.drain.Trend)
	}
	if v.drain.Trend == drain.Draining {
		a = append(a, "enrich_eta_seconds", int64(v.drain.ETA.Seconds()))
	}
	if v.drain.Best > 0 {
		a = append(a, "enrich_eta_min_seconds", int64(v.drain.Best.Seconds()))
	}
	if v.limit > 0 {
		a = append(a, "enrich_calls_in_window", v.inWindow, "enrich_rate_limit", v.limit, "enrich_rate_window", v.window.String())
	}
	if v.bulkLimit > 0 {
		a = append(a, "bulk_calls_in_window", v.bulkInUse, "bulk_rate_limit", v.bulkLimit)
	}
	return append(a, "enrich_429s", v.rateLimits, "dlq", v.dlq, "watermark_lag_seconds", int64(v.lag.Seconds()))
}

// PrintSummary writes what the run did and, if the pipeline started, how to
// read the topics.
func PrintSummary(out io.Writer, p *pipeline.Pipeline, cfg *config.Config) {
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
		PrintHowToRead(out, cfg, false)
	}
}

// PrintHowToRead tells how to read the topics: with `connector tail` and
// with kcat. running says whether the connector is still running, which
// matters for the embedded broker: it listens only while its connector runs.
func PrintHowToRead(out io.Writer, cfg *config.Config, running bool) {
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

func IsTerminal(w io.Writer) bool {
	f, ok := fileOf(w)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// fileOf returns the file w writes to: w itself, or the file under the
// writers that wrap it and tell what they wrap (Unwrap, as the scrubbing
// writer of the commands' output does).
func fileOf(w io.Writer) (*os.File, bool) {
	for range 8 {
		switch v := w.(type) {
		case *os.File:
			return v, true
		case interface{ Unwrap() io.Writer }:
			w = v.Unwrap()
		default:
			return nil, false
		}
	}
	return nil, false
}
