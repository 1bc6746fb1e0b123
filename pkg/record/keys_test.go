package record

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// ownKeyCases are objects of incident 891, one case of every own-key rule
// (AlertKey, NetworkArtifactKey, FileArtifactKey), each decoded by the xdr
// client's decoder. A case marked "same as" must key as the last case before
// it that is not: the spellings a tenant may use for one value key alike.
var ownKeyCases = []struct{ name, section, object string }{
	{"alert_id string", "alerts", `{"alert_id":"114341","name":"a"}`},
	{"alert_id integer, same as string", "alerts", `{"alert_id":114341,"name":"a"}`},
	{"alert_id integral float, same as string", "alerts", `{"alert_id":114341.0,"name":"a"}`},
	{"alert_id padded, same as string", "alerts", `{"alert_id":" 114341 ","name":"a"}`},
	{"no alert_id: identity hash", "alerts", `{"name":"Powershell","source":"XDR Agent","host_name":"ws-01","detection_timestamp":1700000000000}`},
	{"alert_id null, same as none", "alerts", `{"alert_id":null,"name":"Powershell","source":"XDR Agent","host_name":"ws-01","detection_timestamp":1700000000000}`},
	{"alert_id empty, same as none", "alerts", `{"alert_id":"","name":"Powershell","source":"XDR Agent","host_name":"ws-01","detection_timestamp":1700000000000}`},
	{"status and severity are not identity, same as none", "alerts", `{"name":"Powershell","source":"XDR Agent","host_name":"ws-01","detection_timestamp":1700000000000,"severity":"high","resolution_status":"STATUS_020_UNDER_INVESTIGATION"}`},
	{"detection_timestamp float, same as none", "alerts", `{"name":"Powershell","source":"XDR Agent","host_name":"ws-01","detection_timestamp":1700000000000.0}`},
	{"detection_timestamp string, same as none", "alerts", `{"name":"Powershell","source":"XDR Agent","host_name":"ws-01","detection_timestamp":"1700000000000"}`},
	{"event_id string", "alerts", `{"name":"Powershell","event_id":"2"}`},
	{"event_id integer, same as string", "alerts", `{"name":"Powershell","event_id":2}`},
	{"event_id integral float, same as string", "alerts", `{"name":"Powershell","event_id":2.0}`},
	{"event_id fraction", "alerts", `{"name":"Powershell","event_id":2.5}`},
	{"event_id none", "alerts", `{"name":"Powershell"}`},
	{"event_id boolean, same as event_id none", "alerts", `{"name":"Powershell","event_id":true}`},
	{"external_id", "alerts", `{"name":"Powershell","external_id":"ext-9"}`},
	{"name number", "alerts", `{"name":17}`},
	{"name integral float, same as name number", "alerts", `{"name":17.0}`},
	{"DOMAIN: lower-cased, no trailing dot", "network_artifacts", `{"type":"DOMAIN","network_domain":"Evil.Example.","network_remote_ip":"10.0.0.1"}`},
	{"IP with port", "network_artifacts", `{"type":"IP","network_remote_ip":"10.0.0.1","network_remote_port":443,"network_domain":"evil.example"}`},
	{"IP with port as string, same as IP with port", "network_artifacts", `{"type":"IP","network_remote_ip":"10.0.0.1","network_remote_port":"443"}`},
	{"IPv6 with port", "network_artifacts", `{"type":"IP","network_remote_ip":"2001:db8::1","network_remote_port":53}`},
	{"IP without port", "network_artifacts", `{"type":"ip","network_remote_ip":"10.0.0.1"}`},
	{"no type: domain first", "network_artifacts", `{"network_domain":"a.example","network_remote_ip":"10.0.0.1"}`},
	{"no type: ip", "network_artifacts", `{"network_remote_ip":"10.0.0.2","network_remote_port":8080}`},
	{"bare string", "network_artifacts", `"c.example"`},
	{"no identity: raw hash", "network_artifacts", `{"type":"DOMAIN","alert_count":1}`},
	{"HASH: sha lower-cased", "file_artifacts", `{"type":"HASH","file_sha256":"AB12CD","file_name":"x.exe"}`},
	{"bare string", "file_artifacts", `"ab12cd"`},
	{"name only", "file_artifacts", `{"type":"HASH","file_name":"run.ps1"}`},
	{"no identity: raw hash", "file_artifacts", `{"type":"HASH","is_malicious":true}`},
}

// replyKeyCases are replies whose objects' own keys collide (ReplyKeys),
// with the fixture shapes seen in public integrations: one file under two
// names, alerts sharing an alert_id.
var replyKeyCases = []struct{ name, reply string }{
	{"unique keys: each its own", `{"alerts":[{"alert_id":"1"},{"alert_id":"2"}],
		"file_artifacts":[{"type":"HASH","file_sha256":"aa","file_name":"a"},{"type":"HASH","file_sha256":"bb","file_name":"b"}]}`},
	{"one file under two names", `{"file_artifacts":{"total_count":2,"data":[
		{"type":"HASH","file_sha256":"8F1A2B","file_name":"invoice.exe","alert_count":1},
		{"type":"HASH","file_sha256":"8f1a2b","file_name":"svchost.exe","alert_count":1}]}}`},
	{"one file under two names, reordered", `{"file_artifacts":{"total_count":2,"data":[
		{"type":"HASH","file_sha256":"8f1a2b","file_name":"svchost.exe","alert_count":1},
		{"type":"HASH","file_sha256":"8F1A2B","file_name":"invoice.exe","alert_count":1}]}}`},
	{"alerts sharing an alert_id", `{"alerts":{"total_count":3,"data":[
		{"alert_id":"114341","name":"Powershell","host_name":"ws-01"},
		{"alert_id":"114341","name":"Powershell","host_name":"ws-02"},
		{"alert_id":"114341","name":"Mimikatz","host_name":"ws-01"}]}}`},
	{"an alert repeated: one object, one key", `{"alerts":[
		{"alert_id":"7","name":"a","severity":"high"},
		{"alert_id":"7","name":"a","severity":"high"}]}`},
	{"an alert repeated with members reordered and spaced: one object", `{"alerts":[
		{"alert_id":"7","name":"a","severity":"high"},
		{ "severity" : "high", "name":"a", "alert_id":"7" }]}`},
	{"a renamed alert repeated: its suffixed key", `{"alerts":[
		{"alert_id":"7","name":"a"},
		{"alert_id":"7","name":"b"},
		{"alert_id":"7","name":"b"}]}`},
	{"alerts without alert_id sharing an identity", `{"alerts":[
		{"name":"Powershell","host_name":"ws-01","detection_timestamp":1,"severity":"low"},
		{"name":"Powershell","host_name":"ws-01","detection_timestamp":1,"severity":"high"}]}`},
	{"network artifacts sharing a domain", `{"network_artifacts":[
		{"type":"DOMAIN","network_domain":"evil.example","network_remote_ip":"10.0.0.1"},
		{"type":"DOMAIN","network_domain":"EVIL.example.","network_remote_ip":"10.0.0.2"}]}`},
	{"a network and a file artifact cannot collide", `{"network_artifacts":["x"],"file_artifacts":["x"]}`},
}

// replyOf decodes a reply of incident 891 with the xdr client's decoder.
func replyOf(t *testing.T, reply string) *xdr.ExtraData {
	t.Helper()
	var body bytes.Buffer
	fmt.Fprintf(&body, `{"reply":{"incident":{"incident_id":"891","modification_time":1700000000000}`)
	if r := strings.TrimSpace(reply); r != "{}" {
		fmt.Fprintf(&body, ",%s", strings.TrimPrefix(r, "{"))
	} else {
		body.WriteString("}")
	}
	body.WriteString("}")
	ed, err := xdr.DecodeExtraData(body.Bytes())
	if err != nil {
		t.Fatalf("decoding %s: %v", body.Bytes(), err)
	}
	return ed
}

// TestOwnKeysGolden pins every own-key rule. The keys in the golden file are
// the keys records carry today: changing one orphans records in compacted
// topics, so a diff here must be deliberate.
func TestOwnKeysGolden(t *testing.T) {
	var out bytes.Buffer
	var last string // the key of the last case not marked "same as"
	for _, tc := range ownKeyCases {
		ed := replyOf(t, fmt.Sprintf(`{%q:[%s]}`, tc.section, tc.object))
		var key string
		switch tc.section {
		case "alerts":
			key = AlertKey(ed.Incident.ID, ed.Alerts.Data[0])
		case "network_artifacts":
			key = NetworkArtifactKey(ed.Incident.ID, ed.NetworkArtifacts.Data[0])
		case "file_artifacts":
			key = FileArtifactKey(ed.Incident.ID, ed.FileArtifacts.Data[0])
		}
		if strings.Contains(tc.name, ", same as ") {
			if key != last {
				t.Errorf("%s %s: key %q, want %q", tc.section, tc.name, key, last)
			}
		} else {
			last = key
		}
		fmt.Fprintf(&out, "%s\t%s\t%s\n\t%s\n", tc.section, tc.name, tc.object, key)
	}
	checkGolden(t, filepath.Join("testdata", "keys", "own.golden"), out.Bytes())
}

// TestReplyKeysGolden pins ReplyKeys on replies whose objects' own keys
// collide, and checks its promises on each: no two different objects share
// a key, the first keeps its own key, the count is the number of suffixed
// keys.
func TestReplyKeysGolden(t *testing.T) {
	var out bytes.Buffer
	for _, tc := range replyKeyCases {
		ed := replyOf(t, tc.reply)
		k := ReplyKeys(ed)
		fmt.Fprintf(&out, "== %s (collisions %d)\n", tc.name, k.Collisions)
		checkUnique(t, tc.name, "alerts", k.Alerts, objectsOf(ed.Alerts.Data, "alert", func(a xdr.Alert) []byte { return a.Raw }))
		checkUnique(t, tc.name, "artifacts", append(append([]string{}, k.Network...), k.File...),
			append(objectsOf(ed.NetworkArtifacts.Data, "network", func(a xdr.NetworkArtifact) []byte { return a.Raw }),
				objectsOf(ed.FileArtifacts.Data, "file", func(a xdr.FileArtifact) []byte { return a.Raw })...))
		suffixed := 0
		for _, list := range [][]string{k.Alerts, k.Network, k.File} {
			seen := map[string]bool{}
			for _, key := range list {
				if strings.Contains(key, CollisionSep) && !seen[key] {
					suffixed++
				}
				seen[key] = true
			}
		}
		if suffixed != k.Collisions {
			t.Errorf("%s: Collisions = %d, %d suffixed keys", tc.name, k.Collisions, suffixed)
		}
		for i, a := range ed.Alerts.Data {
			own := AlertKey(ed.Incident.ID, a)
			if i == 0 && k.Alerts[0] != own {
				t.Errorf("%s: the first alert's key %q, its own key is %q", tc.name, k.Alerts[0], own)
			}
			fmt.Fprintf(&out, "alert\t%s\n\t%s\n", a.Raw, k.Alerts[i])
		}
		for i, a := range ed.NetworkArtifacts.Data {
			if i == 0 && k.Network[0] != NetworkArtifactKey(ed.Incident.ID, a) {
				t.Errorf("%s: the first network artifact's key %q is not its own", tc.name, k.Network[0])
			}
			fmt.Fprintf(&out, "network\t%s\n\t%s\n", a.Raw, k.Network[i])
		}
		for i, a := range ed.FileArtifacts.Data {
			if i == 0 && k.File[0] != FileArtifactKey(ed.Incident.ID, a) {
				t.Errorf("%s: the first file artifact's key %q is not its own", tc.name, k.File[0])
			}
			fmt.Fprintf(&out, "file\t%s\n\t%s\n", a.Raw, k.File[i])
		}
	}
	checkGolden(t, filepath.Join("testdata", "keys", "reply.golden"), out.Bytes())
}

// objectsOf returns the identities of a reply's objects of one kind: the
// kind and the object's canonical JSON.
func objectsOf[T any](items []T, kind string, raw func(T) []byte) []string {
	out := make([]string, len(items))
	for i, it := range items {
		out[i] = kind + "\x00" + string(Canonical(raw(it)))
	}
	return out
}

// checkUnique fails when two different objects share a key, or two
// instances of one object (same kind, same canonical JSON) do not.
func checkUnique(t *testing.T, name, what string, keys, objects []string) {
	t.Helper()
	for i := range keys {
		for j := range i {
			sameKey, sameObj := keys[i] == keys[j], objects[i] == objects[j]
			if sameKey != sameObj {
				t.Errorf("%s: %s %d and %d: same key %v, same object %v (%q, %q)", name, what, j, i, sameKey, sameObj, keys[j], keys[i])
			}
		}
	}
}

// FuzzReplyKeys holds ReplyKeys to its promise on any reply the decoder
// accepts: two different objects of one topic never share a key, two
// instances of one object always do, the first object of an own key keeps
// it, and the keys do not change when the reply is decoded again.
func FuzzReplyKeys(f *testing.F) {
	for _, tc := range replyKeyCases {
		f.Add(tc.reply)
	}
	f.Add(`{"alerts":[{"alert_id":"7~0000000000000000"},{"alert_id":"7"},{"alert_id":"7","x":1}]}`)
	f.Fuzz(func(t *testing.T, reply string) {
		ed, err := xdr.DecodeExtraData([]byte(`{"reply":` + reply + `}`))
		if err != nil {
			return
		}
		k := ReplyKeys(ed)
		checkUnique(t, "fuzz", "alerts", k.Alerts, objectsOf(ed.Alerts.Data, "alert", func(a xdr.Alert) []byte { return a.Raw }))
		checkUnique(t, "fuzz", "artifacts", append(append([]string{}, k.Network...), k.File...),
			append(objectsOf(ed.NetworkArtifacts.Data, "network", func(a xdr.NetworkArtifact) []byte { return a.Raw }),
				objectsOf(ed.FileArtifacts.Data, "file", func(a xdr.FileArtifact) []byte { return a.Raw })...))
		if len(ed.Alerts.Data) > 0 && k.Alerts[0] != AlertKey(ed.Incident.ID, ed.Alerts.Data[0]) {
			t.Fatalf("the first alert lost its own key")
		}
		again, _ := xdr.DecodeExtraData([]byte(`{"reply":` + reply + `}`))
		k2 := ReplyKeys(again)
		if strings.Join(k.Alerts, "\n") != strings.Join(k2.Alerts, "\n") || strings.Join(k.File, "\n") != strings.Join(k2.File, "\n") ||
			strings.Join(k.Network, "\n") != strings.Join(k2.Network, "\n") || k.Collisions != k2.Collisions {
			t.Fatalf("keys differ on a second decoding")
		}
	})
}

func TestAlertKeyStable(t *testing.T) {
	base := xdr.Alert{Name: "Port scan", Source: "Firewall", HostName: "fw-1", DetectionTimestamp: 17,
		Severity: "low", CaseID: "77", Raw: json.RawMessage(`{"name":"Port scan","event_id":"e-9","resolution_status":"STATUS_010_NEW","severity":"low"}`)}
	k := AlertKey("77", base)
	if !strings.HasPrefix(k, "h:") || len(k) != 2+64 {
		t.Fatalf("derived key %q", k)
	}
	// Fields outside the identity change as the alert is updated.
	same := base
	same.Severity, same.CaseID = "high", "78"
	same.Raw = json.RawMessage(`{"severity":"high","name":"Port scan","resolution_status":"STATUS_020_UNDER_INVESTIGATION","event_id":"e-9","starred":true, "new_field":[1]}`)
	if got := AlertKey("77", same); got != k {
		t.Errorf("key changed with non-identity fields: %s != %s", got, k)
	}
	same.HostName = "fw-1  " // trailing spaces come and go
	if got := AlertKey("77", same); got != k {
		t.Errorf("key changed with trailing spaces: %s != %s", got, k)
	}
	for name, mut := range map[string]func(*xdr.Alert) (string, xdr.Alert){
		"incident":  func(a *xdr.Alert) (string, xdr.Alert) { return "78", *a },
		"name":      func(a *xdr.Alert) (string, xdr.Alert) { b := *a; b.Name = "Other"; return "77", b },
		"source":    func(a *xdr.Alert) (string, xdr.Alert) { b := *a; b.Source = "XDR"; return "77", b },
		"host":      func(a *xdr.Alert) (string, xdr.Alert) { b := *a; b.HostName = "fw-2"; return "77", b },
		"detection": func(a *xdr.Alert) (string, xdr.Alert) { b := *a; b.DetectionTimestamp = 18; return "77", b },
		"event_id": func(a *xdr.Alert) (string, xdr.Alert) {
			b := *a
			b.Raw = json.RawMessage(`{"event_id":"e-10"}`)
			return "77", b
		},
		"external_id": func(a *xdr.Alert) (string, xdr.Alert) {
			b := *a
			b.Raw = json.RawMessage(`{"event_id":"e-9","external_id":5}`)
			return "77", b
		},
		"field boundary": func(a *xdr.Alert) (string, xdr.Alert) {
			b := *a
			b.Name, b.Source = "Port scanF", "irewall" // same concatenation
			return "77", b
		},
	} {
		if got := AlertKey(mut(&base)); got == k {
			t.Errorf("%s: key did not change", name)
		}
	}
	// An alert_id wins and is kept as is.
	if got := AlertKey("77", xdr.Alert{ID: "4711", Name: "x"}); got != "4711" {
		t.Errorf("AlertKey with id = %q", got)
	}
}

func TestArtifactKeys(t *testing.T) {
	for _, tc := range []struct {
		a    xdr.NetworkArtifact
		want string
	}{
		{xdr.NetworkArtifact{Type: "DOMAIN", Domain: "Evil.Example.COM. "}, "9/network/DOMAIN/evil.example.com"},
		{xdr.NetworkArtifact{Type: "IP", RemoteIP: "203.0.113.7", RemotePort: 443}, "9/network/IP/203.0.113.7:443"},
		{xdr.NetworkArtifact{Type: "IP", RemoteIP: "2001:db8::1", RemotePort: 8443}, "9/network/IP/[2001:db8::1]:8443"},
		{xdr.NetworkArtifact{Type: "IP", RemoteIP: "203.0.113.7"}, "9/network/IP/203.0.113.7"},
		{xdr.NetworkArtifact{Type: "DOMAIN", Domain: "a.example", RemoteIP: "1.2.3.4", RemotePort: 80}, "9/network/DOMAIN/a.example"},
		{xdr.NetworkArtifact{Value: " assets.example.org "}, "9/network//assets.example.org"},
	} {
		if got := NetworkArtifactKey("9", tc.a); got != tc.want {
			t.Errorf("NetworkArtifactKey(%+v) = %q, want %q", tc.a, got, tc.want)
		}
	}
	sha := "E3B0C44298FC1C149AFBF4C8996FB92427AE41E4649B934CA495991B7852B855"
	f := xdr.FileArtifact{Type: "HASH", SHA256: sha, FileName: "cmd.exe", Raw: json.RawMessage(`{"alert_count":1}`)}
	k := FileArtifactKey("9", f)
	if k != "9/file/HASH/"+strings.ToLower(sha) {
		t.Errorf("FileArtifactKey = %q", k)
	}
	// Counts, verdicts and file names change; the key does not.
	g := f
	g.FileName, g.Raw = "renamed.exe", json.RawMessage(`{"alert_count":7,"file_wildfire_verdict":"MALWARE"}`)
	if FileArtifactKey("9", g) != k {
		t.Error("file key changed with non-identity fields")
	}
	n := xdr.NetworkArtifact{Type: "IP", RemoteIP: "203.0.113.7", RemotePort: 443, Raw: json.RawMessage(`{"alert_count":1}`)}
	n2 := n
	n2.Raw = json.RawMessage(`{"alert_count":9,"network_country":"DE"}`)
	if NetworkArtifactKey("9", n) != NetworkArtifactKey("9", n2) {
		t.Error("network key changed with non-identity fields")
	}
	if FileArtifactKey("9", xdr.FileArtifact{FileName: "x.ps1"}) != "9/file//x.ps1" {
		t.Error("file name fallback")
	}
	if !strings.HasPrefix(FileArtifactKey("9", xdr.FileArtifact{Raw: json.RawMessage(`{}`)}), "9/file//h:") {
		t.Error("raw hash fallback")
	}
}

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// checkGolden compares got with the golden file at path, or rewrites it
// with -update.
func checkGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	if want, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s does not hold the output (%v; go test -update rewrites it):\n%s", path, err, got)
	}
}
