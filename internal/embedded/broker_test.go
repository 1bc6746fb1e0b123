package embedded

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/soc-tools/xdr-kafka-connector/pkg/config"
)

// With no connector running on DATA_DIR, a command that needs one is refused
// with its own reason, never another command's; one that does not opens the
// data left there.
func TestBrokerForSaysWhyARunningConnectorIsNeeded(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, kfakeMarks), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	const why = "no connector would apply the command"
	_, _, err := BrokerFor(dir, why, true, io.Discard)
	if !errors.Is(err, config.ErrUsage) || !strings.Contains(err.Error(), why) || strings.Contains(err.Error(), "--follow") {
		t.Fatalf("BrokerFor(live) = %v, want a usage error giving the caller's reason", err)
	}
	empty := t.TempDir()
	if _, _, err := BrokerFor(empty, "", false, io.Discard); !errors.Is(err, config.ErrUsage) || !strings.Contains(err.Error(), "holds no embedded broker data") {
		t.Fatalf("BrokerFor on an empty DATA_DIR = %v", err)
	}
}
