package main

import (
	"bytes"
	"context"
	"log/slog"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
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

func TestDrainTime(t *testing.T) {
	for _, tc := range []struct {
		n, limit int
		window   time.Duration
		want     time.Duration
	}{
		{0, 10, time.Minute, 0},
		{1, 10, time.Minute, time.Minute},
		{10, 10, time.Minute, time.Minute},
		{11, 10, time.Minute, 2 * time.Minute},
		{288, 10, 2 * time.Second, 58 * time.Second},
		{5, 0, time.Minute, 0}, // budget unknown
	} {
		if got := drainTime(tc.n, tc.limit, tc.window); got != tc.want {
			t.Errorf("drainTime(%d, %d, %s) = %s, want %s", tc.n, tc.limit, tc.window, got, tc.want)
		}
	}
}

// TestProgressShowsTheLimitersCallsInWindow: the budget on screen is the
// limiter's own count of slots in use, not an estimate of the display's.
func TestProgressShowsTheLimitersCallsInWindow(t *testing.T) {
	var s pipeline.Stats
	s.Enrich.Limiter.InUse = 7
	s.QueueDepth = 25
	v := newProgressView(s, time.Unix(1000, 0), progressConfig{limit: 10, window: 2 * time.Second})
	if v.inWindow != 7 {
		t.Fatalf("calls in window = %d, want the limiter's 7", v.inWindow)
	}
	if want := "budget 7/10 per 2s"; !strings.Contains(v.line(), want) {
		t.Fatalf("line %q lacks %q", v.line(), want)
	}
}

func TestProgressLine(t *testing.T) {
	v := progressView{versions: 305, produced: map[string]int64{"xdr.incidents": 335, "xdr.alerts": 452}, queue: 269,
		eta: 54 * time.Second, inWindow: 9, limit: 10, window: 2 * time.Second, lag: 2 * time.Second}
	want := "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269 (~54s), budget 9/10 per 2s | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line:\n got %s\nwant %s", got, want)
	}
	v.limit, v.rateLimits = 0, 3
	want = "versions 305 | xdr.alerts 452, xdr.incidents 335 | enrich queue 269, 429s 3 | lag 2s"
	if got := v.line(); got != want {
		t.Errorf("line without a budget:\n got %s\nwant %s", got, want)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestProgressFromARunningPipeline drives both displays from a real pipeline
// with a backlog: the terminal line and the log line show the queue, its
// drain time at the budget, and the budget in use.
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

	var tty, logs lockedBuffer
	log := slog.New(slog.NewTextHandler(&logs, nil))
	stopTTY := startProgress(ctx, p, &tty, log, withRateBudget(10, time.Second), progressTerminal(true), progressEvery(100*time.Millisecond))
	stopLog := startProgress(ctx, p, &tty, log, withRateBudget(10, time.Second), progressTerminal(false), progressEvery(100*time.Millisecond))
	line := regexp.MustCompile(`\r\x1b\[Kversions (\d+) \| .*xdr\.incidents \d+ \| enrich queue (\d+) \(~(\d+)s\), budget (\d+)/10 per 1s \| lag `)
	testkit.WaitFor(t, 20*time.Second, "a line with a queue and the budget in use", func() bool {
		for _, m := range line.FindAllStringSubmatch(tty.String(), -1) {
			if m[2] != "0" && m[3] != "0" && m[4] != "0" {
				return true
			}
		}
		return false
	})
	testkit.WaitFor(t, 10*time.Second, "a progress log line", func() bool {
		s := logs.String()
		return strings.Contains(s, "msg=progress") && strings.Contains(s, "enrich_calls_in_window=") && strings.Contains(s, "records.xdr.incidents=")
	})
	stopTTY()
	stopLog()
	for _, m := range line.FindAllStringSubmatch(tty.String(), -1) {
		if n, _ := strconv.Atoi(m[4]); n > 10 {
			t.Errorf("budget in use above the limit: %q", m[0])
		}
	}
}
