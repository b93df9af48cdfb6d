#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Offloaded connections over a bad wire: 5% loss and 2% reordering on both
# ends. The firmware's TCP (retransmission, reassembly) must deliver
# identical data; the connections are offloaded the whole time.

. ../lib.sh
. ./common.sh

# The firmware recovers from loss with NewReno, early retransmit and its
# timer (no SACK of its own, no RACK): sized to fit the suite budget.
BYTES=$((2 << 20))
XFER_TIMEOUT=180
handoff_start hxfer
tap_plan 6
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, policy on for all ports" handoff_topology all
for dev in hnic0 hnic1; do
	hnic_knob $dev loss_ppm 50000
	hnic_knob $dev reorder_ppm 20000
done

# The NIC, not the host, retransmitted: hnic0's wire lost frames the
# firmware sent, and the host stack sent few frames of its own.
lossy() {
	local lost wire host
	nic_snap
	xfer_offloaded "$@" || return 1
	lost=$(nic_delta wire_loss_drop) wire=$(nic_delta wire_tx_frames) host=$(nic_delta host_tx_packets)
	echo "# hnic0: $wire frames sent, $lost lost on the wire, $host from the host stack"
	[ "$lost" -gt 0 ] && [ "$host" -lt $((wire / 10)) ]
}
tap_check "5% loss + reorder, IPv4: $((BYTES >> 20)) MiB each way verified, offloaded" lossy "$SRV4" 5201 $BYTES 1
tap_check "5% loss + reorder, IPv6: $((BYTES >> 20)) MiB each way verified, offloaded" lossy "$SRV6" 5202 $BYTES 1
# A soak for rare corruption: HANDOFF_FAULTS_ROUNDS rounds of
# HANDOFF_FAULTS_CONNS connections, every round verified (recv_check names
# the offset of a bad byte). One round of 32 in the suite.
ROUNDS=${HANDOFF_FAULTS_ROUNDS:-1}
CONNS=${HANDOFF_FAULTS_CONNS:-32}
lossy_rounds() {
	local r
	for r in $(seq "$ROUNDS"); do
		lossy "$SRV4" 5203 $((128 << 10)) "$CONNS" || { echo "# round $r of $ROUNDS failed"; return 1; }
	done
}
SOAK=$([ "$ROUNDS" = 1 ] || echo "$ROUNDS rounds of ")
tap_check "5% loss + reorder, IPv4: $SOAK$CONNS conns x 128 KiB each way verified, offloaded" lossy_rounds

knobs_acted() {
	local loss reorder
	loss=$(hnic_stat "$NS_SRV" hnic0 wire_loss_drop)
	reorder=$(hnic_stat "$NS_SRV" hnic0 wire_reorder)
	echo "# hnic0 wire: $loss lost, $reorder reordered"
	[ "$loss" -gt 0 ] && [ "$reorder" -gt 0 ]
}
tap_check "the wire lost and reordered frames of offloaded connections" knobs_acted
for dev in hnic0 hnic1; do
	hnic_knob $dev loss_ppm 0
	hnic_knob $dev reorder_ppm 0
done
handoff_finish
