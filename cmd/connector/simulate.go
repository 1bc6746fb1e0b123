package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/internal/embedded"
	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

func simulateCmd(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("simulate", flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8089", "listen address (loopback; another needs --allow-remote)")
	allowRemote := fs.Bool("allow-remote", false, "allow an --addr other machines can reach: anyone who can reach it may use the simulator's fixed test keys")
	n := fs.Int("incidents", embedded.DemoIncidents, "incidents to generate (per tenant)")
	seed := fs.Int64("seed", 1, "data seed (with --tenants, the Nth tenant gets seed+N-1)")
	window := fs.Duration("rate-window", time.Minute, "extra-data rate window (--rate-limit calls per window)")
	limit := fs.Int("rate-limit", 10, "extra-data calls per window")
	delay := fs.Duration("index-delay", 0, "how long a change stays invisible to queries")
	mutate := fs.Duration("mutate-every", time.Second, "interval between simulated changes; 0 for none")
	tenants := fs.Int("tenants", 0, "serve this many tenants, t1..tN, each at http://ADDR/t/<id> with its own data, key, rate window and changes; 0 for one tenant at the root")
	tenantsFile := fs.String("tenants-file", "tenants.yaml", "with --tenants: the `PATH` of the tenants file to write (for TENANTS_FILE); the keys go to PATH.keys/<id>")
	if err := parseFlags(fs, args, func() {
		fmt.Fprintln(stdout, "Usage: connector simulate [flags]\n\nServes a simulated Cortex XDR tenant (both endpoints, a standard and an advanced\nkey, the sliding rate window) until interrupted, and prints the base URL and\nthe keys to use. With --tenants N it serves N tenants on the one address\ninstead and writes a tenants file (and key files per tenant) for the connector.\nIt listens on loopback only unless --allow-remote is given.\n\nFlags:")
		printDefaults(fs, stdout)
	}); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: simulate takes no arguments, got %q", errUsage, fs.Arg(0))
	}
	if host, _, err := net.SplitHostPort(*addr); err != nil {
		return fmt.Errorf("%w: --addr %q is not host:port, such as 127.0.0.1:8089", errUsage, *addr)
	} else if !config.IsLoopback(host) && !*allowRemote {
		shown := host
		if shown == "" {
			shown = "every interface"
		}
		return fmt.Errorf("%w: --addr %s listens on %s, beyond this machine, and the simulator's keys are fixed test keys that anyone who reaches it may use: listen on 127.0.0.1, or add --allow-remote to serve other machines anyway", errUsage, *addr, shown)
	}
	fileSet := false
	fs.Visit(func(f *flag.Flag) { fileSet = fileSet || f.Name == "tenants-file" })
	switch {
	case *tenants < 0:
		return fmt.Errorf("%w: --tenants must be 0 or more, got %d", errUsage, *tenants)
	case *tenants == 0 && fileSet:
		return fmt.Errorf("%w: --tenants-file needs --tenants N", errUsage)
	case *tenants > 0 && *tenantsFile == "":
		return fmt.Errorf("%w: --tenants-file must not be empty", errUsage)
	}
	tcfg := xdrtest.Config{Seed: *seed, Incidents: *n, RateLimit: *limit, RateWindow: *window, IndexDelay: *delay}
	mcfg := xdrtest.MutationConfig{Interval: *mutate, BulkEvery: 50, BulkSize: 120}
	if *tenants > 0 {
		return embedded.SimulateFleet(ctx, *tenants, *tenantsFile, *addr, tcfg, mcfg, stdout, stderr)
	}
	t := xdrtest.New(tcfg)
	ln, err := embedded.ListenSimulator(*addr)
	if err != nil {
		return err
	}
	id, key := t.Credentials()
	aid, akey := t.AdvancedCredentials()
	fmt.Fprintf(stdout, "Simulated Cortex XDR tenant with %d incidents\n  XDR_BASE_URL=http://%s\n"+
		"  standard key: XDR_AUTH_MODE=standard XDR_API_KEY_ID=%s XDR_API_KEY=%s\n"+
		"  advanced key: XDR_AUTH_MODE=advanced XDR_API_KEY_ID=%s XDR_API_KEY=%s\n"+
		"  (test keys of the simulator; each works in its own mode only, as real keys do)\n",
		*n, embedded.DialAddr(ln.Addr()), id, key, aid, akey)
	fmt.Fprintf(stdout, "Try: curl -s -X POST -H 'Authorization: %s' -H 'x-xdr-auth-id: %s' -H 'Content-Type: application/json' -d '{\"request_data\":{\"search_from\":0,\"search_to\":2}}' http://%s/public_api/v1/incidents/get_incidents/\n", key, id, embedded.DialAddr(ln.Addr()))
	if *mutate > 0 {
		go func() {
			_ = t.RunMutations(ctx, mcfg)
		}()
	}
	return t.Serve(ctx, ln)
}
