#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# How offloaded connections end: half-close in either direction (data keeps
# flowing towards the side that sent its FIN), abortive close by the
# offloaded server and by the native client (SO_LINGER 0: RST, seen as
# ECONNRESET by the other side), and keepalive on an idle connection.
# Every connection is handed off and released by the NIC afterwards.

. ../lib.sh
. ./common.sh

BYTES=$((2 << 20))
handoff_start hxfer
tap_plan 17
WORK=$(mktemp -d)
trap 'wait; rm -rf "$WORK"; topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, policy on for all ports" handoff_topology all

# half ADDR PORT FIRST: FIRST sends and shuts down its write side; the other
# reads to EOF and only then sends. 4 connections, verified, offloaded.
half() {
	xfer_offloaded "$1" "$2" $BYTES 4 --half-close "$3" || return 1
	handoff_report bypass_shutdown
	counter_ge bypass_shutdown 4
}
tap_check "half-close, client first, IPv4: server sends after the client's FIN, verified" half "$SRV4" 5101 client
tap_check "half-close, client first, IPv6: server sends after the client's FIN, verified" half "$SRV6" 5102 client
tap_check "half-close, offloaded server first, IPv4: client sends after the NIC's FIN, verified" half "$SRV4" 5103 server
tap_check "half-close, offloaded server first, IPv6: client sends after the NIC's FIN, verified" half "$SRV6" 5104 server

# late ADDR PORT: the client's 32 KiB and FIN arrive before the server's
# first system call on the accepted socket (it waits for a gate file): the
# socket is handed off in CLOSE_WAIT with both queued; the server reads
# exactly those bytes, then EOF, and answers.
late() {
	local gate=$WORK/gate$2 rc
	# The gate opens once the peer's FIN has put the server's socket in
	# CLOSE_WAIT (the test's precondition), not after a guess at the time.
	( wait_until 30 "the server socket in CLOSE_WAIT" ss_state "$2" close-wait; touch "$gate" ) &
	xfer_offloaded "$1" "$2" $((32 << 10)) 1 --half-close client --gate "$gate"
	rc=$?
	wait
	rm -f "$gate"
	return $rc
}
tap_check "handoff in CLOSE_WAIT, IPv4: the peer's data and FIN queued before it, exactly the data read, verified" late "$SRV4" 5111
tap_check "handoff in CLOSE_WAIT, IPv6: the peer's data and FIN queued before it, exactly the data read, verified" late "$SRV6" 5112

# shut_first ADDR PORT: the server sends nothing and shuts down its write
# side before its first read (its reads wait for a gate file). That
# shutdown hands the connection off and the NIC sends the FIN; served
# natively, it would leave the socket in FIN_WAIT, where the first read's
# handoff is refused for good. The client's 1 MiB then reaches the
# offloaded server intact.
shut_first() {
	local gate=$WORK/sgate$2 b=$((1 << 20)) srv cli ok=0
	handoff_snap
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$1" --port "$2" --bytes 0 --gate "$gate" >"$WORK/s$2" &
	srv=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$1" --port "$2" --bytes $b >"$WORK/c$2" &
	cli=$!
	handoff_wait_offloaded 1 10 || ok=1
	counter_ge bypass_shutdown 1 || ok=1
	touch "$gate"
	wait $cli || ok=1
	wait $srv || ok=1
	rm -f "$gate"
	sed 's/^/# srv: /' "$WORK/s$2"
	grep -q " recv=$b .*recv_check=ok" "$WORK/s$2" || ok=1
	handoff_wait_offloaded 0 || ok=1
	handoff_report bypass_shutdown
	[ $ok = 0 ] && [ "$(handoff_delta handoffs)" = 1 ] && [ "$(handoff_refused_delta)" = 0 ]
}
tap_check "shutdown before the first read, IPv4: handed off by the shutdown, FIN from the NIC, 1 MiB verified" shut_first "$SRV4" 5113
tap_check "shutdown before the first read, IPv6: handed off by the shutdown, FIN from the NIC, 1 MiB verified" shut_first "$SRV6" 5114

# rst ADDR PORT SIDE: SIDE closes with SO_LINGER 0 after all data; the other
# side gets ECONNRESET (hxfer fails otherwise). 4 connections.
rst() { xfer_offloaded "$1" "$2" $BYTES 4 --rst "$3"; }
tap_check "abortive close by the offloaded server, IPv4: client sees ECONNRESET, data verified" rst "$SRV4" 5105 server
tap_check "abortive close by the offloaded server, IPv6: client sees ECONNRESET, data verified" rst "$SRV6" 5106 server
tap_check "client RST, IPv4: offloaded server sees ECONNRESET, data verified" rst "$SRV4" 5107 client
tap_check "client RST, IPv6: offloaded server sees ECONNRESET, data verified" rst "$SRV6" 5108 client

# Keepalive: both ends probe after 1 s idle, every 1 s, 5 unanswered probes
# kill the connection (6 s). It idles until the client has sent 6 probes,
# then moves data: the NIC answered the client's probes (the client's
# TcpExtTCPKeepAlive counts them sent; unanswered, the fifth would be the last).
# The server enabled keepalive right after accept, before its first read
# handed the connection off: the settings travel in the snapshot and the
# NIC answers the probes (it holds the connection the whole time).
keepalive() {
	local k0 k1 go=$WORK/ka$2
	k0=$(netstat_ext "$NS_CLI" TCPKeepAlive)
	( wait_until 60 "6 keepalive probes from ns cli" probes_since "$NS_CLI" "$k0" 6; touch "$go" ) &
	xfer_offloaded "$1" "$2" $((256 << 10)) 1 --idle-until "$go" --keepalive 1 || return 1
	k1=$(netstat_ext "$NS_CLI" TCPKeepAlive)
	handoff_report bypass_setsockopt
	echo "# ns cli sent $((k1 - k0)) keepalive probes"
	[ $((k1 - k0)) -ge 6 ]
}
tap_check "keepalive IPv4: idle through 6 probes 1 s apart, still works, probes answered" keepalive "$SRV4" 5109
tap_check "keepalive IPv6: idle through 6 probes 1 s apart, still works, probes answered" keepalive "$SRV6" 5110

# After all that, nothing is left on the NIC.
nic_empty() {
	wait_fw_live 0 && handoff_wait_offloaded 0 5
}
tap_check "no connection left on the NIC (offloaded 0, fw_live_conns 0)" nic_empty
handoff_finish
