#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Wake-ups across phase changes: a waiter asleep when its connection
# changes hands is woken as native TCP would wake it. An application that
# waits in select() (a writer on a full send buffer, a reader on an empty
# receive queue) while its connection is restored and at once handed off
# again must carry on: its peer (stock TCP in ns cli, waiter.py) fails on
# a stall of more than $STALL s, and the stream is SHA-256 verified.

. ../lib.sh
. ./common.sh

BYTES=${HANDOFF_WAKEUPS_BYTES:-$((4 << 20))}
STALL=${HANDOFF_WAKEUPS_STALL_SECS:-2}

handoff_start
require python3 ss
tap_plan 5
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, policy on for all ports" handoff_topology all

# asleep_in_select PID: PID sleeps in select(2) or poll(2).
asleep_in_select() {
	local st wchan
	st=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)
	wchan=$(cat "/proc/$1/wchan" 2>/dev/null)
	echo "state ${st:-gone}, wchan ${wchan:-none}"
	[ "$st" = S ] && [[ $wchan =~ select|poll ]]
}

# sha_of FILE: the digest waiter.py printed.
sha_of() { sed -n 's/^sha256 //p' "$1"; }

# rehandoff_while_waiting ROLE PEER ADDR PORT: the offloaded side (ROLE,
# writer or reader) sleeps in select(); its connection is restored, the
# waiter goes back to sleep on native TCP, and `offload all` hands the
# connection off again at once (nothing of the socket's is inside native
# TCP). Then the peer moves the data: the waiter must be woken.
rehandoff_while_waiting() {
	local role=$1 peer=$2 addr=$3 port=$4 d=$W/$1$4 wpid ppid ok=0 now=none prc wrc
	mkdir -p "$d"
	handoff_snap
	bg_in_ns "$NS_SRV" python3 ./waiter.py "$role" "$addr" "$port" "$BYTES" >"$d/srv" 2>&1
	wpid=$BG_PID
	wait_listen "$NS_SRV" "$port" || { kill $wpid; return 1; }
	bg_in_ns "$NS_CLI" python3 ./waiter.py "$peer" "$addr" "$port" "$BYTES" "$d/gate" "$STALL" >"$d/cli" 2>&1
	ppid=$BG_PID
	# Handed off at its first system call, then asleep in select(): the
	# writer once the peer's window shut, the reader with nothing to read.
	if handoff_wait_offloaded 1 10 &&
		{ [ "$role" = reader ] || wait_until 10 "the peer's window to shut" cli_queues_full "$port" recv; } &&
		wait_until 10 "the $role asleep in select" asleep_in_select $wpid &&
		hctl_expect OK restore all && handoff_wait_offloaded 0 10 &&
		# The restore woke it; it must have gone back to sleep on native
		# TCP's readiness, not still be on its way there.
		wait_until 10 "the $role asleep in select on native TCP" asleep_in_select $wpid &&
		stays_true 0.5 "the $role asleep in select" asleep_in_select $wpid &&
		hctl_expect OK offload all; then
		now=$(handoff_stat offloaded)
	else
		ok=1
	fi
	touch "$d/gate"
	wait_until 60 "the peer to finish" pid_gone $ppid || ok=1
	kill $ppid 2>/dev/null
	wait $ppid
	prc=$?
	wait_until 10 "the $role to finish" pid_gone $wpid || ok=1
	if [ $ok != 0 ] || [ $prc != 0 ]; then
		echo "# $role: $(asleep_in_select $wpid)"
		in_ns "$NS_SRV" ss -tniH "( sport = :$port )" | sed 's/^/# srv: /'
		in_ns "$NS_CLI" ss -tniH "( dport = :$port )" | sed 's/^/# cli: /'
		nic_dump_conns 2
	fi
	kill $wpid 2>/dev/null
	wait $wpid
	wrc=$?
	sed 's/^/# srv: /' "$d/srv"
	sed 's/^/# cli: /' "$d/cli"
	handoff_report restores
	echo "# offloaded straight after the offload write: $now"
	[ $ok = 0 ] && [ $prc = 0 ] && [ $wrc = 0 ] && [ "$now" = 1 ] &&
		[ -n "$(sha_of "$d/srv")" ] && [ "$(sha_of "$d/srv")" = "$(sha_of "$d/cli")" ] &&
		[ "$(handoff_delta handoffs)" = 2 ] && [ "$(handoff_delta restores)" = 1 ]
}
tap_check "writer in select on a full send buffer, IPv4: restored, handed off again at once: woken, verified" \
	rehandoff_while_waiting writer drain "$SRV4" 5601
tap_check "writer in select on a full send buffer, IPv6: restored, handed off again at once: woken, verified" \
	rehandoff_while_waiting writer drain "$SRV6" 5602
tap_check "reader in select on an empty queue, IPv4: restored, handed off again at once: woken, verified" \
	rehandoff_while_waiting reader feed "$SRV4" 5603

handoff_finish
