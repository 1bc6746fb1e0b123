//go:build unix

package bench

import (
	"fmt"
	"syscall"
	"time"
)

// rusage returns the user + system CPU time this process has used.
func rusage() (time.Duration, error) {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0, fmt.Errorf("reading CPU usage: %w", err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()), nil
}
