package xdr

import (
	"encoding/json"
	"fmt"
)

// MaxPageSize is the most incidents one get_incidents call may ask for
// (search_to - search_from).
const MaxPageSize = 100

// DefaultAlertsLimit is the API's default alerts_limit for get_incident_extra_data.
const DefaultAlertsLimit = 1000

// Filter fields accepted by get_incidents.
const (
	FieldModificationTime = "modification_time"
	FieldCreationTime     = "creation_time"
	FieldIncidentIDList   = "incident_id_list"
	FieldIncidentID       = "incident_id"
	FieldDescription      = "description"
	FieldAlertSources     = "alert_sources"
	FieldStatus           = "status"
	FieldStarred          = "starred"
)

// Filter operators accepted by get_incidents.
const (
	OpIn       = "in"
	OpContains = "contains"
	OpGTE      = "gte"
	OpLTE      = "lte"
	OpEq       = "eq"
	OpNeq      = "neq"
)

// Sort keywords.
const (
	SortAsc  = "asc"
	SortDesc = "desc"
)

// Filter is one clause of a get_incidents query. Clauses are ANDed by the API.
type Filter struct {
	Field    string `json:"field"`
	Operator string `json:"operator"`
	Value    any    `json:"value"`
}

// Sort orders a get_incidents result set.
type Sort struct {
	Field   string `json:"field"`
	Keyword string `json:"keyword"`
}

// IncidentsRequest is the request_data of get_incidents. SearchFrom and
// SearchTo are zero-based offsets; SearchTo-SearchFrom must not exceed
// MaxPageSize.
type IncidentsRequest struct {
	Filters    []Filter `json:"filters,omitempty"`
	SearchFrom int      `json:"search_from"`
	SearchTo   int      `json:"search_to"`
	Sort       *Sort    `json:"sort,omitempty"`
}

// IncidentsReply is the reply of get_incidents.
type IncidentsReply struct {
	// TotalCount is the reply's total_count; when the reply has none (or an
	// unreadable one), it is the number of incidents and TotalCountMissing
	// is set, so a caller never mistakes the page length for a count.
	TotalCount        int        `json:"total_count"`
	TotalCountMissing bool       `json:"-"`
	ResultCount       int        `json:"result_count"`
	Incidents         []Incident `json:"incidents"`
	RestrictedIDs     []string   `json:"restricted_incident_ids"`
	// KeyEchoes counts the echoes of the client's API key that the client
	// replaced by [REDACTED] in the reply before decoding it (see
	// Client.GetIncidents); 0 from the decoders.
	KeyEchoes int `json:"-"`
}

// ExtraDataRequest is the request_data of get_incident_extra_data.
// AlertsLimit 0 means DefaultAlertsLimit.
type ExtraDataRequest struct {
	IncidentID  string `json:"incident_id"`
	AlertsLimit int    `json:"alerts_limit"`
}

// Incident is an incident as get_incidents or get_incident_extra_data returned
// it: the fields the connector reads, decoded tolerantly, beside Raw, the
// object exactly as received (every field, documented or not).
type Incident struct {
	ID               string
	CreationTime     int64 // epoch milliseconds
	ModificationTime int64 // epoch milliseconds
	Status           string
	Severity         string // lower-cased: low, medium, high, critical, or whatever the tenant sent
	AlertCount       int
	Raw              json.RawMessage
}

// Alert is one alert of get_incident_extra_data.
type Alert struct {
	ID                 string // may be empty: some tenants omit it
	CaseID             string // integer on the wire; kept as its decimal text
	Severity           string
	Name               string
	Source             string
	HostName           string
	DetectionTimestamp int64
	Raw                json.RawMessage
}

// NetworkArtifact is one network artifact. Real tenants send objects; the
// Xpanse page documents strings, which land in Value.
type NetworkArtifact struct {
	Type       string // DOMAIN or IP
	Domain     string
	RemoteIP   string
	RemotePort int
	Value      string // set when the item was a bare string
	Raw        json.RawMessage
}

// FileArtifact is one file artifact. Real tenants send objects; the Xpanse
// page documents strings, which land in Value.
type FileArtifact struct {
	Type     string // usually HASH
	SHA256   string
	FileName string
	Value    string // set when the item was a bare string
	Raw      json.RawMessage
}

// AlertList is the alerts section of get_incident_extra_data. TotalCount may
// exceed len(Data) when the incident has more alerts than alerts_limit.
type AlertList struct {
	TotalCount int
	Data       []Alert
}

// Truncated reports whether the API returned fewer alerts than the incident has.
func (l AlertList) Truncated() bool { return l.TotalCount > len(l.Data) }

// NetworkArtifactList is the network_artifacts section.
type NetworkArtifactList struct {
	TotalCount int
	Data       []NetworkArtifact
}

// FileArtifactList is the file_artifacts section.
type FileArtifactList struct {
	TotalCount int
	Data       []FileArtifact
}

// ExtraData is the reply of get_incident_extra_data.
type ExtraData struct {
	Incident         Incident
	Alerts           AlertList
	NetworkArtifacts NetworkArtifactList
	FileArtifacts    FileArtifactList
	// KeyEchoes counts the echoes of the client's API key that the client
	// replaced by [REDACTED] in the reply before decoding it (see
	// Client.GetIncidentExtraData); 0 from the decoders.
	KeyEchoes int
}

func (r IncidentsRequest) String() string {
	b, _ := json.Marshal(r)
	return fmt.Sprintf("get_incidents%s", b)
}
