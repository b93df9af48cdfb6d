#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-hnic (runs in the VM): pass-through TCP over hnic against veth
# in the same boot, and hnic bus messages per TCP packet.
# Prints `bench <name> <value> <unit>` lines; diagnostics start with '#'.

set -u
. "$REPO/selftests/lib.sh"

BULK=$((128 * 1024 * 1024))
RR_COUNT=20000

bulk_mbit() { bulk_oneway_mbit "$SRV4" 5301 $BULK; }

# rr_rate: request/response transactions per second.
rr_rate() {
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hrr" server --addr "$SRV4" --port 5302 &
	local srv=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hrr" client --addr "$SRV4" --port 5302 --count $RR_COUNT |
		sed -n 's/.* rate=\([0-9]*\).*/\1/p'
	wait $srv
}

# Sum of a counter over both hnic ends.
both() { echo $(( $(hnic_stat "$NS_SRV" hnic0 "$1") + $(hnic_stat "$NS_CLI" hnic1 "$1") )); }
bus_msgs() { echo $(( $(both bus_tx_desc) + $(both bus_tx_doorbell) + $(both bus_rx_desc) + $(both bus_rx_interrupt) )); }
tcp_pkts() { echo $(( $(both host_tx_packets) )); }

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

topo_create veth >/dev/null || { echo "# veth topology failed"; exit 1; }
veth_bulk=$(bulk_mbit) || exit 1
veth_rr=$(rr_rate)
topo_destroy

TOPO_ID=$$b
NS_SRV="srv-$TOPO_ID" NS_CLI="cli-$TOPO_ID"
topo_create hnic >/dev/null || { echo "# hnic topology failed"; exit 1; }
m0=$(bus_msgs) p0=$(tcp_pkts)
hnic_bulk=$(bulk_mbit) || exit 1
m1=$(bus_msgs) p1=$(tcp_pkts)
hnic_rr=$(rr_rate)
m2=$(bus_msgs) p2=$(tcp_pkts)
busy=$(both fw_busy_ns) idle=$(both fw_idle_ns)
topo_destroy
module_unload

echo "bench veth_tcp_bulk_throughput $veth_bulk Mbit/s"
echo "bench hnic_tcp_bulk_throughput $hnic_bulk Mbit/s"
echo "bench hnic_vs_veth_bulk_throughput_ratio $(ratio "$hnic_bulk" "$veth_bulk") x"
echo "bench veth_tcp_rr_rate $veth_rr trans/s"
echo "bench hnic_tcp_rr_rate $hnic_rr trans/s"
echo "bench hnic_vs_veth_rr_rate_ratio $(ratio "$hnic_rr" "$veth_rr") x"
echo "bench hnic_bulk_bus_msgs_per_tcp_pkt $(ratio $((m1 - m0)) $((p1 - p0))) msgs/pkt"
echo "bench hnic_rr_bus_msgs_per_tcp_pkt $(ratio $((m2 - m1)) $((p2 - p1))) msgs/pkt"
echo "bench hnic_fw_busy_fraction $(ratio "$busy" $((busy + idle))) busy/(busy+idle)"
