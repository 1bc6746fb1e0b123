package config

import (
	"reflect"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/sink"
)

// TestTopicRolesAreOneTable: every record.Topic role has one entry of
// topicRoles; its DataTopics field is the sink.Topics field the sink writes
// the role to, its variable is a documented one, and its name after a
// prefix is the role's name. A role added to record without a row here, or
// a DataTopics field that drifts from sink.Topics, fails.
func TestTopicRolesAreOneTable(t *testing.T) {
	c := &Config{OutputProfiles: []string{"native", "ocsf", "ecs"}}
	roles := map[record.Topic]bool{}
	documented := map[string]bool{}
	for _, v := range Vars() {
		documented[v.Name] = true
	}
	for i, r := range topicRoles {
		if !documented[r.variable] {
			t.Errorf("%s is not a documented variable", r.variable)
		}
		*r.field(c) = "topic-" + r.variable
		if !r.data {
			continue
		}
		if roles[r.role] {
			t.Errorf("role %s twice", r.role)
		}
		roles[r.role] = true
		if got := r.prefixed("acme"); got != "acme."+r.role.String() {
			t.Errorf("row %d: prefixed %q", i, got)
		}
	}
	d := c.DataTopicsOf("")
	for role := record.TopicIncidents; role.String() != "unknown"; role++ {
		if !roles[role] {
			t.Errorf("record role %s has no row in topicRoles", role)
			continue
		}
		var r topicRole
		for _, x := range topicRoles {
			if x.data && x.role == role {
				r = x
			}
		}
		if got := sink.Topics(d).Name(role); got != "topic-"+r.variable {
			t.Errorf("role %s: the sink writes it to %q, the configuration names %q", role, got, "topic-"+r.variable)
		}
	}
	if n := reflect.TypeFor[DataTopics]().NumField(); n != len(roles) {
		t.Errorf("DataTopics has %d fields for %d roles", n, len(roles))
	}
}
