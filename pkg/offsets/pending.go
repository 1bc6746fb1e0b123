package offsets

import "strings"

// Pending is an enrichment owed for an incident: only the metadata needed to
// order and perform the get_incident_extra_data call, never the incident
// itself. It is the one type of an owed enrichment: the tracker keeps it
// durably, the enrichment queue orders it, and both fold a newer one in with
// Merge.
type Pending struct {
	IncidentID       string `json:"incident_id"`
	ModificationTime int64  `json:"modification_time"`     // newest version that asked for it, epoch ms
	Severity         string `json:"severity,omitempty"`    // critical, high, medium, low; anything else ranks as unknown
	FirstQueued      int64  `json:"first_queued"`          // when the enrichment was first owed, epoch ms
	TraceParent      string `json:"traceparent,omitempty"` // W3C traceparent of the change that queued it; may be empty
	// AlertCount is the incident's alert_count as the poll read it with the
	// version that queued it; 0 when unknown. The enricher routes an
	// incident above the tenant's per-incident cap of bulk replies straight
	// to get_incident_extra_data. It is a hint, not state: it is not written
	// to the offsets topic, so an enrichment restored at start has none.
	AlertCount int `json:"-"`
}

// Merge folds newer, a later request for the same incident, into p and
// returns the result: the highest ModificationTime, the earliest
// FirstQueued, the latest non-blank Severity (a version that came without one
// does not erase what an earlier version said), and the TraceParent and the
// AlertCount of the newest version that carries one.
func (p Pending) Merge(newer Pending) Pending {
	out := p
	if newer.TraceParent != "" && newer.ModificationTime >= p.ModificationTime {
		out.TraceParent = newer.TraceParent
	}
	if newer.AlertCount > 0 && newer.ModificationTime >= p.ModificationTime {
		out.AlertCount = newer.AlertCount
	}
	out.ModificationTime = max(p.ModificationTime, newer.ModificationTime)
	out.FirstQueued = min(p.FirstQueued, newer.FirstQueued)
	if strings.TrimSpace(newer.Severity) != "" {
		out.Severity = newer.Severity
	}
	return out
}
