//go:build unix

package config

import (
	"fmt"
	"io/fs"
	"os"
	"slices"
	"syscall"
)

// openNonBlocking opens path for reading without blocking on a FIFO with no
// writer (O_NONBLOCK); a regular file reads as usual.
func openNonBlocking(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0)
}

// secretFileWarning says who beyond the process can read a secret file: every
// user when it is world-readable; the members of its group when it is
// group-readable and the group is not one of the process's own (a pod's
// fsGroup, or a user's private group, is). Empty when nobody else can.
func secretFileWarning(fi fs.FileInfo) string {
	perm := fi.Mode().Perm()
	if perm&0o004 != 0 {
		return fmt.Sprintf("the file can be read by every user of the machine (mode %04o): %s", perm, permissionAdvice)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if perm&0o040 == 0 || !ok {
		return ""
	}
	gid := int(st.Gid)
	if gid == os.Getgid() || gid == os.Getegid() {
		return ""
	}
	if groups, err := os.Getgroups(); err == nil && slices.Contains(groups, gid) {
		return ""
	}
	return fmt.Sprintf("the file can be read by the members of group %d, which this process is not in (mode %04o): %s", gid, perm, permissionAdvice)
}
