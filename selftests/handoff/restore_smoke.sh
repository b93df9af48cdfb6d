#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Restore and re-handoff of live connections, the short version: transfers
# run while every connection moves NIC -> host -> NIC -> host; the data
# must arrive intact, and the counters must show each move.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# missing: hxfer (make module tools builds it)"; exit $ksft_fail; }
require ip ethtool
tap_plan 9
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

st() { handoff_stat "$1"; }
ctl() { handoff_sysctl "$1" "$2"; }

tap_check "hnic topology up" topo_create hnic
ip netns exec "$NS_SRV" sysctl -qw net.handoff.enabled=1 net.handoff.ports=all

# pair_start ADDR PORT BYTES CONNS [HXFER_OPTION...]: an hxfer server and
# client in the background (output in $OUT, pids in $SRV_PID/$CLI_PID),
# returning once all CONNS connections are offloaded.
pair_start() {
	local addr=$1 port=$2 bytes=$3 conns=$4
	shift 4
	OUT=$(mktemp -d)
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" --bytes "$bytes" \
		--conns "$conns" "$@" >"$OUT/srv" 2>&1 &
	SRV_PID=$!
	wait_listen "$NS_SRV" "$port"
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$addr" --port "$port" --bytes "$bytes" \
		--conns "$conns" "$@" >"$OUT/cli" 2>&1 &
	CLI_PID=$!
	handoff_wait_offloaded "$conns" 10
}

# pair_end SECS: waits for both ends (a stalled client is killed after SECS,
# with the state that explains it); sets CLI_RC and SRV_RC.
pair_end() {
	if ! wait_until "$1" "the hxfer client to finish" pid_gone $CLI_PID; then
		echo "# transfer stalled"
		ip netns exec "$NS_SRV" ss -tni | sed 's/^/# srv: /'
		ip netns exec "$NS_SRV" cat /proc/net/handoff_stat | grep -v " 0$" | sed 's/^/# /'
		nic_dump_conns 8
		kill $CLI_PID $SRV_PID
	fi
	wait $CLI_PID; CLI_RC=$?
	wait $SRV_PID; SRV_RC=$?
}

oneway() {
	local dir=$1 port=$2 r0
	r0=$(st restores)
	# Paced, so the transfer is still running when the restore comes.
	pair_start "$SRV4" "$port" $((16 << 20)) 1 --oneway "$dir" --pace-mbit 64
	ctl restore all || echo "# restore all failed"
	pair_end 60
	echo "# restores $r0 -> $(st restores) rc $CLI_RC/$SRV_RC"
	cat "$OUT/srv" "$OUT/cli" | sed 's/^/# /'
	rm -rf "$OUT"
	[ $CLI_RC = 0 ] && [ $SRV_RC = 0 ] && [ "$(st restores)" -gt "$r0" ]
}
tap_check "oneway server->client across a restore" oneway server 7201

moves() {
	local addr=$1 port=$2 r0 h0 i ok=0
	r0=$(st restores) h0=$(st handoffs)
	# Paced, so every round finds the transfers running.
	pair_start "$addr" "$port" $((8 << 20)) 4 --pace-mbit 8
	# Each round waits for the moves it asked for: all 4 on the host, then
	# the first back on the NIC (each goes at its next system call that
	# finds no other call of its socket inside native TCP: at 8 Mbit/s
	# some take longer, see handoff.rst, Limitations).
	for i in 1 2 3; do
		ctl restore all || echo "# restore all failed"
		handoff_wait_offloaded 0 10
		ctl offload all || echo "# offload all failed"
		wait_until 10 "a connection back on the NIC" stat_ge offloaded 1
	done
	ctl restore all
	pair_end 120
	echo "# restores $r0 -> $(st restores), handoffs $h0 -> $(st handoffs), failures $(st restore_failures)"
	[ $CLI_RC = 0 ] && [ $SRV_RC = 0 ] || { echo "# hxfer rc $CLI_RC/$SRV_RC"; cat "$OUT/cli" "$OUT/srv" | sed 's/^/# /'; ok=1; }
	[ $ok = 0 ] && { _xfer_digests_match "$OUT/srv" "$OUT/cli" $((8 << 20)) 4 || ok=1; }
	# Each connection was restored, and handed off again at its next
	# system call (the `offload` knob marks, the call moves it).
	[ "$(st restores)" -ge $((r0 + 4)) ] && [ "$(st handoffs)" -gt $((h0 + 4)) ] ||
		{ echo "# too few moves"; ok=1; }
	rm -rf "$OUT"
	return $ok
}
tap_check "IPv4: 4 transfers moved NIC->host->NIC x3, SHA-256 intact" moves "$SRV4" 7100
tap_check "IPv6: 4 transfers moved NIC->host->NIC x3, SHA-256 intact" moves "$SRV6" 7101

bad() {
	! ctl restore "garbage here x" &&
	! ctl restore "198.18.0.1:1 198.18.0.2:2" &&
	ctl restore all
}
tap_check "bad selectors refused, 'all' with nothing offloaded succeeds" bad

linkdown() {
	local r0 ok=0
	r0=$(st restores)
	# Paced, so the link goes down under a running transfer.
	pair_start "$SRV4" 7102 $((16 << 20)) 1 --pace-mbit 32
	ip -n "$NS_SRV" link set hnic0 down
	# Down restores every connection on the device before it returns.
	stat_is offloaded 0 | sed 's/^/# link down: /'
	ip -n "$NS_SRV" link set hnic0 up
	pair_end 120
	echo "# restores $r0 -> $(st restores)"
	[ $CLI_RC = 0 ] && [ $SRV_RC = 0 ] && _xfer_digests_match "$OUT/srv" "$OUT/cli" $((16 << 20)) 1 &&
		[ "$(st restores)" -gt "$r0" ] || ok=1
	rm -rf "$OUT"
	return $ok
}
tap_check "link down restores to the host, transfer completes after up" linkdown

failknob() {
	local n0
	n0=$(st nic_resets)
	pair_start "$SRV4" 7103 $((64 << 20)) 1
	echo 1 > /sys/kernel/debug/hnic/hnic0/fail
	pair_end 120
	echo "# nic_resets $n0 -> $(st nic_resets), rc $CLI_RC/$SRV_RC"
	grep -ih "error\|reset\|pipe" "$OUT/srv" "$OUT/cli" | head -3 | sed 's/^/# /'
	rm -rf "$OUT"
	[ $SRV_RC != 0 ] && [ "$(st nic_resets)" -gt "$n0" ]
}
tap_check "NIC failure: offloaded connection reset, counted" failknob

tap_check "dmesg clean" dmesg_clean_since
tap_exit
