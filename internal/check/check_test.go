package check

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sethvargo/go-envconfig"
	"github.com/twmb/franz-go/pkg/kerr"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

func load(t *testing.T, env map[string]string) *config.Config {
	t.Helper()
	cfg, err := config.Load(context.Background(), envconfig.MapLookuper(env))
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// TestTopicsAndIDsOfEveryTenant: check lists the topics and transactional
// ids of the tenants a run starts — the environment's one, or each enabled
// tenant of the file with {tenant} replaced — as the resolver gives them.
func TestTopicsAndIDsOfEveryTenant(t *testing.T) {
	env := load(t, map[string]string{"XDR_BASE_URL": "https://api-acme.example", "XDR_API_KEY_ID": "1", "XDR_API_KEY": "k", "CONNECTOR_NAME": "c"})
	if got := checkedDataTopics(env); !slices.Equal(got, []string{"xdr.incidents", "xdr.alerts", "xdr.artifacts", "xdr.dlq"}) {
		t.Errorf("env-only topics: %v", got)
	}
	if got := txnIDs(env); !slices.Equal(got, []string{"xdr-kafka-connector/c/api-acme.example"}) {
		t.Errorf("env-only transactional ids: %v", got)
	}
	dir := t.TempDir()
	file := filepath.Join(dir, "tenants.yaml")
	body := config.FormatTenantsFile("", config.TenantsFileDefaults{}, []config.TenantsFileEntry{
		{ID: "acme", BaseURL: "https://api-acme.example", APIKeyID: "1", APIKey: "a"},
		{ID: "globex", BaseURL: "https://api-globex.example", APIKeyID: "2", APIKey: "b"},
	}) + "    disabled: true\n"
	if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := load(t, map[string]string{"TENANTS_FILE": file, "CONNECTOR_NAME": "c", "KAFKA_TOPIC_DLQ": "xdr.{tenant}.dlq"})
	if got := checkedDataTopics(cfg); !slices.Equal(got, []string{"xdr.acme.dlq", "xdr.alerts", "xdr.artifacts", "xdr.incidents"}) {
		t.Errorf("tenants file topics: %v", got)
	}
	if got := txnIDs(cfg); !slices.Equal(got, []string{"xdr-kafka-connector/c/acme"}) {
		t.Errorf("tenants file transactional ids: %v", got)
	}
}

// TestFailuresSayWhatToChange: an API refusal is explained by its status
// (internal/explain), a timeout names the time allowed, and a Kafka
// failure names the setting to fix.
func TestFailuresSayWhatToChange(t *testing.T) {
	cfg := &config.Config{XDRTimeout: 30 * time.Second}
	for _, tc := range []struct {
		err         error
		reason, fix string
	}{
		{&xdr.APIError{Status: 403}, "HTTP 403 from get_incidents: Forbidden; the key's role lacks a permission", "incident view permission"},
		{fmt.Errorf("calling: %w", context.DeadlineExceeded), "did not answer within 5s", "port 443"},
		{fmt.Errorf("reading: %w", xdr.ErrMalformed), "the reply is not the API's", "not its console URL"},
	} {
		reason, fix := apiFailure(tc.err, cfg, 5*time.Second)
		if !strings.Contains(reason, tc.reason) || !strings.Contains(fix, tc.fix) {
			t.Errorf("%v: reason %q, fix %q", tc.err, reason, fix)
		}
	}
	for _, tc := range []struct {
		err error
		fix string
	}{
		{kerr.SaslAuthenticationFailed, "KAFKA_SASL_USERNAME"},
		{kerr.TopicAuthorizationFailed, "grant the connector's principal DESCRIBE"},
		{fmt.Errorf("dialing: %w", io.EOF), "KAFKA_TLS_ENABLED=true"},
		{errors.New("something else"), "check KAFKA_BROKERS"},
	} {
		if _, fix := kafkaFailure(tc.err, cfg); !strings.Contains(fix, tc.fix) {
			t.Errorf("%v: fix %q", tc.err, fix)
		}
	}
}

// TestInvalidConfigNamesTheMisspeltVariable: a configuration that does not
// load fails the configuration check, and a misspelt variable is named with
// the one it most likely means.
func TestInvalidConfigNamesTheMisspeltVariable(t *testing.T) {
	var out bytes.Buffer
	InvalidConfig(&out, []string{"POLL_INTERVALL=5s", "HOME=/root"})
	s := out.String()
	if !strings.Contains(s, "✗ configuration: not valid") || !strings.Contains(s, "⚠ POLL_INTERVALL") || !strings.Contains(s, "did you mean POLL_INTERVAL?") || strings.Contains(s, "HOME") {
		t.Errorf("output:\n%s", s)
	}
}
