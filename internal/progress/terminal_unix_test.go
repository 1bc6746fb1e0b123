//go:build linux

package progress

import (
	"os"
	"strconv"
	"testing"

	"golang.org/x/sys/unix"

	"github.com/soc-tools/xdr-kafka-connector/pkg/xdr"
)

// TestIsTerminalLooksThroughTheScrubbingWriter: the commands' output goes
// through a writer that scrubs the process's secrets; a terminal under it
// is still a terminal (the progress display and its width depend on it),
// and a file under it is still not one.
func TestIsTerminalLooksThroughTheScrubbingWriter(t *testing.T) {
	ptmx, err := os.OpenFile("/dev/ptmx", os.O_RDWR, 0)
	if err != nil {
		t.Skipf("no pseudo-terminal here: %v", err)
	}
	defer ptmx.Close()
	if err := unix.IoctlSetPointerInt(int(ptmx.Fd()), unix.TIOCSPTLCK, 0); err != nil {
		t.Fatal(err)
	}
	n, err := unix.IoctlGetInt(int(ptmx.Fd()), unix.TIOCGPTN)
	if err != nil {
		t.Fatal(err)
	}
	tty, err := os.OpenFile("/dev/pts/"+strconv.Itoa(n), os.O_RDWR, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer tty.Close()
	if err := unix.IoctlSetWinsize(int(tty.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 24, Col: 97}); err != nil {
		t.Fatal(err)
	}
	wrapped := xdr.ScrubbingWriter(tty)
	if !IsTerminal(tty) || !IsTerminal(wrapped) {
		t.Errorf("IsTerminal: the terminal %v, through the scrubbing writer %v; want both true", IsTerminal(tty), IsTerminal(wrapped))
	}
	if w := termWidth(wrapped); w != 97 {
		t.Errorf("termWidth through the scrubbing writer = %d, want 97", w)
	}
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if IsTerminal(xdr.ScrubbingWriter(f)) {
		t.Error("a file through the scrubbing writer reads as a terminal")
	}
}
