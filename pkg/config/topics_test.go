package config

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

func TestTopicCollisions(t *testing.T) {
	use := func(tenant, v, name string) TopicUse { return TopicUse{Tenant: tenant, Var: v, Name: name} }
	const inc, ocsf, dlq, offsets = "KAFKA_TOPIC_INCIDENTS", "KAFKA_TOPIC_OCSF_INCIDENTS", "KAFKA_TOPIC_DLQ", "KAFKA_TOPIC_OFFSETS"
	for _, tc := range []struct {
		name string
		uses []TopicUse
		want []string // each collision as "<first> / <second>"
	}{
		{"distinct", []TopicUse{use("a", inc, "x.a.incidents"), use("b", inc, "x.b.incidents"), use("", offsets, "x.offsets")}, nil},
		{"one role's shared topic", []TopicUse{use("a", inc, "xdr.incidents"), use("b", inc, "xdr.incidents"), use("c", inc, "xdr.incidents")}, nil},
		{"another tenant's other role", []TopicUse{use("t1", ocsf, "soc.t1.ocsf.incidents"), use("t1.ocsf", inc, "soc.t1.ocsf.incidents")},
			[]string{"tenant t1's KAFKA_TOPIC_OCSF_INCIDENTS (soc.t1.ocsf.incidents) / tenant t1.ocsf's KAFKA_TOPIC_INCIDENTS (soc.t1.ocsf.incidents)"}},
		{"dot and underscore", []TopicUse{use("a.b", inc, "x.a.b.incidents"), use("a_b", inc, "x.a_b.incidents")},
			[]string{"tenant a.b's KAFKA_TOPIC_INCIDENTS (x.a.b.incidents) / tenant a_b's KAFKA_TOPIC_INCIDENTS (x.a_b.incidents)"}},
		{"two roles of one tenant", []TopicUse{use("", inc, "xdr.all"), use("", dlq, "xdr.all")},
			[]string{"KAFKA_TOPIC_INCIDENTS (xdr.all) / KAFKA_TOPIC_DLQ (xdr.all)"}},
		{"data topic on the offsets topic", []TopicUse{use("a", dlq, "xdr_connector.offsets"), use("", offsets, "xdr.connector.offsets")},
			[]string{"tenant a's KAFKA_TOPIC_DLQ (xdr_connector.offsets) / KAFKA_TOPIC_OFFSETS (xdr.connector.offsets)"}},
		{"a shared topic and a tenant's", []TopicUse{use("a", inc, "xdr.incidents"), use("b", inc, "xdr.incidents"), use("xdr", dlq, "xdr.incidents")},
			[]string{"tenant a's KAFKA_TOPIC_INCIDENTS (xdr.incidents) / tenant xdr's KAFKA_TOPIC_DLQ (xdr.incidents)"}},
		{"one report per name", []TopicUse{use("a", inc, "n"), use("b", dlq, "n"), use("c", ocsf, "n"), use("d", inc, "m.m"), use("e", dlq, "m_m")},
			[]string{"tenant a's KAFKA_TOPIC_INCIDENTS (n) / tenant b's KAFKA_TOPIC_DLQ (n)", "tenant d's KAFKA_TOPIC_INCIDENTS (m.m) / tenant e's KAFKA_TOPIC_DLQ (m_m)"}},
		{"empty names ignored", []TopicUse{use("a", "KAFKA_TOPIC_ECS_ALERTS", ""), use("b", inc, "")}, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range TopicCollisions(tc.uses) {
				got = append(got, p[0].String()+" / "+p[1].String())
			}
			if strings.Join(got, "\n") != strings.Join(tc.want, "\n") {
				t.Errorf("collisions:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(tc.want, "\n"))
			}
		})
	}
}

// TestTopicCollisionsProperty checks TopicCollisions against the rule
// stated pair by pair, over random configurations built from the pieces
// that collide: ids and names with '.' and '_', {tenant} or not, profiles on
// and off, roles sharing a name.
func TestTopicCollisionsProperty(t *testing.T) {
	r := rand.New(rand.NewPCG(21, 4))
	idParts := []string{"a", "b", "t1", "ocsf", "incidents"}
	seps := []string{".", "_", "-"}
	randID := func() string {
		id := idParts[r.IntN(len(idParts))]
		for r.IntN(2) == 0 {
			id += seps[r.IntN(len(seps))] + idParts[r.IntN(len(idParts))]
		}
		return id
	}
	templates := []string{"soc.{tenant}.incidents", "soc.{tenant}.ocsf.incidents", "soc.{tenant}_incidents", "soc.t1.ocsf.incidents",
		"soc.a.incidents", "soc_a.incidents", "xdr.incidents", "xdr.dlq", "xdr_dlq", "{tenant}", "x.{tenant}.{tenant}"}
	collided := 0
	for range 3000 {
		c := &Config{TopicIncidents: pickOf(r, templates), TopicAlerts: pickOf(r, templates), TopicArtifacts: pickOf(r, templates),
			TopicDLQ: pickOf(r, templates), TopicOCSFIncidents: pickOf(r, templates), TopicOCSFAlerts: pickOf(r, templates),
			TopicECSIncidents: pickOf(r, templates), TopicECSAlerts: pickOf(r, templates),
			TopicOffsets: pickOf(r, []string{"xdr.connector.offsets", "xdr.dlq", "soc.a.incidents"}), TopicSlots: "xdr.connector.slots",
			OutputProfiles: pickOf(r, [][]string{{"native"}, {"native", "ocsf"}, {"ocsf", "ecs"}})}
		seen := map[string]bool{}
		var ids []string
		for range 1 + r.IntN(4) {
			if id := randID(); !seen[id] {
				seen[id] = true
				ids = append(ids, id)
			}
		}
		var uses []TopicUse
		for _, id := range ids {
			uses = append(uses, DataTopicUses(c.DataTopicsOf(id), id)...)
		}
		uses = append(uses, c.processTopics()...)

		// The rule, pair by pair: a folded name shared by two uses is a
		// collision unless both are the same role under the same name.
		var want []string
		for i, a := range uses {
			for _, b := range uses[i+1:] {
				if FoldTopic(a.Name) == FoldTopic(b.Name) && !(a.Var == b.Var && a.Name == b.Name) {
					want = append(want, FoldTopic(a.Name))
				}
			}
		}
		got := TopicCollisions(uses)
		wantNames := map[string]bool{}
		for _, n := range want {
			wantNames[n] = true
		}
		gotNames := map[string]bool{}
		for _, p := range got {
			a, b := p[0], p[1]
			if FoldTopic(a.Name) != FoldTopic(b.Name) || a.Var == b.Var && a.Name == b.Name {
				t.Fatalf("reported %v / %v, which do not collide", a, b)
			}
			if gotNames[FoldTopic(a.Name)] {
				t.Fatalf("%s reported twice", FoldTopic(a.Name))
			}
			gotNames[FoldTopic(a.Name)] = true
		}
		if fmt.Sprint(gotNames) != fmt.Sprint(wantNames) {
			t.Fatalf("ids %v, config %+v: collisions on %v, want %v", ids, c, gotNames, wantNames)
		}
		// Two tenants' {tenant} names of one role never coincide: the
		// exception for a shared topic covers names without {tenant}.
		for i, a := range uses {
			for _, b := range uses[i+1:] {
				if a.Var == b.Var && a.Name == b.Name && a.Tenant != b.Tenant && strings.Contains(varTemplate(c, a.Var), TenantPlaceholder) {
					t.Fatalf("tenants %s and %s share %s through {tenant}", a.Tenant, b.Tenant, a.Name)
				}
			}
		}
		if len(got) > 0 {
			collided++
		}
	}
	if collided == 0 || collided == 3000 {
		t.Fatalf("%d of 3000 configurations collided: the generator does not exercise both outcomes", collided)
	}
}

func pickOf[T any](r *rand.Rand, xs []T) T { return xs[r.IntN(len(xs))] }

// varTemplate is the configured name of the data topic variable v.
func varTemplate(c *Config, v string) string {
	return map[string]string{"KAFKA_TOPIC_INCIDENTS": c.TopicIncidents, "KAFKA_TOPIC_ALERTS": c.TopicAlerts,
		"KAFKA_TOPIC_ARTIFACTS": c.TopicArtifacts, "KAFKA_TOPIC_DLQ": c.TopicDLQ,
		"KAFKA_TOPIC_OCSF_INCIDENTS": c.TopicOCSFIncidents, "KAFKA_TOPIC_OCSF_ALERTS": c.TopicOCSFAlerts,
		"KAFKA_TOPIC_ECS_INCIDENTS": c.TopicECSIncidents, "KAFKA_TOPIC_ECS_ALERTS": c.TopicECSAlerts}[v]
}

// TestTenantsFileWithCollidingTopicsIsRefused: the tenants of the file
// whose topics collide are refused as a whole — at start, at a reload and in
// check, which all read the file through ParseTenants — naming both
// tenants, roles and topics; the defaults and a prefix without {tenant}
// collide with nothing.
func TestTenantsFileWithCollidingTopicsIsRefused(t *testing.T) {
	load := func(env map[string]string) *Config {
		t.Helper()
		env["TENANTS_FILE"] = "x"
		c, err := Load(context.Background(), envconfig.MapLookuper(env))
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	file := func(ids ...string) []byte {
		var b strings.Builder
		b.WriteString("tenants:\n")
		for _, id := range ids {
			fmt.Fprintf(&b, "  - {id: %s, base_url: https://api-%s.example.com, api_key_id: 1, api_key: k}\n", id, strings.ReplaceAll(id, "_", "-"))
		}
		return []byte(b.String())
	}
	perTenant := load(map[string]string{"KAFKA_TOPIC_PREFIX": "soc.{tenant}", "KAFKA_TOPIC_OFFSETS": "soc.offsets", "OUTPUT_PROFILES": "native,ocsf"})

	_, err := ParseTenants(file("t1", "acme", "t1.ocsf"), perTenant)
	want := "TENANTS_FILE: topics collide: tenant t1's KAFKA_TOPIC_OCSF_INCIDENTS (soc.t1.ocsf.incidents) and tenant t1.ocsf's KAFKA_TOPIC_INCIDENTS (soc.t1.ocsf.incidents) both name that topic"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("t1 and t1.ocsf: err = %v\nwant it to contain %q", err, want)
	}
	_, err = ParseTenants(file("a.b", "a_b"), perTenant)
	want = "tenant a.b's KAFKA_TOPIC_INCIDENTS (soc.a.b.incidents) and tenant a_b's KAFKA_TOPIC_INCIDENTS (soc.a_b.incidents) collide in Kafka"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("a.b and a_b: err = %v\nwant it to contain %q", err, want)
	}
	// A disabled tenant counts: enabling it later must not collide.
	if _, err := ParseTenants(append(file("t1"), []byte("  - {id: t1.ocsf, base_url: https://api-x.example.com, api_key_id: 1, api_key: k, disabled: true}\n")...), perTenant); err == nil {
		t.Error("a disabled tenant's colliding topics were accepted")
	}
	// Without ocsf, t1 and t1.ocsf keep apart.
	nativeOnly := load(map[string]string{"KAFKA_TOPIC_PREFIX": "soc.{tenant}", "KAFKA_TOPIC_OFFSETS": "soc.offsets"})
	if _, err := ParseTenants(file("t1", "t1.ocsf"), nativeOnly); err != nil {
		t.Errorf("native only: %v", err)
	}
	// Shared topics (no {tenant}) are shared by design.
	for _, env := range []map[string]string{{}, {"KAFKA_TOPIC_PREFIX": "soc", "OUTPUT_PROFILES": "native,ocsf,ecs", "KAFKA_GROUP_ENABLED": "true"}} {
		if _, err := ParseTenants(file("a.b", "a_b", "t1", "t1.ocsf"), load(env)); err != nil {
			t.Errorf("%v: %v", env, err)
		}
	}
	// A tenant's topic on a shared one of another role.
	mixed := load(map[string]string{"KAFKA_TOPIC_INCIDENTS": "xdr.{tenant}.incidents", "KAFKA_TOPIC_DLQ": "xdr.acme.incidents"})
	_, err = ParseTenants(file("globex", "acme"), mixed)
	want = "tenant globex's KAFKA_TOPIC_DLQ (xdr.acme.incidents) and tenant acme's KAFKA_TOPIC_INCIDENTS (xdr.acme.incidents)"
	if err == nil || !strings.Contains(err.Error(), want) {
		t.Errorf("acme's incidents on the shared DLQ: err = %v\nwant it to contain %q", err, want)
	}
}

// TestEnvTopicsCollide: an env-only configuration's roles must not share a
// topic either, nor with the offsets or slots topic, Kafka's '.'/'_' rule
// included; the defaults and a prefix never collide.
func TestEnvTopicsCollide(t *testing.T) {
	for _, tc := range []struct {
		env  map[string]string
		want string // "" = valid
	}{
		{map[string]string{}, ""},
		{map[string]string{"KAFKA_TOPIC_PREFIX": "soc.eu", "OUTPUT_PROFILES": "native,ocsf,ecs", "KAFKA_GROUP_ENABLED": "true"}, ""},
		{map[string]string{"KAFKA_TOPIC_ALERTS": "xdr.incidents"},
			"KAFKA_TOPIC_ALERTS: topics collide: KAFKA_TOPIC_INCIDENTS (xdr.incidents) and KAFKA_TOPIC_ALERTS (xdr.incidents) both name that topic"},
		{map[string]string{"KAFKA_TOPIC_DLQ": "xdr_connector.offsets"},
			"KAFKA_TOPIC_OFFSETS: topics collide: KAFKA_TOPIC_DLQ (xdr_connector.offsets) and KAFKA_TOPIC_OFFSETS (xdr.connector.offsets) collide in Kafka"},
		{map[string]string{"OUTPUT_PROFILES": "native,ocsf", "KAFKA_TOPIC_OCSF_ALERTS": "xdr.alerts"},
			"KAFKA_TOPIC_OCSF_ALERTS: topics collide: KAFKA_TOPIC_ALERTS (xdr.alerts) and KAFKA_TOPIC_OCSF_ALERTS (xdr.alerts)"},
		{map[string]string{"KAFKA_TOPIC_OCSF_ALERTS": "xdr.alerts"}, ""}, // ocsf is off: the topic is not used
		{map[string]string{"KAFKA_GROUP_ENABLED": "true", "KAFKA_TOPIC_SLOTS": "xdr.connector.offsets"},
			"KAFKA_TOPIC_SLOTS: topics collide: KAFKA_TOPIC_OFFSETS (xdr.connector.offsets) and KAFKA_TOPIC_SLOTS (xdr.connector.offsets)"},
	} {
		_, err := Load(context.Background(), envconfig.MapLookuper(tc.env))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.env, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: err = %v\nwant it to contain %q", tc.env, err, tc.want)
		}
	}
}
