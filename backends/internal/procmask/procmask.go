// Package procmask lists what of /proc and /sys every backend that can
// hides from programs.
package procmask

// Paths are hidden from programs (an empty file or directory is
// mounted over them): container runtimes' default list, plus what tells
// about the host and its kernel without being needed to judge.
func Paths() []string {
	return []string{
		"/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
		"/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/proc/scsi", "/sys/firmware",
		"/proc/cmdline", "/proc/config.gz", "/proc/kallsyms", "/proc/modules", "/proc/kmsg",
		"/proc/vmallocinfo", "/proc/iomem", "/proc/ioports", "/proc/interrupts", "/proc/softirqs",
		"/proc/partitions", "/proc/diskstats", "/proc/swaps", "/proc/devices", "/proc/buddyinfo",
		"/proc/pagetypeinfo", "/proc/zoneinfo", "/proc/slabinfo", "/proc/mdstat", "/proc/fs",
		"/proc/sys/kernel/random/boot_id", "/proc/sys/kernel/random/uuid", "/proc/sys/fs/binfmt_misc",
	}
}
