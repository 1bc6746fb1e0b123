package ocsf

import (
	"encoding/json"

	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/xdrview"
)

// The OCSF objects the mappings fill, with the attribute names of the schema
// (schemas/ocsf/ holds the JSON Schema they validate against). Every field
// the mappings may leave empty is omitted when empty.

// base holds the base-event attributes both classes share.
type base struct {
	ActivityID   int    `json:"activity_id"`
	ActivityName string `json:"activity_name"`
	CategoryUID  int    `json:"category_uid"`
	CategoryName string `json:"category_name"`
	ClassUID     int    `json:"class_uid"`
	ClassName    string `json:"class_name"`
	TypeUID      int    `json:"type_uid"`
	TypeName     string `json:"type_name"`
	Time         int64  `json:"time"` // epoch ms
	SeverityID   int    `json:"severity_id"`
	Severity     string `json:"severity,omitempty"`
	StatusID     int    `json:"status_id"`
	Status       string `json:"status,omitempty"`
	Message      string `json:"message,omitempty"`
	StartTime    int64  `json:"start_time,omitempty"`
	EndTime      int64  `json:"end_time,omitempty"`

	Metadata    Metadata                   `json:"metadata"`
	Observables []Observable               `json:"observables,omitempty"`
	Unmapped    map[string]json.RawMessage `json:"unmapped,omitempty"`

	rest *xdrview.View // when set, unmapped is its Rest, written by AppendJSON
}

// IncidentFinding is an OCSF Incident Finding (class_uid 2005).
type IncidentFinding struct {
	base
	Desc            string        `json:"desc,omitempty"`
	SrcURL          string        `json:"src_url,omitempty"`
	Comment         string        `json:"comment,omitempty"`
	FindingInfoList []FindingInfo `json:"finding_info_list"`
	Assignee        *User         `json:"assignee,omitempty"`
	AssigneeGroup   *Group        `json:"assignee_group,omitempty"`
	PriorityID      int           `json:"priority_id,omitempty"`
	Priority        string        `json:"priority,omitempty"`
	VerdictID       int           `json:"verdict_id"`
	Verdict         string        `json:"verdict,omitempty"`
	Attacks         []Attack      `json:"attacks,omitempty"`

	infoJSON []byte // when set, finding_info_list is these finding objects, comma-separated
}

// DetectionFinding is an OCSF Detection Finding (class_uid 2004) with the
// security_control profile (action, disposition, attacks).
type DetectionFinding struct {
	base
	FindingInfo   FindingInfo `json:"finding_info"`
	IsAlert       bool        `json:"is_alert"`
	ActionID      int         `json:"action_id"`
	Action        string      `json:"action,omitempty"`
	DispositionID int         `json:"disposition_id"`
	Disposition   string      `json:"disposition,omitempty"`
	Device        *Device     `json:"device,omitempty"`
	Evidences     []Evidence  `json:"evidences,omitempty"`
	Attacks       []Attack    `json:"attacks,omitempty"`
}

// Metadata is the event's metadata object.
type Metadata struct {
	Version     string   `json:"version"`
	Product     Product  `json:"product"`
	Profiles    []string `json:"profiles,omitempty"`
	TenantUID   string   `json:"tenant_uid,omitempty"`
	UID         string   `json:"uid,omitempty"`
	LogName     string   `json:"log_name,omitempty"`
	LogProvider string   `json:"log_provider,omitempty"`
	CorrelUID   string   `json:"correlation_uid,omitempty"`
	LoggedTime  int64    `json:"logged_time,omitempty"`
	Labels      []string `json:"labels,omitempty"`
}

// Product names the product that reported the event.
type Product struct {
	Name       string `json:"name"`
	VendorName string `json:"vendor_name"`
}

// FindingInfo describes one finding: an alert, or the incident itself.
type FindingInfo struct {
	UID          string   `json:"uid"`
	UIDAlt       string   `json:"uid_alt,omitempty"`
	Title        string   `json:"title,omitempty"`
	Desc         string   `json:"desc,omitempty"`
	CreatedTime  int64    `json:"created_time,omitempty"`
	ModifiedTime int64    `json:"modified_time,omitempty"`
	SrcURL       string   `json:"src_url,omitempty"`
	Types        []string `json:"types,omitempty"`
	DataSources  []string `json:"data_sources,omitempty"`
	Attacks      []Attack `json:"attacks,omitempty"`
}

// Attack is one MITRE ATT&CK tactic, technique or sub-technique.
type Attack struct {
	Tactic       *Entity `json:"tactic,omitempty"`
	Technique    *Entity `json:"technique,omitempty"`
	SubTechnique *Entity `json:"sub_technique,omitempty"`
}

// Entity is a named thing with an id (tactic, technique, sub-technique).
type Entity struct {
	UID  string `json:"uid,omitempty"`
	Name string `json:"name,omitempty"`
}

// Observable is one value worth pivoting on.
type Observable struct {
	Name   string `json:"name"`
	TypeID int    `json:"type_id"`
	Type   string `json:"type"`
	Value  string `json:"value"`
}

// User is a user or an account.
type User struct {
	Name      string `json:"name,omitempty"`
	UID       string `json:"uid,omitempty"`
	Domain    string `json:"domain,omitempty"`
	EmailAddr string `json:"email_addr,omitempty"`
	FullName  string `json:"full_name,omitempty"`
}

// Group is a group of users.
type Group struct {
	Name string `json:"name"`
	Desc string `json:"desc,omitempty"`
}

// Device is the host an alert was raised on.
type Device struct {
	TypeID   int    `json:"type_id"`
	Type     string `json:"type"`
	Hostname string `json:"hostname,omitempty"`
	Name     string `json:"name,omitempty"`
	UID      string `json:"uid,omitempty"`
	IP       string `json:"ip,omitempty"`
	MAC      string `json:"mac,omitempty"`
	Domain   string `json:"domain,omitempty"`
	OS       *OS    `json:"os,omitempty"`
}

// OS is a device's operating system.
type OS struct {
	Name    string `json:"name"`
	TypeID  int    `json:"type_id"`
	Type    string `json:"type,omitempty"`
	Version string `json:"version,omitempty"`
}

// Evidence is what an alert's detection rests on.
type Evidence struct {
	Process     *Process         `json:"process,omitempty"`
	File        *File            `json:"file,omitempty"`
	SrcEndpoint *NetworkEndpoint `json:"src_endpoint,omitempty"`
	DstEndpoint *NetworkEndpoint `json:"dst_endpoint,omitempty"`
	Query       *DNSQuery        `json:"query,omitempty"`
	User        *User            `json:"user,omitempty"`
}

// Process is a process, with its image file and parent.
type Process struct {
	PID           int64    `json:"pid,omitempty"`
	UID           string   `json:"uid,omitempty"`
	Name          string   `json:"name,omitempty"`
	CmdLine       string   `json:"cmd_line,omitempty"`
	File          *File    `json:"file,omitempty"`
	ParentProcess *Process `json:"parent_process,omitempty"`
}

// File is a file, with its hashes.
type File struct {
	Name   string        `json:"name"`
	Path   string        `json:"path,omitempty"`
	TypeID int           `json:"type_id"`
	Type   string        `json:"type,omitempty"`
	Hashes []Fingerprint `json:"hashes,omitempty"`
}

// Fingerprint is one hash of a file.
type Fingerprint struct {
	AlgorithmID int    `json:"algorithm_id"`
	Algorithm   string `json:"algorithm"`
	Value       string `json:"value"`
}

// NetworkEndpoint is one end of a connection.
type NetworkEndpoint struct {
	IP       string `json:"ip,omitempty"`
	Port     int    `json:"port,omitempty"`
	Hostname string `json:"hostname,omitempty"`
	Domain   string `json:"domain,omitempty"`
}

// DNSQuery is a DNS question.
type DNSQuery struct {
	Hostname string `json:"hostname"`
}
