#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# net.handoff.{enabled,ports,max_conns}: defaults, accepted and refused
# values (a refused write changes nothing), the normalized form of ports,
# per-namespace values; /proc/net/handoff_stat: names, order, zero start,
# read-only, per namespace. See Documentation/sysctl.rst.

. ../lib.sh

[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
require ip
module_unload
tap_plan 11
dmesg_mark
insmod "$HANDOFF_KO" || { echo "# insmod failed"; exit $ksft_fail; }

P=/proc/sys/net/handoff
ns=policy-$$
trap 'ip netns del "$ns" 2>/dev/null; module_unload' EXIT

# get KNOB: the value (trailing newline stripped); set KNOB TEXT: one write()
# of TEXT plus a newline, status of the write.
get() { cat "$P/$1"; }
set_() { printf '%s\n' "$2" 2>/dev/null > "$P/$1"; }

# expect_ok KNOB IN OUT: writing IN succeeds and reads back as OUT.
# expect_bad KNOB IN: writing IN fails and the value stays as it was.
errors=0
expect_ok() {
	set_ "$1" "$2" || { echo "# $1: write '$2' failed"; errors=$((errors + 1)); return; }
	local v
	v=$(get "$1")
	[ "$v" = "$3" ] || { echo "# $1: wrote '$2', read '$v', want '$3'"; errors=$((errors + 1)); }
}
expect_bad() {
	local before after
	before=$(get "$1")
	if set_ "$1" "$2"; then
		echo "# $1: write '$2' succeeded"; errors=$((errors + 1))
	fi
	after=$(get "$1")
	[ "$after" = "$before" ] || { echo "# $1: '$2' changed '$before' to '$after'"; errors=$((errors + 1)); }
}
group_ok() { local e=$errors; errors=0; [ "$e" = 0 ]; }

tap_check "defaults: enabled=0 ports='' max_conns=0" \
	[ "$(get enabled)" = 0 -a -z "$(get ports)" -a "$(get max_conns)" = 0 ]

expect_ok enabled 1 1
expect_ok enabled 0 0
expect_ok enabled 1 1
for v in 2 -1 10 abc; do expect_bad enabled "$v"; done
expect_ok enabled 0 0
tap_check "enabled: 0 and 1 accepted, anything else EINVAL and unchanged" group_ok

expect_ok max_conns 16777216 16777216
expect_ok max_conns 1000 1000
for v in 16777217 -1 abc; do expect_bad max_conns "$v"; done
expect_ok max_conns 0 0
tap_check "max_conns: 0..16777216 accepted, out of range EINVAL and unchanged" group_ok

expect_ok ports "80,443,8000-8080" "80,443,8000-8080"
expect_ok ports "all" "all"
expect_ok ports " 80 , 443 ,	8000-8080 " "80,443,8000-8080"
expect_ok ports "8080, 443,80,8000-8079" "80,443,8000-8080"
expect_ok ports "443,80" "80,443"
expect_ok ports "80-80" "80"
expect_ok ports "80,81,82" "80-82"
expect_ok ports "60-200,100-300" "60-300"
expect_ok ports "1,65535" "1,65535"
expect_ok ports "1-65535" "1-65535"
expect_ok ports "" ""
tap_check "ports: lists, ranges, all and empty read back normalized" group_ok

expect_ok ports "22" "22"
for v in 0 65536 99999999999 "80," ",80" "80,,443" "," abc "80 443" "90-80" \
	"0-10" "10-" "-10" "1-2-3" "all,80" ALL "80 - 90" "+80"; do
	expect_bad ports "$v"
done
tap_check "ports: invalid lists are EINVAL and change nothing" group_ok

expect_ok ports "$(seq -s, 2 2 128)" "$(seq -s, 2 2 128)"
expect_bad ports "$(seq -s, 2 2 130)"
expect_ok ports "$(printf '%0255d' 7)" "7"
expect_bad ports "$(printf '%0256d' 7)"
tap_check "ports: 64 items and 255 bytes accepted, one more refused" group_ok

# Two write()s on one open file: the second (at offset 3) is refused.
set_ ports "" >/dev/null
{ printf '80\n'; printf '443\n'; } 2>/dev/null > "$P/ports"
cont_rc=$?
tap_check "ports: continuation write refused, first value kept" \
	[ $cont_rc != 0 -a "$(get ports)" = 80 ]

# Per namespace: a new namespace starts from the defaults and its writes stay
# there.
set_ enabled 1; set_ ports "80"; set_ max_conns 5
ip netns add "$ns"
nsget() { ip netns exec "$ns" cat "$P/$1"; }
defaults_ns=$([ "$(nsget enabled)" = 0 -a -z "$(nsget ports)" -a "$(nsget max_conns)" = 0 ] && echo y)
ip netns exec "$ns" sh -c "echo all > $P/ports && echo 1 > $P/enabled && echo 7 > $P/max_conns"
tap_check "per namespace: new one has defaults, writes do not leak" \
	[ "$defaults_ns" = y -a "$(nsget ports)" = all -a "$(nsget max_conns)" = 7 \
	  -a "$(get ports)" = 80 -a "$(get max_conns)" = 5 -a "$(get enabled)" = 1 ]
set_ enabled 0; set_ ports ""; set_ max_conns 0

STATS="offloaded handoff_attempts handoffs refused_no_conn_slot refused_duplicate
refused_bad_snapshot refused_no_refs refused_max_conns refused_no_device
refused_device_down refused_no_neighbour refused_state refused_filter
refused_no_memory refused_timeout accept_policy_matched nic_released
nic_resets tx_bytes rx_bytes bypass_sendmsg bypass_recvmsg bypass_poll
bypass_close bypass_shutdown bypass_setsockopt bypass_ioctl cmd_send cmd_post
cmd_recvd cmd_ctrl evt_recv evt_ack evt_ctrl racing_segments_dropped restores
restore_failures nic_restore_requests"
want=$(echo $STATS)
names=$(awk '{ print $1 }' /proc/net/handoff_stat | xargs)
ns_names=$(ip netns exec "$ns" awk '{ print $1 }' /proc/net/handoff_stat | xargs)
ns_nonzero=$(ip netns exec "$ns" awk 'NF != 2 || $2 != 0' /proc/net/handoff_stat)
tap_check "handoff_stat: 38 counters in order, in every namespace, a new one all 0" \
	[ "$names" = "$want" -a "$ns_names" = "$want" -a -z "$ns_nonzero" ]
[ "$names" = "$want" ] || echo "# handoff_stat names: $names"

mode=$(stat -L -c %a /proc/net/handoff_stat)
echo 1 2>/dev/null > /proc/net/handoff_stat
ro_rc=$?
ip netns del "$ns"
rmmod tcp_handoff
tap_check "handoff_stat: mode $mode, writes fail, gone after unload" \
	[ "$mode" = 444 -a $ro_rc != 0 -a ! -e /proc/net/handoff_stat ]

tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
