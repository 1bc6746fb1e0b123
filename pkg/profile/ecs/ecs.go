// Package ecs maps Cortex XDR incidents and alerts to Elastic Common Schema
// documents of ECS version Version, with the field set Elastic's own
// panw_cortex_xdr integration produces: ECS fields where ECS has one, and the
// API object's other fields under panw_cortex.xdr. schemas/ecs/fields.csv
// lists the ECS fields of that version; schemas/README.md has the
// field-by-field mapping.
//
// Each document's event.id is a digest of the tenant, the record key and the
// incident version, so the same version mapped twice gets the same id and a
// sink connector can upsert on it.
//
// The mappings are pure: no I/O, no clock, no logging.
package ecs

import (
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"slices"
	"strconv"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Version is the ECS version of every document (ecs.version), the one
// Elastic's panw_cortex_xdr integration declares.
const Version = "8.11.0"

// Vendor is the object that holds the API fields ECS has no field for.
const Vendor = "panw_cortex.xdr"

// Datasets, as Elastic's integration names its data streams.
const (
	DatasetIncidents = "panw_cortex_xdr.incidents"
	DatasetAlerts    = "panw_cortex_xdr.alerts"
)

// Document is one ECS document, nested as Elasticsearch stores it
// (event.kind is {"event": {"kind": ...}}): the value IncidentChange,
// IncidentEnriched and Alert return, for inspection. It encodes with
// encoding/json, keys sorted, to the bytes the Append functions write.
type Document map[string]any

// IncidentChange returns the document of one incident version as
// get_incidents returned it.
func IncidentChange(m record.Meta, inc xdr.Incident) (Document, error) {
	var e Encoder
	d, err := e.incident(m, inc.ModificationTime, inc)
	if err != nil {
		return nil, err
	}
	return d.document(), nil
}

// IncidentEnriched returns the document of one get_incident_extra_data
// reply: the incident's fields, with the artifacts' IPs and hashes in
// related.* and the artifacts themselves under panw_cortex.xdr. Its version
// is max(version, the reply's modification_time), as the native enriched
// record's.
func IncidentEnriched(m record.Meta, version int64, ed *xdr.ExtraData) (Document, error) {
	var e Encoder
	d, err := e.enriched(m, version, ed)
	if err != nil {
		return nil, err
	}
	return d.document(), nil
}

// Alert returns the document of one alert of an enriched reply: inc is the
// reply's incident, version the incident version its native record carries
// and key the alert's record key in its reply (record.ReplyKeys;
// record.AlertKey for an alert alone), from which event.id and
// panw_cortex.xdr.alert_key come. Host, user, process (the actor process
// and, as its parent, the causality actor), file, network, DNS and registry
// fields land where Elastic's integration puts them.
func Alert(m record.Meta, version int64, inc xdr.Incident, a xdr.Alert, key string) (Document, error) {
	v, err := xdrview.New(a.Raw)
	if err != nil {
		return nil, AlertError(inc, err)
	}
	var e Encoder
	return e.alert(m, version, inc, key, v).document(), nil
}

// AlertError is the error of an alert that cannot be mapped: err is why its
// View could not be made.
func AlertError(inc xdr.Incident, err error) error {
	return fmt.Errorf("mapping alert of incident %s to ECS: %w", inc.ID, err)
}

// Encoder writes ECS documents, reusing its memory from one to the next:
// once it has mapped an alert of each shape, it allocates nothing per
// alert. It is not safe for concurrent use.
type Encoder struct {
	d       doc
	names   []string // the API fields moved to ECS fields
	related relatedSet
	mitres  []xdrview.Mitre
	tmp     []string
	digest  []byte
}

// AppendIncidentChange writes the document IncidentChange returns to w.
func (e *Encoder) AppendIncidentChange(w *jsonw.Writer, m record.Meta, inc xdr.Incident) error {
	d, err := e.incident(m, inc.ModificationTime, inc)
	if err != nil {
		return err
	}
	d.appendJSON(w)
	return nil
}

// AppendIncidentEnriched writes the document IncidentEnriched returns to w.
func (e *Encoder) AppendIncidentEnriched(w *jsonw.Writer, m record.Meta, version int64, ed *xdr.ExtraData) error {
	d, err := e.enriched(m, version, ed)
	if err != nil {
		return err
	}
	d.appendJSON(w)
	return nil
}

// AppendAlert writes the document Alert returns for the alert whose View is
// v (which it marks) and whose record key is key, to w.
func (e *Encoder) AppendAlert(w *jsonw.Writer, m record.Meta, version int64, inc xdr.Incident, key string, v *xdrview.View) {
	e.alert(m, version, inc, key, v).appendJSON(w)
}

func (e *Encoder) reset(v *xdrview.View) *doc {
	e.d.reset()
	e.names = e.names[:0]
	e.related.reset()
	if v != nil {
		v.Forget()
	}
	return &e.d
}

func (e *Encoder) enriched(m record.Meta, version int64, ed *xdr.ExtraData) (*doc, error) {
	d, err := e.incident(m, max(version, ed.Incident.ModificationTime), ed.Incident)
	if err != nil {
		return nil, err
	}
	var ips, hashes []string
	var netRaw, fileRaw []json.RawMessage
	for _, a := range ed.NetworkArtifacts.Data {
		if ip, ok := xdrview.IP(a.RemoteIP); ok {
			ips = appendNew(ips, ip)
		}
		netRaw = append(netRaw, a.Raw)
	}
	for _, a := range ed.FileArtifacts.Data {
		if h := strings.ToLower(strings.TrimSpace(a.SHA256)); !xdrview.Missing(h) {
			hashes = appendNew(hashes, h)
		}
		fileRaw = append(fileRaw, a.Raw)
	}
	d.setList(pRelatedIp, ips)
	d.setList(pRelatedHash, hashes)
	if len(netRaw) > 0 {
		d.vendor["network_artifacts"] = list(netRaw)
	}
	if len(fileRaw) > 0 {
		d.vendor["file_artifacts"] = list(fileRaw)
	}
	return d, nil
}

var (
	alertCategory    = []string{"intrusion_detection"}
	incidentCategory = []string{"malware"}
	infoType         = []string{"info"}
)

// alert maps the alert whose View is v and whose record key is key.
func (e *Encoder) alert(m record.Meta, version int64, inc xdr.Incident, key string, v *xdrview.View) *doc {
	d := e.reset(v)
	version = max(version, inc.ModificationTime)
	mp := mapper{e: e, v: v}
	ts := v.Time("event_timestamp")
	if ts == 0 {
		ts = v.Time("detection_timestamp")
	}
	if ts == 0 {
		ts = version
	}
	e.header(m, ts, alertCategory, DatasetAlerts, "alert", key, version)
	if t := v.Time("detection_timestamp"); t > 0 {
		d.setDate(pEventCreated, t)
		mp.moved("detection_timestamp")
	}
	mp.severity()
	mp.text(pEventAction, nil, "action")
	mp.text(pEventReason, nil, "description")
	mp.text(pEventProvider, nil, "source")
	mp.text(pMessage, nil, "name")
	mp.list(pTags, "tags")

	related := &e.related
	// Host. host_ip and mac (or mac_addresses, as the v2 alerts API names
	// it) and, below, action_remote_ip stay under panw_cortex.xdr as sent:
	// ECS holds them cleaned, as lists.
	host := mp.text(pHostHostname, nil, "agent_fqdn", "host_name")
	host = v.Lower(host)
	d.setStr(pHostName, host)
	related.hosts = appendNew(related.hosts, host)
	mp.text(pHostId, nil, "endpoint_id")
	mp.text(pHostDomain, nil, "agent_device_domain")
	mp.text(pHostOsName, nil, "agent_os_type")
	mp.text(pHostOsVersion, nil, "agent_os_sub_type")
	e.tmp = v.AppendIPs(e.tmp[:0], "host_ip")
	d.setList(pHostIp, e.tmp)
	related.ips = append(related.ips, e.tmp...)
	e.tmp = v.AppendSplit(e.tmp[:0], "mac")
	e.tmp = v.AppendSplit(e.tmp, "mac_addresses")
	n := len(e.tmp)
	for _, mac := range e.tmp[:n] {
		if norm, ok := normalMAC(mac); ok && !slices.Contains(e.tmp[n:], norm) {
			e.tmp = append(e.tmp, norm)
		}
	}
	d.setList(pHostMac, e.tmp[n:])

	// User: the first of a list of users is the user; related.user has
	// them all.
	if u := v.Text("user_name"); u != "" {
		name, domain := xdrview.User(u)
		d.setStr(pUserName, name)
		d.setStr(pUserDomain, domain)
		if strings.Contains(u, "@") && strings.Contains(u, ".") {
			d.setStr(pUserEmail, u)
		}
		e.tmp = v.AppendList(e.tmp[:0], "user_name")
		for _, each := range e.tmp {
			name, _ := xdrview.User(each)
			related.users = appendNew(related.users, name)
		}
		mp.moved("user_name")
	}

	// Network. source.ip holds one address: the first of a list, with
	// every address in related.ip and the list kept under panw_cortex.xdr.
	if srcIPs := v.AppendIPs(e.tmp[:0], "action_local_ip"); len(srcIPs) > 0 {
		e.tmp = srcIPs
		d.setStr(pSourceIp, srcIPs[0])
		related.ips = append(related.ips, srcIPs...)
		mp.moved("action_local_ip")
		if len(srcIPs) > 1 {
			v.Keep("action_local_ip")
		}
		mp.port(pSourcePort, "action_local_port")
	}
	dstIPs := v.AppendIPs(e.tmp[:0], "action_remote_ip")
	e.tmp = dstIPs
	switch len(dstIPs) {
	case 0:
	case 1:
		d.setStr(pDestinationIp, dstIPs[0])
	default:
		d.setList(pDestinationIp, dstIPs)
	}
	related.ips = append(related.ips, dstIPs...)
	dstHost := mp.text(pDestinationDomain, nil, "action_external_hostname")
	if len(dstIPs) > 0 || dstHost != "" {
		mp.port(pDestinationPort, "action_remote_port")
		if c := v.Text("action_country"); len(c) == 2 {
			d.setStr(pDestinationGeoCountryIsoCode, strings.ToUpper(c))
			mp.moved("action_country")
		}
	}
	mp.text(pDnsQuestionName, nil, "dns_query_name")

	// Process: the action process when the alert names one, else the actor
	// process; the causality actor is the parent. Some sources name the
	// process image alone (image_name).
	if n, ok := v.Int("actor_process_os_pid"); ok && n > 0 {
		d.setInt64(pProcessPid, n)
		mp.moved("actor_process_os_pid")
	}
	if n, ok := v.Int("actor_thread_thread_id"); ok && n > 0 {
		d.setInt64(pProcessThreadId, n)
		mp.moved("actor_thread_thread_id")
	}
	mp.text(pProcessEntityId, nil, "action_process_instance_id", "actor_process_instance_id")
	if mp.text(pProcessName, xdrview.BaseName, "action_process_image_name", "actor_process_image_name") == "" {
		mp.text(pProcessName, xdrview.BaseName, "image_name")
	}
	mp.text(pProcessExecutable, nil, "actor_process_image_path")
	mp.text(pProcessCommandLine, nil, "action_process_image_command_line", "actor_process_command_line")
	mp.textLower(pProcessHashSha256, "action_process_image_sha256", "actor_process_image_sha256")
	mp.textLower(pProcessHashMd5, "actor_process_image_md5")
	mp.text(pProcessCodeSignatureSubjectName, nil, "action_process_signature_vendor", "actor_process_signature_vendor")
	mp.text(pProcessCodeSignatureStatus, nil, "action_process_signature_status", "actor_process_signature_status")
	mp.text(pProcessParentName, xdrview.BaseName, "causality_actor_process_image_name")
	mp.text(pProcessParentExecutable, nil, "causality_actor_process_image_path")
	mp.text(pProcessParentCommandLine, nil, "causality_actor_process_command_line")
	mp.text(pProcessParentEntityId, nil, "causality_actor_causality_id")
	mp.textLower(pProcessParentHashSha256, "causality_actor_process_image_sha256")
	mp.textLower(pProcessParentHashMd5, "causality_actor_process_image_md5")
	mp.text(pProcessParentCodeSignatureSubjectName, nil, "causality_actor_process_signature_vendor")
	mp.text(pProcessParentCodeSignatureStatus, nil, "causality_actor_process_signature_status")

	// File.
	mp.text(pFilePath, nil, "action_file_path")
	mp.text(pFileName, nil, "action_file_name")
	if !d.has(pFileName) {
		d.setStr(pFileName, xdrview.BaseName(v.Text("action_file_path")))
	}
	mp.textLower(pFileHashSha256, "action_file_sha256")
	mp.textLower(pFileHashMd5, "action_file_md5")
	for _, p := range [...]slot{pProcessHashSha256, pProcessHashMd5, pProcessParentHashSha256, pProcessParentHashMd5, pFileHashSha256, pFileHashMd5} {
		if h, ok := d.str(p); ok {
			related.hashes = appendNew(related.hashes, h)
		}
	}
	// A hash field that is a list of several: the first is the hash above,
	// every one is a related hash.
	for _, f := range [...]string{"action_process_image_sha256", "actor_process_image_sha256", "actor_process_image_md5",
		"causality_actor_process_image_sha256", "causality_actor_process_image_md5", "action_file_sha256", "action_file_md5"} {
		if slices.Contains(e.names, f) {
			e.tmp = v.AppendList(e.tmp[:0], f)
			for _, h := range e.tmp {
				related.hashes = appendNew(related.hashes, strings.ToLower(h))
			}
		}
	}

	// Registry.
	mp.text(pRegistryKey, nil, "action_registry_key_name")
	mp.text(pRegistryValue, nil, "action_registry_value_name")
	mp.text(pRegistryPath, nil, "action_registry_full_key")
	mp.list(pRegistryDataStrings, "action_registry_data")

	if e.threat(v, "mitre_tactic_id_and_name", "mitre_technique_id_and_name") {
		mp.moved("mitre_tactic_id_and_name", "mitre_technique_id_and_name")
	}
	related.write(d)

	// Every field no ECS field carries stays under panw_cortex.xdr, with the
	// incident id, the alert's record key and the incident version (the
	// native record's modification_time) beside them.
	v.ResetUse()
	v.Use(e.names...)
	d.rest = v
	d.idText = d.appendText(d.idText[:0], inc.ID)
	n = len(d.idText)
	d.idText = d.appendText(d.idText, key)
	k := len(d.idText)
	d.idText = strconv.AppendInt(d.idText, version, 10)
	d.extra = append(d.extra[:0],
		xdrview.Member{Key: "incident_id", Value: d.idText[:n]},
		xdrview.Member{Key: "alert_key", Value: d.idText[n:k]},
		xdrview.Member{Key: "incident_modification_time", Value: d.idText[k:]})
	d.vals[pPanwCortexXdr] = value{kind: kRest}
	return d
}

// header sets the fields every document has: @timestamp (ts), the ECS
// version, event.kind, category, type, dataset and module, and event.id,
// the digest of the document's kind, record key and incident version.
func (e *Encoder) header(m record.Meta, ts int64, category []string, dataset, kind, key string, version int64) {
	d := &e.d
	d.setDate(pTimestamp, ts)
	d.setStr(pEcsVersion, Version)
	d.setStr(pEventKind, "alert")
	d.setList(pEventCategory, category)
	d.setList(pEventType, infoType)
	d.setStr(pEventDataset, dataset)
	d.setStr(pEventModule, "panw_cortex_xdr")
	d.setID(pEventId, e.docID(m, kind, key, version))
}

// mapper sets ECS fields from API fields and remembers which API fields it
// moved, so that exactly the others stay under panw_cortex.xdr.
type mapper struct {
	e *Encoder
	v *xdrview.View
}

func (mp mapper) moved(fields ...string) { mp.e.names = append(mp.e.names, fields...) }

// text sets the ECS field p from the first of fields that has a value
// (transformed by f when f is not nil), records that field as moved, and
// returns the value stored ("" when none).
func (mp mapper) text(p slot, f func(string) string, fields ...string) string {
	for _, name := range fields {
		s := mp.v.Text(name)
		if s == "" {
			continue
		}
		if f != nil {
			s = f(s)
		}
		mp.e.d.setStr(p, s)
		mp.moved(name)
		return s
	}
	return ""
}

// textLower is text lower-casing the value (xdrview.View.TextLower: once
// for every mapping of the alert).
func (mp mapper) textLower(p slot, fields ...string) string {
	for _, name := range fields {
		if s := mp.v.TextLower(name); s != "" {
			mp.e.d.setStr(p, s)
			mp.moved(name)
			return s
		}
	}
	return ""
}

// list sets the ECS field p from a field that is a string or a list of
// strings (see xdrview.View.List), and records it as moved; nothing when
// it has no value.
func (mp mapper) list(p slot, field string) {
	if l := mp.v.AppendList(mp.e.tmp[:0], field); len(l) > 0 {
		mp.e.tmp = l
		mp.e.d.setList(p, l)
		mp.moved(field)
	}
}

// severity sets event.severity from the severity field, and records the
// field as moved unless its word is one event.severity has no number for.
func (mp mapper) severity() {
	if n, ok := severity(mp.v.Scalar("severity")); ok {
		mp.e.d.setInt(pEventSeverity, n)
		mp.moved("severity")
	}
}

// port sets the ECS field p from a port field with a value above 0.
func (mp mapper) port(p slot, field string) {
	if n, ok := mp.v.Port(field); ok && n > 0 {
		mp.e.d.setInt(p, n)
		mp.moved(field)
	}
}

// incident maps the fields an incident version has in both record types;
// the document's vendor map is there for enriched to add to.
func (e *Encoder) incident(m record.Meta, version int64, inc xdr.Incident) (*doc, error) {
	v, err := xdrview.New(inc.Raw)
	if err != nil {
		return nil, fmt.Errorf("mapping incident %s to ECS: %w", inc.ID, err)
	}
	d := e.reset(nil)
	mp := mapper{e: e, v: v}
	e.header(m, version, incidentCategory, DatasetIncidents, "incident", inc.ID, version)
	if t := v.Time("creation_time"); t > 0 {
		d.setDate(pEventCreated, t)
	}
	mp.severity()
	mp.text(pEventReason, nil, "description")
	mp.text(pEventUrl, nil, "xdr_url")
	mp.text(pMessage, nil, "incident_name")
	mp.list(pTags, "tags")

	// hosts and users stay under panw_cortex.xdr too, with their agent ids
	// and domains; creation_time and modification_time stay as Elastic's
	// integration keeps them.
	related := &e.related
	for _, h := range v.List("hosts") {
		name, _ := xdrview.Host(h)
		if !xdrview.Missing(name) {
			related.hosts = appendNew(related.hosts, strings.ToLower(name))
		}
	}
	for _, u := range v.List("users") {
		name, _ := xdrview.User(u)
		related.users = appendNew(related.users, name)
	}
	related.write(d)
	if e.threat(v, "mitre_tactics_ids_and_names", "mitre_techniques_ids_and_names") {
		mp.moved("mitre_tactics_ids_and_names", "mitre_techniques_ids_and_names")
	}

	v.ResetUse()
	v.Use(e.names...)
	vendor := v.Rest()
	if vendor == nil {
		vendor = map[string]json.RawMessage{}
	}
	if _, ok := vendor["incident_id"]; !ok {
		vendor["incident_id"] = mustString(inc.ID)
	}
	d.vendor = vendor
	d.vals[pPanwCortexXdr] = value{kind: kMap}
	return d, nil
}

// severity maps a severity to event.severity, 0 (unknown) to 5 (critical),
// as Elastic's integration does; ok is false for a word it does not know
// (the field then stays under panw_cortex.xdr).
func severity(raw string) (int, bool) {
	level, word := xdrview.SeverityLevel(raw)
	if word == "" {
		return 0, strings.EqualFold(raw, "unknown")
	}
	return level, level > 0
}

// threat sets threat.* from the MITRE tactics and techniques of the named
// fields, and reports whether there were any.
func (e *Encoder) threat(v *xdrview.View, tacticsField, techniquesField string) bool {
	e.mitres = v.AppendMitres(e.mitres[:0], tacticsField)
	n := len(e.mitres)
	e.mitres = v.AppendMitres(e.mitres, techniquesField)
	if len(e.mitres) == 0 {
		return false
	}
	d := &e.d
	d.setStr(pThreatFramework, "MITRE ATT&CK")
	e.split(pThreatTacticId, pThreatTacticName, e.mitres[:n])
	e.split(pThreatTechniqueId, pThreatTechniqueName, e.mitres[n:])
	return true
}

func (e *Encoder) split(idSlot, nameSlot slot, ms []xdrview.Mitre) {
	e.tmp = e.tmp[:0]
	for _, m := range ms {
		e.tmp = appendNew(e.tmp, m.ID)
	}
	e.d.setList(idSlot, e.tmp)
	e.tmp = e.tmp[:0]
	for _, m := range ms {
		if m.Name != "" {
			e.tmp = appendNew(e.tmp, m.Name)
		}
	}
	e.d.setList(nameSlot, e.tmp)
}

// relatedSet gathers related.* values.
type relatedSet struct{ hosts, ips, users, hashes, uniq []string }

func (r *relatedSet) reset() {
	r.hosts, r.ips, r.users, r.hashes, r.uniq = r.hosts[:0], r.ips[:0], r.users[:0], r.hashes[:0], r.uniq[:0]
}

func (r *relatedSet) write(d *doc) {
	for _, ip := range r.ips {
		r.uniq = appendNew(r.uniq, ip)
	}
	d.setList(pRelatedHosts, r.hosts)
	d.setList(pRelatedIp, r.uniq)
	d.setList(pRelatedUser, r.users)
	d.setList(pRelatedHash, r.hashes)
}

// docID is the document's event.id: a digest of the tenant, the kind of
// document, the record key and the incident version.
func (e *Encoder) docID(m record.Meta, kind, key string, version int64) [16]byte {
	var num [20]byte
	d := e.digest[:0]
	for _, s := range [...][]byte{[]byte("xdr-ecs/v1"), []byte(m.Tenant), []byte(kind), []byte(key), strconv.AppendInt(num[:0], version, 10)} {
		d = strconv.AppendInt(d, int64(len(s)), 10)
		d = append(d, ':')
		d = append(d, s...)
	}
	e.digest = d
	sum := sha256.Sum256(d)
	return [16]byte(sum[:16])
}

// normalMAC returns a MAC address in the form ECS recommends (upper case,
// dash-separated), or false when s is not one (see xdrview.MAC).
func normalMAC(s string) (string, bool) {
	if !xdrview.MAC(s) {
		return "", false
	}
	if s[2] == '-' && strings.IndexFunc(s, func(r rune) bool { return r >= 'a' && r <= 'f' }) < 0 {
		return s, true // already in that form: no copy
	}
	var b [17]byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case i%3 == 2:
			c = '-'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 'A'
		}
		b[i] = c
	}
	return string(b[:]), true
}

func appendNew(list []string, s string) []string {
	if s == "" || slices.Contains(list, s) {
		return list
	}
	return append(list, s)
}

func list(items []json.RawMessage) json.RawMessage { return jsonw.RawList(items) }

func mustString(s string) json.RawMessage {
	b, _ := json.Marshal(s) // a string always encodes
	return b
}
