#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Wake-ups across phase changes: a waiter asleep when its connection
# changes hands, or ends, is woken as native TCP would wake it. Every
# waiter kind (select, poll, epoll level- and edge-triggered, blocking,
# blocking with SO_SNDTIMEO/SO_RCVTIMEO) as a writer on a full send buffer
# and as a reader on an empty receive queue, IPv4 and IPv6, across each
# transition:
#
#   a  restore only: the connection stays native
#   b  restore, then `offload all` at once
#   c  restore, then a re-handoff deferred to the next system call (a
#      task asleep in native TCP on the socket)
#   d  hnic0 down (restores everything) and up, then `offload all`
#   e  the offloaded side shuts down its write side first: the NIC hands
#      the TIME_WAIT back; the reader gets all data and EOF
#   f  the NIC fails: every waiter is woken with ECONNRESET
#   g  rmmod while the waiters sleep: the transfers finish on native TCP
#
# For each transition the twelve pairs run at once (waiter.py: threads of
# one process in ns srv, of one of stock peers in ns cli), all asleep
# before the transition is applied once; then the gate opens and every
# pair is checked: SHA-256 both ways, the peer fails on a stall of more
# than $STALL s, and the stall detector (stall_report, common.sh) reports
# each stalled pair.

. ../lib.sh
. ./common.sh

BYTES=${HANDOFF_WAKEUPS_BYTES:-$((512 << 10))}
STALL=${HANDOFF_WAKEUPS_STALL_SECS:-2}
ROUNDS=${HANDOFF_WAKEUPS_ROUNDS:-1}
TRANSITIONS=${HANDOFF_WAKEUPS_TRANSITIONS:-abcdefg}
# What the peer of a writer sends back after the writer's FIN.
REST=$((64 << 10))
KINDS=(select poll epoll epoll-et block timeo)
POLL_KINDS='^(select|poll|epoll|epoll-et)$'
FAIL=/sys/kernel/debug/hnic/hnic0/fail
declare -A DESC=(
	[a]="restore only"
	[b]="restore, offload all at once"
	[c]="restore, offload deferred to the next call"
	[d]="hnic0 down and up, offload all"
	[e]="half-closed first, NIC hands TIME_WAIT back"
	[f]="NIC failure"
	[g]="rmmod"
)

handoff_start hsysctl
require python3 ss
[[ $TRANSITIONS =~ ^[a-g]+$ ]] || { echo "# HANDOFF_WAKEUPS_TRANSITIONS: letters a-g, not '$TRANSITIONS'"; exit $ksft_fail; }
NCASES=$((2 * ${#KINDS[@]}))
tap_plan $((2 + ROUNDS * ${#TRANSITIONS} * (1 + NCASES)))
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT
dmesg_mark

# fresh: the module loaded, a new hnic topology (a failed NIC stays
# failed, rmmod takes the devices), policy on for all ports, IPv6
# addresses kept over a link down.
fresh() {
	topo_destroy
	# shellcheck disable=SC2086 # word splitting wanted: module options
	module_load ${HANDOFF_MODPARAMS:-} || return 1
	handoff_topology all || return 1
	ip netns exec "$NS_SRV" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.hnic0.keep_addr_on_down=1 &&
	ip netns exec "$NS_CLI" sysctl -qw net.ipv6.conf.all.keep_addr_on_down=1 net.ipv6.conf.hnic1.keep_addr_on_down=1
}
tap_check "hnic topology up, policy on for all ports" fresh
NEED_FRESH=0

# ---------------------------------------------------------------- cases
#
# Case I of a transition: C_NAME (kind-role-family), C_KIND, C_ROLE,
# C_ADDR, C_PORT; once accepted, C_TID (the waiter thread) and C_HTID (its
# helper, transition c's poll kinds). Ports 5600 + 16 K + I, K counting
# the transitions run; the families alternate by kind, role and K, so
# each kind and role meets both over the transitions.
cases_for() {
	local k=$1 ki role r i=0 fam
	C_NAME=() C_KIND=() C_ROLE=() C_ADDR=() C_PORT=() C_TID=() C_HTID=()
	for ki in "${!KINDS[@]}"; do
		r=0
		for role in writer reader; do
			fam=$(((ki + r + k) % 2 ? 6 : 4))
			C_KIND[i]=${KINDS[ki]} C_ROLE[i]=$role C_PORT[i]=$((5600 + 16 * k + i))
			C_NAME[i]=${KINDS[ki]}-$role-v$fam
			[ $fam = 4 ] && C_ADDR[i]=$SRV4 || C_ADDR[i]=$SRV6
			i=$((i + 1)) r=1
		done
	done
}

# files_with PATTERN SUFFIX: every case's DIR/NAME.SUFFIX has a line
# matching PATTERN (prints how many do).
files_with() {
	local n f files=()
	for f in "${C_NAME[@]}"; do files+=("$D/$f.$2"); done
	n=$(grep -lE "$1" "${files[@]}" 2>/dev/null | wc -l)
	echo "$n of ${#files[@]} $2 files have '$1'"
	[ "$n" = "${#files[@]}" ]
}

# load_tids: C_TID and C_HTID from the waiters' "tid"/"helper" lines.
load_tids() {
	local i
	for i in "${!C_NAME[@]}"; do
		case_read "${C_NAME[i]}"
		C_TID[i]=$_tid C_HTID[i]=$_htid
	done
}
helpers_logged() {
	local i n=0 want=0
	for i in "${!C_NAME[@]}"; do
		[[ ${C_KIND[i]} =~ $POLL_KINDS ]] || continue
		want=$((want + 1))
		case_read "${C_NAME[i]}"
		[ -n "$_htid" ] && n=$((n + 1))
	done
	echo "$n of $want helpers started"
	[ $n = $want ]
}

# ---------------------------------------------------------------- asleep
#
# Where each kind sleeps (the waiter thread's kernel stack): select in
# do_select, poll in do_sys_poll, epoll in ep_poll (inlined into
# do_epoll_wait); the blocking kinds in wait_woken, on native TCP's
# sk_stream_wait_memory (writer) or sk_wait_data (reader), or in the
# bypass layer's wait (neither).
# BLOCK_WHERE and TIMEO_WHERE (bypass, native, any) say which for the
# blocking kinds, HELPER_WHERE (none, bypass, native) for the helpers.
BLOCK_WHERE=bypass TIMEO_WHERE=bypass HELPER_WHERE=none SETTLE_QUEUES=0

# _sleeps_at TID KIND ROLE WHERE: the thread sleeps where KIND (and WHERE)
# says; _why says what it saw otherwise. A timeo waiter wakes up every
# 0.5 s on its own: three looks 30 ms apart.
_sleeps_at() {
	local tid=$1 kind=$2 role=$3 where=$4 want try native=sk_wait_data
	[ "$role" = writer ] && native=sk_stream_wait_memory
	case $kind in
	select) want=do_select ;;
	poll) want='do_sys_poll|do_poll' ;;
	epoll | epoll-et) want='ep_poll|do_epoll_wait' ;;
	*) [ "$where" = native ] && want=$native || want=wait_woken ;;
	esac
	for try in 1 2 3; do
		task_read "$SRV_PID" "$tid"
		if [ "$_st" = S ] && [[ " $_stack" =~ \ ($want)\  ]]; then
			# In the bypass layer: not (or no longer) in native TCP.
			[ "$where" = bypass ] && [[ " $_stack" =~ \ (sk_wait_data|sk_stream_wait_memory)\  ]] || return 0
		fi
		[ "$kind" = timeo ] || break
		sleep 0.03
	done
	_why="state $_st, stack ${_stack:-none} (expected $want${where:+ in $where})"
	return 1
}

# woken_snap: every waiter's voluntary context switches, to tell later
# whether a transition woke it (WOKEN_BASE).
woken_snap() {
	local i
	for i in "${!C_NAME[@]}"; do
		task_read "$SRV_PID" "${C_TID[i]}"
		WOKEN_BASE[i]=$_vcsw
	done
}

# _cli_queues: "PORT:RECVQ:SENDQ " of ns cli's established sockets.
_cli_queues() {
	in_ns "$NS_CLI" ss -tnH state established | awk '{ p = $4; sub(/.*:/, "", p); printf "%s:%s:%s ", p, $1, $2 }'
}

# waiters_settled [KINDS]: every waiter asleep where its kind sleeps, the
# helpers too; with KINDS (a regex), each waiter of those kinds woke up
# since woken_snap (timeo waiters wake up anyway and are not asked); each
# writer's peer has bytes queued, its window shut (with SETTLE_QUEUES=1:
# `ss` costs a second under TCG, and nothing moves once it held); and no
# waiter's context switches nor those queues changed since the previous
# call (file $D/settled): nothing is spinning or moving.
waiters_settled() {
	local i bad=0 sample="" prev="" q=" " where
	[ "$SETTLE_QUEUES" = 1 ] && q=" $(_cli_queues)"
	for i in "${!C_NAME[@]}"; do
		where=$BLOCK_WHERE
		[ "${C_KIND[i]}" = timeo ] && where=$TIMEO_WHERE
		if ! _sleeps_at "${C_TID[i]}" "${C_KIND[i]}" "${C_ROLE[i]}" "$where"; then
			echo "${C_NAME[i]}: $_why"
			bad=1
			continue
		fi
		if [ "${C_KIND[i]}" != timeo ]; then
			sample+="$_vcsw "
			if [ -n "${1:-}" ] && [[ ${C_KIND[i]} =~ $1 ]] && [ "$_vcsw" -le "${WOKEN_BASE[i]}" ]; then
				echo "${C_NAME[i]}: not woken (voluntary switches still $_vcsw)"
				bad=1
			fi
		fi
		if [ "$HELPER_WHERE" != none ] && [[ ${C_KIND[i]} =~ $POLL_KINDS ]] &&
			! _sleeps_at "${C_HTID[i]}" block reader "$HELPER_WHERE"; then
			echo "${C_NAME[i]} helper: $_why"
			bad=1
		fi
		if [ "$SETTLE_QUEUES" = 1 ] && [ "${C_ROLE[i]}" = writer ]; then
			[[ $q =~ \ ${C_PORT[i]}:([0-9]+):[0-9]+\  ]] && [ "${BASH_REMATCH[1]}" -gt 0 ] ||
				{ echo "${C_NAME[i]}: its peer's receive queue is empty"; bad=1; }
		fi
	done
	sample+=$q
	IFS= read -r prev <"$D/settled" 2>/dev/null
	echo "$sample" >"$D/settled"
	[ $bad = 0 ] && [ "$sample" != "$prev" ] && echo "still moving: $sample" && return 1
	return $bad
}

# settle WHAT [KINDS]: wait_until waiters_settled.
settle() {
	rm -f "$D/settled"
	wait_until 20 "$1" waiters_settled "${2:-}"
}

# timeouts_mark NAME: the timeouts of each timeo waiter so far, into
# $D/NAME.NAME; timeouts_since MARK: each timed out again since.
timeouts_mark() {
	local i
	for i in "${!C_NAME[@]}"; do
		[ "${C_KIND[i]}" = timeo ] || continue
		case_read "${C_NAME[i]}"
		echo "$_ntimeo" >"$D/${C_NAME[i]}.$1"
	done
	return 0
}
timeouts_since() {
	local i m bad=0
	for i in "${!C_NAME[@]}"; do
		[ "${C_KIND[i]}" = timeo ] || continue
		case_read "${C_NAME[i]}"
		read -r m <"$D/${C_NAME[i]}.$1"
		echo "${C_NAME[i]}: $_ntimeo timeouts, $m at $1"
		[ "$_ntimeo" -gt "$m" ] || bad=1
	done
	return $bad
}

# phase WHAT: a diagnostic of the seconds since the transition began.
phase() {
	local us=$((${EPOCHREALTIME/./} - ${T0/./}))
	echo "# +$((us / 1000000)).$((us / 100000 % 10)) s: $1"
}

# gauge_in LO HI: the offloaded gauge, read once, is in [LO, HI].
gauge_in() {
	local g
	g=$(handoff_stat offloaded)
	echo "# offloaded straight after: $g (expected $1..$2)"
	[ "$g" -ge "$1" ] 2>/dev/null && [ "$g" -le "$2" ]
}

# expect_delta NAME VALUE...: each counter NAME grew by VALUE since
# handoff_snap (one read of handoff_stat: each costs a fork or two).
expect_delta() {
	local bad=0 d
	handoff_now
	while [ $# -ge 2 ]; do
		d=$(_now_delta "$1")
		[ "$d" = "$2" ] || { echo "# $1 changed by $d, expected $2"; bad=1; }
		shift 2
	done
	return $bad
}

# ---------------------------------------------------------------- run
#
# A segment is a run of transitions on one topology (f and g end one: a
# failed NIC stays failed, rmmod takes the devices): one waiter process in
# ns srv and one peer process in ns cli serve all its cases (Python starts
# in seconds under TCG), each transition's peers connect when it begins.

# start_segment: fresh topology if needed, both processes for the cases
# of the transitions in SEG (numbered from K0).
start_segment() {
	local t j i specs=() flags dirs=()
	if [ "$NEED_FRESH" = 1 ]; then
		fresh || return 1
		NEED_FRESH=0
	fi
	for j in "${!SEG[@]}"; do
		t=${SEG[j]}
		cases_for $((K0 + j))
		D=$W/$((K0 + j))$t
		mkdir -p "$D"
		dirs+=("$D")
		case $t in
		c) flags=h ;;
		e) flags=c ;;
		f) flags=r ;;
		*) flags=- ;;
		esac
		for i in "${!C_NAME[@]}"; do
			specs+=("$D,${C_NAME[i]},${C_KIND[i]},${C_ROLE[i]},${C_ADDR[i]},${C_PORT[i]},$flags")
		done
	done
	bg_in_ns "$NS_SRV" python3 ./waiter.py serve --bytes "$BYTES" --rest "$REST" "${specs[@]}" >"$W/serve$K0.log" 2>&1
	SRV_PID=$BG_PID
	# The peers wait for their transition's connect file: start them at
	# once, Python's start-up costs seconds under TCG.
	bg_in_ns "$NS_CLI" python3 ./waiter.py peer "$STALL" --bytes "$BYTES" --rest "$REST" "${specs[@]}" >"$W/peer$K0.log" 2>&1
	PEER_PID=$BG_PID
	wait_until 30 "every waiter listening" _listening_in ${#specs[@]} "${dirs[@]}"
}
_listening_in() {
	local n want=$1
	shift
	# shellcheck disable=SC2086 # globs wanted: every case file of each dir
	n=$(grep -l '^listening' ${@/%//*.srv} 2>/dev/null | wc -l)
	echo "$n of $want waiters listening"
	[ "$n" = "$want" ]
}

# end_segment: both processes exit (each case ended), else are killed.
end_segment() {
	[ -z "$PEER_PID" ] || { wait_until 20 "the waiter process to exit" pid_gone "$SRV_PID" &&
		wait_until 10 "the peer process to exit" pid_gone "$PEER_PID"; }
	kill -9 $SRV_PID $PEER_PID 2>/dev/null
	wait $SRV_PID $PEER_PID 2>/dev/null
	grep -v '^$' "$W/serve$K0.log" "$W/peer$K0.log" | head -20 | sed 's/^/# python: /'
	return 0
}

# start_pairs T: transition T's peers connect; every connection handed
# off, every waiter's (and helper's) thread id known.
start_pairs() {
	local t=$1
	touch "$D/connect"
	handoff_wait_offloaded "$NCASES" 30 && wait_until 10 "every waiter's thread id" files_with '^tid ' srv || return 1
	if [ "$t" = c ]; then
		wait_until 10 "every helper's thread id" helpers_logged || return 1
		HELPER_WHERE=bypass
	fi
	load_tids
	phase "all handed off"
}

# finish_pairs: open the gate, wait for every peer (a stalled one reports
# and keeps its connection open), run the stall detector on each stalled
# pair, release them, then wait for every waiter (one that does not end
# gets a stall report too).
finish_pairs() {
	local i n ok=0 limit=$((30 + NCASES * BYTES / (128 << 10)))
	touch "$D/gate"
	wait_until "$limit" "every peer to finish" files_with '^(done|error|fail|stall|reset)' cli || ok=1
	for i in "${!C_NAME[@]}"; do
		n=${C_NAME[i]}
		case_read "$n"
		[[ $_cli == stall* ]] &&
			stall_report "${C_PORT[i]}" "$SRV_PID/${C_TID[i]}" ${C_HTID[i]:+"$SRV_PID/${C_HTID[i]}"} >"$D/$n.stall"
	done
	touch "$D/release"
	wait_until 20 "every waiter to finish" files_with '^(done|error|fail)' srv || {
		ok=1
		for i in "${!C_NAME[@]}"; do
			n=${C_NAME[i]}
			case_read "$n"
			[ -n "$_srv" ] || [ -f "$D/$n.stall" ] ||
				stall_report "${C_PORT[i]}" "$SRV_PID/${C_TID[i]}" >>"$D/$n.stall"
		done
	}
	return $ok
}

# cleanup_pairs: after a failure, no waiter of this transition is left on
# the NIC for the next one to count: whatever did not end is restored
# (the restore wakes its waiter; its peer has gone, so it fails) and the
# gauge must read 0 again.
cleanup_pairs() {
	touch "$D/gate" "$D/release"
	files_with '^(done|error|fail)' srv >/dev/null && [ "$(handoff_stat offloaded)" = 0 ] && return 0
	module_loaded || return 0
	echo "# cleaning up: restore all, for waiters that did not end"
	hctl restore all >/dev/null
	wait_until 20 "every waiter to end after the clean-up" files_with '^(done|error|fail)' srv
	handoff_wait_offloaded 0 10
	return 0
}

# transition T: the pairs of transition T, from start to finish (the
# per-case results are judged by case_ok afterwards). Fails on what
# concerns the transition as a whole: set-up, the counters, the gauge,
# whether the transition woke the waiters and where they went to sleep.
transition() {
	local t=$1 ok=0 i n r h
	[ "$SEG_OK" = 1 ] || { echo "# no waiters: the set-up of their processes failed"; return 1; }
	BLOCK_WHERE=bypass TIMEO_WHERE=bypass HELPER_WHERE=none
	T0=$EPOCHREALTIME
	handoff_snap
	if ! start_pairs "$t"; then
		cleanup_pairs
		return 1
	fi
	local npoll=0 ntimeo=0
	for i in "${!C_NAME[@]}"; do
		[[ ${C_KIND[i]} =~ $POLL_KINDS ]] && npoll=$((npoll + 1))
		[ "${C_KIND[i]}" = timeo ] && ntimeo=$((ntimeo + 1))
	done
	if [ "$t" = e ]; then
		tcp_counters "$NS_SRV" >"$D/tcp.srv"
		tcp_counters "$NS_CLI" >"$D/tcp.cli"
	fi
	SETTLE_QUEUES=1
	settle "every waiter asleep on the NIC, buffers full" || ok=1
	SETTLE_QUEUES=0
	phase "all asleep on the NIC"
	woken_snap
	case $t in
	a | b | c)
		hctl_expect OK restore all || ok=1
		expect_delta restores "$NCASES" || ok=1
		gauge_in 0 0 || ok=1
		phase "restored"
		BLOCK_WHERE=native TIMEO_WHERE=native
		[ "$t" = c ] && HELPER_WHERE=native
		settle "every waiter woken by the restore, asleep on native TCP" . || ok=1
		;;
	d)
		ip -n "$NS_SRV" link set hnic0 down || ok=1
		expect_delta restores "$NCASES" || ok=1
		gauge_in 0 0 || ok=1
		BLOCK_WHERE=native TIMEO_WHERE=native
		settle "every waiter woken by the link-down restore, asleep on native TCP" . || ok=1
		ip -n "$NS_SRV" link set hnic0 up && topo_wait_reachable || ok=1
		;;
	f)
		echo 1 >"$FAIL" || ok=1
		NEED_FRESH=1
		handoff_wait_offloaded 0 5 || ok=1
		expect_delta nic_resets "$NCASES" || ok=1
		wait_until 10 "every waiter woken with an error" files_with '^(done|error|fail)' srv || ok=1
		;;
	g)
		echo "# rmmod with $(handoff_stat offloaded) offloaded"
		rmmod tcp_handoff || { echo "# rmmod failed"; ok=1; }
		NEED_FRESH=1
		! module_loaded || ok=1
		dmesg | grep 'restarted outside the module' | tail -1 | sed 's/^/# dmesg: /'
		ip -n "$NS_SRV" link add veth0 type veth peer name veth1 netns "$NS_CLI" &&
			_topo_addr "$NS_SRV" veth0 "$SRV4" "$SRV6" && _topo_addr "$NS_CLI" veth1 "$CLI4" "$CLI6" &&
			topo_wait_reachable || ok=1
		BLOCK_WHERE=native TIMEO_WHERE=native
		settle "every waiter woken by the unload's restore, asleep on native TCP" . || ok=1
		;;
	esac
	case $t in
	b)
		woken_snap
		hctl_expect OK offload all || ok=1
		# The poll kinds are handed off by the write itself; a blocking
		# waiter asleep in native TCP defers its own (a timeo waiter may
		# be between two calls, or call again meanwhile).
		gauge_in "$npoll" $((npoll + ntimeo)) || ok=1
		TIMEO_WHERE=any
		settle "the poll kinds woken by the handoff and asleep again, the blocking kinds still on native TCP" \
			"$POLL_KINDS" || ok=1
		;;
	d)
		hctl_expect OK offload all || ok=1
		# As b, except that after a flap a connection may be refused
		# (refused_no_device) and stay native (the restore storm of
		# nic_events.sh allows it too): which ones is not known here, so
		# nobody is required to have woken.
		r=$(handoff_delta refused_no_device)
		echo "# refused_no_device by the offload write: $r"
		gauge_in $((npoll - r)) $((npoll + ntimeo)) || ok=1
		TIMEO_WHERE=any
		settle "every waiter asleep again, the blocking kinds still on native TCP" || ok=1
		;;
	c)
		hctl_expect OK offload all || ok=1
		# Every connection has a task asleep in native TCP: a helper, or
		# the blocking waiter itself.
		gauge_in 0 "$ntimeo" || ok=1
		woken_snap
		touch "$D/kick"
		wait_until 10 "the helpers' next calls to hand the poll kinds off" stat_ge offloaded "$npoll" || ok=1
		TIMEO_WHERE=any HELPER_WHERE=bypass
		settle "the poll kinds woken by the handoff, their helpers asleep on the NIC" "$POLL_KINDS" || ok=1
		;;
	esac
	case $t in
	e | f) ;;
	*)
		timeouts_mark change
		wait_until 5 "every timeo waiter to time out after the change" timeouts_since change || ok=1
		;;
	esac
	phase "gate open"
	finish_pairs || ok=1
	phase "all ended"
	# What the transition left the counters at (the module is gone after g).
	case $t in
	g) ;;
	*)
		handoff_wait_offloaded 0 10 || ok=1
		handoff_report restores
		;;
	esac
	case $t in
	a) expect_delta handoffs "$NCASES" restores "$NCASES" nic_released 0 nic_resets 0 || ok=1 ;;
	b | c) expect_delta handoffs $((2 * NCASES)) restores "$NCASES" nic_released "$NCASES" nic_resets 0 || ok=1 ;;
	d)
		# Every connection handed off again, or refused by the flap.
		h=$(handoff_delta handoffs) r=$(handoff_delta refused_no_device)
		echo "# $((h - NCASES)) handed off again, $r refused (refused_no_device) after the flap"
		[ $((h + r)) = $((2 * NCASES)) ] || ok=1
		expect_delta restores "$NCASES" nic_released $((h - NCASES)) nic_resets 0 || ok=1
		;;
	e)
		expect_delta handoffs "$NCASES" restores 0 nic_released "$NCASES" nic_resets 0 || ok=1
		# The NIC handed each TIME_WAIT back: the host holds it.
		local tw
		tw=" $(in_ns "$NS_SRV" ss -tanH state time-wait | awk '{ p = $3; sub(/.*:/, "", p); printf "%s ", p }')"
		n=0
		for i in "${!C_NAME[@]}"; do
			[[ $tw == *" ${C_PORT[i]} "* ]] && n=$((n + 1)) && continue
			echo "# ${C_NAME[i]}: no TIME-WAIT on the host; ss: $(in_ns "$NS_SRV" ss -tanH "( sport = :${C_PORT[i]} )" | tr -s ' ' | paste -sd ';')"
		done
		echo "# $n of $NCASES server ends in TIME-WAIT on the host"
		if [ "$n" != "$NCASES" ]; then
			# A peer's RST ends a TIME_WAIT (tcp_rfc1337=0): each one
			# missing must have met one (seen under TCG after the peer
			# retransmitted its FIN).
			echo "# TCP trouble since the start: srv$(tcp_trouble_delta "$NS_SRV" "$D/tcp.srv"); cli$(tcp_trouble_delta "$NS_CLI" "$D/tcp.cli")"
			r=$(($(snmp_tcp "$NS_CLI" OutRsts) - $(awk '$1 == "Tcp:OutRsts" { print $2 }' "$D/tcp.cli")))
			[ $((NCASES - n)) -le "$r" ] || ok=1
		fi
		;;
	f) expect_delta handoffs "$NCASES" restores 0 || ok=1 ;;
	esac
	case $t in
	d) r=$(handoff_delta refused_no_device) ;;
	*) r=0 ;;
	esac
	if [ "$t" != g ]; then
		h=$(handoff_refused_delta)
		[ "$h" = "$r" ] || { echo "# refusals: $h"; ok=1; }
	fi
	[ $ok = 0 ] || cleanup_pairs
	return $ok
}

# case_read NAME: from DIR/NAME.srv and .cli (shell builtins only: the
# pollers call it for every case), the waiter's thread ids (_tid, _htid),
# its and its peer's last result lines (_srv, _cli) and its timeouts
# (_ntimeo).
case_read() {
	local l a=()
	_tid= _htid= _srv= _cli= _ntimeo=0
	{ mapfile -t a <"$D/$1.srv"; } 2>/dev/null
	for l in "${a[@]}"; do
		case $l in
		timeout*) _ntimeo=$((_ntimeo + 1)) ;;
		"tid "*) _tid=${l#tid } ;;
		"helper "[0-9]*) _htid=${l#helper } ;;
		done* | error* | fail*) _srv=$l ;;
		esac
	done
	a=()
	{ mapfile -t a <"$D/$1.cli"; } 2>/dev/null
	for l in "${a[@]}"; do
		[[ $l =~ ^(done|error|fail|stall|reset) ]] && _cli=$l
	done
	return 0
}

# case_ok T I: case I of transition T ended as T expects: both ends
# "done", the bytes each sent are what the other got (writer: BYTES out,
# REST back; reader: BYTES in), a timeo waiter timed out again after the
# change; for f the waiter got ECONNRESET and its peer a reset. Else its
# lines, its peer's and the stall report.
case_ok() {
	local t=$1 i=$2 n=${C_NAME[$2]} s c ok=0 so si co ci
	case_read "$n"
	s=$_srv c=$_cli
	if [ "$t" = f ]; then
		[[ $s == "error ECONNRESET "* ]] || { echo "# waiter: ${s:-no result}, expected error ECONNRESET"; ok=1; }
		[[ $c =~ ^reset\ (ECONNRESET|EPIPE)\  ]] || { echo "# peer: ${c:-no result}, expected a reset"; ok=1; }
	elif [[ $s =~ ^done\ out=([^ ]*)\ in=([^ ]*)$ ]]; then
		so=${BASH_REMATCH[1]} si=${BASH_REMATCH[2]}
		if [[ $c =~ ^done\ out=([^ ]*)\ in=([^ ]*)$ ]]; then
			co=${BASH_REMATCH[1]} ci=${BASH_REMATCH[2]}
			[ "$so" = "$ci" ] && [ "$si" = "$co" ] || { echo "# streams differ: waiter $s, peer $c"; ok=1; }
			if [ "${C_ROLE[i]}" = writer ]; then
				[ "${so%%:*}" = "$BYTES" ] && [ "${si%%:*}" = "$REST" ] || { echo "# waiter moved $s"; ok=1; }
			else
				[ "${so%%:*}" = 0 ] && [ "${si%%:*}" = "$BYTES" ] || { echo "# waiter moved $s"; ok=1; }
			fi
		else
			echo "# peer: ${c:-no result}"
			ok=1
		fi
	else
		echo "# waiter: ${s:-no result}; peer: ${c:-no result}"
		ok=1
	fi
	if [ "${C_KIND[i]}" = timeo ] && [ -f "$D/$n.change" ] && [[ $t =~ [abcdg] ]]; then
		local m
		read -r m <"$D/$n.change"
		[ "$_ntimeo" -gt "$m" ] || { echo "# no timeout after the change ($_ntimeo in all)"; ok=1; }
	fi
	if [ $ok != 0 ]; then
		sed 's/^/# srv: /' "$D/$n.srv" | grep -v '^# srv: timeout' | tail -8
		echo "# srv: $_ntimeo timeout lines"
		sed 's/^/# cli: /' "$D/$n.cli" | tail -8
		[ -f "$D/$n.stall" ] && cat "$D/$n.stall"
	fi
	return $ok
}

# What each case of a transition must show, for its TAP line.
declare -A EXPECT=(
	[a]="woken, finished natively, verified"
	[b]="woken, re-handed off, verified"
	[c]="woken, re-handed off later, verified"
	[d]="woken, re-handed off, verified"
	[e]="all data, EOF, verified"
	[f]="woken with ECONNRESET, peer reset"
	[g]="woken, finished natively, verified"
)

# run_segment: the transitions in SEG, one TAP result for each and one
# for each of its cases.
run_segment() {
	local t i fam name
	K0=$k SEG_OK=1 SRV_PID= PEER_PID=
	start_segment || { SEG_OK=0; echo "# the set-up of the waiters for ${SEG[*]} failed"; }
	for t in "${SEG[@]}"; do
		cases_for $k
		D=$W/$k$t
		tap_check "($t) ${DESC[$t]}: $NCASES waiters asleep, transition applied once, counters (round $round)" transition "$t"
		# Judged from the files alone (shell builtins): a tap_check per
		# case would cost half a second under TCG.
		for i in "${!C_NAME[@]}"; do
			fam=IPv4
			[ "${C_ADDR[i]}" = "$SRV4" ] || fam=IPv6
			name="($t) ${DESC[$t]}: ${C_KIND[i]} ${C_ROLE[i]} $fam :${C_PORT[i]}: ${EXPECT[$t]}"
			if case_ok "$t" "$i"; then tap_ok "$name"; else tap_fail "$name"; fi
		done
		k=$((k + 1))
	done
	[ -n "$SRV_PID" ] && end_segment
	SEG=()
}

k=0
SEG=()
for round in $(seq "$ROUNDS"); do
	for ((j = 0; j < ${#TRANSITIONS}; j++)); do
		t=${TRANSITIONS:j:1}
		SEG+=("$t")
		[[ $t == [fg] ]] || [ $j = $((${#TRANSITIONS} - 1)) ] && run_segment
	done
done

handoff_finish
