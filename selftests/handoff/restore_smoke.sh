#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Restore and re-handoff of live connections, the short version: transfers
# run while every connection moves NIC -> host -> NIC -> host; the data
# must arrive intact, and the counters must show each move.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# SKIP: $HANDOFF_KO not built"; exit $ksft_skip; }
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# SKIP: hxfer not built"; exit $ksft_skip; }
skip_unless ip ethtool
tap_plan 9
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

hstat() { ip netns exec "$NS_SRV" awk -v n="$1" '$1 == n { print $2 }' /proc/net/handoff_stat; }
ctl() { ip netns exec "$NS_SRV" sh -c "printf '%s' '$2' > /proc/sys/net/handoff/$1"; }

tap_check "hnic topology up" topo_create hnic
ip netns exec "$NS_SRV" sysctl -qw net.handoff.enabled=1 net.handoff.ports=all

oneway() {
	local dir=$1 port=$2 out r0
	out=$(mktemp -d)
	r0=$(hstat restores)
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port "$port" --bytes $((16 << 20)) --oneway $dir >"$out/srv" 2>&1 &
	local s=$!
	sleep 0.3
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port "$port" --bytes $((16 << 20)) --oneway $dir >"$out/cli" 2>&1 &
	local c=$!
	sleep 1
	ctl restore all || echo "# restore all failed"
	local t
	for t in $(seq 30); do kill -0 $c 2>/dev/null || break; sleep 1; done
	if kill -0 $c 2>/dev/null; then
		echo "# oneway $dir stalled"
		ip netns exec "$NS_SRV" ethtool -S hnic0 | grep -E "host_tx_packets|wire_tx_frames|host_rx_packets|fw_pass_through|fw_offload_rx" | sed 's/^/# hnic0 /'
		ip netns exec "$NS_CLI" ethtool -S hnic1 | grep -E "host_tx_packets|wire_tx_frames|wire_rx_frames|host_rx_packets|fw_pass_through|fw_rx_csum" | sed 's/^/# hnic1 /'
		ip netns exec "$NS_CLI" nstat -az 2>/dev/null | grep -E "^(Tcp|Ip)" | grep -v " 0 " | sed 's/^/# cli-nstat: /'
		sleep 3
		ip netns exec "$NS_SRV" ethtool -S hnic0 | grep -E "host_tx_packets|wire_tx_frames" | sed 's/^/# 3s later hnic0 /'
		ip netns exec "$NS_CLI" ethtool -S hnic1 | grep -E "wire_rx_frames|host_rx_packets|fw_pass_through" | sed 's/^/# 3s later hnic1 /'
		ip netns exec "$NS_CLI" nstat -az 2>/dev/null | grep -E "^(Tcp|Ip)" | grep -v " 0 " | sed 's/^/# 3s later cli-nstat: /'
		ip netns exec "$NS_SRV" ss -tni | sed 's/^/# srv: /'
		ip netns exec "$NS_CLI" ss -tni | sed 's/^/# cli: /'
		kill $c $s
	fi
	wait $c; local crc=$?
	wait $s; local src=$?
	echo "# restores $r0 -> $(hstat restores) rc $crc/$src"
	cat "$out/srv" "$out/cli" | sed 's/^/# /'
	rm -rf "$out"
	[ $crc = 0 ] && [ $src = 0 ]
}
tap_check "oneway server->client across a restore" oneway server 7201

moves() {
	local addr=$1 port=$2 out r0 h0 i
	out=$(mktemp -d)
	r0=$(hstat restores) h0=$(hstat handoffs)
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" --bytes $((24 << 20)) --conns 4 >"$out/srv" 2>&1 &
	local s=$!
	sleep 0.3
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$addr" --port "$port" --bytes $((24 << 20)) --conns 4 >"$out/cli" 2>&1 &
	local c=$!
	sleep 1
	for i in 1 2 3; do
		ctl restore all || echo "# restore all failed"
		sleep 0.4
		ctl offload all || echo "# offload all failed"
		sleep 0.4
	done
	ctl restore all
	local t
	for t in $(seq 60); do kill -0 $c 2>/dev/null || break; sleep 1; done
	if kill -0 $c 2>/dev/null; then
		echo "# transfer stalled; state:"
		ip netns exec "$NS_SRV" ss -tnie | head -3 | sed 's/^/# srv: /'
		echo "# fw_live_conns $(cat /sys/kernel/debug/hnic/hnic0/fw_live_conns)"
		ip netns exec "$NS_SRV" ethtool -S hnic0 | grep -E "fw_pass|fw_offload|fw_tcp_(rx_pass|drop|conns|rx_segs)|host_evt_unknown|dma_refused|cmd_refused" | sed 's/^/# /'
		sleep 2
		ip netns exec "$NS_SRV" ethtool -S hnic0 | grep -E "fw_pass|fw_offload|fw_tcp_(rx_pass|drop|conns|rx_segs)" | sed 's/^/# 2s later /'
		ip netns exec "$NS_SRV" cat /proc/net/handoff_stat | grep -v " 0$" | sed 's/^/# /'
		echo 1 > /sys/kernel/debug/hnic/hnic0/dump_conns; sleep 0.3
		dmesg | tail -20 | sed 's/^/# dmesg: /'
		kill $c $s
	fi
	wait $c; local crc=$?
	wait $s; local src=$?
	echo "# restores $r0 -> $(hstat restores), handoffs $h0 -> $(hstat handoffs), failures $(hstat restore_failures)"
	local ok=0
	[ $crc = 0 ] && [ $src = 0 ] || { echo "# hxfer rc $crc/$src"; cat "$out/cli" "$out/srv" | sed 's/^/# /'; ok=1; }
	[ $ok = 0 ] && { _xfer_digests_match "$out/srv" "$out/cli" $((24 << 20)) 4 || ok=1; }
	# Each connection was restored, and handed off again at its next
	# system call (the `offload` knob marks, the call moves it).
	[ "$(hstat restores)" -ge $((r0 + 4)) ] && [ "$(hstat handoffs)" -gt $((h0 + 4)) ] ||
		{ echo "# too few moves"; ok=1; }
	dmesg | grep -E "tcp_handoff: recv" | tail -4 | sed 's/^/# /'
	rm -rf "$out"
	return $ok
}
tap_check "IPv4: 4 transfers moved NIC->host->NIC x3, SHA-256 intact" moves "$SRV4" 7100
tap_check "IPv6: 4 transfers moved NIC->host->NIC x3, SHA-256 intact" moves "$SRV6" 7101

bad() {
	! ctl restore "garbage here x" 2>/dev/null &&
	! ctl restore "198.18.0.1:1 198.18.0.2:2" 2>/dev/null &&
	ctl restore all
}
tap_check "bad selectors refused, 'all' with nothing offloaded succeeds" bad

linkdown() {
	local out=$(mktemp -d) r0=$(hstat restores)
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port 7102 --bytes $((16 << 20)) >"$out/srv" 2>&1 &
	local s=$!
	sleep 0.3
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port 7102 --bytes $((16 << 20)) >"$out/cli" 2>&1 &
	local c=$!
	sleep 1
	ip -n "$NS_SRV" link set hnic0 down
	sleep 0.5
	ip -n "$NS_SRV" link set hnic0 up
	wait $c; local crc=$?
	wait $s; local src=$?
	echo "# restores $r0 -> $(hstat restores)"
	ip netns exec "$NS_SRV" ethtool -S hnic0 | grep -E "host_evt_(bad|recv_data|unknown)|fw_tcp_(drop_no_staging|drop_ooo)" | sed 's/^/# /'
	[ $crc = 0 ] && [ $src = 0 ] && _xfer_digests_match "$out/srv" "$out/cli" $((16 << 20)) 1 && [ "$(hstat restores)" -gt "$r0" ]
}
tap_check "link down restores to the host, transfer completes after up" linkdown

failknob() {
	local out=$(mktemp -d) n0=$(hstat nic_resets)
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port 7103 --bytes $((64 << 20)) >"$out/srv" 2>&1 &
	local s=$!
	sleep 0.3
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port 7103 --bytes $((64 << 20)) >"$out/cli" 2>&1 &
	local c=$!
	sleep 1
	echo 1 > /sys/kernel/debug/hnic/hnic0/fail
	wait $c; local crc=$?
	wait $s; local src=$?
	echo "# nic_resets $n0 -> $(hstat nic_resets), rc $crc/$src"
	cat "$out/srv" "$out/cli" | grep -i "error\|reset\|pipe" | head -3 | sed 's/^/# /'
	[ $src != 0 ] && [ "$(hstat nic_resets)" -gt "$n0" ]
}
tap_check "NIC failure: offloaded connection reset, counted" failknob

tap_check "dmesg clean" dmesg_clean_since
tap_exit
