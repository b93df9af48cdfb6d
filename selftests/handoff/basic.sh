#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The handoff path end to end: a server whose accepted connections the
# policy hands off to hnic0's firmware, a native client on hnic1; data both
# ways verified with SHA-256, and the counters that prove the NIC ran it.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# missing: hxfer (make module tools builds it)"; exit $ksft_fail; }
require ip ethtool
tap_plan 6
trap 'topo_destroy; module_unload' EXIT
dmesg_mark


tap_check "hnic topology up" topo_create hnic
policy() {
	ip netns exec "$NS_SRV" sysctl -qw net.handoff.enabled=1 &&
	ip netns exec "$NS_SRV" sysctl -qw net.handoff.ports=7000-7010
}
tap_check "offload policy on (ports 7000-7010)" policy

one_conn() {
	local h0=$(handoff_stat handoffs) e0=$(hnic_stat "$NS_SRV" hnic0 host_evt_recv)
	xfer_verify "$1" "$2" $((4 << 20)) 1 || return 1
	local h1=$(handoff_stat handoffs) e1=$(hnic_stat "$NS_SRV" hnic0 host_evt_recv)
	echo "# handoffs $h0 -> $h1, recv events $e0 -> $e1"
	[ "$h1" = $((h0 + 1)) ] && [ "$e1" -gt "$e0" ]
}
tap_check "IPv4: 4 MiB each way, offloaded, SHA-256 intact" one_conn "$SRV4" 7000
tap_check "IPv6: 4 MiB each way, offloaded, SHA-256 intact" one_conn "$SRV6" 7001

settled() {
	handoff_wait_offloaded 0 5 && return 0
	ip netns exec "$NS_SRV" cat /proc/net/handoff_stat | sed 's/^/# /'
	return 1
}
tap_check "every offloaded connection released after close" settled

tap_check "dmesg clean" dmesg_clean_since
tap_exit
