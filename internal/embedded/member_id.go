package embedded

import (
	"errors"
	"fmt"
	"hash/fnv"
	"os"
	"path/filepath"
	"strings"
)

// maxMembersPerDataDir bounds the numbered member locks of one DATA_DIR.
const maxMembersPerDataDir = 64

// memberLock is this process's hold on a numbered member lock of DATA_DIR,
// which keeps its default member id its own; Release is idempotent.
type memberLock struct {
	f *os.File
}

// DefaultMemberID works out this process's member id in the connector's
// group when KAFKA_GROUP_INSTANCE_ID is unset: the host name, a hash of
// DATA_DIR's absolute path and the number of the first member lock of
// DATA_DIR (member-N.lock) no other live process holds. So two processes on
// one host never share an id (different DATA_DIRs differ in the hash, one
// DATA_DIR in the number), and a process killed and started again takes its
// own id back — the lock dies with the process — and with it, at once, the
// tenants the group had given it. The lock is held until Release or the end
// of the process.
func DefaultMemberID(dataDir string) (string, *memberLock, error) {
	abs, err := filepath.Abs(dataDir)
	if err != nil {
		return "", nil, fmt.Errorf("resolving DATA_DIR: %w", err)
	}
	if err := os.MkdirAll(abs, 0o750); err != nil {
		return "", nil, fmt.Errorf("creating DATA_DIR: %w", err)
	}
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "host"
	}
	h := fnv.New32a()
	_, _ = h.Write([]byte(abs))
	for n := range maxMembersPerDataDir {
		f, err := os.OpenFile(filepath.Join(abs, fmt.Sprintf("member-%d.lock", n)), os.O_RDWR|os.O_CREATE, 0o640)
		if err != nil {
			return "", nil, fmt.Errorf("opening a member lock in DATA_DIR: %w", err)
		}
		switch err := tryLock(f); {
		case err == nil:
			return fmt.Sprintf("%s-%08x-%d", nameSafe(host), h.Sum32(), n), &memberLock{f: f}, nil
		case errors.Is(err, ErrDataDirBusy):
			_ = f.Close()
		default:
			_ = f.Close()
			return "", nil, fmt.Errorf("locking a member lock in DATA_DIR: %w", err)
		}
	}
	return "", nil, fmt.Errorf("all %d member locks of DATA_DIR %s are held by live processes", maxMembersPerDataDir, abs)
}

// Release gives the member id up.
func (l *memberLock) Release() {
	if l == nil || l.f == nil {
		return
	}
	unlock(l.f)
	_ = l.f.Close()
	l.f = nil
}

// nameSafe keeps a host name within the characters of a valid name
// (config.NameRule): others become '-', and it is cut to 96 bytes.
func nameSafe(host string) string {
	b := []byte(host)
	for i, c := range b {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			b[i] = '-'
		}
	}
	s := strings.TrimLeft(string(b), "._-")
	if s == "" {
		s = "host"
	}
	return s[:min(len(s), 96)]
}
