package xdr

import (
	"context"
	"errors"
	"fmt"
	"net"
	"strings"
	"syscall"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// Endpoint names of the write calls, as they appear in URLs and in
// APIError.Endpoint.
const (
	EndpointUpdateIncident = "update_incident"
	EndpointUpdateAlerts   = "update_alerts"
)

// MaxUpdateAlerts is the most alert ids one update_alerts call takes.
const MaxUpdateAlerts = 100

// endpointPath is the URL path of endpoint below the base URL: every
// endpoint lives under /public_api/v1/incidents/ except update_alerts.
func endpointPath(endpoint string) string {
	if endpoint == EndpointUpdateAlerts {
		return apiPath + "/alerts/" + endpoint + "/"
	}
	return apiPath + "/incidents/" + endpoint + "/"
}

// IncidentUpdate is update_data of update_incident. A nil field is left
// alone by the API; a pointer to "" sends "" (an empty AssignedUserMail
// unassigns, an empty ManualSeverity clears the manual severity).
type IncidentUpdate struct {
	AssignedUserMail       *string  `json:"assigned_user_mail,omitempty"`
	AssignedUserPrettyName *string  `json:"assigned_user_pretty_name,omitempty"`
	ManualSeverity         *string  `json:"manual_severity,omitempty"`
	Status                 *string  `json:"status,omitempty"`
	ResolveComment         *string  `json:"resolve_comment,omitempty"`
	Comment                *Comment `json:"comment,omitempty"`
}

// Comment is the comment of an update: {"comment_action": "add", "value"}.
type Comment struct {
	Action string `json:"comment_action"` // "add"
	Value  string `json:"value"`
}

// AddComment is the comment that adds value.
func AddComment(value string) *Comment { return &Comment{Action: "add", Value: value} }

// UpdateIncidentRequest is the request_data of update_incident.
type UpdateIncidentRequest struct {
	IncidentID string         `json:"incident_id"`
	Update     IncidentUpdate `json:"update_data"`
}

// Validate checks what the client can check before sending: an incident id,
// something to update, a pretty name only with a mail. Errors wrap
// ErrInvalidRequest.
func (r UpdateIncidentRequest) Validate() error {
	u := r.Update
	switch {
	case strings.TrimSpace(r.IncidentID) == "":
		return fmt.Errorf("%w: incident_id is required", ErrInvalidRequest)
	case u == IncidentUpdate{}:
		return fmt.Errorf("%w: update_data is empty", ErrInvalidRequest)
	case u.AssignedUserPrettyName != nil && u.AssignedUserMail == nil:
		return fmt.Errorf("%w: assigned_user_pretty_name needs assigned_user_mail", ErrInvalidRequest)
	case u.Comment != nil && strings.TrimSpace(u.Comment.Value) == "":
		return fmt.Errorf("%w: a comment needs a value", ErrInvalidRequest)
	}
	return nil
}

// AlertsUpdate is update_data of update_alerts; nil fields are left alone.
type AlertsUpdate struct {
	Severity *string `json:"severity,omitempty"`
	Status   *string `json:"status,omitempty"`
	Comment  *string `json:"comment,omitempty"`
}

// UpdateAlertsRequest is the request_data of update_alerts.
type UpdateAlertsRequest struct {
	AlertIDs []string     `json:"alert_id_list"`
	Update   AlertsUpdate `json:"update_data"`
}

// Validate checks 1 to MaxUpdateAlerts non-empty alert ids and something to
// update. Errors wrap ErrInvalidRequest.
func (r UpdateAlertsRequest) Validate() error {
	switch {
	case len(r.AlertIDs) == 0 || len(r.AlertIDs) > MaxUpdateAlerts:
		return fmt.Errorf("%w: alert_id_list must hold 1 to %d ids, not %d", ErrInvalidRequest, MaxUpdateAlerts, len(r.AlertIDs))
	case r.Update == AlertsUpdate{}:
		return fmt.Errorf("%w: update_data is empty", ErrInvalidRequest)
	}
	for _, id := range r.AlertIDs {
		if strings.TrimSpace(id) == "" {
			return fmt.Errorf("%w: alert_id_list holds an empty id", ErrInvalidRequest)
		}
	}
	return nil
}

// UpdateReply is what a write call answered: the HTTP status and, for
// update_alerts, the ids the API reports updated.
type UpdateReply struct {
	Status   int
	AlertIDs []string
}

// UpdateIncident calls update_incident once. req is validated first (errors
// wrap ErrInvalidRequest; nothing is sent). Failures are as for
// GetIncidents; a 2xx reply whose body does not decode still means the API
// took the update, so it is returned with a nil error. Retryable tells
// whether another attempt is worth it, not whether it is safe: a timeout or
// a 5xx may follow an update the API applied.
func (c *Client) UpdateIncident(ctx context.Context, req UpdateIncidentRequest) (_ *UpdateReply, err error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating %s request: %w", EndpointUpdateIncident, err)
	}
	req.IncidentID = strings.TrimSpace(req.IncidentID)
	ctx, span := c.tracer.Start(ctx, EndpointUpdateIncident, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.String("xdr.incident_id", req.IncidentID)))
	start, status := time.Now(), 0
	defer func() { c.observe(ctx, span, EndpointUpdateIncident, start, status, err) }()
	_, status, release, err := c.call(ctx, EndpointUpdateIncident, req)
	if err != nil {
		return nil, err
	}
	release()
	return &UpdateReply{Status: status}, nil
}

// UpdateAlerts calls update_alerts once; see UpdateIncident. The reply's
// alerts_ids, when the body carries them, are in AlertIDs.
func (c *Client) UpdateAlerts(ctx context.Context, req UpdateAlertsRequest) (_ *UpdateReply, err error) {
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating %s request: %w", EndpointUpdateAlerts, err)
	}
	ctx, span := c.tracer.Start(ctx, EndpointUpdateAlerts, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.Int("xdr.alert_count", len(req.AlertIDs))))
	start, status := time.Now(), 0
	defer func() { c.observe(ctx, span, EndpointUpdateAlerts, start, status, err) }()
	body, status, release, err := c.call(ctx, EndpointUpdateAlerts, req)
	if err != nil {
		return nil, err
	}
	defer release()
	out := &UpdateReply{Status: status, AlertIDs: []string{}}
	if reply, derr := replyObject(body); derr == nil {
		for _, it := range arrayItems(reply["alerts_ids"]) {
			if id := Text(it); id != "" {
				out.AlertIDs = append(out.AlertIDs, id)
			}
		}
	}
	return out, nil
}

// WriteUnsettled reports whether err, returned by a write call, leaves open
// whether the API applied the update: no reply came back after the request
// may have reached the server (a timeout, a reset, a truncated or cut
// reply), or a 5xx, which a server may send after applying it. A 4xx (429
// included: the API refuses before applying), a request the client refused,
// the caller's context ending before sending, and a connection never made
// are settled: nothing was applied.
func WriteUnsettled(err error) bool {
	if err == nil || errors.Is(err, ErrInvalidRequest) {
		return false
	}
	if ae, ok := errors.AsType[*APIError](err); ok {
		return ae.Status >= 500
	}
	var dns *net.DNSError
	if errors.Is(err, syscall.ECONNREFUSED) || errors.As(err, &dns) {
		return false // no connection, so no request
	}
	return true
}
