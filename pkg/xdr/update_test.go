package xdr_test

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func ptr(s string) *string { return &s }

// currentIncident reads incident id as get_incidents shows it now.
func currentIncident(t *testing.T, c *xdr.Client, id string) xdr.Incident {
	t.Helper()
	rep, err := c.GetIncidents(context.Background(), xdr.IncidentsRequest{Filters: []xdr.Filter{xdr.IncidentIDs(id)}, SearchTo: 100})
	if err != nil || len(rep.Incidents) != 1 {
		t.Fatalf("get_incidents %s: %v, %d incidents", id, err, len(rep.Incidents))
	}
	return rep.Incidents[0]
}

func TestUpdateIncidentChangesTheIncident(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 5, Incidents: 10})
	c := simClient(t, base, xdr.AuthStandard, clk)
	ctx := context.Background()
	id := tenant.IncidentIDs()[0]
	before := currentIncident(t, c, id)
	clk.Add(1500 * time.Millisecond)

	mail := tenant.Users()[1]
	rep, err := c.UpdateIncident(ctx, xdr.UpdateIncidentRequest{IncidentID: id, Update: xdr.IncidentUpdate{
		AssignedUserMail: &mail, Status: ptr("resolved_false_positive"), ResolveComment: ptr("FP per playbook"),
		ManualSeverity: ptr("high"), Comment: xdr.AddComment("closed by SOAR"),
	}})
	if err != nil || rep.Status != http.StatusOK {
		t.Fatalf("UpdateIncident: %+v, %v", rep, err)
	}
	after := currentIncident(t, c, id)
	if after.ModificationTime <= before.ModificationTime {
		t.Fatalf("modification_time %d, want after %d", after.ModificationTime, before.ModificationTime)
	}
	raw := string(after.Raw)
	for _, want := range []string{`"status":"resolved_false_positive"`, `"assigned_user_mail":"` + mail + `"`,
		`"resolve_comment":"FP per playbook"`, `"manual_severity":"high"`, `closed by SOAR`} {
		if !strings.Contains(raw, want) {
			t.Errorf("incident after the update lacks %s: %s", want, raw)
		}
	}

	// An empty mail unassigns; an empty manual severity clears it.
	if _, err := c.UpdateIncident(ctx, xdr.UpdateIncidentRequest{IncidentID: id, Update: xdr.IncidentUpdate{
		AssignedUserMail: ptr(""), ManualSeverity: ptr("")}}); err != nil {
		t.Fatal(err)
	}
	raw = string(currentIncident(t, c, id).Raw)
	if !strings.Contains(raw, `"assigned_user_mail":null`) || !strings.Contains(raw, `"manual_severity":null`) {
		t.Errorf("unassign and clear left %s", raw)
	}
}

func TestUpdateIncidentRejections(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 5, Incidents: 10})
	c := simClient(t, base, xdr.AuthStandard, clk)
	id := tenant.IncidentIDs()[0]
	before := currentIncident(t, c, id)
	for name, u := range map[string]xdr.IncidentUpdate{
		"unknown user":               {AssignedUserMail: ptr("mallory@evil.example")},
		"resolve comment when open":  {Status: ptr("under_investigation"), ResolveComment: ptr("no")},
		"unknown manual severity":    {ManualSeverity: ptr("urgent")},
		"status that does not exist": {Status: ptr("closed")},
	} {
		_, err := c.UpdateIncident(context.Background(), xdr.UpdateIncidentRequest{IncidentID: id, Update: u})
		ae, ok := errors.AsType[*xdr.APIError](err)
		if !ok || ae.Status != http.StatusBadRequest || ae.Message == "" || xdr.Retryable(err) || xdr.WriteUnsettled(err) {
			t.Errorf("%s: %v, want a settled, non-retryable 400 with a message", name, err)
		}
	}
	if after := currentIncident(t, c, id); after.ModificationTime != before.ModificationTime {
		t.Errorf("a refused update changed the incident: %d -> %d", before.ModificationTime, after.ModificationTime)
	}
	_, err := c.UpdateIncident(context.Background(), xdr.UpdateIncidentRequest{IncidentID: "999999", Update: xdr.IncidentUpdate{Status: ptr("new")}})
	if !xdr.IncidentNotFound(err) {
		t.Errorf("unknown incident: %v, want IncidentNotFound", err)
	}
	// The client refuses what it can tell is wrong, sending nothing.
	n := len(tenant.WriteCalls())
	for _, req := range []xdr.UpdateIncidentRequest{{IncidentID: id}, {Update: xdr.IncidentUpdate{Status: ptr("new")}},
		{IncidentID: id, Update: xdr.IncidentUpdate{AssignedUserPrettyName: ptr("X")}}} {
		if _, err := c.UpdateIncident(context.Background(), req); !errors.Is(err, xdr.ErrInvalidRequest) {
			t.Errorf("%+v: %v, want ErrInvalidRequest", req, err)
		}
	}
	if got := len(tenant.WriteCalls()); got != n {
		t.Errorf("invalid requests sent %d calls", got-n)
	}
}

func TestUpdateAlerts(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 7, Incidents: 20})
	c := simClient(t, base, xdr.AuthStandard, clk)
	ctx := context.Background()
	var id string
	var alertIDs []string
	for _, i := range tenant.IncidentIDs() {
		tr, _ := tenant.Truth(i)
		for _, a := range tr.AlertIDs {
			if a != "" {
				alertIDs = append(alertIDs, a)
			}
		}
		if len(alertIDs) >= 2 {
			id, alertIDs = i, alertIDs[:2]
			break
		}
		alertIDs = nil
	}
	before := currentIncident(t, c, id)
	clk.Add(time.Second)
	rep, err := c.UpdateAlerts(ctx, xdr.UpdateAlertsRequest{AlertIDs: append(slices.Clone(alertIDs), "987654321"),
		Update: xdr.AlertsUpdate{Severity: ptr("low"), Comment: ptr("triaged")}})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.AlertIDs, alertIDs) {
		t.Errorf("alerts_ids %v, want %v (the unknown one left out)", rep.AlertIDs, alertIDs)
	}
	if after := currentIncident(t, c, id); after.ModificationTime <= before.ModificationTime {
		t.Errorf("the alerts' incident kept modification_time %d", after.ModificationTime)
	}
	data, err := c.GetIncidentExtraData(ctx, xdr.ExtraDataRequest{IncidentID: id})
	if err != nil {
		t.Fatal(err)
	}
	seen := 0
	for _, a := range data.Alerts.Data {
		if slices.Contains(alertIDs, a.ID) {
			seen++
			if a.Severity != "low" || !strings.Contains(string(a.Raw), `"resolution_comment":"triaged"`) {
				t.Errorf("alert %s after update: %s", a.ID, a.Raw)
			}
		}
	}
	if seen != len(alertIDs) {
		t.Errorf("saw %d updated alerts, want %d", seen, len(alertIDs))
	}
	calls := tenant.WriteCalls()
	if len(calls) != 1 || calls[0].Endpoint != xdrtest.EndpointUpdateAlerts || calls[0].Status != http.StatusOK {
		t.Errorf("write calls %+v", calls)
	}
	if _, err := c.UpdateAlerts(ctx, xdr.UpdateAlertsRequest{AlertIDs: make([]string, 101), Update: xdr.AlertsUpdate{Status: ptr("x")}}); !errors.Is(err, xdr.ErrInvalidRequest) {
		t.Errorf("101 ids: %v", err)
	}
}

func TestWriteResetIsUnsettled(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 5, Incidents: 5})
	c := simClient(t, base, xdr.AuthStandard, clk)
	id := tenant.IncidentIDs()[0]
	before := currentIncident(t, c, id)
	clk.Add(time.Second)
	tenant.Inject(xdrtest.EndpointUpdateIncident, xdrtest.FaultReset, 1)
	_, err := c.UpdateIncident(context.Background(), xdr.UpdateIncidentRequest{IncidentID: id, Update: xdr.IncidentUpdate{Comment: xdr.AddComment("once")}})
	if err == nil || !xdr.WriteUnsettled(err) {
		t.Fatalf("reset write: %v, want an unsettled error", err)
	}
	if after := currentIncident(t, c, id); after.ModificationTime == before.ModificationTime {
		t.Error("the reset call was not applied, so it models no lost reply")
	}
}

func TestTenantWideBudget(t *testing.T) {
	tenant, base, clk := startSim(t, xdrtest.Config{Seed: 5, Incidents: 5, RequestsPerSecond: 3})
	c := simClient(t, base, xdr.AuthStandard, clk)
	id := tenant.IncidentIDs()[0]
	var got429 bool
	for range 4 {
		_, err := c.UpdateIncident(context.Background(), xdr.UpdateIncidentRequest{IncidentID: id, Update: xdr.IncidentUpdate{ManualSeverity: ptr("low")}})
		if ae, ok := errors.AsType[*xdr.APIError](err); ok && ae.Status == http.StatusTooManyRequests {
			got429 = true
			if xdr.WriteUnsettled(err) {
				t.Error("a 429 is settled: nothing was applied")
			}
		}
	}
	if !got429 || tenant.CountPaced429() != 1 {
		t.Errorf("4 calls in one second at 3/s: 429 %v, counted %d", got429, tenant.CountPaced429())
	}
}
