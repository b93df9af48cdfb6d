#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The wire's fault knobs do what they say, and stock TCP over a bad wire
# (5% loss, reordering, duplication, delay) still delivers identical data.

. ../lib.sh

BYTES=$((32 * 1024 * 1024))
[ -f "$HANDOFF_KO" ] || { echo "# SKIP: $HANDOFF_KO not built"; exit $ksft_skip; }
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# SKIP: hxfer not built"; exit $ksft_skip; }
skip_unless ip ethtool ping
tap_plan 6
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up" topo_create hnic

for dev in hnic0 hnic1; do
	hnic_knob $dev loss_ppm 50000
	hnic_knob $dev reorder_ppm 20000
	hnic_knob $dev dup_ppm 10000
	hnic_knob $dev delay_us 200
done
tap_check "TCP IPv4 over 5% loss + reorder + dup: 32 MiB each way verified" xfer_verify "$SRV4" 5001 $BYTES
tap_check "TCP IPv6 over 5% loss + reorder + dup: 32 MiB each way verified" xfer_verify "$SRV6" 5002 $BYTES

knobs_acted() {
	local loss reorder dup
	loss=$(hnic_stat "$NS_SRV" hnic0 wire_loss_drop)
	reorder=$(hnic_stat "$NS_SRV" hnic0 wire_reorder)
	dup=$(hnic_stat "$NS_SRV" hnic0 wire_dup)
	echo "# hnic0 wire: $loss lost, $reorder reordered, $dup duplicated"
	[ "$loss" -gt 0 ] && [ "$reorder" -gt 0 ] && [ "$dup" -gt 0 ]
}
tap_check "the wire lost, reordered and duplicated frames" knobs_acted
for dev in hnic0 hnic1; do
	for k in loss_ppm reorder_ppm dup_ppm delay_us; do hnic_knob $dev $k 0; done
done

link_knob() {
	local i
	hnic_knob hnic0 link_down 1
	for i in $(seq 30); do
		[ "$(ip netns exec "$NS_CLI" cat /sys/class/net/hnic1/carrier)" = 0 ] && break
		sleep 0.1
	done
	ip netns exec "$NS_CLI" ping -q -c 2 -W 1 "$SRV4" >/dev/null 2>&1 && { echo "# ping passed a down link"; return 1; }
	hnic_knob hnic0 link_down 0
	topo_wait_reachable
}
tap_check "link_down takes carrier down on both ends and back" link_knob
tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
