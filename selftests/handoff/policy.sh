#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The per-namespace policy: net.handoff.{enabled,ports,max_conns} refuse bad
# input and keep their value, round-trip good input, are private to their
# namespace; a connection to a port the policy does not list stays on the
# host, one to a listed port is handed to the NIC (counters, ss's ULP).

. ../lib.sh
. ./common.sh

handoff_start hxfer
tap_plan 14
trap 'topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, /proc/net/handoff_stat in ns srv" handoff_topology
get() { ip netns exec "${2:-$NS_SRV}" cat "/proc/sys/net/handoff/$1"; }

# bad_write NAME GOOD BAD...: with NAME=GOOD, every BAD write fails with
# EINVAL and NAME still reads GOOD.
bad_write() {
	local name=$1 good=$2 bad err ok=0
	shift 2
	handoff_sysctl "$name" "$good" || { echo "# $name=$good refused"; return 1; }
	for bad in "$@"; do
		err=$(ip netns exec "$NS_SRV" bash -c 'printf "%s\n" "$1" > "/proc/sys/net/handoff/$2"' _ "$bad" "$name" 2>&1) &&
			{ echo "# $name='$bad' accepted"; ok=1; }
		case $err in
		*"Invalid argument"*|"") ;;
		*) echo "# $name='$bad': $err (expected EINVAL)"; ok=1 ;;
		esac
		[ "$(get "$name")" = "$good" ] || { echo "# $name='$bad' changed the value to '$(get "$name")'"; ok=1; }
	done
	return $ok
}
tap_check "enabled: 2, -1, abc, empty refused (EINVAL), value unchanged" \
	bad_write enabled 0 2 -1 abc ""
tap_check "ports: garbage, 0, 70000, 5-3, trailing/leading/double comma, open ranges refused, value unchanged" \
	bad_write ports 5001 garbage 0 70000 5-3 "80," ",80" "80,,443" "1-" "-5" "80 443x" "65536-65537"
tap_check "max_conns: -1, abc refused, value unchanged" bad_write max_conns 0 -1 abc

# sysctl(8) sees the same refusal.
sysctl_refused() {
	! ip netns exec "$NS_SRV" sysctl -q -w net.handoff.ports=70000 2>/dev/null &&
	[ "$(ip netns exec "$NS_SRV" sysctl -n net.handoff.ports)" = 5001 ]
}
tap_check "sysctl -w net.handoff.ports=70000 fails, value unchanged" sysctl_refused

round_trip() {
	local v ok=0
	for v in all "" 80,443,8000-8080 1-65535 5001 0 1 7 all; do
		local name=ports
		case $v in 0|1|7) name=max_conns ;; esac
		handoff_sysctl $name "$v" || { echo "# $name='$v' refused"; ok=1; continue; }
		[ "$(get $name)" = "$v" ] || { echo "# $name='$v' reads back '$(get $name)'"; ok=1; }
	done
	for v in 1 0; do
		handoff_sysctl enabled $v && [ "$(get enabled)" = $v ] || { echo "# enabled=$v does not round-trip"; ok=1; }
	done
	handoff_sysctl max_conns 0
	return $ok
}
tap_check "ports all / empty / 80,443,8000-8080 / 1-65535, max_conns, enabled round-trip" round_trip

# Each namespace has its own values: writes in one do not show in the other.
isolation() {
	local e p m
	handoff_sysctl enabled 0 "$NS_CLI" && handoff_sysctl ports "" "$NS_CLI" && handoff_sysctl max_conns 0 "$NS_CLI" || return 1
	handoff_sysctl enabled 1 && handoff_sysctl ports 1-1000 && handoff_sysctl max_conns 9 || return 1
	e=$(get enabled "$NS_CLI") p=$(get ports "$NS_CLI") m=$(get max_conns "$NS_CLI")
	echo "# cli after srv's writes: enabled=$e ports='$p' max_conns=$m"
	[ "$e" = 0 ] && [ -z "$p" ] && [ "$m" = 0 ] || return 1
	handoff_sysctl ports 77 "$NS_CLI" && [ "$(get ports)" = 1-1000 ] || return 1
	# A namespace created now starts from its own defaults, not srv's.
	local ns=pol-$$ fresh
	ip netns add $ns
	fresh=$(ip netns exec $ns cat /proc/sys/net/handoff/ports)
	ip netns del $ns
	echo "# new namespace: ports='$fresh'"
	[ "$fresh" != 1-1000 ] && handoff_sysctl max_conns 0
}
tap_check "per-namespace: srv's writes leave cli's values alone and vice versa" isolation

handoff_policy 5001
# A port the policy does not list: the connection stays on the host.
unlisted() {
	handoff_snap
	xfer_verify "$1" 5002 $((1 << 20)) || return 1
	offloaded_none
}
tap_check "ports=5001: IPv4 connection to 5002 verified, not offloaded" unlisted "$SRV4"
tap_check "ports=5001: IPv6 connection to 5002 verified, not offloaded" unlisted "$SRV6"

# A listed port: handed off; while the connection idles ss shows the ULP.
listed() {
	local x ss_ok=0
	handoff_snap
	local go
	go=$(mktemp -u)
	xfer_verify "$1" 5001 $((4 << 20)) 1 --idle-until "$go" &
	x=$!
	wait_ulp_shown 5001 10 || ss_ok=1
	touch "$go"
	wait $x || return 1
	rm -f "$go"
	[ $ss_ok = 0 ] && offloaded_all 1
}
tap_check "ports=5001: IPv4 connection to 5001 handed off (ss: tcp-ulp-handoff), verified" listed "$SRV4"
tap_check "ports=5001: IPv6 connection to 5001 handed off (ss: tcp-ulp-handoff), verified" listed "$SRV6"

# A range lists its ends; enabled=0 turns the policy off whatever ports says.
range_and_off() {
	handoff_policy 4990-5001 || return 1
	handoff_snap
	xfer_verify "$SRV4" 4990 $((1 << 20)) || return 1
	offloaded_all 1 || return 1
	handoff_policy_off || return 1
	handoff_snap
	xfer_verify "$SRV4" 4990 $((1 << 20)) || return 1
	offloaded_none
}
tap_check "ports=4990-5001 hands off port 4990; enabled=0 hands off nothing" range_and_off

# The policy is srv's alone: with cli's off, cli's own sockets stay native.
cli_native() {
	handoff_policy all || return 1
	local before
	before=$(handoff_stat handoffs "$NS_CLI")
	xfer_verify "$SRV4" 5003 $((1 << 20)) || return 1
	echo "# ns cli handoffs $before -> $(handoff_stat handoffs "$NS_CLI")"
	[ "$before" != missing ] && [ "$(handoff_stat handoffs "$NS_CLI")" = "$before" ]
}
tap_check "srv's policy=all leaves ns cli's connections native (cli counters unchanged)" cli_native
handoff_finish
