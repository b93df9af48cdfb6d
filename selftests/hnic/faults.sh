#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The wire's fault knobs do what they say, and stock TCP over a bad wire
# (5% loss, reordering, duplication, delay) still delivers identical data.

. ../lib.sh

BYTES=$((32 * 1024 * 1024))
[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# missing: hxfer (make module tools builds it)"; exit $ksft_fail; }
require ip ethtool ping
tap_plan 8
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

# rate_mbit caps what a device sends: a one-way transfer cannot beat it.
rate_cap() {
	local mbit
	hnic_knob hnic1 rate_mbit 20
	mbit=$(bulk_oneway_mbit "$SRV4" 5010 $((4 << 20)))
	hnic_knob hnic1 rate_mbit 0
	echo "# 4 MiB under a 20 Mbit/s cap: $mbit Mbit/s"
	[ -n "$mbit" ] && [ "$mbit" -le 20 ] && [ "$mbit" -gt 0 ]
}
tap_check "rate_mbit=20 caps a bulk transfer at 20 Mbit/s" rate_cap

# delay_us adds one-way delay: 20 ms each way makes every RTT >= 40 ms.
delay_knob() {
	local min
	hnic_knob hnic0 delay_us 20000
	hnic_knob hnic1 delay_us 20000
	min=$(ip netns exec "$NS_CLI" ping -q -c 5 -i 0.2 "$SRV4" | sed -n 's|.* = \([0-9.]*\)/.*|\1|p')
	hnic_knob hnic0 delay_us 0
	hnic_knob hnic1 delay_us 0
	echo "# RTT min with 20 ms each way: $min ms"
	awk -v m="$min" 'BEGIN { exit !(m >= 40) }'
}
tap_check "delay_us=20000 on both ends: RTT >= 40 ms" delay_knob

link_knob() {
	hnic_knob hnic0 link_down 1
	wait_until 3 "hnic1's carrier to drop" ip netns exec "$NS_CLI" bash -c '[ "$(cat /sys/class/net/hnic1/carrier)" = 0 ]'
	ip netns exec "$NS_CLI" ping -q -c 2 -W 1 "$SRV4" >/dev/null 2>&1 && { echo "# ping passed a down link"; return 1; }
	hnic_knob hnic0 link_down 0
	topo_wait_reachable
}
tap_check "link_down takes carrier down on both ends and back" link_knob
tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
