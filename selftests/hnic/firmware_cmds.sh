#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The command ring (OS -> NIC) and the event ring (NIC -> OS), end to end
# through the firmware engine running inside the kernel: commands posted
# through debugfs `command` (as the bypass layer posts them), their effect on
# the firmware, and the events NAPI takes back to the host.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
[ -x "$HANDOFF_BIN/hnic-fwcmd" ] || { echo "# missing: hnic-fwcmd (make module tools builds it)"; exit $ksft_fail; }
require ip ethtool
tap_plan 7
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up" topo_create hnic
D=/sys/kernel/debug/hnic/hnic0
st() { hnic_stat "$NS_SRV" hnic0 "$1"; }
fwcmd() { "$HANDOFF_BIN/hnic-fwcmd" "$@" --to "$D/command"; }

# wait_stat NAME VALUE: the firmware works asynchronously.
wait_stat() { wait_until 5 "$1 to read $2" _stat_is "$1" "$2"; }
_stat_is() {
	local v
	v=$(st "$1")
	echo "$1 = $v"
	[ "$v" = "$2" ]
}
# nic_empty: the firmware lets go of every connection within 2 s.
nic_empty() { wait_until 2 "the NIC to run no connection" file_is "$D/fw_live_conns" 0; }

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

# A handoff the host did not ask for (no connection waits for its cookie):
# the firmware takes the connection, the host answers the result by taking
# it back (`restore`): two commands accepted, NIC empty again.
handoff() {
	local ok0=$(st fw_cmd_ok) e0=$(st host_evt_handoff_done) o0=$(st host_orphan_handoff) r0=$(st host_evt_restore) i
	fwcmd handoff --cookie 7 --local "$SRV4:7" --remote "$CLI4:40000" &&
	wait_stat host_evt_handoff_done $((e0 + 1)) && wait_stat host_orphan_handoff $((o0 + 1)) &&
	wait_stat host_evt_restore $((r0 + 1)) && wait_stat fw_cmd_ok $((ok0 + 2)) && nic_empty
}
tap_check "handoff nobody asked for: firmware takes it, host takes it back; NIC empty" handoff

# Two at once for one 4-tuple: each is answered (the second is refused as a
# duplicate, or accepted once the first is back), and the NIC ends empty.
duplicate() {
	local e0=$(st host_evt_handoff_done) i
	fwcmd handoff --cookie 8 --local "$SRV4:7" --remote "$CLI4:40000" &&
	fwcmd handoff --cookie 9 --local "$SRV4:7" --remote "$CLI4:40000" &&
	wait_stat host_evt_handoff_done $((e0 + 2)) && nic_empty
}
tap_check "two handoffs of one 4-tuple both answered; NIC empty" duplicate
tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
