//go:build cgroup2guest

package cgroup2

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// TestUnifiedHierarchy checks that the guest is what the suite is for: a
// cgroup v2 host, on which the server made its cgroup in the unified
// hierarchy with the controllers runs need enabled for its children.
func TestUnifiedHierarchy(t *testing.T) {
	b, err := os.ReadFile("/sys/fs/cgroup/cgroup.controllers")
	if err != nil {
		t.Fatalf("no unified hierarchy at /sys/fs/cgroup: %v", err)
	}
	own := filepath.Join("/sys/fs/cgroup", fmt.Sprintf("pecan-%d", shared.PID()))
	sub, err := os.ReadFile(filepath.Join(own, "cgroup.subtree_control"))
	if err != nil {
		t.Fatalf("the server's cgroup: %v", err)
	}
	for _, c := range []string{"cpu", "memory", "pids"} {
		if !slices.Contains(strings.Fields(string(b)), c) {
			t.Errorf("controller %s not available: %q", c, b)
		}
		if !slices.Contains(strings.Fields(string(sub)), c) {
			t.Errorf("controller %s not enabled for runs in %s: %q", c, own, sub)
		}
	}
}
