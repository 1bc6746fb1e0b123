package embedded

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Demo settings: a compressed extra-data window so a first run drains its
// backlog in a minute or two. Explicit ENRICH_RATE_WINDOW / POLL_INTERVAL win.
const (
	DemoIncidents  = 300
	DemoRateWindow = 2 * time.Second
	demoPoll       = 2 * time.Second
)

// Demo settings of the simulated tenant's data and changes, for a new
// DATA_DIR; a DATA_DIR that holds a tenant keeps its own (see demo_state.go).
const (
	demoSeed          = 1
	demoMaxAlerts     = 300
	demoIndexDelay    = 500 * time.Millisecond
	demoMutateEvery   = 700 * time.Millisecond
	demoBulkEvery     = 40
	demoBulkSize      = 150
	demoMinVersionAge = 5 * time.Second
)

type DemoTenant struct {
	baseURL   string
	incidents int       // incidents now
	steps     int       // changes made so far, in earlier runs too
	resumed   bool      // the tenant kept in DATA_DIR, rather than a new one
	started   time.Time // when the tenant was first generated
	stopAll   func()
}

// Stop stops the tenant's changes and its server, and gives DATA_DIR's
// demo state up.
func (d *DemoTenant) Stop() { d.stopAll() }

// Banner tells what the demo runs against.
func (d *DemoTenant) Banner(cfg *config.Config) string {
	s := fmt.Sprintf("XDR_BASE_URL is not set: running against a SIMULATED tenant at %s\n", d.baseURL)
	if d.resumed {
		s += fmt.Sprintf("  resumed from %s (generated %s, %d changes so far): ", filepath.Join(cfg.DataDir, DemoStateFile),
			d.started.Local().Format(time.DateTime), d.steps)
	} else {
		s += "  "
	}
	s += fmt.Sprintf("%d incidents that keep changing; its extra-data budget is %d calls per %s (the real API allows 10 per 60s)\n",
		d.incidents, cfg.EnrichRateLimit, cfg.EnrichRateWindow)
	if cfg.EnrichBulk != "off" {
		s += fmt.Sprintf("  bulk enrichment (ENRICH_BULK=%s): up to %d incidents per get_multiple_incidents_extra_data call, %d calls per %s\n",
			cfg.EnrichBulk, cfg.EnrichBulkSize, cfg.EnrichBulkRateLimit, cfg.EnrichBulkRateWindow)
	}
	return s
}

// IsDemo reports whether cfg runs the demo: no tenant is configured
// (neither XDR_BASE_URL nor TENANTS_FILE), so `connector run` serves the
// simulated tenant kept in DATA_DIR.
func IsDemo(cfg *config.Config) bool { return cfg.XDRBaseURL == "" && cfg.TenantsFile == "" }

// DemoTenantName is the demo tenant's id when XDR_TENANT does not name it.
const DemoTenantName = "simulated"

// ApplyDemo gives a demo configuration (IsDemo) the demo's settings where
// the environment (lookup, os.LookupEnv) leaves them: the tenant's name
// (DemoTenantName), the compressed extra-data windows (DemoRateWindow) and
// the poll interval. `connector run` and the commands that read what it
// wrote (status, redrive) see the same tenant through it. Other
// configurations are left as they are.
func ApplyDemo(cfg *config.Config, lookup func(string) (string, bool)) {
	if !IsDemo(cfg) {
		return
	}
	if _, set := lookup("ENRICH_RATE_WINDOW"); !set {
		cfg.EnrichRateWindow = DemoRateWindow
	}
	if _, set := lookup("ENRICH_BULK_RATE_WINDOW"); !set {
		cfg.EnrichBulkRateWindow = DemoRateWindow
	}
	if _, set := lookup("POLL_INTERVAL"); !set {
		cfg.PollInterval = demoPoll
	}
	if cfg.Tenant == "" {
		cfg.Tenant = DemoTenantName
	}
}

// StartDemoTenant serves the simulated tenant kept in DATA_DIR (a new one
// the first time), keeps it changing, and points cfg at it (ApplyDemo
// first).
func StartDemoTenant(ctx context.Context, cfg *config.Config, log *slog.Logger) (*DemoTenant, error) {
	ApplyDemo(cfg, os.LookupEnv)
	hadTopics := hasBrokerData(cfg.DataDir)
	fresh := demoState{Seed: demoSeed, Incidents: DemoIncidents, MaxAlerts: demoMaxAlerts, IndexDelayMs: demoIndexDelay.Milliseconds(),
		BulkEvery: demoBulkEvery, BulkSize: demoBulkSize, MinVersionAgeMs: demoMinVersionAge.Milliseconds()}
	pt, err := openDemoTenant(cfg.DataDir, fresh, xdrtest.Config{RateLimit: cfg.EnrichRateLimit, RateWindow: cfg.EnrichRateWindow,
		BulkRateLimit: cfg.EnrichBulkRateLimit, BulkRateWindow: cfg.EnrichBulkRateWindow})
	if errors.Is(err, ErrDataDirBusy) {
		if a := RunningBrokerAddr(cfg.DataDir); a != "" {
			return nil, fmt.Errorf("%w: another connector runs the simulated tenant kept in %s and an embedded broker on %s; stop it, or set DATA_DIR to another directory", ErrDataDirBusy, cfg.DataDir, a)
		}
		return nil, fmt.Errorf("%w: another connector runs the simulated tenant kept in %s; stop it, or set DATA_DIR to another directory", ErrDataDirBusy, cfg.DataDir)
	}
	if err != nil {
		return nil, err
	}
	if !pt.resumed && hadTopics {
		log.Warn("DATA_DIR holds topics of an earlier run but no simulated tenant: starting a new one; enrichments still owed for incidents it does not have go to the DLQ as not found",
			"data_dir", cfg.DataDir)
	}
	t := pt.tenant
	base, stop := t.Start()
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := t.RunMutations(mctx, pt.mutations(demoMutateEvery))
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("simulated tenant stopped changing", "err", err)
		}
	}()
	// The simulated tenant has a standard and an advanced key, as a real one
	// may: the demo uses the one of XDR_AUTH_MODE.
	id, key := t.CredentialsFor(cfg.XDRAuthMode)
	cfg.XDRBaseURL, cfg.XDRAPIKeyID, cfg.XDRAPIKey = base, id, xdr.NewSecret(key)
	return &DemoTenant{baseURL: base, incidents: len(t.IncidentIDs()), steps: pt.steps, resumed: pt.resumed, started: pt.started,
		stopAll: func() { cancel(); <-done; stop(); pt.close() }}, nil
}

// StartKafka runs an in-process broker that persists under
// cfg.DataDir and listens on a fresh loopback port. It holds DATA_DIR for the
// process (a second connector or `connector tail` on the same directory is
// refused while it runs) and writes the address to DATA_DIR/broker.addr so
// that `connector tail` finds it. stop closes the broker, which saves its
// state, then gives DATA_DIR up.
func StartKafka(cfg *config.Config) (addr string, stop func(), err error) {
	lock, err := lockDataDir(cfg.DataDir)
	if errors.Is(err, ErrDataDirBusy) {
		if a := RunningBrokerAddr(cfg.DataDir); a != "" {
			return "", nil, fmt.Errorf("%w: another connector runs an embedded broker on %s (at %s); stop it, or set DATA_DIR to another directory", err, cfg.DataDir, a)
		}
		return "", nil, fmt.Errorf("%w: another process (a connector or `connector tail`) holds %s; stop it, or set DATA_DIR to another directory", err, cfg.DataDir)
	}
	if err != nil {
		return "", nil, err
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(cfg.DataDir), kfake.DefaultNumPartitions(3), kfake.ListenFn(ListenLoopback))
	if err != nil {
		lock.Release()
		return "", nil, fmt.Errorf("starting the embedded Kafka broker: %w", err)
	}
	addr = c.ListenAddrs()[0]
	if err := writeBrokerAddr(cfg.DataDir, addr); err != nil {
		c.Close()
		lock.Release()
		return "", nil, err
	}
	return addr, func() {
		_ = os.Remove(filepath.Join(cfg.DataDir, AddrFile))
		c.Close()
		lock.Release()
	}, nil
}

// ListenLoopback is net.Listen for the embedded broker, which has no
// authentication: it refuses every address but a loopback one. The broker
// asks for 127.0.0.1 and port 0, a fresh port the system picks.
func ListenLoopback(network, address string) (net.Listener, error) {
	host, _, err := net.SplitHostPort(address)
	if err != nil {
		return nil, err
	}
	if !config.IsLoopback(host) {
		return nil, fmt.Errorf("the embedded broker has no authentication and listens on loopback only, not on %s", address)
	}
	return net.Listen(network, address)
}

// ListenSimulator listens on addr for `connector simulate`; an address in
// use (another simulator, most often) is an error that says to pick another
// with --addr.
func ListenSimulator(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if errors.Is(err, syscall.EADDRINUSE) {
		host, _, _ := net.SplitHostPort(addr)
		return nil, fmt.Errorf("listening on %s: %w: another process (another `connector simulate`?) listens there; stop it, or give this one another port with --addr %s (port 0 picks a free one; the base URL printed says which)",
			addr, err, net.JoinHostPort(host, "8090"))
	}
	if err != nil {
		return nil, fmt.Errorf("listening on %s: %w", addr, err)
	}
	return ln, nil
}

// fleetIDs names n simulated tenants t1..tN, zero-padded to the width of n
// (t01..t12 for 12).
func fleetIDs(n int) []string {
	width := len(strconv.Itoa(n))
	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%0*d", width, i+1)
	}
	return ids
}

// SimulateFleet serves n simulated tenants on addr, tenant i (from 0) with
// cfg and seed cfg.Seed+i, each with its own mutation stream, and writes the
// tenants file at file with the keys beside it, until ctx is done.
func SimulateFleet(ctx context.Context, n int, file, addr string, cfg xdrtest.Config, mcfg xdrtest.MutationConfig, stdout, stderr io.Writer) error {
	path, err := filepath.Abs(file)
	if err != nil {
		return fmt.Errorf("resolving the tenants file %s: %w", file, err)
	}
	ids := fleetIDs(n)
	fleet := xdrtest.NewFleet(ids, func(i int, _ string) xdrtest.Config {
		c := cfg
		c.Seed += int64(i)
		return c
	})
	ln, err := ListenSimulator(addr)
	if err != nil {
		return err
	}
	root := "http://" + DialAddr(ln.Addr())
	keyDir, err := writeTenantsFile(path, fleet, root, cfg.RateLimit, cfg.RateWindow)
	if err != nil {
		_ = ln.Close()
		return err
	}
	first := ids[0]
	keyID, _ := fleet.Tenant(first).Credentials()
	fmt.Fprintf(stdout, "Simulated Cortex XDR fleet: %d tenants (%s..%s) with %d incidents each\n", n, first, ids[n-1], cfg.Incidents)
	fmt.Fprintf(stdout, "  listening on %s; tenant <id> at %s\n", ln.Addr(), fleet.BaseURL(root, "<id>"))
	advID, _ := fleet.Tenant(first).AdvancedCredentials()
	fmt.Fprintf(stdout, "  tenants file: %s (standard keys)\n  keys: %s%c<id> (standard) and %s%c<id>.advanced (advanced, key id %d + the standard one's: %s for %s); test keys of the simulator\n",
		path, keyDir, filepath.Separator, keyDir, filepath.Separator, n, advID, first)
	fmt.Fprintf(stdout, "Try: curl -s -X POST -H \"Authorization: $(cat %s)\" -H 'x-xdr-auth-id: %s' -H 'Content-Type: application/json' -d '{\"request_data\":{\"search_from\":0,\"search_to\":2}}' %s/public_api/v1/incidents/get_incidents/\n",
		shellQuote(filepath.Join(keyDir, first)), keyID, fleet.BaseURL(root, first))
	fmt.Fprintf(stdout, "Then: TENANTS_FILE=%s connector run\n", shellQuote(path))

	done := make(chan struct{})
	if mcfg.Interval > 0 {
		go func() {
			defer close(done)
			if err := fleet.RunMutations(ctx, mcfg); err != nil {
				fmt.Fprintln(stderr, "connector: simulated tenants stopped changing:", err)
			}
		}()
	} else {
		close(done)
	}
	err = fleet.Serve(ctx, ln)
	<-done
	return err
}

// DialAddr is addr as a client dials it: an unspecified host (0.0.0.0, ::)
// becomes 127.0.0.1.
func DialAddr(addr net.Addr) string {
	host, port, err := net.SplitHostPort(addr.String())
	if err != nil {
		return addr.String()
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	return net.JoinHostPort(host, port)
}

// writeTenantsFile writes, for every tenant of fleet served at root, its key
// to <path>.keys/<id> and its advanced key to <path>.keys/<id>.advanced
// (mode 0600, the directory 0700) and then the tenants
// file at path, which names them by absolute path. Each file is replaced
// whole, so a reader never sees half of one. It returns the key directory.
//
// Its defaults carry the simulator's extra-data budget (limit calls per
// window), so a connector run with the file spends exactly that.
func writeTenantsFile(path string, fleet *xdrtest.Fleet, root string, limit int, window time.Duration) (string, error) {
	keyDir := path + ".keys"
	if err := os.MkdirAll(keyDir, 0o700); err != nil {
		return "", fmt.Errorf("creating the key directory: %w", err)
	}
	if err := os.Chmod(keyDir, 0o700); err != nil {
		return "", fmt.Errorf("creating the key directory: %w", err)
	}
	comment := fmt.Sprintf("Simulated Cortex XDR tenants served by `connector simulate --tenants %d` on %s.\nTheir keys are test keys of the simulator, in %s.", len(fleet.IDs()), root, keyDir)
	var entries []config.TenantsFileEntry
	for _, id := range fleet.IDs() {
		keyID, key := fleet.Tenant(id).Credentials()
		keyFile := filepath.Join(keyDir, id)
		if err := writeFileAtomic(keyFile, []byte(key+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing the key of tenant %s: %w", id, err)
		}
		_, advKey := fleet.Tenant(id).AdvancedCredentials()
		if err := writeFileAtomic(keyFile+".advanced", []byte(advKey+"\n"), 0o600); err != nil {
			return "", fmt.Errorf("writing the advanced key of tenant %s: %w", id, err)
		}
		entries = append(entries, config.TenantsFileEntry{ID: id, BaseURL: fleet.BaseURL(root, id), APIKeyID: keyID, APIKeyFile: keyFile, AuthMode: "standard"})
	}
	file := config.FormatTenantsFile(comment, config.TenantsFileDefaults{EnrichRateLimit: limit, EnrichRateWindow: window}, entries)
	if err := writeFileAtomic(path, []byte(file), 0o644); err != nil {
		return "", fmt.Errorf("writing the tenants file: %w", err)
	}
	return keyDir, nil
}

// writeFileAtomic replaces path with data, mode perm, through a temporary
// file in the same directory.
func writeFileAtomic(path string, data []byte, perm os.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(perm)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		_ = os.Remove(tmp)
	}
	return err
}

// shellQuote quotes s for a POSIX shell when it needs quoting.
func shellQuote(s string) string {
	if s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.ContainsRune("/._-:+=@%,", c))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
