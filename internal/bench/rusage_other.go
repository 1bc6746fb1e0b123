//go:build !unix

package bench

import (
	"errors"
	"time"
)

// rusage is unavailable without getrusage(2); the cost phase fails with
// this error.
func rusage() (time.Duration, error) {
	return 0, errors.New("reading CPU usage: getrusage is not available on this system")
}
