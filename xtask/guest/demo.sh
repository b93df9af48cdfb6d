#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`, guest side: what tcp_handoff does today, shown live.
# Grows with the project (handoff and restore of real connections come with
# the bypass layer).

. "$REPO/selftests/lib.sh"

step() { printf '\n=== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "guest: $(uname -r), $(nproc) CPUs"
show insmod "$HANDOFF_KO"
show sh -c 'dmesg | grep tcp_handoff'
show sysctl net.handoff

step "every network namespace gets its own net.handoff table"
show ip netns add demo
show ip netns exec demo sysctl net.handoff.version
show ip netns del demo

step "an hnic pair: two NICs, each with a firmware thread on its own CPU"
show ip netns add srv
show ip netns add cli
show ip -n srv link add hnic0 type hnic peer name hnic1 netns cli
show ip -n srv addr add 198.18.0.1/24 dev hnic0
show ip -n cli addr add 198.18.0.2/24 dev hnic1
show ip -n srv link set hnic0 up
show ip -n cli link set hnic1 up
show ip -n srv -d link show hnic0
show sh -c 'ps -e -o pid,psr,comm | grep -E "PSR|hnic"'
sleep 1
show ip netns exec cli ping -c 3 198.18.0.1

step "stock Linux TCP across the NIC's rings, firmware and wire: 32 MiB each way"
NS_SRV=srv NS_CLI=cli
if xfer_verify 198.18.0.1 5001 $((32 << 20)); then
	echo "SHA-256 digests match on both ends, both directions"
fi
show sh -c "ip netns exec srv ethtool -S hnic0 | grep -E 'bus_|fw_pass_through|fw_rx_csum|fw_busy|fw_idle|wire_(tx|rx)_frames|fw_max_conns'"

step "a lossy wire: 5% loss, TCP still delivers identical data"
show sh -c 'echo 50000 > /sys/kernel/debug/hnic/hnic0/loss_ppm; echo 50000 > /sys/kernel/debug/hnic/hnic1/loss_ppm'
if xfer_verify 198.18.0.1 5002 $((8 << 20)); then
	echo "SHA-256 digests match despite $(hnic_stat srv hnic0 wire_loss_drop) + $(hnic_stat cli hnic1 wire_loss_drop) frames lost"
fi

step "unload: pairs and tables disappear with the module"
show ip netns del srv
show ip netns del cli
show rmmod tcp_handoff
show sh -c 'dmesg | grep tcp_handoff | tail -1'
show sh -c 'ls /proc/sys/net/handoff 2>&1 || true'
