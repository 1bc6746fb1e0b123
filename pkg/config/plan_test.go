package config

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/sethvargo/go-envconfig"
)

// TestPlansResolveEachTenantOnce: an env-only configuration is one plan,
// named by XDR_TENANT or the base URL's host, with its topics as set; a
// tenants file is a plan per tenant, disabled ones included, each with
// {tenant} replaced by its id in its data and write-back topics.
func TestPlansResolveEachTenantOnce(t *testing.T) {
	env, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{
		"XDR_BASE_URL": "https://api-acme.xdr.us.paloaltonetworks.com", "XDR_API_KEY_ID": "1", "XDR_API_KEY": "k",
		"OUTPUT_PROFILES": "native,ocsf"}))
	if err != nil {
		t.Fatal(err)
	}
	plans, err := env.Plans()
	if err != nil || len(plans) != 1 {
		t.Fatalf("env-only: %d plans, %v", len(plans), err)
	}
	p := plans[0]
	if p.Tenant.ID != "api-acme.xdr.us.paloaltonetworks.com" || p.Topics.Incidents != "xdr.incidents" || p.Topics.OCSFAlerts != "xdr.ocsf.alerts" ||
		p.Topics.ECSAlerts != "" || p.Commands.Commands != "xdr.commands" {
		t.Errorf("env-only plan: %+v", p)
	}
	env.Tenant = "lab"
	if plans, _ := env.Plans(); plans[0].Tenant.ID != "lab" || EnvTenant(env).ID != "lab" {
		t.Errorf("XDR_TENANT does not name the plan: %q", plans[0].Tenant.ID)
	}

	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.yaml")
	body := FormatTenantsFile("", TenantsFileDefaults{}, []TenantsFileEntry{
		{ID: "acme", BaseURL: "https://api-acme.example", APIKeyID: "1", APIKey: "a"},
		{ID: "globex", BaseURL: "https://api-globex.example", APIKeyID: "2", APIKey: "b"},
	}) + "    disabled: true\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	c, err := Load(context.Background(), envconfig.MapLookuper(map[string]string{"TENANTS_FILE": file, "KAFKA_TOPIC_PREFIX": "xdr.{tenant}",
		"KAFKA_TOPIC_OFFSETS": "xdr.connector.offsets"}))
	if err != nil {
		t.Fatal(err)
	}
	plans, err = c.Plans()
	if err != nil || len(plans) != 2 {
		t.Fatalf("tenants file: %d plans, %v", len(plans), err)
	}
	for i, want := range []struct {
		id       string
		disabled bool
	}{{"acme", false}, {"globex", true}} {
		p := plans[i]
		if p.Tenant.ID != want.id || p.Tenant.Disabled != want.disabled || p.Topics.DLQ != "xdr."+want.id+".dlq" ||
			p.Commands.Results != "xdr."+want.id+".command-results" {
			t.Errorf("plan %d: %+v", i, p)
		}
	}
}
