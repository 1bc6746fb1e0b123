//go:build !unix

package embedded

import "os"

// tryLock does nothing where flock is unavailable: two processes on one
// DATA_DIR are then not prevented.
func tryLock(*os.File) error { return nil }

func tryLockShared(*os.File) error { return nil }

func unlock(*os.File) {}
