#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# When the NIC cannot take a connection it stays on the host and works.
# The module is loaded with nic_mem_kib=64, so hnic0 holds a few hundred
# connections at most (fw_max_conns); more connections than that are opened
# at once with the policy on: some are refused for lack of a connection
# slot, every refusal is counted by reason, the offloaded gauge never
# exceeds the NIC's capacity, and all connections transfer correctly.
# Then net.handoff.max_conns caps handoffs below the NIC's capacity.

. ../lib.sh
. ./common.sh

HANDOFF_MODPARAMS="nic_mem_kib=64"
handoff_start hxfer
tap_plan 7
trap 'kill $(jobs -p) 2>/dev/null; wait; topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up (nic_mem_kib=64), policy on for all ports" handoff_topology all
MAX=$(hnic_stat "$NS_SRV" hnic0 fw_max_conns)
tap_check "hnic0 is small: fw_max_conns=$MAX (0 < max < 1024)" [ "$MAX" -gt 0 -a "$MAX" -lt 1024 ]
[ "$MAX" -gt 0 ] 2>/dev/null || MAX=64
N=$((MAX + 64))

# peak_offloaded FILE: sample the gauge until killed, keep the maximum.
peak_offloaded() {
	local peak=0 v
	while :; do
		v=$(handoff_stat offloaded)
		[ "$v" -gt "$peak" ] 2>/dev/null && { peak=$v; echo $peak >"$1"; }
		sleep 0.05
	done
}

# overfill ADDR PORT: N connections open at once (idle until all are
# accepted, so all are accepted while all are open), 64 KiB each way each.
overfill() {
	local addr=$1 port=$2 peakf sampler hd rf slot ok=0
	peakf=$(mktemp)
	echo 0 >"$peakf"
	handoff_snap
	peak_offloaded "$peakf" &
	sampler=$!
	go_when_accepted "$peakf.go" $N
	xfer_verify "$addr" "$port" $((64 << 10)) $N --idle-until "$peakf.go" || ok=1
	kill $sampler
	wait $sampler 2>/dev/null
	rm -f "$peakf.go"
	handoff_wait_offloaded 0 || ok=1
	hd=$(handoff_delta handoffs) rf=$(handoff_refused_delta) slot=$(handoff_delta refused_no_conn_slot)
	handoff_report refused_no_conn_slot refused_no_refs refused_no_memory refused_max_conns
	echo "# $N connections, fw_max_conns $MAX: $hd handed off, $rf refused ($slot no slot), peak offloaded $(cat "$peakf")"
	[ "$(handoff_delta accept_policy_matched)" = $N ] || ok=1
	[ "$(handoff_delta handoff_attempts)" = $N ] || ok=1
	[ "$hd" != missing ] && [ "$rf" != missing ] && [ $((hd + rf)) = $N ] || ok=1
	[ "$hd" -ge 1 ] && [ "$hd" -le "$MAX" ] || ok=1
	[ "$slot" -ge 1 ] || ok=1
	[ "$(cat "$peakf")" -le "$MAX" ] || ok=1
	[ "$(handoff_delta nic_released)" = "$hd" ] || ok=1
	rm -f "$peakf"
	return $ok
}
tap_check "IPv4: $N conns at once on a NIC for $MAX: all verified, refusals (no slot) counted, peak <= $MAX" \
	overfill "$SRV4" 5401
tap_check "IPv6: $N conns at once on a NIC for $MAX: all verified, refusals (no slot) counted, peak <= $MAX" \
	overfill "$SRV6" 5402

# max_conns=8: of 32 connections open at once exactly 8 are handed off, 24
# refused for max_conns, all verified.
capped() {
	handoff_sysctl max_conns 8 || return 1
	handoff_snap
	local go
	go=$(mktemp -u)
	go_when_accepted "$go" 32
	xfer_verify "$1" "$2" $((256 << 10)) 32 --idle-until "$go" || return 1
	rm -f "$go"
	handoff_sysctl max_conns 0
	handoff_wait_offloaded 0
	handoff_report refused_max_conns
	[ "$(handoff_delta handoffs)" = 8 ] && [ "$(handoff_delta refused_max_conns)" = 24 ] &&
	[ "$(handoff_refused_delta)" = 24 ] && [ "$(handoff_delta nic_released)" = 8 ]
}
tap_check "max_conns=8, IPv4: 8 of 32 concurrent connections handed off, 24 refused_max_conns, all verified" \
	capped "$SRV4" 5403
tap_check "max_conns=8, IPv6: 8 of 32 concurrent connections handed off, 24 refused_max_conns, all verified" \
	capped "$SRV6" 5404
handoff_finish
