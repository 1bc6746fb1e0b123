package main

import (
	"context"
	"encoding/json"
	"log/slog"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
	"github.com/soc-tools/xdr-kafka-connector/pkg/source"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

var brokerLine = regexp.MustCompile(`embedded Kafka broker listening on (127\.0\.0\.1:\d+)`)

// hasRecords reports whether topic exists on brokers with at least one record.
func hasRecords(brokers []string, topic string) bool {
	cl, err := kgo.NewClient(kgo.SeedBrokers(brokers...))
	if err != nil {
		return false
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ends, err := kadm.NewClient(cl).ListEndOffsets(ctx, topic)
	if err != nil || ends.Error() != nil {
		return false
	}
	n := int64(0)
	ends.Each(func(o kadm.ListedOffset) { n += o.Offset })
	return n > 0
}

// TestZeroConfigDemo runs the binary with nothing configured but DATA_DIR:
// a simulated tenant feeds an embedded broker through the real pipeline.
func TestZeroConfigDemo(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"DATA_DIR": dataDir}
	p := startBinary(t, env)
	defer func() {
		if t.Failed() {
			t.Logf("connector output:\n%s", p.out.String())
		}
	}()
	var addr string
	testkit.WaitFor(t, 30*time.Second, "the embedded broker's address", func() bool {
		m := brokerLine.FindStringSubmatch(p.out.String())
		if m != nil {
			addr = m[1]
		}
		return m != nil
	})
	out := p.out.String()
	for _, w := range []string{"SIMULATED tenant", "incidents that keep changing", "10 calls per 2s (the real API allows 10 per 60s)"} {
		if !strings.Contains(out, w) {
			t.Errorf("the banner does not say %q", w)
		}
	}

	e := &testkit.Env{T: t, Brokers: []string{addr}}
	for _, topic := range []string{"xdr.incidents", "xdr.alerts", "xdr.artifacts"} {
		testkit.WaitFor(t, 60*time.Second, "records in "+topic, func() bool { return hasRecords(e.Brokers, topic) })
		recs := e.ReadTopic(topic) // validates every record against its schema
		if len(recs) == 0 || recs[0].Tenant != "simulated" || recs[0].Connector != "xdr-connector" {
			t.Errorf("%s: %d records, first %+v", topic, len(recs), recs[0].Envelope)
		}
	}
	testkit.WaitFor(t, 30*time.Second, "a committed watermark", func() bool {
		st, found := e.ReadState("xdr-connector", "simulated")
		return found && st.Watermark > 0
	})

	// While it runs, tail finds the embedded broker through DATA_DIR.
	tout, code := runBinary(t, env, "tail", "--max", "2", "xdr.alerts")
	if code != 0 || strings.Count(tout, "headers: xdr.record_type=alert") != 2 || !strings.Contains(tout, "connector running on") {
		t.Errorf("tail while running: exit %d; output:\n%s", code, tout)
	}
	// ... and filters by incident and by key.
	incident := e.ReadTopic("xdr.alerts")[0].IncidentID
	tout, code = runBinary(t, env, "tail", "--incident", incident, "--max", "1", "xdr.alerts")
	if code != 0 || strings.Count(tout, "key: ") != 1 || !strings.Contains(tout, `"incident_id": "`+incident+`"`) {
		t.Errorf("tail --incident %s while running: exit %d; output:\n%s", incident, code, tout)
	}
	tout, code = runBinary(t, env, "tail", "--key", incident, "--max", "1", "xdr.incidents")
	if code != 0 || strings.Count(tout, "key: "+incident+"\n") != 1 {
		t.Errorf("tail --key %s while running: exit %d; output:\n%s", incident, code, tout)
	}
	// A second connector on the same DATA_DIR is refused.
	sout, code := runBinary(t, env)
	if code != 1 || !strings.Contains(sout, "DATA_DIR is in use") || !strings.Contains(sout, addr) {
		t.Errorf("second connector on one DATA_DIR: exit %d; output:\n%s", code, sout)
	}

	if code := p.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Fatalf("SIGINT: exit %d, want 0", code)
	}
	out = p.out.String()
	for _, w := range []string{"Summary: ", "incident versions", "xdr.alerts ", "records", "connector tail xdr.incidents", "kcat -b 127.0.0.1:PORT -C -t xdr.incidents"} {
		if !strings.Contains(out, w) {
			t.Errorf("the summary lacks %q", w)
		}
	}

	// Once it stopped, tail opens the data it left in DATA_DIR.
	tout, code = runBinary(t, env, "tail", "xdr.connector.offsets")
	if code != 0 || !strings.Contains(tout, "no connector runs") || !strings.Contains(tout, `"kind":"state"`) || !strings.Contains(tout, `"clean_shutdown": true`) {
		t.Errorf("tail after the stop: exit %d; output:\n%s", code, tout)
	}
	// ... and filters it: every record of the incident, and nothing else.
	tout, code = runBinary(t, env, "tail", "--incident", incident, "xdr.alerts")
	if n := strings.Count(tout, "key: "); code != 0 || n == 0 || strings.Count(tout, `"incident_id": "`+incident+`"`) != n {
		t.Errorf("tail --incident %s after the stop: exit %d, %d records; output:\n%s", incident, code, n, tout)
	}
}

// samplesOf samples depth(t) every step from 0 to span (t in seconds).
func samplesOf(span, step time.Duration, depth func(t float64) int) []queueSample {
	t0 := time.Unix(1000, 0)
	var out []queueSample
	for d := time.Duration(0); d <= span; d += step {
		out = append(out, queueSample{t0.Add(d), depth(d.Seconds())})
	}
	return out
}

// TestEstimateDrain: the ETA comes from the measured net drain rate,
// arrivals included, not from the budget.
func TestEstimateDrain(t *testing.T) {
	const span, minSpan = 30 * time.Second, 15 * time.Second
	// The demo's budget, 10 calls per 2 s, spent in one burst per window.
	done := func(t float64) int { return 10 * (int(t)/2 + 1) }
	for _, tc := range []struct {
		name      string
		samples   []queueSample
		trend     string
		eta       time.Duration // exact, or
		rateRange [2]float64    // a range for the rate, for bursty queues
		note      string
	}{
		{name: "nothing sampled", samples: nil, trend: ""},
		{name: "empty", samples: samplesOf(span, time.Second, func(t float64) int { return 0 }), trend: trendEmpty, note: ""},
		{name: "measuring", samples: samplesOf(10*time.Second, time.Second, func(t float64) int { return 300 - 5*int(t) }), trend: trendMeasuring, note: ""},
		// 5 enrichments a second, 2 changes a second arriving: it drains at
		// 3 a second, not 5: 210 left take 70 s, not 42 s.
		{name: "draining with arrivals", samples: samplesOf(span, time.Second, func(t float64) int { return 300 - 3*int(t) }),
			trend: trendDraining, eta: 70 * time.Second, note: " (~1m10s)"},
		{name: "bursty drain, steady arrivals", samples: samplesOf(span, 250*time.Millisecond, func(t float64) int { return 300 - done(t) + int(2*t) }),
			trend: trendDraining, rateRange: [2]float64{2.7, 3.3}},
		// The budget drains 5 a second while 6 a second arrive (a bulk
		// update at 12 s, then a stream): the budget-based ETA said ~60s.
		{name: "growing at full budget", samples: samplesOf(span, 250*time.Millisecond, func(t float64) int {
			n := 300 - done(t) + int(4*t)
			if t >= 12 {
				n += 40
			}
			return n
		}), trend: trendGrowing, note: " (growing)"},
		{name: "steady", samples: samplesOf(span, time.Second, func(t float64) int { return 120 }), trend: trendSteady, note: " (steady)"},
	} {
		got := estimateDrain(tc.samples, minSpan, 0)
		if got.trend != tc.trend {
			t.Errorf("%s: trend %q (rate %.2f/s), want %q", tc.name, got.trend, got.rate, tc.trend)
			continue
		}
		if tc.eta > 0 && got.eta != tc.eta {
			t.Errorf("%s: ETA %s, want %s", tc.name, got.eta, tc.eta)
		}
		if r := tc.rateRange; r[1] > 0 && (got.rate < r[0] || got.rate > r[1]) {
			t.Errorf("%s: rate %.2f/s, want within %v", tc.name, got.rate, r)
		}
		if tc.note != "" && got.queueNote() != tc.note {
			t.Errorf("%s: shows %q, want %q", tc.name, got.queueNote(), tc.note)
		}
		if tc.trend != trendDraining && got.eta != 0 {
			t.Errorf("%s: an ETA (%s) for a queue that is not draining", tc.name, got.eta)
		}
	}
}

// TestDrainMeterForgetsOldSamples: the rate is measured over the last
// window only, so a queue that grew and now drains is shown draining.
func TestDrainMeterForgetsOldSamples(t *testing.T) {
	m := newDrainMeter(10, 2*time.Second) // the demo's budget: a 2-minute drain window
	if m.window != 2*time.Minute || m.minSpan != 30*time.Second {
		t.Fatalf("drain window %s, first estimate after %s; want 2m and 30s", m.window, m.minSpan)
	}
	t0 := time.Unix(1000, 0)
	for s := range 241 {
		depth := 100 + 5*s // grows for 2 minutes ...
		if s > 120 {
			depth = 700 - 4*(s-120) // ... then drains at 4 a second
		}
		m.add(t0.Add(time.Duration(s)*time.Second), depth)
	}
	if n := len(m.samples); n != 121 {
		t.Errorf("%d samples kept, want the last 2 minutes' (121)", n)
	}
	if est := m.estimate(); est.trend != trendDraining || est.eta != 55*time.Second {
		t.Errorf("estimate %+v, want draining, 220 left at 4/s: 55s", est)
	}
	if w, first := drainWindow(time.Minute); w != 4*time.Minute || first != 2*time.Minute {
		t.Errorf("with the API's 60 s window: drain window %s, first estimate after %s; want 4m and 2m", w, first)
	}
}

// TestDrainEstimateIsStableUnderBulkUpdates replays the demo's pattern for
// 20 minutes — a bulk update queues refill incidents every 28 s while the
// budget drains 10 every 2 s — sampled as the display does. Changes then
// take about the whole budget: the queue swings with the bulk updates and
// does not empty, so the estimate must say "growing" or "steady", never an
// ETA over a near-zero rate that jumps by the hour (62 s, then 4958 s). With
// fewer changes it drains, and every ETA stays within ten times the best
// (the depth over the budget) and twenty times it, which bounds how far it
// can jump.
func TestDrainEstimateIsStableUnderBulkUpdates(t *testing.T) {
	replay := func(refill int, each func(depth int, est drainEstimate)) {
		m := newDrainMeter(10, 2*time.Second)
		t0 := time.Unix(1000, 0)
		depth := 300
		for tick := range 20 * 60 * 4 { // 250 ms each
			at := time.Duration(tick) * 250 * time.Millisecond
			if tick > 0 && at%(28*time.Second) == 0 {
				depth += refill
			}
			if at%(2*time.Second) == 0 {
				depth -= min(10, depth)
			}
			m.add(t0.Add(at), depth)
			if at >= 2*time.Minute {
				each(depth, m.estimate())
			}
		}
	}
	// 150 every 28 s: 5.36/s arrive, 5/s drain, it grows by 0.36/s; 140:
	// it neither grows nor drains.
	for _, refill := range []int{150, 140} {
		trends := map[string]int{}
		replay(refill, func(depth int, est drainEstimate) {
			trends[est.trend]++
			if est.eta != 0 || est.best != max(time.Second, time.Duration(float64(depth)/5*float64(time.Second)).Round(time.Second)) {
				t.Fatalf("refill %d, depth %d: %+v, want no ETA and a best of depth/5 s", refill, depth, est)
			}
		})
		t.Logf("refill %d every 28 s: trends %v", refill, trends)
		if trends[trendDraining] != 0 || refill == 140 && len(trends) != 1 {
			t.Errorf("refill %d every 28 s: trends %v, want growing or steady, and steady throughout for a queue that neither grows nor drains", refill, trends)
		}
	}
	// 80 every 28 s: it drains at about 2.1/s net.
	var etas []time.Duration
	replay(80, func(depth int, est drainEstimate) {
		if est.trend == trendDraining {
			etas = append(etas, est.eta)
			if est.eta < est.best || est.eta > 20*est.best {
				t.Fatalf("depth %d: ETA %s outside [%s, 20×%[3]s]", depth, est.eta, est.best)
			}
		}
	})
	if len(etas) == 0 {
		t.Fatal("a queue that drains at 2.1/s net never showed an ETA")
	}
	t.Logf("refill 80 every 28 s: ETA from %s to %s", slices.Min(etas), slices.Max(etas))
}

func TestShortDuration(t *testing.T) {
	for d, want := range map[time.Duration]string{
		54 * time.Second: "54s", 70 * time.Second: "1m10s", 12*time.Minute + 5*time.Second: "12m05s",
		3*time.Hour + 7*time.Minute + 40*time.Second: "3h07m",
	} {
		if got := shortDuration(d); got != want {
			t.Errorf("shortDuration(%s) = %q, want %q", d, got, want)
		}
	}
}

// TestProgressShowsTheLimitersCallsInWindow: the budget on screen is the
// limiter's own count of slots in use, not an estimate of the display's.
func TestProgressShowsTheLimitersCallsInWindow(t *testing.T) {
	var s pipeline.Stats
	s.Enrich.Limiter.InUse = 7
	s.QueueDepth = 25
	v := newProgressView(s, time.Unix(1000, 0), progressConfig{limit: 10, window: 2 * time.Second}, drainEstimate{})
	if v.inWindow != 7 {
		t.Fatalf("calls in window = %d, want the limiter's 7", v.inWindow)
	}
	if want := "budget 7/10 per 2s"; !strings.Contains(v.line(), want) {
		t.Fatalf("line %q lacks %q", v.line(), want)
	}
}

func TestProgressLine(t *testing.T) {
	v := progressView{versions: 305, produced: map[string]int64{"xdr.incidents": 335, "xdr.alerts": 452}, queue: 269,
		drain: drainEstimate{trend: trendDraining, eta: 54 * time.Second}, inWindow: 9, limit: 10, window: 2 * time.Second, lag: 2 * time.Second}
	want := "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269 (~54s), budget 9/10 per 2s | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line:\n got %s\nwant %s", got, want)
	}
	v.drain = drainEstimate{trend: trendGrowing, rate: -1}
	want = "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269 (growing), budget 9/10 per 2s | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line of a growing queue:\n got %s\nwant %s", got, want)
	}
	v.limit, v.rateLimits, v.drain = 0, 3, drainEstimate{trend: trendMeasuring}
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
	scr := newScreen(term)
	log := slog.New(slog.NewTextHandler(scr.logWriter(term), nil))
	stopTTY := startProgress(ctx, p, term, log, withRateBudget(10, time.Second), progressTerminal(true), onScreen(scr), progressEvery(100*time.Millisecond))
	stopLog := startProgress(ctx, p, term, log, withRateBudget(10, time.Second), progressTerminal(false), progressEvery(100*time.Millisecond))
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

// TestDemoRestartResumesTheSameTenant stops the demo while enrichments are
// owed, one of them for an incident the simulated tenant created during the
// run, and starts it again on the same DATA_DIR: the tenant kept there is
// resumed, so the owed enrichment of that incident succeeds, nothing is
// dead-lettered, and the enrichments drain at the full budget. The demo runs
// with single extra-data calls here, whose budget the drain is measured
// against: in bulk, the first call after the restart empties the queue.
func TestDemoRestartResumesTheSameTenant(t *testing.T) {
	dataDir := filepath.Join(t.TempDir(), "data")
	env := map[string]string{"DATA_DIR": dataDir, "ENRICH_BULK": "off"}
	start := time.Now().UnixMilli()
	first := startBinary(t, env)
	var out string
	defer func() {
		if t.Failed() {
			t.Logf("connector output:\n%s", out)
		}
	}()
	brokers := func(p *proc) []string {
		var addr string
		testkit.WaitFor(t, 30*time.Second, "the embedded broker's address", func() bool {
			m := brokerLine.FindAllStringSubmatch(p.out.String(), -1)
			if len(m) > 0 {
				addr = m[len(m)-1][1]
			}
			return addr != ""
		})
		return []string{addr}
	}
	e := &testkit.Env{T: t, Brokers: brokers(first)}

	// Wait for a committed enrichment owed for an incident created by the
	// tenant's changes during this run (created after start).
	created := ""
	creation := map[string]int64{} // incident id -> creation_time, as the first run saw it
	deadline := time.Now().Add(60 * time.Second)
	for created == "" {
		if time.Now().After(deadline) {
			out = first.out.String()
			t.Fatal("no enrichment owed for an incident created during the run")
		}
		time.Sleep(time.Second)
		st, found := e.ReadState("xdr-connector", "simulated")
		if !found || len(st.Pending) == 0 {
			continue
		}
		for _, r := range e.ReadTopic("xdr.incidents") {
			var inc struct {
				CreationTime int64 `json:"creation_time"`
			}
			if r.Type != record.TypeIncidentChange || json.Unmarshal(r.Data, &inc) != nil {
				continue
			}
			creation[r.IncidentID] = inc.CreationTime
			if _, owed := st.Pending[r.IncidentID]; owed && inc.CreationTime > start && created == "" {
				created = r.IncidentID
			}
		}
	}
	if code := first.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		out = first.out.String()
		t.Fatalf("first run: SIGINT exit %d", code)
	}
	for _, f := range []string{embedded.DemoStateFile, embedded.DemoStepsFile} {
		if _, err := os.Stat(filepath.Join(dataDir, f)); err != nil {
			t.Fatalf("the simulated tenant is not kept in DATA_DIR: %v", err)
		}
	}

	restart := time.Now().UnixMilli()
	second := startBinary(t, env)
	e.Brokers = brokers(second)
	const span, window, limit = 8 * time.Second, 2 * time.Second, 10
	var fetched []int64
	var differs []string
	testkit.WaitFor(t, 90*time.Second, "the created incident's enrichment and "+span.String()+" of enrichments after the restart", func() bool {
		fetched, differs = fetched[:0], differs[:0]
		enrichedCreated := false
		for _, r := range e.ReadTopic("xdr.incidents") {
			if r.Type == record.TypeIncidentEnriched && r.Enrichment != nil && r.Enrichment.FetchedAt >= restart {
				fetched = append(fetched, r.Enrichment.FetchedAt)
				enrichedCreated = enrichedCreated || r.IncidentID == created
				// The same tenant: an incident the first run saw has not
				// been created anew.
				var inc struct {
					CreationTime int64 `json:"creation_time"`
				}
				if c, seen := creation[r.IncidentID]; seen && (json.Unmarshal(r.Data, &inc) != nil || inc.CreationTime != c) {
					differs = append(differs, r.IncidentID)
				}
			}
		}
		slices.Sort(fetched)
		return enrichedCreated && len(fetched) > 0 && fetched[len(fetched)-1]-fetched[0] > span.Milliseconds()
	})
	if code := second.signal(t, syscall.SIGINT, 30*time.Second); code != 0 {
		t.Errorf("second run: SIGINT exit %d", code)
	}
	out = second.out.String()
	if !strings.Contains(out, "resumed from "+filepath.Join(dataDir, embedded.DemoStateFile)) {
		t.Errorf("the second run does not say it resumed the tenant kept in DATA_DIR")
	}
	if strings.Contains(out, "no simulated tenant") || strings.Contains(out, "does not exist") {
		t.Errorf("the second run did not find the tenant, or met an incident the tenant does not have")
	}
	if len(differs) > 0 {
		t.Errorf("after the restart, incidents %v have another creation_time than in the first run: a new tenant", differs)
	}
	if hasRecords(e.Brokers, "xdr.dlq") {
		t.Errorf("records in xdr.dlq after the restart")
	}
	inSpan := 0
	for _, f := range fetched {
		if f-fetched[0] <= span.Milliseconds() {
			inSpan++
		}
	}
	allowed := int(span/window) * limit
	t.Logf("incident %s created in the first run was enriched in the second; %d enrichments in the first %s after the restart (budget %d)", created, inSpan, span, allowed)
	if inSpan < allowed*9/10 {
		t.Errorf("%d enrichments in %s after the restart, want at least 90%% of the budget's %d", inSpan, span, allowed)
	}
}

// TestFleetLinesShowEachQueuesTrend: the tenants display measures each
// tenant's queue, and the total, and shows when each empties.
func TestFleetLinesShowEachQueuesTrend(t *testing.T) {
	m := fleetMeters{}
	t0 := time.Unix(1000, 0)
	var drain map[string]drainEstimate
	for s := range 31 { // 30 s: enough for a first estimate at 2 s windows
		drain = m.add(t0.Add(time.Duration(s)*time.Second), []app.TenantStatus{
			{ID: "draining", State: app.StateRunning, QueueDepth: 100 - 2*s, BudgetLimit: 10, BudgetWindowSeconds: 2},
			{ID: "growing", State: app.StateRunning, QueueDepth: 10 + 3*s, BudgetLimit: 10, BudgetWindowSeconds: 2},
		})
	}
	lines := fleetLines([]app.TenantStatus{
		{ID: "draining", State: app.StateRunning, QueueDepth: 40, BudgetLimit: 10},
		{ID: "growing", State: app.StateRunning, QueueDepth: 100, BudgetLimit: 10},
	}, drain)
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
