// Package ocsf maps Cortex XDR incidents and alerts to OCSF events of schema
// version Version: an incident version becomes an Incident Finding (class_uid
// 2005), an alert a Detection Finding (class_uid 2004). The JSON Schema of
// both classes at that version is in schemas/ocsf/; schemas/README.md has the
// field-by-field mapping.
//
// The mappings are pure: no I/O, no clock, no logging. Each takes the decoded
// API objects and the record.Meta of the connector, and returns the event or
// an error when the API object cannot be mapped at all (it is not a JSON
// object); no field value is ever an error.
package ocsf

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Version is the OCSF schema version every event declares in
// metadata.version.
const Version = "1.8.0"

// Class and category identifiers.
const (
	CategoryFindings      = 2
	ClassDetectionFinding = 2004
	ClassIncidentFinding  = 2005
)

// Activities of both classes.
const (
	ActivityCreate = 1
	ActivityUpdate = 2
	ActivityClose  = 3
)

// Product names.
const (
	ProductName = "Cortex XDR"
	VendorName  = "Palo Alto Networks"
)

// Log names: the API endpoint an event's data was read from.
const (
	LogIncidents = "get_incidents"
	LogExtraData = "get_incident_extra_data"
)

// Unassigned is the assignee group of an incident that has no assignee: the
// class requires an assignee or an assignee group, and an unassigned incident
// sits in the queue of unassigned incidents.
const Unassigned = "Unassigned"

const other = 99

// IncidentChange returns the Incident Finding of one incident version as
// get_incidents returned it. With no alerts yet, finding_info_list holds one
// finding made from the incident itself.
func IncidentChange(m record.Meta, inc xdr.Incident) (*IncidentFinding, error) {
	f, _, err := incident(m, inc.ModificationTime, inc, LogIncidents)
	if err != nil {
		return nil, err
	}
	return f, nil
}

// IncidentEnriched returns the Incident Finding of one get_incident_extra_data
// reply: finding_info_list holds one finding per alert (the incident's own
// when the reply has none), the observables include the artifacts, and the
// artifacts' other fields are kept under unmapped. Its time is max(version,
// the reply's modification_time), as the native enriched record's.
func IncidentEnriched(m record.Meta, version int64, ed *xdr.ExtraData) (*IncidentFinding, error) {
	f, err := enriched(m, version, ed)
	if err != nil {
		return nil, err
	}
	infos := make([]FindingInfo, 0, len(ed.Alerts.Data))
	keys := record.ReplyKeys(ed).Alerts
	for i := range ed.Alerts.Data {
		a := &ed.Alerts.Data[i]
		v, err := xdrview.New(a.Raw)
		if err != nil {
			continue // an alert that is not an object has nothing to report
		}
		fi := alertInfo(keys[i], v, &arena{})
		infos = append(infos, fi)
		f.span(fi.CreatedTime)
	}
	if len(infos) > 0 {
		f.FindingInfoList = infos
	}
	return f, nil
}

// span widens the finding's start and end times to take in t, an alert's
// detection time (none when 0).
func (f *IncidentFinding) span(t int64) {
	if t > 0 {
		if f.StartTime == 0 || t < f.StartTime {
			f.StartTime = t
		}
		f.EndTime = max(f.EndTime, t)
	}
}

// enriched is IncidentEnriched without the alerts' findings: its
// finding_info_list holds the incident's own.
func enriched(m record.Meta, version int64, ed *xdr.ExtraData) (*IncidentFinding, error) {
	inc := ed.Incident
	f, _, err := incident(m, max(version, inc.ModificationTime), inc, LogExtraData)
	if err != nil {
		return nil, err
	}
	obs := observables(f.Observables)
	var netRaw, fileRaw []json.RawMessage
	for _, a := range ed.NetworkArtifacts.Data {
		if d := strings.TrimSuffix(strings.TrimSpace(a.Domain), "."); !xdrview.Missing(d) {
			obs.add("network_artifacts.network_domain", obsHostname, d)
		}
		if ip, ok := xdrview.IP(a.RemoteIP); ok {
			obs.add("network_artifacts.network_remote_ip", obsIP, ip)
		}
		if a.Value != "" {
			if ip, ok := xdrview.IP(a.Value); ok {
				obs.add("network_artifacts", obsIP, ip)
			} else {
				obs.add("network_artifacts", obsHostname, a.Value)
			}
		}
		netRaw = append(netRaw, a.Raw)
	}
	for _, a := range ed.FileArtifacts.Data {
		if h := strings.ToLower(strings.TrimSpace(a.SHA256)); !xdrview.Missing(h) {
			obs.add("file_artifacts.file_sha256", obsHash, h)
		}
		if n := strings.TrimSpace(a.FileName); !xdrview.Missing(n) {
			obs.add("file_artifacts.file_name", obsFileName, n)
		}
		if a.Value != "" {
			obs.add("file_artifacts", obsHash, strings.ToLower(a.Value))
		}
		fileRaw = append(fileRaw, a.Raw)
	}
	f.Observables = obs
	if len(netRaw) > 0 {
		f.Unmapped = withRaw(f.Unmapped, "network_artifacts", netRaw)
	}
	if len(fileRaw) > 0 {
		f.Unmapped = withRaw(f.Unmapped, "file_artifacts", fileRaw)
	}
	return f, nil
}

// Alert returns the Detection Finding of one alert of an enriched reply: inc
// is the reply's incident, version the incident version its native record
// carries (see enrich.Flatten) and key the alert's record key in its reply
// (record.ReplyKeys; record.AlertKey for an alert alone).
// finding_info.uid and metadata.uid are derived from the key,
// metadata.correlation_uid is the incident id.
func Alert(m record.Meta, version int64, inc xdr.Incident, a xdr.Alert, key string) (*DetectionFinding, error) {
	v, err := xdrview.New(a.Raw)
	if err != nil {
		return nil, AlertError(inc, err)
	}
	f := alert(m, version, inc, key, v, &arena{})
	f.Unmapped = v.Rest()
	return f, nil
}

// AlertError is the error of an alert that cannot be mapped: err is why its
// View could not be made.
func AlertError(inc xdr.Incident, err error) error {
	return fmt.Errorf("mapping alert of incident %s to OCSF: %w", inc.ID, err)
}

// alert maps the alert whose View is v and whose record key is key, with the
// memory of ar.
func alert(m record.Meta, version int64, inc xdr.Incident, key string, v *xdrview.View, ar *arena) *DetectionFinding {
	ar.reset()
	v.Forget()
	version = max(version, inc.ModificationTime)
	info := alertInfo(key, v, ar)

	status := xdrview.Status(v.Text("resolution_status"))
	if status == "" {
		status = xdrview.Status(inc.Status)
	}
	activity := ActivityCreate
	switch {
	case xdrview.Resolved(status):
		activity = ActivityClose
	case v.Time("last_modified_ts") > 0:
		activity = ActivityUpdate
	}
	f := &ar.finding
	*f = DetectionFinding{FindingInfo: info, IsAlert: true}
	f.base = newBase(ClassDetectionFinding, activity, version)
	f.SeverityID, f.Severity = severity(v.Text("severity"))
	f.StatusID, f.Status = findingStatus(status)
	f.Message = v.Text("name")
	f.Metadata = metadata(m, ClassDetectionFinding, key, version, LogExtraData, profilesAlert, ar)
	f.Metadata.CorrelUID = inc.ID
	f.Metadata.Labels = ar.list(v, "tags")
	f.ActionID, f.Action, f.DispositionID, f.Disposition = action(v.Text("action"))
	f.Attacks = info.Attacks

	obs := observables(ar.obs[:0])
	f.Device = device(v, &obs, ar)
	if ev, ok := evidence(v, &obs, ar); ok {
		ar.ev[0] = ev
		f.Evidences = ar.ev[:1:1]
	}
	f.Observables = obs
	ar.obs = obs
	v.Use("alert_id", "case_id") // the finding's uid and the correlation uid
	return f
}

// Encoder writes Detection Findings, reusing its memory from one alert to
// the next: once it has mapped an alert of each shape, it allocates
// nothing. It is not safe for concurrent use.
type Encoder struct{ ar arena }

// AppendAlert writes the Detection Finding that Alert returns for the alert
// whose View is v (which it marks) and whose record key is key, to w. fi is where in w.B its finding_info
// object lies, and created its created_time, for the incident finding's
// finding_info_list (see AppendIncidentEnriched).
func (e *Encoder) AppendAlert(w *jsonw.Writer, m record.Meta, version int64, inc xdr.Incident, key string, v *xdrview.View) (fi [2]int, created int64) {
	f := alert(m, version, inc, key, v, &e.ar)
	f.rest = v
	w.Open()
	f.base.appendJSON(w)
	w.Key("finding_info")
	fi[0] = len(w.B)
	f.FindingInfo.appendJSON(w)
	fi[1] = len(w.B)
	f.appendClass(w)
	w.Close()
	return fi, f.FindingInfo.CreatedTime
}

// AppendIncidentEnriched writes the Incident Finding that IncidentEnriched
// returns to w, given the alerts' findings the Encoder wrote: infos, their
// finding_info objects comma-separated (none when no alert could be
// mapped), and the earliest and latest of their created times (0 when
// none).
func AppendIncidentEnriched(w *jsonw.Writer, m record.Meta, version int64, ed *xdr.ExtraData, infos []byte, first, last int64) error {
	f, err := enriched(m, version, ed)
	if err != nil {
		return err
	}
	if len(infos) > 0 {
		f.infoJSON = infos
	}
	f.span(first)
	f.span(last)
	f.AppendJSON(w)
	return nil
}

// AppendIncidentChange writes the Incident Finding that IncidentChange
// returns to w.
func AppendIncidentChange(w *jsonw.Writer, m record.Meta, inc xdr.Incident) error {
	f, err := IncidentChange(m, inc)
	if err != nil {
		return err
	}
	f.AppendJSON(w)
	return nil
}

// arena is the memory of one alert's mapping, reused for the next. What it
// runs out of comes from the heap.
type arena struct {
	finding DetectionFinding
	device  Device
	os      OS
	ev      [1]Evidence
	procs   [2]Process
	nproc   int
	files   [3]File
	hashes  [3][2]Fingerprint
	nfile   int
	eps     [2]NetworkEndpoint
	nep     int
	query   DNSQuery
	users   [1]User
	nuser   int
	ents    [8]Entity
	nent    int
	attacks []Attack
	mitres  []xdrview.Mitre
	strs    []string // lists placed in the event
	tmp     []string // lists read and dropped
	obs     []Observable
	digest  []byte
	uid     [32]byte
}

var profilesAlert = []string{"security_control"}
var profilesIncident = []string{"incident"}

func (ar *arena) reset() {
	ar.nproc, ar.nfile, ar.nep, ar.nuser, ar.nent = 0, 0, 0, 0, 0
	ar.attacks, ar.mitres, ar.strs, ar.tmp, ar.obs = ar.attacks[:0], ar.mitres[:0], ar.strs[:0], ar.tmp[:0], ar.obs[:0]
}

// list is v.List(name) in the arena.
func (ar *arena) list(v *xdrview.View, name string) []string {
	n := len(ar.strs)
	ar.strs = v.AppendList(ar.strs, name)
	if len(ar.strs) == n {
		return nil
	}
	return ar.strs[n:len(ar.strs):len(ar.strs)]
}

// take returns the next free element of slots, set to v, and counts it in
// *n; when slots are all taken, a new one from the heap.
func take[T any](slots []T, n *int, v T) *T {
	if *n == len(slots) {
		p := new(T)
		*p = v
		return p
	}
	p := &slots[*n]
	*n++
	*p = v
	return p
}

func (ar *arena) entity(e Entity) *Entity                     { return take(ar.ents[:], &ar.nent, e) }
func (ar *arena) process(p Process) *Process                  { return take(ar.procs[:], &ar.nproc, p) }
func (ar *arena) endpoint(e NetworkEndpoint) *NetworkEndpoint { return take(ar.eps[:], &ar.nep, e) }
func (ar *arena) user(u User) *User                           { return take(ar.users[:], &ar.nuser, u) }

// file is take for files: an arena file's hashes use the arena's memory.
func (ar *arena) file(f File) *File {
	if ar.nfile < len(ar.files) {
		f.Hashes = ar.hashes[ar.nfile][:0]
	}
	return take(ar.files[:], &ar.nfile, f)
}

// incident maps the fields an incident version has in both record types. It
// also returns the finding made from the incident itself.
func incident(m record.Meta, version int64, inc xdr.Incident, log string) (*IncidentFinding, FindingInfo, error) {
	v, err := xdrview.New(inc.Raw)
	if err != nil {
		return nil, FindingInfo{}, fmt.Errorf("mapping incident %s to OCSF: %w", inc.ID, err)
	}
	status := xdrview.Status(v.Text("status"))
	created := v.Time("creation_time")
	activity := ActivityUpdate
	switch {
	case xdrview.Resolved(status):
		activity = ActivityClose
	case created > 0 && version <= created:
		activity = ActivityCreate
	}
	f := &IncidentFinding{}
	f.base = newBase(ClassIncidentFinding, activity, version)
	f.SeverityID, f.Severity = severity(v.Text("severity"))
	f.StatusID, f.Status, f.VerdictID, f.Verdict = incidentStatus(status)
	f.Metadata = metadata(m, ClassIncidentFinding, inc.ID, version, log, profilesIncident, &arena{})
	f.Metadata.CorrelUID = inc.ID
	f.Metadata.Labels = v.List("tags")

	name, desc := v.Text("incident_name"), v.Text("description")
	f.Message = first(name, desc)
	f.Desc = desc
	f.SrcURL = v.Text("xdr_url")
	f.Comment = v.Text("resolve_comment")
	f.Attacks = attacks(v.Mitres("mitre_tactics_ids_and_names"), v.Mitres("mitre_techniques_ids_and_names"), &arena{})

	if mail, pretty := v.Text("assigned_user_mail"), v.Text("assigned_user_pretty_name"); mail != "" || pretty != "" {
		u := &User{Name: first(pretty, mail), FullName: pretty}
		if strings.Contains(mail, "@") {
			u.EmailAddr = mail
		} else {
			u.UID = mail
		}
		f.Assignee = u
	} else {
		f.AssigneeGroup = &Group{Name: Unassigned, Desc: "The incident has no assignee in Cortex XDR."}
	}
	if p := v.Text("manual_severity"); xdrview.Severity(p) != "" {
		f.PriorityID, f.Priority = priority(p)
	}

	obs := observables(nil)
	for _, h := range v.List("hosts") {
		name, agent := xdrview.Host(h)
		if !xdrview.Missing(name) {
			obs.add("hosts", obsHostname, name)
		}
		if !xdrview.Missing(agent) {
			obs.add("hosts", obsResourceUID, agent)
		}
	}
	for _, u := range v.List("users") {
		obs.add("users", obsUserName, u)
	}
	f.Observables = obs

	self := FindingInfo{
		UID:          first(inc.ID, v.Text("incident_id")),
		Title:        first(name, desc),
		Desc:         desc,
		CreatedTime:  created,
		ModifiedTime: v.Time("modification_time"),
		SrcURL:       f.SrcURL,
		Types:        v.List("alert_categories"),
		DataSources:  v.List("incident_sources"),
		Attacks:      f.Attacks,
	}
	f.FindingInfoList = []FindingInfo{self}
	f.Unmapped = v.Rest()
	return f, self, nil
}

// alertInfo is the finding an alert describes, with the memory of ar; key
// is its record key.
func alertInfo(key string, v *xdrview.View, ar *arena) FindingInfo {
	fi := FindingInfo{
		UID:          key,
		UIDAlt:       v.Text("external_id"),
		Title:        v.Text("name"),
		Desc:         v.Text("description"),
		CreatedTime:  v.Time("detection_timestamp"),
		ModifiedTime: v.Time("last_modified_ts"),
		Types:        ar.list(v, "category"),
		DataSources:  ar.list(v, "source"),
	}
	ar.mitres = v.AppendMitres(ar.mitres[:0], "mitre_tactic_id_and_name")
	n := len(ar.mitres)
	ar.mitres = v.AppendMitres(ar.mitres, "mitre_technique_id_and_name")
	fi.Attacks = attacks(ar.mitres[:n], ar.mitres[n:], ar)
	if fi.Title == "" {
		fi.Title = fi.UID
	}
	return fi
}

func newBase(class int, activity int, t int64) base {
	className := "Incident Finding"
	if class == ClassDetectionFinding {
		className = "Detection Finding"
	}
	return base{
		ActivityID: activity, ActivityName: activityNames[activity],
		CategoryUID: CategoryFindings, CategoryName: "Findings",
		ClassUID: class, ClassName: className,
		TypeUID: class*100 + activity, TypeName: typeNames[class*100+activity],
		Time: t,
	}
}

var typeNames = map[int]string{
	ClassIncidentFinding*100 + ActivityCreate:  "Incident Finding: Create",
	ClassIncidentFinding*100 + ActivityUpdate:  "Incident Finding: Update",
	ClassIncidentFinding*100 + ActivityClose:   "Incident Finding: Close",
	ClassDetectionFinding*100 + ActivityCreate: "Detection Finding: Create",
	ClassDetectionFinding*100 + ActivityUpdate: "Detection Finding: Update",
	ClassDetectionFinding*100 + ActivityClose:  "Detection Finding: Close",
}

var activityNames = map[int]string{ActivityCreate: "Create", ActivityUpdate: "Update", ActivityClose: "Close"}

// metadata is the metadata every event carries; its uid is a stable digest
// of the tenant, class, record key, version and log, so the same version
// mapped twice gets the same uid.
func metadata(m record.Meta, class int, key string, version int64, log string, profiles []string, ar *arena) Metadata {
	d := ar.digest[:0]
	d = lenPrefixed(d, "xdr-ocsf/v1")
	d = lenPrefixed(d, m.Tenant)
	d = lenPrefixedInt(d, int64(class))
	d = lenPrefixed(d, key)
	d = lenPrefixedInt(d, version)
	d = lenPrefixed(d, log)
	ar.digest = d
	sum := sha256.Sum256(d)
	hex.Encode(ar.uid[:], sum[:16])
	return Metadata{
		Version:     Version,
		Product:     Product{Name: ProductName, VendorName: VendorName},
		Profiles:    profiles,
		TenantUID:   m.Tenant,
		UID:         unsafe.String(&ar.uid[0], len(ar.uid)),
		LogName:     log,
		LogProvider: m.Connector,
		LoggedTime:  m.FetchedAt,
	}
}

// lenPrefixed appends s preceded by its length and a colon, so that no two
// lists of fields make the same digest input.
func lenPrefixed(d []byte, s string) []byte {
	d = strconv.AppendInt(d, int64(len(s)), 10)
	d = append(d, ':')
	return append(d, s...)
}

// lenPrefixedInt is lenPrefixed for n's decimal text.
func lenPrefixedInt(d []byte, n int64) []byte {
	var num [20]byte
	text := strconv.AppendInt(num[:0], n, 10)
	d = strconv.AppendInt(d, int64(len(text)), 10)
	d = append(d, ':')
	return append(d, text...)
}

// severity maps an XDR severity to severity_id and its caption; an unknown
// word is Other (99) with the word as caption.
func severity(s string) (int, string) {
	level, word := xdrview.SeverityLevel(s)
	switch {
	case word == "":
		return 0, "Unknown"
	case level == 0:
		return other, word
	}
	return level, severityCaptions[level]
}

var severityCaptions = [...]string{
	xdrview.SeverityInformational: "Informational", xdrview.SeverityLow: "Low", xdrview.SeverityMedium: "Medium",
	xdrview.SeverityHigh: "High", xdrview.SeverityCritical: "Critical",
}

// priority maps a manual severity (not missing) to priority_id and its
// caption: the severity ladder with informational and low as one step, Low;
// an unknown word is Other (99) with the word as caption.
func priority(s string) (int, string) {
	level, word := xdrview.SeverityLevel(s)
	switch level {
	case 0:
		return other, word
	case xdrview.SeverityInformational:
		return 1, severityCaptions[xdrview.SeverityLow]
	}
	return level - 1, severityCaptions[level]
}

// Verdicts.
const (
	verdictUnknown       = 0
	verdictFalsePositive = 1
	verdictTruePositive  = 2
	verdictBenign        = 5
	verdictTest          = 6
	verdictDuplicate     = 10
)

var verdictNames = map[int]string{
	verdictUnknown: "Unknown", verdictFalsePositive: "False Positive", verdictTruePositive: "True Positive",
	verdictBenign: "Benign", verdictTest: "Test", verdictDuplicate: "Duplicate",
}

// resolvedVerdicts maps the resolved statuses whose verdict is known.
var resolvedVerdicts = map[string]int{
	"resolved_true_positive":      verdictTruePositive,
	"resolved_threat_handled":     verdictTruePositive,
	"resolved_false_positive":     verdictFalsePositive,
	"resolved_known_issue":        verdictBenign,
	"resolved_security_testing":   verdictTest,
	"resolved_duplicate":          verdictDuplicate,
	"resolved_duplicate_incident": verdictDuplicate,
}

// incidentStatus maps a normalised incident status to status_id, verdict_id
// and their captions: new → New, under_investigation → In Progress, every
// resolved_* → Resolved with the verdict its suffix names (Other when it
// names none), and any other status → Other for both, captioned with the
// status itself. An open incident's verdict is Unknown.
func incidentStatus(s string) (status int, statusName string, verdict int, verdictName string) {
	switch {
	case s == "new":
		return 1, "New", verdictUnknown, verdictNames[verdictUnknown]
	case s == "under_investigation":
		return 2, "In Progress", verdictUnknown, verdictNames[verdictUnknown]
	case xdrview.Resolved(s):
		if v, ok := resolvedVerdicts[s]; ok {
			return 4, "Resolved", v, verdictNames[v]
		}
		return 4, "Resolved", other, s
	case s == "":
		return 0, "Unknown", verdictUnknown, verdictNames[verdictUnknown]
	}
	return other, s, other, s
}

// findingStatus maps a normalised alert status to a finding's status_id:
// new → New, under_investigation → In Progress, resolved as false positive,
// known issue or security testing → Suppressed, other resolved_* → Resolved,
// anything else → Other.
func findingStatus(s string) (int, string) {
	switch s {
	case "":
		return 0, "Unknown"
	case "new":
		return 1, "New"
	case "under_investigation":
		return 2, "In Progress"
	case "resolved_false_positive", "resolved_known_issue", "resolved_security_testing":
		return 3, "Suppressed"
	}
	if xdrview.Resolved(s) {
		return 4, "Resolved"
	}
	return other, s
}

// action maps an alert's action (BLOCKED, PREVENTED (BLOCKED), DETECTED,
// DETECTED (REPORTED), ...) to action_id, disposition_id and their captions.
func action(s string) (int, string, int, string) {
	u := strings.ToUpper(s)
	switch {
	case u == "":
		return 0, "Unknown", 0, "Unknown"
	case strings.Contains(u, "QUARANTIN"):
		return 2, "Denied", 3, "Quarantined"
	case strings.Contains(u, "BLOCK") || strings.Contains(u, "PREVENT"):
		return 2, "Denied", 2, "Blocked"
	case strings.Contains(u, "ALLOW"):
		return 1, "Allowed", 15, "Detected"
	case strings.Contains(u, "DETECT") || strings.Contains(u, "REPORT") || strings.Contains(u, "SCAN"):
		return 3, "Observed", 15, "Detected"
	}
	return other, s, other, s
}

// attacks turns MITRE tactics and techniques into attack objects: one per
// tactic and one per technique (a sub-technique carries its parent's id as
// the technique). The API lists tactics and techniques apart, so they are
// paired only when there is exactly one of each (as an alert has).
func attacks(tactics, techniques []xdrview.Mitre, ar *arena) []Attack {
	if len(tactics) == 0 && len(techniques) == 0 {
		return nil
	}
	n := len(ar.attacks)
	if len(tactics) == 1 && len(techniques) == 1 {
		a := technique(techniques[0], ar)
		a.Tactic = ar.entity(Entity{UID: tactics[0].ID, Name: tactics[0].Name})
		ar.attacks = append(ar.attacks, a)
	} else {
		for _, t := range tactics {
			ar.attacks = append(ar.attacks, Attack{Tactic: ar.entity(Entity{UID: t.ID, Name: t.Name})})
		}
		for _, t := range techniques {
			ar.attacks = append(ar.attacks, technique(t, ar))
		}
	}
	return ar.attacks[n:len(ar.attacks):len(ar.attacks)]
}

func technique(t xdrview.Mitre, ar *arena) Attack {
	parent, ok := t.Sub()
	if !ok {
		return Attack{Technique: ar.entity(Entity{UID: t.ID, Name: t.Name})}
	}
	// "Command and Scripting Interpreter: PowerShell": the technique, then
	// the sub-technique.
	tech, sub, found := strings.Cut(t.Name, ": ")
	if !found {
		tech, sub = "", t.Name
	}
	return Attack{Technique: ar.entity(Entity{UID: parent, Name: tech}), SubTechnique: ar.entity(Entity{UID: t.ID, Name: sub})}
}

// device maps an alert's host fields.
func device(v *xdrview.View, obs *observables, ar *arena) *Device {
	d := &ar.device
	*d = Device{TypeID: 0, Type: "Unknown", UID: v.Text("endpoint_id"), Domain: v.Text("agent_device_domain")}
	fqdn, name := v.Text("agent_fqdn"), v.Text("host_name")
	d.Hostname, d.Name = first(fqdn, name), first(name, fqdn)
	if d.Hostname != "" {
		obs.add("host_name", obsHostname, d.Name)
	}
	if d.UID != "" {
		obs.add("endpoint_id", obsResourceUID, d.UID)
	}
	ar.tmp = v.AppendIPs(ar.tmp[:0], "host_ip")
	ips := ar.tmp
	if len(ips) > 0 {
		d.IP = ips[0]
	}
	for _, ip := range ips {
		obs.add("host_ip", obsIP, ip)
	}
	// A device has one MAC: the first valid one of mac, else of
	// mac_addresses (the v2 alerts API's name for it).
	ar.tmp = v.AppendSplit(ar.tmp[:0], "mac")
	ar.tmp = v.AppendSplit(ar.tmp, "mac_addresses")
	for _, mac := range ar.tmp {
		if xdrview.MAC(mac) {
			d.MAC = mac
			break
		}
	}
	if name := v.Text("agent_os_type"); name != "" {
		d.OS = &ar.os
		*d.OS = OS{Name: name, Version: v.Text("agent_os_sub_type")}
		d.OS.TypeID, d.OS.Type = osType(name)
	}
	if d.Hostname == "" && d.UID == "" && d.IP == "" {
		v.Unuse("mac", "mac_addresses", "agent_os_type", "agent_os_sub_type", "agent_device_domain")
		return nil
	}
	return d
}

func osType(name string) (int, string) {
	u := strings.ToUpper(name)
	switch {
	case strings.Contains(u, "WINDOWS"):
		return 100, "Windows"
	case strings.Contains(u, "ANDROID"):
		return 201, "Android"
	case strings.Contains(u, "LINUX"):
		return 200, "Linux"
	case strings.Contains(u, "MAC") || strings.Contains(u, "DARWIN"):
		return 300, "macOS"
	case strings.Contains(u, "IOS"):
		return 301, "iOS"
	}
	return other, name
}

// evidence gathers what an alert's detection rests on: the acting process
// and its causality (parent) process, the file acted on, the connection's
// two endpoints, the DNS question and the user. ok is false when the alert
// has none of these.
func evidence(v *xdrview.View, obs *observables, ar *arena) (Evidence, bool) {
	var ev Evidence
	// Process names are observables whether or not the process has a place
	// in the evidence (see process).
	for _, name := range [...]string{"action_process_image_name", "actor_process_image_name", "causality_actor_process_image_name", "image_name"} {
		ar.tmp = v.AppendList(ar.tmp[:0], name)
		for _, n := range ar.tmp {
			obs.add(name, obsProcessName, xdrview.BaseName(n))
		}
	}
	v.Unuse("action_process_image_name", "image_name")
	ev.Process = process(v, &actorFields, ar)
	parent := process(v, &causalityFields, ar)
	switch {
	case ev.Process != nil:
		ev.Process.ParentProcess = parent
	case parent != nil:
		// A parent without its child has no place in the evidence.
		v.Unuse(causalityFields[:]...)
	}
	ev.File = file(v, "action_file_name", "action_file_path", "action_file_sha256", "action_file_md5", ar)
	if ev.File != nil {
		obs.add("action_file_name", obsFileName, ev.File.Name)
		for _, h := range ev.File.Hashes {
			name := "action_file_md5"
			if h.AlgorithmID == 3 {
				name = "action_file_sha256"
			}
			obs.add(name, obsHash, h.Value)
		}
	}
	// An endpoint has one IP: the first of a list, with every address an
	// observable and the list kept under unmapped.
	if ips := v.AppendIPs(ar.tmp[:0], "action_local_ip"); len(ips) > 0 {
		ar.tmp = ips
		ev.SrcEndpoint = ar.endpoint(NetworkEndpoint{IP: ips[0]})
		ev.SrcEndpoint.Port, _ = v.Port("action_local_port")
		for _, ip := range ips {
			obs.add("action_local_ip", obsIP, ip)
		}
		if len(ips) > 1 {
			v.Keep("action_local_ip")
		}
	}
	dst := NetworkEndpoint{Hostname: v.Text("action_external_hostname")}
	if ips := v.AppendIPs(ar.tmp[:0], "action_remote_ip"); len(ips) > 0 {
		ar.tmp = ips
		dst.IP = ips[0]
		for _, ip := range ips {
			obs.add("action_remote_ip", obsIP, ip)
		}
	}
	if dst.Hostname != "" {
		obs.add("action_external_hostname", obsHostname, dst.Hostname)
	}
	if dst.IP != "" || dst.Hostname != "" {
		dst.Port, _ = v.Port("action_remote_port")
		ev.DstEndpoint = ar.endpoint(dst)
	}
	if q := v.Text("dns_query_name"); q != "" {
		ar.query = DNSQuery{Hostname: q}
		ev.Query = &ar.query
		obs.add("dns_query_name", obsHostname, q)
	}
	// The first of a list of users is the evidence's; each is an observable.
	if u := v.Text("user_name"); u != "" {
		name, domain := xdrview.User(u)
		ev.User = ar.user(User{Name: name, Domain: domain})
		ar.tmp = v.AppendList(ar.tmp[:0], "user_name")
		for _, each := range ar.tmp {
			obs.add("user_name", obsUserName, each)
		}
	}
	ok := ev.Process != nil || ev.File != nil || ev.SrcEndpoint != nil || ev.DstEndpoint != nil || ev.Query != nil || ev.User != nil
	return ev, ok
}

// process maps the process fields that start with prefix. The schema wants a
// process to have a pid or a uid: without either, it is nil (its image name
// still becomes an observable).
func process(v *xdrview.View, fields *processNames, ar *arena) *Process {
	p := Process{UID: v.Text(fields[0]), Name: v.Text(fields[2]), CmdLine: v.Text(fields[3])}
	if pid, ok := v.Int(fields[1]); ok && pid > 0 {
		p.PID = pid
	}
	p.File = file(v, fields[2], fields[4], fields[5], fields[6], ar)
	if p.PID == 0 && p.UID == "" {
		v.Unuse(fields[:]...)
		return nil
	}
	if p.Name == "" && p.File != nil {
		p.Name = p.File.Name
	}
	return ar.process(p)
}

// processNames names the fields process reads: the uid, the pid, then the
// image name, command line, image path, SHA-256 and MD5.
type processNames [7]string

var (
	actorFields = processNames{"actor_process_instance_id", "actor_process_os_pid", "actor_process_image_name",
		"actor_process_command_line", "actor_process_image_path", "actor_process_image_sha256", "actor_process_image_md5"}
	causalityFields = processNames{"causality_actor_causality_id", "causality_actor_process_os_pid", "causality_actor_process_image_name",
		"causality_actor_process_command_line", "causality_actor_process_image_path", "causality_actor_process_image_sha256", "causality_actor_process_image_md5"}
)

// file maps a file's name, path and hashes; nil when it has no name or path.
func file(v *xdrview.View, nameField, pathField, sha256Field, md5Field string, ar *arena) *File {
	f := File{Name: v.Text(nameField), Path: v.Text(pathField), TypeID: 1, Type: "Regular File"}
	if f.Name == "" && f.Path != "" {
		f.Name = xdrview.BaseName(f.Path)
	}
	f.Name = xdrview.BaseName(f.Name)
	sha, md5 := v.TextLower(sha256Field), v.TextLower(md5Field)
	if f.Name == "" {
		return nil
	}
	g := ar.file(f)
	if sha != "" {
		g.Hashes = append(g.Hashes, Fingerprint{AlgorithmID: 3, Algorithm: "SHA-256", Value: sha})
	}
	if md5 != "" {
		g.Hashes = append(g.Hashes, Fingerprint{AlgorithmID: 1, Algorithm: "MD5", Value: md5})
	}
	return g
}

// Observable types.
const (
	obsHostname    = 1
	obsIP          = 2
	obsUserName    = 4
	obsFileName    = 7
	obsHash        = 8
	obsProcessName = 9
	obsResourceUID = 10
)

var obsNames = map[int]string{
	obsHostname: "Hostname", obsIP: "IP Address", obsUserName: "User Name", obsFileName: "File Name",
	obsHash: "Hash", obsProcessName: "Process Name", obsResourceUID: "Resource UID",
}

// observables is a list without duplicate (type, value) pairs. Each
// observable's name is the XDR field its value came from.
type observables []Observable

func (o *observables) add(field string, typ int, value string) {
	if value == "" || slices.ContainsFunc(*o, func(x Observable) bool { return x.TypeID == typ && x.Value == value }) {
		return
	}
	*o = append(*o, Observable{Name: field, TypeID: typ, Type: obsNames[typ], Value: value})
}

// withRaw sets unmapped[name] to the JSON list of items.
func withRaw(u map[string]json.RawMessage, name string, items []json.RawMessage) map[string]json.RawMessage {
	if u == nil {
		u = make(map[string]json.RawMessage, 2)
	}
	u[name] = jsonw.RawList(items) // items are valid JSON, as xdr decoding guarantees
	return u
}

// first returns the first non-empty string.
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
