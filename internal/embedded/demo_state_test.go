package embedded

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr/xdrtest"
)

// TestDemoTenantPersists: the demo's tenant, kept in DATA_DIR, comes back
// the same after a stop, even when the last journal line was cut short by a
// crash; a second process cannot serve it meanwhile.
func TestDemoTenantPersists(t *testing.T) {
	dir := t.TempDir()
	fresh := demoState{Seed: 7, Incidents: 40, MaxAlerts: 20, IndexDelayMs: 0, BulkEvery: 4, BulkSize: 10}
	rate := xdrtest.Config{RateLimit: 10, RateWindow: 2 * time.Second}
	first, err := openDemoTenant(dir, fresh, rate)
	if err != nil {
		t.Fatal(err)
	}
	if first.resumed {
		t.Fatal("a new DATA_DIR resumed a tenant")
	}
	if _, err := openDemoTenant(dir, fresh, rate); !errors.Is(err, ErrDataDirBusy) {
		t.Fatalf("a second open while the tenant is served: %v, want ErrDataDirBusy", err)
	}
	steps := first.mutations(0)
	steps.Steps = 12
	if err := first.tenant.RunMutations(context.Background(), steps); err != nil {
		t.Fatal(err)
	}
	ids, versions := first.tenant.IncidentIDs(), first.tenant.Versions()
	first.close()
	// A crash in the middle of journaling a 13th step.
	f, err := os.OpenFile(filepath.Join(dir, DemoStepsFile), os.O_WRONLY|os.O_APPEND, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString("17"); err != nil {
		t.Fatal(err)
	}
	_ = f.Close()

	// Other settings for a fresh tenant do not change the kept one.
	second, err := openDemoTenant(dir, demoState{Seed: 99, Incidents: 5}, rate)
	if err != nil {
		t.Fatal(err)
	}
	defer second.close()
	if !second.resumed || second.steps != 12 || second.state.Seed != 7 {
		t.Fatalf("resumed %v with %d steps, seed %d; want the kept tenant's 12 steps, seed 7", second.resumed, second.steps, second.state.Seed)
	}
	if !slices.Equal(second.tenant.IncidentIDs(), ids) || !slices.Equal(second.tenant.Versions(), versions) {
		t.Fatal("the resumed tenant differs from the one that stopped")
	}
	// Its changes go on from step 13, on a line of their own.
	more := second.mutations(0)
	more.Steps = 2
	if more.FirstStep != 13 {
		t.Fatalf("changes resume at step %d, want 13", more.FirstStep)
	}
	if err := second.tenant.RunMutations(context.Background(), more); err != nil {
		t.Fatal(err)
	}
	got, err := readSteps(filepath.Join(dir, DemoStepsFile))
	if err != nil || len(got) != 14 {
		t.Fatalf("the journal holds %d steps (%v), want 14", len(got), err)
	}
}
