package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/writeback"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// sendLog records, in one order, the requests a tenant's client sends
// (after the pacer granted them) and the moments a poll starts to wait for
// the pacer.
type sendLog struct {
	mu     sync.Mutex
	events []sendEvent
}

type sendEvent struct {
	kind string // "wait" (a poll waits for the pacer), "poll" (granted), "apply" (a write-back read or write sent)
	at   time.Time
}

func (l *sendLog) add(kind string) {
	l.mu.Lock()
	l.events = append(l.events, sendEvent{kind: kind, at: time.Now()})
	l.mu.Unlock()
}

func (l *sendLog) snapshot() []sendEvent {
	l.mu.Lock()
	defer l.mu.Unlock()
	return append([]sendEvent(nil), l.events...)
}

// RoundTrip logs the applier's requests (its reads filter by incident id;
// its writes are update_incident and update_alerts), then sends every
// request; polls (get_incidents without an incident id filter) are logged
// by the poll loop.
func (l *sendLog) RoundTrip(r *http.Request) (*http.Response, error) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	r.Body.Close()
	r.Body = io.NopCloser(bytes.NewReader(body))
	if !strings.HasSuffix(strings.TrimSuffix(r.URL.Path, "/"), "get_incidents") || bytes.Contains(body, []byte("incident_id_list")) {
		l.add("apply")
	}
	return http.DefaultTransport.RoundTrip(r)
}

// queuedCtx calls queued the first time Done is called: the pacer calls it
// only once the caller is in its queue (a call granted at once never waits),
// so queued marks the moment a poll begins to wait.
type queuedCtx struct {
	context.Context
	once   sync.Once
	queued func()
}

func (c *queuedCtx) Done() <-chan struct{} {
	c.once.Do(c.queued)
	return c.Context.Done()
}

// TestWritebackBurstDrainsAtThePacingRate: a burst of 400 commands drains
// through the tenant's pacer while a poll loop polls on the same pacer, the
// simulated tenant holding every endpoint to exactly the pacer's rate in any
// one-second window:
//   - 0 × 429;
//   - the tenant's calls run at the pacing rate (their count over the drain,
//     divided by its length, is close to the rate and never above it);
//   - no poll waits behind more than one write-back request: between a
//     poll's asking the pacer and its request, at most one of the applier's
//     requests is sent.
//
// The rate is fast (120 a second) to keep the test short, yet slow enough
// that two busy cores still make the calls faster than the pacer grants
// them, so that the pacer, not the machine, sets the pace and polls wait
// for it; the pacer is the same at 10.
func TestWritebackBurstDrainsAtThePacingRate(t *testing.T) {
	const (
		perSecond = 120
		n         = 400
		pollEvery = 40 * time.Millisecond
	)
	env := testkit.New(t, xdrtest.Config{Seed: 25, Incidents: 40, RequestsPerSecond: perSecond})
	log := &sendLog{}
	client, err := xdr.New(xdr.Config{BaseURL: env.BaseURL, KeyID: env.KeyID, Key: xdr.NewSecret(env.Key), Timeout: 5 * time.Second},
		xdr.WithHTTPClient(&http.Client{Transport: log}))
	if err != nil {
		t.Fatal(err)
	}
	pa := paced(client, perSecond)
	kcl := env.Producer()
	defer kcl.Close()
	ctx := context.Background()
	if _, err := kadm.NewClient(kcl).CreateTopics(ctx, 3, 1, nil, "xdr.commands"); err != nil {
		t.Fatal(err)
	}
	ids := env.Sim.IncidentIDs()
	recs := make([]*kgo.Record, n)
	for i := range n {
		sev := []string{"low", "medium", "high", "critical"}[i%4]
		id := ids[i%len(ids)]
		b, _ := json.Marshal(writeback.Command{CommandID: fmt.Sprint("burst-", i), Tenant: "acme", IncidentID: id, Action: "set_severity", Severity: &sev})
		recs[i] = &kgo.Record{Topic: "xdr.commands", Key: []byte("acme/" + id), Value: b}
	}
	if err := kcl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		t.Fatal(err)
	}
	a, runCtx, cancel, done := runApplier(t, ctx, env, pa, kcl)
	defer cancel()

	// The poll loop: one get_incidents call each pollEvery, as a caught-up
	// poll loop makes them.
	pollDone := make(chan struct{})
	go func() {
		defer close(pollDone)
		tick := time.NewTicker(pollEvery)
		defer tick.Stop()
		for {
			select {
			case <-runCtx.Done():
				return
			case <-tick.C:
			}
			// pacedAPI.GetIncidents, with the grant logged as soon as the
			// pacer gives it (the request itself may be sent later when
			// the process stalls).
			pctx := &queuedCtx{Context: runCtx, queued: func() { log.add("wait") }}
			_, err := enrich.Paced(pctx, pa.lim, func() (*xdr.IncidentsReply, error) {
				log.add("poll")
				return client.GetIncidents(runCtx, xdr.IncidentsRequest{SearchTo: 100})
			})
			if err != nil && runCtx.Err() == nil {
				t.Errorf("poll: %v", err)
			}
		}
	}()
	testkit.WaitFor(t, 60*time.Second, "the burst applied", func() bool { return a.Counts().Applied == n })
	cancel()
	<-pollDone
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if c := a.Counts(); c.Rejected != 0 || c.Failed != 0 {
		t.Errorf("counts %+v, want every command applied", c)
	}
	if got := env.Sim.CountPaced429(); got != 0 {
		t.Errorf("%d calls refused by the tenant's budget of %d a second, want 0", got, perSecond)
	}

	events := log.snapshot()
	var first, last time.Time
	applies, polls, sent := 0, 0, 0
	for _, e := range events {
		if e.kind == "apply" {
			if first.IsZero() {
				first = e.at
			}
			last = e.at
			applies++
		}
	}
	// Calls of either kind sent while the burst drained.
	for _, e := range events {
		if e.kind != "wait" && !e.at.Before(first) && !e.at.After(last) {
			sent++
		}
	}
	if applies != 3*n {
		t.Errorf("the applier sent %d requests, want %d (a read before, the write and a read after each command)", applies, 3*n)
	}
	drain := last.Sub(first)
	rate := float64(sent-1) / drain.Seconds()
	ratio := rate / perSecond
	t.Logf("%d commands (%d write-back requests) drained in %s beside the polls: %d requests, %.1f a second = %.2f × the pacing rate",
		n, applies, drain.Round(time.Millisecond), sent, rate, ratio)
	// About 1 on an idle machine and beside three busy loops on two cores;
	// lower only when this machine cannot make the calls that fast; a pacer
	// that gave up half its budget could not pass 0.5. That
	// the pacer leaves no slot idle while a call waits is
	// TestPacerNeverExceedsTheBudget's bound.
	if ratio <= 0.5 {
		t.Errorf("the requests ran at %.2f × the pacing rate, want > 0.5: the burst did not drain at the pacing rate", ratio)
	}
	if limit := perSecond * (drain.Seconds() + 1); float64(sent) > limit {
		t.Errorf("%d requests in %s, more than %d a second allows (%.0f)", sent, drain, perSecond, limit)
	}

	// Each poll waits behind at most one of the applier's requests.
	worst, waited, waiting, behind := 0, 0, false, 0
	for _, e := range events {
		switch e.kind {
		case "wait":
			waiting, behind = true, 0
		case "apply":
			if waiting {
				behind++
			}
		case "poll":
			polls++
			if waiting {
				waited++
				worst = max(worst, behind)
			}
			waiting = false
		}
	}
	t.Logf("%d polls, %d of them waited for the pacer; the most write-back requests sent while one poll waited: %d", polls, waited, worst)
	if polls < int(drain/pollEvery)/4 {
		t.Errorf("%d polls in %s of drain, polling each %s: the poll loop was starved", polls, drain, pollEvery)
	}
	if waited == 0 {
		t.Error("no poll waited for the pacer: the burst did not load it")
	}
	if worst > 1 {
		t.Errorf("a poll waited while %d write-back requests were sent, want at most 1", worst)
	}
}
