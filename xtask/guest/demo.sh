#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`, guest side: what tcp_handoff does today, shown live: an
# unmodified server whose accepted connections are handed off to the NIC,
# whose firmware then runs their TCP.

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
wait_until 10 "hnic1 to reach hnic0" ip netns exec cli ping -c1 -W1 -q 198.18.0.1 >/dev/null
show ip netns exec cli ping -c 3 198.18.0.1

step "stock Linux TCP across the NIC's rings, firmware and wire: 32 MiB each way"
NS_SRV=srv NS_CLI=cli
if xfer_verify 198.18.0.1 5001 $((32 << 20)); then
	echo "SHA-256 digests match on both ends, both directions"
fi
show sh -c "ip netns exec srv ethtool -S hnic0 | grep -E 'bus_|fw_pass_through|fw_rx_csum|fw_busy|fw_idle|wire_(tx|rx)_frames|fw_max_conns'"

step "connection handoff: the server's accepted connections move to the NIC"
show ip netns exec srv sysctl -w net.handoff.enabled=1 net.handoff.ports=6000-6099
fw0=$(hnic_stat srv hnic0 fw_offload_rx)
ip netns exec srv "$HANDOFF_BIN/hxfer" server --addr 198.18.0.1 --port 6000 --bytes $((16 << 20)) --conns 4 >/tmp/demo-srv &
srv_pid=$!
wait_listen srv 6000
ip netns exec cli "$HANDOFF_BIN/hxfer" client --addr 198.18.0.1 --port 6000 --bytes $((16 << 20)) --conns 4 >/tmp/demo-cli &
cli_pid=$!
handoff_wait_offloaded 4 10
echo "while the transfer runs, ss shows the handoff ULP on the server's sockets:"
show sh -c "ip netns exec srv ss -tni state established '( sport = :6000 )' | head -8"
show cat /sys/kernel/debug/hnic/hnic0/fw_live_conns
wait $cli_pid $srv_pid
if _xfer_digests_match /tmp/demo-srv /tmp/demo-cli $((16 << 20)) 4; then
	echo "SHA-256 digests match on both ends, both directions, 4 connections run by the NIC's TCP"
fi
echo "frames the firmware's TCP consumed itself: $(( $(hnic_stat srv hnic0 fw_offload_rx) - fw0 ))"
show sh -c "ip netns exec srv cat /proc/net/handoff_stat | grep -E '^(offloaded|handoffs|accept_policy|nic_released|tx_bytes|rx_bytes|cmd_|evt_|bypass_)'"
show sh -c "ip netns exec srv ethtool -S hnic0 | grep -E 'bus_cmd|bus_evt|bus_dma_(read|write)|host_evt_(handoff_done|recv|ack|ctrl)'"

step "restore: the same connections move NIC -> host -> NIC while they transfer"
# Paced at 1 Mbit/s per connection and direction: each socket's calls are
# short and far apart, so `offload` soon finds a call with no other one
# inside native TCP, which would hold the connection on the host
# (Documentation/handoff.rst, Limitations). At 8 Mbit/s the connections
# went back to the NIC only as their transfers ended.
ip netns exec srv "$HANDOFF_BIN/hxfer" server --addr 198.18.0.1 --port 6001 --bytes $((2 << 20)) --conns 4 --pace-mbit 1 >/tmp/demo-srv &
srv_pid=$!
wait_listen srv 6001
ip netns exec cli "$HANDOFF_BIN/hxfer" client --addr 198.18.0.1 --port 6001 --bytes $((2 << 20)) --conns 4 --pace-mbit 1 >/tmp/demo-cli &
cli_pid=$!
handoff_wait_offloaded 4 10
offload_view() { echo "offloaded now: $(handoff_stat offloaded srv); NIC runs $(cat /sys/kernel/debug/hnic/hnic0/fw_live_conns)$*"; }
for round in 1 2; do
	offload_view
	show ip netns exec srv sh -c 'echo all > /proc/sys/net/handoff/restore'
	offload_view " (the host stack has them)"
	show ip netns exec srv sh -c 'echo all > /proc/sys/net/handoff/offload'
	# `offload` marks them; each is handed off at its socket's next system
	# call that finds no other call inside native TCP (handoff.rst).
	if handoff_wait_offloaded 4 5 >/dev/null; then
		offload_view " (handed off again at their next system call)"
	else
		offload_view " (not all handed off again within 5 s)"
	fi
done
wait $cli_pid $srv_pid
if _xfer_digests_match /tmp/demo-srv /tmp/demo-cli $((2 << 20)) 4; then
	echo "SHA-256 digests match: nothing lost, duplicated or reordered across the moves"
fi
show sh -c "ip netns exec srv cat /proc/net/handoff_stat | grep -E '^(handoffs|restores|restore_failures|offloaded) '"

step "a lossy wire: 5% loss; the firmware's TCP recovers for offloaded connections"
show sh -c 'echo 50000 > /sys/kernel/debug/hnic/hnic0/loss_ppm; echo 50000 > /sys/kernel/debug/hnic/hnic1/loss_ppm'
if xfer_verify 198.18.0.1 6002 $((8 << 20)); then
	echo "SHA-256 digests match despite $(hnic_stat srv hnic0 wire_loss_drop) + $(hnic_stat cli hnic1 wire_loss_drop) frames lost"
	echo "segments the firmware's TCP retransmitted: $(hnic_stat srv hnic0 fw_tcp_retransmits)"
fi

step "unload: pairs and tables disappear with the module"
show ip netns del srv
show ip netns del cli
show rmmod tcp_handoff
show sh -c 'dmesg | grep tcp_handoff | tail -1'
show sh -c 'ls /proc/sys/net/handoff 2>&1 || true'
