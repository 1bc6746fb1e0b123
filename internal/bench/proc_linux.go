package bench

import (
	"os/exec"
	"syscall"
)

// dieWithParent makes the kernel send the child SIGTERM if this process
// dies first, so no child outlives an interrupted bench.
func dieWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGTERM}
}
