// Package cgroup2 proves the container backend on a cgroup v2 host. The
// machines Pecan is developed and tested on have cgroup v1, so the host
// test (vm_test.go) boots Debian's kernel under qemu (TCG: nested KVM does
// not work here) with this machine's root filesystem read-only over 9p, a
// writable 9p share for state and results, and the unified cgroup
// hierarchy mounted; inside it, the guest suite (the files built with the
// tag cgroup2guest, compiled on the host into a test binary) starts a
// real `pecan serve` built on the host and judges through its HTTP API.
//
// The host test fails when a guest case fails, when one is skipped or
// missing, or when the guest does not finish before its deadline (qemu is
// then killed).
package cgroup2
