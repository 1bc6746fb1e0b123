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
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Tenants is what one `connector run` with a tenants file of N busy tenants
// and one quiet tenant did: per-tenant budget use while every busy tenant
// had a backlog, the child's memory and CPU, and the quiet tenant's
// freshness while the others drained.
type Tenants struct {
	N            int           // busy tenants (the quiet one not counted)
	Backlog      int           // incidents per busy tenant at the start
	Limit        int           // extra-data calls allowed per Window, per tenant
	Window       time.Duration //
	PollInterval time.Duration // the busy tenants' POLL_INTERVAL
	QuietPoll    time.Duration // the quiet tenant's POLL_INTERVAL

	// Budget use per busy tenant over Windows windows from its first call
	// (the reserved first window of a first start comes before it).
	Windows   int
	MinUse    float64
	MedianUse float64
	Admitted  int // over every busy tenant, in the measured windows
	Allowed   int // likewise
	Refused   int // 429s over the whole run, every tenant
	Drained   time.Duration

	PeakRSS     int64         // VmHWM when every backlog was drained, bytes
	RSS         int64         // VmRSS at the end of the caught-up interval, bytes
	CaughtUpFor time.Duration // the caught-up interval over which CPU is measured
	CPU         time.Duration // utime+stime of the child over CaughtUpFor

	// Quiet tenant: versions that became visible while the others drained.
	Versions, Samples  int
	FreshP50, FreshP99 time.Duration
	FreshMax           time.Duration
}

// Cores is the child's CPU use while caught up, in cores.
func (t Tenants) Cores() float64 { return t.CPU.Seconds() / t.CaughtUpFor.Seconds() }

// Targets of the tenants phase: 500 tenants in 512 MiB and 0.2 core.
const (
	TargetTenantsRef    = 500
	TargetTenantsMemory = 512 * 1024 * 1024 // resident set for TargetTenantsRef tenants, at most
	TargetTenantsCores  = 0.2               // cores for TargetTenantsRef tenants caught up, at most
)

const (
	tenantsTopics = "tenants"
	quietTenant   = "quiet"
	clockTicks    = 100 // USER_HZ of /proc/<pid>/stat on Linux
)

// runTenants serves cfg.Tenants busy tenants of cfg.TenantsBacklog incidents
// each plus one quiet tenant without backlog under one listener, writes a
// tenants file for them, runs `<connector> run` with it against the broker,
// and measures until every backlog is drained and then for CaughtUpFor more.
func runTenants(ctx context.Context, cfg Config, brokerAddr string) (Tenants, error) {
	n, lim, w, poll := cfg.Tenants, cfg.RateLimit, cfg.TenantsWindow, time.Second
	r := Tenants{N: n, Backlog: cfg.TenantsBacklog, Limit: lim, Window: w, PollInterval: cfg.TenantsPoll, QuietPoll: poll,
		CaughtUpFor: cfg.TenantsCaughtUpFor}
	// Measure while every busy tenant still has work: its backlog lasts
	// Backlog/Limit windows from its first call; leave the last one out.
	r.Windows = max(1, r.Backlog/lim-1)

	ids := make([]string, 0, n+1)
	for i := range n {
		ids = append(ids, fmt.Sprintf("t%03d", i+1))
	}
	ids = append(ids, quietTenant)
	fleet := xdrtest.NewFleet(ids, func(i int, id string) xdrtest.Config {
		c := xdrtest.Config{Seed: 100 + int64(i), Incidents: r.Backlog, MaxAlerts: 5, RateLimit: lim, RateWindow: w}
		if id == quietTenant {
			c.Incidents = -1
		}
		return c
	})
	// Serve the fleet through a handler that notes the quiet tenant's first
	// get_incidents, so its freshness counts from its first poll on.
	var firstQuietPoll struct {
		sync.Mutex
		at time.Time
	}
	quietPath := xdrtest.FleetPrefix + quietTenant + "/"
	handler := http.HandlerFunc(func(rw http.ResponseWriter, req *http.Request) {
		if strings.HasPrefix(req.URL.Path, quietPath) && strings.Contains(req.URL.Path, xdrtest.EndpointIncidents) {
			firstQuietPoll.Lock()
			if firstQuietPoll.at.IsZero() {
				firstQuietPoll.at = time.Now()
			}
			firstQuietPoll.Unlock()
		}
		fleet.ServeHTTP(rw, req)
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return r, fmt.Errorf("listening for the fleet: %w", err)
	}
	srv := &http.Server{Handler: handler, ReadHeaderTimeout: 10 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	defer func() { _ = srv.Close() }()
	root := "http://" + ln.Addr().String()

	dir, err := os.MkdirTemp("", "xdr-bench-tenants-")
	if err != nil {
		return r, fmt.Errorf("creating a work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	var file strings.Builder
	fmt.Fprintf(&file, "defaults:\n  enrich_rate_limit: %d\n  enrich_rate_window: %s\n  poll_interval: %s\ntenants:\n", lim, w, cfg.TenantsPoll)
	for _, id := range ids {
		file.WriteString(fleet.TenantEntry(root, id))
		if id == quietTenant {
			fmt.Fprintf(&file, "    poll_interval: %s\n", poll)
		}
	}
	tenantsFile := filepath.Join(dir, "tenants.yaml")
	if err := os.WriteFile(tenantsFile, []byte(file.String()), 0o600); err != nil {
		return r, fmt.Errorf("writing the tenants file: %w", err)
	}
	topics, offsetsTopic := phaseTopics(tenantsTopics)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DATA_DIR=" + filepath.Join(dir, "data"),
		"TENANTS_FILE=" + tenantsFile, "KAFKA_BROKERS=" + brokerAddr, "CONNECTOR_NAME=bench-tenants",
		"KAFKA_TOPIC_INCIDENTS=" + topics.Incidents, "KAFKA_TOPIC_ALERTS=" + topics.Alerts,
		"KAFKA_TOPIC_ARTIFACTS=" + topics.Artifacts, "KAFKA_TOPIC_DLQ=" + topics.DLQ,
		"KAFKA_TOPIC_OFFSETS=" + offsetsTopic,
		"XDR_REQUESTS_PER_SECOND=10", "START_FROM=48h",
		"ENRICH_RATE_LIMIT=" + strconv.Itoa(lim), "ENRICH_RATE_WINDOW=" + w.String(), "ENRICH_BULK=off",
		"LOG_LEVEL=warn", "LOG_FORMAT=json",
	}

	// The quiet tenant's change records, by (incident, modification_time):
	// the first record's Kafka timestamp.
	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr), kgo.ConsumeTopics(topics.Incidents),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()), kgo.MetadataMinAge(500*time.Millisecond))
	if err != nil {
		return r, fmt.Errorf("creating the Kafka consumer: %w", err)
	}
	defer kcl.Close()
	var mu sync.Mutex
	seen := map[versionKey]time.Time{}
	cctx, stopConsume := context.WithCancel(ctx)
	consumed := make(chan struct{})
	go func() {
		defer close(consumed)
		for cctx.Err() == nil {
			fs := kcl.PollFetches(cctx)
			fs.EachRecord(func(rec *kgo.Record) {
				if k, ok := quietChange(rec); ok {
					mu.Lock()
					if _, dup := seen[k]; !dup {
						seen[k] = rec.Timestamp
					}
					mu.Unlock()
				}
			})
		}
	}()
	defer func() { stopConsume(); <-consumed }()

	c, err := startRun(cfg.Connector, env)
	if err != nil {
		return r, err
	}
	defer c.stop()
	cmd, exited, out, start := c.cmd, c.exited, c.out, c.started
	gone := func() bool {
		select {
		case <-exited:
			return true
		default:
			return false
		}
	}
	early := func() error {
		return fmt.Errorf("connector run exited early: %s", strings.TrimSpace(out.String()))
	}

	// The quiet tenant changes one incident every 2 s from its first poll.
	quiet := fleet.Tenant(quietTenant)
	polled := func() bool {
		firstQuietPoll.Lock()
		defer firstQuietPoll.Unlock()
		return !firstQuietPoll.at.IsZero() || gone()
	}
	if !waitUntil(ctx, time.Minute+time.Duration(n)*100*time.Millisecond, polled) || gone() {
		if gone() {
			return r, early()
		}
		return r, fmt.Errorf("the quiet tenant was not polled within %s of the start", time.Since(start).Round(time.Second))
	}
	firstQuietPoll.Lock()
	from := firstQuietPoll.at
	firstQuietPoll.Unlock()
	stopMut := runMutations(ctx, quiet, xdrtest.MutationConfig{Interval: 2 * time.Second, MinVersionAge: 2 * time.Second})
	defer func() { _ = stopMut() }()

	// Drained: every busy tenant has had one admitted call per incident.
	busy := ids[:n]
	drained := func() bool {
		if gone() {
			return true
		}
		for _, id := range busy {
			ok := 0
			for _, c := range fleet.Tenant(id).ExtraDataCalls() {
				if c.Status == http.StatusOK {
					ok++
				}
			}
			if ok < r.Backlog {
				return false
			}
		}
		return true
	}
	limit := time.Duration(r.Backlog/lim+3)*w + 2*time.Minute + time.Duration(n)*200*time.Millisecond
	if !waitUntil(ctx, limit, drained) || gone() {
		if gone() {
			return r, early()
		}
		if err := ctx.Err(); err != nil {
			return r, err
		}
		return r, fmt.Errorf("the %d backlogs were not drained within %s", n, limit)
	}
	until := time.Now()
	r.Drained = until.Sub(start)
	pid := cmd.Process.Pid
	if r.PeakRSS, _, err = procMemory(pid); err != nil {
		return r, err
	}

	// Caught up: let the last enrichments settle, then measure CPU.
	sleep(ctx, 2*time.Second)
	cpu0, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	t0 := time.Now()
	sleep(ctx, r.CaughtUpFor)
	cpu1, err := procCPU(pid)
	if err != nil {
		return r, err
	}
	r.CaughtUpFor = time.Since(t0)
	r.CPU = cpu1 - cpu0
	if _, r.RSS, err = procMemory(pid); err != nil {
		return r, err
	}
	if gone() {
		return r, early()
	}
	_ = stopMut()

	// Budget use per busy tenant.
	uses := make([]float64, 0, n)
	for _, id := range busy {
		b := budgetUse(fleet.Tenant(id).ExtraDataCalls(), lim, w, r.Windows)
		uses = append(uses, b.Use)
		r.Admitted += b.Admitted
		r.Allowed += b.Allowed
	}
	for _, id := range ids {
		r.Refused += fleet.Tenant(id).Count429()
	}
	slices.Sort(uses)
	r.MinUse, r.MedianUse = uses[0], uses[len(uses)/2]

	// Freshness of the quiet tenant's versions visible while the others drained.
	var want []xdrtest.Version
	for _, v := range quiet.Versions() {
		if v.VisibleAt >= from.UnixMilli() && v.VisibleAt <= until.UnixMilli() {
			want = append(want, v)
		}
	}
	all := func() bool {
		mu.Lock()
		defer mu.Unlock()
		for _, v := range want {
			if _, ok := seen[versionKey{v.IncidentID, v.ModificationTime}]; !ok {
				return false
			}
		}
		return true
	}
	waitUntil(ctx, poll+10*time.Second, all)
	mu.Lock()
	var lat []time.Duration
	for _, v := range want {
		if at, ok := seen[versionKey{v.IncidentID, v.ModificationTime}]; ok {
			lat = append(lat, at.Sub(time.UnixMilli(v.VisibleAt)))
		}
	}
	mu.Unlock()
	r.Versions, r.Samples = len(want), len(lat)
	if len(lat) > 0 {
		slices.Sort(lat)
		r.FreshP50, r.FreshP99, r.FreshMax = percentile(lat, 0.50), percentile(lat, 0.99), lat[len(lat)-1]
	}
	return r, ctx.Err()
}

// quietChange reports the version of an incident.change record of the quiet
// tenant.
func quietChange(rec *kgo.Record) (versionKey, bool) {
	var tenant, typ string
	for _, h := range rec.Headers {
		switch h.Key {
		case "xdr.tenant":
			tenant = string(h.Value)
		case "xdr.record_type":
			typ = string(h.Value)
		}
	}
	if tenant != quietTenant || typ != "incident.change" {
		return versionKey{}, false
	}
	id, ok := strings.CutPrefix(string(rec.Key), quietTenant+"/")
	if !ok {
		return versionKey{}, false
	}
	var v struct {
		ModificationTime int64 `json:"modification_time"`
	}
	if err := json.Unmarshal(rec.Value, &v); err != nil {
		return versionKey{}, false
	}
	return versionKey{id, v.ModificationTime}, true
}

// procCPU reads utime+stime of a process from /proc/<pid>/stat.
func procCPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, fmt.Errorf("reading the child's CPU time: %w", err)
	}
	// The command name (field 2) is in parentheses and may hold spaces;
	// utime and stime are fields 14 and 15, the 12th and 13th after it.
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("parsing /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("parsing /proc/%d/stat: %d fields", pid, len(f))
	}
	ut, err1 := strconv.ParseInt(f[11], 10, 64)
	st, err2 := strconv.ParseInt(f[12], 10, 64)
	if err1 != nil || err2 != nil {
		return 0, fmt.Errorf("parsing utime and stime of /proc/%d/stat", pid)
	}
	return time.Duration(ut+st) * time.Second / clockTicks, nil
}
