#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# NIC-initiated restore under memory pressure (paper: ch_os_restore): with
# hnic0's `pressure_slots` watermark set, the firmware asks the host to
# take back the connections idle the longest until enough connection slots
# are free; the host restores each; the applications notice nothing.
#
# Eight held connections in two batches, the first idle 3 s longer; the
# watermark leaves room for four: exactly the first batch comes back, the
# second stays on the NIC, and all eight streams complete intact.

. ../lib.sh
. ./common.sh

PRESSURE=/sys/kernel/debug/hnic/hnic0/pressure_slots
BYTES=$((64 << 10))

handoff_start hxfer hsysctl
tap_plan 5
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, policy on for all ports, pressure_slots knob present" \
	eval 'handoff_topology all && [ -w "$PRESSURE" ] && [ "$(cat "$PRESSURE")" = 0 ]'
MAX=$(hnic_stat "$NS_SRV" hnic0 fw_max_conns)

# batches: four connections (A), 1 s later four more (B); all idle, held.
# The NIC's idle clock ticks every 100 ms: 1 s orders the batches. Without
# the watermark the NIC asks for nothing, all along.
batches() {
	xfer_bg "$W/a" "$SRV4" 7401 $BYTES 4 --hold "$W/hold" &&
		wait_event "$W/a" srv received 4 && handoff_wait_offloaded 4 5 || return 1
	A="$XFER_SRV $XFER_CLI"
	stays_true 1 "no restore request without the watermark" stat_is nic_restore_requests 0 || return 1
	xfer_bg "$W/b" "$SRV4" 7402 $BYTES 4 --hold "$W/hold" &&
		wait_event "$W/b" srv received 4 && handoff_wait_offloaded 8 5 || return 1
	B="$XFER_SRV $XFER_CLI"
	stays_true 0.5 "no restore request without the watermark" stat_is nic_restore_requests 0
}
tap_check "8 idle connections offloaded in two batches 1 s apart; no restore request without the watermark" batches

# under_pressure: watermark MAX-4 (8 live: 4 slots short): the NIC asks for
# the 4 idle the longest, batch A; the host restores them, B stays.
under_pressure() {
	local r0 q0 i c res
	handoff_snap
	r0=$(handoff_stat restores) q0=$(handoff_stat nic_restore_requests)
	echo $((MAX - 4)) > "$PRESSURE" || return 1
	handoff_wait_offloaded 4 10 || { handoff_report restores nic_restore_requests; return 1; }
	# Four requests, and no more while the four restores settle.
	stays_true 0.5 "four restore requests" stat_is nic_restore_requests $((q0 + 4))
	handoff_report restores nic_restore_requests
	[ $(($(handoff_stat nic_restore_requests) - q0)) = 4 ] && [ $(($(handoff_stat restores) - r0)) = 4 ] ||
		{ echo "# expected 4 requests and 4 restores"; return 1; }
	for i in 0 1 2 3; do
		c=$(sock_cookie "$W/a" "$i")
		res=$(hctl restore "$c")
		[ "$res" = EALREADY ] || { echo "# batch A conn $i (cookie $c): restore gave $res, expected EALREADY (on the host)"; return 1; }
	done
	[ "$(fw_live)" = 4 ] || { echo "# hnic0 holds $(fw_live) connections"; return 1; }
	echo 0 > "$PRESSURE"
}
tap_check "pressure_slots=fw_max_conns-4: the NIC asks for the 4 idle longest (first batch), host restores exactly those" \
	under_pressure

# all_intact: both batches finish (FIN after the hold), every stream intact.
all_intact() {
	touch "$W/hold"
	XFER_SRV=${A% *} XFER_CLI=${A#* }
	xfer_done "$W/a" 4 $BYTES $BYTES 60 || return 1
	XFER_SRV=${B% *} XFER_CLI=${B#* }
	xfer_done "$W/b" 4 $BYTES $BYTES 60 || return 1
	handoff_wait_offloaded 0 10
}
tap_check "all 8 transfers complete intact (restored and still offloaded alike)" all_intact

handoff_finish
