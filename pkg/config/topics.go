package config

import (
	"errors"
	"fmt"
	"strings"
)

// DataTopics names the topics one tenant writes: the native ones, the DLQ,
// and those of the enabled output profiles (empty for a profile that is
// off). Its fields are those of sink.Topics, in the same order, so the
// wiring converts one into the other.
type DataTopics struct {
	Incidents string
	Alerts    string
	Artifacts string
	DLQ       string

	OCSFIncidents string
	OCSFAlerts    string
	ECSIncidents  string
	ECSAlerts     string
}

// DataTopicsOf resolves the data topics of the tenant with id: {tenant} in a
// name becomes id. id is empty for the one tenant of an env-only
// configuration, whose names Validate has checked hold no {tenant}. It is the
// one place names are resolved: `run`, `check`, `status` and CheckTopics
// read it.
func (c *Config) DataTopicsOf(id string) DataTopics {
	topic := func(name string) string {
		if id == "" {
			return name
		}
		return strings.ReplaceAll(name, TenantPlaceholder, id)
	}
	d := DataTopics{Incidents: topic(c.TopicIncidents), Alerts: topic(c.TopicAlerts),
		Artifacts: topic(c.TopicArtifacts), DLQ: topic(c.TopicDLQ)}
	if c.profileOn("ocsf") {
		d.OCSFIncidents, d.OCSFAlerts = topic(c.TopicOCSFIncidents), topic(c.TopicOCSFAlerts)
	}
	if c.profileOn("ecs") {
		d.ECSIncidents, d.ECSAlerts = topic(c.TopicECSIncidents), topic(c.TopicECSAlerts)
	}
	return d
}

// profileOn reports whether OUTPUT_PROFILES names profile.
func (c *Config) profileOn(profile string) bool {
	for _, p := range c.OutputProfiles {
		if strings.EqualFold(strings.TrimSpace(p), profile) {
			return true
		}
	}
	return false
}

// Uses lists d's topics (the set ones) as uses of tenant: each with the
// variable that names its role.
func (d DataTopics) Uses(tenant string) []TopicUse {
	var out []TopicUse
	for _, u := range []TopicUse{
		{Var: "KAFKA_TOPIC_INCIDENTS", Name: d.Incidents}, {Var: "KAFKA_TOPIC_ALERTS", Name: d.Alerts},
		{Var: "KAFKA_TOPIC_ARTIFACTS", Name: d.Artifacts}, {Var: "KAFKA_TOPIC_DLQ", Name: d.DLQ},
		{Var: "KAFKA_TOPIC_OCSF_INCIDENTS", Name: d.OCSFIncidents}, {Var: "KAFKA_TOPIC_OCSF_ALERTS", Name: d.OCSFAlerts},
		{Var: "KAFKA_TOPIC_ECS_INCIDENTS", Name: d.ECSIncidents}, {Var: "KAFKA_TOPIC_ECS_ALERTS", Name: d.ECSAlerts},
	} {
		if u.Name != "" {
			u.Tenant = tenant
			out = append(out, u)
		}
	}
	return out
}

// processTopics are the topics of the process rather than of a tenant: the
// offsets topic (every tenant's state, keyed by connector and tenant) and,
// with KAFKA_GROUP_ENABLED, the slots topic.
func (c *Config) processTopics() []TopicUse {
	out := []TopicUse{{Var: "KAFKA_TOPIC_OFFSETS", Name: c.TopicOffsets}}
	if c.GroupEnabled {
		out = append(out, TopicUse{Var: "KAFKA_TOPIC_SLOTS", Name: c.TopicSlots})
	}
	return out
}

// TopicUse is one topic of a run: its resolved name and the role it plays,
// named by the variable that sets it, for one tenant.
type TopicUse struct {
	Tenant string // the tenant's id; "" for the process's topics and the one tenant of an env-only configuration
	Var    string // the role: KAFKA_TOPIC_INCIDENTS, KAFKA_TOPIC_OFFSETS, ...
	Name   string // the topic's name, {tenant} replaced
}

func (u TopicUse) String() string {
	if u.Tenant == "" {
		return fmt.Sprintf("%s (%s)", u.Var, u.Name)
	}
	return fmt.Sprintf("tenant %s's %s (%s)", u.Tenant, u.Var, u.Name)
}

// FoldTopic is the form under which Kafka compares topic names for
// collisions: it refuses to create a topic whose name differs from an
// existing one only by '.' where the other has '_' (its metrics names
// cannot tell them apart).
func FoldTopic(name string) string { return strings.ReplaceAll(name, ".", "_") }

// TopicCollisions returns the pairs of uses whose records would mix in one
// Kafka topic against the design, one pair per colliding name, in the order
// of uses. The rule:
//
// Two uses collide when their names are equal under FoldTopic (Kafka's
// rule: '.' and '_' are one character for collisions), unless they play the
// same role (Var) under the very same name. Sharing a role's topic is by
// design: a data topic without {tenant} is written by every tenant of a
// tenants file, each record keyed "<tenant>/..." with an xdr.tenant header,
// and the process's offsets and slots topics are one per process. Anything
// else that lands on one folded name mixes what must stay apart: two roles
// (incidents and alerts, a native and an OCSF topic, a data topic and the
// compacted offsets topic), or one tenant's {tenant} topic and another's,
// which operators isolate with ACLs. With a {tenant} name, two tenants can
// never resolve a role to the very same name (replacing {tenant} is
// injective), so the exception covers exactly the topics without
// {tenant}. Uses with an empty name are ignored.
//
// It is a pure function of uses; CheckTopics gathers them from a
// configuration.
func TopicCollisions(uses []TopicUse) [][2]TopicUse {
	first := map[string]TopicUse{}
	reported := map[string]bool{}
	var out [][2]TopicUse
	for _, u := range uses {
		if u.Name == "" {
			continue
		}
		k := FoldTopic(u.Name)
		f, seen := first[k]
		switch {
		case !seen:
			first[k] = u
		case f.Var == u.Var && f.Name == u.Name:
			// The same role's shared topic. Every use of a folded
			// name equals the first one, or some pair collides with
			// it: comparing with the first finds every collision.
		case !reported[k]:
			reported[k] = true
			out = append(out, [2]TopicUse{f, u})
		}
	}
	return out
}

// CheckTopics resolves every topic of a run — the data topics of each
// tenant in ids (those of a tenants file, disabled ones too, so enabling one
// never collides), or of the one tenant of an env-only configuration when
// ids is nil, and the process's offsets and slots topics — and returns one
// *FieldError per collision (see TopicCollisions), naming both uses: their
// tenants, roles and topic names. variable names the error: TENANTS_FILE
// for a file, else the second use's variable.
func (c *Config) CheckTopics(ids []string) error { return errors.Join(c.topicErrors(ids)...) }

// topicErrors is CheckTopics as a list.
func (c *Config) topicErrors(ids []string) []error {
	var uses []TopicUse
	if ids == nil {
		uses = c.DataTopicsOf("").Uses("")
	}
	for _, id := range ids {
		uses = append(uses, c.DataTopicsOf(id).Uses(id)...)
	}
	uses = append(uses, c.processTopics()...)
	var errs []error
	for _, p := range TopicCollisions(uses) {
		a, b := p[0], p[1]
		how := "both name that topic"
		if a.Name != b.Name {
			how = "collide in Kafka, which takes '.' and '_' in topic names for one character"
		}
		v := b.Var
		if ids != nil {
			v = "TENANTS_FILE"
		}
		errs = append(errs, &FieldError{Var: v, Reason: fmt.Sprintf("topics collide: %s and %s %s, so their records would mix; give one of them another topic name (or, for a tenant, another id)", a, b, how)})
	}
	return errs
}
