#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Route changes and migration between NICs: a second hnic pair (hnic2 in
# ns srv, hnic3 in ns cli) joins the namespaces beside hnic0/hnic1.
#
# - a route change that leaves an offloaded connection's route on its hnic
#   (an unrelated prefix) restores nothing;
# - moving the route of a connection's peer to the second pair (both ends,
#   via the other pair's address) restores it to the host at once, mid-
#   transfer; `net.handoff.offload` then hands it to hnic2: the connection
#   moved hnic0 -> host -> hnic2 and the data arrives intact (SHA-256);
# - a new connection follows the moved route to hnic2; deleting the routes
#   brings a transfer on hnic2 back, and `offload` hands it to hnic0.

. ../lib.sh
. ./common.sh

PACE=${HANDOFF_MIGRATE_PACE_MBIT:-8}
BYTES=$((16 << 20))

handoff_start hxfer hsysctl
tap_plan 6
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT
dmesg_mark

# second_pair: hnic2 (ns srv, 198.19.2.1, 2001:db8:2::1) <-> hnic3 (ns cli,
# .2, ::2); reverse-path filtering off, since for a while each side
# receives on one pair what it routes over the other.
second_pair() {
	local ns dev
	ip -n "$NS_SRV" link add hnic2 type hnic peer name hnic3 netns "$NS_CLI" &&
	_topo_addr "$NS_SRV" hnic2 198.19.2.1 2001:db8:2::1 &&
	_topo_addr "$NS_CLI" hnic3 198.19.2.2 2001:db8:2::2 || return 1
	for ns in "$NS_SRV" "$NS_CLI"; do
		for dev in all default hnic0 hnic1 hnic2 hnic3; do
			[ -e "/proc/sys/net/ipv4/conf/$dev" ] || continue
			ip netns exec "$ns" sysctl -qw "net.ipv4.conf.$dev.rp_filter=0" 2>/dev/null
		done
	done
	wait_until 10 "the second pair to answer" _second_pair_answers
}
_second_pair_answers() {
	ip netns exec "$NS_SRV" ping -c1 -W1 -q 198.19.2.2 >/dev/null 2>&1 || { echo "no answer from 198.19.2.2"; return 1; }
	ip netns exec "$NS_SRV" ping -6 -c1 -W1 -q 2001:db8:2::2 >/dev/null 2>&1 || { echo "no answer from 2001:db8:2::2"; return 1; }
}
tap_check "hnic topology up, policy on for all ports, second pair hnic2/hnic3 up" \
	eval 'handoff_topology all && second_pair'

# fw_live_wait DEV VALUE: DEV's firmware holds VALUE connections within 5 s.
fw_live_wait() {
	wait_until 5 "$1's firmware to hold $2 connections" _fw_live_is "$2" "$1"
}

# restores_reach N SECS: the restores counter reaches N within SECS.
restores_reach() {
	wait_until "$2" "restores to reach $1" stat_ge restores "$1"
}

# migrate V ADDR PEER PORT: one paced transfer; an unrelated route, then
# the peer's route moved to the second pair on both ends (the client's
# keeps PEER as its source, so later connections are from PEER too);
# offload again.
migrate() {
	local v=$1 addr=$2 peer=$3 port=$4 r0 h0 cookie res
	local ip="ip" plen=32 srv_gw=198.19.2.2 cli_gw=198.19.2.1 other=198.19.99.0/24
	[ "$v" = 6 ] && ip="ip -6" plen=128 srv_gw=2001:db8:2::2 cli_gw=2001:db8:2::1 other=2001:db8:99::/64
	xfer_bg "$W/m$v" "$addr" "$port" $BYTES 1 --pace-mbit "$PACE" &&
		wait_sock "$W/m$v" 1 && handoff_wait_offloaded 1 5 && fw_live_wait hnic0 1 || return 1
	cookie=$(sock_cookie "$W/m$v")
	r0=$(handoff_stat restores) h0=$(handoff_stat handoffs)

	# A route that does not concern the connection: it stays on hnic0.
	$ip -n "$NS_SRV" route add "$other" via "$srv_gw" dev hnic2 || return 1
	stays_true 1 "the connection on hnic0 after an unrelated route" stat_is restores "$r0" &&
	[ "$(handoff_stat offloaded)" = 1 ] || { echo "# an unrelated route restored the connection"; return 1; }

	# The peer is now reached over the second pair: restored at once.
	no_event "$W/m$v" cli received || return 1
	$ip -n "$NS_SRV" route replace "$peer/$plen" via "$srv_gw" dev hnic2 &&
	$ip -n "$NS_CLI" route replace "$addr/$plen" via "$cli_gw" dev hnic3 src "$peer" || return 1
	restores_reach $((r0 + 1)) 5 && handoff_wait_offloaded 0 5 && fw_live_wait hnic0 0 || return 1
	dmesg | tail -20 | grep -q "route of connection $cookie left its hnic device: restored" ||
		{ echo "# no dmesg line for connection $cookie"; return 1; }

	# Handed off again, to the device its route uses now.
	res=$(hctl offload "$cookie")
	[ "$res" = OK ] || { echo "# offload $cookie: $res"; return 1; }
	handoff_wait_offloaded 1 5 && fw_live_wait hnic2 1 && fw_live_wait hnic0 0 || return 1
	[ "$(handoff_stat handoffs)" = $((h0 + 1)) ] || { echo "# handoffs $h0 -> $(handoff_stat handoffs)"; return 1; }
	no_event "$W/m$v" cli received || return 1
	xfer_done "$W/m$v" 1 $BYTES $BYTES 120 || { transfer_diag; return 1; }
	handoff_wait_offloaded 0 10
}
tap_check "IPv4: unrelated route keeps it; route moved to hnic2: restored mid-transfer, offloaded to hnic2, intact" \
	migrate 4 "$SRV4" "$CLI4" 7301
tap_check "IPv6: unrelated route keeps it; route moved to hnic2: restored mid-transfer, offloaded to hnic2, intact" \
	migrate 6 "$SRV6" "$CLI6" 7302

# fw_segs_above DEV N: DEV's firmware has sent more than N TCP segments.
fw_segs_above() {
	local v
	v=$(hnic_stat "$NS_SRV" "$1" fw_tcp_tx_segs)
	echo "$1 fw_tcp_tx_segs $v (was $2)"
	[ "$v" -gt "$2" ]
}

# A new connection follows the new routes: accepted and handed off on hnic2.
new_conn_on_hnic2() {
	local h0 a0 b0 a1 b1
	h0=$(handoff_stat handoffs)
	a0=$(hnic_stat "$NS_SRV" hnic2 fw_tcp_tx_segs) b0=$(hnic_stat "$NS_SRV" hnic0 fw_tcp_tx_segs)
	xfer_bg "$W/n" "$SRV4" 7303 $((1 << 20)) 1 &&
		xfer_done "$W/n" 1 $((1 << 20)) $((1 << 20)) 60 || return 1
	[ "$(handoff_stat handoffs)" = $((h0 + 1)) ] || { echo "# handoffs $h0 -> $(handoff_stat handoffs)"; return 1; }
	# The firmware publishes its counters every 100 ms tick.
	wait_until 2 "hnic2's firmware counters to show the segments" fw_segs_above hnic2 "$a0"
	a1=$(hnic_stat "$NS_SRV" hnic2 fw_tcp_tx_segs) b1=$(hnic_stat "$NS_SRV" hnic0 fw_tcp_tx_segs)
	echo "# firmware segments sent: hnic2 +$((a1 - a0)), hnic0 +$((b1 - b0))"
	[ $((a1 - a0)) -gt 0 ] && [ $((b1 - b0)) = 0 ]
}
tap_check "a new connection follows the moved route: handed off on hnic2, intact" new_conn_on_hnic2

# Routes back to hnic0: a transfer running on hnic2 comes back to the host,
# then is handed to hnic0 (a paced transfer: a connection whose reader
# sleeps in native recv is handed off at its next call, see handoff.rst).
route_back() {
	local r0 cookie res
	xfer_bg "$W/b" "$SRV4" 7304 $BYTES 1 --pace-mbit "$PACE" &&
		wait_sock "$W/b" 1 && handoff_wait_offloaded 1 5 && fw_live_wait hnic2 1 || return 1
	cookie=$(sock_cookie "$W/b")
	r0=$(handoff_stat restores)
	ip -n "$NS_SRV" route del "$CLI4/32" && ip -n "$NS_CLI" route del "$SRV4/32" || return 1
	restores_reach $((r0 + 1)) 5 && fw_live_wait hnic2 0 || return 1
	res=$(hctl offload "$cookie")
	[ "$res" = OK ] || { echo "# offload $cookie: $res"; return 1; }
	fw_live_wait hnic0 1 && no_event "$W/b" cli received || return 1
	xfer_done "$W/b" 1 $BYTES $BYTES 120 || { transfer_diag; return 1; }
}
tap_check "route deleted: a transfer on hnic2 comes back to the host, then to hnic0, intact" route_back

handoff_finish
