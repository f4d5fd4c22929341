#!/usr/bin/env bash
# Installs what specvma's tests use beyond Go: gcc (the live-kernel tests
# build small C targets), binutils and spin (the litmus package's SPIN
# cross-check), and mounts tracefs for the uprobe
# differential tests; checks that the kernel has hugetlbfs. Safe to run again; needs root for the installs and the
# mount, and only warns without it.
set -uo pipefail

need=()
command -v gcc >/dev/null 2>&1 || need+=(gcc libc6-dev)
command -v readelf >/dev/null 2>&1 || need+=(binutils)
# spin: the litmus package cross-checks its protocol verdicts with SPIN.
command -v spin >/dev/null 2>&1 || need+=(spin)
if [ ${#need[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "setup: installing ${need[*]}"
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
	else
		echo "setup: warning: missing ${need[*]} (need root and apt-get to install); the tests that need them will skip" >&2
	fi
fi

if [ "$(uname -s)" = Linux ] && [ ! -e /sys/kernel/tracing/uprobe_events ]; then
	if [ "$(id -u)" = 0 ]; then
		mount -t tracefs nodev /sys/kernel/tracing 2>/dev/null ||
			echo "setup: warning: could not mount tracefs; live uprobe tests will skip" >&2
	else
		echo "setup: warning: tracefs not mounted and not root; live uprobe tests will skip" >&2
	fi
fi
# Huge pages: the differential tests set vm.nr_hugepages and mount
# hugetlbfs on a temporary directory themselves (as root); they need a
# kernel with hugetlbfs.
if [ "$(uname -s)" = Linux ] && ! grep -qw hugetlbfs /proc/filesystems 2>/dev/null; then
	echo "setup: warning: the kernel has no hugetlbfs; the huge page tests will skip" >&2
fi
exit 0
