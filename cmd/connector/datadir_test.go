package main

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
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
	if a := runningBrokerAddr(dir); a != "" {
		t.Errorf("no lock file: running broker %q, want none", a)
	}
	release := holdDataDir(t, dir, syscall.LOCK_SH)
	if a := runningBrokerAddr(dir); a != "" {
		t.Errorf("a reader holds DATA_DIR: running broker %q, want none", a)
	}
	release()
	holdDataDir(t, dir, syscall.LOCK_EX)
	if a := runningBrokerAddr(dir); a != "127.0.0.1:9" {
		t.Errorf("a connector holds DATA_DIR: running broker %q, want 127.0.0.1:9", a)
	}
	if _, _, err := readDataDir(dir); !errors.Is(err, errDataDirBusy) {
		t.Errorf("readDataDir while a connector writes: %v, want errDataDirBusy", err)
	}
}

// TestReadDataDirCopiesTheDataOnly: the copy has the broker's files and
// directories, not the lock and address files, and is removed after.
func TestReadDataDirCopiesTheDataOnly(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{kfakeMarks: "{}", "partitions/t-0/00.log": "records", addrFile: "127.0.0.1:9", lockFile: ""} {
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
	for _, name := range []string{addrFile, lockFile} {
		if _, err := os.Stat(filepath.Join(cp, name)); err == nil {
			t.Errorf("the copy has %s", name)
		}
	}
	remove()
	if _, err := os.Stat(cp); !os.IsNotExist(err) {
		t.Errorf("the copy %s is left after remove: %v", cp, err)
	}
}

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
