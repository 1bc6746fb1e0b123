package config

import (
	"errors"
	"fmt"
	"strings"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
)

// topicRole is one topic a run writes or reads: the variable that names
// it and its Config field; a data topic (data set) also carries a
// record.Topic role, whose String is its name after KAFKA_TOPIC_PREFIX and
// which names its field of DataTopics, and the output profile that writes
// it ("" for the native ones).
// topicRoles lists them all, the one place the roles are tied to their
// variables, names and fields.
type topicRole struct {
	variable string
	field    func(*Config) *string
	// A data topic: its role and its profile.
	data    bool
	role    record.Topic
	profile string
	// The name after KAFKA_TOPIC_PREFIX of a topic that is not a data topic.
	suffix string
}

var topicRoles = []topicRole{
	{variable: "KAFKA_TOPIC_INCIDENTS", field: func(c *Config) *string { return &c.TopicIncidents },
		role: record.TopicIncidents, data: true},
	{variable: "KAFKA_TOPIC_ALERTS", field: func(c *Config) *string { return &c.TopicAlerts },
		role: record.TopicAlerts, data: true},
	{variable: "KAFKA_TOPIC_ARTIFACTS", field: func(c *Config) *string { return &c.TopicArtifacts },
		role: record.TopicArtifacts, data: true},
	{variable: "KAFKA_TOPIC_DLQ", field: func(c *Config) *string { return &c.TopicDLQ },
		role: record.TopicDLQ, data: true},
	{variable: "KAFKA_TOPIC_OCSF_INCIDENTS", field: func(c *Config) *string { return &c.TopicOCSFIncidents },
		role: record.TopicOCSFIncidents, profile: "ocsf", data: true},
	{variable: "KAFKA_TOPIC_OCSF_ALERTS", field: func(c *Config) *string { return &c.TopicOCSFAlerts },
		role: record.TopicOCSFAlerts, profile: "ocsf", data: true},
	{variable: "KAFKA_TOPIC_ECS_INCIDENTS", field: func(c *Config) *string { return &c.TopicECSIncidents },
		role: record.TopicECSIncidents, profile: "ecs", data: true},
	{variable: "KAFKA_TOPIC_ECS_ALERTS", field: func(c *Config) *string { return &c.TopicECSAlerts },
		role: record.TopicECSAlerts, profile: "ecs", data: true},
	{variable: "KAFKA_TOPIC_OFFSETS", field: func(c *Config) *string { return &c.TopicOffsets }, suffix: "connector.offsets"},
	{variable: "KAFKA_TOPIC_SLOTS", field: func(c *Config) *string { return &c.TopicSlots }, suffix: "connector.slots"},
	{variable: "KAFKA_TOPIC_COMMANDS", field: func(c *Config) *string { return &c.TopicCommands }, suffix: "commands"},
	{variable: "KAFKA_TOPIC_COMMAND_RESULTS", field: func(c *Config) *string { return &c.TopicCommandResults }, suffix: "command-results"},
}

// prefixed is the role's topic name under KAFKA_TOPIC_PREFIX p.
func (r topicRole) prefixed(p string) string {
	if r.data {
		return p + "." + r.role.String()
	}
	return p + "." + r.suffix
}

// perTenant reports whether {tenant} in the role's name is replaced by each
// tenant's id: every topic but the process's offsets and slots topics.
func (r topicRole) perTenant() bool {
	return r.variable != "KAFKA_TOPIC_OFFSETS" && r.variable != "KAFKA_TOPIC_SLOTS"
}

// topicRoleOf is the role of variable.
func topicRoleOf(variable string) topicRole {
	for _, r := range topicRoles {
		if r.variable == variable {
			return r
		}
	}
	panic("config: no topic role " + variable)
}

// resolveTopic is name for the tenant with id: {tenant} becomes id. It is
// the one place {tenant} is replaced; id is empty for the one tenant of an
// env-only configuration, whose names Validate has checked hold no
// {tenant}.
func resolveTopic(name, id string) string {
	if id == "" {
		return name
	}
	return strings.ReplaceAll(name, TenantPlaceholder, id)
}

// DataTopics names the topics one tenant writes: the native ones, the DLQ,
// and those of the enabled output profiles (empty for a profile that is
// off), by record.Topic role. It is record.Topics, which the sink takes.
type DataTopics = record.Topics

// DataTopicsOf resolves the data topics of the tenant with id: {tenant} in a
// name becomes id. id is empty for the one tenant of an env-only
// configuration, whose names Validate has checked hold no {tenant}. It is the
// one place names are resolved: `run`, `check`, `status` and CheckTopics
// read it.
func (c *Config) DataTopicsOf(id string) DataTopics {
	var d DataTopics
	for _, r := range topicRoles {
		if r.data && (r.profile == "" || c.profileOn(r.profile)) {
			*d.Of(r.role) = resolveTopic(*r.field(c), id)
		}
	}
	return d
}

// CommandTopics names the write-back topics of one tenant: the commands it
// applies and the results it publishes.
type CommandTopics struct {
	Commands string
	Results  string
}

// CommandTopicsOf resolves the write-back topics of the tenant with id, as
// DataTopicsOf does the data topics.
func (c *Config) CommandTopicsOf(id string) CommandTopics {
	return CommandTopics{Commands: resolveTopic(c.TopicCommands, id), Results: resolveTopic(c.TopicCommandResults, id)}
}

// Uses lists d's topics as uses of tenant.
func (d CommandTopics) Uses(tenant string) []TopicUse {
	return []TopicUse{{Tenant: tenant, Var: "KAFKA_TOPIC_COMMANDS", Name: d.Commands},
		{Tenant: tenant, Var: "KAFKA_TOPIC_COMMAND_RESULTS", Name: d.Results}}
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

// DataTopicUses lists d's topics (the set ones) as uses of tenant: each
// with the variable that names its role.
func DataTopicUses(d DataTopics, tenant string) []TopicUse {
	var out []TopicUse
	for _, r := range topicRoles {
		if r.data && d.Name(r.role) != "" {
			out = append(out, TopicUse{Tenant: tenant, Var: r.variable, Name: d.Name(r.role)})
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
		uses = DataTopicUses(c.DataTopicsOf(""), "")
		if c.writebackPossible() {
			uses = append(uses, c.CommandTopicsOf("").Uses("")...)
		}
	}
	for _, id := range ids {
		uses = append(uses, DataTopicUses(c.DataTopicsOf(id), id)...)
		if c.writebackPossible() {
			uses = append(uses, c.CommandTopicsOf(id).Uses(id)...)
		}
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
