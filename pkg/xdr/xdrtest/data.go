package xdrtest

import (
	"cmp"
	"fmt"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
)

type severity uint8

const (
	sevLow severity = iota
	sevMedium
	sevHigh
	sevCritical
)

func (s severity) String() string {
	switch s {
	case sevLow:
		return "low"
	case sevMedium:
		return "medium"
	case sevHigh:
		return "high"
	default:
		return "critical"
	}
}

// alertRef is what the tenant stores of an alert; every other field is
// derived from seq when the alert is rendered, so a 2,000-alert incident
// costs a few kilobytes.
type alertRef struct {
	seq uint64 // seed of the alert's remaining fields
	id  int64  // alert_id; 0 means the alert is sent without one
	sev severity
	at  int64 // detection_timestamp, epoch ms
}

// artifactRef is a network or file artifact, rendered from seq.
type artifactRef struct {
	seq        uint64
	alertCount int
}

// incident holds the fields that never change plus the append-only alert
// and artifact lists; snaps holds its versions (oldest first), pruned of
// versions that can no longer be visible.
type incident struct {
	num               int64
	id                string
	restricted        bool
	creation          int64
	name, description string
	manualDescription any
	hosts, users      []string
	sources           []string
	categories        []string
	origTags          []string
	tactics           []string // nil renders as null
	techniques        []string // nil renders as null
	wildfire          int
	custom            any // x_custom_field: in no doc, varying type
	alerts            []alertRef
	network           []artifactRef
	files             []artifactRef
	snaps             []snapshot
	// alertEdits are update_alerts' changes by alert_id; replaced, never
	// modified, so a reader may render from the map it took under the lock.
	alertEdits map[int64]alertEdit
}

// snapshot is one version of an incident's mutable fields. alerts, network
// and files are prefix lengths of the incident's lists.
type snapshot struct {
	version         int // index into Tenant.versions
	mod, visible    int64
	status          string
	severity        string
	assigneeMail    any
	assigneeName    any
	resolveComment  any
	resolvedAt      any
	notes           any
	manualSeverity  any
	ruleScore       any
	starred         bool
	starredManually bool
	tags            []string
	alerts          int
	network, files  int
	sevCounts       [4]int
}

type weighted struct {
	v string
	w int
}

// statusTable mixes documented statuses, the drifting spellings seen across
// tenants, and two values no doc lists.
var statusTable = []weighted{
	{"new", 30}, {"under_investigation", 20},
	{"resolved_threat_handled", 6}, {"resolved_known_issue", 5},
	{"resolved_false_positive", 8}, {"resolved_true_positive", 4},
	{"resolved_security_testing", 3}, {"resolved_other", 4},
	{"resolved_duplicate", 3}, {"resolved_duplicate_incident", 3},
	{"resolved_auto", 3}, {"resolved_auto_resolve", 4},
	{"resolved_fixed_by_playbook", 2}, {"in_review", 2},
}

var analysts = [][2]string{
	{"jane.doe@acme.example", "Jane Doe"},
	{"sam.lee@acme.example", "Sam Lee "},
	{"p.novak@acme.example", "Petra Novak"},
	{"soc-tier2@acme.example", "SOC Tier 2"},
	{"a.khan@acme.example", "Ayesha Khan"},
}

var userNames = []string{
	`ACME\jdoe`, `ACME\svc_backup`, `ACME\a.smith`, `NT AUTHORITY\SYSTEM`,
	`CORP\m.rossi`, `ACME\administrator`, `CORP\build_agent`,
}

var hostPrefixes = []string{"ws-", "srv-", "lt-", "DESKTOP-", "dc"}

var incidentSources = []string{
	"XDR Agent", "XDR BIOC", "XDR Analytics", "XDR Analytics BIOC",
	"Correlation", "PAN NGFW", "XDR IOC", "Cloud Security",
}

var alertKinds = [][3]string{ // name, category, event type
	{"Local Analysis Malware", "Malware", "Process Execution"},
	{"Suspicious Process Creation", "Execution", "Process Execution"},
	{"Credential Dumping via LSASS", "Credential Access", "Process Execution"},
	{"Port Scan", "Discovery", "Network Connections"},
	{"WildFire Malware", "Malware", "File Event"},
	{"Behavioral Threat", "Exploit", "Process Execution"},
	{"Large Upload (HTTPS)", "Exfiltration", "Network Connections"},
	{"Spyware Detected via Anti-Spyware profile", "Spyware Detected via Anti-Spyware profile", "Network Connections"},
}

var tactics = []string{
	"TA0002 - Execution", "TA0005 - Defense Evasion", "TA0006 - Credential Access",
	"TA0007 - Discovery", "TA0010 - Exfiltration",
}

var techniques = []string{
	"T1059.001 - Command and Scripting Interpreter: PowerShell",
	"T1003.001 - OS Credential Dumping: LSASS Memory",
	"T1046 - Network Service Discovery",
	"T1048 - Exfiltration Over Alternative Protocol",
	"T1027 - Obfuscated Files or Information",
}

var tagTable = []string{"DS:PANW/XDR Agent", "DS:PANW/NGFW", "EG:Acme group", "EG:acme-2"}

func pick[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

func pickWeighted(r *rand.Rand, table []weighted) string {
	total := 0
	for _, e := range table {
		total += e.w
	}
	n := r.IntN(total)
	for _, e := range table {
		if n < e.w {
			return e.v
		}
		n -= e.w
	}
	return table[len(table)-1].v
}

// subset returns 0..max distinct items of xs in xs order; nil when empty
// and nilIfEmpty is set, else an empty non-nil slice.
func subset(r *rand.Rand, xs []string, max int, nilIfEmpty bool) []string {
	k := r.IntN(max + 1)
	idx := r.Perm(len(xs))[:min(k, len(xs))]
	slices.Sort(idx)
	out := make([]string, 0, len(idx))
	for _, i := range idx {
		out = append(out, xs[i])
	}
	if len(out) == 0 && nilIfEmpty {
		return nil
	}
	return out
}

func hexString(r *rand.Rand, n int) string {
	const digits = "0123456789abcdef"
	b := make([]byte, n)
	for i := range b {
		b[i] = digits[r.IntN(16)]
	}
	return string(b)
}

func isResolved(status string) bool { return strings.HasPrefix(status, "resolved_") }

func randomSeverity(r *rand.Rand) severity {
	switch n := r.IntN(100); {
	case n < 35:
		return sevLow
	case n < 70:
		return sevMedium
	case n < 92:
		return sevHigh
	default:
		return sevCritical
	}
}

// generate fills the tenant with cfg.Incidents incidents created and last
// modified in the 24 hours before Now. Callers hold no lock (New only).
func (t *Tenant) generate() {
	r := rand.New(rand.NewPCG(t.seed, 0x5eed))
	now := t.cfg.Now().UnixMilli()
	const day = 24 * 60 * 60 * 1000
	n := t.cfg.Incidents

	// Ids start just below 1000 so that string and numeric order differ.
	t.nextNum = max(1, 990-r.Int64N(40))
	t.nextAlert = 100000 + r.Int64N(50000)
	t.nextSeq = 1

	creations := make([]int64, n)
	for i := range creations {
		creations[i] = now - 1 - r.Int64N(day)
	}
	slices.Sort(creations)
	for i := 1; i < n; i++ {
		if r.IntN(20) == 0 { // two incidents created in the same millisecond
			creations[i] = creations[i-1]
		}
	}
	large := -1
	if n >= 10 {
		large = r.IntN(n) // at least one incident with hundreds of alerts
	}
	bulkAt := now - 1 - r.Int64N(day/2) // a past bulk update shared by several incidents

	for i, c := range creations {
		mod := c
		switch {
		case c < bulkAt && r.IntN(6) == 0:
			mod = bulkAt
		case r.IntN(3) == 0:
			// never modified since creation
		default:
			mod = c + r.Int64N(now-c)
		}
		count := min(r.IntN(21), t.cfg.MaxAlerts)
		if i == large || r.IntN(40) == 0 {
			lo := min(100, t.cfg.MaxAlerts)
			count = lo + r.IntN(t.cfg.MaxAlerts-lo+1)
		}
		t.nextNum += 1 + int64(r.IntN(3)/2) // occasional gaps: merged or deleted incidents
		restricted := r.Float64() < t.cfg.RestrictedFraction
		inc, snap := t.newIncident(r, t.nextNum, c, mod, count, restricted)
		t.register(inc, snap)
	}
}

// newIncident builds an incident with count alerts detected between
// creation and mod, and its first snapshot stamped mod.
func (t *Tenant) newIncident(r *rand.Rand, num, creation, mod int64, count int, restricted bool) (*incident, snapshot) {
	inc := &incident{
		num:        num,
		id:         strconv.FormatInt(num, 10),
		restricted: restricted,
		creation:   creation,
	}
	nHosts := 1 + r.IntN(3)
	for range nHosts {
		name := pick(r, hostPrefixes)
		if name == "DESKTOP-" {
			name += strings.ToUpper(hexString(r, 7))
		} else {
			name += fmt.Sprintf("%04d", r.IntN(10000))
		}
		inc.hosts = append(inc.hosts, name+":"+hexString(r, 32))
	}
	inc.users = subset(r, userNames, 3, false)
	inc.sources = subset(r, incidentSources, 3, false)
	if len(inc.sources) == 0 {
		inc.sources = []string{pick(r, incidentSources)}
	}
	kind := pick(r, alertKinds)
	inc.categories = []string{kind[1]}
	if r.IntN(3) == 0 {
		inc.categories = append(inc.categories, pick(r, alertKinds)[1])
	}
	inc.tactics = subset(r, tactics, 3, true)
	inc.techniques = subset(r, techniques, 3, true)
	inc.origTags = subset(r, tagTable, 3, false)
	inc.wildfire = 0
	if kind[0] == "WildFire Malware" {
		inc.wildfire = 1 + r.IntN(3)
	}
	host, _, _ := strings.Cut(inc.hosts[0], ":")
	inc.name = fmt.Sprintf("'%s' generated by %s detected on host %s", kind[0], inc.sources[0], host)
	if len(inc.users) > 0 {
		inc.name += " involving user " + inc.users[0]
	}
	if len(inc.hosts) > 1 {
		inc.name = strings.Replace(inc.name, "detected on host "+host, fmt.Sprintf("detected on %d hosts", len(inc.hosts)), 1)
	}
	inc.description = inc.name
	if r.IntN(5) == 0 {
		inc.name += " " // trailing space seen in real data
	}
	if r.IntN(12) == 0 {
		manual := "Escalated by SOC: " + kind[0] + " "
		inc.manualDescription = manual
		inc.description = manual // the API shows the manual description in description
	}
	switch r.IntN(4) {
	case 0:
		inc.custom = nil
	case 1:
		inc.custom = "team-blue"
	case 2:
		inc.custom = map[string]any{"ticket": fmt.Sprintf("INC-%d", 1000+r.IntN(9000)), "priority": 1 + r.IntN(4)}
	default:
		inc.custom = r.IntN(100)
	}

	inc.alerts = t.newAlerts(r, count, creation, mod)
	nNet, nFile := 0, 0
	if count > 0 {
		nNet, nFile = min(count, r.IntN(5)), min(count, r.IntN(4))
	}
	inc.network = t.newArtifacts(r, nNet, count)
	inc.files = t.newArtifacts(r, nFile, count)

	s := snapshot{
		mod:     mod,
		visible: mod + t.delayMs,
		status:  pickWeighted(r, statusTable),
		tags:    slices.Clone(inc.origTags),
	}
	if isResolved(s.status) {
		s.resolvedAt = mod
		if r.IntN(2) == 0 {
			s.resolveComment = "Handled by SOC "
		}
	}
	if r.IntN(5) < 3 {
		a := pick(r, analysts)
		s.assigneeMail, s.assigneeName = a[0], a[1]
	}
	s.starred = r.IntN(5) == 0
	s.starredManually = s.starred && r.IntN(2) == 0
	if r.IntN(10) == 0 {
		s.notes = "see ticket " + fmt.Sprintf("INC-%d", 1000+r.IntN(9000))
	}
	if r.IntN(20) == 0 {
		s.manualSeverity = randomSeverity(r).String()
	}
	if r.IntN(10) < 7 {
		s.ruleScore = r.IntN(401)
	}
	s.alerts, s.network, s.files = count, nNet, nFile
	s.severity = randomSeverity(r).String()
	s.recount(inc.alerts)
	return inc, s
}

// recount sets the per-severity counters and the incident severity from the
// first s.alerts alerts; an incident without alerts keeps its severity.
func (s *snapshot) recount(alerts []alertRef) {
	s.sevCounts = [4]int{}
	top := -1
	for _, a := range alerts[:s.alerts] {
		s.sevCounts[a.sev]++
		top = max(top, int(a.sev))
	}
	if top >= 0 {
		s.severity = severity(top).String()
	}
}

// newAlerts allocates n alerts detected between from and to (epoch ms),
// oldest first. About one in fifty has no alert_id.
func (t *Tenant) newAlerts(r *rand.Rand, n int, from, to int64) []alertRef {
	out := make([]alertRef, n)
	for i := range out {
		a := alertRef{seq: t.nextSeq, sev: randomSeverity(r), at: from}
		t.nextSeq++
		if to > from {
			a.at = from + r.Int64N(to-from+1)
		}
		if r.IntN(50) != 0 {
			a.id = t.nextAlert
			t.nextAlert++
		}
		out[i] = a
	}
	slices.SortStableFunc(out, func(a, b alertRef) int { return cmp.Compare(a.at, b.at) })
	return out
}

func (t *Tenant) newArtifacts(r *rand.Rand, n, alertCount int) []artifactRef {
	out := make([]artifactRef, n)
	for i := range out {
		out[i] = artifactRef{seq: t.nextSeq, alertCount: 1 + r.IntN(max(1, min(alertCount, 5)))}
		t.nextSeq++
	}
	return out
}

// renderIncident returns the incident object as get_incidents sends it, or
// with extra set as get_incident_extra_data sends it.
func renderIncident(inc *incident, s *snapshot, extra bool) map[string]any {
	m := map[string]any{
		"incident_id":                    inc.id,
		"incident_name":                  inc.name,
		"creation_time":                  inc.creation,
		"modification_time":              s.mod,
		"detection_time":                 nil,
		"status":                         s.status,
		"severity":                       s.severity,
		"description":                    inc.description,
		"assigned_user_mail":             s.assigneeMail,
		"assigned_user_pretty_name":      s.assigneeName,
		"alert_count":                    s.alerts,
		"low_severity_alert_count":       s.sevCounts[sevLow],
		"med_severity_alert_count":       s.sevCounts[sevMedium],
		"high_severity_alert_count":      s.sevCounts[sevHigh],
		"critical_severity_alert_count":  s.sevCounts[sevCritical],
		"user_count":                     len(inc.users),
		"host_count":                     len(inc.hosts),
		"notes":                          s.notes,
		"resolve_comment":                s.resolveComment,
		"resolved_timestamp":             s.resolvedAt,
		"manual_severity":                s.manualSeverity,
		"manual_description":             inc.manualDescription,
		"xdr_url":                        "https://acme.xdr.eu.paloaltonetworks.com/incident-view?caseId=" + inc.id,
		"starred":                        s.starred,
		"starred_manually":               s.starredManually,
		"hosts":                          inc.hosts,
		"users":                          inc.users,
		"incident_sources":               inc.sources,
		"rule_based_score":               s.ruleScore,
		"manual_score":                   nil,
		"wildfire_hits":                  inc.wildfire,
		"alerts_grouping_status":         "Enabled",
		"mitre_tactics_ids_and_names":    inc.tactics,
		"mitre_techniques_ids_and_names": inc.techniques,
		"alert_categories":               inc.categories,
		"original_tags":                  inc.origTags,
		"tags":                           s.tags,
		"x_custom_field":                 inc.custom,
		"incident_domain":                "DOMAIN_SECURITY",
	}
	if extra {
		m["is_blocked"] = false
		m["aggregated_score"] = s.ruleScore
		m["predicted_score"] = nil
		m["xpanse_risk_score"] = nil
	}
	return m
}

// renderAlert derives an alert's fields from its seed.
func (t *Tenant) renderAlert(inc *incident, a alertRef) map[string]any {
	r := rand.New(rand.NewPCG(t.seed^0xa1e47, a.seq))
	hostname, agentID, _ := strings.Cut(pick(r, inc.hosts), ":")
	if r.IntN(8) == 0 {
		hostname += " "
	}
	user := "N/A"
	if len(inc.users) > 0 && r.IntN(6) != 0 {
		user = pick(r, inc.users)
	}
	ip := func() string { return fmt.Sprintf("10.%d.%d.%d", r.IntN(256), r.IntN(256), 1+r.IntN(254)) }
	mac := func() string {
		return fmt.Sprintf("00:50:56:%02x:%02x:%02x", r.IntN(256), r.IntN(256), r.IntN(256))
	}
	hostIP, hostMAC := ip(), mac()
	switch r.IntN(10) {
	case 0, 1, 2:
		hostIP += "," + fmt.Sprintf("192.168.%d.%d", r.IntN(256), 1+r.IntN(254))
		hostMAC += "," + mac()
	case 3:
		hostIP += ", " + ip() + " "
		hostMAC += "," + mac() + " "
	case 4:
		hostMAC = "N/A"
	}
	kind := pick(r, alertKinds)
	action, actionPretty := "DETECTED", "Detected"
	switch r.IntN(3) {
	case 0:
		action, actionPretty = "BLOCKED", "Prevented (Blocked)"
	case 1:
		action, actionPretty = "REPORTED", "Detected (Reported)"
	}
	var whitelisted any = false
	if r.IntN(3) == 0 {
		whitelisted = "No"
	}
	var tactic, technique any
	if r.IntN(3) != 0 {
		tactic, technique = pick(r, tactics), pick(r, techniques)
	}
	var imageName any
	if kind[2] == "Process Execution" {
		imageName = `C:\Windows\System32\` + pick(r, []string{"rundll32.exe", "powershell.exe", "cmd.exe", "wscript.exe"})
	}
	country := "UNKNOWN"
	if r.IntN(2) == 0 {
		country = pick(r, []string{"US", "DE", "NL", "SG"})
	}
	description := kind[0] + " on " + strings.TrimSpace(hostname)
	if r.IntN(5) == 0 {
		description += " "
	}
	m := map[string]any{
		"case_id":                     inc.num,
		"detection_timestamp":         a.at,
		"local_insert_ts":             a.at + r.Int64N(5000),
		"last_modified_ts":            nil,
		"event_timestamp":             a.at - r.Int64N(1000),
		"name":                        kind[0],
		"category":                    kind[1],
		"event_type":                  kind[2],
		"description":                 description,
		"severity":                    a.sev.String(),
		"source":                      pick(r, inc.sources),
		"endpoint_id":                 agentID,
		"host_name":                   hostname,
		"host_ip":                     hostIP,
		"mac":                         hostMAC,
		"user_name":                   user,
		"action":                      action,
		"action_pretty":               actionPretty,
		"is_whitelisted":              whitelisted,
		"starred":                     r.IntN(10) == 0,
		"tags":                        pick(r, tagTable),
		"events_length":               1 + r.IntN(4),
		"mitre_tactic_id_and_name":    tactic,
		"mitre_technique_id_and_name": technique,
		"image_name":                  imageName,
		"action_local_ip":             ip(),
		"action_local_port":           strconv.Itoa(1024 + r.IntN(60000)),
		"action_remote_ip":            []string{fmt.Sprintf("203.0.113.%d", 1+r.IntN(254))},
		"action_remote_port":          pick(r, []int{443, 80, 445, 3389, 8080}),
		"action_external_hostname":    nil,
		"action_country":              country,
		"external_id":                 hexString(r, 32),
		"matching_status":             "UNMATCHABLE",
		"resolution_status":           "STATUS_010_NEW",
		"resolution_comment":          nil,
		"alert_type":                  "Unclassified",
		"deduplicate_tokens":          nil,
		"filter_rule_id":              nil,
		"event_id":                    nil,
		"dynamic_fields":              nil,
		"x_custom_field":              pick(r, []any{nil, "blue", 42}),
	}
	if a.id != 0 {
		m["alert_id"] = strconv.FormatInt(a.id, 10)
	}
	return m
}

func (t *Tenant) renderNetworkArtifact(a artifactRef) map[string]any {
	r := rand.New(rand.NewPCG(t.seed^0x2e7, a.seq))
	m := map[string]any{
		"alert_count":         a.alertCount,
		"is_manual":           false,
		"network_country":     pick(r, []string{"UNKNOWN", "US", "RU", "CN", "NL"}),
		"network_remote_port": nil,
	}
	if r.IntN(2) == 0 {
		m["type"] = "DOMAIN"
		m["network_domain"] = fmt.Sprintf("%s.%s", hexString(r, 8), pick(r, []string{"example", "example.net", "test"}))
		m["network_remote_ip"] = nil
	} else {
		m["type"] = "IP"
		m["network_domain"] = nil
		// Derived from the artifact's unique sequence number: a tenant
		// never lists the same artifact twice in one incident.
		m["network_remote_ip"] = fmt.Sprintf("10.%d.%d.%d", (a.seq>>16)&0xff, (a.seq>>8)&0xff, a.seq&0xff)
		m["network_remote_port"] = pick(r, []int{443, 80, 53, 4444, 8443})
	}
	return m
}

func (t *Tenant) renderFileArtifact(a artifactRef) map[string]any {
	r := rand.New(rand.NewPCG(t.seed^0xf11e, a.seq))
	var vendor any
	status := pick(r, []string{"SIGNATURE_UNAVAILABLE", "SIGNATURE_SIGNED", "SIGNATURE_UNSIGNED"})
	if status == "SIGNATURE_SIGNED" {
		vendor = pick(r, []string{"Microsoft Corporation", "Google LLC", "N/A"})
	}
	verdict := pick(r, []string{"MALWARE", "BENIGN", "UNKNOWN", "GRAYWARE"})
	return map[string]any{
		"type":                       "HASH",
		"file_sha256":                hexString(r, 64),
		"file_name":                  pick(r, []string{"invoice.exe", "update.ps1", "rundll32.exe", "payload.dll", "report.docm "}),
		"file_signature_status":      status,
		"file_signature_vendor_name": vendor,
		"file_wildfire_verdict":      verdict,
		"is_malicious":               verdict == "MALWARE",
		"is_manual":                  false,
		"is_process":                 r.IntN(2) == 0,
		"alert_count":                a.alertCount,
		"low_confidence":             r.IntN(5) == 0,
	}
}
