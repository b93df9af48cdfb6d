#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Restore: offloaded connections taken back to the host's native TCP with
# net.handoff.restore (all, a socket cookie, or a 4-tuple) in ns srv, and
# handed off again with net.handoff.offload. Whatever the connection was
# doing (idle with a reader blocked, sending, receiving, data buffered both
# ways, half-closed in either direction, orphaned in LAST_ACK), the streams
# stay intact (SHA-256 both ways) and the host stack owns it afterwards:
# it retransmits under loss, TCP_INFO carries the NIC's RTT and cwnd,
# keepalive probes come from the host. Bad input gets EINVAL/ENOENT/
# EALREADY; concurrent restores of one connection: exactly one wins.

. ../lib.sh
. ./common.sh

# Sizes and counts: `make check` runs 64 connections to >= 256 restores;
# `make soak` 256 connections to 10^4 (selftests/soak.conf).
CYCLE_CONNS=${HANDOFF_RESTORE_CYCLE_CONNS:-64}
CYCLE_MIN=${HANDOFF_RESTORE_CYCLE_MIN:-256}
# Paced so every connection still moves data in both directions when the
# last round ends (a connection is handed off again by a system call, and
# one whose reader sleeps in native TCP with nothing coming makes none),
# and slowly enough that 256 of them do not overload a TCG guest (at 0.125
# Mbit/s each its timers ran seconds late).
CYCLE_PACE=${HANDOFF_RESTORE_CYCLE_PACE_MBIT:-0.032}
CYCLE_BYTES=${HANDOFF_RESTORE_CYCLE_BYTES:-$((256 << 10))}
PACE=${HANDOFF_RESTORE_PACE_MBIT:-8}

handoff_start hxfer hsysctl
[ -e /proc/sys/net/handoff/restore ] || {
	echo "# tcp_handoff.ko has no net.handoff.restore"
	module_unload
	exit $ksft_fail
}
tap_plan 33
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT
dmesg_mark

knobs() { # knobs NAME VALUE: the same wire knob on both ends
	hnic_knob hnic0 "$1" "$2" && hnic_knob hnic1 "$1" "$2"
}

tap_check "hnic topology up, policy on for all ports" handoff_topology all

# The counters come after the existing list, in this order.
counters_present() {
	local names
	names=$(ip netns exec "$NS_SRV" awk '{ print $1 }' /proc/net/handoff_stat | tr '\n' ' ')
	[[ $names == *"racing_segments_dropped "*"restores restore_failures "* ]] && return 0
	echo "# handoff_stat names: $names"
	return 1
}
tap_check "handoff_stat has restores, restore_failures (after the existing counters)" counters_present

# restored PORT: after one restore, the socket is ESTAB on the host with the
# (dormant) ULP still attached, the gauge is 0, the NIC runs nothing.
restored() {
	local port=$1
	handoff_wait_offloaded 0 5 &&
	wait_fw_live 0 &&
	ss_state "$port" established &&
	ulp_shown "$port" &&
	[ "$(handoff_delta restores)" = 1 ] || { handoff_report restores restore_failures; return 1; }
}

# idle ADDR PORT: the client sends nothing until both restores are done
# (--idle-until) while the server is blocked reading (peek); the
# restore by 4-tuple wakes nothing wrong: the reader continues on the host
# stack, 2 MiB each way verified, a second restore is EALREADY, nothing is
# handed off again by itself.
idle() {
	local d=$W/idle$2 t
	handoff_snap
	xfer_bg "$d" "$1" "$2" $((2 << 20)) 1 --idle-until "$W/go$2" || return 1
	wait_sock "$d" 1 && handoff_wait_offloaded 1 5 && wait_fw_live 1 || { xfer_kill; return 1; }
	t=$(sock_tuple "$d")
	local t0=$(date +%s%N)
	hctl_expect OK restore "$t" || { xfer_kill; return 1; }
	echo "# restore '$t' took $((($(date +%s%N) - t0) / 1000000)) ms (hsysctl included)"
	restored "$2" && hctl_expect EALREADY restore "$t" || { xfer_kill; return 1; }
	touch "$W/go$2"
	xfer_done "$d" 1 $((2 << 20)) $((2 << 20)) || return 1
	handoff_report restores restore_failures
	[ "$(handoff_delta handoffs)" = 1 ] && [ "$(handoff_delta nic_released)" = 0 ] &&
	[ "$(handoff_delta restores)" = 1 ]
}
tap_check "idle IPv4, reader blocked, by 4-tuple: ESTAB on the host, fw_live 0, EALREADY again, verified" idle "$SRV4" 5401
tap_check "idle IPv6, reader blocked, by 4-tuple: ESTAB on the host, fw_live 0, EALREADY again, verified" idle "$SRV6" 5402

# oneway ADDR PORT SENDER COOKIE_FORM: SENDER (server or client) sends
# 8 MiB paced at $PACE Mbit/s; 1 s in, while it is still sending, the
# server socket is restored by cookie (dec or 0x hex); stream intact.
oneway() {
	local addr=$1 port=$2 sender=$3 form=$4 d=$W/oneway$2 c bytes=$((8 << 20)) s2c c2s
	local -a pace=(--pace-mbit "$PACE")
	handoff_snap
	if [ "$sender" = server ]; then XSRV=("${pace[@]}") s2c=$bytes c2s=0; else XCLI=("${pace[@]}") s2c=0 c2s=$bytes; fi
	# Held: on a slow guest the last bytes may be written just as the
	# restore starts; the connection stays ESTABLISHED for `restored`.
	xfer_bg "$d" "$addr" "$port" $bytes 1 --oneway "$sender" --hold "$W/hold$port"
	local rc=$?
	XSRV=() XCLI=()
	[ $rc = 0 ] && wait_sock "$d" 1 && handoff_wait_offloaded 1 5 &&
		wait_moved "$([ "$sender" = server ] && echo tx_bytes || echo rx_bytes)" $((512 << 10)) ||
		{ xfer_kill; return 1; }
	c=$(sock_cookie "$d")
	[ "$form" = hex ] && c=$(printf '0x%x' "$c")
	echo "# restore cookie $c"
	no_event "$d" "$([ "$sender" = server ] && echo srv || echo cli)" sent && hctl_expect OK restore "$c" && restored "$port" ||
		{ xfer_kill; return 1; }
	touch "$W/hold$port"
	xfer_done "$d" 1 $s2c $c2s
}
tap_check "sending IPv4 (server paced), by decimal cookie: mid-stream, verified" oneway "$SRV4" 5403 server dec
tap_check "sending IPv6 (server paced), by 0x cookie: mid-stream, verified" oneway "$SRV6" 5404 server hex
tap_check "receiving IPv4 (client paced), by 0x cookie: mid-stream, verified" oneway "$SRV4" 5405 client hex
tap_check "receiving IPv6 (client paced), by decimal cookie: mid-stream, verified" oneway "$SRV6" 5406 client dec

# buffered ADDR PORT: neither side reads (--gate) while both write 4 MiB:
# the server's send queue and receive queue are full on the NIC. `ss -e`
# shows the cookie hxfer got from SO_COOKIE; restore by that (0x) cookie;
# the host socket then holds bytes in both Recv-Q and Send-Q; open the
# gate: both streams intact.
buffered() {
	local addr=$1 port=$2 d=$W/buf$2 sk c q bytes=$((4 << 20))
	handoff_snap
	xfer_bg "$d" "$addr" "$port" $bytes 1 --gate "$W/gate$port" &&
	wait_sock "$d" 1 && handoff_wait_offloaded 1 5 &&
		wait_until 20 "both directions backed up" cli_queues_full "$port" || { xfer_kill; return 1; }
	sk=$(ip netns exec "$NS_SRV" ss -tneH state established "( sport = :$port )" 2>/dev/null | grep -o 'sk:[0-9a-f]*' | head -1)
	c=$(sock_cookie "$d")
	echo "# ss -e: $sk, SO_COOKIE: $c"
	[ -n "$sk" ] && [ "$((16#${sk#sk:}))" = "$c" ] || { echo "# ss cookie differs"; xfer_kill; return 1; }
	hctl_expect OK restore "0x${sk#sk:}" && restored "$port" || { xfer_kill; return 1; }
	q=$(ip netns exec "$NS_SRV" ss -tnH state established "( sport = :$port )" | awk '{ print $1, $2 }')
	echo "# restored socket Recv-Q Send-Q: $q"
	touch "$W/gate$port"
	[ "${q% *}" -gt 0 ] && [ "${q#* }" -gt 0 ] || { echo "# queues not carried back"; xfer_done "$d" 1 $bytes $bytes; return 1; }
	xfer_done "$d" 1 $bytes $bytes
}
tap_check "buffered both ways IPv4: ss -e cookie = SO_COOKIE, restored Recv-Q and Send-Q > 0, verified" buffered "$SRV4" 5407
tap_check "buffered both ways IPv6: ss -e cookie = SO_COOKIE, restored Recv-Q and Send-Q > 0, verified" buffered "$SRV6" 5408

# cycles ADDR PORT: $CYCLE_CONNS connections move data both ways (paced)
# over a wire with 5% loss and 2% reordering while `restore all` and
# `offload all` alternate, until >= $CYCLE_MIN restores; no restore
# failed, every restore was followed by a re-handoff, all connections end
# up offloaded, then complete with intact streams and are released by
# the NIC.
cycles() {
	local addr=$1 port=$2 d=$W/cyc$2 r o i=0 fail=0 rest t0 at=""
	handoff_snap
	nic_snap
	tcp_counters "$NS_SRV" >"$W/cyc-srv0" && tcp_counters "$NS_CLI" >"$W/cyc-cli0" || return 1
	t0=$(date +%s%N)
	XSRV=(--pace-mbit "$CYCLE_PACE") XCLI=(--pace-mbit "$CYCLE_PACE")
	xfer_bg "$d" "$addr" "$port" "$CYCLE_BYTES" "$CYCLE_CONNS" --hold "$W/hold$port"
	local rc=$?
	XSRV=() XCLI=()
	[ $rc = 0 ] && wait_sock "$d" "$CYCLE_CONNS" && handoff_wait_offloaded "$CYCLE_CONNS" 60 ||
		{ xfer_kill; return 1; }
	knobs loss_ppm 50000 && knobs reorder_ppm 20000
	# A round restores every connection and lets each be handed off again
	# by its next read or write (a few a second), so each round restores
	# all of them.
	while [ "$(handoff_delta restores)" -lt "$CYCLE_MIN" ] && [ $i -lt $((CYCLE_MIN * 2 / CYCLE_CONNS + 10)) ]; do
		i=$((i + 1))
		at+=" $(elapsed_s "$t0")"
		r=$(hctl restore all) o=$(hctl offload all)
		[ "$r" = OK ] && [ "$o" = OK ] || { echo "# round $i: restore all $r, offload all $o"; fail=1; }
		handoff_wait_offloaded "$CYCLE_CONNS" 30 ||
			{ echo "# round $i: not all handed off again"; handoff_report; cycles_trouble "$d" "$t0" "$port"; }
	done
	rest=$(handoff_stat offloaded)
	handoff_report restores restore_failures
	echo "# hnic0: $(hnic_stat "$NS_SRV" hnic0 host_handoff_waits) handoffs waited for one in flight"
	echo "# $i rounds; $(handoff_delta restores) restores, $(handoff_delta handoffs) handoffs; offloaded after the last round: $rest"
	echo "# rounds began at (s):$at; transfers began at 0"
	knobs loss_ppm 0 && knobs reorder_ppm 0
	touch "$W/hold$port"
	xfer_done "$d" "$CYCLE_CONNS" "$CYCLE_BYTES" "$CYCLE_BYTES" 600 || { cycles_trouble "$d" "$t0" "$port"; return 1; }
	handoff_wait_offloaded 0 || return 1
	[ $fail = 0 ] && [ "$rest" = "$CYCLE_CONNS" ] &&
	counter_ge restores "$CYCLE_MIN" &&
	[ "$(handoff_delta restore_failures)" = 0 ] && [ "$(handoff_refused_delta)" = 0 ] &&
	[ "$(handoff_delta handoffs)" = $((CYCLE_CONNS + $(handoff_delta restores))) ] &&
	[ "$(handoff_delta nic_released)" = "$CYCLE_CONNS" ]
}
# cycles_trouble DIR T0 PORT: what a failed cycle run leaves to go on:
# each failed connection's errors (seconds after T0) and 4-tuple, server
# sockets not ESTABLISHED, and the reset/abort/drop/timeout counters of
# both stacks and the NIC.
cycles_trouble() {
	local d=$1 t0=$2 port=$3 conn side
	for side in srv cli; do
		awk -v t0="$t0" -v side="$side" '/^hxfer-error/ {
			split($NF, t, "="); $NF = sprintf("at %.1f s", (t[2] - t0) / 1e9); print "# " side ": " $0 }' "$d/$side.log"
	done
	for conn in $(sed -n 's/^hxfer-error \(conn=[0-9]*\) .*/\1/p' "$d/srv.log" "$d/cli.log" | sort -u | head -4); do
		grep -h "^hxfer-sock $conn " "$d/srv.log" | sed 's/^/# srv: /'
	done
	ip netns exec "$NS_SRV" ss -tanH "( sport = :$port )" | grep -v "^ESTAB\|^LISTEN" | head -8 | sed 's/^/# srv ss: /'
	echo "# ns srv:$(tcp_trouble_delta "$NS_SRV" "$W/cyc-srv0")"
	echo "# ns cli:$(tcp_trouble_delta "$NS_CLI" "$W/cyc-cli0")"
	echo "# hnic0:$(ip netns exec "$NS_SRV" ethtool -S hnic0 | tail -n +2 | while read -r n v; do
		n=${n%:}
		[[ $n =~ rst|reset|timeout|timed|drop|refused|error|abort ]] && [ "$v" != "${_nic_snap[$n]:-0}" ] &&
			printf ' %s+%d' "$n" $((v - ${_nic_snap[$n]:-0}))
	done)"
}
tap_check "$CYCLE_CONNS conns, 5% loss + reorder, restore all / offload all >= $CYCLE_MIN restores: verified, all re-offloaded" \
	cycles "$SRV4" 5409

# ---- states. The server socket is restored in the state given; ss then
# shows that state on the host.

# close_wait ADDR PORT: the client sends 4 MiB and its FIN; the server
# (CLOSE_WAIT) sends 4 MiB paced; restored while it sends.
close_wait() {
	local d=$W/cw$2 b=$((4 << 20))
	XSRV=(--pace-mbit "$PACE")
	xfer_bg "$d" "$1" "$2" $b 1 --half-close client
	local rc=$?
	XSRV=()
	handoff_snap
	[ $rc = 0 ] && wait_event "$d" srv eof 1 && wait_moved tx_bytes $((64 << 10)) && no_event "$d" srv sent &&
	hctl_expect OK restore "$(sock_tuple "$d")" && ss_state "$2" close-wait && handoff_wait_offloaded 0 5 ||
		{ xfer_kill; return 1; }
	xfer_done "$d" 1 $b $b
}
tap_check "CLOSE_WAIT IPv4 (client FIN, server sending): restored in CLOSE-WAIT, verified" close_wait "$SRV4" 5410
tap_check "CLOSE_WAIT IPv6 (client FIN, server sending): restored in CLOSE-WAIT, verified" close_wait "$SRV6" 5411

# fin_wait2 ADDR PORT: the server sends 64 KiB and its FIN (acked: the
# client read to EOF); the client sends 4 MiB paced; restored meanwhile.
fin_wait2() {
	local d=$W/fw2$2 b=$((4 << 20))
	XCLI=(--pace-mbit "$PACE")
	xfer_bg "$d" "$1" "$2" $b 1 --half-close server
	local rc=$?
	XCLI=()
	handoff_snap
	[ $rc = 0 ] && wait_event "$d" cli eof 1 && wait_moved rx_bytes $((64 << 10)) && no_event "$d" cli sent &&
	hctl_expect OK restore "$(sock_tuple "$d")" && ss_state "$2" fin-wait-2 && handoff_wait_offloaded 0 5 ||
		{ xfer_kill; return 1; }
	xfer_done "$d" 1 $b $b
}
tap_check "FIN_WAIT2 IPv4 (server FIN acked, client sending): restored in FIN-WAIT-2, verified" fin_wait2 "$SRV4" 5412
tap_check "FIN_WAIT2 IPv6 (server FIN acked, client sending): restored in FIN-WAIT-2, verified" fin_wait2 "$SRV6" 5413

# fin_wait1 ADDR PORT: the client (4 KiB receive buffer) reads nothing, so
# the server's 64 KiB and its FIN wait on a closed window; restored in
# FIN_WAIT1 with a non-empty send queue; then the client reads.
fin_wait1() {
	local d=$W/fw1$2 b=$((64 << 10)) q
	XCLI=(--rcvbuf 4096 --gate "$W/gate$2")
	xfer_bg "$d" "$1" "$2" $b 1 --half-close server
	local rc=$?
	XCLI=()
	handoff_snap
	[ $rc = 0 ] && wait_event "$d" srv fin 1 && wait_until 10 "the client's window shut" cli_queues_full "$2" recv &&
	hctl_expect OK restore "$(sock_tuple "$d")" && ss_state "$2" fin-wait-1 && handoff_wait_offloaded 0 5 ||
		{ xfer_kill; return 1; }
	q=$(ip netns exec "$NS_SRV" ss -tnH state fin-wait-1 "( sport = :$2 )" | awk '{ print $2 }')
	echo "# restored FIN-WAIT-1 socket Send-Q: $q"
	touch "$W/gate$2"
	[ "${q:-0}" -gt 0 ] || { echo "# send queue not carried back"; xfer_kill; return 1; }
	xfer_done "$d" 1 $b $b
}
tap_check "FIN_WAIT1 IPv4 (FIN behind a closed window): restored in FIN-WAIT-1 with Send-Q, verified" fin_wait1 "$SRV4" 5414
tap_check "FIN_WAIT1 IPv6 (FIN behind a closed window): restored in FIN-WAIT-1 with Send-Q, verified" fin_wait1 "$SRV6" 5415

# last_ack ADDR PORT: the client sends 64 KiB and its FIN, then reads
# nothing (4 KiB buffer); the server reads to EOF, writes 64 KiB, closes and
# exits: an orphan in LAST_ACK on the NIC. Restored by 4-tuple, the host
# delivers the rest and the FIN: the client's digest matches.
last_ack() {
	local d=$W/la$2 b=$((64 << 10))
	# Before the transfer: the server may be done and closed by the time
	# xfer_bg returns.
	handoff_snap
	XCLI=(--rcvbuf 4096 --gate "$W/gate$2")
	xfer_bg "$d" "$1" "$2" $b 1 --half-close client
	local rc=$?
	XCLI=()
	# The server's close went through the bypass layer before the restore
	# (it reaches the NIC on the same ordered command ring).
	[ $rc = 0 ] && pid_wait "$XFER_SRV" 30 && wait_until 5 "the server's close" counter_ge bypass_close 1 &&
	hctl_expect OK restore "$(sock_tuple "$d")" && ss_state "$2" last-ack && handoff_wait_offloaded 0 5 ||
		{ xfer_kill; return 1; }
	touch "$W/gate$2"
	pid_wait "$XFER_CLI" 60 || { cat "$d/cli.err" | sed 's/^/# /'; return 1; }
	xfer_digests "$d" 1 $b $b
}
tap_check "LAST_ACK IPv4, orphaned: restored in LAST-ACK, the client gets the rest, verified" last_ack "$SRV4" 5416

# time_wait ADDR PORT: the server closes first; the NIC hands the socket
# back in TIME_WAIT (nic_released), ss shows TIME-WAIT in ns srv; a
# restore of that 4-tuple finds no offloaded socket: ENOENT (or EALREADY,
# it is on the host already).
time_wait() {
	local d=$W/tw$2 t r
	handoff_snap
	xfer_bg "$d" "$1" "$2" $((64 << 10)) 1 --half-close server && xfer_done "$d" 1 $((64 << 10)) $((64 << 10)) ||
		{ xfer_kill; return 1; }
	handoff_wait_offloaded 0 10 && ss_state "$2" time-wait || return 1
	t=$(sock_tuple "$d")
	r=$(hctl restore "$t")
	handoff_report restores
	echo "# restore of the TIME-WAIT 4-tuple: $r"
	[ "$(handoff_delta nic_released)" = 1 ] && [[ $r == ENOENT || $r == EALREADY ]] &&
	[ "$(handoff_delta restores)" = 0 ]
}
tap_check "TIME_WAIT IPv4: handed back by the NIC, TIME-WAIT in ss, restore ENOENT/EALREADY" time_wait "$SRV4" 5417
tap_check "TIME_WAIT IPv6: handed back by the NIC, TIME-WAIT in ss, restore ENOENT/EALREADY" time_wait "$SRV6" 5418

# ---- the native stack owns a restored connection.

# lossy ADDR PORT: restored while idle (the client waits until the restore
# and the counter snapshots are done), then 5 %
# loss + 2 % reordering on both ends: 8 MiB each way verified, the host
# retransmitted (TcpRetransSegs in ns srv) and sent hnic0's segments itself.
lossy() {
	local d=$W/loss$2 b=$((8 << 20)) r0 r1 host wire
	handoff_snap
	xfer_bg "$d" "$1" "$2" $b 1 --idle-until "$W/go$2" && wait_sock "$d" 1 && handoff_wait_offloaded 1 5 &&
	hctl_expect OK restore "$(sock_cookie "$d")" && handoff_wait_offloaded 0 5 || { xfer_kill; return 1; }
	r0=$(snmp_tcp "$NS_SRV" RetransSegs)
	nic_snap
	knobs loss_ppm 50000 && knobs reorder_ppm 20000
	touch "$W/go$2"
	xfer_done "$d" 1 $b $b
	local ok=$?
	knobs loss_ppm 0 && knobs reorder_ppm 0
	r1=$(snmp_tcp "$NS_SRV" RetransSegs)
	host=$(nic_delta host_tx_packets) wire=$(nic_delta wire_tx_frames)
	handoff_report
	echo "# ns srv retransmitted $((r1 - r0)) segments; hnic0: $wire frames on the wire, $host from the host stack"
	[ $ok = 0 ] && [ $((r1 - r0)) -gt 0 ] && [ "$host" -gt $((wire / 2)) ] &&
	[ "$(handoff_delta handoffs)" = 1 ]
}
tap_check "after restore IPv4, 5% loss + reorder: host retransmits (TcpRetransSegs), 8 MiB each way verified" lossy "$SRV4" 5419
tap_check "after restore IPv6, 5% loss + reorder: host retransmits (TcpRetransSegs), 8 MiB each way verified" lossy "$SRV6" 5420

# tcp_info ADDR PORT: handed off with no delay (handshake RTT small), then
# 25 ms each way on the wire while 1 MiB moves each way on the NIC: the
# server's getsockopt(TCP_INFO) once all its bytes are in, still offloaded,
# reports the NIC's RTT (>= 25 ms). The connection idles (--hold) and is
# restored: ss shows the NIC's RTT and a cwnd grown past the initial 10.
tcp_info() {
	local d=$W/ti$2 b=$((1 << 20)) before after rtt cwnd live
	handoff_snap
	# Idle until the delay is on the wire: the data moves with it.
	xfer_bg "$d" "$1" "$2" $b 1 --idle-until "$W/go$2" --hold "$W/hold$2" && wait_sock "$d" 1 &&
	handoff_wait_offloaded 1 5 || { xfer_kill; return 1; }
	knobs delay_us 25000
	touch "$W/go$2"
	wait_event "$d" srv sent 1 120 && wait_event "$d" srv received 1 120 &&
	wait_event "$d" cli sent 1 120 && wait_event "$d" cli received 1 120 &&
		wait_until 5 "the NIC's acks to stop" unchanged handoff_stat evt_ack || { knobs delay_us 0; xfer_kill; return 1; }
	before=$(ip netns exec "$NS_SRV" ss -tniH state established "( sport = :$2 )" | tr '\n' ' ')
	hctl_expect OK restore "$(sock_tuple "$d")" && handoff_wait_offloaded 0 5 || { knobs delay_us 0; xfer_kill; return 1; }
	after=$(ip netns exec "$NS_SRV" ss -tniH state established "( sport = :$2 )" | tr '\n' ' ')
	knobs delay_us 0
	touch "$W/hold$2"
	echo "# before: $before"
	echo "# after:  $after"
	rtt=$(echo "$after" | sed -n 's/.* rtt:\([0-9]*\)[.0-9]*\/.*/\1/p')
	cwnd=$(echo "$after" | sed -n 's/.* cwnd:\([0-9]*\).*/\1/p')
	live=$(sed -n 's/^hxfer-info conn=0 rtt_us=\([0-9]*\) .*/\1/p' "$d/srv.log")
	echo "# offloaded, getsockopt(TCP_INFO): $(grep '^hxfer-info' "$d/srv.log")"
	xfer_done "$d" 1 $b $b || return 1
	[ -n "$live" ] && [ "$live" -ge 25000 ] ||
		{ echo "# TCP_INFO while offloaded: rtt ${live:-?} us, not the NIC's"; return 1; }
	[ -n "$rtt" ] && [ "$rtt" -ge 25 ] && [ -n "$cwnd" ] && [ "$cwnd" -gt 10 ] ||
		{ echo "# rtt ${rtt:-?} ms, cwnd ${cwnd:-?}: not the NIC's"; return 1; }
}
tap_check "TCP_INFO IPv4: the NIC's rtt >= 25 ms while offloaded; after restore rtt >= 25 ms and cwnd > 10 carried over" tcp_info "$SRV4" 5421
tap_check "TCP_INFO IPv6: the NIC's rtt >= 25 ms while offloaded; after restore rtt >= 25 ms and cwnd > 10 carried over" tcp_info "$SRV6" 5422

# retransmitted_since N: ns srv's RetransSegs has passed N.
retransmitted_since() {
	local r
	r=$(snmp_tcp "$NS_SRV" RetransSegs)
	echo "RetransSegs $r (was $1)"
	[ "$r" -gt "$1" ]
}

# rto_after_restore ADDR PORT: the server sends; 100 % loss on the wire
# until the NIC's TCP has had an RTO puts it in RTO backoff; the server then asks
# TCP_INFO (the NIC's view, with its retransmissions) and the connection
# is restored while the loss lasts, so the restore's resend is lost too
# and the host's first act is an RTO. With tcp_retries2=5 (a 12.6 s
# span): an RTO count carried into the restore without the time of its
# first retransmission had that RTO measure from time 0 and fail the
# connection (ETIMEDOUT, then a reset for the peer). It must retransmit:
# the 4 MiB arrive intact, the host retransmitted.
rto_after_restore() {
	local d=$W/rto$2 b=$((4 << 20)) r0 r1 info ok i retries
	handoff_snap
	XSRV=(--pace-mbit "$PACE" --info-when "$W/info$2")
	xfer_bg "$d" "$1" "$2" $b 1 --oneway server --hold "$W/hold$2"
	local rc=$?
	XSRV=()
	[ $rc = 0 ] && wait_sock "$d" 1 && handoff_wait_offloaded 1 5 && wait_moved tx_bytes $((64 << 10)) ||
		{ xfer_kill; return 1; }
	# The setting is read at each RTO: the connection has none yet.
	retries=$(ip netns exec "$NS_SRV" sysctl -n net.ipv4.tcp_retries2)
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_retries2=5 || { xfer_kill; return 1; }
	nic_snap
	knobs loss_ppm 1000000
	wait_until 10 "an RTO on the NIC" nic_ge fw_tcp_rto_fired 1
	touch "$W/info$2"
	wait_until 5 "the server's TCP_INFO line" grep -q '^hxfer-info' "$d/srv.log"
	info=$(grep '^hxfer-info' "$d/srv.log")
	r0=$(snmp_tcp "$NS_SRV" RetransSegs)
	hctl_expect OK restore "$(sock_cookie "$d")"
	ok=$?
	# The host's first act is an RTO, lost like the NIC's were.
	wait_until 30 "the host to retransmit" retransmitted_since "$r0"
	knobs loss_ppm 0
	touch "$W/hold$2"
	xfer_done "$d" 1 $b 0 || ok=1
	r1=$(snmp_tcp "$NS_SRV" RetransSegs)
	ip netns exec "$NS_SRV" sysctl -qw net.ipv4.tcp_retries2="$retries"
	echo "# NIC's view before the restore: ${info:-none}"
	echo "# ns srv retransmitted $((r1 - r0)) segments after the restore"
	handoff_report restores
	[ $ok = 0 ] && [[ $info =~ total_retrans=[1-9] ]] && [ $((r1 - r0)) -gt 0 ] &&
	[ "$(handoff_delta handoffs)" = 1 ] && [ "$(handoff_delta restores)" = 1 ]
}
tap_check "restored during an RTO on the NIC (TCP_INFO asked), tcp_retries2=5: the host retransmits, 4 MiB verified" \
	rto_after_restore "$SRV4" 5425

# keepalive ADDR PORT: restored right after the handoff; idle with
# keepalive every 1 s until ns srv's host stack has sent 6 probes
# (TCPKeepAlive; unanswered, the fifth would end the connection).
keepalive() {
	local d=$W/ka$2 k0 k1
	handoff_snap
	xfer_bg "$d" "$1" "$2" $((256 << 10)) 1 --idle-until "$W/go$2" --keepalive 1 && wait_sock "$d" 1 &&
	handoff_wait_offloaded 1 5 || { xfer_kill; return 1; }
	k0=$(netstat_ext "$NS_SRV" TCPKeepAlive)
	hctl_expect OK restore "$(sock_tuple "$d")" || { xfer_kill; return 1; }
	wait_until 60 "6 keepalive probes from ns srv" probes_since "$NS_SRV" "$k0" 6
	touch "$W/go$2"
	xfer_done "$d" 1 $((256 << 10)) $((256 << 10)) || return 1
	k1=$(netstat_ext "$NS_SRV" TCPKeepAlive)
	echo "# ns srv sent $((k1 - k0)) keepalive probes after the restore"
	[ $((k1 - k0)) -ge 6 ]
}
tap_check "keepalive after restore IPv6: the host sends the server's probes, verified" keepalive "$SRV6" 5423

# ---- bad input.

# held ADDR PORT: one idle offloaded connection for the checks below.
held() {
	xfer_bg "$W/held" "$1" "$2" $((64 << 10)) 1 --hold "$W/hold-held" --gate "$W/hold-held" &&
	wait_sock "$W/held" 1 && handoff_wait_offloaded 1 5
}

malformed() {
	local v bad=0 r
	handoff_snap
	for v in '' ' ' garbage 0x 0xzz 1a2b -1 18446744073709551616 '0x1 2' allx \
		'198.18.0.1:5424' '198.18.0.1 198.18.0.2' '198.18.0.1:5424 198.18.0.2' \
		'198.18.0.1:70000 198.18.0.2:1' '198.18.0.1:-1 198.18.0.2:1' '198.18.0.300:1 198.18.0.2:1' \
		'2001:db8::1:5424 2001:db8::2:1' '[2001:db8::1]:5424' '[2001:db8::1]:5424 198.18.0.2:1' \
		'[2001:db8::1:5424 [2001:db8::2]:1' '198.18.0.1:5424 198.18.0.2:1 x'; do
		for n in restore offload; do
			r=$(hctl "$n" "$v")
			[ "$r" = EINVAL ] || { echo "# $n '$v': $r, expected EINVAL"; bad=1; }
		done
	done
	handoff_report restores
	[ $bad = 0 ] && [ "$(handoff_stat offloaded)" = 1 ] && [ "$(handoff_delta restores)" = 0 ]
}

unknown() {
	hctl_expect ENOENT restore "198.18.0.1:9 198.18.0.2:9" &&
	hctl_expect ENOENT restore "[2001:db8::1]:9 [2001:db8::2]:9" &&
	hctl_expect ENOENT restore 1 &&
	hctl_expect ENOENT offload "198.18.0.1:9 198.18.0.2:9" &&
	hctl_expect ENOENT offload 0x1 &&
	[ "$(handoff_stat offloaded)" = 1 ]
}

# already: offload of an offloaded connection EALREADY; restore it (by
# tuple), restore again EALREADY (by cookie), offload back, offload again
# EALREADY; `all` with nothing to do succeeds.
already() {
	local t c
	t=$(sock_tuple "$W/held") c=$(sock_cookie "$W/held")
	hctl_expect EALREADY offload "$c" &&
	hctl_expect OK restore "$t" && hctl_expect EALREADY restore "$c" &&
	hctl_expect OK offload "$t" && hctl_expect EALREADY offload "$c" &&
	handoff_wait_offloaded 1 5
}

# concurrent: 4 writers restore the same connection at the same instant:
# exactly one OK, the others EALREADY or ENOENT; then the same for
# offload; 20 rounds.
concurrent() {
	local i n res ok
	for i in $(seq 20); do
		for n in restore offload; do
			res=$(hctl "$n" "$(sock_cookie "$W/held")" --parallel 4 | sort | tr '\n' ' ')
			ok=$(echo "$res" | grep -o OK | wc -l)
			[ "$ok" = 1 ] && ! echo "$res" | grep -qvE '^((OK|EALREADY|ENOENT) )+$' ||
				{ echo "# round $i, 4 x $n: $res"; return 1; }
		done
	done
	handoff_wait_offloaded 1 5 && ss_state 5424 established
}

# 64 KiB each way and a simultaneous close take well under a second; a
# stall shows both ends' view and the NIC's.
held_done() {
	xfer_done "$W/held" 1 $((64 << 10)) $((64 << 10)) 60 && return 0
	ip netns exec "$NS_SRV" ss -tniH | sed 's/^/# srv: /'
	ip netns exec "$NS_CLI" ss -tniH | sed 's/^/# cli: /'
	nic_dump_conns 2
	return 1
}

handoff_snap
if held "$SRV4" 5424; then
	tap_check "malformed restore/offload input: EINVAL, nothing restored" malformed
	tap_check "unknown tuple or cookie: ENOENT" unknown
	tap_check "already offloaded / already restored: EALREADY" already
	tap_check "4 concurrent restores (offloads) of one connection, 20 rounds: exactly one OK" concurrent
	touch "$W/hold-held"
	tap_check "the connection used above still moves data intact" held_done
else
	xfer_kill
	for t in malformed unknown already concurrent data; do tap_fail "bad input: $t (no connection to test with)"; done
fi

all_none() { handoff_wait_offloaded 0 && hctl_expect OK restore all; }
tap_check "restore all with nothing offloaded: OK" all_none
handoff_finish
