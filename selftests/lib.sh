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
ksft_skip=4

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
tap_skip() { _tap_n=$((_tap_n + 1)); _tap_took; echo "ok $_tap_n $1 $_tap_time # SKIP ${2:-}"; }

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
	set -x
	"$@"
	rc=$?
	{ set +x; } 2>/dev/null
	# Unsetting it closes the descriptor too.
	unset BASH_XTRACEFD
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

# tap_exit: exit with the kselftest status the subtests add up to.
tap_exit() {
	[ "$_tap_failed" = 0 ] && exit $ksft_pass
	exit $ksft_fail
}

# skip_unless CMD...: skip the whole program (exit 4) when a tool is missing.
skip_unless() {
	local c
	for c in "$@"; do
		command -v "$c" >/dev/null || { echo "# SKIP: $c not found"; exit $ksft_skip; }
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
	local i
	for i in $(seq 100); do
		ip netns exec "$NS_CLI" ping -c1 -W1 -q "$SRV4" >/dev/null 2>&1 &&
		ip netns exec "$NS_CLI" ping -6 -c1 -W1 -q "$SRV6" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	echo "# topology not reachable"
	return 1
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
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" \
		--bytes "$bytes" --conns "$conns" "$@" >"$out/srv" 2>"$out/srv.err" &
	local srv_pid=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client \
		--addr "$addr" --port "$port" --bytes "$bytes" --conns "$conns" "$@" >"$out/cli" 2>"$out/cli.err" &
	local cli_pid=$! cli_rc waited=0
	if [ -n "${XFER_TIMEOUT:-}" ]; then
		while kill -0 $cli_pid 2>/dev/null && [ $waited -lt $((XFER_TIMEOUT * 10)) ]; do
			sleep 0.1
			waited=$((waited + 1))
		done
	fi
	if kill -0 $cli_pid 2>/dev/null && [ -n "${XFER_TIMEOUT:-}" ]; then
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
# (wall clock, including connection set-up and teardown).
bulk_oneway_mbit() {
	local addr=$1 port=$2 bytes=$3 t0 t1 srv out ok=0
	local srv_opt=(--bytes 0) cli_opt=(--bytes "$bytes")
	[ "${4:-}" = server ] && srv_opt=(--bytes "$bytes" --oneway server) cli_opt=("${srv_opt[@]}")
	out=$(mktemp)
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" "${srv_opt[@]}" >/dev/null &
	srv=$!
	t0=$(date +%s%N)
	if ! ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$addr" --port "$port" "${cli_opt[@]}" >"$out"; then
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
	ip netns exec "$1" ethtool -S "$2" | awk -v n="$3:" '$1 == n { print $2; found = 1 } END { if (!found) print "missing" }'
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
	ip netns exec "${2:-$NS_SRV}" awk -v n="$1" '$1 == n { print $2; f = 1 } END { if (!f) print "missing" }' \
		/proc/net/handoff_stat 2>/dev/null
}

# handoff_sysctl NAME VALUE [NS]: write net.handoff.NAME (a trailing newline,
# as `echo` and sysctl(8) write it); fails as the write fails.
handoff_sysctl() {
	ip netns exec "${3:-$NS_SRV}" bash -c 'printf "%s\n" "$1" > "/proc/sys/net/handoff/$2"' _ "$2" "$1" 2>/dev/null
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
		< <(ip netns exec "$_handoff_snap_ns" cat /proc/net/handoff_stat 2>/dev/null)
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

# handoff_refused_delta: all refused_* counters' change since handoff_snap.
handoff_refused_delta() {
	local n d sum=0
	for n in "${!_handoff_snap[@]}"; do
		[[ $n == refused_* ]] || continue
		d=$(handoff_delta "$n")
		[ "$d" = missing ] && { echo missing; return; }
		sum=$((sum + d))
	done
	echo $sum
}

# handoff_wait_offloaded VALUE [SECS]: the `offloaded` gauge reaches VALUE
# within SECS (default 70: an offloaded side that closed first may hold its
# connection for TIME_WAIT, 60 s).
handoff_wait_offloaded() {
	local want=$1 secs=${2:-70} i
	for i in $(seq $((secs * 10))); do
		[ "$(handoff_stat offloaded)" = "$want" ] && return 0
		sleep 0.1
	done
	echo "# offloaded is $(handoff_stat offloaded), expected $want"
	return 1
}
