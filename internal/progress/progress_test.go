package progress

import (
	"context"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/drain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestProgressShowsTheLimitersCallsInWindow: the budget on screen is the
// limiter's own count of slots in use, not an estimate of the display's.
func TestProgressShowsTheLimitersCallsInWindow(t *testing.T) {
	var s pipeline.Stats
	s.Enrich.Limiter.InUse = 7
	s.QueueDepth = 25
	v := newProgressView(s, time.Unix(1000, 0), progressConfig{limit: 10, window: 2 * time.Second}, drain.Estimate{})
	if v.inWindow != 7 {
		t.Fatalf("calls in window = %d, want the limiter's 7", v.inWindow)
	}
	if want := "budget 7/10 per 2s"; !strings.Contains(v.line(), want) {
		t.Fatalf("line %q lacks %q", v.line(), want)
	}
}

// While bulk enrichment is active the line shows the bulk endpoint's budget
// in use too, since the bulk calls do the work; after a fallback it does not.
func TestProgressShowsTheBulkBudget(t *testing.T) {
	var s pipeline.Stats
	s.Enrich.Limiter.InUse, s.Enrich.BulkLimiter.InUse = 0, 3
	s.Enrich.BulkMode, s.Enrich.BulkRateLimit = enrich.BulkAuto, 10
	v := newProgressView(s, time.Unix(1000, 0), progressConfig{limit: 10, window: 2 * time.Second}, drain.Estimate{})
	if want := "budget 0/10 per 2s, bulk 3/10 |"; !strings.Contains(v.line(), want) {
		t.Errorf("line %q lacks %q", v.line(), want)
	}
	s.Enrich.BulkFallback = true
	if v := newProgressView(s, time.Unix(1000, 0), progressConfig{limit: 10, window: 2 * time.Second}, drain.Estimate{}); strings.Contains(v.line(), "bulk") {
		t.Errorf("line %q shows the bulk budget after the fallback", v.line())
	}
}

func TestProgressLine(t *testing.T) {
	v := progressView{versions: 305, produced: map[string]int64{"xdr.incidents": 335, "xdr.alerts": 452}, queue: 269,
		drain: drain.Estimate{Trend: drain.Draining, ETA: 54 * time.Second}, inWindow: 9, limit: 10, window: 2 * time.Second, lag: 2 * time.Second}
	want := "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269 (~54s), budget 9/10 per 2s | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line:\n got %s\nwant %s", got, want)
	}
	v.drain = drain.Estimate{Trend: drain.Growing, Rate: -1}
	want = "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269 (growing), budget 9/10 per 2s | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line of a growing queue:\n got %s\nwant %s", got, want)
	}
	v.limit, v.rateLimits, v.drain = 0, 3, drain.Estimate{Trend: drain.Measuring}
	want = "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269, 429s 3 | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line without a budget, while measuring:\n got %s\nwant %s", got, want)
	}
}

// TestProgressFromARunningPipeline drives both displays from a real pipeline
// with a backlog: the terminal line and the log line show the queue, its
// trend, and the budget in use.
func TestProgressFromARunningPipeline(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 5, Incidents: 60, MaxAlerts: 5, RateWindow: time.Second})
	kcl := e.Producer()
	defer kcl.Close()
	p, err := pipeline.New(pipeline.Config{
		Connector: "progress", Tenant: "sim", Topics: sink.Topics{Incidents: "xdr.incidents", Alerts: "xdr.alerts", Artifacts: "xdr.artifacts", DLQ: "xdr.dlq"},
		Offsets: testkit.OffsetsTopic, CreateTopics: true, Partitions: 1, Replication: 1,
		StartFrom: time.Now().Add(-48 * time.Hour).UnixMilli(),
		Source:    source.Config{PollInterval: 100 * time.Millisecond, Lookback: time.Second},
		RateLimit: 10, RateWindow: time.Second,
		Enrich:      enrich.Config{Workers: 2, MaxAttempts: 3, CallTimeout: 5 * time.Second},
		AlertsLimit: 1000, CommitInterval: 100 * time.Millisecond, ClientOpts: e.ConnOpts(),
	}, e.API, kcl)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	defer func() { cancel(); <-done }()

	// Both displays on one terminal, as when stdout and stderr are the same
	// tty: the log-line display's lines go through the screen the terminal
	// line is drawn on.
	term := &terminal{}
	scr := NewScreen(term)
	log := slog.New(slog.NewTextHandler(scr.LogWriter(term), nil))
	stopTTY := Start(ctx, p, term, log, WithRateBudget(10, time.Second), Terminal(true), OnScreen(scr), Every(100*time.Millisecond))
	stopLog := Start(ctx, p, term, log, WithRateBudget(10, time.Second), Terminal(false), Every(100*time.Millisecond))
	line := regexp.MustCompile(`\r\x1b\[Kversions (\d+) \| .*xdr\.incidents \d+ \| enrich queue (\d+)( \(~\w+\)| \(growing\)| \(steady\))?, budget (\d+)/10 per 1s \| lag `)
	testkit.WaitFor(t, 20*time.Second, "a line with a queue and the budget in use", func() bool {
		for _, m := range line.FindAllStringSubmatch(term.String(), -1) {
			if m[2] != "0" && m[4] != "0" {
				return true
			}
		}
		return false
	})
	testkit.WaitFor(t, 10*time.Second, "a progress log line", func() bool {
		s := term.String()
		return strings.Contains(s, "msg=progress") && strings.Contains(s, "enrich_calls_in_window=") && strings.Contains(s, "records.xdr.incidents=") &&
			strings.Contains(s, "enrich_queue_trend=")
	})
	stopTTY()
	stopLog()
	for _, m := range line.FindAllStringSubmatch(term.String(), -1) {
		if n, _ := strconv.Atoi(m[4]); n > 10 {
			t.Errorf("budget in use above the limit: %q", m[0])
		}
	}
	// On the terminal, every line is a log line or the progress line, never both.
	shown := term.lines()
	for _, l := range shown[:len(shown)-1] {
		if !strings.HasPrefix(l, "time=") || strings.Contains(l, "versions ") {
			t.Fatalf("a garbled line on the terminal: %q", l)
		}
	}
	if last := shown[len(shown)-1]; !strings.HasPrefix(last, "versions ") {
		t.Errorf("the progress line is not the last line: %q", last)
	}
}

// TestFleetLinesShowEachQueuesTrend: the tenants display measures each
// tenant's queue, and the total, and shows when each empties.
func TestFleetLinesShowEachQueuesTrend(t *testing.T) {
	m := fleetMeters{}
	t0 := time.Unix(1000, 0)
	var est map[string]drain.Estimate
	for s := range 31 { // 30 s: enough for a first estimate at 2 s windows
		est = m.add(t0.Add(time.Duration(s)*time.Second), []app.TenantStatus{
			{ID: "draining", State: app.StateRunning, QueueDepth: 100 - 2*s, BudgetLimit: 10, BudgetWindowSeconds: 2},
			{ID: "growing", State: app.StateRunning, QueueDepth: 10 + 3*s, BudgetLimit: 10, BudgetWindowSeconds: 2},
		})
	}
	lines := fleetLines([]app.TenantStatus{
		{ID: "draining", State: app.StateRunning, QueueDepth: 40, BudgetLimit: 10},
		{ID: "growing", State: app.StateRunning, QueueDepth: 100, BudgetLimit: 10},
	}, est)
	for _, want := range []string{"enrich queue 140 (growing)", "growing          running  versions 0, queue 100 (growing)", "draining         running  versions 0, queue 40 (~20s)"} {
		if !strings.Contains(strings.Join(lines, "\n"), want) {
			t.Errorf("the display lacks %q:\n%s", want, strings.Join(lines, "\n"))
		}
	}
	// A tenant no longer listed is forgotten.
	m.add(t0.Add(31*time.Second), []app.TenantStatus{{ID: "growing", QueueDepth: 1}})
	if _, ok := m["draining"]; ok {
		t.Error("the meter of a removed tenant is kept")
	}
}
