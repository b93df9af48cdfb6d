#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Stock Linux TCP and UDP on both ends of an hnic pair (ns srv: hnic0,
# ns cli: hnic1), through rings, firmware and wire: ping, UDP with every
# datagram accounted for, BYTES each way SHA-256-verified, CONNS
# concurrent connections, IPv4 and IPv6; then the counters must add up.

. ../lib.sh

# `make check` scale; `make soak` runs 256 MiB and 1000 connections.
BYTES=${HANDOFF_TRAFFIC_BYTES:-$((64 << 20))}
CONNS=${HANDOFF_TRAFFIC_CONNS:-256}
[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# missing: hxfer (make module tools builds it)"; exit $ksft_fail; }
require ip ethtool ping python3
tap_plan 11
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up" topo_create hnic
tap_check "ping IPv4 and IPv6, 20 each" \
	ip netns exec "$NS_CLI" sh -c "ping -q -c 20 -i 0.05 $SRV4 >/dev/null && ping -6 -q -c 20 -i 0.05 $SRV6 >/dev/null"

# Datagrams the stack of namespace NS dropped for lack of socket buffer
# (sender's qdisc/sndbuf or receiver's rcvbuf), IPv4 and IPv6 together.
udp_stack_drops() {
	ip netns exec "$1" awk '
		/^Udp: [0-9]/ { split(hdr, h); for (i = 2; i <= NF; i++) if (h[i] ~ /^(RcvbufErrors|SndbufErrors)$/) n += $i }
		/^Udp: [A-Z]/ { hdr = $0 }
		/^Udp6(RcvbufErrors|SndbufErrors)/ { n += $2 }
		END { print n + 0 }' /proc/net/snmp /proc/net/snmp6
}

# UDP: every datagram arrives or is counted as dropped, by the NIC or the stack.
udp_check() {
	local addr=$1 n=2000 got drops_before drops_after
	drops_before=$(( $(hnic_stat "$NS_SRV" hnic0 fw_rx_ring_full_drop) + $(udp_stack_drops "$NS_SRV") + $(udp_stack_drops "$NS_CLI") ))
	ip netns exec "$NS_SRV" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4 << 20)
s.bind((sys.argv[1], 6000)); n = 0
open(sys.argv[2], "w").close()
s.settimeout(60)  # the sender may take long to start on a loaded guest
try:
    while True:
        s.recv(2048); n += 1
        s.settimeout(3)
except socket.timeout:
    print(n)' "$addr" /tmp/udp-ready.$$ > /tmp/udp-got.$$ &
	local srv=$!
	while [ ! -e /tmp/udp-ready.$$ ]; do sleep 0.05; done
	ip netns exec "$NS_CLI" python3 -c '
import socket, sys
s = socket.socket(socket.AF_INET6 if ":" in sys.argv[1] else socket.AF_INET, socket.SOCK_DGRAM)
for i in range(int(sys.argv[2])):
    s.sendto(i.to_bytes(4, "big") * 250, (sys.argv[1], 6000))' "$addr" $n
	wait $srv
	got=$(cat /tmp/udp-got.$$)
	rm -f /tmp/udp-got.$$ /tmp/udp-ready.$$
	drops_after=$(( $(hnic_stat "$NS_SRV" hnic0 fw_rx_ring_full_drop) + $(udp_stack_drops "$NS_SRV") + $(udp_stack_drops "$NS_CLI") ))
	echo "# UDP $addr: $got of $n received, $((drops_after - drops_before)) counted as dropped (NIC RX ring, socket buffers)"
	[ $((got + drops_after - drops_before)) = $n ] && [ "$got" -gt $((n / 2)) ]
}
tap_check "UDP IPv4: each of 2000 datagrams received or counted" udp_check "$SRV4"
tap_check "UDP IPv6: each of 2000 datagrams received or counted" udp_check "$SRV6"

tap_check "TCP IPv4: $((BYTES >> 20)) MiB each way, SHA-256 verified" xfer_verify "$SRV4" 5001 "$BYTES"
tap_check "TCP IPv6: $((BYTES >> 20)) MiB each way, SHA-256 verified" xfer_verify "$SRV6" 5002 "$BYTES"
tap_check "TCP IPv4: $CONNS concurrent connections, 64 KiB each way, verified" xfer_verify "$SRV4" 5003 65536 "$CONNS"
tap_check "TCP IPv6: $CONNS concurrent connections, 64 KiB each way, verified" xfer_verify "$SRV6" 5004 65536 "$CONNS"

# With the link idle, per direction: frames the sender put on the wire
# were all taken off it, and each was delivered or counted as dropped.
counters_consistent() {
	local tx_ns=$1 tx_dev=$2 rx_ns=$3 rx_dev=$4
	local put taken delivered dropped
	put=$(hnic_stat "$tx_ns" "$tx_dev" wire_tx_frames)
	taken=$(hnic_stat "$rx_ns" "$rx_dev" wire_rx_frames)
	delivered=$(hnic_stat "$rx_ns" "$rx_dev" host_rx_packets)
	dropped=0
	for c in fw_rx_ring_full_drop fw_rx_dev_down_drop host_rx_alloc_fail fw_offload_rx fw_offload_drop; do
		dropped=$((dropped + $(hnic_stat "$rx_ns" "$rx_dev" $c)))
	done
	echo "# $tx_dev -> $rx_dev: put $put, taken $taken, delivered $delivered, dropped $dropped"
	[ "$put" = "$taken" ] && [ "$taken" = $((delivered + dropped)) ] && [ "$put" -gt 0 ]
}
# Frames still in flight settle within a firmware tick or two.
tap_check "counters add up hnic0 -> hnic1" wait_until 5 "the counters to add up" counters_consistent "$NS_SRV" hnic0 "$NS_CLI" hnic1
tap_check "counters add up hnic1 -> hnic0" wait_until 5 "the counters to add up" counters_consistent "$NS_CLI" hnic1 "$NS_SRV" hnic0

csum_offloaded() {
	local partial ok bad
	partial=$(hnic_stat "$NS_CLI" hnic1 host_tx_csum_partial)
	ok=$(hnic_stat "$NS_SRV" hnic0 fw_rx_csum_ok)
	bad=$(hnic_stat "$NS_SRV" hnic0 fw_rx_csum_bad)
	echo "# checksums: $partial completed by the NIC, $ok verified, $bad bad"
	[ "$partial" -gt 0 ] && [ "$ok" -gt 0 ] && [ "$bad" = 0 ]
}
tap_check "checksum offload: NIC completes TX sums, verifies RX, none bad" csum_offloaded
tap_exit
