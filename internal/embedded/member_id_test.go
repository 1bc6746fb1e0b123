package embedded

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// TestDefaultMemberID: processes on one host never share a default member
// id — one DATA_DIR numbers them, two DATA_DIRs differ — and a process that
// ends (its lock released, as by a kill) leaves its id to the next to start.
func TestDefaultMemberID(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data")
	a, la, err := DefaultMemberID(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, lb, err := DefaultMemberID(dir)
	if err != nil {
		t.Fatal(err)
	}
	other, lo, err := DefaultMemberID(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer lo.Release()
	if a == b || a == other || b == other {
		t.Fatalf("ids %q, %q (one DATA_DIR) and %q (another) are not distinct", a, b, other)
	}
	for _, id := range []string{a, b, other} {
		if !config.ValidName(id) {
			t.Errorf("%q is not a valid name", id)
		}
	}
	if !strings.HasSuffix(a, "-0") || !strings.HasSuffix(b, "-1") {
		t.Errorf("ids %q and %q: want the numbers 0 and 1", a, b)
	}
	la.Release()
	again, lagain, err := DefaultMemberID(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer lagain.Release()
	defer lb.Release()
	if again != a {
		t.Errorf("a process started after the first ended got %q, want the first's %q", again, a)
	}
}

func TestNameSafe(t *testing.T) {
	for in, want := range map[string]string{
		"pod-7c9f": "pod-7c9f", "host.example.com": "host.example.com", "weird host/1": "weird-host-1",
		"-x": "x", "": "host", strings.Repeat("h", 200): strings.Repeat("h", 96),
	} {
		if got := nameSafe(in); got != want {
			t.Errorf("nameSafe(%q) = %q, want %q", in, got, want)
		}
	}
}
