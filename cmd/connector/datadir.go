package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// The embedded broker's DATA_DIR holds kfake's files plus two of ours:
//
//	connector.lock  held (flock) by the one process that uses the directory:
//	                the connector running its embedded broker, or
//	                `connector tail` reading the data the connector left
//	broker.addr     the embedded broker's host:port, written by the connector
//	                once it listens and removed when it stops
const (
	lockFile   = "connector.lock"
	addrFile   = "broker.addr"
	kfakeMarks = "meta.json" // kfake writes it once it persisted anything
)

// errDataDirBusy means another process holds DATA_DIR.
var errDataDirBusy = errors.New("DATA_DIR is in use by another process")

// dataDirLock is an exclusive hold on DATA_DIR; Release is idempotent.
type dataDirLock struct {
	f *os.File
}

// lockDataDir takes DATA_DIR for this process without waiting, creating the
// directory when needed. It returns errDataDirBusy (wrapped) when another
// process holds it. The hold ends with Release or with the process.
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := os.MkdirAll(dir, 0o750); err != nil {
		return nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	f, err := os.OpenFile(filepath.Join(dir, lockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the DATA_DIR lock: %w", err)
	}
	if err := tryLock(f); err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return &dataDirLock{f: f}, nil
}

// Release gives DATA_DIR up.
func (l *dataDirLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	unlock(l.f)
	_ = l.f.Close()
	l.f = nil
}

// writeBrokerAddr records where the embedded broker listens, for
// `connector tail` and other tools.
func writeBrokerAddr(dir, addr string) error {
	if err := os.WriteFile(filepath.Join(dir, addrFile), []byte(addr+"\n"), 0o640); err != nil {
		return fmt.Errorf("writing %s: %w", addrFile, err)
	}
	return nil
}

// runningBrokerAddr returns the address of the embedded broker of a
// connector running on dir, or "" when none runs (the lock is free or the
// address was never written).
func runningBrokerAddr(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, addrFile))
	if err != nil {
		return ""
	}
	l, err := lockDataDir(dir)
	if err == nil {
		// Nobody holds the directory: the address is stale (a killed run).
		l.Release()
		return ""
	}
	return strings.TrimSpace(string(b))
}

// hasBrokerData reports whether dir holds data an embedded broker persisted.
func hasBrokerData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, kfakeMarks))
	return err == nil
}
