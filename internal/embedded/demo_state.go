package embedded

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// The demo's simulated tenant lives in DATA_DIR beside the embedded broker's
// data, so that a restart resumes the same tenant — its incidents, versions
// and changes — as the offsets kept there expect, as a real tenant would:
//
//	simulated-tenant.json   the tenant's seed and settings, and when it was generated
//	simulated-tenant.steps  the instant of each change step (epoch ms, one a line),
//	                        written before the step is applied
//	simulated-tenant.lock   held (flock) by the process serving the tenant
//
// A restart rebuilds the tenant with xdrtest.Replay: generation at the
// recorded instant, then every recorded step at its instant. While the
// connector is stopped, the tenant does not change.
const (
	DemoStateFile = "simulated-tenant.json"
	DemoStepsFile = "simulated-tenant.steps"
	demoLockFile  = "simulated-tenant.lock"
)

// demoState is the content of simulated-tenant.json: what, with the steps,
// defines the tenant. Settings that do not shape its data (the rate window,
// the change interval) are not kept: they follow the configuration of each run.
type demoState struct {
	Seed            int64 `json:"seed"`
	Incidents       int   `json:"incidents"`
	MaxAlerts       int   `json:"max_alerts"`
	IndexDelayMs    int64 `json:"index_delay_ms"`
	GeneratedAtMs   int64 `json:"generated_at_ms"`
	BulkEvery       int   `json:"bulk_every"`
	BulkSize        int   `json:"bulk_size"`
	MinVersionAgeMs int64 `json:"min_version_age_ms"`
}

func (s demoState) config() xdrtest.Config {
	return xdrtest.Config{Seed: s.Seed, Incidents: s.Incidents, MaxAlerts: s.MaxAlerts,
		IndexDelay: time.Duration(s.IndexDelayMs) * time.Millisecond}
}

func (s demoState) mutations() xdrtest.MutationConfig {
	return xdrtest.MutationConfig{BulkEvery: s.BulkEvery, BulkSize: s.BulkSize,
		MinVersionAge: time.Duration(s.MinVersionAgeMs) * time.Millisecond}
}

// persistedTenant is the demo's simulated tenant with its journal open.
type persistedTenant struct {
	tenant  *xdrtest.Tenant
	state   demoState
	steps   int       // steps taken so far, replayed ones included
	resumed bool      // rebuilt from DATA_DIR rather than new
	started time.Time // when the tenant was first generated

	f    *os.File // simulated-tenant.steps, for appending
	lock *os.File
}

// openDemoTenant resumes the simulated tenant kept in dir, or, when there is
// none, creates fresh from fresh (its GeneratedAtMs is set to now) and keeps
// it there. rate settings and the clock are not part of the state. It
// returns ErrDataDirBusy (wrapped) while another process serves the tenant.
func openDemoTenant(dir string, fresh demoState, rate xdrtest.Config) (*persistedTenant, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, demoLockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the simulated tenant's lock: %w", err)
	}
	if err := tryLock(lock); err != nil {
		_ = lock.Close()
		return nil, fmt.Errorf("locking the simulated tenant in %s: %w", dir, err)
	}
	p, err := loadDemoTenant(dir, fresh, rate)
	if err != nil {
		unlock(lock)
		_ = lock.Close()
		return nil, err
	}
	p.lock = lock
	return p, nil
}

func loadDemoTenant(dir string, fresh demoState, rate xdrtest.Config) (*persistedTenant, error) {
	statePath, stepsPath := filepath.Join(dir, DemoStateFile), filepath.Join(dir, DemoStepsFile)
	b, err := os.ReadFile(statePath)
	if errors.Is(err, os.ErrNotExist) {
		fresh.GeneratedAtMs = time.Now().UnixMilli()
		b, _ := json.MarshalIndent(fresh, "", "  ")
		// The steps file first: a state file always has its steps file.
		if err := writeFileAtomic(stepsPath, nil, 0o640); err != nil {
			return nil, fmt.Errorf("writing %s: %w", DemoStepsFile, err)
		}
		if err := writeFileAtomic(statePath, append(b, '\n'), 0o640); err != nil {
			return nil, fmt.Errorf("writing %s: %w", DemoStateFile, err)
		}
		return openSteps(fresh, rate, stepsPath, nil, false)
	}
	if err != nil {
		return nil, fmt.Errorf("reading the simulated tenant: %w", err)
	}
	var st demoState
	if err := json.Unmarshal(b, &st); err != nil || st.GeneratedAtMs <= 0 {
		return nil, fmt.Errorf("reading the simulated tenant: %s is not valid (%v); remove DATA_DIR to start over", statePath, err)
	}
	steps, err := readSteps(stepsPath)
	if err != nil {
		return nil, fmt.Errorf("reading the simulated tenant: %w; remove DATA_DIR to start over", err)
	}
	return openSteps(st, rate, stepsPath, steps, true)
}

// openSteps builds the tenant of st (replaying steps) and opens the steps
// file for appending.
func openSteps(st demoState, rate xdrtest.Config, stepsPath string, steps []time.Time, resumed bool) (*persistedTenant, error) {
	cfg := st.config()
	cfg.RateLimit, cfg.RateWindow, cfg.Now = rate.RateLimit, rate.RateWindow, rate.Now
	cfg.BulkRateLimit, cfg.BulkRateWindow = rate.BulkRateLimit, rate.BulkRateWindow
	t, err := xdrtest.Replay(cfg, st.mutations(), time.UnixMilli(st.GeneratedAtMs), steps)
	if err != nil {
		return nil, fmt.Errorf("reading the simulated tenant: %w; remove DATA_DIR to start over", err)
	}
	f, err := os.OpenFile(stepsPath, os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		return nil, fmt.Errorf("opening %s: %w", DemoStepsFile, err)
	}
	return &persistedTenant{tenant: t, state: st, steps: len(steps), resumed: resumed,
		started: time.UnixMilli(st.GeneratedAtMs), f: f}, nil
}

// readSteps reads the step instants of path. A last line without its
// newline (a write cut short by a crash) is dropped, and the file truncated
// to the complete lines, so that the next append starts a line of its own.
func readSteps(path string) ([]time.Time, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if i := bytes.LastIndexByte(b, '\n'); i+1 != len(b) {
		b = b[:i+1]
		if err := os.Truncate(path, int64(len(b))); err != nil {
			return nil, err
		}
	}
	var steps []time.Time
	sc := bufio.NewScanner(bytes.NewReader(b))
	for n := 1; sc.Scan(); n++ {
		ms, err := strconv.ParseInt(string(sc.Bytes()), 10, 64)
		if err != nil {
			return nil, fmt.Errorf("%s line %d: %q is not an epoch-ms instant", DemoStepsFile, n, sc.Text())
		}
		steps = append(steps, time.UnixMilli(ms))
	}
	return steps, sc.Err()
}

// journal records a step before the tenant applies it (see
// xdrtest.MutationConfig.Journal). It is called from one goroutine.
func (p *persistedTenant) journal(step int, at time.Time) error {
	if step != p.steps+1 {
		return fmt.Errorf("step %d after %d steps", step, p.steps)
	}
	// The step stamps the milliseconds of at; so does the replay.
	if _, err := io.WriteString(p.f, strconv.FormatInt(at.UnixMilli(), 10)+"\n"); err != nil {
		return err
	}
	p.steps++
	return nil
}

// mutations is the MutationConfig that continues the tenant's changes every
// interval, journaled.
func (p *persistedTenant) mutations(interval time.Duration) xdrtest.MutationConfig {
	m := p.state.mutations()
	m.Interval, m.FirstStep, m.Journal = interval, p.steps+1, p.journal
	return m
}

// close closes the journal and gives the tenant up. Call it once the
// mutations stopped.
func (p *persistedTenant) close() {
	_ = p.f.Close()
	unlock(p.lock)
	_ = p.lock.Close()
}
