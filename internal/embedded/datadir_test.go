package embedded

import (
	"errors"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
)

// TestRunningBrokerAddrTellsAWriterFromAReader: broker.addr names a running
// broker only while a connector holds DATA_DIR exclusively; a reader's
// shared hold (status, tail) leaves a stale address stale.
func TestRunningBrokerAddrTellsAWriterFromAReader(t *testing.T) {
	dir := t.TempDir()
	if err := writeBrokerAddr(dir, "127.0.0.1:9"); err != nil {
		t.Fatal(err)
	}
	if a := RunningBrokerAddr(dir); a != "" {
		t.Errorf("no lock file: running broker %q, want none", a)
	}
	release := holdDataDir(t, dir, syscall.LOCK_SH)
	if a := RunningBrokerAddr(dir); a != "" {
		t.Errorf("a reader holds DATA_DIR: running broker %q, want none", a)
	}
	release()
	holdDataDir(t, dir, syscall.LOCK_EX)
	if a := RunningBrokerAddr(dir); a != "127.0.0.1:9" {
		t.Errorf("a connector holds DATA_DIR: running broker %q, want 127.0.0.1:9", a)
	}
	if _, _, err := readDataDir(dir); !errors.Is(err, ErrDataDirBusy) {
		t.Errorf("readDataDir while a connector writes: %v, want ErrDataDirBusy", err)
	}
}

// TestReadDataDirCopiesTheDataOnly: the copy has the broker's files and
// directories, not the lock and address files, and is removed after.
func TestReadDataDirCopiesTheDataOnly(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{kfakeMarks: "{}", "partitions/t-0/00.log": "records", AddrFile: "127.0.0.1:9", LockFile: ""} {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o750); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o640); err != nil {
			t.Fatal(err)
		}
	}
	holdDataDir(t, dir, syscall.LOCK_SH) // another reader
	cp, remove, err := readDataDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(cp, "partitions/t-0/00.log")); err != nil || string(b) != "records" {
		t.Errorf("copied segment: %q, %v", b, err)
	}
	for _, name := range []string{AddrFile, LockFile} {
		if _, err := os.Stat(filepath.Join(cp, name)); err == nil {
			t.Errorf("the copy has %s", name)
		}
	}
	remove()
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Errorf("the copy %s is left after remove: %v", cp, err)
	}
}

// holdDataDir takes the DATA_DIR lock as another process would (how:
// syscall.LOCK_SH or LOCK_EX), until the returned function or the test ends.
func holdDataDir(t *testing.T, dir string, how int) (release func()) {
	t.Helper()
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		t.Fatal(err)
	}
	if err := syscall.Flock(int(f.Fd()), how|syscall.LOCK_NB); err != nil {
		t.Fatal(err)
	}
	release = sync.OnceFunc(func() { _ = f.Close() })
	t.Cleanup(release)
	return release
}
