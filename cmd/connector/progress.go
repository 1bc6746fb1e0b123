package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/pipeline"
)

// startProgress shows the pipeline's progress until the returned stop is
// called: a line redrawn in place on a terminal, a structured log line every
// 15 seconds otherwise.
func startProgress(ctx context.Context, p *pipeline.Pipeline, out io.Writer, log *slog.Logger) (stop func()) {
	tty := isTerminal(out)
	every := 15 * time.Second
	if tty {
		every = 500 * time.Millisecond
	}
	ctx, cancel := context.WithCancel(ctx)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				if tty {
					fmt.Fprintln(out)
				}
				return
			case <-t.C:
			}
			s := p.Stats()
			if !s.Started {
				continue
			}
			lag := time.Duration(0)
			if s.Offsets.Watermark > 0 {
				lag = time.Since(time.UnixMilli(s.Offsets.Watermark)).Truncate(time.Second)
			}
			if tty {
				fmt.Fprintf(out, "\r\033[K%s", progressLine(s, lag))
				continue
			}
			log.Info("progress", "polls", s.Polls, "incident_versions", s.Versions, "produced", s.Produced,
				"enrich_queue", s.QueueDepth, "enrich_calls", s.Enrich.Calls, "enrich_429s", s.Enrich.RateLimited,
				"dlq", s.Enrich.DLQ, "watermark_lag_seconds", int64(lag.Seconds()))
		}
	}()
	return func() { cancel(); wg.Wait() }
}

func progressLine(s pipeline.Stats, lag time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "versions %d | produced", s.Versions)
	for _, k := range sortedKeys(s.Produced) {
		fmt.Fprintf(&b, " %s=%d", k, s.Produced[k])
	}
	fmt.Fprintf(&b, " | enrich queue %d, calls %d, 429s %d, dlq %d | watermark lag %s", s.QueueDepth, s.Enrich.Calls, s.Enrich.RateLimited, s.Enrich.DLQ, lag)
	return b.String()
}

func printSummary(out io.Writer, p *pipeline.Pipeline, cfg *config.Config) {
	s := p.Stats()
	fmt.Fprintf(out, "\nSummary: %d polls, %d incident versions, %d extra-data calls (%d rate-limited), %d in the DLQ, %d enrichments still queued\n",
		s.Polls, s.Versions, s.Enrich.Calls, s.Enrich.RateLimited, s.Enrich.DLQ, s.QueueDepth)
	for _, k := range sortedKeys(s.Produced) {
		fmt.Fprintf(out, "  %-24s %d records\n", k, s.Produced[k])
	}
	if len(cfg.KafkaBrokers) > 0 {
		b := cfg.KafkaBrokers[0]
		fmt.Fprintf(out, "Read the topics with:\n  kcat -b %s -C -t %s -f '%%k\\t%%h\\t%%s\\n' -e\n", b, cfg.TopicIncidents)
	}
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
