// Package writeback applies commands that pipelines write to Kafka to a Cortex
// XDR tenant: assign, unassign, set_status, set_severity and add_comment
// through update_incident, update_alerts through update_alerts. Each command
// is decided by a pure function (Decide), applied at most once (Applier), and
// answered by one result record.
package writeback

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Actions of a command.
const (
	ActionAssign       = "assign"
	ActionUnassign     = "unassign"
	ActionSetStatus    = "set_status"
	ActionSetSeverity  = "set_severity"
	ActionAddComment   = "add_comment"
	ActionUpdateAlerts = "update_alerts"
)

// Actions are every action, in the order the docs list them.
var Actions = []string{ActionAssign, ActionUnassign, ActionSetStatus, ActionSetSeverity, ActionAddComment, ActionUpdateAlerts}

// DefaultActions is the allow-list when WRITEBACK_ACTIONS is not set: every
// incident action; update_alerts must be listed.
var DefaultActions = []string{ActionAssign, ActionUnassign, ActionSetStatus, ActionSetSeverity, ActionAddComment}

// MaxCommandIDLen bounds command_id, which names a compacted record's key.
const MaxCommandIDLen = 200

// Command is the value of a commands-topic record; see
// schemas/command.schema.json. Its JSON names are a contract.
type Command struct {
	CommandID  string `json:"command_id"`
	Tenant     string `json:"tenant"`
	IncidentID string `json:"incident_id,omitempty"`
	Action     string `json:"action"`

	AssigneeEmail  *string  `json:"assignee_email,omitempty"`
	AssigneeName   *string  `json:"assignee_name,omitempty"`
	Status         *string  `json:"status,omitempty"`
	ResolveComment *string  `json:"resolve_comment,omitempty"`
	Severity       *string  `json:"severity,omitempty"`
	Comment        *string  `json:"comment,omitempty"`
	AlertIDs       []string `json:"alert_ids,omitempty"`

	RequestedBy            string `json:"requested_by,omitempty"`
	ExpectModificationTime *int64 `json:"expect_modification_time,omitempty"`
}

// ErrSchema marks a command that does not follow the schema.
var ErrSchema = errors.New("schema")

// ParseCommand decodes a record value strictly: unknown fields, a wrong type
// or trailing data are errors wrapping ErrSchema. It does not Validate.
func ParseCommand(value []byte) (Command, error) {
	var c Command
	dec := json.NewDecoder(bytes.NewReader(value))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Command{}, fmt.Errorf("%w: %v", ErrSchema, err)
	}
	if dec.More() {
		return Command{}, fmt.Errorf("%w: data after the command object", ErrSchema)
	}
	return c, nil
}

// severities a command may set; "" clears the manual severity.
var severities = []string{"low", "medium", "high", "critical"}

// Validate checks the fields each action requires and allows; errors wrap
// ErrSchema. Statuses are not checked against a list: tenants differ in the
// resolved_ statuses they know, and the API answers an unknown one.
func (c Command) Validate() error {
	bad := func(format string, a ...any) error {
		return fmt.Errorf("%w: "+format, append([]any{ErrSchema}, a...)...)
	}
	switch {
	case strings.TrimSpace(c.CommandID) == "":
		return bad("command_id is required")
	case len(c.CommandID) > MaxCommandIDLen:
		return bad("command_id is longer than %d bytes", MaxCommandIDLen)
	case strings.TrimSpace(c.Tenant) == "":
		return bad("tenant is required")
	case !slices.Contains(Actions, c.Action):
		return bad("action %q is not one of %s", c.Action, strings.Join(Actions, ", "))
	case c.Action != ActionUpdateAlerts && strings.TrimSpace(c.IncidentID) == "":
		return bad("incident_id is required for %s", c.Action)
	}
	// allowed lists the optional fields of the action; a field outside it
	// is an error, so a typo in the action never drops a field silently.
	set := map[string]bool{
		"assignee_email": c.AssigneeEmail != nil, "assignee_name": c.AssigneeName != nil,
		"status": c.Status != nil, "resolve_comment": c.ResolveComment != nil,
		"severity": c.Severity != nil, "comment": c.Comment != nil, "alert_ids": c.AlertIDs != nil,
	}
	var allowed []string
	switch c.Action {
	case ActionAssign:
		allowed = []string{"assignee_email", "assignee_name"}
		if c.AssigneeEmail == nil || strings.TrimSpace(*c.AssigneeEmail) == "" {
			return bad("assign needs assignee_email (unassign clears the assignee)")
		}
	case ActionUnassign:
	case ActionSetStatus:
		allowed = []string{"status", "resolve_comment"}
		switch {
		case c.Status == nil || strings.TrimSpace(*c.Status) == "":
			return bad("set_status needs status")
		case c.ResolveComment != nil && !strings.HasPrefix(*c.Status, "resolved_"):
			return bad("resolve_comment is for resolved statuses only, not %q", *c.Status)
		}
	case ActionSetSeverity:
		allowed = []string{"severity"}
		if c.Severity == nil || *c.Severity != "" && !slices.Contains(severities, *c.Severity) {
			return bad("set_severity needs severity: low, medium, high, critical, or \"\" to clear it")
		}
	case ActionAddComment:
		allowed = []string{"comment"}
		if c.Comment == nil || strings.TrimSpace(*c.Comment) == "" {
			return bad("add_comment needs comment")
		}
	case ActionUpdateAlerts:
		allowed = []string{"alert_ids", "status", "severity", "comment"}
		switch {
		case len(c.AlertIDs) == 0 || len(c.AlertIDs) > xdr.MaxUpdateAlerts:
			return bad("update_alerts needs 1 to %d alert_ids, not %d", xdr.MaxUpdateAlerts, len(c.AlertIDs))
		case slices.ContainsFunc(c.AlertIDs, func(id string) bool { return strings.TrimSpace(id) == "" }):
			return bad("alert_ids holds an empty id")
		case c.Status == nil && c.Severity == nil && c.Comment == nil:
			return bad("update_alerts needs status, severity or comment")
		case c.Severity != nil && !slices.Contains(severities, *c.Severity):
			return bad("update_alerts severity must be low, medium, high or critical")
		}
	}
	for _, f := range []string{"assignee_email", "assignee_name", "status", "resolve_comment", "severity", "comment", "alert_ids"} {
		if set[f] && !slices.Contains(allowed, f) {
			return bad("%s does not take %s", c.Action, f)
		}
	}
	return nil
}

// Policy is what a tenant allows: whether write-back is on for it, and which
// actions.
type Policy struct {
	Tenant  string   // the tenant's id, as its records carry it
	Enabled bool     // writeback on for this tenant
	Actions []string // the allow-list (WRITEBACK_ACTIONS)
}

// Outcomes of a result.
const (
	OutcomeApplied  = "applied"
	OutcomeRejected = "rejected"
	OutcomeFailed   = "failed"
)

// Request is the API call a command becomes: exactly one of Incident and
// Alerts is set.
type Request struct {
	Incident *xdr.UpdateIncidentRequest
	Alerts   *xdr.UpdateAlertsRequest
	// Idempotent tells that applying the request twice leaves the tenant as
	// applying it once: true for every action but add_comment and an
	// update_alerts with a comment, which a second call would add again.
	Idempotent bool
}

// Decision is Decide's answer: a Request, or the reason to reject the
// command without calling the API.
type Decision struct {
	Request *Request
	Reject  string
}

// NeedsCurrent reports whether Decide needs the incident's current
// modification_time: only a command with expect_modification_time does.
func NeedsCurrent(c Command) bool { return c.ExpectModificationTime != nil }

// Rejection reasons start with one of these words, so a playbook can branch
// on the first word.
const (
	ReasonSchema     = "schema"
	ReasonNotAllowed = "not allowed"
	ReasonTenant     = "wrong tenant"
	ReasonStale      = "stale"
)

// Decide maps a command, its tenant's policy and the incident's current
// modification_time (epoch ms; read only when NeedsCurrent, else ignored) to
// the API request to send or the reason to reject it. It is pure: the same
// input gives the same decision, and no rejection costs an API call.
func Decide(c Command, p Policy, current int64) Decision {
	reject := func(format string, a ...any) Decision { return Decision{Reject: fmt.Sprintf(format, a...)} }
	if err := c.Validate(); err != nil {
		return Decision{Reject: err.Error()}
	}
	switch {
	case c.Tenant != p.Tenant:
		return reject("%s: the command is for tenant %q, not %q", ReasonTenant, c.Tenant, p.Tenant)
	case !p.Enabled:
		return reject("%s: write-back is off for tenant %s", ReasonNotAllowed, p.Tenant)
	case !slices.Contains(p.Actions, c.Action):
		return reject("%s: action %s is not in WRITEBACK_ACTIONS", ReasonNotAllowed, c.Action)
	case c.ExpectModificationTime != nil && *c.ExpectModificationTime != current:
		return reject("%s: the incident's modification_time is %d, the command expects %d", ReasonStale, current, *c.ExpectModificationTime)
	}
	if c.Action == ActionUpdateAlerts {
		ids := make([]string, len(c.AlertIDs))
		for i, id := range c.AlertIDs {
			ids[i] = strings.TrimSpace(id)
		}
		return Decision{Request: &Request{
			Alerts:     &xdr.UpdateAlertsRequest{AlertIDs: ids, Update: xdr.AlertsUpdate{Severity: c.Severity, Status: c.Status, Comment: c.Comment}},
			Idempotent: c.Comment == nil,
		}}
	}
	var u xdr.IncidentUpdate
	switch c.Action {
	case ActionAssign:
		u.AssignedUserMail, u.AssignedUserPrettyName = c.AssigneeEmail, c.AssigneeName
	case ActionUnassign:
		empty := ""
		u.AssignedUserMail = &empty
	case ActionSetStatus:
		u.Status, u.ResolveComment = c.Status, c.ResolveComment
	case ActionSetSeverity:
		u.ManualSeverity = c.Severity
	case ActionAddComment:
		u.Comment = xdr.AddComment(*c.Comment)
	}
	return Decision{Request: &Request{
		Incident:   &xdr.UpdateIncidentRequest{IncidentID: strings.TrimSpace(c.IncidentID), Update: u},
		Idempotent: c.Action != ActionAddComment,
	}}
}

// Result is the value of a results-topic record, one per command; see
// schemas/command-result.schema.json. Its JSON names are a contract.
type Result struct {
	CommandID  string `json:"command_id"`
	Tenant     string `json:"tenant"`
	IncidentID string `json:"incident_id,omitempty"`
	Action     string `json:"action"`
	Outcome    string `json:"outcome"`          // applied, rejected or failed
	Reason     string `json:"reason,omitempty"` // why rejected or failed; never a secret
	APIStatus  int    `json:"api_status,omitempty"`
	AppliedAt  int64  `json:"applied_at,omitempty"` // epoch ms, when the API took the update
	// ModificationTime is the incident's modification_time after the
	// update, as one get_incidents call right after it (filtered by the
	// incident's id, paced like every call) saw it; null (Observed false)
	// when that read failed or did not show the change yet, for
	// update_alerts, and for commands not applied.
	ModificationTime *int64 `json:"modification_time"`
	// Observed tells whether ModificationTime was observed.
	Observed bool `json:"observed"`
}
