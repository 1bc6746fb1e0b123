//go:build !linux

package bench

import "os/exec"

// dieWithParent is a no-op where the kernel offers no parent-death signal;
// the broker child still ends when its stdin closes.
func dieWithParent(*exec.Cmd) {}
