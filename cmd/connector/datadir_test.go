package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunRefusesAnUnwritableDataDir: a DATA_DIR that cannot be written (here
// under a regular file, as the tests run as root) is named with the fix.
func TestRunRefusesAnUnwritableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, nil, 0o640); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(file, "data")
	out, code := runBinary(t, map[string]string{"DATA_DIR": dir}, "run")
	for _, want := range []string{"DATA_DIR is not writable (" + dir + ": not a directory)", "set DATA_DIR to a directory this user may write", "KAFKA_BROKERS"} {
		if code != 2 || !strings.Contains(out, want) {
			t.Errorf("run on an unwritable DATA_DIR (exit %d, want 2) lacks %q:\n%s", code, want, out)
		}
	}
	if strings.Contains(out, "mkdir ") || strings.Contains(out, "open ") {
		t.Errorf("run on an unwritable DATA_DIR shows a system call's error:\n%s", out)
	}
}
