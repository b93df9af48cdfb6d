#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Opt-in: setsockopt(IPPROTO_TCP, TCP_ULP, "handoff") on sockets of ns srv
# with the policy listing no port. On an established connection with data
# queued both ways (unread bytes in the receive queue, unacknowledged
# bytes in the send queue) it hands the connection off and no byte is lost
# or reordered (SHA-256); a second opt-in fails and the connection keeps
# working. Listening, never-connected, refused and UDP sockets: the call
# fails with an errno and the socket keeps working. A refused opt-in
# (max_conns reached) leaves a working host connection.

. ../lib.sh
. ./common.sh

handoff_start hxfer hsockopt
tap_plan 11
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$WORK"; topo_destroy; module_unload' EXIT
dmesg_mark

# enabled=1 with no port listed: only opt-in hands off.
tap_check "hnic topology up, policy on with no port listed" handoff_topology ""

# probe MODE ADDR ERRNO...: hsockopt MODE in ns srv; the opt-in failed with
# one of ERRNO, the socket still works, nothing was handed off.
probe() {
	local mode=$1 addr=$2 out e
	shift 2
	handoff_snap
	out=$(ip netns exec "$NS_SRV" "$HANDOFF_BIN/hsockopt" "$mode" --addr "$addr")
	echo "# $out"
	[ "$(handoff_delta handoffs)" = 0 ] || { echo "# a handoff was counted"; return 1; }
	[[ $out == *" works=yes" ]] || return 1
	for e in "$@"; do [[ $out == *" ulp=$e "* ]] && return 0; done
	echo "# expected ulp= one of $*"
	return 1
}
tap_check "listening socket IPv4: EINVAL or ENOTCONN, still accepts" probe listen "$SRV4" EINVAL ENOTCONN
tap_check "listening socket IPv6: EINVAL or ENOTCONN, still accepts" probe listen "$SRV6" EINVAL ENOTCONN
tap_check "never-connected TCP socket: ENOTCONN, can still listen" probe unconnected "$SRV4" ENOTCONN
tap_check "TCP socket whose connect was refused: ENOTCONN, can still connect" probe closed "$SRV6" ENOTCONN
tap_check "UDP socket: ENOPROTOOPT or EOPNOTSUPP, still sends and receives" probe udp "$SRV4" ENOPROTOOPT EOPNOTSUPP

# established ADDR PORT EXPECT: client (native, small receive buffer) sends
# 64 KiB and stops; the server waits for them (unread), fills its send queue
# (the client does not read), opts in, opts in again, then both finish 8 MiB
# each way. EXPECT=ok: the opt-in succeeded with both queues non-empty and
# the connection is offloaded then released; EXPECT=refused: it failed
# with an errno and the connection stayed on the host.
established() {
	local addr=$1 port=$2 expect=$3 bytes=$((8 << 20)) pre=$((64 << 10)) srv rc info inq outq twice=
	rm -f "$WORK/sync"
	handoff_snap
	# The second opt-in tests a handed-off socket; after a refusal it
	# would only be a second refusal (and count as one).
	[ "$expect" = ok ] && twice=--twice
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hsockopt" server --addr "$addr" --port "$port" --bytes $bytes \
		--pre-recv $pre --pre-send $((1 << 20)) --sync "$WORK/sync" $twice >"$WORK/srv.out" 2>"$WORK/srv.err" &
	srv=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hsockopt" client --addr "$addr" --port "$port" --bytes $bytes \
		--pre-send $pre --rcvbuf 4096 --sync "$WORK/sync" >"$WORK/cli.out" 2>"$WORK/cli.err"
	rc=$?
	wait $srv || rc=1
	info=$(grep '^hsockopt' "$WORK/srv.out")
	echo "# $info"
	[ $rc = 0 ] || { cat "$WORK/srv.err" "$WORK/cli.err" | sed 's/^/# /'; return 1; }
	grep '^hxfer' "$WORK/srv.out" >"$WORK/srv.x"
	_xfer_digests_match "$WORK/srv.x" "$WORK/cli.out" $bytes 1 || return 1
	inq=$(echo "$info" | sed -n 's/.* inq=\([0-9-]*\).*/\1/p')
	outq=$(echo "$info" | sed -n 's/.* outq=\([0-9-]*\).*/\1/p')
	if [ "$expect" = ok ]; then
		[[ $info == *" ulp=OK "* ]] || return 1
		[ "$inq" -ge $pre ] && [ "$outq" -gt 0 ] || { echo "# queues were not both non-empty at the opt-in"; return 1; }
		[[ $info == *" ulp2=OK"* ]] && { echo "# a second opt-in succeeded"; return 1; }
		handoff_wait_offloaded 0
		handoff_report
		[ "$(handoff_delta handoffs)" = 1 ] && [ "$(handoff_delta nic_released)" = 1 ] &&
		[ "$(handoff_delta accept_policy_matched)" = 0 ]
	else
		[[ $info == *" ulp=OK "* ]] && { echo "# the opt-in succeeded"; return 1; }
		handoff_report refused_max_conns
		[ "$(handoff_delta handoffs)" = 0 ] && [ "$(handoff_delta refused_max_conns)" = 1 ]
	fi
}
tap_check "IPv4 established, data queued both ways: opt-in OK, second fails, 8 MiB each way verified" \
	established "$SRV4" 5301 ok
tap_check "IPv6 established, data queued both ways: opt-in OK, second fails, 8 MiB each way verified" \
	established "$SRV6" 5302 ok

# max_conns=1 with one connection offloaded by the policy: an opt-in is
# refused (refused_max_conns), the connection works on the host stack.
refused() {
	local hold ok=0
	handoff_sysctl max_conns 1 && handoff_policy 5310 || return 1
	xfer_verify "$SRV4" 5310 $((64 << 10)) 1 --idle-until "$WORK/go5310" &
	hold=$!
	wait_ulp_shown 5310 10 || ok=1
	[ $ok = 0 ] && { established "$SRV4" 5311 refused || ok=1; }
	touch "$WORK/go5310"
	wait $hold || ok=1
	handoff_sysctl max_conns 0 && handoff_policy "" || ok=1
	return $ok
}
tap_check "max_conns=1 reached: opt-in fails with an errno, refused_max_conns +1, data verified on the host" refused
handoff_finish
