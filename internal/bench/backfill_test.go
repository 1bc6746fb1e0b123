package bench

import (
	"context"
	"testing"
	"time"
)

// TestTinyBackfill drains a small backlog with bulk and with single calls
// against the simulated tenant (no Kafka, no child process) and checks the
// figures the rows judge: bulk drains every incident with every alert, the
// incidents above the bulk cap included, in far fewer calls and without a
// 429.
func TestTinyBackfill(t *testing.T) {
	cfg := Config{RateLimit: 10, BackfillIncidents: 200, BackfillWindow: time.Second,
		BackfillBulkFor: time.Minute, BackfillSingleFor: time.Second}.withDefaults()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	b, err := runBackfill(ctx, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if b.Backlog != 200 || b.AboveCap != 2 || b.AlertsCap != 50 {
		t.Fatalf("backlog %d, above the cap %d, cap %d; want 200, 2, 50", b.Backlog, b.AboveCap, b.AlertsCap)
	}
	if !b.Bulk.Drained || b.Bulk.Enriched != b.Backlog || b.Bulk.Complete != b.Backlog {
		t.Errorf("bulk run: %+v; want every incident enriched with every alert", b.Bulk)
	}
	// 200 incidents: 2 bulk calls, and one single call per incident above
	// the cap.
	if b.Bulk.BulkCalls != 2 || b.Bulk.SingleCalls != b.AboveCap || b.Bulk.Refused() != 0 {
		t.Errorf("bulk run calls: %+v; want 2 bulk calls and %d single calls, no 429", b.Bulk, b.AboveCap)
	}
	if b.Single.Drained || b.Single.Enriched == 0 || b.Single.BulkCalls != 0 || b.Single.Complete != b.Single.Enriched || b.Single.Refused() != 0 {
		t.Errorf("single run: %+v; want a bounded run of single calls only, every enrichment complete", b.Single)
	}
	// The speedup depends on the machine's load (decoding is CPU); the
	// call ratio does not: 200 single calls against 4.
	if b.CallRatio() < 30 || b.Speedup() <= 1 {
		t.Errorf("call ratio %.1f, speedup %.1f: %+v", b.CallRatio(), b.Speedup(), b)
	}
	rep := &Report{Config: Config{Backfill: true}, Backfill: b}
	rows := rep.Rows()
	if len(rows) != 4 {
		t.Fatalf("%d rows, want 4", len(rows))
	}
	if rows[1].Result != Pass || rows[2].Result != Reported || rows[3].Result != Pass {
		t.Errorf("rows: %+v", rows)
	}
}

// TestBackfillRowsJudgeAgainstTheTargets checks the verdicts from figures.
func TestBackfillRowsJudgeAgainstTheTargets(t *testing.T) {
	good := Backfill{Backlog: 3000, AboveCap: 30, AlertsCap: 50, Limit: 10, Window: time.Second,
		Bulk:   BackfillRun{Ran: 5 * time.Second, Drained: true, Enriched: 3000, Complete: 3000, BulkCalls: 30, SingleCalls: 30},
		Single: BackfillRun{Ran: 15 * time.Second, Enriched: 150, Complete: 150, SingleCalls: 150}}
	cases := []struct {
		name   string
		change func(*Backfill)
		want   []Result
	}{
		{"all good", func(*Backfill) {}, []Result{Pass, Pass, Reported, Pass}},
		{"a 429", func(b *Backfill) { b.Bulk.Bulk429 = 1 }, []Result{Pass, Miss, Reported, Pass}},
		{"alerts lost to the cap", func(b *Backfill) { b.Bulk.Complete = 2999 }, []Result{Pass, Pass, Reported, Miss}},
		{"not drained", func(b *Backfill) { b.Bulk.Drained, b.Bulk.Enriched, b.Bulk.Complete = false, 2000, 2000 }, []Result{Miss, Miss, Reported, Miss}},
		{"too slow", func(b *Backfill) { b.Bulk.Ran = 20 * time.Second }, []Result{Miss, Pass, Reported, Pass}},
		{"too many calls", func(b *Backfill) { b.Bulk.SingleCalls = 90 }, []Result{Pass, Miss, Reported, Pass}},
	}
	for _, c := range cases {
		b := good
		c.change(&b)
		rows := (&Report{Config: Config{Backfill: true}, Backfill: b}).Rows()
		for i, w := range c.want {
			if rows[i].Result != w {
				t.Errorf("%s: row %d %q = %s, want %s (%s)", c.name, i, rows[i].Figure, rows[i].Result, w, rows[i].Measured)
			}
		}
	}
	// Extrapolation: 150 of 3000 in 15 s is 300 s and 3000 calls.
	if d, extra := good.Single.DrainTime(3000); !extra || d != 300*time.Second || good.Single.CallsToDrain(3000) != 3000 {
		t.Errorf("extrapolated %s (%v), %.0f calls", d, extra, good.Single.CallsToDrain(3000))
	}
}
