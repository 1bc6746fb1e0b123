package ops

import (
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/dlq"
	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
)

// TenantStatus is one tenant's entry of `connector status --json`.
type TenantStatus struct {
	Tenant string `json:"tenant"`
	// Unconfigured: TENANTS_FILE is not set and only the offsets topic names
	// this tenant; its rate budget and DLQ topic are shown as the env's.
	Unconfigured bool `json:"unconfigured,omitempty"`
	// State is "running" (committed within 3 commit intervals, and not a
	// final commit), "stopped" (the last commit was a clean stop's),
	// "stopped-unclean" (no final commit: killed, crashed or cut off from
	// Kafka) or "never-committed".
	State               string  `json:"state"`
	Watermark           int64   `json:"watermark,omitempty"` // epoch ms
	WatermarkLagSeconds float64 `json:"watermark_lag_seconds,omitempty"`
	CommittedAt         int64   `json:"committed_at,omitempty"` // epoch ms
	CommitAgeSeconds    float64 `json:"commit_age_seconds,omitempty"`
	CleanShutdown       bool    `json:"clean_shutdown"`
	// RateCallsInWindow: after a clean stop, the extra-data calls of the last
	// run that still count against the next start's rate window. After an
	// unclean one the next start holds the whole first window.
	RateCallsInWindow int         `json:"rate_calls_in_window"`
	RateLimit         int         `json:"rate_limit"`
	RateWindowSeconds float64     `json:"rate_window_seconds"`
	Owed              OwedStatus  `json:"owed"`
	DLQTopic          string      `json:"dlq_topic"`
	DLQ               dlq.Summary `json:"dlq"`
	// EnrichBulk is the tenant's ENRICH_BULK in this configuration: auto,
	// on or off. Enrichment is how the run that wrote the last state record
	// enriched, as far as the state tells (enrichmentOf): EnrichmentFallback
	// from BulkFallbackAt (epoch ms), else EnrichmentBulk or EnrichmentOff by
	// EnrichBulk; empty when nothing was committed.
	EnrichBulk     string `json:"enrich_bulk"`
	Enrichment     string `json:"enrichment,omitempty"`
	BulkFallbackAt int64  `json:"bulk_fallback_at,omitempty"`
}

// The values of TenantStatus.Enrichment.
const (
	// EnrichmentBulk: get_multiple_incidents_extra_data (ENRICH_BULK auto or
	// on), and the last state record records no fallback.
	EnrichmentBulk = "bulk"
	// EnrichmentFallback: one get_incident_extra_data call per incident
	// since the run fell back (ENRICH_BULK=auto on a tenant that does not
	// serve get_multiple_incidents_extra_data).
	EnrichmentFallback = "single-after-fallback"
	// EnrichmentOff: one get_incident_extra_data call per incident, as
	// ENRICH_BULK=off in this configuration says: the state records no mode,
	// only a fallback.
	EnrichmentOff = "off"
)

// enrichmentOf is the enrichment of the run that wrote st, for a tenant
// whose ENRICH_BULK is mode. The state records a fallback, which only an
// auto run writes; a run that used bulk and one with ENRICH_BULK=off write
// the same record, which the configuration tells apart. A restarted run
// tries bulk again, so a fallback is the writing run's, not a standing fact.
func enrichmentOf(mode string, st offsets.State) string {
	switch {
	case st.BulkFallbackAt != 0:
		return EnrichmentFallback
	case mode == enrich.BulkOff:
		return EnrichmentOff
	}
	return EnrichmentBulk
}

type OwedStatus struct {
	Count                  int   `json:"count"`
	OldestQueued           int64 `json:"oldest_queued,omitempty"`            // epoch ms
	OldestModificationTime int64 `json:"oldest_modification_time,omitempty"` // epoch ms
}

type StatusReport struct {
	Connector    string         `json:"connector"`
	OffsetsTopic string         `json:"offsets_topic"`
	OffsetsFound bool           `json:"offsets_topic_exists"`
	Tenants      []TenantStatus `json:"tenants"`
}

func (v *View) Report(now time.Time) StatusReport {
	rep := StatusReport{Connector: v.cfg.ConnectorName, OffsetsTopic: v.cfg.TopicOffsets, OffsetsFound: !v.noTopic}
	for _, t := range v.tenants {
		l := v.offsets[t.id]
		st := l.State
		ts := TenantStatus{Tenant: t.id, Unconfigured: t.found, State: v.runState(l, now), CleanShutdown: st.Clean,
			RateLimit: t.limit, RateWindowSeconds: t.window.Seconds(), DLQTopic: t.dlq, DLQ: dlq.Summarize(v.dlq[t.id], st)}
		ts.EnrichBulk = t.bulk
		if mode, err := enrich.ParseBulkMode(t.bulk); err == nil {
			ts.EnrichBulk = mode
		}
		if l.Found {
			ts.Enrichment, ts.BulkFallbackAt = enrichmentOf(ts.EnrichBulk, st), st.BulkFallbackAt
			ts.Watermark, ts.CommittedAt = st.Watermark, st.CommittedAt
			ts.WatermarkLagSeconds = max(0, now.Sub(time.UnixMilli(st.Watermark)).Seconds())
			ts.CommitAgeSeconds = max(0, now.Sub(time.UnixMilli(st.CommittedAt)).Seconds())
		}
		if st.Clean {
			// As the next start's limiter counts them (enrich.Resume).
			stamps := make([]time.Time, len(st.RateLog))
			for i, ms := range st.RateLog {
				stamps[i] = time.UnixMilli(ms)
			}
			ts.RateCallsInWindow = len(enrich.Counting(stamps, t.limit, t.window, now))
		}
		ts.Owed = owedOf(st.Pending)
		rep.Tenants = append(rep.Tenants, ts)
	}
	sort.Slice(rep.Tenants, func(i, j int) bool { return rep.Tenants[i].Tenant < rep.Tenants[j].Tenant })
	return rep
}

func owedOf(pending map[string]offsets.Pending) OwedStatus {
	o := OwedStatus{Count: len(pending)}
	for _, p := range pending {
		if o.OldestQueued == 0 || p.FirstQueued < o.OldestQueued {
			o.OldestQueued = p.FirstQueued
		}
		if o.OldestModificationTime == 0 || p.ModificationTime < o.OldestModificationTime {
			o.OldestModificationTime = p.ModificationTime
		}
	}
	return o
}

// PrintStatus writes rep, a report of v, for a person.
func (v *View) PrintStatus(w io.Writer, rep StatusReport) {
	skipped := v.skipped
	fmt.Fprintf(w, "connector %s, offsets topic %s\n", rep.Connector, rep.OffsetsTopic)
	if !rep.OffsetsFound {
		fmt.Fprintf(w, "  the offsets topic does not exist: no connector has started against this Kafka cluster yet\n")
	}
	if slices.ContainsFunc(rep.Tenants, func(t TenantStatus) bool { return t.Unconfigured }) {
		fmt.Fprintf(w, "  TENANTS_FILE is not set: the tenants below were found in the offsets topic; their rate budget\n"+
			"  and DLQ topic are shown as the XDR_*/ENRICH_*/KAFKA_TOPIC_* variables set them: set TENANTS_FILE\n"+
			"  to the file \"connector run\" reads for their own\n")
	}
	for _, t := range rep.Tenants {
		fmt.Fprintf(w, "\ntenant %s: %s\n", t.Tenant, stateWords(t))
		if t.State != "never-committed" {
			fmt.Fprintf(w, "  watermark    %s (lag %s)\n", stamp(t.Watermark), ago(t.WatermarkLagSeconds))
			fmt.Fprintf(w, "  last commit  %s (%s ago)\n", stamp(t.CommittedAt), ago(t.CommitAgeSeconds))
		}
		switch t.State {
		case "stopped":
			fmt.Fprintf(w, "  last stop    clean: the next start may use %d of %d extra-data calls in its first %s window (%d of the last run's still count)\n",
				t.RateLimit-min(t.RateCallsInWindow, t.RateLimit), t.RateLimit, seconds(t.RateWindowSeconds), t.RateCallsInWindow)
		case "stopped-unclean":
			fmt.Fprintf(w, "  last stop    not clean (no final commit): the next start holds extra-data calls for one %s window\n", seconds(t.RateWindowSeconds))
		}
		if t.Enrichment != "" {
			fmt.Fprintf(w, "  enrichment   %s\n", enrichmentWords(t))
		}
		if t.Owed.Count == 0 {
			fmt.Fprintf(w, "  owed         no enrichment owed\n")
		} else {
			fmt.Fprintf(w, "  owed         %d enrichments, the oldest queued %s (%s ago), oldest version %s\n", t.Owed.Count,
				stamp(t.Owed.OldestQueued), ago(time.Since(time.UnixMilli(t.Owed.OldestQueued)).Seconds()), stamp(t.Owed.OldestModificationTime))
		}
		d := t.DLQ
		if d.Records == 0 {
			fmt.Fprintf(w, "  DLQ          no record in %s\n", t.DLQTopic)
		} else {
			classes := make([]string, 0, len(d.ByClass))
			for c, n := range d.ByClass {
				classes = append(classes, fmt.Sprintf("%s: %d", c, n))
			}
			sort.Strings(classes)
			fmt.Fprintf(w, "  DLQ          %d records in %s for %d incidents (by class %s), the newest failed %s\n",
				d.Records, t.DLQTopic, d.Incidents, strings.Join(classes, ", "), stamp(d.NewestFailed))
			if d.Outstanding > 0 {
				fmt.Fprintf(w, "               %d incidents not redriven yet (connector redrive --class CLASS, --incident ID or --all)\n", d.Outstanding)
			} else if d.NotFound < d.Incidents {
				fmt.Fprintf(w, "               every incident redriven already\n")
			}
			if d.NotFound > 0 {
				fmt.Fprintf(w, "               %d incidents no longer exist (merged or deleted; class %s): nothing to do\n", d.NotFound, dlq.ClassNotFound)
			}
		}
		if d.Waiting > 0 {
			fmt.Fprintf(w, "  redrive      %d requests wait for the connector's next start\n", d.Waiting)
		}
	}
	if skipped > 0 {
		fmt.Fprintf(w, "\n%d records of the DLQ topics are not DLQ records of this connector's format; they were ignored\n", skipped)
	}
}

// enrichmentWords says how the run that wrote the last state record
// enriched, and no more than the state and the configuration tell.
func enrichmentWords(t TenantStatus) string {
	switch t.Enrichment {
	case EnrichmentFallback:
		s := fmt.Sprintf("single calls since %s (the tenant does not serve get_multiple_incidents_extra_data;\n"+
			"               ENRICH_BULK=auto fell back to one get_incident_extra_data call per incident)", stamp(t.BulkFallbackAt))
		switch {
		case t.EnrichBulk == enrich.BulkOff:
			return s + "\n               ENRICH_BULK is off in this configuration"
		case t.State == "running":
			return s + "\n               for the rest of this run: a restart tries get_multiple_incidents_extra_data again with its first call"
		}
		return s + "\n               the next start tries get_multiple_incidents_extra_data again with its first call"
	case EnrichmentOff:
		return "bulk off: one get_incident_extra_data call per incident (ENRICH_BULK=off in this configuration;\n" +
			"               the offsets record only a fallback from bulk, not the mode)"
	}
	s := "bulk: get_multiple_incidents_extra_data (ENRICH_BULK=" + t.EnrichBulk + ")"
	switch {
	case t.EnrichBulk == enrich.BulkOn:
		return s + ", which never falls back to single calls"
	case t.State == "running":
		return s + ", no fallback to single calls so far in this run"
	}
	return s + ", the last run did not fall back to single calls"
}

func stateWords(t TenantStatus) string {
	switch t.State {
	case "running":
		return "running (it committed moments ago)"
	case "stopped":
		return "stopped cleanly"
	case "stopped-unclean":
		return "not committing: stopped without a final commit (killed, crashed) or cut off from Kafka"
	}
	return "never committed: the connector has not run for this tenant (or its state was deleted); it starts from START_FROM"
}

func stamp(ms int64) string {
	if ms == 0 {
		return "-"
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

func ago(s float64) string {
	return time.Duration(s * float64(time.Second)).Round(100 * time.Millisecond).String()
}

func seconds(s float64) string { return time.Duration(s * float64(time.Second)).String() }
