package proctable

import (
	"os"
	"os/exec"
	"syscall"
	"testing"
)

func TestListAndDescendants(t *testing.T) {
	// A child with a grandchild: both are descendants of this process.
	cmd := exec.Command("/bin/sh", "-c", "/bin/sleep 30 & wait")
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL); cmd.Wait() }()
	var found map[string]bool
	for range 200 { // the grandchild appears once the shell has forked it
		found = map[string]bool{}
		for _, p := range Descendants(List(), os.Getpid()) {
			found[p.Argv0] = true
		}
		if found["/bin/sleep"] {
			break
		}
		exec.Command("/bin/true").Run() // yields without a sleep
	}
	if !found["/bin/sh"] || !found["/bin/sleep"] {
		t.Errorf("descendants %v, want the shell and its sleep", found)
	}
	self := false
	for _, p := range List() {
		if p.PID == os.Getpid() {
			self = p.PPID == os.Getppid() && p.Exe != ""
		}
	}
	if !self {
		t.Error("List does not show this process with its parent and executable")
	}
}
