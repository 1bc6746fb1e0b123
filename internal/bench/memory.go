package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/soc-tools/xdr-kafka-connector/pkg/offsets"
	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// Memory is the resident set of `connector run` holding a backlog of
// incidents that wait for enrichment.
type Memory struct {
	Incidents int           // incident versions emitted and queued for enrichment
	Emitted   time.Duration // from the child's start until every change record was acknowledged and every pending enrichment committed
	PeakRSS   int64         // VmHWM, bytes
	RSS       int64         // VmRSS at that moment, bytes
}

// memoryTopics is the topic prefix of the memory phase.
const memoryTopics = "memory"

// runMemory serves a tenant of MemoryIncidents incidents whose budget allows
// one extra-data call an hour, starts `<connector> run` against it and the
// broker, waits until the broker holds a change record for every incident
// and a pending-enrichment record for every incident (so the enrichment
// queue, the tracker and one commit of the whole backlog have all happened),
// then reads the child's VmHWM and VmRSS from /proc/<pid>/status and stops
// it with SIGTERM.
func runMemory(ctx context.Context, cfg Config, brokerAddr string) (Memory, error) {
	m := Memory{Incidents: cfg.MemoryIncidents}
	sim := xdrtest.New(xdrtest.Config{Seed: 15, Incidents: cfg.MemoryIncidents, MaxAlerts: 20, RateLimit: 1, RateWindow: time.Hour})
	base, stopSim := sim.Start()
	defer stopSim()
	keyID, key := sim.Credentials()

	dir, err := os.MkdirTemp("", "xdr-bench-memory-")
	if err != nil {
		return m, fmt.Errorf("creating a work directory: %w", err)
	}
	defer func() { _ = os.RemoveAll(dir) }()
	keyFile := filepath.Join(dir, "api-key")
	if err := os.WriteFile(keyFile, []byte(key), 0o600); err != nil {
		return m, fmt.Errorf("writing the key file: %w", err)
	}
	topics, offsetsTopic := phaseTopics(memoryTopics)
	env := []string{
		"PATH=" + os.Getenv("PATH"), "HOME=" + dir, "DATA_DIR=" + filepath.Join(dir, "data"),
		"XDR_BASE_URL=" + base, "XDR_API_KEY_ID=" + keyID, "XDR_API_KEY_FILE=" + keyFile,
		"KAFKA_BROKERS=" + brokerAddr, "CONNECTOR_NAME=bench-memory", "XDR_TENANT=sim",
		"KAFKA_TOPIC_INCIDENTS=" + topics.Incidents, "KAFKA_TOPIC_ALERTS=" + topics.Alerts,
		"KAFKA_TOPIC_ARTIFACTS=" + topics.Artifacts, "KAFKA_TOPIC_DLQ=" + topics.DLQ,
		"KAFKA_TOPIC_OFFSETS=" + offsetsTopic, "KAFKA_COMPRESSION=" + cfg.Compression,
		"START_FROM=48h", "ENRICH_RATE_LIMIT=1", "ENRICH_RATE_WINDOW=1h", "ENRICH_BULK=off",
		"LOG_LEVEL=warn", "LOG_FORMAT=json",
	}

	kcl, err := kgo.NewClient(kgo.SeedBrokers(brokerAddr))
	if err != nil {
		return m, fmt.Errorf("creating the Kafka client: %w", err)
	}
	defer kcl.Close()
	adm := kadm.NewClient(kcl)

	c, err := startRun(cfg.Connector, env)
	if err != nil {
		return m, err
	}
	defer c.stop()
	cmd, exited, out, start := c.cmd, c.exited, c.out, c.started

	n := int64(cfg.MemoryIncidents)
	// The first poll reads every incident page by page; allow the
	// simulator 5ms a page on top of a generous base.
	limit := 2*time.Minute + time.Duration(n/100)*100*time.Millisecond
	wctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	store, err := offsets.NewStore(kcl, offsets.StoreConfig{Topic: offsetsTopic, Connector: "bench-memory", Tenant: "sim",
		ClientOpts: []kgo.Opt{kgo.SeedBrokers(brokerAddr)}})
	if err != nil {
		return m, err
	}
	// Every change record acknowledged means every enrichment was owed and
	// queued (the pipeline queues before it publishes); the committed state
	// then shows the whole backlog once the next commit has been written.
	// Each settled enrichment is one extra-data call.
	var ready bool
	var lastLoad time.Time
	waitUntil(wctx, limit, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		if changes, err := endOffsets(wctx, adm, topics.Incidents); err != nil || changes < n || time.Since(lastLoad) < time.Second {
			return false
		}
		lastLoad = time.Now()
		st, found, err := store.Load(wctx)
		ready = err == nil && found && int64(len(st.Pending)+len(sim.ExtraDataCalls())) >= n
		return ready
	})
	select {
	case <-exited:
		return m, fmt.Errorf("connector run exited early: %s", strings.TrimSpace(out.String()))
	default:
	}
	if err := ctx.Err(); err != nil {
		return m, err
	}
	if !ready {
		return m, fmt.Errorf("connector run did not emit and queue %d incidents within %s", n, limit)
	}
	m.Emitted = time.Since(start)
	if m.PeakRSS, m.RSS, err = procMemory(cmd.Process.Pid); err != nil {
		return m, err
	}
	return m, nil
}

// endOffsets sums the end offsets of topic's partitions: the records written
// to it, as no data topic here is compacted or transactional.
func endOffsets(ctx context.Context, adm *kadm.Client, topic string) (int64, error) {
	ends, err := adm.ListEndOffsets(ctx, topic)
	if err != nil {
		return 0, err
	}
	if err := ends.Error(); err != nil {
		return 0, err
	}
	var sum int64
	ends.Each(func(o kadm.ListedOffset) { sum += o.Offset })
	return sum, nil
}

// procMemory reads VmHWM and VmRSS of a process, in bytes.
func procMemory(pid int) (hwm, rss int64, err error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, 0, fmt.Errorf("reading the child's memory: %w", err)
	}
	defer func() { _ = f.Close() }()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || (k != "VmHWM" && k != "VmRSS") {
			continue
		}
		kb, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("parsing %s of the child: %w", k, err)
		}
		if k == "VmHWM" {
			hwm = kb * 1024
		} else {
			rss = kb * 1024
		}
	}
	if hwm == 0 || rss == 0 {
		return 0, 0, errors.New("reading the child's memory: no VmHWM or VmRSS in /proc/<pid>/status")
	}
	return hwm, rss, nil
}

// child is a `connector run` child process of a phase.
type child struct {
	cmd     *exec.Cmd
	exited  chan struct{}    // closed when it has exited
	out     *strings.Builder // the first 16 KiB of its output
	started time.Time
}

// startRun starts `<connector> run` with env, dying with the bench.
func startRun(connector string, env []string) (*child, error) {
	c := &child{cmd: exec.Command(connector, "run"), exited: make(chan struct{}), out: &strings.Builder{}}
	c.cmd.Env = env
	dieWithParent(c.cmd)
	lw := &limitedWriter{w: c.out, n: 16 << 10}
	c.cmd.Stdout, c.cmd.Stderr = lw, lw
	c.started = time.Now()
	if err := c.cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s run: %w", connector, err)
	}
	go func() { _ = c.cmd.Wait(); close(c.exited) }()
	return c, nil
}

// stop stops the child with SIGTERM, or kills it after 30 s.
func (c *child) stop() {
	_ = c.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-c.exited:
	case <-time.After(30 * time.Second):
		_ = c.cmd.Process.Kill()
		<-c.exited
	}
}
