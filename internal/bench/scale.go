package bench

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/record"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Scale is what the scale phase measured: Replicas `connector run`
// processes with one tenants file, sharing the tenants over Kafka group
// membership, started one after another; then one of them SIGKILLed.
type Scale struct {
	Tenants, Replicas int
	SessionTimeout    time.Duration // KAFKA_GROUP_SESSION_TIMEOUT
	Heartbeat         time.Duration // KAFKA_GROUP_HEARTBEAT_INTERVAL
	PollInterval      time.Duration // POLL_INTERVAL of every tenant

	// Counts is the number of tenants running in each replica, in start
	// order, once all of them had joined and every tenant ran in exactly one
	// (or when the wait for max − min ≤ 1 ran out). After is the same for
	// the survivors once they ran every tenant after the SIGKILL.
	Counts, After []int

	// Moved is the number of tenants the killed replica ran; Polled, of
	// those, the ones another replica polled successfully afterwards.
	// Handover is, for each of those, the time from the SIGKILL to the reply
	// of the new owner's first successful get_incidents; sorted.
	Moved, Polled int
	Handover      []time.Duration
	Refused       int // 429s over the whole run, every tenant

	// LongEnough: every version visible at least this long must be in
	// Kafka (the handover target or the slowest measured handover, whichever
	// is longer, plus one POLL_INTERVAL). Versions of them, Seen with an
	// incident.change record; Shorter versions lived less (a handover may
	// have hidden them), ShorterSeen of them are in Kafka all the same.
	LongEnough           time.Duration
	Versions, Seen       int
	Shorter, ShorterSeen int
	// Incidents at the end, and Enriched: those whose newest
	// incident.enriched record is of the incident's final version.
	Incidents, Enriched int
}

// Balance is max − min of Counts; -1 without counts.
func (s Scale) Balance() int {
	if len(s.Counts) == 0 {
		return -1
	}
	return slices.Max(s.Counts) - slices.Min(s.Counts)
}

// HandoverTarget is the handover time allowed: the session timeout plus
// TargetHandoverSlack.
func (s Scale) HandoverTarget() time.Duration { return s.SessionTimeout + TargetHandoverSlack }

// HandoverP50 and HandoverMax are the median and the slowest handover; 0
// without samples.
func (s Scale) HandoverP50() time.Duration {
	if len(s.Handover) == 0 {
		return 0
	}
	return percentile(s.Handover, 0.5)
}

func (s Scale) HandoverMax() time.Duration {
	if len(s.Handover) == 0 {
		return 0
	}
	return s.Handover[len(s.Handover)-1]
}

// Targets of the scale phase.
const (
	TargetHandoverSlack = 5 * time.Second // a moved tenant is polled again within the session timeout plus this
	TargetBalance       = 1               // max − min tenants per replica
)

const (
	scaleTopics   = "scale"
	scaleConsumer = "bench-scale"
	// scaleIndexDelay is how long after its stamp a change becomes visible.
	scaleIndexDelay = 300 * time.Millisecond
)

// firstOK returns, for each tenant of ids, the reply time of the first
// successful get_incidents call in calls that arrived at or after from,
// from a replica other than not.
func firstOK(calls []xdrtest.Request, ids []string, not string, from time.Time) map[string]time.Time {
	want := map[string]bool{}
	for _, id := range ids {
		want[id] = true
	}
	out := map[string]time.Time{}
	for _, c := range calls {
		if !want[c.Tenant] || c.Endpoint != xdrtest.EndpointIncidents || c.Status != http.StatusOK ||
			c.Replica == not || c.Replica == "" || c.Arrived.Before(from) {
			continue
		}
		if at, ok := out[c.Tenant]; !ok || c.Replied.Before(at) {
			out[c.Tenant] = c.Replied
		}
	}
	return out
}

// scaleReplica is one `connector run` of the scale phase.
type scaleReplica struct {
	name string // its KAFKA_GROUP_INSTANCE_ID, named in its User-Agent
	addr string // its HTTP_ADDR
	c    *child
}

func (r *scaleReplica) gone() bool {
	select {
	case <-r.c.exited:
		return true
	default:
		return false
	}
}

// running lists the tenants the replica's GET /tenants reports running; nil
// if it does not answer.
func (r *scaleReplica) running(ctx context.Context) []string {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, "http://"+r.addr+"/tenants", nil)
	if err != nil {
		return nil
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil
	}
	defer func() { _ = resp.Body.Close() }()
	var list []struct{ ID, State string }
	if resp.StatusCode != http.StatusOK || json.NewDecoder(resp.Body).Decode(&list) != nil {
		return nil
	}
	var out []string
	for _, s := range list {
		if s.State == "running" {
			out = append(out, s.ID)
		}
	}
	return out
}

// freeLoopback returns a loopback address nothing listens on now.
func freeLoopback() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", fmt.Errorf("finding a free port: %w", err)
	}
	defer func() { _ = ln.Close() }()
	return ln.Addr().String(), nil
}

// runScale serves cfg.ScaleTenants simulated tenants, each with
// cfg.ScaleIncidents incidents and changing all the time (bulk
// same-millisecond updates among the changes), starts cfg.ScaleReplicas
// `connector run` processes with one tenants file and KAFKA_GROUP_ENABLED
// one after another, each once the ones before share the tenants, waits
// until they are balanced, SIGKILLs the second, and measures how long each
// of its tenants waits for its new owner's first successful poll. The
// changes go on for cfg.ScaleMutateAfter more, then stop, and the phase
// waits until every version that stayed visible long enough and every
// final enrichment is in Kafka (or a drain limit passes), then stops the
// survivors with SIGTERM.
func runScale(ctx context.Context, cfg Config, brokerAddr string, say func(string, ...any)) (Scale, error) {
	n, session := cfg.ScaleTenants, cfg.ScaleSession
	s := Scale{Tenants: n, Replicas: cfg.ScaleReplicas, SessionTimeout: session, Heartbeat: min(time.Second, session/3),
		PollInterval: cfg.ScalePoll}
	rebalance := 2*session + time.Second
	shutdown := session

	ids := make([]string, n)
	for i := range ids {
		ids[i] = fmt.Sprintf("t%02d", i+1)
	}
	fleet := xdrtest.NewFleet(ids, func(i int, _ string) xdrtest.Config {
		return xdrtest.Config{Seed: 700 + int64(i), Incidents: cfg.ScaleIncidents, MaxAlerts: 4,
			RateLimit: cfg.RateLimit, RateWindow: cfg.RateWindow, IndexDelay: scaleIndexDelay}
	})
	log := &xdrtest.CallLog{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return s, fmt.Errorf("listening for the fleet: %w", err)
	}
	srv := &http.Server{Handler: log.Wrap(fleet), ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	root := "http://" + ln.Addr().String()

	dir, err := os.MkdirTemp("", "xdr-bench-scale-")
	if err != nil {
		return s, fmt.Errorf("creating a work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, []byte(fleet.TenantsFile(root, ids...)), 0o600); err != nil {
		return s, fmt.Errorf("writing the tenants file: %w", err)
	}
	topics, offsetsTopic := phaseTopics(scaleTopics)
	baseEnv := []string{
		"PATH=" + os.Getenv("PATH"), "TENANTS_FILE=" + tenantsFile, "KAFKA_BROKERS=" + brokerAddr, "CONNECTOR_NAME=" + scaleConsumer,
		"KAFKA_TOPIC_INCIDENTS=" + topics.Incidents, "KAFKA_TOPIC_ALERTS=" + topics.Alerts,
		"KAFKA_TOPIC_ARTIFACTS=" + topics.Artifacts, "KAFKA_TOPIC_DLQ=" + topics.DLQ,
		"KAFKA_TOPIC_OFFSETS=" + offsetsTopic, "KAFKA_TOPIC_SLOTS=" + scaleTopics + ".slots",
		"KAFKA_GROUP_ENABLED=true", "KAFKA_GROUP_SESSION_TIMEOUT=" + session.String(),
		"KAFKA_GROUP_HEARTBEAT_INTERVAL=" + s.Heartbeat.String(), "KAFKA_GROUP_REBALANCE_TIMEOUT=" + rebalance.String(),
		"SHUTDOWN_TIMEOUT=" + shutdown.String(),
		"POLL_INTERVAL=" + cfg.ScalePoll.String(), "START_FROM=48h", "XDR_REQUESTS_PER_SECOND=10",
		"ENRICH_RATE_LIMIT=" + strconv.Itoa(cfg.RateLimit), "ENRICH_RATE_WINDOW=" + cfg.RateWindow.String(), "ENRICH_BULK=off",
		"LOG_LEVEL=warn", "LOG_FORMAT=json",
	}

	// Every record of the incidents topic, from the start.
	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.ConsumeTopics(topics.Incidents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(500*time.Millisecond))
	if err != nil {
		return s, fmt.Errorf("creating the Kafka consumer: %w", err)
	}
	defer kcl.Close()
	var mu sync.Mutex
	changes := map[string]bool{}   // tenant/incident@modification_time
	enriched := map[string]int64{} // tenant/incident: newest enriched version
	cctx, stopConsume := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for cctx.Err() == nil {
			kcl.PollFetches(cctx).EachRecord(func(rec *kgo.Record) {
				var env record.Envelope
				if json.Unmarshal(rec.Value, &env) != nil {
					return
				}
				k := env.Tenant + "/" + env.IncidentID
				mu.Lock()
				switch env.RecordType {
				case record.TypeIncidentChange:
					changes[k+"@"+strconv.FormatInt(env.ModificationTime, 10)] = true
				case record.TypeIncidentEnriched:
					enriched[k] = max(enriched[k], env.ModificationTime)
				}
				mu.Unlock()
			})
		}
	}()
	defer func() { stopConsume(); <-consumed }()

	var replicas []*scaleReplica
	defer func() {
		for _, r := range replicas {
			if !r.gone() {
				r.c.stop()
			}
		}
	}()
	start := func(name string) (*scaleReplica, error) {
		addr, err := freeLoopback()
		if err != nil {
			return nil, err
		}
		rdir := filepath.Join(dir, name)
		env := append(slices.Clone(baseEnv), "HOME="+rdir, "DATA_DIR="+filepath.Join(rdir, "data"),
			"HTTP_ADDR="+addr, "HTTP_TENANTS_ENABLED=true", "KAFKA_GROUP_INSTANCE_ID="+name)
		c, err := startRun(cfg.Connector, env)
		if err != nil {
			return nil, err
		}
		r := &scaleReplica{name: name, addr: addr, c: c}
		replicas = append(replicas, r)
		return r, nil
	}
	early := func(rs []*scaleReplica) error {
		for _, r := range rs {
			if r.gone() {
				return fmt.Errorf("replica %s exited early: %s", r.name, strings.TrimSpace(r.c.out.String()))
			}
		}
		return nil
	}
	// spread reports the tenants each of rs runs and whether every tenant
	// runs in exactly one of them.
	spread := func(rs []*scaleReplica) ([]int, bool) {
		seen := map[string]int{}
		counts := make([]int, len(rs))
		for i, r := range rs {
			run := r.running(ctx)
			counts[i] = len(run)
			for _, id := range run {
				seen[id]++
			}
		}
		for _, id := range ids {
			if seen[id] != 1 {
				return counts, false
			}
		}
		return counts, true
	}
	// share waits until rs run every tenant once with max − min ≤ 1, and
	// returns the counts then. Covered but not balanced when the limit
	// passes is a result (a MISS); not covered is an error.
	share := func(what string, rs []*scaleReplica) ([]int, error) {
		limit := 60*time.Second + 4*session
		t0 := time.Now()
		var counts []int
		var covered bool
		waitUntil(ctx, limit, func() bool {
			if early(rs) != nil {
				return true
			}
			counts, covered = spread(rs)
			return covered && slices.Max(counts)-slices.Min(counts) <= TargetBalance
		})
		if err := early(rs); err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if !covered {
			return nil, fmt.Errorf("%s: the replicas did not run every tenant exactly once within %s (tenants each: %v)", what, limit, counts)
		}
		say("scale: %s: %v tenants (%s)", what, counts, time.Since(t0).Round(100*time.Millisecond))
		return counts, nil
	}

	// The replicas start one after another, each once the ones before
	// share the tenants; the changes begin once the first runs them all.
	stopMut := func() {}
	defer func() { stopMut() }()
	for i := range s.Replicas {
		r, err := start(fmt.Sprintf("r%d", i+1))
		if err != nil {
			return s, err
		}
		what := fmt.Sprintf("%s joined, the %d replicas share the tenants", r.name, i+1)
		if i == 0 {
			what = r.name + " runs every tenant"
		}
		counts, err := share(what, replicas)
		if err != nil {
			return s, err
		}
		s.Counts = counts
		if i == 0 {
			mctx, cancel := context.WithCancel(ctx)
			mutDone := make(chan struct{})
			go func() {
				defer close(mutDone)
				_ = fleet.RunMutations(mctx, xdrtest.MutationConfig{Interval: time.Second, BulkEvery: 10, BulkSize: 5,
					MinVersionAge: 2*cfg.ScalePoll + scaleIndexDelay})
			}()
			stopMut = sync.OnceFunc(func() { cancel(); <-mutDone })
		}
	}
	// Let the last rebalance settle and the changes run a little.
	sleep(ctx, 2*time.Second)

	// SIGKILL the second replica.
	victim := replicas[1]
	moved := victim.running(ctx)
	if len(moved) == 0 {
		return s, fmt.Errorf("replica %s ran no tenant before the SIGKILL", victim.name)
	}
	s.Moved = len(moved)
	say("scale: SIGKILL %s, which runs %d tenants", victim.name, s.Moved)
	killedAt := time.Now()
	if err := victim.c.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		return s, fmt.Errorf("killing replica %s: %w", victim.name, err)
	}
	<-victim.c.exited
	survivors := slices.DeleteFunc(slices.Clone(replicas), func(r *scaleReplica) bool { return r == victim })

	// Handover: from the SIGKILL to each moved tenant's first successful
	// poll by another replica.
	limit := s.HandoverTarget() + 60*time.Second
	var firsts map[string]time.Time
	waitUntil(ctx, limit, func() bool {
		firsts = firstOK(log.Of(""), moved, victim.name, killedAt)
		return len(firsts) == len(moved) || early(survivors) != nil
	})
	if err := early(survivors); err != nil {
		return s, err
	}
	if err := ctx.Err(); err != nil {
		return s, err
	}
	firsts = firstOK(log.Of(""), moved, victim.name, killedAt)
	for _, at := range firsts {
		s.Handover = append(s.Handover, at.Sub(killedAt))
	}
	slices.Sort(s.Handover)
	s.Polled = len(s.Handover)
	say("scale: %d of %d moved tenants polled by their new owner; median %s, max %s", s.Polled, s.Moved,
		s.HandoverP50().Round(10*time.Millisecond), s.HandoverMax().Round(10*time.Millisecond))
	after, err := share("the survivors share the tenants", survivors)
	if err != nil {
		return s, err
	}
	s.After = after

	// The changes go on a while, then stop; then everything drains.
	sleep(ctx, cfg.ScaleMutateAfter)
	stopMut()
	s.LongEnough = max(s.HandoverTarget(), s.HandoverMax()) + cfg.ScalePoll
	longMs := s.LongEnough.Milliseconds()
	type want struct {
		key      string
		required bool
	}
	var versions []want
	finals := map[string]int64{}
	mostIncidents := 0
	for _, id := range ids {
		tn := fleet.Tenant(id)
		for _, v := range tn.Versions() {
			if tr, _ := tn.Truth(v.IncidentID); tr.Restricted {
				continue
			}
			versions = append(versions, want{id + "/" + v.IncidentID + "@" + strconv.FormatInt(v.ModificationTime, 10),
				v.SupersededAt == 0 || v.SupersededAt-v.VisibleAt >= longMs})
		}
		incs := tn.IncidentIDs()
		mostIncidents = max(mostIncidents, len(incs))
		for _, inc := range incs {
			if tr, _ := tn.Truth(inc); !tr.Restricted {
				finals[id+"/"+inc] = tr.ModificationTime
			}
		}
	}
	count := func() (seen, shorterSeen, done int) {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range versions {
			switch {
			case v.required && changes[v.key]:
				seen++
			case !v.required && changes[v.key]:
				shorterSeen++
			}
		}
		for k, mod := range finals {
			if enriched[k] == mod {
				done++
			}
		}
		return seen, shorterSeen, done
	}
	for _, v := range versions {
		if v.required {
			s.Versions++
		} else {
			s.Shorter++
		}
	}
	s.Incidents = len(finals)
	drainFor := time.Duration(mostIncidents/cfg.RateLimit+3)*cfg.RateWindow + 60*time.Second
	say("scale: changes stopped; waiting up to %s for %d versions and %d final enrichments", drainFor.Round(time.Second), s.Versions, s.Incidents)
	waitUntil(ctx, drainFor, func() bool {
		seen, _, done := count()
		return seen == s.Versions && done == s.Incidents || early(survivors) != nil
	})
	if err := early(survivors); err != nil {
		return s, err
	}
	s.Seen, s.ShorterSeen, s.Enriched = count()
	for _, id := range ids {
		s.Refused += fleet.Tenant(id).Count429()
	}
	return s, ctx.Err()
}
