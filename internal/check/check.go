package check

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/internal/app"
	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/internal/explain"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// Options are what Run takes besides the configuration.
type Options struct {
	Version string        // the connector's version, for the API client's User-Agent
	Timeout time.Duration // time allowed for each network check; positive
	Environ []string      // the environment, as os.Environ gives it, for the unknown variables
}

// InvalidConfig prints the lines of a configuration that did not load: the
// failed configuration check and the unknown variables of environ, which
// are most often why.
func InvalidConfig(out io.Writer, environ []string) {
	r := &report{out: out}
	r.fail("configuration", "not valid (each wrong variable is named below)", `fix the variables; "connector run --help" lists them`)
	warnUnknownVariables(r, environ)
}

// Run checks what `connector run` needs with cfg and prints one line per
// check to out (see the package doc). It returns an error wrapping
// config.ErrUsage when the configuration is not valid, another error when a
// check failed, and nil when all passed (warnings fail nothing).
func Run(ctx context.Context, cfg *config.Config, o Options, out io.Writer) error {
	r := &report{out: out, version: o.Version}
	var err error
	var api *xdr.Client
	if cfg.XDRBaseURL != "" {
		if api, err = app.TenantOf(cfg).APIClient(o.Version); err != nil {
			r.fail("configuration", err.Error(), "fix XDR_BASE_URL, XDR_API_KEY_ID or XDR_API_KEY")
			return fmt.Errorf("%w: %w", config.ErrUsage, err)
		}
	}
	connOpts, err := app.KafkaOptions(cfg)
	if err != nil {
		r.fail("configuration", err.Error(), "fix the KAFKA_TLS_* or KAFKA_SASL_* variables")
		return fmt.Errorf("%w: %w", config.ErrUsage, err)
	}
	r.pass("configuration", "valid")
	for _, w := range slices.Concat(cfg.Warnings(), cfg.FileWarnings()) {
		r.warn(w)
	}
	warnUnknownVariables(r, o.Environ)

	switch {
	case cfg.TenantsFile != "":
		if !checkTenants(ctx, r, cfg, o.Timeout) {
			return fmt.Errorf("%w: the tenants file is not valid", config.ErrUsage)
		}
	case cfg.XDRBaseURL == "":
		r.skip("XDR API", `XDR_BASE_URL is not set: "connector run" would serve a simulated tenant on this machine`)
	default:
		checkAPI(ctx, r, "XDR API", cfg, app.TenantOf(cfg), api, o.Timeout)
	}
	if len(cfg.KafkaBrokers) == 0 {
		checkEmbedded(r, cfg)
	} else {
		checkKafka(ctx, r, cfg, connOpts, o.Timeout)
	}

	if r.failed > 0 {
		return fmt.Errorf("%d of %d checks failed", r.failed, r.failed+r.passed)
	}
	if r.insecure > 0 {
		fmt.Fprintf(out, "All checks passed, with %d warning(s) (⚠ above): the connector runs, but %d setting(s) expose a credential or the records.\n", r.warned, r.insecure)
		return nil
	}
	if r.warned > 0 {
		fmt.Fprintf(out, "All checks passed, with %d warning(s) (⚠ above): the connector runs, but read each one.\n", r.warned)
		return nil
	}
	fmt.Fprintln(out, "All checks passed.")
	return nil
}

// report prints the check lines and counts them.
type report struct {
	version                string // the connector's, for the API clients
	out                    io.Writer
	passed, failed, warned int
	insecure               int // of the warned, the insecure settings
}

// warn prints a warning: a setting valid but outside what the API
// documents, or insecure, or a variable the connector ignores. It fails
// nothing.
func (r *report) warn(w config.Warning) {
	r.warned++
	if w.Insecure {
		r.insecure++
	}
	fmt.Fprintf(r.out, "⚠ %s\n", w)
}

// warnUnknownVariables prints a ⚠ line for each variable of environ that
// looks like the connector's and is not (see config.UnknownVariables), as "run"
// logs them at start.
func warnUnknownVariables(r *report, environ []string) {
	for _, u := range config.UnknownVariables(environ) {
		msg := `not a variable the connector knows; it is ignored ("connector run --help" lists the known ones)`
		if u.Closest != "" {
			msg = "not a variable the connector knows; it is ignored: did you mean " + u.Closest + "?"
		}
		r.warn(config.Warning{Setting: u.Name, Message: msg})
	}
}

func (r *report) pass(name, detail string) {
	r.passed++
	fmt.Fprintf(r.out, "✓ %s: %s\n", name, detail)
}

func (r *report) fail(name, reason, fix string) {
	r.failed++
	fmt.Fprintf(r.out, "✗ %s: %s\n", name, reason)
	if fix != "" {
		fmt.Fprintf(r.out, "    fix: %s\n", fix)
	}
}

func (r *report) skip(name, why string) { fmt.Fprintf(r.out, "– %s: %s\n", name, why) }

// checkAPI makes one get_incidents call for one incident, with the filters
// the connector would use.
func checkAPI(ctx context.Context, r *report, name string, cfg *config.Config, t app.Tenant, api *xdr.Client, timeout time.Duration) {
	p := probeAPI(ctx, t, api, cfg, timeout, r.version)
	if p.err == nil {
		r.pass(name, fmt.Sprintf("%s answered get_incidents with the %s key %s (%d incidents match the filters)",
			api.BaseURL(), cfg.XDRAuthMode, cfg.XDRAPIKeyID, p.total))
		checkBulk(ctx, r, name, t, api, p.firstID, timeout)
		if t.Writeback {
			checkWrite(ctx, r, name, api, timeout)
		}
		return
	}
	reason, fix := p.reason, p.fix
	if cfg.TenantsFile != "" {
		fix += " (in the tenants file, XDR_BASE_URL, XDR_API_KEY_ID, XDR_API_KEY and XDR_AUTH_MODE are the tenant's base_url, api_key_id, api_key_file and auth_mode)"
	}
	r.fail(name, reason, fix)
}

// checkTenants checks the tenants file, then each tenant's API, one block
// per tenant. It reports false when the file is not valid.
func checkTenants(ctx context.Context, r *report, cfg *config.Config, timeout time.Duration) bool {
	plans, err := cfg.Plans()
	if err != nil {
		r.fail("tenants file", cfg.TenantsFile+" is not valid:"+config.IndentLines(err.Error()), "fix the tenants named above; the file's keys are listed in README (Many tenants)")
		return false
	}
	r.pass("tenants file", fmt.Sprintf("%s: %d tenants", cfg.TenantsFile, len(plans)))
	for _, pl := range plans {
		t := pl.Tenant
		name := "tenant " + t.ID
		if t.Disabled {
			r.skip(name, "disabled: true")
			continue
		}
		// The tenant's settings in the shape of the environment's, so the
		// one-tenant check and its advice apply as they are.
		tc := *cfg
		tc.XDRBaseURL, tc.XDRAPIKeyID, tc.XDRAPIKey, tc.XDRAuthMode, tc.XDRTimeout = t.BaseURL, t.APIKeyID, t.APIKey, t.AuthMode, t.RequestTimeout
		tc.FilterStatuses, tc.FilterStarred, tc.FilterAlertSources = t.FilterStatuses, t.FilterStarred, t.FilterAlertSources
		at := app.TenantFrom(cfg, t)
		api, err := at.APIClient(r.version)
		if err != nil {
			r.fail(name, err.Error(), "fix the tenant's base_url, api_key_id and key in the tenants file")
			continue
		}
		checkAPI(ctx, r, name, &tc, at, api, timeout)
		for _, w := range slices.Concat(t.Warnings(), t.FileWarnings()) {
			r.warn(w)
		}
	}
	return true
}

// apiFailure explains a failed get_incidents call: what went wrong and what
// to change.
func apiFailure(err error, cfg *config.Config, timeout time.Duration) (reason, fix string) {
	if reason, fix, ok := explain.Call(err, "get_incidents"); ok {
		return reason, fix
	}
	switch {
	case errors.Is(err, xdr.ErrTimeout), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("the tenant did not answer within %s (the tenant is unreachable)", min(timeout, cfg.XDRTimeout)),
			"check XDR_BASE_URL, DNS, and that this host may reach it on port 443 (proxy, firewall)"
	case errors.Is(err, xdr.ErrMalformed), errors.Is(err, xdr.ErrTruncated):
		return "the reply is not the API's: " + err.Error(), "set XDR_BASE_URL to the tenant's API URL, https://api-<tenant-fqdn>, not its console URL"
	}
	return "the tenant is unreachable: " + err.Error(), "check XDR_BASE_URL, DNS, and that this host may reach it (proxy, firewall)"
}

// checkEmbedded reports what `connector run` would do without KAFKA_BROKERS.
func checkEmbedded(r *report, cfg *config.Config) {
	if _, err := os.Stat(cfg.DataDir); err == nil {
		if addr := embedded.RunningBrokerAddr(cfg.DataDir); addr != "" {
			r.fail("Kafka", fmt.Sprintf(`KAFKA_BROKERS is not set, and another connector already runs an embedded broker on DATA_DIR %s (at %s): "connector run" would refuse to start`, cfg.DataDir, addr),
				"stop that connector, set DATA_DIR to another directory, or set KAFKA_BROKERS")
			return
		}
	}
	r.skip("Kafka", fmt.Sprintf(`KAFKA_BROKERS is not set: "connector run" would start an embedded broker on a loopback port, with its data in %s`, cfg.DataDir))
	if real := embedded.RealTenants(cfg); len(real) > 0 {
		r.warn(config.Warning{Setting: "KAFKA_BROKERS", Message: fmt.Sprintf("is not set: real tenants (%s) would feed the embedded TEST broker, which has no authentication: anyone on this machine could read their incidents; set KAFKA_BROKERS for production",
			strings.Join(real, ", "))})
	}
}

// checkKafka checks the brokers, the data topics and the offsets topic.
func checkKafka(ctx context.Context, r *report, cfg *config.Config, connOpts []kgo.Opt, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if !checkDial(ctx, r, cfg.KafkaBrokers) {
		r.skip("topics", "not checked: Kafka is unreachable")
		return
	}
	hook := &connectErrors{}
	cl, err := kgo.NewClient(append(connOpts, kgo.WithHooks(hook), kgo.DialTimeout(min(timeout, 5*time.Second)),
		kgo.MetadataMinAge(100*time.Millisecond))...)
	if err != nil {
		r.fail("Kafka", err.Error(), "fix KAFKA_BROKERS")
		return
	}
	defer cl.Close()
	adm := kadm.NewClient(cl)
	adm.SetTimeoutMillis(int32(timeout.Milliseconds()))

	md, err := adm.BrokerMetadata(ctx)
	if err != nil {
		if last := hook.last(); last != nil && errors.Is(err, context.DeadlineExceeded) && !strings.Contains(err.Error(), last.Error()) {
			err = fmt.Errorf("%w (last connection error: %w)", err, last)
		}
		reason, fix := kafkaFailure(err, cfg)
		r.fail("Kafka", reason, fix)
		r.skip("topics", "not checked: Kafka did not answer")
		return
	}
	r.pass("Kafka", fmt.Sprintf("%d broker(s) answered (cluster %s)", len(md.Brokers), md.Cluster))

	data := checkedDataTopics(cfg)
	compacted := []string{cfg.TopicOffsets}
	if cfg.GroupEnabled {
		compacted = append(compacted, cfg.TopicSlots)
	}
	all := append(slices.Clone(data), compacted...)
	details, err := adm.ListTopics(ctx, all...)
	if err != nil {
		reason, fix := kafkaFailure(err, cfg)
		r.fail("topics", "listing the topics: "+reason, fix)
		return
	}
	var missing []string
	for _, t := range data {
		d, ok := details[t]
		switch {
		case ok && d.Err == nil:
			r.pass("topic "+t, fmt.Sprintf("exists (%d partitions)", len(d.Partitions)))
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			missing = append(missing, t)
		default:
			reason, fix := kafkaFailure(d.Err, cfg)
			r.fail("topic "+t, reason, fix)
		}
	}
	if len(missing) > 0 {
		checkCreatable(ctx, r, adm, cfg, missing, int32(cfg.KafkaPartitions), nil, "")
	}
	checkCompactedTopic(ctx, r, adm, cfg, details, cfg.TopicOffsets, "offsets ", "KAFKA_TOPIC_OFFSETS",
		"the connector then starts again from START_FROM", 1)
	if cfg.GroupEnabled {
		// Nothing is written to the slots topic: its partitions are the
		// slots, so only its partition count matters.
		t := cfg.TopicSlots
		switch d, ok := details[t]; {
		case ok && d.Err == nil:
			r.pass("slots topic "+t, fmt.Sprintf("exists: %d slots (its partitions)", len(d.Partitions)))
			checkSlotsACLs(ctx, r, cl, cfg, d)
		case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
			compact := "compact"
			checkCreatable(ctx, r, adm, cfg, []string{t}, int32(cfg.SlotsPartitions), map[string]*string{"cleanup.policy": &compact}, "slots ")
		case errors.Is(d.Err, kerr.TopicAuthorizationFailed):
			r.fail("slots topic "+t, "the principal may not DESCRIBE the slots topic, which the connector's group consumes to share the tenants: "+d.Err.Error(),
				aclFix("Read", "--topic", t)+"; READ implies DESCRIBE")
		default:
			reason, fix := kafkaFailure(d.Err, cfg)
			r.fail("slots topic "+t, reason, fix)
		}
		checkGroupACLs(ctx, r, cl, cfg)
	}
	// Every tenant writes in transactions of its own id to an external
	// Kafka: its offsets (the fencing that finds a second process out, or a
	// zombie of the group), and exactly-once its records too.
	checkTxnACLs(ctx, r, cl, cfg)
}

// checkedDataTopics lists the data topics a run writes: the native ones and
// those of the enabled output profiles, with {tenant} replaced by each
// enabled tenant's id of a tenants file (a file that does not load was
// reported already: its names are left out).
func checkedDataTopics(cfg *config.Config) []string {
	plans, err := cfg.Plans()
	if err != nil {
		return nil
	}
	var out []string
	for _, p := range plans {
		id := p.Tenant.ID
		if cfg.TenantsFile == "" {
			id = ""
		}
		if !p.Tenant.Disabled {
			out = append(out, names(config.DataTopicUses(p.Topics, id))...)
		}
		if !p.Tenant.Disabled && (p.Tenant.Writeback || cfg.WritebackOn()) {
			out = append(out, names(p.Commands.Uses(id))...)
		}
	}
	if cfg.TenantsFile == "" {
		return out
	}
	slices.Sort(out)
	return slices.Compact(out)
}

// names are the topic names of uses.
func names(uses []config.TopicUse) []string {
	out := make([]string, 0, len(uses))
	for _, u := range uses {
		out = append(out, u.Name)
	}
	return out
}

// checkCompactedTopic checks a topic the connector keeps compacted (the
// offsets): it exists with cleanup.policy=compact, or it can be created so.
func checkCompactedTopic(ctx context.Context, r *report, adm *kadm.Client, cfg *config.Config, details kadm.TopicDetails,
	t, label, variable, ifNew string, partitions int32) {
	d, ok := details[t]
	switch {
	case ok && d.Err == nil:
		if err := offsets.CheckCompacted(ctx, adm, t); err != nil {
			fix := fmt.Sprintf("make it compacted (kafka-configs.sh --alter --entity-type topics --entity-name %s --add-config cleanup.policy=compact), or set %s to a new topic: %s", t, variable, ifNew)
			if !errors.Is(err, offsets.ErrNotCompacted) {
				reason, f := kafkaFailure(err, cfg)
				r.fail(label+"topic "+t, reason, f)
				return
			}
			r.fail(label+"topic "+t, err.Error(), fix)
			return
		}
		r.pass(label+"topic "+t, "exists with cleanup.policy=compact")
	case !ok || errors.Is(d.Err, kerr.UnknownTopicOrPartition):
		compact := "compact"
		checkCreatable(ctx, r, adm, cfg, []string{t}, partitions, map[string]*string{"cleanup.policy": &compact}, label)
	default:
		reason, fix := kafkaFailure(d.Err, cfg)
		r.fail(label+"topic "+t, reason, fix)
	}
}

// checkCreatable asks the brokers whether they would create the missing
// topics as `connector run` will, without creating them.
func checkCreatable(ctx context.Context, r *report, adm *kadm.Client, cfg *config.Config, topics []string, partitions int32, configs map[string]*string, label string) {
	how := "the connector creates it at start"
	if configs != nil {
		how = "the connector creates it at start, with cleanup.policy=compact"
	}
	resps, err := adm.ValidateCreateTopics(ctx, partitions, int16(cfg.KafkaReplication), configs, topics...)
	if err != nil {
		for _, t := range topics {
			r.pass(label+"topic "+t, fmt.Sprintf("missing; %s (the brokers could not validate it beforehand: %v)", how, err))
		}
		return
	}
	for _, t := range topics {
		resp, ok := resps[t]
		switch {
		case !ok:
			r.pass(label+"topic "+t, "missing; "+how)
		case resp.Err == nil:
			r.pass(label+"topic "+t, "missing; "+how+" (the brokers accepted a validate-only creation)")
		default:
			reason := resp.Err.Error()
			if resp.ErrMessage != "" {
				reason += ": " + resp.ErrMessage
			}
			fix := "create it yourself before starting the connector"
			switch {
			case errors.Is(resp.Err, kerr.TopicAuthorizationFailed), errors.Is(resp.Err, kerr.ClusterAuthorizationFailed):
				fix = "grant the connector's principal CREATE on the topic (or the cluster), or create the topic yourself"
			case errors.Is(resp.Err, kerr.InvalidReplicationFactor):
				fix = "set KAFKA_REPLICATION_FACTOR to at most the number of brokers (or -1 for the broker default)"
			case errors.Is(resp.Err, kerr.InvalidPartitions):
				fix = "set KAFKA_PARTITIONS to a positive number (or -1 for the broker default)"
			}
			if configs != nil {
				fix += "; the offsets topic needs cleanup.policy=compact"
			}
			r.fail(label+"topic "+t, "missing, and the brokers would refuse to create it: "+reason, fix)
		}
	}
}

// checkDial opens a TCP connection to each seed broker. It fails the Kafka
// check, naming each error, when none answers.
func checkDial(ctx context.Context, r *report, brokers []string) bool {
	var d net.Dialer
	var errs []string
	for _, b := range brokers {
		dctx, cancel := context.WithTimeout(ctx, 5*time.Second)
		c, err := d.DialContext(dctx, "tcp", b)
		cancel()
		if err != nil {
			errs = append(errs, err.Error())
			continue
		}
		_ = c.Close()
	}
	if len(errs) == len(brokers) {
		r.fail("Kafka", "no broker is reachable: "+strings.Join(errs, "; "),
			"check KAFKA_BROKERS (host:port of a listener this host may reach), DNS, and firewalls; is the cluster up?")
		return false
	}
	if len(errs) > 0 {
		r.skip("Kafka seed brokers", fmt.Sprintf("%d of %d unreachable (the others suffice): %s", len(errs), len(brokers), strings.Join(errs, "; ")))
	}
	return true
}

// kafkaFailure explains a failed Kafka request and says what to change.
func kafkaFailure(err error, cfg *config.Config) (reason, fix string) {
	reason = err.Error()
	var firstEOF *kgo.ErrFirstReadEOF
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	switch {
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.IllegalSaslState), errors.Is(err, kerr.UnsupportedSaslMechanism):
		return reason, "check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or _FILE) against the listener's SASL settings"
	case errors.As(err, &uaErr), errors.As(err, &certErr):
		return reason, "the brokers' certificate is not trusted: set KAFKA_TLS_CA_FILE to the CA that signed it"
	case errors.As(err, &hostErr):
		return reason, "the brokers' certificate does not name the host in KAFKA_BROKERS: use the name it was issued for"
	case errors.As(err, &recErr):
		return reason, "the listener does not speak TLS: unset KAFKA_TLS_ENABLED and KAFKA_TLS_CA_FILE, or use the TLS listener's port"
	case errors.As(err, &firstEOF):
		if cfg.KafkaTLSEnabled || cfg.KafkaTLSCAFile != "" {
			return reason, "check that the listener in KAFKA_BROKERS expects TLS (KAFKA_TLS_ENABLED) and, if it needs SASL, set KAFKA_SASL_*"
		}
		return reason, "the listener may require TLS (set KAFKA_TLS_ENABLED=true) or SASL (set KAFKA_SASL_MECHANISM and the credentials)"
	case errors.Is(err, kerr.TopicAuthorizationFailed), errors.Is(err, kerr.ClusterAuthorizationFailed):
		return reason, "grant the connector's principal DESCRIBE on the cluster and its topics (and WRITE, CREATE as needed)"
	case errors.Is(err, io.EOF):
		if cfg.KafkaSASLMechanism != "" {
			return "the broker closed the connection: " + reason, "check KAFKA_SASL_MECHANISM, KAFKA_SASL_USERNAME and KAFKA_SASL_PASSWORD (or _FILE): some brokers close the connection on wrong credentials; the listener may also not accept SASL, or require TLS (KAFKA_TLS_ENABLED=true)"
		}
		return "the broker closed the connection: " + reason, "the listener may require TLS (KAFKA_TLS_ENABLED=true) or SASL (KAFKA_SASL_MECHANISM and the credentials)"
	case errors.Is(err, context.DeadlineExceeded) && (cfg.KafkaTLSEnabled || cfg.KafkaTLSCAFile != ""):
		return "no answer in time: " + reason, "the port accepts TCP connections but the TLS handshake did not finish: the listener probably does not speak TLS (unset KAFKA_TLS_ENABLED and KAFKA_TLS_CA_FILE, or use the TLS listener's port)"
	case errors.Is(err, context.DeadlineExceeded):
		return "no answer in time: " + reason, "check KAFKA_BROKERS, and that the TLS and SASL settings match the listener"
	}
	return reason, "check KAFKA_BROKERS and the KAFKA_TLS_* and KAFKA_SASL_* settings"
}

// connectErrors remembers the last failed broker connection (dial, TLS
// handshake or SASL), to explain a request that timed out.
type connectErrors struct {
	err atomic.Pointer[error]
}

// OnBrokerConnect implements kgo.HookBrokerConnect.
func (h *connectErrors) OnBrokerConnect(_ kgo.BrokerMetadata, _ time.Duration, _ net.Conn, err error) {
	if err != nil {
		h.err.Store(&err)
	}
}

// last is the last failed connection's error, or nil.
func (h *connectErrors) last() error {
	if p := h.err.Load(); p != nil {
		return *p
	}
	return nil
}
