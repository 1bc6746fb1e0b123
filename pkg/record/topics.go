package record

// topicRoles is each Topic's name — as the DLQ record of an oversized
// record names it, and as its Kafka topic is named after a prefix — and its
// field of Topics: the one table of the roles.
var topicRoles = [...]struct {
	name  string
	field func(*Topics) *string
}{
	TopicIncidents:     {"incidents", func(ts *Topics) *string { return &ts.Incidents }},
	TopicAlerts:        {"alerts", func(ts *Topics) *string { return &ts.Alerts }},
	TopicArtifacts:     {"artifacts", func(ts *Topics) *string { return &ts.Artifacts }},
	TopicDLQ:           {"dlq", func(ts *Topics) *string { return &ts.DLQ }},
	TopicOCSFIncidents: {"ocsf.incidents", func(ts *Topics) *string { return &ts.OCSFIncidents }},
	TopicOCSFAlerts:    {"ocsf.alerts", func(ts *Topics) *string { return &ts.OCSFAlerts }},
	TopicECSIncidents:  {"ecs.incidents", func(ts *Topics) *string { return &ts.ECSIncidents }},
	TopicECSAlerts:     {"ecs.alerts", func(ts *Topics) *string { return &ts.ECSAlerts }},
}

// String names a topic role as the DLQ record of an oversized record does.
func (t Topic) String() string {
	if int(t) < len(topicRoles) {
		return topicRoles[t].name
	}
	return "unknown"
}

// AllTopics lists every role, in order.
func AllTopics() []Topic {
	out := make([]Topic, len(topicRoles))
	for i := range out {
		out[i] = Topic(i)
	}
	return out
}

// Topics maps each role to a Kafka topic name: the sink writes a record of
// role t to Name(t), and the configuration resolves a tenant's Topics. The
// output profiles' are empty for a profile that is off.
type Topics struct {
	Incidents string
	Alerts    string
	Artifacts string
	DLQ       string

	// The output profiles' topics; empty for a profile that is off.
	OCSFIncidents string
	OCSFAlerts    string
	ECSIncidents  string
	ECSAlerts     string
}

// Of is role t's field of ts; nil for a role that is none of Topic's.
func (ts *Topics) Of(t Topic) *string {
	if int(t) < len(topicRoles) {
		return topicRoles[t].field(ts)
	}
	return nil
}

// Name returns the Kafka topic of t ("" for an unknown role). It runs for
// every record the sink writes, so it reads the field without Of, whose
// pointer into ts would move ts to the heap on each call.
func (ts Topics) Name(t Topic) string {
	switch t {
	case TopicIncidents:
		return ts.Incidents
	case TopicAlerts:
		return ts.Alerts
	case TopicArtifacts:
		return ts.Artifacts
	case TopicDLQ:
		return ts.DLQ
	case TopicOCSFIncidents:
		return ts.OCSFIncidents
	case TopicOCSFAlerts:
		return ts.OCSFAlerts
	case TopicECSIncidents:
		return ts.ECSIncidents
	case TopicECSAlerts:
		return ts.ECSAlerts
	}
	return ""
}

// All lists the topic names in a fixed order, the output profiles' only
// when set.
func (ts Topics) All() []string {
	all := []string{ts.Incidents, ts.Alerts, ts.Artifacts, ts.DLQ}
	for _, t := range []string{ts.OCSFIncidents, ts.OCSFAlerts, ts.ECSIncidents, ts.ECSAlerts} {
		if t != "" {
			all = append(all, t)
		}
	}
	return all
}
