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
	"path"
	"slices"
	"strconv"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/enrich"
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
	inc := ed.Incident
	f, self, err := incident(m, max(version, inc.ModificationTime), inc, LogExtraData)
	if err != nil {
		return nil, err
	}
	infos := make([]FindingInfo, 0, len(ed.Alerts.Data))
	keys := enrich.ReplyKeys(ed).Alerts
	for i := range ed.Alerts.Data {
		a := &ed.Alerts.Data[i]
		v, err := xdrview.New(a.Raw)
		if err != nil {
			continue // an alert that is not an object has nothing to report
		}
		fi := alertInfo(keys[i], v)
		infos = append(infos, fi)
		if t := fi.CreatedTime; t > 0 {
			if f.StartTime == 0 || t < f.StartTime {
				f.StartTime = t
			}
			f.EndTime = max(f.EndTime, t)
		}
	}
	if len(infos) == 0 {
		infos = append(infos, self)
	}
	f.FindingInfoList = infos

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
// (enrich.ReplyKeys; enrich.AlertKey for an alert alone).
// finding_info.uid and metadata.uid are derived from the key,
// metadata.correlation_uid is the incident id.
func Alert(m record.Meta, version int64, inc xdr.Incident, a xdr.Alert, key string) (*DetectionFinding, error) {
	v, err := xdrview.New(a.Raw)
	if err != nil {
		return nil, fmt.Errorf("mapping alert of incident %s to OCSF: %w", inc.ID, err)
	}
	version = max(version, inc.ModificationTime)
	info := alertInfo(key, v)

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
	f := &DetectionFinding{FindingInfo: info, IsAlert: true}
	f.base = newBase(ClassDetectionFinding, "Detection Finding", activity, version)
	f.SeverityID, f.Severity = severity(v.Text("severity"))
	f.StatusID, f.Status = findingStatus(status)
	f.Message = v.Text("name")
	f.Metadata = metadata(m, ClassDetectionFinding, key, version, LogExtraData, "security_control")
	f.Metadata.CorrelUID = inc.ID
	f.Metadata.Labels = v.List("tags")
	f.ActionID, f.Action, f.DispositionID, f.Disposition = action(v.Text("action"))
	f.Attacks = info.Attacks

	obs := observables(nil)
	f.Device = device(v, &obs)
	if ev, ok := evidence(v, &obs); ok {
		f.Evidences = []Evidence{ev}
	}
	f.Observables = obs
	v.Use("alert_id", "case_id") // the finding's uid and the correlation uid
	f.Unmapped = v.Rest()
	return f, nil
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
	f.base = newBase(ClassIncidentFinding, "Incident Finding", activity, version)
	f.SeverityID, f.Severity = severity(v.Text("severity"))
	f.StatusID, f.Status, f.VerdictID, f.Verdict = incidentStatus(status)
	f.Metadata = metadata(m, ClassIncidentFinding, inc.ID, version, log, "incident")
	f.Metadata.CorrelUID = inc.ID
	f.Metadata.Labels = v.List("tags")

	name, desc := v.Text("incident_name"), v.Text("description")
	f.Message = first(name, desc)
	f.Desc = desc
	f.SrcURL = v.Text("xdr_url")
	f.Comment = v.Text("resolve_comment")
	f.Attacks = attacks(v.Mitres("mitre_tactics_ids_and_names"), v.Mitres("mitre_techniques_ids_and_names"))

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
	if p := xdrview.Severity(v.Text("manual_severity")); p != "" {
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

// alertInfo is the finding an alert describes; key is its record key.
func alertInfo(key string, v *xdrview.View) FindingInfo {
	fi := FindingInfo{
		UID:          key,
		UIDAlt:       v.Text("external_id"),
		Title:        v.Text("name"),
		Desc:         v.Text("description"),
		CreatedTime:  v.Time("detection_timestamp"),
		ModifiedTime: v.Time("last_modified_ts"),
		Types:        v.List("category"),
		DataSources:  v.List("source"),
		Attacks:      attacks(v.Mitres("mitre_tactic_id_and_name"), v.Mitres("mitre_technique_id_and_name")),
	}
	if fi.Title == "" {
		fi.Title = fi.UID
	}
	return fi
}

func newBase(class int, className string, activity int, t int64) base {
	return base{
		ActivityID: activity, ActivityName: activityNames[activity],
		CategoryUID: CategoryFindings, CategoryName: "Findings",
		ClassUID: class, ClassName: className,
		TypeUID: class*100 + activity, TypeName: className + ": " + activityNames[activity],
		Time: t,
	}
}

var activityNames = map[int]string{ActivityCreate: "Create", ActivityUpdate: "Update", ActivityClose: "Close"}

// metadata is the metadata every event carries; its uid is a stable digest
// of the tenant, class, record key, version and log, so the same version
// mapped twice gets the same uid.
func metadata(m record.Meta, class int, key string, version int64, log string, profiles ...string) Metadata {
	h := sha256.New()
	for _, s := range []string{"xdr-ocsf/v1", m.Tenant, strconv.Itoa(class), key, strconv.FormatInt(version, 10), log} {
		h.Write(strconv.AppendInt(nil, int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	sum := h.Sum(nil)
	return Metadata{
		Version:     Version,
		Product:     Product{Name: ProductName, VendorName: VendorName},
		Profiles:    profiles,
		TenantUID:   m.Tenant,
		UID:         hex.EncodeToString(sum[:16]),
		LogName:     log,
		LogProvider: m.Connector,
		LoggedTime:  m.FetchedAt,
	}
}

// severity maps an XDR severity to severity_id and its caption; an unknown
// word is Other (99) with the word as caption.
func severity(s string) (int, string) {
	switch s = xdrview.Severity(s); s {
	case "":
		return 0, "Unknown"
	case "informational", "info":
		return 1, "Informational"
	case "low":
		return 2, "Low"
	case "medium":
		return 3, "Medium"
	case "high":
		return 4, "High"
	case "critical":
		return 5, "Critical"
	}
	return other, s
}

// priority maps a manual severity to priority_id and its caption.
func priority(s string) (int, string) {
	switch s {
	case "informational", "info", "low":
		return 1, "Low"
	case "medium":
		return 2, "Medium"
	case "high":
		return 3, "High"
	case "critical":
		return 4, "Critical"
	}
	return other, s
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
func attacks(tactics, techniques []xdrview.Mitre) []Attack {
	if len(tactics) == 1 && len(techniques) == 1 {
		a := technique(techniques[0])
		a.Tactic = &Entity{UID: tactics[0].ID, Name: tactics[0].Name}
		return []Attack{a}
	}
	var out []Attack
	for _, t := range tactics {
		out = append(out, Attack{Tactic: &Entity{UID: t.ID, Name: t.Name}})
	}
	for _, t := range techniques {
		out = append(out, technique(t))
	}
	return out
}

func technique(t xdrview.Mitre) Attack {
	parent, ok := t.Sub()
	if !ok {
		return Attack{Technique: &Entity{UID: t.ID, Name: t.Name}}
	}
	// "Command and Scripting Interpreter: PowerShell": the technique, then
	// the sub-technique.
	tech, sub, found := strings.Cut(t.Name, ": ")
	if !found {
		tech, sub = "", t.Name
	}
	return Attack{Technique: &Entity{UID: parent, Name: tech}, SubTechnique: &Entity{UID: t.ID, Name: sub}}
}

// device maps an alert's host fields.
func device(v *xdrview.View, obs *observables) *Device {
	d := &Device{TypeID: 0, Type: "Unknown", UID: v.Text("endpoint_id"), Domain: v.Text("agent_device_domain")}
	fqdn, name := v.Text("agent_fqdn"), v.Text("host_name")
	d.Hostname, d.Name = first(fqdn, name), first(name, fqdn)
	if d.Hostname != "" {
		obs.add("host_name", obsHostname, d.Name)
	}
	if d.UID != "" {
		obs.add("endpoint_id", obsResourceUID, d.UID)
	}
	ips := v.IPs("host_ip")
	if len(ips) > 0 {
		d.IP = ips[0]
	}
	for _, ip := range ips {
		obs.add("host_ip", obsIP, ip)
	}
	// A device has one MAC: the first valid one of mac, else of
	// mac_addresses (the v2 alerts API's name for it).
	for _, mac := range append(v.Split("mac"), v.Split("mac_addresses")...) {
		if validMAC(mac) {
			d.MAC = mac
			break
		}
	}
	if name := v.Text("agent_os_type"); name != "" {
		d.OS = &OS{Name: name, Version: v.Text("agent_os_sub_type")}
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

func validMAC(s string) bool {
	if len(s) != 17 {
		return false
	}
	for i := 0; i < 17; i++ {
		c := s[i]
		if i%3 == 2 {
			if c != ':' && c != '-' {
				return false
			}
			continue
		}
		if !strings.ContainsRune("0123456789abcdefABCDEF", rune(c)) {
			return false
		}
	}
	return true
}

// evidence gathers what an alert's detection rests on: the acting process
// and its causality (parent) process, the file acted on, the connection's
// two endpoints, the DNS question and the user. ok is false when the alert
// has none of these.
func evidence(v *xdrview.View, obs *observables) (Evidence, bool) {
	var ev Evidence
	// Process names are observables whether or not the process has a place
	// in the evidence (see process).
	for _, name := range []string{"action_process_image_name", "actor_process_image_name", "causality_actor_process_image_name", "image_name"} {
		for _, n := range v.List(name) {
			obs.add(name, obsProcessName, baseName(n))
		}
	}
	v.Unuse("action_process_image_name", "image_name")
	ev.Process = process(v, "actor_process_", "actor_process_os_pid", "actor_process_instance_id")
	parent := process(v, "causality_actor_process_", "causality_actor_process_os_pid", "causality_actor_causality_id")
	switch {
	case ev.Process != nil:
		ev.Process.ParentProcess = parent
	case parent != nil:
		// A parent without its child has no place in the evidence.
		v.Unuse(processFields("causality_actor_process_", "causality_actor_process_os_pid", "causality_actor_causality_id")...)
	}
	ev.File = file(v, "action_file_name", "action_file_path", "action_file_sha256", "action_file_md5")
	if ev.File != nil {
		obs.add("action_file_name", obsFileName, ev.File.Name)
		for _, h := range ev.File.Hashes {
			obs.add("action_file_"+strings.ToLower(strings.ReplaceAll(h.Algorithm, "-", "")), obsHash, h.Value)
		}
	}
	// An endpoint has one IP: the first of a list, with every address an
	// observable and the list kept under unmapped.
	if ips := v.IPs("action_local_ip"); len(ips) > 0 {
		ev.SrcEndpoint = &NetworkEndpoint{IP: ips[0]}
		ev.SrcEndpoint.Port, _ = v.Port("action_local_port")
		for _, ip := range ips {
			obs.add("action_local_ip", obsIP, ip)
		}
		if len(ips) > 1 {
			v.Keep("action_local_ip")
		}
	}
	dst := &NetworkEndpoint{Hostname: v.Text("action_external_hostname")}
	if ips := v.IPs("action_remote_ip"); len(ips) > 0 {
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
		ev.DstEndpoint = dst
	}
	if q := v.Text("dns_query_name"); q != "" {
		ev.Query = &DNSQuery{Hostname: q}
		obs.add("dns_query_name", obsHostname, q)
	}
	// The first of a list of users is the evidence's; each is an observable.
	if u := v.Text("user_name"); u != "" {
		name, domain := xdrview.User(u)
		ev.User = &User{Name: name, Domain: domain}
		for _, each := range v.List("user_name") {
			obs.add("user_name", obsUserName, each)
		}
	}
	ok := ev.Process != nil || ev.File != nil || ev.SrcEndpoint != nil || ev.DstEndpoint != nil || ev.Query != nil || ev.User != nil
	return ev, ok
}

// process maps the process fields that start with prefix. The schema wants a
// process to have a pid or a uid: without either, it is nil (its image name
// still becomes an observable).
func process(v *xdrview.View, prefix, pidField, uidField string) *Process {
	p := &Process{UID: v.Text(uidField), Name: v.Text(prefix + "image_name"), CmdLine: v.Text(prefix + "command_line")}
	if pid, ok := v.Int(pidField); ok && pid > 0 {
		p.PID = pid
	}
	p.File = file(v, prefix+"image_name", prefix+"image_path", prefix+"image_sha256", prefix+"image_md5")
	if p.PID == 0 && p.UID == "" {
		v.Unuse(processFields(prefix, pidField, uidField)...)
		return nil
	}
	if p.Name == "" && p.File != nil {
		p.Name = p.File.Name
	}
	return p
}

// processFields names the fields process reads.
func processFields(prefix, pidField, uidField string) []string {
	return []string{uidField, pidField, prefix + "image_name", prefix + "command_line", prefix + "image_path", prefix + "image_sha256", prefix + "image_md5"}
}

// file maps a file's name, path and hashes; nil when it has no name or path.
func file(v *xdrview.View, nameField, pathField, sha256Field, md5Field string) *File {
	f := &File{Name: v.Text(nameField), Path: v.Text(pathField), TypeID: 1, Type: "Regular File"}
	if f.Name == "" && f.Path != "" {
		f.Name = baseName(f.Path)
	}
	f.Name = baseName(f.Name)
	if h := strings.ToLower(v.Text(sha256Field)); h != "" {
		f.Hashes = append(f.Hashes, Fingerprint{AlgorithmID: 3, Algorithm: "SHA-256", Value: h})
	}
	if h := strings.ToLower(v.Text(md5Field)); h != "" {
		f.Hashes = append(f.Hashes, Fingerprint{AlgorithmID: 1, Algorithm: "MD5", Value: h})
	}
	if f.Name == "" {
		return nil
	}
	return f
}

// baseName is the last element of a Windows or POSIX path.
func baseName(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return path.Base(strings.ReplaceAll(p[i:], `\`, "/"))
	}
	return p
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
	list, err := json.Marshal(items)
	if err != nil {
		return u // items are valid JSON, as xdr decoding guarantees
	}
	u[name] = list
	return u
}

// first returns the first non-empty string.
func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}
