package xdr

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strings"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/trace"
)

// EndpointGetMultipleIncidentsExtraData is the bulk extra-data endpoint: the
// extra data of up to MaxBulkIncidents incidents in one call.
const EndpointGetMultipleIncidentsExtraData = "get_multiple_incidents_extra_data"

// MaxBulkIncidents is the most incidents one get_multiple_incidents_extra_data
// call may ask for (its search_to).
const MaxBulkIncidents = 100

// MultipleExtraDataRequest asks get_multiple_incidents_extra_data for the
// extra data of the listed incidents. It is sent as
//
//	{"filters": [{"field": "incident_id_list", "operator": "in", "value": [ids...]}],
//	 "search_to": len(ids), "sort": {"field": "creation_time", "keyword": "asc"}}
type MultipleExtraDataRequest struct {
	IncidentIDs []string
}

// Validate checks r before any I/O: between 1 and MaxBulkIncidents ids, none
// empty, none twice. Errors wrap ErrInvalidRequest.
func (r MultipleExtraDataRequest) Validate() error {
	switch n := len(r.IncidentIDs); {
	case n == 0:
		return fmt.Errorf("%w: no incident ids", ErrInvalidRequest)
	case n > MaxBulkIncidents:
		return fmt.Errorf("%w: %d incident ids exceed the maximum of %d", ErrInvalidRequest, n, MaxBulkIncidents)
	}
	seen := make(map[string]struct{}, len(r.IncidentIDs))
	for i, id := range r.IncidentIDs {
		id = strings.TrimSpace(id)
		if id == "" {
			return fmt.Errorf("%w: incident id %d is empty", ErrInvalidRequest, i)
		}
		if _, dup := seen[id]; dup {
			return fmt.Errorf("%w: incident id %s is listed twice", ErrInvalidRequest, id)
		}
		seen[id] = struct{}{}
	}
	return nil
}

// requestData is the request_data the endpoint is sent.
func (r MultipleExtraDataRequest) requestData() IncidentsRequest {
	ids := make([]string, len(r.IncidentIDs))
	for i, id := range r.IncidentIDs {
		ids[i] = strings.TrimSpace(id)
	}
	return IncidentsRequest{
		Filters:  []Filter{IncidentIDs(ids...)},
		SearchTo: len(ids),
		Sort:     &Sort{Field: FieldCreationTime, Keyword: SortAsc},
	}
}

// MultipleExtraData is the reply of get_multiple_incidents_extra_data.
type MultipleExtraData struct {
	// TotalCount and ResultCount are the reply's counts; when absent they
	// are the number of items.
	TotalCount  int
	ResultCount int
	// AlertsLimitPerIncident is the most alerts the reply carries per
	// incident, a setting of the tenant (50 is common); 0 when the reply
	// does not say. An incident with more alerts than this must be fetched
	// with get_incident_extra_data to be complete.
	AlertsLimitPerIncident int
	// Items are the reply's incidents in reply order, one per item.
	Items []MultipleExtraDataItem
	// KeyEchoes counts the API key's echoes that the client replaced by
	// [REDACTED] in the reply before decoding it (see ExtraData.KeyEchoes).
	KeyEchoes int
}

// MultipleExtraDataItem is one incident of a bulk reply. Data is set when the
// item decodes and passes ExtraData.Check, exactly as get_incident_extra_data's
// reply for that incident would; otherwise Err (wrapping ErrMalformed) says
// why, and IncidentID is the id the item names, when it names one. A malformed
// item never fails the reply: the other items stay usable.
type MultipleExtraDataItem struct {
	IncidentID string
	Data       *ExtraData
	Err        error
}

// DecodeMultipleExtraData decodes a get_multiple_incidents_extra_data reply
// body, {"reply": {"total_count", "result_count", "alerts_limit_per_incident",
// "incidents": [{"incident", "alerts", "network_artifacts", "file_artifacts"}]}}.
// Each item is decoded by the rules of DecodeExtraData, per item. It returns an
// error wrapping ErrMalformed only when the envelope is not the documented one:
// no "reply" object, a reply carrying an error instead of incidents, or
// "incidents" that is not a list. The result does not alias body.
func DecodeMultipleExtraData(body []byte) (*MultipleExtraData, error) {
	reply, err := replyObject(body)
	if err != nil {
		return nil, fmt.Errorf("decoding %s reply: %w", EndpointGetMultipleIncidentsExtraData, err)
	}
	raw, ok := reply["incidents"]
	if !ok && hasAny(reply, "err_code", "err_msg") {
		// Whole, so that the client scrubs it of the key before it is cut.
		return nil, &carriedError{endpoint: EndpointGetMultipleIncidentsExtraData, msg: errText(reply["err_msg"])}
	}
	if t := strings.TrimSpace(string(raw)); !ok || t == "" || t[0] != '[' && t != "null" {
		return nil, fmt.Errorf("decoding %s reply: %w: \"incidents\" is not a list", EndpointGetMultipleIncidentsExtraData, ErrMalformed)
	}
	items := arrayItems(raw)
	out := &MultipleExtraData{Items: make([]MultipleExtraDataItem, 0, len(items))}
	for i, it := range items {
		out.Items = append(out.Items, decodeBulkItem(i, it))
	}
	out.TotalCount = countOr(reply["total_count"], len(out.Items))
	out.ResultCount = countOr(reply["result_count"], len(out.Items))
	out.AlertsLimitPerIncident = max(countOr(reply["alerts_limit_per_incident"], 0), 0)
	return out, nil
}

// decodeBulkItem decodes item i of a bulk reply.
func decodeBulkItem(i int, raw []byte) MultipleExtraDataItem {
	m, ok := object(raw)
	if !ok {
		return MultipleExtraDataItem{Err: fmt.Errorf("%w: item %d is not an object", ErrMalformed, i)}
	}
	var it MultipleExtraDataItem
	if inc, ok := object(m["incident"]); ok {
		it.IncidentID = Text(inc["incident_id"])
	}
	d, err := extraDataOf(m)
	if err != nil {
		it.Err = fmt.Errorf("item %d: %w", i, err)
		return it
	}
	it.Data = &d
	return it
}

// GetMultipleIncidentsExtraData calls get_multiple_incidents_extra_data once
// for the listed incidents. Errors are as for GetIncidents; an item that does
// not decode is reported in its MultipleExtraDataItem, not as an error. An
// incident asked for and absent from the reply is simply absent: the caller
// decides what that means (see EndpointNotServed for a tenant without the
// endpoint).
func (c *Client) GetMultipleIncidentsExtraData(ctx context.Context, req MultipleExtraDataRequest) (_ *MultipleExtraData, err error) {
	const ep = EndpointGetMultipleIncidentsExtraData
	if err := req.Validate(); err != nil {
		return nil, fmt.Errorf("validating %s request: %w", ep, err)
	}
	ctx, span := c.tracer.Start(ctx, ep, trace.WithSpanKind(trace.SpanKindClient), trace.WithAttributes(
		attribute.Int("xdr.incidents_asked", len(req.IncidentIDs))))
	start, status := time.Now(), 0
	defer func() { c.observe(ctx, span, ep, start, status, err) }()
	body, status, release, err := c.call(ctx, ep, req.requestData())
	if err != nil {
		return nil, err
	}
	defer release()
	body, echoes := c.sc.reply(body)
	reply, err := DecodeMultipleExtraData(body)
	if err != nil {
		return nil, c.malformed(ep, body, err)
	}
	for i := range reply.Items {
		it := &reply.Items[i]
		if ce, ok := errors.AsType[*carriedError](it.Err); ok {
			// An item's carried message is server text: scrubbed as an
			// error reply's is.
			it.Err = fmt.Errorf("item %d: %w", i, &carriedError{endpoint: ep, msg: c.sc.text(ce.msg)})
		}
	}
	reply.KeyEchoes = echoes
	span.SetAttributes(attribute.Int("xdr.result_count", len(reply.Items)),
		attribute.Int("xdr.alerts_limit_per_incident", reply.AlertsLimitPerIncident))
	return reply, nil
}

// endpointMissingText matches what a gateway or server says of a path it does
// not serve: the bulk endpoint's own name, or "unknown endpoint", "endpoint
// not found", "no such API", "invalid URL", "route not found" and the like.
var endpointMissingText = regexp.MustCompile(`(?i)get_multiple_incidents_extra_data|\b(unknown|invalid|unsupported|no such)\b[^.;]{0,20}\b(endpoint|api|path|route|url)\b|\b(endpoint|api|path|route|url)\b[^.;]{0,20}\b(not found|does not exist|doesn't exist|not supported|not available|unknown)\b`)

// EndpointNotServed reports whether err says that the tenant does not serve
// get_multiple_incidents_extra_data at all, so a caller may fall back to
// get_incident_extra_data. The rule:
//
//   - an *APIError of the bulk endpoint with HTTP 404, unless its text says
//     an incident was not found (IncidentNotFound);
//   - or one with HTTP 400, 405, 500 or 501 whose err_msg or err_extra names
//     the endpoint's path or says the endpoint, API, path or route is unknown
//     or not found (endpointMissingText).
//
// 401, 402, 403 and 429 never match: they keep their own handling. A
// transport error, a timeout or a malformed reply never matches either: the
// endpoint answered, or may answer next time.
func EndpointNotServed(err error) bool {
	ae, ok := errors.AsType[*APIError](err)
	if !ok || ae.Endpoint != EndpointGetMultipleIncidentsExtraData {
		return false
	}
	text := ae.Message + " " + ae.Extra
	switch ae.Status {
	case http.StatusNotFound:
		return !notFoundText.MatchString(text) || endpointMissingText.MatchString(text)
	case http.StatusBadRequest, http.StatusMethodNotAllowed, http.StatusInternalServerError, http.StatusNotImplemented:
		return endpointMissingText.MatchString(text)
	}
	return false
}
