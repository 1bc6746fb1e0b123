package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Demo settings: a compressed extra-data window so a first run drains its
// backlog in a minute or two. Explicit ENRICH_RATE_WINDOW / POLL_INTERVAL win.
const (
	demoIncidents  = 300
	demoRateWindow = 2 * time.Second
	demoPoll       = 2 * time.Second
)

type demoTenant struct {
	baseURL   string
	incidents int
	stop      func()
}

// startDemoTenant serves a simulated tenant on loopback, keeps it changing,
// and points cfg at it.
func startDemoTenant(ctx context.Context, cfg *config.Config, log *slog.Logger) (*demoTenant, error) {
	if _, set := os.LookupEnv("ENRICH_RATE_WINDOW"); !set {
		cfg.EnrichRateWindow = demoRateWindow
	}
	if _, set := os.LookupEnv("POLL_INTERVAL"); !set {
		cfg.PollInterval = demoPoll
	}
	t := xdrtest.New(xdrtest.Config{
		Seed: 1, Incidents: demoIncidents, MaxAlerts: 300,
		RateLimit: cfg.EnrichRateLimit, RateWindow: cfg.EnrichRateWindow,
		IndexDelay: 500 * time.Millisecond,
	})
	base, stop := t.Start()
	mctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		err := t.RunMutations(mctx, xdrtest.MutationConfig{Interval: 700 * time.Millisecond, BulkEvery: 40, BulkSize: 150, MinVersionAge: 5 * time.Second})
		if err != nil && !errors.Is(err, context.Canceled) {
			log.Warn("simulated tenant stopped changing", "err", err)
		}
	}()
	id, key := t.Credentials()
	cfg.XDRBaseURL, cfg.XDRAPIKeyID, cfg.XDRAPIKey = base, id, xdr.NewSecret(key)
	if cfg.Tenant == "" {
		cfg.Tenant = "simulated"
	}
	return &demoTenant{baseURL: base, incidents: demoIncidents, stop: func() { cancel(); <-done; stop() }}, nil
}

// startEmbeddedKafka runs an in-process broker that persists under
// cfg.DataDir and listens on a fresh loopback port. It holds DATA_DIR for the
// process (a second connector or `connector tail` on the same directory is
// refused while it runs) and writes the address to DATA_DIR/broker.addr so
// that `connector tail` finds it. stop closes the broker, which saves its
// state, then gives DATA_DIR up.
func startEmbeddedKafka(cfg *config.Config) (addr string, stop func(), err error) {
	lock, err := lockDataDir(cfg.DataDir)
	if errors.Is(err, errDataDirBusy) {
		if a := runningBrokerAddr(cfg.DataDir); a != "" {
			return "", nil, fmt.Errorf("%w: another connector runs an embedded broker on %s (at %s); stop it, or set DATA_DIR to another directory", err, cfg.DataDir, a)
		}
		return "", nil, fmt.Errorf("%w: another process (a connector or `connector tail`) holds %s; stop it, or set DATA_DIR to another directory", err, cfg.DataDir)
	}
	if err != nil {
		return "", nil, err
	}
	c, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.DataDir(cfg.DataDir), kfake.DefaultNumPartitions(3))
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
		_ = os.Remove(filepath.Join(cfg.DataDir, addrFile))
		c.Close()
		lock.Release()
	}, nil
}

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address (loopback)")
	n := fs.Int("incidents", demoIncidents, "incidents to generate")
	seed := fs.Int64("seed", 1, "data seed")
	window := fs.Duration("rate-window", time.Minute, "extra-data window (10 calls per window)")
	limit := fs.Int("rate-limit", 10, "extra-data calls per window")
	delay := fs.Duration("index-delay", 0, "how long a change stays invisible to queries")
	mutate := fs.Duration("mutate-every", time.Second, "interval between simulated changes; 0 for none")
	fs.Usage = func() {
		fmt.Fprintln(stdout, "Usage: connector simulate [flags]\n\nServes a simulated Cortex XDR tenant (both endpoints, both key types, the sliding\nrate window) until interrupted, and prints the base URL and the key to use.\n\nFlags:")
		fs.SetOutput(stdout)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return errHelp
		}
		return fmt.Errorf("%w: %w", errUsage, err)
	}
	t := xdrtest.New(xdrtest.Config{Seed: *seed, Incidents: *n, RateLimit: *limit, RateWindow: *window, IndexDelay: *delay})
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return fmt.Errorf("listening on %s: %w", *addr, err)
	}
	id, key := t.Credentials()
	fmt.Fprintf(stdout, "Simulated Cortex XDR tenant with %d incidents\n  XDR_BASE_URL=http://%s\n  XDR_API_KEY_ID=%s\n  XDR_API_KEY=%s\n  (a test key of the simulator; standard and advanced auth both accepted)\n",
		*n, ln.Addr(), id, key)
	fmt.Fprintf(stdout, "Try: curl -s -X POST -H 'Authorization: %s' -H 'x-xdr-auth-id: %s' -H 'Content-Type: application/json' -d '{\"request_data\":{\"search_from\":0,\"search_to\":2}}' http://%s/public_api/v1/incidents/get_incidents/\n", key, id, ln.Addr())
	if *mutate > 0 {
		go func() {
			_ = t.RunMutations(ctx, xdrtest.MutationConfig{Interval: *mutate, BulkEvery: 50, BulkSize: 120})
		}()
	}
	return t.Serve(ctx, ln)
}
