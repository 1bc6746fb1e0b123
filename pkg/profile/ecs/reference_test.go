// This file is the ECS mapping as it was first written: it builds each
// document as nested maps and encodes them with encoding/json. It is the
// reference the fast encoder (ecs.go) is held to by FuzzFastMatchesReference
// and TestFastMatchesReference: the same API object must give the same
// document, as parsed JSON.
package ecs_test

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/ecs"
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// refDocument is one ECS document, nested as Elasticsearch stores it
// (event.kind is {"event": {"kind": ...}}). It encodes with encoding/json,
// keys sorted.
type refDocument map[string]any

// refIncidentChange returns the document of one incident version as
// get_incidents returned it.
func refIncidentChange(m record.Meta, inc xdr.Incident) (refDocument, error) {
	d, _, err := incident(m, inc.ModificationTime, inc)
	return d, err
}

// refIncidentEnriched returns the document of one get_incident_extra_data
// reply: the incident's fields, with the artifacts' IPs and hashes in
// related.* and the artifacts themselves under panw_cortex.xdr. Its version
// is max(version, the reply's modification_time), as the native enriched
// record's.
func refIncidentEnriched(m record.Meta, version int64, ed *xdr.ExtraData) (refDocument, error) {
	d, vendor, err := incident(m, max(version, ed.Incident.ModificationTime), ed.Incident)
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
	d.set("related.ip", ips)
	d.set("related.hash", hashes)
	if len(netRaw) > 0 {
		vendor["network_artifacts"] = list(netRaw)
	}
	if len(fileRaw) > 0 {
		vendor["file_artifacts"] = list(fileRaw)
	}
	return d, nil
}

// refAlert returns the document of one alert of an enriched reply: inc is the
// reply's incident, version the incident version its native record carries
// and key the alert's record key in its reply. Host, user, process (the actor process and, as its parent, the
// causality actor), file, network, DNS and registry fields land where
// Elastic's integration puts them.
func refAlert(m record.Meta, version int64, inc xdr.Incident, a xdr.Alert, key string) (refDocument, error) {
	v, err := xdrview.New(a.Raw)
	if err != nil {
		return nil, fmt.Errorf("mapping alert of incident %s to ECS: %w", inc.ID, err)
	}
	version = max(version, inc.ModificationTime)
	mp := &mapper{d: refDocument{}, v: v}
	d := mp.d
	ts := v.Time("event_timestamp")
	if ts == 0 {
		ts = v.Time("detection_timestamp")
	}
	if ts == 0 {
		ts = version
	}
	d.set("@timestamp", date(ts))
	d.set("ecs.version", ecs.Version)
	d.set("event.kind", "alert")
	d.set("event.category", []string{"intrusion_detection"})
	d.set("event.type", []string{"info"})
	d.set("event.dataset", ecs.DatasetAlerts)
	d.set("event.module", "panw_cortex_xdr")
	d.set("event.id", docID(m, "alert", key, version))
	if t := v.Time("detection_timestamp"); t > 0 {
		d.set("event.created", date(t))
		mp.moved("detection_timestamp")
	}
	if n, ok := severity(v.Scalar("severity")); ok {
		d.set("event.severity", n)
		mp.moved("severity")
	}
	mp.text("event.action", nil, "action")
	mp.text("event.reason", nil, "description")
	mp.text("event.provider", nil, "source")
	mp.text("message", nil, "name")
	if tags := v.List("tags"); len(tags) > 0 {
		d.set("tags", tags)
		mp.moved("tags")
	}

	var related relatedSet
	// Host. host_ip and mac (or mac_addresses, as the v2 alerts API names
	// it) and, below, action_remote_ip stay under panw_cortex.xdr as sent:
	// ECS holds them cleaned, as lists.
	host := mp.text("host.hostname", nil, "agent_fqdn", "host_name")
	d.set("host.name", strings.ToLower(host))
	related.hosts = appendNew(related.hosts, strings.ToLower(host))
	mp.text("host.id", nil, "endpoint_id")
	mp.text("host.domain", nil, "agent_device_domain")
	mp.text("host.os.name", nil, "agent_os_type")
	mp.text("host.os.version", nil, "agent_os_sub_type")
	hostIPs := v.IPs("host_ip")
	d.set("host.ip", hostIPs)
	related.ips = append(related.ips, hostIPs...)
	var macs []string
	for _, mac := range append(v.Split("mac"), v.Split("mac_addresses")...) {
		if norm, ok := normalMAC(mac); ok {
			macs = appendNew(macs, norm)
		}
	}
	d.set("host.mac", macs)

	// User: the first of a list of users is the user; related.user has
	// them all.
	if u := v.Text("user_name"); u != "" {
		name, domain := xdrview.User(u)
		d.set("user.name", name)
		d.set("user.domain", domain)
		if strings.Contains(u, "@") && strings.Contains(u, ".") {
			d.set("user.email", u)
		}
		for _, each := range v.List("user_name") {
			name, _ := xdrview.User(each)
			related.users = appendNew(related.users, name)
		}
		mp.moved("user_name")
	}

	// Network. source.ip holds one address: the first of a list, with
	// every address in related.ip and the list kept under panw_cortex.xdr.
	if srcIPs := v.IPs("action_local_ip"); len(srcIPs) > 0 {
		d.set("source.ip", srcIPs[0])
		related.ips = append(related.ips, srcIPs...)
		mp.moved("action_local_ip")
		if len(srcIPs) > 1 {
			v.Keep("action_local_ip")
		}
		mp.port("source.port", "action_local_port")
	}
	dstIPs := v.IPs("action_remote_ip")
	switch len(dstIPs) {
	case 0:
	case 1:
		d.set("destination.ip", dstIPs[0])
	default:
		d.set("destination.ip", dstIPs)
	}
	related.ips = append(related.ips, dstIPs...)
	dstHost := mp.text("destination.domain", nil, "action_external_hostname")
	if len(dstIPs) > 0 || dstHost != "" {
		mp.port("destination.port", "action_remote_port")
		if c := v.Text("action_country"); len(c) == 2 {
			d.set("destination.geo.country_iso_code", strings.ToUpper(c))
			mp.moved("action_country")
		}
	}
	mp.text("dns.question.name", nil, "dns_query_name")

	// Process: the action process when the alert names one, else the actor
	// process; the causality actor is the parent. Some sources name the
	// process image alone (image_name).
	if n, ok := v.Int("actor_process_os_pid"); ok && n > 0 {
		d.set("process.pid", n)
		mp.moved("actor_process_os_pid")
	}
	if n, ok := v.Int("actor_thread_thread_id"); ok && n > 0 {
		d.set("process.thread.id", n)
		mp.moved("actor_thread_thread_id")
	}
	mp.text("process.entity_id", nil, "action_process_instance_id", "actor_process_instance_id")
	if mp.text("process.name", baseName, "action_process_image_name", "actor_process_image_name") == "" {
		mp.text("process.name", baseName, "image_name")
	}
	mp.text("process.executable", nil, "actor_process_image_path")
	mp.text("process.command_line", nil, "action_process_image_command_line", "actor_process_command_line")
	mp.text("process.hash.sha256", lower, "action_process_image_sha256", "actor_process_image_sha256")
	mp.text("process.hash.md5", lower, "actor_process_image_md5")
	mp.text("process.code_signature.subject_name", nil, "action_process_signature_vendor", "actor_process_signature_vendor")
	mp.text("process.code_signature.status", nil, "action_process_signature_status", "actor_process_signature_status")
	mp.text("process.parent.name", baseName, "causality_actor_process_image_name")
	mp.text("process.parent.executable", nil, "causality_actor_process_image_path")
	mp.text("process.parent.command_line", nil, "causality_actor_process_command_line")
	mp.text("process.parent.entity_id", nil, "causality_actor_causality_id")
	mp.text("process.parent.hash.sha256", lower, "causality_actor_process_image_sha256")
	mp.text("process.parent.hash.md5", lower, "causality_actor_process_image_md5")
	mp.text("process.parent.code_signature.subject_name", nil, "causality_actor_process_signature_vendor")
	mp.text("process.parent.code_signature.status", nil, "causality_actor_process_signature_status")

	// File.
	mp.text("file.path", nil, "action_file_path")
	mp.text("file.name", nil, "action_file_name")
	if d.get("file.name") == nil {
		d.set("file.name", baseName(v.Text("action_file_path")))
	}
	mp.text("file.hash.sha256", lower, "action_file_sha256")
	mp.text("file.hash.md5", lower, "action_file_md5")
	for _, p := range []string{"process.hash.sha256", "process.hash.md5", "process.parent.hash.sha256", "process.parent.hash.md5", "file.hash.sha256", "file.hash.md5"} {
		if h, ok := d.get(p).(string); ok {
			related.hashes = appendNew(related.hashes, h)
		}
	}
	// A hash field that is a list of several: the first is the hash above,
	// every one is a related hash.
	for _, f := range []string{"action_process_image_sha256", "actor_process_image_sha256", "actor_process_image_md5",
		"causality_actor_process_image_sha256", "causality_actor_process_image_md5", "action_file_sha256", "action_file_md5"} {
		if slices.Contains(mp.names, f) {
			for _, h := range v.List(f) {
				related.hashes = appendNew(related.hashes, strings.ToLower(h))
			}
		}
	}

	// Registry.
	mp.text("registry.key", nil, "action_registry_key_name")
	mp.text("registry.value", nil, "action_registry_value_name")
	mp.text("registry.path", nil, "action_registry_full_key")
	if data := v.List("action_registry_data"); len(data) > 0 {
		d.set("registry.data.strings", data)
		mp.moved("action_registry_data")
	}

	if threat(d, v.Mitres("mitre_tactic_id_and_name"), v.Mitres("mitre_technique_id_and_name")) {
		mp.moved("mitre_tactic_id_and_name", "mitre_technique_id_and_name")
	}
	related.write(d)

	// Every field no ECS field carries stays under panw_cortex.xdr, with the
	// incident id, the alert's record key and the incident version (the
	// native record's modification_time) beside them.
	vendor := mp.rest()
	vendor["incident_id"] = mustString(inc.ID)
	vendor["alert_key"] = mustString(key)
	vendor["incident_modification_time"] = json.RawMessage(strconv.FormatInt(version, 10))
	d.set(ecs.Vendor, vendor)
	return d, nil
}

// mapper sets ECS fields from API fields and remembers which API fields it
// moved, so that exactly the others stay under panw_cortex.xdr.
type mapper struct {
	d     refDocument
	v     *xdrview.View
	names []string
}

func (mp *mapper) moved(fields ...string) { mp.names = append(mp.names, fields...) }

// text sets the ECS field p from the first of fields that has a value
// (transformed by f when f is not nil), records that field as moved, and
// returns the value stored ("" when none).
func (mp *mapper) text(p string, f func(string) string, fields ...string) string {
	for _, name := range fields {
		s := mp.v.Text(name)
		if s == "" {
			continue
		}
		if f != nil {
			s = f(s)
		}
		mp.d.set(p, s)
		mp.moved(name)
		return s
	}
	return ""
}

// port sets the ECS field p from a port field with a value above 0.
func (mp *mapper) port(p, field string) {
	if n, ok := mp.v.Port(field); ok && n > 0 {
		mp.d.set(p, n)
		mp.moved(field)
	}
}

// rest returns the API fields not moved, nulls dropped.
func (mp *mapper) rest() map[string]json.RawMessage {
	mp.v.ResetUse()
	mp.v.Use(mp.names...)
	rest := mp.v.Rest()
	if rest == nil {
		rest = map[string]json.RawMessage{}
	}
	return rest
}

// incident maps the fields an incident version has in both record types and
// returns the vendor object, for refIncidentEnriched to add to.
func incident(m record.Meta, version int64, inc xdr.Incident) (refDocument, map[string]json.RawMessage, error) {
	v, err := xdrview.New(inc.Raw)
	if err != nil {
		return nil, nil, fmt.Errorf("mapping incident %s to ECS: %w", inc.ID, err)
	}
	mp := &mapper{d: refDocument{}, v: v}
	d := mp.d
	d.set("@timestamp", date(version))
	d.set("ecs.version", ecs.Version)
	d.set("event.kind", "alert")
	d.set("event.category", []string{"malware"})
	d.set("event.type", []string{"info"})
	d.set("event.dataset", ecs.DatasetIncidents)
	d.set("event.module", "panw_cortex_xdr")
	d.set("event.id", docID(m, "incident", inc.ID, version))
	if t := v.Time("creation_time"); t > 0 {
		d.set("event.created", date(t))
	}
	if n, ok := severity(v.Scalar("severity")); ok {
		d.set("event.severity", n)
		mp.moved("severity")
	}
	mp.text("event.reason", nil, "description")
	mp.text("event.url", nil, "xdr_url")
	mp.text("message", nil, "incident_name")
	if tags := v.List("tags"); len(tags) > 0 {
		d.set("tags", tags)
		mp.moved("tags")
	}

	// hosts and users stay under panw_cortex.xdr too, with their agent ids
	// and domains; creation_time and modification_time stay as Elastic's
	// integration keeps them.
	var related relatedSet
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
	if threat(d, v.Mitres("mitre_tactics_ids_and_names"), v.Mitres("mitre_techniques_ids_and_names")) {
		mp.moved("mitre_tactics_ids_and_names", "mitre_techniques_ids_and_names")
	}

	vendor := mp.rest()
	if _, ok := vendor["incident_id"]; !ok {
		vendor["incident_id"] = mustString(inc.ID)
	}
	d.set(ecs.Vendor, vendor)
	return d, vendor, nil
}

// severity maps a severity to event.severity, 0 (unknown) to 5 (critical),
// as Elastic's integration does; ok is false for a word it does not know
// (the field then stays under panw_cortex.xdr).
func severity(raw string) (int, bool) {
	level, word := xdrview.SeverityLevel(raw)
	return level, level > 0 || word == "" && strings.EqualFold(raw, "unknown")
}

// threat sets threat.* from MITRE tactics and techniques, and reports
// whether there were any.
func threat(d refDocument, tactics, techniques []xdrview.Mitre) bool {
	if len(tactics) == 0 && len(techniques) == 0 {
		return false
	}
	d.set("threat.framework", "MITRE ATT&CK")
	ids, names := split(tactics)
	d.set("threat.tactic.id", ids)
	d.set("threat.tactic.name", names)
	ids, names = split(techniques)
	d.set("threat.technique.id", ids)
	d.set("threat.technique.name", names)
	return true
}

func split(ms []xdrview.Mitre) (ids, names []string) {
	for _, m := range ms {
		ids = appendNew(ids, m.ID)
		if m.Name != "" {
			names = appendNew(names, m.Name)
		}
	}
	return ids, names
}

// relatedSet gathers related.* values.
type relatedSet struct{ hosts, ips, users, hashes []string }

func (r relatedSet) write(d refDocument) {
	var ips []string
	for _, ip := range r.ips {
		ips = appendNew(ips, ip)
	}
	d.set("related.hosts", r.hosts)
	d.set("related.ip", ips)
	d.set("related.user", r.users)
	d.set("related.hash", r.hashes)
}

// docID is the document's event.id: a digest of the tenant, the kind of
// document, the record key and the incident version.
func docID(m record.Meta, kind, key string, version int64) string {
	h := sha256.New()
	for _, s := range []string{"xdr-ecs/v1", m.Tenant, kind, key, strconv.FormatInt(version, 10)} {
		h.Write(strconv.AppendInt(nil, int64(len(s)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(s))
	}
	return hex.EncodeToString(h.Sum(nil)[:16])
}

// set stores v at the dotted path p, creating the objects on the way. Empty
// values — "", nil, an empty list, a zero time — are not stored.
func (d refDocument) set(p string, v any) {
	switch x := v.(type) {
	case string:
		if x == "" {
			return
		}
	case []string:
		if len(x) == 0 {
			return
		}
	case map[string]json.RawMessage:
		if len(x) == 0 {
			return
		}
	case nil:
		return
	}
	obj := d
	keys := strings.Split(p, ".")
	if p == ecs.Vendor {
		keys = []string{"panw_cortex", "xdr"}
	}
	for _, k := range keys[:len(keys)-1] {
		next, ok := obj[k].(refDocument)
		if !ok {
			next = refDocument{}
			obj[k] = next
		}
		obj = next
	}
	obj[keys[len(keys)-1]] = v
}

// get returns the value at the dotted path p, or nil.
func (d refDocument) get(p string) any {
	var cur any = d
	for k := range strings.SplitSeq(p, ".") {
		obj, ok := cur.(refDocument)
		if !ok {
			return nil
		}
		cur = obj[k]
	}
	return cur
}

// date renders epoch ms as an RFC 3339 UTC time with milliseconds, as
// Elasticsearch's date type reads it; 0 renders as "" (not stored).
func date(ms int64) string {
	if ms <= 0 {
		return ""
	}
	return time.UnixMilli(ms).UTC().Format("2006-01-02T15:04:05.000Z")
}

// normalMAC returns a MAC address in the form ECS recommends (upper case,
// dash-separated), or false when s is not one.
func normalMAC(s string) (string, bool) {
	if !xdrview.MAC(s) {
		return "", false
	}
	return strings.ToUpper(strings.ReplaceAll(s, ":", "-")), true
}

func baseName(p string) string {
	if i := strings.LastIndexAny(p, `\/`); i >= 0 {
		return path.Base(strings.ReplaceAll(p[i:], `\`, "/"))
	}
	return p
}

func lower(s string) string { return strings.ToLower(s) }

func first(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// appendNew appends s unless it is empty or already listed.
func appendNew(list []string, s string) []string {
	for _, x := range list {
		if x == s {
			return list
		}
	}
	if s == "" {
		return list
	}
	return append(list, s)
}

// list and mustString encode with encoding/json: the reference has no
// writer of its own.
func list(items []json.RawMessage) json.RawMessage { return marshalRaw(items) }
func mustString(s string) json.RawMessage          { return marshalRaw(s) }

func marshalRaw(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null") // items are valid JSON, as xdr decoding guarantees
	}
	return b
}
