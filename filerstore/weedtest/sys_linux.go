package weedtest

import "syscall"

// sysProcAttr makes the kernel kill weed when the test process dies, so no filer outlives a
// crashed test binary.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
