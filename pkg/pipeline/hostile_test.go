package pipeline

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/soc-tools/xdr-kafka-connector/internal/testkit"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// hostileAPI is a correct tenant with hostile answers: one incident whose
// object is 1.2 MB, one whose first alert is, one whose extra data comes back
// for another incident, and some whose extra data lacks its shape: bodies
// (decoded by the real decoder) and spoiled replies, by incident id.
type hostileAPI struct {
	API
	bigChange, bigAlert, mismatch string
	bodies                        map[string]string
	spoiled                       map[string]func(*xdr.ExtraData)
}

// malformedBodies are extra-data bodies without the incident (or its id),
// or of another endpoint's shape.
var malformedBodies = []string{
	`{"reply":{}}`,
	`{"reply":{"incident":null,"alerts":{"total_count":1,"data":[{"alert_id":"1"}]}}}`,
	`{"reply":{"incident":{}}}`,
	`{"reply":{"total_count":1,"result_count":1,"incidents":[{"incident_id":"1","modification_time":5}],"restricted_incident_ids":[]}}`,
}

// inflate adds a 1.2 MB field to a JSON object.
func inflate(raw json.RawMessage) json.RawMessage {
	pad := `"command_line":"` + strings.Repeat("A", 1_200_000) + `",`
	return append([]byte("{"+pad), bytes.TrimPrefix(bytes.TrimSpace(raw), []byte("{"))...)
}

func (h hostileAPI) GetIncidents(ctx context.Context, req xdr.IncidentsRequest) (*xdr.IncidentsReply, error) {
	r, err := h.API.GetIncidents(ctx, req)
	if err != nil {
		return r, err
	}
	for i := range r.Incidents {
		if r.Incidents[i].ID == h.bigChange {
			r.Incidents[i].Raw = inflate(r.Incidents[i].Raw)
		}
	}
	return r, nil
}

func (h hostileAPI) GetIncidentExtraData(ctx context.Context, req xdr.ExtraDataRequest) (*xdr.ExtraData, error) {
	if body, ok := h.bodies[req.IncidentID]; ok {
		return xdr.DecodeExtraData([]byte(body))
	}
	ed, err := h.API.GetIncidentExtraData(ctx, req)
	if err != nil {
		return ed, err
	}
	if spoil, ok := h.spoiled[req.IncidentID]; ok {
		spoil(ed)
		return ed, nil
	}
	switch req.IncidentID {
	case h.bigAlert:
		ed.Alerts.Data[0].Raw = inflate(ed.Alerts.Data[0].Raw)
	case h.mismatch:
		ed.Incident.ID = "4242424242"
	}
	return ed, nil
}

// TestHostileRepliesKeepEveryOtherIncidentFlowing: a record larger than
// KAFKA_MAX_RECORD_BYTES, extra data for the wrong incident and extra data
// without its incident (or with an alert that is not an object) become DLQ
// records with their reason; the pipeline neither stops nor loses anything
// else, in both delivery modes, and every record it wrote matches its schema
// (e.Output validates each). (Before, the oversized produce failed with
// MESSAGE_TOO_LARGE and Run stopped, at every restart again; the mismatched
// reply was published as the asked incident's; a reply without the incident
// was published as "data": null.)
func TestHostileRepliesKeepEveryOtherIncidentFlowing(t *testing.T) {
	for _, delivery := range []string{AtLeastOnce, ExactlyOnce} {
		t.Run(delivery, func(t *testing.T) {
			e := testkit.New(t, xdrtest.Config{Seed: 23, Incidents: 40, MaxAlerts: 6, RateWindow: 100 * time.Millisecond})
			ids := e.Sim.IncidentIDs()
			h := hostileAPI{API: e.API, bigChange: ids[3], mismatch: ids[8], bodies: map[string]string{}, spoiled: map[string]func(*xdr.ExtraData){
				ids[5]: func(ed *xdr.ExtraData) { ed.Incident = xdr.Incident{} },
				ids[6]: func(ed *xdr.ExtraData) { ed.Incident.ID = "" },
				ids[7]: func(ed *xdr.ExtraData) {
					ed.Alerts.Data = append(ed.Alerts.Data, xdr.Alert{ID: "x", Raw: json.RawMessage(`"x"`)})
				},
			}}
			malformed := []string{ids[5], ids[6], ids[7]}
			for i, body := range malformedBodies {
				h.bodies[ids[11+i]] = body
				malformed = append(malformed, ids[11+i])
			}
			for _, id := range ids[11+len(malformedBodies):] {
				if tr, _ := e.Sim.Truth(id); tr.AlertCount >= 2 && !tr.Restricted {
					h.bigAlert = id
					break
				}
			}
			cfg := testConfig(e, 100*time.Millisecond)
			cfg.Delivery = delivery
			cfg.MaxRecordBytes = 1 << 20
			cfg.Enrich.MaxAttempts = 3
			cfg.EnrichBackoff = func() backoff.BackOff { return backoff.NewConstantBackOff(10 * time.Millisecond) }
			r := startWith(e, h, cfg)
			testkit.WaitFor(t, 60*time.Second, "the pipeline to drain past the hostile incidents", func() bool {
				return drained(r.p, e.Sim) && r.p.Stats().Enrich.DLQ == uint64(1+len(malformed))
			})
			s := r.p.Stats()
			r.stop(t)

			o := e.Output()
			var changeStandIn, alertStandIn, mismatched *testkit.Record
			malformedDLQ := map[string]*testkit.Record{}
			for i := range o.DLQ {
				d := &o.DLQ[i]
				switch {
				case d.Error.Stage == record.StagePublish && d.Error.RecordType == record.TypeIncidentChange:
					changeStandIn = d
				case d.Error.Stage == record.StagePublish && d.Error.RecordType == record.TypeAlert:
					alertStandIn = d
				case d.Error.Stage == "enrich" && d.IncidentID == h.mismatch:
					mismatched = d
				case d.Error.Stage == "enrich":
					malformedDLQ[d.IncidentID] = d
				}
			}
			if changeStandIn == nil || changeStandIn.IncidentID != h.bigChange || changeStandIn.Error.RecordBytes <= 1<<20 ||
				changeStandIn.Error.LimitBytes != 1<<20 || changeStandIn.Error.RecordKey != h.bigChange || len(changeStandIn.Value) > 64<<10 {
				t.Fatalf("change stand-in %+v", changeStandIn)
			}
			var data struct{ Excerpt string }
			if err := json.Unmarshal(changeStandIn.Data, &data); err != nil || len(data.Excerpt) == 0 || len(data.Excerpt) > record.ExcerptBytes {
				t.Fatalf("stand-in data %s: %v", changeStandIn.Data, err)
			}
			// The replaced change counts as published: its version is in
			// Kafka, as a DLQ record.
			o.Changes[testkit.Version{ID: changeStandIn.IncidentID, T: changeStandIn.ModificationTime}]++

			if alertStandIn == nil || alertStandIn.IncidentID != h.bigAlert || alertStandIn.Error.RecordTopic != "alerts" {
				t.Fatalf("alert stand-in %+v", alertStandIn)
			}
			en := o.Enriched[h.bigAlert]
			tr, _ := e.Sim.Truth(h.bigAlert)
			k := testkit.Version{ID: h.bigAlert, T: tr.ModificationTime}
			if en.Enrichment == nil || en.Enrichment.OversizedRecords != 1 || len(o.Alerts[k]) != tr.AlertCount-1 {
				t.Fatalf("incident %s: enrichment %+v with %d alert records, want oversized_records 1 and %d alerts",
					h.bigAlert, en.Enrichment, len(o.Alerts[k]), tr.AlertCount-1)
			}

			if mismatched == nil || mismatched.IncidentID != h.mismatch || !strings.Contains(mismatched.Error.Message, "another incident") {
				t.Fatalf("mismatched reply's DLQ record %+v", mismatched)
			}
			if _, ok := o.Enriched[h.mismatch]; ok {
				t.Fatalf("incident %s: the reply for another incident was published as its enrichment", h.mismatch)
			}
			if _, ok := o.Enriched["4242424242"]; ok {
				t.Fatal("the mismatched reply's incident was published")
			}
			skip := map[string]bool{h.bigAlert: true, h.mismatch: true}
			for _, id := range malformed {
				skip[id] = true
				d := malformedDLQ[id]
				if d == nil || d.Error.Attempts != cfg.Enrich.MaxAttempts || !strings.Contains(d.Error.Message, "malformed reply") {
					t.Errorf("incident %s: the malformed reply's DLQ record is %+v, want one after %d attempts", id, d, cfg.Enrich.MaxAttempts)
				}
				if en, ok := o.Enriched[id]; ok {
					t.Errorf("incident %s: a malformed reply was published as its enrichment: %s", id, en.Value)
				}
			}
			if len(malformedDLQ) != len(malformed) {
				t.Errorf("%d enrich-stage DLQ records besides the mismatched one, want %d", len(malformedDLQ), len(malformed))
			}
			if s.Oversized != 1 || s.Enrich.Oversized != 1 || s.Enrich.Mismatched < 3 || s.Enrich.Malformed < uint64(3*len(malformed)) {
				t.Fatalf("stats: oversized changes %d, oversized enrichment records %d, mismatched replies %d, malformed replies %d",
					s.Oversized, s.Enrich.Oversized, s.Enrich.Mismatched, s.Enrich.Malformed)
			}
			e.Verify(o, delivery == ExactlyOnce, func(xdrtest.Version) bool { return true }, skip)
		})
	}
}

// echoingTransport is a proxy that copies the request's Authorization header
// (the API key, with a standard key) into every object of a successful
// reply that has an incident_id, as members echo makes of it (nil: as it is
// and with its slashes escaped).
type echoingTransport struct {
	next http.RoundTripper
	echo func(key string) string
}

func (t echoingTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	key := r.Header.Get("Authorization")
	r = r.Clone(r.Context())
	r.Header.Del("Accept-Encoding") // a plain body to edit
	resp, err := t.next.RoundTrip(r)
	if err != nil || resp.StatusCode != http.StatusOK || key == "" {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if err != nil {
		return nil, err
	}
	echo := `"proxy_note":"` + key + `","proxy_trace":"auth ` + strings.ReplaceAll(key, "/", `\/`) + `",`
	if t.echo != nil {
		echo = t.echo(key)
	}
	body = bytes.ReplaceAll(body, []byte(`"incident_id":`), []byte(echo+`"incident_id":`))
	resp.Body = io.NopCloser(bytes.NewReader(body))
	resp.ContentLength = int64(len(body))
	resp.Header.Del("Content-Length")
	return resp, nil
}

// TestKeyEchoedIntoRepliesNeverReachesARecord: every reply echoes the key
// into the incidents and alerts; the records hold [REDACTED] instead, the
// echoes are counted and a warning is logged.
func TestKeyEchoedIntoRepliesNeverReachesARecord(t *testing.T) {
	e := testkit.New(t, xdrtest.Config{Seed: 1, Incidents: 1}) // for its broker
	const key = "c2VjcmV0/a2V5+d2l0aC9zbGFzaGVz/cGx1cw=="
	sim := xdrtest.New(xdrtest.Config{Seed: 29, Incidents: 8, MaxAlerts: 3, RateWindow: 100 * time.Millisecond, Now: time.Now, KeyID: "7", Key: key})
	base, stop := sim.Start()
	t.Cleanup(stop)
	api, err := xdr.New(xdr.Config{BaseURL: base, KeyID: "7", Key: xdr.NewSecret(key)},
		xdr.WithHTTPClient(&http.Client{Transport: echoingTransport{next: http.DefaultTransport}}))
	if err != nil {
		t.Fatal(err)
	}
	var logs testkit.LogBuffer
	r := startWith(e, api, testConfig(e, 100*time.Millisecond), WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
	testkit.WaitFor(t, 60*time.Second, "the pipeline to drain", func() bool { return drained(r.p, sim) })
	s := r.p.Stats()
	r.stop(t)

	if s.KeyEchoes == 0 || s.Enrich.KeyEchoes == 0 {
		t.Errorf("echoes counted: get_incidents %d, get_incident_extra_data %d; want both above 0", s.KeyEchoes, s.Enrich.KeyEchoes)
	}
	for _, line := range []string{"get_incidents echoed the API key into its reply", "get_incident_extra_data echoed the API key into its reply"} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("no warning %q", line)
		}
	}
	redactedSeen := false
	for _, topic := range []string{testkit.Topics.Incidents, testkit.Topics.Alerts, testkit.Topics.Artifacts, testkit.Topics.DLQ} {
		for _, rec := range e.ReadTopic(topic) {
			v := string(rec.Value)
			for i := 0; i+8 <= len(key); i++ {
				if strings.Contains(v, key[i:i+8]) || strings.Contains(strings.ReplaceAll(v, `\/`, "/"), key[i:i+8]) {
					t.Fatalf("%s: a record holds %q of the key: %s", topic, key[i:i+8], v)
				}
			}
			redactedSeen = redactedSeen || strings.Contains(v, "[REDACTED]")
		}
	}
	if !redactedSeen {
		t.Error("no record carries the [REDACTED] marker: the echo never reached the records")
	}
	if strings.Contains(logs.String(), key[:8]) {
		t.Error("the log holds the key")
	}
}
