#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# tcp_handoff.ko loads and unloads 20 times; net.handoff exists exactly while
# it is loaded, in every namespace; load/unload log one line each; dmesg stays
# free of warnings and leak reports.

. ../lib.sh

CYCLES=20
[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
module_unload
tap_plan 6
dmesg_mark

cycles_ok=0 present_ok=0 gone_ok=0
for i in $(seq $CYCLES); do
	insmod "$HANDOFF_KO" || break
	v=$(sysctl -n net.handoff.version 2>/dev/null) && [ -n "$v" ] && present_ok=$((present_ok + 1))
	rmmod tcp_handoff || break
	[ ! -e /proc/sys/net/handoff ] && gone_ok=$((gone_ok + 1))
	cycles_ok=$((cycles_ok + 1))
done
tap_check "insmod/rmmod $CYCLES times ($cycles_ok done)" [ $cycles_ok = $CYCLES ]
tap_check "net.handoff.version present while loaded ($present_ok/$CYCLES)" [ $present_ok = $CYCLES ]
tap_check "net.handoff gone after unload ($gone_ok/$CYCLES)" [ $gone_ok = $CYCLES ]

loads=$(dmesg | tail -n +"$((_dmesg_mark + 1))" | grep -c 'tcp_handoff: version .* loaded$')
unloads=$(dmesg | tail -n +"$((_dmesg_mark + 1))" | grep -c 'tcp_handoff: version .* unloading$')
tap_check "one load and one unload line per cycle ($loads/$unloads)" \
	[ "$loads" = $CYCLES -a "$unloads" = $CYCLES ]

# Per-namespace: a namespace created while loaded has its own read-only table.
ns=modload-$$
insmod "$HANDOFF_KO"
ip netns add "$ns"
ns_version=$(ip netns exec "$ns" sysctl -n net.handoff.version 2>/dev/null)
ip netns exec "$ns" sh -c 'echo 9 > /proc/sys/net/handoff/version' 2>/dev/null
ro_rc=$?
ip netns del "$ns"
rmmod tcp_handoff
tap_check "new namespace has net.handoff.version='$ns_version', read-only" \
	[ -n "$ns_version" -a $ro_rc != 0 ]

tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
tap_exit
