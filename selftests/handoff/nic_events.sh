#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# What happens to offloaded connections when the NIC or the module goes
# away under them:
#
# - `ip link set hnic0 down` (NETDEV_GOING_DOWN) restores every connection
#   on the device first; the transfer stalls while the link is down and
#   completes intact on the host stack once it is up again;
# - the firmware dies without notice (debugfs `fail`): the offloaded
#   connections are reset (ECONNRESET/EPIPE, nic_resets), new connections
#   are not offloaded but work natively;
# - the restore storm: many connections restored at once by link down,
#   over and over, each handed back to the NIC in between;
# - `ip link del hnic0` under load: connections restored first, then fail
#   natively (the device is gone), no kernel warning, nothing offloaded;
# - `rmmod tcp_handoff` with many live offloaded connections: restored
#   first; the module takes the hnic devices with it, so the test joins the
#   namespaces with a veth carrying the same addresses and the transfers
#   complete intact on native TCP.

. ../lib.sh
. ./common.sh

RMMOD_CONNS=${HANDOFF_NIC_EVENTS_RMMOD_CONNS:-240}
RMMOD_BYTES=$((64 << 10))
LOAD_CONNS=${HANDOFF_NIC_EVENTS_LOAD_CONNS:-32}
PACE=${HANDOFF_NIC_EVENTS_PACE_MBIT:-4}
# The restore storm: `make check` runs 64 connections twice; `make soak`
# 1024 ten times (selftests/soak.conf). Paced so that every connection
# still moves data when the last round ends (a connection goes back to the
# NIC at its next system call), and slowly enough for a TCG guest.
STORM_CONNS=${HANDOFF_NIC_EVENTS_STORM_CONNS:-64}
STORM_ROUNDS=${HANDOFF_NIC_EVENTS_STORM_ROUNDS:-2}
STORM_BYTES=${HANDOFF_NIC_EVENTS_STORM_BYTES:-$((1 << 20))}
STORM_PACE=${HANDOFF_NIC_EVENTS_STORM_PACE_MBIT:-$(awk -v n="$STORM_CONNS" 'BEGIN { printf "%.3f", 16 / n }')}
FAIL=/sys/kernel/debug/hnic/hnic0/fail

handoff_start hxfer
[ -e /proc/sys/net/handoff/restore ] || {
	echo "# tcp_handoff.ko has no net.handoff.restore"
	module_unload
	exit $ksft_fail
}
tap_plan 12
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT
dmesg_mark

# fresh: a new hnic topology (the previous one may have lost its devices),
# policy on for all ports, IPv6 addresses kept over a link down.
fresh() {
	topo_destroy
	handoff_topology all || return 1
	ip netns exec "$NS_SRV" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.hnic0.keep_addr_on_down=1 &&
	ip netns exec "$NS_CLI" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.hnic1.keep_addr_on_down=1
}
tap_check "hnic topology up, policy on for all ports" fresh

# errors_ok FILE ERRNO...: every connection line of FILE is a digest line
# or an error among ERRNO; prints how many of each.
errors_ok() {
	local f=$1 e bad
	shift
	echo "# $(basename "$f"): $(grep -c ' sent=' "$f") completed, errors: $(sed -n 's/.* error=//p' "$f" | sort | uniq -c | tr '\n' ' ')"
	bad=$(sed -n 's/.* error=//p' "$f" | sort -u)
	for e in "$@"; do bad=$(echo "$bad" | grep -vx "$e"); done
	[ -z "$bad" ] || { echo "# unexpected errors: $bad"; return 1; }
}

# flap ADDR PORT: 4 MiB each way paced at $PACE Mbit/s; mid-stream hnic0
# goes down: the connection is restored (restores +1, nothing offloaded,
# the NIC runs nothing), the transfer is stalled but alive for 1 s; the
# link comes up and the transfer completes intact on the host stack, not
# handed off again.
flap() {
	local d=$W/flap$2 b=$((4 << 20)) ok=0
	handoff_snap
	XSRV=(--pace-mbit "$PACE") XCLI=(--pace-mbit "$PACE")
	xfer_bg "$d" "$1" "$2" $b 1
	local rc=$?
	XSRV=() XCLI=()
	[ $rc = 0 ] && wait_sock "$d" 1 && handoff_wait_offloaded 1 5 && wait_moved tx_bytes $((256 << 10)) &&
		no_event "$d" srv sent ||
		{ xfer_kill; return 1; }
	ip -n "$NS_SRV" link set hnic0 down || ok=1
	handoff_report restores
	[ "$(handoff_delta restores)" = 1 ] && [ "$(handoff_stat offloaded)" = 0 ] ||
		{ echo "# link down did not restore the connection first"; ok=1; }
	stays_true 1 "both ends alive while the link is down" pids_alive "$XFER_SRV" "$XFER_CLI" ||
		{ echo "# the transfer ended while the link was down"; ok=1; }
	ip -n "$NS_SRV" link set hnic0 up || ok=1
	topo_wait_reachable || ok=1
	xfer_done "$d" 1 $b $b 300 || ok=1
	handoff_report restores
	[ "$(handoff_delta handoffs)" = 1 ] && [ "$(handoff_delta nic_released)" = 0 ] &&
	[ "$(handoff_delta nic_resets)" = 0 ] || ok=1
	return $ok
}
tap_check "link down mid-transfer IPv4: restored before down, stalls, up: 4 MiB each way verified" flap "$SRV4" 5451
tap_check "link down mid-transfer IPv6: restored before down, stalls, up: 4 MiB each way verified" flap "$SRV6" 5452

# After a flap the device offloads again.
tap_check "after the link came back: new connections offloaded and verified" xfer_offloaded "$SRV4" 5453 $((1 << 20)) 4

# storm: $STORM_CONNS connections move data both ways; $STORM_ROUNDS times
# hnic0 goes down (every connection on it restored before it is down, in
# one batch), comes back up, and `offload all` hands the connections back
# to the NIC at their next system calls (the round waits up to 30 s for
# one: after a link flap some are refused for a while, refused_no_device,
# and stay native). Every connection offloaded at a link down was restored
# (none failed), every stream arrived intact, and each handoff ended in a
# restore or a release by the NIC. The transfers are paced: their time
# is at least STORM_BYTES at STORM_PACE, and the wait for them allows for
# that (at soak scale, 1 MiB at 16/1024 Mbit/s is 9 minutes).
storm() {
	local d=$W/storm n=$STORM_CONNS i t0 k fail=0 expect=0 paced
	paced=$(awk -v b="$STORM_BYTES" -v p="$STORM_PACE" 'BEGIN { printf "%d", b * 8 / (p * 1e6) }')
	handoff_snap
	XSRV=(--pace-mbit "$STORM_PACE") XCLI=(--pace-mbit "$STORM_PACE")
	xfer_bg "$d" "$SRV4" 5460 "$STORM_BYTES" "$n" --hold "$W/storm-hold"
	local rc=$?
	XSRV=() XCLI=()
	[ $rc = 0 ] && wait_sock "$d" "$n" && handoff_wait_offloaded "$n" 60 || { xfer_kill; return 1; }
	for i in $(seq "$STORM_ROUNDS"); do
		k=$(handoff_stat offloaded)
		expect=$((expect + k))
		t0=$(date +%s%N)
		ip -n "$NS_SRV" link set hnic0 down || fail=1
		echo "# round $i: link down took $(elapsed_s "$t0") s; $k offloaded just before"
		stat_is offloaded 0 >/dev/null || { echo "# round $i: not all restored: $(stat_is offloaded 0)"; fail=1; }
		ip -n "$NS_SRV" link set hnic0 up && topo_wait_reachable || fail=1
		[ "$(hctl offload all)" = OK ] || { echo "# round $i: offload all failed"; fail=1; }
		wait_until 30 "a connection back on the NIC" stat_ge offloaded 1 ||
			echo "# round $i: none back on the NIC yet (refusals: $(handoff_refused_delta))"
	done
	touch "$W/storm-hold"
	xfer_done "$d" "$n" "$STORM_BYTES" "$STORM_BYTES" $((600 + 2 * paced)) || fail=1
	handoff_wait_offloaded 0 || fail=1
	handoff_report restores restore_failures
	# Connections handed off between the reading and the down were
	# restored too: at least the ones counted.
	[ $fail = 0 ] && [ "$(handoff_delta restores)" -ge "$expect" ] &&
	[ "$(handoff_delta restore_failures)" = 0 ] &&
	[ "$(handoff_delta handoffs)" = $(($(handoff_delta restores) + $(handoff_delta nic_released))) ]
}
tap_check "restore storm: $STORM_CONNS conns, $STORM_ROUNDS rounds of link down (all restored at once) and offload all, verified" storm

# nic_fail: $LOAD_CONNS connections moving data (client keepalive 1 s so it
# notices the peer's death), then the firmware stops: every server
# connection fails with ECONNRESET or EPIPE, nic_resets counts each,
# nothing is offloaded; both programs end.
nic_fail() {
	local d=$W/fail n=$LOAD_CONNS
	[ -w "$FAIL" ] || { echo "# no $FAIL"; return 1; }
	ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_retries2=3 || return 1
	handoff_snap
	XSRV=(--pace-mbit 2) XCLI=(--pace-mbit 2 --keepalive 1)
	xfer_bg "$d" "$SRV4" 5454 $((4 << 20)) "$n"
	local rc=$?
	XSRV=() XCLI=()
	[ $rc = 0 ] && wait_sock "$d" "$n" && handoff_wait_offloaded "$n" 30 && wait_moved tx_bytes $((n << 12)) ||
		{ xfer_kill; return 1; }
	echo 1 > "$FAIL" || { xfer_kill; return 1; }
	pid_wait "$XFER_SRV" 60
	pid_wait "$XFER_CLI" 60
	handoff_report restores
	[ "$(grep -c ' error=' "$d/srv")" = "$n" ] || { echo "# $(grep -c ' error=' "$d/srv") of $n server connections failed"; return 1; }
	errors_ok "$d/srv" ECONNRESET EPIPE && errors_ok "$d/cli" ECONNRESET ETIMEDOUT EPIPE &&
	[ "$(handoff_delta nic_resets)" = "$n" ] && handoff_wait_offloaded 0 5
}
tap_check "NIC failure under $LOAD_CONNS conns: each reset (ECONNRESET/EPIPE), nic_resets +$LOAD_CONNS" nic_fail

# after_fail: a new connection is refused by the dead NIC (device down or
# timeout) and works natively, verified.
after_fail() {
	handoff_snap
	xfer_verify "$SRV4" 5455 $((1 << 20)) 1 || return 1
	handoff_report refused_device_down refused_timeout
	[ "$(handoff_delta handoffs)" = 0 ] && [ "$(handoff_stat offloaded)" = 0 ] &&
	[ $(($(handoff_delta refused_device_down) + $(handoff_delta refused_timeout))) -ge 1 ]
}
tap_check "after the NIC failed: new connection not offloaded (refused), verified natively" after_fail

# dev_del: $LOAD_CONNS connections moving data (keepalive 1 s and
# tcp_retries2=3 so native failures come in seconds); hnic0 is deleted:
# every connection was restored first (restores, no nic_resets), nothing is
# offloaded, no kernel warning meanwhile; each connection then completed
# or failed with ECONNRESET, ETIMEDOUT, EHOSTUNREACH (or ENETUNREACH,
# EPIPE), and both programs ended.
dev_del() {
	local d=$W/del n=$LOAD_CONNS ok=0
	fresh || return 1
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_retries2=3 && ip netns exec "$NS_CLI" sysctl -qw net.ipv4.tcp_retries2=3
	handoff_snap
	XSRV=(--pace-mbit 2) XCLI=(--pace-mbit 2)
	xfer_bg "$d" "$SRV6" 5456 $((4 << 20)) "$n" --keepalive 1
	local rc=$?
	XSRV=() XCLI=()
	[ $rc = 0 ] && wait_sock "$d" "$n" && handoff_wait_offloaded "$n" 30 && wait_moved tx_bytes $((n << 12)) ||
		{ xfer_kill; return 1; }
	ip -n "$NS_SRV" link del hnic0 || { xfer_kill; return 1; }
	handoff_report restores
	[ "$(handoff_delta restores)" = "$n" ] && [ "$(handoff_stat offloaded)" = 0 ] &&
	[ "$(handoff_delta nic_resets)" = 0 ] || { echo "# not every connection was restored before the device went"; ok=1; }
	! ip -n "$NS_SRV" link show hnic0 >/dev/null 2>&1 || { echo "# hnic0 still there"; ok=1; }
	pid_wait "$XFER_SRV" 120
	pid_wait "$XFER_CLI" 120
	errors_ok "$d/srv" ECONNRESET ETIMEDOUT EHOSTUNREACH ENETUNREACH EPIPE || ok=1
	errors_ok "$d/cli" ECONNRESET ETIMEDOUT EHOSTUNREACH ENETUNREACH EPIPE || ok=1
	dmesg_clean_since || ok=1
	return $ok
}
tap_check "ip link del hnic0 under $LOAD_CONNS conns: all restored first, native errors only, no warning" dev_del

# rmmod_live: $RMMOD_CONNS IPv4 and 16 IPv6 connections offloaded and
# moving data, held open (--hold) so they are all live: rmmod succeeds
# (restoring them); the devices went with the module, a veth joins the
# namespaces with the same addresses; released, every transfer completes
# intact on native TCP.
V4=$W/rm4 V6=$W/rm6
rmmod_live() {
	fresh || return 1
	handoff_snap
	XSRV=(--pace-mbit 2) XCLI=(--pace-mbit 2)
	xfer_bg "$V4" "$SRV4" 5457 $RMMOD_BYTES "$RMMOD_CONNS" --hold "$W/hold" || { XSRV=() XCLI=(); return 1; }
	P4=("$XFER_SRV" "$XFER_CLI")
	xfer_bg "$V6" "$SRV6" 5458 $RMMOD_BYTES 16 --hold "$W/hold" || { XSRV=() XCLI=(); return 1; }
	P6=("$XFER_SRV" "$XFER_CLI")
	XSRV=() XCLI=()
	wait_sock "$V4" "$RMMOD_CONNS" && wait_sock "$V6" 16 && handoff_wait_offloaded $((RMMOD_CONNS + 16)) 60 ||
		return 1
	wait_moved tx_bytes $((RMMOD_CONNS << 10)) 60 || return 1
	echo "# rmmod with $(handoff_stat offloaded) connections offloaded"
	rmmod tcp_handoff || { echo "# rmmod failed"; return 1; }
	! module_loaded || return 1
	ip -n "$NS_SRV" link add veth0 type veth peer name veth1 netns "$NS_CLI" &&
	_topo_addr "$NS_SRV" veth0 "$SRV4" "$SRV6" && _topo_addr "$NS_CLI" veth1 "$CLI4" "$CLI6" &&
	topo_wait_reachable
}
rmmod_done() {
	local v=$1 n=$2
	shift 2
	XFER_SRV=$1 XFER_CLI=$2
	xfer_done "$v" "$n" $RMMOD_BYTES $RMMOD_BYTES 600
}
name="rmmod with $RMMOD_CONNS + 16 live offloaded conns: succeeds, namespaces rejoined by veth"
if rmmod_live; then
	tap_ok "$name"
	touch "$W/hold"
	tap_check "after rmmod IPv4: $RMMOD_CONNS transfers complete intact on native TCP" rmmod_done "$V4" "$RMMOD_CONNS" "${P4[@]}"
	tap_check "after rmmod IPv6: 16 transfers complete intact on native TCP" rmmod_done "$V6" 16 "${P6[@]}"
else
	tap_fail "$name"
	touch "$W/hold"
	tap_fail "after rmmod IPv4: transfers complete intact # rmmod step failed"
	tap_fail "after rmmod IPv6: transfers complete intact # rmmod step failed"
fi
handoff_finish
