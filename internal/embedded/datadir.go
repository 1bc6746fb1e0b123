package embedded

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// The embedded broker's DATA_DIR holds kfake's files plus two of ours:
//
//	connector.lock  held (flock) exclusively by the one process that writes
//	                the directory: the connector running its embedded broker,
//	                or `connector redrive` writing into the data it left;
//	                `status` and `tail` hold it shared, only while they copy
//	                the data they read (see readDataDir)
//	broker.addr     the embedded broker's host:port, written by the connector
//	                once it listens and removed when it stops
const (
	LockFile   = "connector.lock"
	AddrFile   = "broker.addr"
	kfakeMarks = "meta.json" // kfake writes it once it persisted anything
)

// ErrDataDirBusy means another process holds DATA_DIR.
var ErrDataDirBusy = errors.New("DATA_DIR is in use by another process")

// dataDirLock is an exclusive hold on DATA_DIR; Release is idempotent.
type dataDirLock struct {
	f *os.File
}

// lockDataDir takes DATA_DIR for this process, creating the directory when
// needed; it waits up to readerPatience for readers (readDataDir), not for
// another writer. It returns ErrDataDirBusy (wrapped) when another
// process holds it. The hold ends with Release or with the process.
func lockDataDir(dir string) (*dataDirLock, error) {
	if err := CheckDataDirWritable(dir); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(dir, LockFile), os.O_RDWR|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("opening the DATA_DIR lock: %w", err)
	}
	// `status` and `tail` hold the lock shared while they copy the data;
	// wait that long for them, not for a connector.
	deadline := time.Now().Add(readerPatience)
	for {
		err = tryLock(f)
		if err == nil || !errors.Is(err, ErrDataDirBusy) || time.Now().After(deadline) || RunningBrokerAddr(dir) != "" {
			break
		}
		time.Sleep(50 * time.Millisecond)
	}
	if err != nil {
		_ = f.Close()
		return nil, fmt.Errorf("locking %s: %w", dir, err)
	}
	return &dataDirLock{f: f}, nil
}

// readerPatience is how long lockDataDir waits for `status` and `tail` to
// finish copying DATA_DIR.
const readerPatience = 10 * time.Second

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
	if err := os.WriteFile(filepath.Join(dir, AddrFile), []byte(addr+"\n"), 0o640); err != nil {
		return fmt.Errorf("writing %s: %w", AddrFile, err)
	}
	return nil
}

// RunningBrokerAddr returns the address of the embedded broker of a
// connector running on dir, or "" when none runs (the lock is not held
// exclusively, or the address was never written). It writes nothing, so it
// answers on a read-only DATA_DIR too.
func RunningBrokerAddr(dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, AddrFile))
	if err != nil {
		return ""
	}
	f, err := os.Open(filepath.Join(dir, LockFile))
	if err != nil {
		return "" // no lock: no connector ever ran its broker here
	}
	defer f.Close()
	if err := tryLockShared(f); err == nil {
		// Nobody writes the directory: the address is stale (a killed run).
		unlock(f)
		return ""
	}
	return strings.TrimSpace(string(b))
}

// readDataDir copies the data an embedded broker left in dir into a new
// temporary directory, for a broker that `status` and `tail` open there: they
// never write DATA_DIR, so they work on a read-only one, several at once,
// and beside a `connector redrive`. The copy is made under a shared lock, so
// a connector cannot start writing the directory halfway through (its start
// waits for the copy, see lockDataDir); the lock is given up once the copy is
// made. It returns ErrDataDirBusy (wrapped) when a connector holds dir.
// remove deletes the copy and is never nil on success.
func readDataDir(dir string) (copyDir string, remove func(), err error) {
	if f, err := os.Open(filepath.Join(dir, LockFile)); err == nil {
		defer f.Close()
		if err := tryLockShared(f); err != nil {
			return "", nil, fmt.Errorf("reading %s: %w", dir, err)
		}
		defer unlock(f)
	}
	tmp, err := os.MkdirTemp("", "xdr-connector-data-")
	if err != nil {
		return "", nil, fmt.Errorf("copying the data of %s: %w", dir, err)
	}
	remove = func() { _ = os.RemoveAll(tmp) }
	if err := copyBrokerData(dir, tmp); err != nil {
		remove()
		return "", nil, fmt.Errorf("copying the data of %s: %w", dir, err)
	}
	return tmp, remove, nil
}

// copyBrokerData copies the regular files and directories under src into
// dst, but for this program's own lock and address files.
func copyBrokerData(src, dst string) error {
	return filepath.WalkDir(src, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, err := filepath.Rel(src, path)
		if err != nil {
			return err
		}
		switch {
		case rel == ".":
			return nil
		case rel == LockFile || rel == AddrFile || rel == demoLockFile:
			return nil
		case d.IsDir():
			return os.Mkdir(filepath.Join(dst, rel), 0o700)
		case !d.Type().IsRegular():
			return nil
		}
		return copyFile(path, filepath.Join(dst, rel))
	})
}

func copyFile(src, dst string) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(dst, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		_ = out.Close()
		return err
	}
	return out.Close()
}

// ErrDataDirUnwritable means DATA_DIR cannot be created or written.
var ErrDataDirUnwritable = errors.New("DATA_DIR is not writable")

// CheckDataDirWritable creates dir when needed and writes (then removes) a
// file in it, for `connector run`, whose embedded broker and simulated
// tenant keep their data there. The error names DATA_DIR and the fix rather
// than a system call's.
func CheckDataDirWritable(dir string) error {
	err := os.MkdirAll(dir, 0o750)
	if err == nil {
		var f *os.File
		if f, err = os.CreateTemp(dir, ".write-check-"); err == nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
			return nil
		}
	}
	reason := err.Error()
	if pe, ok := errors.AsType[*fs.PathError](err); ok {
		reason = pe.Err.Error()
	}
	return fmt.Errorf("%w: %w (%s: %s): the embedded Kafka broker and the simulated tenant keep their data there; "+
		"set DATA_DIR to a directory this user may write (in a container, mount a writable volume there), "+
		"or set KAFKA_BROKERS (and XDR_BASE_URL or TENANTS_FILE) so that neither runs", config.ErrUsage, ErrDataDirUnwritable, dir, reason)
}

// hasBrokerData reports whether dir holds data an embedded broker persisted.
func hasBrokerData(dir string) bool {
	_, err := os.Stat(filepath.Join(dir, kfakeMarks))
	return err == nil
}
