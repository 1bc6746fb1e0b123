package record

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"net"
	"strconv"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Record keys.
//
// Every key rule of the connector's records is in this file, beside the
// record model, so that every stage and output profile keys an object by
// the same rule without depending on the stage that fetched it (the incident
// records are keyed by the incident id as it is). An object's key is made in
// two steps:
//
//  1. Its own key, from its identity fields alone (AlertKey,
//     NetworkArtifactKey, FileArtifactKey). The fields are read by xdr.Text,
//     so a number keys alike however it was spelled (891 and 891.0 alike).
//  2. Within one reply, a key that an earlier, different object already has
//     takes a suffix (ReplyKeys), so that no two different objects of one
//     enrichment share a key and a compacted topic keeps every one of them.
//
// testdata/keys/ holds a case of every rule.

// AlertKey returns an alert's own key: the API's alert_id when the alert has
// one; otherwise "h:" and the hex SHA-256 of the alert's identity — incident
// id, name, source, host name, detection timestamp, and the raw alert's
// event_id and external_id when present, each read by xdr.Text. Fields that
// change as an alert is updated (status, severity, counts) are deliberately
// left out, so the key is stable across versions of the same alert. Within a
// reply, use ReplyKeys: two alerts of one reply may share this key.
func AlertKey(incidentID string, a xdr.Alert) string {
	if id := strings.TrimSpace(a.ID); id != "" {
		return id
	}
	var ids struct {
		EventID    json.RawMessage `json:"event_id"`
		ExternalID json.RawMessage `json:"external_id"`
	}
	_ = json.Unmarshal(a.Raw, &ids) // best effort: a non-object contributes nothing
	h := sha256.New()
	for _, f := range []string{
		"xdr-alert-key/v1",
		incidentID,
		strings.TrimSpace(a.Name),
		strings.TrimSpace(a.Source),
		strings.TrimSpace(a.HostName),
		strconv.FormatInt(a.DetectionTimestamp, 10),
		xdr.Text(ids.EventID),
		xdr.Text(ids.ExternalID),
	} {
		// Length-prefixed, so no two field lists hash the same input.
		h.Write(strconv.AppendInt(nil, int64(len(f)), 10))
		h.Write([]byte{':'})
		h.Write([]byte(f))
	}
	return "h:" + hex.EncodeToString(h.Sum(nil))
}

// Artifact kinds, the second part of an artifact key.
const (
	KindNetwork = "network"
	KindFile    = "file"
)

// ArtifactKey returns the key of an artifact record:
// "<incident id>/<kind>/<artifact type>/<identity>", where kind is KindNetwork
// or KindFile and the type may be empty (bare-string artifacts carry none).
func ArtifactKey(incidentID, kind, artifactType, identity string) string {
	return incidentID + "/" + kind + "/" + artifactType + "/" + identity
}

// NetworkArtifactKey returns a network artifact's own key. Its identity is
// the domain (lower-cased, without a trailing dot) for DOMAIN artifacts, the
// remote IP with ":port" when a port is set (IPv6 bracketed) for IP
// artifacts, and for other or missing types the first of domain, ip[:port]
// or bare value that is present. Counts and flags are not part of it. An
// artifact with none of these is keyed by a hash of its raw bytes, the only
// identity it has. Within a reply, use ReplyKeys.
func NetworkArtifactKey(incidentID string, a xdr.NetworkArtifact) string {
	typ := strings.ToUpper(strings.TrimSpace(a.Type))
	domain := strings.ToLower(strings.TrimSuffix(strings.TrimSpace(a.Domain), "."))
	ip := strings.TrimSpace(a.RemoteIP)
	if ip != "" && a.RemotePort > 0 {
		ip = net.JoinHostPort(ip, strconv.Itoa(a.RemotePort))
	}
	var identity string
	switch {
	case typ == "DOMAIN" && domain != "":
		identity = domain
	case typ == "IP" && ip != "":
		identity = ip
	case domain != "":
		identity = domain
	case ip != "":
		identity = ip
	case strings.TrimSpace(a.Value) != "":
		identity = strings.TrimSpace(a.Value)
	default:
		identity = rawHash(a.Raw)
	}
	return ArtifactKey(incidentID, KindNetwork, typ, identity)
}

// FileArtifactKey returns a file artifact's own key. Its identity is the
// SHA-256 (lower-cased), else the bare value, else the file name; an artifact
// with none of these is keyed by a hash of its raw bytes. Two artifacts of
// one file under two names share it; within a reply, use ReplyKeys.
func FileArtifactKey(incidentID string, a xdr.FileArtifact) string {
	typ := strings.ToUpper(strings.TrimSpace(a.Type))
	var identity string
	switch {
	case strings.TrimSpace(a.SHA256) != "":
		identity = strings.ToLower(strings.TrimSpace(a.SHA256))
	case strings.TrimSpace(a.Value) != "":
		identity = strings.TrimSpace(a.Value)
	case strings.TrimSpace(a.FileName) != "":
		identity = strings.TrimSpace(a.FileName)
	default:
		identity = rawHash(a.Raw)
	}
	return ArtifactKey(incidentID, KindFile, typ, identity)
}

func rawHash(raw []byte) string {
	sum := sha256.Sum256(raw)
	return "h:" + hex.EncodeToString(sum[:])
}

// Keys are the record keys of one reply's objects, index for index with the
// reply's lists: Alerts[i] keys ed.Alerts.Data[i], and so on.
type Keys struct {
	Alerts  []string
	Network []string
	File    []string
	// Collisions counts the objects whose own key an earlier, different
	// object of the reply already had, and which took a suffix.
	Collisions int
}

// CollisionSep separates an object's own key from the suffix it takes when
// an earlier, different object of its reply has that key.
const CollisionSep = "~"

// ReplyKeys returns the record keys of one reply's alerts and artifacts:
// each object's own key (AlertKey, NetworkArtifactKey, FileArtifactKey),
// except that no two different objects of the reply share a key. Alerts are
// unique among the alerts (the alerts topics), artifacts among the network
// and file artifacts together (the artifacts topic). The rule:
//
//   - The first object, in the reply's order, with a given own key keeps it:
//     the key is the one it would have alone.
//   - A later object that differs from it takes the suffix
//     CollisionSep + the first 16 hex digits of the SHA-256 of its canonical
//     JSON ("114341~" + 16 hex, "891/file/HASH/<sha>~" + 16 hex), and counts
//     in Collisions. Canonical JSON is the object re-encoded with its members
//     sorted by name, no insignificant white space, strings and numbers as
//     written (a member repeated in one object: the last one). Should that
//     key be taken too by a different object (a 64-bit clash), a further
//     CollisionSep and a counter (2, 3, ...) follow.
//   - Objects with the same canonical JSON are one object: they share its
//     key, and their records (equal values) collapse into one on compaction.
//
// So the keys are a function of the reply: a re-fetch with the same content
// gives the same keys, whatever the white space or member order inside
// objects. A suffixed key depends on the object's content and not on its
// position; the order of the reply matters only in which of the objects
// sharing an own key comes first and keeps it: when a re-fetch lists
// another of them first, that one and the former first swap between the own
// key and their suffixed keys, and the others keep theirs. A suffixed
// object whose content changes (an alert updated, an artifact's
// alert_count) gets a new key, and its record under the old key stays in a
// compacted topic beside the new one: the incident's latest enrichment
// (its records carry its modification_time) is the current set.
//
// The common reply, where own keys are unique, costs one map insertion per
// object and allocates no suffix.
func ReplyKeys(ed *xdr.ExtraData) Keys {
	id := ed.Incident.ID
	k := Keys{
		Alerts:  make([]string, len(ed.Alerts.Data)),
		Network: make([]string, len(ed.NetworkArtifacts.Data)),
		File:    make([]string, len(ed.FileArtifacts.Data)),
	}
	alerts := keySet{taken: make(map[string]json.RawMessage, len(k.Alerts))}
	for i := range ed.Alerts.Data {
		a := &ed.Alerts.Data[i]
		k.Alerts[i] = alerts.unique(AlertKey(id, *a), a.Raw)
	}
	artifacts := keySet{taken: make(map[string]json.RawMessage, len(k.Network)+len(k.File))}
	for i := range ed.NetworkArtifacts.Data {
		a := &ed.NetworkArtifacts.Data[i]
		k.Network[i] = artifacts.unique(NetworkArtifactKey(id, *a), a.Raw)
	}
	for i := range ed.FileArtifacts.Data {
		a := &ed.FileArtifacts.Data[i]
		k.File[i] = artifacts.unique(FileArtifactKey(id, *a), a.Raw)
	}
	k.Collisions = alerts.collisions + artifacts.collisions
	return k
}

// keySet hands out the keys of one topic's objects of a reply.
type keySet struct {
	taken      map[string]json.RawMessage // key → the raw bytes of the object that has it
	collisions int
}

// unique returns the key of the object raw whose own key is own (see
// ReplyKeys).
func (s *keySet) unique(own string, raw json.RawMessage) string {
	held, ok := s.taken[own]
	if !ok {
		s.taken[own] = raw
		return own
	}
	if sameObject(held, raw) {
		return own
	}
	canon := Canonical(raw)
	sum := sha256.Sum256(canon)
	suffixed := own + CollisionSep + hex.EncodeToString(sum[:8])
	key := suffixed
	for n := 2; ; n++ {
		held, ok := s.taken[key]
		if !ok {
			s.taken[key] = raw
			s.collisions++
			return key
		}
		if bytes.Equal(Canonical(held), canon) {
			return key
		}
		key = suffixed + CollisionSep + strconv.Itoa(n)
	}
}

// sameObject reports whether two objects' bytes are one object: equal bytes,
// or equal canonical JSON.
func sameObject(a, b json.RawMessage) bool {
	return bytes.Equal(a, b) || bytes.Equal(Canonical(a), Canonical(b))
}

// Canonical returns raw re-encoded with object members sorted by name and
// no insignificant white space; strings and numbers keep their values and
// spellings (json.Number), HTML characters are not escaped. Bytes that are
// not JSON are returned as they are. It is the canonical JSON of ReplyKeys:
// two objects with the same Canonical bytes are one object.
func Canonical(raw json.RawMessage) []byte {
	d := json.NewDecoder(bytes.NewReader(raw))
	d.UseNumber()
	var v any
	if d.Decode(&v) != nil {
		return raw
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if enc.Encode(v) != nil {
		return raw
	}
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}
