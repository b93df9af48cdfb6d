#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# PID 1 of the tcp-handoff test VM (see xtask/src/vm.rs). The root filesystem
# is the host's, read-only over 9p; this script makes the writable bits,
# mounts the run directory, runs the job it finds there and powers off.
# It must never exit: PID 1 exiting panics the kernel.

export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin
export HOME=/root TERM=dumb LANG=C.UTF-8

mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
# What udev/systemd would provide: bash process substitution needs /dev/fd.
ln -sf /proc/self/fd /dev/fd
ln -sf /proc/self/fd/0 /dev/stdin
ln -sf /proc/self/fd/1 /dev/stdout
ln -sf /proc/self/fd/2 /dev/stderr
mkdir -p /dev/pts /dev/shm
mount -t devpts devpts /dev/pts
mount -t tmpfs tmpfs /dev/shm
mount -t tmpfs -o mode=0755 tmpfs /run
mkdir -p /run/results /run/netns /run/repo
mount -t 9p -o trans=virtio,version=9p2000.L,access=any,msize=262144 results /run/results

poweroff_now() {
	sync
	echo o > /proc/sysrq-trigger
	sleep 60
}
trap poweroff_now EXIT

RESULTS=/run/results
if ! . "$RESULTS/job.sh"; then
	echo "handoff-guest: no job.sh in the run directory" >/dev/console
	poweroff_now
fi

# Writable scratch directories. The checkout may live under one of them
# (CI clones into /tmp, say): keep a handle on it first and put it back
# on top of the tmpfs afterwards.
mount --bind "$REPO" /run/repo
for d in /tmp /var/tmp /root /var/log /var/lib/nginx /var/cache; do
	[ -d "$d" ] && mount -t tmpfs -o mode=0755 tmpfs "$d"
done
chmod 1777 /tmp /var/tmp
if [ ! -f "$REPO/xtask/guest/init.sh" ]; then
	mkdir -p "$REPO"
	mount --bind /run/repo "$REPO"
fi
if [ ! -f "$REPO/xtask/guest/init.sh" ]; then
	echo "handoff-guest: cannot see the checkout at $REPO" >/dev/console
	poweroff_now
fi
mount -t debugfs debugfs /sys/kernel/debug 2>/dev/null
export REPO RESULTS VCPUS TESTS TIMEOUT_SCALE
export HANDOFF_KO="$REPO/tcp_handoff.ko"
export HANDOFF_BIN="$REPO/target/release"
# iproute2 loads link_hnic.so from here for `ip link add ... type hnic`.
export IP_LIB_DIR="$REPO/build/ip"

hostname handoff-vm
ip link set lo up

case "$MODE" in
probe)
	;;
demo)
	bash "$REPO/xtask/guest/demo.sh" 2>&1 | tee "$RESULTS/demo.txt" >/dev/console
	;;
check)
	echo "handoff-guest: first test starting" >/dev/console
	bash "$REPO/xtask/guest/run_selftests.sh" $SUITES 2>&1 | tee "$RESULTS/tap.txt" >/dev/console
	;;
bench)
	cd "$REPO/userspace-tools/bench"
	bash "./$SUITES.sh" 2>&1 | tee "$RESULTS/bench.txt" >/dev/console
	[ "${PIPESTATUS[0]}" = 0 ] && touch "$RESULTS/bench.ok"
	;;
esac

dmesg > "$RESULTS/dmesg.txt"
touch "$RESULTS/done"
poweroff_now
