#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Shared helpers for the tcp-handoff selftests: TAP output in kselftest
# style and the network-namespace topology used by every suite.
#
# Environment (set by the VM runner, xtask/guest/init.sh):
#   HANDOFF_KO   path of tcp_handoff.ko
#   HANDOFF_BIN  directory of the userspace tools (hxfer, ...)

ksft_pass=0
ksft_fail=1

# Tests open thousands of sockets (1024 connections, both ends).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

_tap_n=0
_tap_failed=0

# tap_plan N: print the TAP header for N subtests.
tap_plan() {
	echo "TAP version 13"
	echo "1..$1"
}

# Each result carries the time since the previous one (or the program's
# start), "(3.2 s)", so a slow subtest is named in every run's output.
_tap_t0=$EPOCHREALTIME
_tap_took() {
	local now=$EPOCHREALTIME us
	us=$(( ${now/./} - ${_tap_t0/./} ))
	_tap_t0=$now
	printf -v _tap_time '(%d.%d s)' $((us / 1000000)) $((us / 100000 % 10))
}
tap_ok() { _tap_n=$((_tap_n + 1)); _tap_took; echo "ok $_tap_n $* $_tap_time"; }
tap_fail() { _tap_n=$((_tap_n + 1)); _tap_failed=1; _tap_took; echo "not ok $_tap_n $* $_tap_time"; }

# Trace lines a failed check prints: the commands it ran last, the one
# that failed among them (checks are && chains, so mostly the last one).
TAP_TRACE_LINES=${HANDOFF_TAP_TRACE_LINES:-12}

# tap_check NAME CMD...: run CMD, report NAME as ok/not ok by its status.
# CMD runs traced (set -x) into a file of its own, not stderr; when it
# fails, the last trace lines are printed as diagnostics, so a failure a
# CI run shows once says which step failed.
tap_check() {
	local name=$1 trace rc
	shift
	trace=$(mktemp)
	exec {_tap_trace_fd}>"$trace"
	BASH_XTRACEFD=$_tap_trace_fd
	# Each traced line starts with the time it ran: HANDOFF_TAP_PROFILE=N
	# prints the N commands that took longest in every check.
	local PS4='+${EPOCHREALTIME} '
	set -x
	"$@"
	rc=$?
	{ set +x; } 2>/dev/null
	# Unsetting it closes the descriptor too.
	unset BASH_XTRACEFD
	[ -n "${HANDOFF_TAP_PROFILE:-}" ] && _tap_profile "$trace" "$HANDOFF_TAP_PROFILE"
	if [ $rc = 0 ]; then
		tap_ok "$name"
	else
		echo "# the check's last commands (set -x):"
		# Without the trace of `rc=$?` and `set +x`, nor lines quoting the
		# kernel-report patterns (the VM runner would take them for one).
		head -n -2 "$trace" | grep -vE "$DMESG_TROUBLE" | tail -n "$TAP_TRACE_LINES" |
			cut -c1-200 | sed 's/^/# /'
		tap_fail "$name"
	fi
	rm -f "$trace"
}

# ---------------------------------------------------------------- waiting
#
# Tests wait for a state, never for a time: wait_until polls a predicate
# and, when its time runs out, says what it waited for and what it saw.

# How often wait_until polls. Each poll forks (nsenter, awk): under
# TCG a tighter loop would take CPU from the test it watches.
WAIT_POLL=${HANDOFF_WAIT_POLL:-0.1}

# wait_until SECS WHAT CMD...: run CMD until it succeeds, at most SECS
# seconds (decimals allowed). CMD's output is kept while it fails; when
# time runs out, "timed out after SECS s waiting for WHAT" and CMD's last
# output (the state it saw) are printed as diagnostics, and the status is 1.
wait_until() {
	local secs=$1 what=$2 out now deadline
	shift 2
	now=${EPOCHREALTIME/./}
	deadline=$((now + $(_wait_us "$secs")))
	while :; do
		out=$("$@" 2>&1) && return 0
		[ "${EPOCHREALTIME/./}" -ge "$deadline" ] && break
		sleep "$WAIT_POLL"
	done
	echo "# timed out after $secs s waiting for $what; saw:"
	printf '%s\n' "${out:-(nothing printed)}" | head -20 | sed 's/^/#   /'
	return 1
}

# _wait_us SECS: SECS ("5", "0.5", "2.25") in microseconds.
_wait_us() {
	local whole=${1%%.*} frac=
	[[ $1 == *.* ]] && frac=${1#*.}
	frac=${frac}000000
	echo $((10#${whole:-0} * 1000000 + 10#${frac:0:6}))
}

# stays_true SECS WHAT CMD...: CMD keeps succeeding for SECS seconds (what
# must not happen in that time, checked all along); on the first failure,
# "WHAT stopped holding after T s" and CMD's output are printed.
stays_true() {
	local secs=$1 what=$2 out t0 deadline
	shift 2
	t0=${EPOCHREALTIME/./}
	deadline=$((t0 + $(_wait_us "$secs")))
	while out=$("$@" 2>&1); do
		[ "${EPOCHREALTIME/./}" -ge "$deadline" ] && return 0
		sleep "$WAIT_POLL"
	done
	echo "# $what stopped holding after $(((${EPOCHREALTIME/./} - t0) / 100000 / 10)).$(((${EPOCHREALTIME/./} - t0) / 100000 % 10)) s; saw:"
	printf '%s\n' "${out:-(nothing printed)}" | head -20 | sed 's/^/#   /'
	return 1
}

# unchanged CMD...: CMD prints the same twice, $WAIT_POLL apart (a queue or
# counter has stopped moving); prints the second reading.
unchanged() {
	local a b
	a=$("$@") || return 1
	sleep "$WAIT_POLL"
	b=$("$@") || return 1
	echo "$b"
	[ "$a" = "$b" ]
}

# pids_alive PID...: every PID still runs.
pids_alive() {
	local p
	for p in "$@"; do
		kill -0 "$p" 2>/dev/null || { echo "pid $p has exited"; return 1; }
	done
}

# pid_gone PID: process PID has exited (prints that it still runs).
pid_gone() {
	kill -0 "$1" 2>/dev/null || return 0
	echo "pid $1 ($(tr '\0' ' ' </proc/"$1"/cmdline 2>/dev/null | cut -c1-120)) still running"
	return 1
}

# _tap_profile TRACE N: the N slowest commands of a timed trace (each
# line's time until the next line), as diagnostics.
_tap_profile() {
	awk '{ t = substr($1, match($1, /[0-9]/)); if (prev != "") printf "%.3f %s\n", t - pt, prev
	       pt = t; prev = substr($0, index($0, " ") + 1) }' "$1" |
		sort -rn | head -n "$2" | cut -c1-160 | grep -vE "$DMESG_TROUBLE" | sed 's/^/# slow: /'
}

# tap_exit: exit with the kselftest status the subtests add up to.
tap_exit() {
	[ "$_tap_failed" = 0 ] && exit $ksft_pass
	exit $ksft_fail
}

# require CMD...: the program fails at once when a tool it needs is
# missing (scripts/deps.sh installs them all; a program that skipped
# itself would let `make check` pass without testing anything).
require() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "# missing: $c (scripts/deps.sh installs it)"; exit $ksft_fail; }
	done
}

# Kernel trouble markers a test must not leave in dmesg.
DMESG_TROUBLE='WARNING:|BUG:|Oops|Call Trace:|unreferenced object|KASAN:|UBSAN:|general protection'

KMEMLEAK=/sys/kernel/debug/kmemleak

# dmesg_mark: remember where dmesg is now (and, on a kmemleak kernel, forget
# earlier suspects); dmesg_clean_since: no trouble after it, and no leak
# kmemleak can find now.
dmesg_mark() {
	_dmesg_mark=$(dmesg | wc -l)
	[ -w $KMEMLEAK ] && echo clear > $KMEMLEAK
	return 0
}
dmesg_clean_since() {
	! dmesg | tail -n +"$((_dmesg_mark + 1))" | grep -E "$DMESG_TROUBLE" || return 1
	[ -w $KMEMLEAK ] || return 0
	# Two scans: an object must look unreferenced twice to be reported.
	echo scan > $KMEMLEAK && echo scan > $KMEMLEAK
	local leaks
	leaks=$(cat $KMEMLEAK)
	[ -z "$leaks" ] && return 0
	echo "$leaks" | head -40 | sed 's/^/# kmemleak: /'
	return 1
}

module_loaded() { grep -q '^tcp_handoff ' /proc/modules; }

# module_load / module_unload: idempotent insmod/rmmod of tcp_handoff.ko.
module_load() { module_loaded || insmod "$HANDOFF_KO" "$@"; }
module_unload() { ! module_loaded || rmmod tcp_handoff; }

# ---------------------------------------------------------------- topology
#
# Two namespaces, "srv" and "cli" (suffixed by $TOPO_ID so suites can run
# side by side), joined by a link of the given kind:
#
#   ns srv-$TOPO_ID: $TOPO_SRV_DEV 198.18.0.1/24 2001:db8::1/64
#   ns cli-$TOPO_ID: $TOPO_CLI_DEV 198.18.0.2/24 2001:db8::2/64
#
# Addresses come from the benchmarking ranges 198.18.0.0/15 and
# 2001:db8::/32 (documentation prefix): test traffic never leaves the VM.

TOPO_ID=${TOPO_ID:-$$}

# in_ns NS CMD...: CMD in network namespace NS. nsenter --net joins only the
# network namespace; `ip netns exec` also unshares the mount namespace and
# remounts /sys, which costs twice as much under TCG: keep it for commands
# that read /sys/class/net (a device's sysfs view follows the mount).
in_ns() { nsenter --net="/run/netns/$1" -- "${@:2}"; }
# bg_in_ns NS CMD...: CMD in the background in NS, its pid in BG_PID.
# nsenter execs CMD, so BG_PID is CMD's own pid and kill and wait reach
# it; `in_ns ... &` would give the pid of a subshell, and killing that
# would leave CMD running (and its connections open) behind the test.
bg_in_ns() { nsenter --net="/run/netns/$1" -- "${@:2}" & BG_PID=$!; }
NS_SRV="srv-$TOPO_ID"
NS_CLI="cli-$TOPO_ID"
SRV4=198.18.0.1
CLI4=198.18.0.2
SRV6=2001:db8::1
CLI6=2001:db8::2

# topo_create KIND: KIND is "veth" or "hnic" (loads tcp_handoff.ko).
topo_create() {
	local kind=$1
	ip netns add "$NS_SRV" || return 1
	ip netns add "$NS_CLI" || return 1
	case $kind in
	veth)
		TOPO_SRV_DEV=veth0 TOPO_CLI_DEV=veth1
		ip -n "$NS_SRV" link add "$TOPO_SRV_DEV" type veth peer name "$TOPO_CLI_DEV" netns "$NS_CLI" || return 1
		;;
	hnic)
		TOPO_SRV_DEV=hnic0 TOPO_CLI_DEV=hnic1
		module_load || return 1
		ip -n "$NS_SRV" link add "$TOPO_SRV_DEV" type hnic peer name "$TOPO_CLI_DEV" netns "$NS_CLI" || return 1
		;;
	*)
		echo "# topo_create: unknown link kind '$kind'"
		return 1
		;;
	esac
	_topo_addr "$NS_SRV" "$TOPO_SRV_DEV" "$SRV4" "$SRV6" &&
	_topo_addr "$NS_CLI" "$TOPO_CLI_DEV" "$CLI4" "$CLI6" &&
	topo_wait_reachable
}

_topo_addr() {
	local ns=$1 dev=$2 a4=$3 a6=$4
	ip -n "$ns" link set lo up &&
	ip -n "$ns" addr add "$a4/24" dev "$dev" &&
	ip -n "$ns" addr add "$a6/64" dev "$dev" nodad &&
	ip -n "$ns" link set "$dev" up
}

# topo_wait_reachable: both families answer within 10 s (carrier, neighbours).
topo_wait_reachable() {
	wait_until 10 "ns cli to reach ns srv over IPv4 and IPv6" _topo_reachable
}
_topo_reachable() {
	in_ns "$NS_CLI" ping -c1 -W1 -q "$SRV4" >/dev/null 2>&1 || { echo "no answer from $SRV4"; return 1; }
	in_ns "$NS_CLI" ping -6 -c1 -W1 -q "$SRV6" >/dev/null 2>&1 || { echo "no answer from $SRV6"; return 1; }
}

topo_destroy() {
	ip netns del "$NS_SRV" 2>/dev/null
	ip netns del "$NS_CLI" 2>/dev/null
	return 0
}

# xfer_verify FAMILY_ADDR PORT BYTES [CONNS [HXFER_OPTION...]]: hxfer both
# ways between the namespaces, then check every digest pair. Prints a
# diagnostic on mismatch. Options (--half-close, --rst, --idle, --keepalive)
# go to both ends. XFER_TIMEOUT (seconds) bounds the client: a stalled
# transfer then fails (rc 124) instead of using up the test's time.
xfer_verify() {
	local addr=$1 port=$2 bytes=$3 conns=${4:-1}
	shift $(($# < 4 ? $# : 4))
	local out
	out=$(mktemp -d)
	bg_in_ns "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" \
		--bytes "$bytes" --conns "$conns" "$@" >"$out/srv" 2>"$out/srv.err"
	local srv_pid=$BG_PID
	bg_in_ns "$NS_CLI" "$HANDOFF_BIN/hxfer" client \
		--addr "$addr" --port "$port" --bytes "$bytes" --conns "$conns" "$@" >"$out/cli" 2>"$out/cli.err"
	local cli_pid=$BG_PID cli_rc
	if [ -n "${XFER_TIMEOUT:-}" ] && ! wait_until "$XFER_TIMEOUT" "the hxfer client to finish" pid_gone $cli_pid; then
		# Stalled: let the suite show both ends while they still exist.
		echo "# hxfer client still running after ${XFER_TIMEOUT}s"
		declare -F xfer_stall_diag >/dev/null && xfer_stall_diag "$port"
		kill $cli_pid $srv_pid 2>/dev/null
		wait $cli_pid
		cli_rc=124
	else
		wait $cli_pid
		cli_rc=$?
	fi
	wait $srv_pid
	local srv_rc=$?
	local ok=0
	if [ $cli_rc != 0 ] || [ $srv_rc != 0 ]; then
		echo "# hxfer failed: client rc=$cli_rc server rc=$srv_rc"
		cat "$out/cli.err" "$out/srv.err" | sed 's/^/# /'
		ok=1
	elif ! _xfer_digests_match "$out/srv" "$out/cli" "$bytes" "$conns"; then
		ok=1
	fi
	rm -rf "$out"
	return $ok
}

# bulk_oneway_mbit ADDR PORT BYTES [server]: one-way transfer cli -> srv
# (the server sends nothing and shuts down its write side at once), or
# with "server" srv -> cli, the client's stream verified; prints Mbit/s
# (wall clock, including connection set-up and teardown). BULK_READ_SIZE
# set: the receiving side reads at most that many bytes per read.
bulk_oneway_mbit() {
	local addr=$1 port=$2 bytes=$3 t0 t1 srv out ok=0
	local srv_opt=(--bytes 0) cli_opt=(--bytes "$bytes")
	[ "${4:-}" = server ] && srv_opt=(--bytes "$bytes" --oneway server) cli_opt=("${srv_opt[@]}")
	if [ -n "${BULK_READ_SIZE:-}" ]; then
		if [ "${4:-}" = server ]; then cli_opt+=(--read-size "$BULK_READ_SIZE"); else srv_opt+=(--read-size "$BULK_READ_SIZE"); fi
	fi
	out=$(mktemp)
	bg_in_ns "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" "${srv_opt[@]}" >/dev/null
	srv=$BG_PID
	t0=$(date +%s%N)
	if ! in_ns "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$addr" --port "$port" "${cli_opt[@]}" >"$out"; then
		kill $srv 2>/dev/null
		wait $srv
		rm -f "$out"
		return 1
	fi
	wait $srv || ok=1
	t1=$(date +%s%N)
	if [ "${4:-}" = server ] && ! grep -q " recv=$bytes .*recv_check=ok" "$out"; then
		sed 's/^/# /' "$out" >&2
		ok=1
	fi
	rm -f "$out"
	[ $ok = 0 ] && echo $((bytes * 8 * 1000 / (t1 - t0)))
}

# Every connection: the bytes and digest one side sent are what the other got.
_xfer_digests_match() {
	local srv=$1 cli=$2 bytes=$3 conns=$4
	local lines
	lines=$(wc -l <"$srv")
	[ "$lines" = "$conns" ] || { echo "# server reported $lines of $conns connections"; return 1; }
	# Connections are numbered in accept order on one side and connect order
	# on the other, so compare the sets of digests, not line by line.
	local s2c_sent s2c_recv c2s_sent c2s_recv
	s2c_sent=$(sed -n 's/.* sent=\([0-9]*\) sent_sha256=\([0-9a-f]*\).*/\1 \2/p' "$srv" | sort)
	s2c_recv=$(sed -n 's/.* recv=\([0-9]*\) recv_sha256=\([0-9a-f]*\).*/\1 \2/p' "$cli" | sort)
	c2s_sent=$(sed -n 's/.* sent=\([0-9]*\) sent_sha256=\([0-9a-f]*\).*/\1 \2/p' "$cli" | sort)
	c2s_recv=$(sed -n 's/.* recv=\([0-9]*\) recv_sha256=\([0-9a-f]*\).*/\1 \2/p' "$srv" | sort)
	if [ "$s2c_sent" != "$s2c_recv" ] || [ "$c2s_sent" != "$c2s_recv" ] || [ -z "$s2c_sent" ]; then
		echo "# digest mismatch"
		sed 's/^/# srv: /' "$srv"
		sed 's/^/# cli: /' "$cli"
		return 1
	fi
	if grep -qv " sent=$bytes .* recv=$bytes " "$srv"; then
		echo "# byte counts differ from $bytes"
		return 1
	fi
	return 0
}

# hnic_stat NS DEV NAME: one `ethtool -S` counter of an hnic device.
hnic_stat() {
	in_ns "$1" ethtool -S "$2" | awk -v n="$3:" '$1 == n { print $2; found = 1 } END { if (!found) print "missing" }'
}

# nic_dump_conns [LINES [DEV]]: the firmware of DEV (hnic0) logs every
# connection it runs, next to the host's view; the last LINES (8) of them.
nic_dump_conns() {
	local f=/sys/kernel/debug/hnic/${2:-hnic0}/dump_conns
	echo 1 > "$f"
	# The firmware thread clears the request as it takes it.
	wait_until 2 "${2:-hnic0}'s firmware to take the dump request" file_is "$f" 0
	dmesg | grep "hnic: cid" | tail -n "${1:-8}" | sed 's/^/# /'
}

# file_is FILE VALUE: FILE reads VALUE (prints what it reads).
file_is() {
	local v
	v=$(cat "$1" 2>&1)
	echo "$1: $v"
	[ "$v" = "$2" ]
}

# hnic_knob DEV NAME VALUE: set a wire fault knob (debugfs) of DEV.
hnic_knob() {
	echo "$3" > "/sys/kernel/debug/hnic/$1/$2"
}

# ---------------------------------------------------------------- handoff
#
# The module's per-namespace policy (net.handoff.*) and counters
# (/proc/net/handoff_stat, "name value" lines), by default in $NS_SRV.

# handoff_stat NAME [NS]: one counter; "missing" when there is none.
handoff_stat() {
	in_ns "${2:-$NS_SRV}" awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print "missing" }' \
		/proc/net/handoff_stat 2>/dev/null
}

# handoff_sysctl NAME VALUE [NS]: write net.handoff.NAME (a trailing newline,
# as `echo` and sysctl(8) write it); fails as the write fails.
handoff_sysctl() {
	in_ns "${3:-$NS_SRV}" sh -c 'printf "%s\n" "$1" > "/proc/sys/net/handoff/$2"' _ "$2" "$1" 2>/dev/null
}

# handoff_policy PORTS [NS]: handoff on for PORTS ("all", "80,8000-8080",
# "" for none); handoff_policy_off [NS]: handoff off.
handoff_policy() {
	handoff_sysctl ports "$1" "${2:-$NS_SRV}" && handoff_sysctl enabled 1 "${2:-$NS_SRV}"
}
handoff_policy_off() { handoff_sysctl enabled 0 "${1:-$NS_SRV}"; }

# handoff_snap [NS]: remember every counter; handoff_delta NAME: its change
# since (a gauge's change too); "missing" when the counter is not there.
declare -A _handoff_snap
handoff_snap() {
	local n v
	_handoff_snap=()
	_handoff_snap_ns=${1:-$NS_SRV}
	while read -r n v; do _handoff_snap[$n]=$v; done \
		< <(in_ns "$_handoff_snap_ns" cat /proc/net/handoff_stat 2>/dev/null)
}
handoff_delta() {
	local now
	now=$(handoff_stat "$1" "$_handoff_snap_ns")
	if [ "$now" = missing ] || [ -z "${_handoff_snap[$1]+set}" ]; then
		echo missing
	else
		echo $((now - _handoff_snap[$1]))
	fi
}

# handoff_now: every counter now, into _handoff_now (one read of the file,
# for helpers that look at many counters at once).
declare -A _handoff_now
handoff_now() {
	local n v
	_handoff_now=()
	while read -r n v; do _handoff_now[$n]=$v; done \
		< <(in_ns "$_handoff_snap_ns" cat /proc/net/handoff_stat 2>/dev/null)
}

# _now_delta NAME: NAME's change from handoff_snap to handoff_now.
_now_delta() {
	if [ -z "${_handoff_now[$1]+set}" ] || [ -z "${_handoff_snap[$1]+set}" ]; then
		echo missing
	else
		echo $((_handoff_now[$1] - _handoff_snap[$1]))
	fi
}

# handoff_refused_delta: all refused_* counters' change since handoff_snap.
handoff_refused_delta() {
	handoff_now
	_refused_now_delta
}
_refused_now_delta() {
	local n sum=0
	for n in "${!_handoff_snap[@]}"; do
		[[ $n == refused_* ]] || continue
		[ -n "${_handoff_now[$n]+set}" ] || { echo missing; return; }
		sum=$((sum + _handoff_now[$n] - _handoff_snap[$n]))
	done
	echo $sum
}

# handoff_wait_offloaded VALUE [SECS]: the `offloaded` gauge reaches VALUE
# within SECS (default 70: an offloaded side that closed first may hold its
# connection for TIME_WAIT, 60 s).
handoff_wait_offloaded() {
	wait_until "${2:-70}" "the offloaded gauge to read $1" stat_is offloaded "$1"
}

# stat_is NAME VALUE [NS]: handoff_stat NAME is VALUE (prints what it is);
# stat_ge NAME MIN [NS]: it is at least MIN.
stat_is() {
	local v
	v=$(handoff_stat "$1" "${3:-$NS_SRV}")
	echo "$1 = $v"
	[ "$v" = "$2" ]
}
stat_ge() {
	local v
	v=$(handoff_stat "$1" "${3:-$NS_SRV}")
	echo "$1 = $v"
	[ "$v" -ge "$2" ] 2>/dev/null
}

# wait_listen NS PORT: a TCP listener on PORT in NS within 20 s.
wait_listen() {
	wait_until 20 "a listener on port $2 in $1" _listening "$1" "$2"
}
_listening() {
	in_ns "$1" ss -tlnH "( sport = :$2 )" | grep -q . && return 0
	echo "nothing listens on port $2"
	return 1
}

