package writeback

import (
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestConfigKnowsTheActions: WRITEBACK_ACTIONS is checked against a list of
// its own in pkg/config; it must be this package's.
func TestConfigKnowsTheActions(t *testing.T) {
	if !reflect.DeepEqual(config.WritebackActionNames, Actions) || !reflect.DeepEqual(config.DefaultWritebackActions, DefaultActions) {
		t.Errorf("config lists %v (default %v), writeback %v (default %v)", config.WritebackActionNames, config.DefaultWritebackActions, Actions, DefaultActions)
	}
}

func sp(s string) *string { return &s }
func ip(n int64) *int64   { return &n }

func TestDecide(t *testing.T) {
	all := Policy{Tenant: "acme", Enabled: true, Actions: Actions}
	base := func(action string) Command {
		return Command{CommandID: "c1", Tenant: "acme", IncidentID: "891", Action: action}
	}
	with := func(c Command, f func(*Command)) Command { f(&c); return c }
	empty := ""
	for _, tc := range []struct {
		name    string
		cmd     Command
		policy  Policy
		current int64
		want    *Request
		reject  string // prefix of the reason
	}{
		{name: "assign", cmd: with(base("assign"), func(c *Command) { c.AssigneeEmail, c.AssigneeName = sp("jane@x"), sp("Jane") }), policy: all,
			want: &Request{Incident: &xdr.UpdateIncidentRequest{IncidentID: "891", Update: xdr.IncidentUpdate{AssignedUserMail: sp("jane@x"), AssignedUserPrettyName: sp("Jane")}}, Idempotent: true}},
		{name: "unassign", cmd: base("unassign"), policy: all,
			want: &Request{Incident: &xdr.UpdateIncidentRequest{IncidentID: "891", Update: xdr.IncidentUpdate{AssignedUserMail: &empty}}, Idempotent: true}},
		{name: "set_status resolved with comment", cmd: with(base("set_status"), func(c *Command) { c.Status, c.ResolveComment = sp("resolved_false_positive"), sp("FP") }), policy: all,
			want: &Request{Incident: &xdr.UpdateIncidentRequest{IncidentID: "891", Update: xdr.IncidentUpdate{Status: sp("resolved_false_positive"), ResolveComment: sp("FP")}}, Idempotent: true}},
		{name: "set_severity clear", cmd: with(base("set_severity"), func(c *Command) { c.Severity = sp("") }), policy: all,
			want: &Request{Incident: &xdr.UpdateIncidentRequest{IncidentID: "891", Update: xdr.IncidentUpdate{ManualSeverity: &empty}}, Idempotent: true}},
		{name: "add_comment is not idempotent", cmd: with(base("add_comment"), func(c *Command) { c.Comment = sp("hi") }), policy: all,
			want: &Request{Incident: &xdr.UpdateIncidentRequest{IncidentID: "891", Update: xdr.IncidentUpdate{Comment: xdr.AddComment("hi")}}}},
		{name: "update_alerts", cmd: Command{CommandID: "c", Tenant: "acme", Action: "update_alerts", AlertIDs: []string{"1", " 2"}, Status: sp("x")}, policy: all,
			want: &Request{Alerts: &xdr.UpdateAlertsRequest{AlertIDs: []string{"1", "2"}, Update: xdr.AlertsUpdate{Status: sp("x")}}, Idempotent: true}},
		{name: "expected time matches", cmd: with(base("unassign"), func(c *Command) { c.ExpectModificationTime = ip(17) }), policy: all, current: 17,
			want: &Request{Incident: &xdr.UpdateIncidentRequest{IncidentID: "891", Update: xdr.IncidentUpdate{AssignedUserMail: &empty}}, Idempotent: true}},

		{name: "stale", cmd: with(base("unassign"), func(c *Command) { c.ExpectModificationTime = ip(17) }), policy: all, current: 18, reject: ReasonStale},
		{name: "action not allowed", cmd: Command{CommandID: "c", Tenant: "acme", Action: "update_alerts", AlertIDs: []string{"1"}, Status: sp("x")},
			policy: Policy{Tenant: "acme", Enabled: true, Actions: DefaultActions}, reject: ReasonNotAllowed},
		{name: "tenant off", cmd: base("unassign"), policy: Policy{Tenant: "acme", Actions: Actions}, reject: ReasonNotAllowed},
		{name: "other tenant", cmd: base("unassign"), policy: Policy{Tenant: "beta", Enabled: true, Actions: Actions}, reject: ReasonTenant},
		{name: "no command_id", cmd: with(base("unassign"), func(c *Command) { c.CommandID = " " }), policy: all, reject: ReasonSchema},
		{name: "unknown action", cmd: base("close"), policy: all, reject: ReasonSchema},
		{name: "no incident", cmd: with(base("unassign"), func(c *Command) { c.IncidentID = "" }), policy: all, reject: ReasonSchema},
		{name: "assign without mail", cmd: base("assign"), policy: all, reject: ReasonSchema},
		{name: "resolve comment when open", cmd: with(base("set_status"), func(c *Command) { c.Status, c.ResolveComment = sp("new"), sp("x") }), policy: all, reject: ReasonSchema},
		{name: "bad severity", cmd: with(base("set_severity"), func(c *Command) { c.Severity = sp("urgent") }), policy: all, reject: ReasonSchema},
		{name: "empty comment", cmd: with(base("add_comment"), func(c *Command) { c.Comment = sp(" ") }), policy: all, reject: ReasonSchema},
		{name: "field of another action", cmd: with(base("unassign"), func(c *Command) { c.Comment = sp("x") }), policy: all, reject: ReasonSchema},
		{name: "101 alerts", cmd: Command{CommandID: "c", Tenant: "acme", Action: "update_alerts", AlertIDs: make([]string, 101), Status: sp("x")}, policy: all, reject: ReasonSchema},
		{name: "alerts without update", cmd: Command{CommandID: "c", Tenant: "acme", Action: "update_alerts", AlertIDs: []string{"1"}}, policy: all, reject: ReasonSchema},
	} {
		t.Run(tc.name, func(t *testing.T) {
			d := Decide(tc.cmd, tc.policy, tc.current)
			if tc.reject != "" {
				if d.Request != nil || !strings.HasPrefix(d.Reject, tc.reject) {
					t.Fatalf("Decide = %+v, want a rejection starting %q", d, tc.reject)
				}
				return
			}
			if d.Reject != "" || !reflect.DeepEqual(d.Request, tc.want) {
				got, _ := json.Marshal(d.Request)
				want, _ := json.Marshal(tc.want)
				t.Fatalf("Decide = %s %s, want %s", d.Reject, got, want)
			}
			if d.Request.Incident != nil && d.Request.Incident.Validate() != nil || d.Request.Alerts != nil && d.Request.Alerts.Validate() != nil {
				t.Fatalf("Decide built a request the client refuses: %+v", d.Request)
			}
		})
	}
}

func TestParseCommand(t *testing.T) {
	c, err := ParseCommand([]byte(`{"command_id": "pb7-42-1", "tenant": "acme", "incident_id": "891", "action": "set_status",
		"status": "resolved_false_positive", "resolve_comment": "FP per playbook 7",
		"requested_by": "soar:playbook-7", "expect_modification_time": 1700000000000}`))
	if err != nil || c.CommandID != "pb7-42-1" || *c.ExpectModificationTime != 1700000000000 || c.Validate() != nil {
		t.Fatalf("the issue's example: %+v, %v", c, err)
	}
	for _, bad := range []string{`{"command_id":"x","tenant":"a","action":"unassign","incident_id":"1","stauts":"new"}`,
		`{"command_id":1}`, `not json`, `{"command_id":"x"} {}`} {
		if _, err := ParseCommand([]byte(bad)); !errors.Is(err, ErrSchema) {
			t.Errorf("%s: %v, want ErrSchema", bad, err)
		}
	}
}
