//go:build unix

package progress

import (
	"io"

	"golang.org/x/sys/unix"
)

// termWidth returns the width in columns of the terminal w is, or 0 when w
// is not a terminal or its size is unknown.
func termWidth(w io.Writer) int {
	f, ok := fileOf(w)
	if !ok {
		return 0
	}
	ws, err := unix.IoctlGetWinsize(int(f.Fd()), unix.TIOCGWINSZ)
	if err != nil {
		return 0
	}
	return int(ws.Col)
}
