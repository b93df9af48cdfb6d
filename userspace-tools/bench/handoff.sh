#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-handoff (runs in the VM): one hnic pair, the same workloads with
# the handoff policy off (native: the host stack runs every connection) and
# on (offloaded: the hnic firmware runs the server's connections), and hnic0's
# bus messages per TCP packet with and without handoff (the paper's Fig. 8).
# Prints `bench <name> <value> <unit>` lines; diagnostics start with '#'.

set -u
. "$REPO/selftests/lib.sh"

# Sized so one VM run (both modes, under TCG) takes a few minutes.
BULK=$((64 * 1024 * 1024))
RR_COUNT=300
SHORT_SECS=5

bulk_mbit() { bulk_oneway_mbit "$SRV4" "$1" $BULK; }

# small_read_mbit PORT: the same, the server reading 8 KiB at a time (socat's
# default buffer): a per-read cost shows here.
small_read_mbit() { BULK_READ_SIZE=8192 bulk_oneway_mbit "$SRV4" "$1" $((BULK / 2)); }

# bulk_send_mbit PORT: the server (the side that offloads) sends $BULK
# bytes to the client, verified: the paper's Figure 8 case.
bulk_send_mbit() { bulk_oneway_mbit "$SRV4" "$1" $BULK server; }

# rr_rate PORT: request/response transactions per second, one connection.
rr_rate() {
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hrr" server --addr "$SRV4" --port "$1" &
	local srv=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hrr" client --addr "$SRV4" --port "$1" --count $RR_COUNT |
		sed -n 's/.* rate=\([0-9]*\).*/\1/p'
	wait $srv
}

# cli_retrans: segments the client's stack retransmitted so far.
cli_retrans() {
	ip netns exec "$NS_CLI" awk '$1 == "Tcp:" && !n { for (i = 1; i <= NF; i++) col[$i] = i; n = 1; next }
		$1 == "Tcp:" { print $col["RetransSegs"] }' /proc/net/snmp
}

# short_rate PORT: "RATE RETRANS": connections per second, one
# request/response each, against the epoll server hecho, and how many
# segments the client resent per connection (a request lost in a handoff
# costs the client an RTO of about 200 ms).
short_rate() {
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hecho" --addr "$SRV4" --port "$1" >/dev/null &
	local srv=$! r0 out
	r0=$(cli_retrans)
	out=$(ip netns exec "$NS_CLI" "$HANDOFF_BIN/hrr" client --addr "$SRV4" --port "$1" --short --seconds $SHORT_SECS)
	kill $srv
	wait $srv
	echo "$out" | awk -v r=$(($(cli_retrans) - r0)) '{ for (i = 1; i <= NF; i++) { split($i, kv, "="); v[kv[1]] = kv[2] } }
		END { printf "%d %.3f\n", v["rate"], (v["connections"] > 0 ? r / v["connections"] : 0) }'
}

# hnic0 (the server's NIC, the one that offloads): every message crossing
# its bus (TX/RX descriptors, doorbells, interrupts, commands, events) and
# every TCP packet it put on or took off the wire.
st() { hnic_stat "$NS_SRV" hnic0 "$1"; }
bus_msgs() {
	echo $(( $(st bus_tx_desc) + $(st bus_tx_doorbell) + $(st bus_rx_desc) + $(st bus_rx_interrupt) + \
		$(st bus_cmd_msgs) + $(st bus_evt_msgs) ))
}
wire_pkts() { echo $(( $(st wire_tx_frames) + $(st wire_rx_frames) )); }
# TCP segments the firmware's own TCP took in or sent: offloaded traffic.
fw_segs() { echo $(( $(st fw_tcp_rx_segs) + $(st fw_tcp_tx_segs) )); }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }

# measure MODE BASEPORT: bulk (to and from the server), rr and short with
# the policy as set; sets <MODE>_bulk, _send, _small, _rr, _short,
# _bulk_mpp, _send_mpp, _rr_mpp.
measure() {
	local mode=$1 p=$2 m0 p0 f0 m1 p1 f1 m2 p2 ms ps fs send small bulk rr short short_rtx
	m0=$(bus_msgs) p0=$(wire_pkts) f0=$(fw_segs)
	bulk=$(bulk_mbit "$p") || exit 1
	echo "# $mode: bulk $bulk Mbit/s" >&2
	ms=$(bus_msgs) ps=$(wire_pkts) fs=$(fw_segs)
	send=$(bulk_send_mbit $((p + 3))) || exit 1
	echo "# $mode: bulk send $send Mbit/s" >&2
	m1=$(bus_msgs) p1=$(wire_pkts) f1=$(fw_segs)
	rr=$(rr_rate $((p + 1)))
	echo "# $mode: rr $rr trans/s" >&2
	m2=$(bus_msgs) p2=$(wire_pkts)
	read -r short short_rtx < <(short_rate $((p + 2)))
	echo "# $mode: short $short conns/s, $short_rtx client retransmissions per connection" >&2
	small=$(small_read_mbit $((p + 4))) || exit 1
	echo "# $mode: bulk with 8 KiB reads $small Mbit/s" >&2
	printf -v "${mode}_bulk" %s "$bulk"
	printf -v "${mode}_rr" %s "$rr"
	printf -v "${mode}_short" %s "$short"
	printf -v "${mode}_short_rtx" %s "$short_rtx"
	printf -v "${mode}_send" %s "$send"
	printf -v "${mode}_small" %s "$small"
	printf -v "${mode}_bulk_mpp" %s "$(ratio $((ms - m0)) $((ps - p0)))"
	printf -v "${mode}_send_mpp" %s "$(ratio $((m1 - ms)) $((p1 - ps)))"
	printf -v "${mode}_bulk_fw" %s "$(ratio $((fs - f0)) $((ps - p0)))"
	printf -v "${mode}_send_fw" %s "$(ratio $((f1 - fs)) $((p1 - ps)))"
	printf -v "${mode}_rr_mpp" %s "$(ratio $((m2 - m1)) $((p2 - p1)))"
}

topo_create hnic >/dev/null || { echo "# hnic topology failed"; exit 1; }
[ -e /proc/sys/net/handoff/enabled ] || { echo "# tcp_handoff.ko has no handoff policy"; exit 1; }

ip netns exec "$NS_SRV" sysctl -q -w net.handoff.enabled=0 || exit 1
h0=$(handoff_stat handoffs)
measure native 5501
[ "$(handoff_stat handoffs)" = "$h0" ] || { echo "# connections were handed off with the policy off"; exit 1; }

ip netns exec "$NS_SRV" sysctl -q -w net.handoff.ports=all net.handoff.enabled=1 || exit 1
measure offloaded 5511
h1=$(handoff_stat handoffs)
echo "# offloaded phase: $((h1 - h0)) connections handed off, $(handoff_stat refused_no_conn_slot) refused for lack of a slot"
# bulk + rr + every short connection: nothing measured natively by mistake.
[ $((h1 - h0)) -ge 2 ] || { echo "# the offloaded phase did not hand connections off"; exit 1; }
ip netns exec "$NS_SRV" sysctl -q -w net.handoff.enabled=0
topo_destroy
module_unload

echo "bench native_tcp_bulk_throughput $native_bulk Mbit/s"
echo "bench offloaded_tcp_bulk_throughput $offloaded_bulk Mbit/s"
echo "bench offloaded_vs_native_bulk_throughput_ratio $(ratio "$offloaded_bulk" "$native_bulk") x"
echo "bench native_tcp_bulk_send_throughput $native_send Mbit/s"
echo "bench offloaded_tcp_bulk_send_throughput $offloaded_send Mbit/s"
echo "bench offloaded_vs_native_bulk_send_throughput_ratio $(ratio "$offloaded_send" "$native_send") x"
echo "bench native_small_read_bulk_throughput $native_small Mbit/s"
echo "bench offloaded_small_read_bulk_throughput $offloaded_small Mbit/s"
echo "bench offloaded_vs_native_small_read_bulk_ratio $(ratio "$offloaded_small" "$native_small") x"
echo "bench native_tcp_rr_rate $native_rr trans/s"
echo "bench offloaded_tcp_rr_rate $offloaded_rr trans/s"
echo "bench offloaded_vs_native_rr_rate_ratio $(ratio "$offloaded_rr" "$native_rr") x"
echo "bench native_short_conn_rate $native_short conns/s"
echo "bench offloaded_short_conn_rate $offloaded_short conns/s"
echo "bench offloaded_vs_native_short_conn_rate_ratio $(ratio "$offloaded_short" "$native_short") x"
echo "bench native_short_conn_client_retransmits $native_short_rtx segs/conn"
echo "bench offloaded_short_conn_client_retransmits $offloaded_short_rtx segs/conn"
echo "bench native_bulk_bus_msgs_per_tcp_pkt $native_bulk_mpp msgs/pkt"
echo "bench offloaded_bulk_bus_msgs_per_tcp_pkt $offloaded_bulk_mpp msgs/pkt"
echo "bench native_bulk_send_bus_msgs_per_tcp_pkt $native_send_mpp msgs/pkt"
echo "bench offloaded_bulk_send_bus_msgs_per_tcp_pkt $offloaded_send_mpp msgs/pkt"
echo "bench native_bulk_fw_tcp_pkt_share $native_bulk_fw x"
echo "bench offloaded_bulk_fw_tcp_pkt_share $offloaded_bulk_fw x"
echo "bench native_bulk_send_fw_tcp_pkt_share $native_send_fw x"
echo "bench offloaded_bulk_send_fw_tcp_pkt_share $offloaded_send_fw x"
echo "bench native_rr_bus_msgs_per_tcp_pkt $native_rr_mpp msgs/pkt"
echo "bench offloaded_rr_bus_msgs_per_tcp_pkt $offloaded_rr_mpp msgs/pkt"
