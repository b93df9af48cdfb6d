#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the handoff suite, sourced after ../lib.sh. The topology is
# lib.sh's: ns srv ($NS_SRV, hnic0, where the policy hands connections to
# the NIC) and ns cli ($NS_CLI, hnic1, stock Linux TCP).

# handoff_start TOOL...: skip (exit 4) unless the module and the tools are
# built; load the module afresh (options: "$HANDOFF_MODPARAMS"); skip when it
# has no handoff policy yet. Call before tap_plan.
handoff_start() {
	local t
	[ -f "$HANDOFF_KO" ] || { echo "# SKIP: $HANDOFF_KO not built"; exit $ksft_skip; }
	for t in "$@"; do
		[ -x "$HANDOFF_BIN/$t" ] || { echo "# SKIP: $t not built"; exit $ksft_skip; }
	done
	skip_unless ip ethtool ss ping
	module_unload
	# shellcheck disable=SC2086 # word splitting wanted: module options
	insmod "$HANDOFF_KO" ${HANDOFF_MODPARAMS:-} || { echo "# insmod failed"; exit $ksft_fail; }
	if [ ! -e /proc/sys/net/handoff/enabled ]; then
		echo "# SKIP: tcp_handoff.ko has no net.handoff.enabled (no handoff support yet)"
		module_unload
		exit $ksft_skip
	fi
}

# handoff_topology PORTS: hnic topology, policy on for PORTS in ns srv,
# /proc/net/handoff_stat present there.
handoff_topology() {
	topo_create hnic || return 1
	[ -n "${1+set}" ] && { handoff_policy "$1" || { echo "# policy '$1' refused"; return 1; }; }
	ip netns exec "$NS_SRV" test -r /proc/net/handoff_stat || { echo "# no /proc/net/handoff_stat in ns srv"; return 1; }
}

# handoff_report: one diagnostic line of the counters' changes.
handoff_report() {
	local n line=""
	for n in accept_policy_matched handoff_attempts handoffs nic_released nic_resets "$@"; do
		line+=" $n=$(handoff_delta "$n")"
	done
	echo "# handoff_stat since start:$line refused=$(handoff_refused_delta) offloaded=$(handoff_stat offloaded)"
}

# offloaded_all N: since handoff_snap, N connections matched the policy and
# each was handed off (none refused), and after they closed the NIC released
# all N and nothing is offloaded any more.
offloaded_all() {
	local n=$1
	handoff_wait_offloaded 0
	local gauge=$?
	handoff_report
	[ $gauge = 0 ] &&
	[ "$(handoff_delta accept_policy_matched)" = "$n" ] &&
	[ "$(handoff_delta handoff_attempts)" = "$n" ] &&
	[ "$(handoff_delta handoffs)" = "$n" ] &&
	[ "$(handoff_refused_delta)" = 0 ] &&
	[ "$(handoff_delta nic_released)" = "$n" ]
}

# offloaded_none: since handoff_snap, no connection matched, none was
# attempted or handed off, and nothing is offloaded.
offloaded_none() {
	handoff_report
	[ "$(handoff_delta accept_policy_matched)" = 0 ] &&
	[ "$(handoff_delta handoff_attempts)" = 0 ] &&
	[ "$(handoff_delta handoffs)" = 0 ] &&
	[ "$(handoff_stat offloaded)" = 0 ]
}

# xfer_offloaded ADDR PORT BYTES CONNS [HXFER_OPTION...]: hxfer verified both
# ways, and every connection offloaded and released (offloaded_all).
xfer_offloaded() {
	handoff_snap
	xfer_verify "$@" || return 1
	offloaded_all "${4:-1}"
}

# counter_ge NAME MIN: handoff_delta NAME >= MIN (with a diagnostic).
counter_ge() {
	local d
	d=$(handoff_delta "$1")
	[ "$d" != missing ] && [ "$d" -ge "$2" ] && return 0
	echo "# $1 changed by $d, expected >= $2"
	return 1
}

# ulp_shown PORT: `ss -tni` in ns srv shows the handoff ULP on an
# established socket of local port PORT.
ulp_shown() {
	local out
	out=$(ip netns exec "$NS_SRV" ss -tniH state established "( sport = :$1 )")
	echo "$out" | grep -q 'tcp-ulp-handoff' && return 0
	echo "# ss -tni for sport $1:"
	echo "$out" | sed 's/^/#   /'
	return 1
}

# wait_ulp_shown PORT [SECS]: ulp_shown within SECS (default 10).
wait_ulp_shown() {
	local i
	for i in $(seq $((${2:-10} * 10))); do
		ulp_shown "$1" >/dev/null && return 0
		sleep 0.1
	done
	ulp_shown "$1"
}

# nic_snap / nic_delta NAME: hnic0 `ethtool -S` counters and their change.
declare -A _nic_snap
nic_snap() {
	local n v
	_nic_snap=()
	while read -r n v; do _nic_snap[${n%:}]=$v; done \
		< <(ip netns exec "$NS_SRV" ethtool -S hnic0 | tail -n +2)
}
nic_delta() {
	local now
	now=$(hnic_stat "$NS_SRV" hnic0 "$1")
	[ "$now" = missing ] && { echo missing; return; }
	echo $((now - ${_nic_snap[$1]:-0}))
}

# netstat_ext NS NAME: a TcpExt counter of namespace NS.
netstat_ext() {
	ip netns exec "$1" awk -v n="$2" '
		/^TcpExt: [A-Z]/ { split($0, h) }
		/^TcpExt: [0-9]/ { for (i = 2; i <= NF; i++) if (h[i] == n) print $i }' /proc/net/netstat
}

# wait_listen NS PORT: a TCP listener on PORT in NS within 20 s.
wait_listen() {
	local i
	for i in $(seq 200); do
		ip netns exec "$1" ss -tlnH "( sport = :$2 )" | grep -q . && return 0
		sleep 0.1
	done
	echo "# nothing listens on port $2"
	return 1
}

# handoff_finish: the dmesg check every program ends with.
handoff_finish() {
	tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
	tap_exit
}
