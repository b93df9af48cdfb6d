#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# hnic pairs: creation and deletion (50 times), the peer syntax of
# `ip link`, namespace moves, carrier following up/down on either end,
# MTU limits, firmware threads, and rmmod while traffic flows.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
require ip ethtool ping
tap_plan 13
module_unload
dmesg_mark
module_load

created=0
for i in $(seq 50); do
	ip link add hnic0 type hnic peer name hnic1 || break
	[ -d /sys/class/net/hnic1 ] || break
	ip link del hnic1 || break   # deleting one end deletes the pair
	[ ! -d /sys/class/net/hnic0 ] || break
	created=$((created + 1))
done
tap_check "50 pairs created, deleted from the peer end ($created done)" [ $created = 50 ]

bad_input_refused() {
	local out=0
	ip link add hnic0 numtxqueues 2 type hnic peer name hnic1 2>/dev/null && out=1
	ip link add hnic0 type hnic peer name hnic1 numrxqueues 4 2>/dev/null && out=1
	ip link add hnic0 address 01:00:5e:00:00:01 type hnic peer name hnic1 2>/dev/null && out=1
	ip link add hnic0 type hnic peer name hnic1 address 00:00:00:00:00:00 2>/dev/null && out=1
	ip link del hnic0 2>/dev/null
	[ $out = 0 ] && ! ip link show hnic0 >/dev/null 2>&1 && ! ip link show hnic1 >/dev/null 2>&1
}
tap_check "multiple queues and non-unicast MACs refused, nothing created" bad_input_refused

ip link add hnic0 type hnic peer name hnic1
fw_threads=$(ps -e -o comm= | grep -c '^hnic[01]-fw$')
tap_check "one firmware thread per device ($fw_threads)" [ "$fw_threads" = 2 ]
fw_cpu=$(ps -e -o psr=,comm= | awk '$2 == "hnic0-fw" { print $1 }')
tap_check "firmware pinned to the highest CPU ($fw_cpu of $(nproc))" [ "$fw_cpu" = $(( $(nproc) - 1 )) ]

mtu=$(cat /sys/class/net/hnic0/mtu)
ip link set hnic0 mtu 9000 && big=ok
ip link set hnic0 mtu 9001 2>/dev/null && too_big=accepted
ip link set hnic0 mtu 1500
tap_check "MTU 1500 by default, 9000 accepted, 9001 refused" \
	[ "$mtu" = 1500 -a "$big" = ok -a -z "$too_big" ]

carrier() { cat /sys/class/net/$1/carrier 2>/dev/null || echo 0; }
wait_carrier() { # DEV WANT
	wait_until 5 "$1's carrier to read $2" _carrier_is "$1" "$2" >/dev/null
}
_carrier_is() { echo "carrier $(carrier "$1")"; [ "$(carrier "$1")" = "$2" ]; }
ip link set hnic0 up
c_one=$(carrier hnic0)
ip link set hnic1 up
wait_carrier hnic0 1 && wait_carrier hnic1 1 && both=ok
ip link set hnic1 down
wait_carrier hnic0 0 && down=ok
ip link set hnic1 up
wait_carrier hnic0 1 && back=ok
tap_check "carrier needs both ends up, follows either end (one:$c_one both:$both down:$down back:$back)" \
	[ "$c_one" = 0 -a "$both" = ok -a "$down" = ok -a "$back" = ok ]
ip link del hnic0

topo_create hnic >/dev/null
tap_check "ends in separate namespaces reach each other" topo_wait_reachable
ip -n "$NS_CLI" link set "$TOPO_CLI_DEV" netns 1 && ip link set "$TOPO_CLI_DEV" netns "$NS_CLI" &&
	_topo_addr "$NS_CLI" "$TOPO_CLI_DEV" "$CLI4" "$CLI6"
tap_check "an end moved between namespaces still carries traffic" topo_wait_reachable

# Idle NICs sleep: over 2 s only housekeeping ticks (10/s) and stray
# neighbour traffic wake the firmware, and it is busy a tiny fraction.
# Checked all along the 2 s, so a busy NIC fails as soon as it shows.
idle_firmware_sleeps() {
	local w0 b0 w1 b1
	w0=$(hnic_stat "$NS_SRV" hnic0 fw_wakeups) b0=$(hnic_stat "$NS_SRV" hnic0 fw_busy_ns)
	stays_true 2 "an idle NIC's few wakeups" _idle_since "$w0" "$b0" || return 1
	w1=$(hnic_stat "$NS_SRV" hnic0 fw_wakeups) b1=$(hnic_stat "$NS_SRV" hnic0 fw_busy_ns)
	echo "# idle 2 s: $((w1 - w0)) wakeups with work, $(((b1 - b0) / 1000)) us busy"
	[ $((w1 - w0)) -le 60 ] && [ $((b1 - b0)) -lt 100000000 ]
}
# _idle_since W0 B0: hnic0 has had at most 60 wakeups with work and less
# than 100 ms busy since its counters read W0 and B0.
_idle_since() {
	local w b
	w=$(hnic_stat "$NS_SRV" hnic0 fw_wakeups) b=$(hnic_stat "$NS_SRV" hnic0 fw_busy_ns)
	echo "$((w - $1)) wakeups with work, $(((b - $2) / 1000)) us busy"
	[ $((w - $1)) -le 60 ] && [ $((b - $2)) -lt 100000000 ]
}
tap_check "idle firmware sleeps (few wakeups, < 5% busy)" idle_firmware_sleeps

# The rings' indices in debugfs match the bus counters, and drain to empty.
# The stack sends on its own now and then (neighbour discovery), so sample
# until counters and indices are seen unchanged around the reads.
ring_state() {
	local d=/sys/kernel/debug/hnic/hnic0 i tx0 tx1 rx0 rx1 th tt rh rt
	ip netns exec "$NS_CLI" ping -q -c 5 -i 0.05 "$SRV4" >/dev/null
	for i in $(seq 40); do
		sleep 0.1
		tx0=$(hnic_stat "$NS_SRV" hnic0 bus_tx_desc) rx0=$(hnic_stat "$NS_SRV" hnic0 bus_rx_desc)
		th=$(cat $d/tx_ring_head) tt=$(cat $d/tx_ring_tail)
		rh=$(cat $d/rx_ring_head) rt=$(cat $d/rx_ring_tail)
		tx1=$(hnic_stat "$NS_SRV" hnic0 bus_tx_desc) rx1=$(hnic_stat "$NS_SRV" hnic0 bus_rx_desc)
		[ "$tx0" = "$tx1" ] && [ "$rx0" = "$rx1" ] || continue
		echo "# hnic0 TX ring head $th tail $tt, $tx0 posted; RX ring head $rh tail $rt, $rx0 completed"
		[ "$th" = "$tt" ] && [ "$th" = "$tx0" ] && [ "$rh" = "$rt" ] && [ "$rh" = "$rx0" ]
		return
	done
	echo "# counters never settled"
	return 1
}
tap_check "debugfs ring indices match bus counters, rings drained" ring_state

# traffic_flows TX0: hnic0 carries a transfer (1000 frames more than TX0).
traffic_flows() {
	local tx
	tx=$(hnic_stat "$NS_SRV" hnic0 bus_tx_desc)
	echo "hnic0 bus_tx_desc $tx (was $1)"
	[ "$tx" -gt $(($1 + 1000)) ]
}

# Deleting one end while a transfer runs removes the pair cleanly.
tx0=$(hnic_stat "$NS_SRV" hnic0 bus_tx_desc)
ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port 5099 --bytes $((1 << 30)) >/dev/null 2>&1 &
srv=$!
ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port 5099 --bytes $((1 << 30)) >/dev/null 2>&1 &
cli=$!
wait_until 20 "traffic on hnic0" traffic_flows "$tx0"
ip -n "$NS_SRV" link del "$TOPO_SRV_DEV"
deleted=$?
kill $srv $cli 2>/dev/null
wait $srv $cli 2>/dev/null
tap_check "ip link del under traffic removes both ends" \
	[ $deleted = 0 -a -z "$(ip -n "$NS_CLI" link show 2>/dev/null | grep hnic)" ]
topo_destroy
topo_create hnic >/dev/null

# rmmod while a transfer runs: the pair goes away under traffic.
tx0=$(hnic_stat "$NS_SRV" hnic0 bus_tx_desc)
ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port 5100 --bytes $((1 << 30)) >/dev/null 2>&1 &
srv=$!
ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port 5100 --bytes $((1 << 30)) >/dev/null 2>&1 &
cli=$!
wait_until 20 "traffic on hnic0" traffic_flows "$tx0"
module_unload
unloaded=$?
kill $srv $cli 2>/dev/null
wait $srv $cli 2>/dev/null
tap_check "rmmod with traffic flowing deletes the pair" [ $unloaded = 0 -a ! -d /sys/class/net/hnic0 ]
topo_destroy

tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
