#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Offloaded bulk transfer, SHA-256-verified both ways at once, at 1, CONNS
# and MANY concurrent connections, IPv4 and IPv6; request/response and
# connection-per-request against hecho. Every connection is handed off, and
# the NIC, not the host stack, sends the offloaded connections' segments.
# `make check` runs 64 and 256 connections (more than the 64 handoffs a NIC
# keeps in flight); `make soak` 256 and 1024 (selftests/soak.conf).

. ../lib.sh
. ./common.sh

# Sizes and counts: the smallest that proves it; override to scale.
BIG=${HANDOFF_BULK_BIG:-$((16 << 20))}
CONNS=${HANDOFF_BULK_CONNS:-64}
PER_CONN=${HANDOFF_BULK_PER_CONN:-$((256 << 10))}
MANY=${HANDOFF_BULK_MANY_CONNS:-256}
PER_CONN_MANY=${HANDOFF_BULK_PER_CONN_MANY:-$((64 << 10))}
SHORT=${HANDOFF_BULK_SHORT_CONNS:-200}

handoff_start hxfer hrr hecho
tap_plan 10
trap 'kill $(jobs -p) 2>/dev/null; wait; topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, policy on for all ports" handoff_topology all

# One big connection: offloaded; the firmware put nearly all of hnic0's
# frames on the wire (the host stack sent few: handshake and the like);
# payload went through commands and events; the byte counters saw it.
big() {
	local addr=$1 port=$2 wire host cmds evts
	nic_snap
	xfer_offloaded "$addr" "$port" "$BIG" 1 || return 1
	wire=$(nic_delta wire_tx_frames) host=$(nic_delta host_tx_packets)
	cmds=$(nic_delta bus_cmd_msgs) evts=$(nic_delta host_evt_recv)
	handoff_report tx_bytes rx_bytes cmd_send evt_recv evt_ack
	echo "# hnic0: $wire frames on the wire, $host from the host stack; $cmds commands, $evts recv events"
	[ "$host" -lt $((wire / 10)) ] && [ "$cmds" -gt 0 ] && [ "$evts" -gt 0 ] &&
	# rx_bytes counts what the NIC delivered: bytes that reached the host
	# before the handoff (the server's first read triggers it) moved with
	# the connection instead; allow them (at most the initial window).
	counter_ge tx_bytes "$BIG" && counter_ge rx_bytes $((BIG - (1 << 20))) && counter_ge cmd_send 1 && counter_ge evt_recv 1
}
tap_check "IPv4 1 conn: $((BIG >> 20)) MiB each way verified, offloaded, NIC sent the segments" big "$SRV4" 5001
tap_check "IPv6 1 conn: $((BIG >> 20)) MiB each way verified, offloaded, NIC sent the segments" big "$SRV6" 5002

tap_check "IPv4 $CONNS conns: $((PER_CONN >> 10)) KiB each way each verified, all offloaded" \
	xfer_offloaded "$SRV4" 5003 "$PER_CONN" "$CONNS"
tap_check "IPv6 $CONNS conns: $((PER_CONN >> 10)) KiB each way each verified, all offloaded" \
	xfer_offloaded "$SRV6" 5004 "$PER_CONN" "$CONNS"
tap_check "IPv4 $MANY conns: $((PER_CONN_MANY >> 10)) KiB each way each verified, all offloaded" \
	xfer_offloaded "$SRV4" 5005 "$PER_CONN_MANY" "$MANY"
tap_check "IPv6 $MANY conns: $((PER_CONN_MANY >> 10)) KiB each way each verified, all offloaded" \
	xfer_offloaded "$SRV6" 5006 "$PER_CONN_MANY" "$MANY"

# Request/response on one offloaded connection (hrr checks every echo).
rr() {
	local srv out
	handoff_snap
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hecho" --addr "$1" --port "$2" --conns 1 >/dev/null &
	srv=$!
	out=$(ip netns exec "$NS_CLI" "$HANDOFF_BIN/hrr" client --addr "$1" --port "$2" --count 300) || return 1
	wait $srv || return 1
	echo "# $out"
	offloaded_all 1
}
tap_check "IPv4 request/response: 300 transactions, each echo checked, offloaded" rr "$SRV4" 5007

# SHORT connections, one per request: every one offloaded (hecho counts them).
short() {
	local srv out n
	handoff_snap
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hecho" --addr "$1" --port "$2" >"$TMPDIR_SHORT" &
	srv=$!
	out=$(ip netns exec "$NS_CLI" "$HANDOFF_BIN/hrr" client --addr "$1" --port "$2" --short --count "$SHORT")
	local rc=$?
	# hecho counts a connection when it has echoed the client's close.
	wait_until 10 "no established connection on port $2" no_established "$2"
	kill $srv
	wait $srv
	echo "# $out; $(cat "$TMPDIR_SHORT")"
	[ $rc = 0 ] || return 1
	n=$(echo "$out" | sed -n 's/.*connections=\([0-9]*\).*/\1/p')
	[ "$n" = "$SHORT" ] && grep -q "conns=$n .*resets=0" "$TMPDIR_SHORT" && offloaded_all "$n"
}
TMPDIR_SHORT=$(mktemp)
tap_check "IPv6 $SHORT connections, one per request: every connection offloaded and released" short "$SRV6" 5008
rm -f "$TMPDIR_SHORT"
handoff_finish
