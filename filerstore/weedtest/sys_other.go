//go:build !linux

package weedtest

import "syscall"

// sysProcAttr returns nil: only Linux can tie weed's life to the test process.
func sysProcAttr() *syscall.SysProcAttr { return nil }
