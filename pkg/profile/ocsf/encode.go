package ocsf

import (
	"github.com/soc-tools/xdr-kafka-connector/pkg/profile/internal/jsonw"
)

// The events write themselves as encoding/json would encode them (fields in
// declaration order, omitempty honoured, unmapped keys sorted), without its
// reflection. FuzzAppendMatchesEncodingJSON holds them to it.

func (b *base) appendJSON(w *jsonw.Writer) {
	w.IntField("activity_id", int64(b.ActivityID))
	w.Str("activity_name", b.ActivityName)
	w.IntField("category_uid", int64(b.CategoryUID))
	w.Str("category_name", b.CategoryName)
	w.IntField("class_uid", int64(b.ClassUID))
	w.Str("class_name", b.ClassName)
	w.IntField("type_uid", int64(b.TypeUID))
	w.Str("type_name", b.TypeName)
	w.IntField("time", b.Time)
	w.IntField("severity_id", int64(b.SeverityID))
	w.StrOmit("severity", b.Severity)
	w.IntField("status_id", int64(b.StatusID))
	w.StrOmit("status", b.Status)
	w.StrOmit("message", b.Message)
	w.IntOmit("start_time", b.StartTime)
	w.IntOmit("end_time", b.EndTime)
	w.Key("metadata")
	b.Metadata.appendJSON(w)
	if len(b.Observables) > 0 {
		w.OpenListKey("observables")
		for i := range b.Observables {
			o := &b.Observables[i]
			w.Open()
			w.Str("name", o.Name)
			w.IntField("type_id", int64(o.TypeID))
			w.Str("type", o.Type)
			w.Str("value", o.Value)
			w.Close()
		}
		w.CloseList()
	}
	switch {
	case b.rest != nil:
		m := w.Mark()
		w.Key("unmapped")
		if b.rest.AppendRest(w) == 0 {
			w.Back(m)
		}
	case len(b.Unmapped) > 0:
		w.Key("unmapped")
		w.RawMap(b.Unmapped)
	}
}

// AppendJSON appends the event's JSON to w.
func (f *IncidentFinding) AppendJSON(w *jsonw.Writer) {
	w.Open()
	f.base.appendJSON(w)
	w.StrsOmit("desc", f.Desc, "src_url", f.SrcURL, "comment", f.Comment)
	w.Key("finding_info_list")
	switch {
	case f.infoJSON != nil:
		w.OpenList()
		w.Value(f.infoJSON)
		w.CloseList()
	case f.FindingInfoList == nil:
		w.Value([]byte("null"))
	default:
		w.OpenList()
		for i := range f.FindingInfoList {
			f.FindingInfoList[i].appendJSON(w)
		}
		w.CloseList()
	}
	if u := f.Assignee; u != nil {
		w.Key("assignee")
		u.appendJSON(w)
	}
	if g := f.AssigneeGroup; g != nil {
		w.OpenKey("assignee_group")
		w.Str("name", g.Name)
		w.StrOmit("desc", g.Desc)
		w.Close()
	}
	w.IntOmit("priority_id", int64(f.PriorityID))
	w.StrOmit("priority", f.Priority)
	w.IntField("verdict_id", int64(f.VerdictID))
	w.StrOmit("verdict", f.Verdict)
	appendAttacks(w, f.Attacks)
	w.Close()
}

// AppendJSON appends the event's JSON to w.
func (f *DetectionFinding) AppendJSON(w *jsonw.Writer) {
	w.Open()
	f.base.appendJSON(w)
	w.Key("finding_info")
	f.FindingInfo.appendJSON(w)
	f.appendClass(w)
	w.Close()
}

// appendClass writes the class's own attributes after finding_info.
func (f *DetectionFinding) appendClass(w *jsonw.Writer) {
	w.Key("is_alert")
	w.Bool(f.IsAlert)
	w.IntField("action_id", int64(f.ActionID))
	w.StrOmit("action", f.Action)
	w.IntField("disposition_id", int64(f.DispositionID))
	w.StrOmit("disposition", f.Disposition)
	if d := f.Device; d != nil {
		w.Key("device")
		d.appendJSON(w)
	}
	if len(f.Evidences) > 0 {
		w.OpenListKey("evidences")
		for i := range f.Evidences {
			f.Evidences[i].appendJSON(w)
		}
		w.CloseList()
	}
	appendAttacks(w, f.Attacks)
}

func (md *Metadata) appendJSON(w *jsonw.Writer) {
	w.Open()
	w.Str("version", md.Version)
	w.OpenKey("product")
	w.Str("name", md.Product.Name)
	w.Str("vendor_name", md.Product.VendorName)
	w.Close()
	w.Strings("profiles", md.Profiles)
	w.StrsOmit("tenant_uid", md.TenantUID, "uid", md.UID, "log_name", md.LogName, "log_provider", md.LogProvider, "correlation_uid", md.CorrelUID)
	w.IntOmit("logged_time", md.LoggedTime)
	w.Strings("labels", md.Labels)
	w.Close()
}

func (fi *FindingInfo) appendJSON(w *jsonw.Writer) {
	w.Open()
	w.Str("uid", fi.UID)
	w.StrsOmit("uid_alt", fi.UIDAlt, "title", fi.Title, "desc", fi.Desc)
	w.IntOmit("created_time", fi.CreatedTime)
	w.IntOmit("modified_time", fi.ModifiedTime)
	w.StrOmit("src_url", fi.SrcURL)
	w.Strings("types", fi.Types)
	w.Strings("data_sources", fi.DataSources)
	appendAttacks(w, fi.Attacks)
	w.Close()
}

func appendAttacks(w *jsonw.Writer, as []Attack) {
	if len(as) == 0 {
		return
	}
	w.OpenListKey("attacks")
	for i := range as {
		a := &as[i]
		w.Open()
		appendEntity(w, "tactic", a.Tactic)
		appendEntity(w, "technique", a.Technique)
		appendEntity(w, "sub_technique", a.SubTechnique)
		w.Close()
	}
	w.CloseList()
}

func appendEntity(w *jsonw.Writer, k string, e *Entity) {
	if e == nil {
		return
	}
	w.OpenKey(k)
	w.StrOmit("uid", e.UID)
	w.StrOmit("name", e.Name)
	w.Close()
}

func (u *User) appendJSON(w *jsonw.Writer) {
	w.Open()
	w.StrsOmit("name", u.Name, "uid", u.UID, "domain", u.Domain, "email_addr", u.EmailAddr, "full_name", u.FullName)
	w.Close()
}

func (d *Device) appendJSON(w *jsonw.Writer) {
	w.Open()
	w.IntField("type_id", int64(d.TypeID))
	w.Str("type", d.Type)
	w.StrsOmit("hostname", d.Hostname, "name", d.Name, "uid", d.UID, "ip", d.IP, "mac", d.MAC, "domain", d.Domain)
	if o := d.OS; o != nil {
		w.OpenKey("os")
		w.Str("name", o.Name)
		w.IntField("type_id", int64(o.TypeID))
		w.StrOmit("type", o.Type)
		w.StrOmit("version", o.Version)
		w.Close()
	}
	w.Close()
}

func (ev *Evidence) appendJSON(w *jsonw.Writer) {
	w.Open()
	if p := ev.Process; p != nil {
		w.Key("process")
		p.appendJSON(w)
	}
	if f := ev.File; f != nil {
		w.Key("file")
		f.appendJSON(w)
	}
	appendEndpoint(w, "src_endpoint", ev.SrcEndpoint)
	appendEndpoint(w, "dst_endpoint", ev.DstEndpoint)
	if q := ev.Query; q != nil {
		w.OpenKey("query")
		w.Str("hostname", q.Hostname)
		w.Close()
	}
	if u := ev.User; u != nil {
		w.Key("user")
		u.appendJSON(w)
	}
	w.Close()
}

func (p *Process) appendJSON(w *jsonw.Writer) {
	w.Open()
	w.IntOmit("pid", p.PID)
	w.StrsOmit("uid", p.UID, "name", p.Name, "cmd_line", p.CmdLine)
	if f := p.File; f != nil {
		w.Key("file")
		f.appendJSON(w)
	}
	if pp := p.ParentProcess; pp != nil {
		w.Key("parent_process")
		pp.appendJSON(w)
	}
	w.Close()
}

func (f *File) appendJSON(w *jsonw.Writer) {
	w.Open()
	w.Str("name", f.Name)
	w.StrOmit("path", f.Path)
	w.IntField("type_id", int64(f.TypeID))
	w.StrOmit("type", f.Type)
	if len(f.Hashes) > 0 {
		w.OpenListKey("hashes")
		for _, h := range f.Hashes {
			w.Open()
			w.IntField("algorithm_id", int64(h.AlgorithmID))
			w.Str("algorithm", h.Algorithm)
			w.Str("value", h.Value)
			w.Close()
		}
		w.CloseList()
	}
	w.Close()
}

func appendEndpoint(w *jsonw.Writer, k string, e *NetworkEndpoint) {
	if e == nil {
		return
	}
	w.OpenKey(k)
	w.StrOmit("ip", e.IP)
	w.IntOmit("port", int64(e.Port))
	w.StrOmit("hostname", e.Hostname)
	w.StrOmit("domain", e.Domain)
	w.Close()
}
