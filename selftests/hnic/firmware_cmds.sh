#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The command ring (OS -> NIC) and the event ring (NIC -> OS), end to end
# through the firmware engine running inside the kernel: commands posted
# through debugfs `command` (as the bypass layer will post them), their
# effect on the firmware, and the events NAPI takes back to the host.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# SKIP: $HANDOFF_KO not built"; exit $ksft_skip; }
[ -x "$HANDOFF_BIN/hnic-fwcmd" ] || { echo "# SKIP: hnic-fwcmd not built"; exit $ksft_skip; }
skip_unless ip ethtool
tap_plan 8
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up" topo_create hnic
D=/sys/kernel/debug/hnic/hnic0
st() { hnic_stat "$NS_SRV" hnic0 "$1"; }
fwcmd() { "$HANDOFF_BIN/hnic-fwcmd" "$@" --to "$D/command"; }

# wait_stat NAME VALUE: the firmware works asynchronously.
wait_stat() {
	local i
	for i in $(seq 50); do [ "$(st "$1")" = "$2" ] && return 0; sleep 0.1; done
	echo "# $1 is $(st "$1"), expected $2"
	return 1
}

malformed() {
	local m0=$(st fw_cmd_malformed) c0=$(st bus_cmd_msgs)
	fwcmd garbage && wait_stat fw_cmd_malformed $((m0 + 1)) && [ "$(st bus_cmd_msgs)" = $((c0 + 1)) ]
}
tap_check "malformed command crosses the ring, is counted, nothing breaks" malformed

oversize() {
	local c0=$(st bus_cmd_msgs)
	! head -c 300 /dev/zero > "$D/command" 2>/dev/null && [ "$(st bus_cmd_msgs)" = "$c0" ]
}
tap_check "message larger than a ring slot refused with an error" oversize

unknown_cid() {
	local r0=$(st fw_cmd_refused)
	fwcmd restore --cid 4000000 && wait_stat fw_cmd_refused $((r0 + 1))
}
tap_check "restore of an unknown cid refused by the firmware" unknown_cid

handoff() {
	local ok0=$(st fw_cmd_ok) e0=$(st host_evt_handoff_done)
	fwcmd handoff --cookie 7 --local "$SRV4:7" --remote "$CLI4:40000" &&
	wait_stat fw_cmd_ok $((ok0 + 1)) && wait_stat host_evt_handoff_done $((e0 + 1)) &&
	[ "$(cat $D/fw_live_conns)" = 1 ]
}
tap_check "handoff: firmware takes the connection, reply event reaches the host" handoff

duplicate() {
	local r0=$(st fw_cmd_refused) e0=$(st host_evt_handoff_done)
	fwcmd handoff --cookie 8 --local "$SRV4:7" --remote "$CLI4:40000" &&
	wait_stat fw_cmd_refused $((r0 + 1)) && wait_stat host_evt_handoff_done $((e0 + 1)) &&
	[ "$(cat $D/fw_live_conns)" = 1 ]
}
tap_check "second handoff of the same 4-tuple refused, and answered" duplicate

# The host side does not learn cids yet (no bypass layer): restore every
# small cid; exactly one is live.
restore() {
	local ok0=$(st fw_cmd_ok) ev0=$(st host_evt_restore) cid i
	for cid in $(seq 0 15); do fwcmd restore --cid $cid --cookie 9 || return 1; done
	wait_stat host_evt_restore $((ev0 + 1)) || return 1
	[ "$(st fw_cmd_ok)" = $((ok0 + 1)) ] || { echo "# $(($(st fw_cmd_ok) - ok0)) restores accepted"; return 1; }
	for i in $(seq 20); do [ "$(cat $D/fw_live_conns)" = 0 ] && return 0; sleep 0.1; done
	return 1
}
tap_check "restore hands the connection back with a restore event; NIC empty" restore
tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
