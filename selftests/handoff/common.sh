#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Helpers of the handoff suite, sourced after ../lib.sh. The topology is
# lib.sh's: ns srv ($NS_SRV, hnic0, where the policy hands connections to
# the NIC) and ns cli ($NS_CLI, hnic1, stock Linux TCP).

# handoff_start TOOL...: fail unless the module and the tools are built;
# load the module afresh (options: "$HANDOFF_MODPARAMS"); fail when it has
# no handoff policy. Call before tap_plan.
handoff_start() {
	local t
	[ -f "$HANDOFF_KO" ] || { echo "# missing: $HANDOFF_KO (make module tools builds it)"; exit $ksft_fail; }
	for t in "$@"; do
		[ -x "$HANDOFF_BIN/$t" ] || { echo "# missing: $t (make tools builds it)"; exit $ksft_fail; }
	done
	require ip ethtool ss ping
	module_unload
	# shellcheck disable=SC2086 # word splitting wanted: module options
	insmod "$HANDOFF_KO" ${HANDOFF_MODPARAMS:-} || { echo "# insmod failed"; exit $ksft_fail; }
	if [ ! -e /proc/sys/net/handoff/enabled ]; then
		echo "# tcp_handoff.ko has no net.handoff.enabled"
		module_unload
		exit $ksft_fail
	fi
}

# handoff_topology PORTS: hnic topology, policy on for PORTS in ns srv,
# /proc/net/handoff_stat present there.
handoff_topology() {
	topo_create hnic || return 1
	[ -n "${1+set}" ] && { handoff_policy "$1" || { echo "# policy '$1' refused"; return 1; }; }
	in_ns "$NS_SRV" test -r /proc/net/handoff_stat || { echo "# no /proc/net/handoff_stat in ns srv"; return 1; }
}

# handoff_report [NAME...]: one diagnostic line of the counters' changes
# (the usual ones, NAME..., and each refusal reason that moved).
handoff_report() {
	local n line=""
	handoff_now
	for n in accept_policy_matched handoff_attempts handoffs nic_released nic_resets "$@"; do
		line+=" $n=$(_now_delta "$n")"
	done
	for n in "${!_handoff_snap[@]}"; do
		[[ $n == refused_* ]] && [[ " $* " != *" $n "* ]] && [ "$(_now_delta "$n")" != 0 ] &&
			line+=" $n=$(_now_delta "$n")"
	done
	echo "# handoff_stat since start:$line refused=$(_refused_now_delta) offloaded=${_handoff_now[offloaded]:-missing}"
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
	[ "$(_now_delta accept_policy_matched)" = "$n" ] &&
	[ "$(_now_delta handoff_attempts)" = "$n" ] &&
	[ "$(_now_delta handoffs)" = "$n" ] &&
	[ "$(_refused_now_delta)" = 0 ] &&
	[ "$(_now_delta nic_released)" = "$n" ]
}

# offloaded_none: since handoff_snap, no connection matched, none was
# attempted or handed off, and nothing is offloaded.
offloaded_none() {
	handoff_report
	[ "$(_now_delta accept_policy_matched)" = 0 ] &&
	[ "$(_now_delta handoff_attempts)" = 0 ] &&
	[ "$(_now_delta handoffs)" = 0 ] &&
	[ "${_handoff_now[offloaded]}" = 0 ]
}

# xfer_offloaded ADDR PORT BYTES CONNS [HXFER_OPTION...]: hxfer verified both
# ways, and every connection offloaded and released (offloaded_all).
xfer_offloaded() {
	handoff_snap
	xfer_verify "$@" || { transfer_diag; return 1; }
	offloaded_all "${4:-1}"
}

# transfer_diag: what explains a failed offloaded transfer: the handoff
# counters, hnic0's non-zero firmware and bus counters, recent kernel lines.
transfer_diag() {
	handoff_report restores restore_failures racing_segments_dropped
	in_ns "$NS_SRV" ethtool -S hnic0 2>/dev/null |
		awk '$2 != 0 && /fw_tcp|drop|full|refused|bad|unknown|reset|timeout/ {printf "%s%s", sep, $0; sep=","} END {print ""}' |
		sed 's/^ */# hnic0:/; s/,  */, /g'
	dmesg | tail -5 | sed 's/^/# dmesg: /'
}

# xfer_stall_diag PORT (called by xfer_verify when the client outlives
# XFER_TIMEOUT): both ends' sockets on PORT that still hold data or await
# a FIN, and the NIC's view of every connection it runs.
xfer_stall_diag() {
	local ns
	for ns in "$NS_SRV" "$NS_CLI"; do
		in_ns "$ns" ss -tniH exclude time-wait exclude listening \
			"( sport = :$1 or dport = :$1 )" | head -24 | sed "s/^/# ${ns}: /"
	done
	nic_dump_conns 8
}

# counter_ge NAME MIN: handoff_delta NAME >= MIN (with a diagnostic).
counter_ge() {
	local d
	d=$(handoff_delta "$1")
	[ "$d" != missing ] && [ "$d" -ge "$2" ] && return 0
	echo "# $1 changed by $d, expected >= $2"
	return 1
}

# wait_moved NAME BYTES [SECS]: the byte counter NAME (tx_bytes: sent by
# the application on offloaded sockets, rx_bytes: delivered to it by the
# NIC) grows by BYTES since handoff_snap within SECS (default 20): data
# is moving on the NIC.
wait_moved() {
	wait_until "${3:-20}" "$1 to grow by $2 on the NIC" counter_ge "$1" "$2"
}

# go_when_accepted FILE N: in the background, create FILE once N
# connections were accepted (accept_policy_matched +N since handoff_snap):
# clients idle with --idle-until FILE are then all open at once.
go_when_accepted() {
	( wait_until 60 "$2 connections accepted" counter_ge accept_policy_matched "$2"; touch "$1" ) &
}

# nic_ge NAME MIN: hnic0's counter NAME grew by MIN since nic_snap.
nic_ge() {
	local d
	d=$(nic_delta "$1")
	echo "hnic0 $1 +$d"
	[ "$d" != missing ] && [ "$d" -ge "$2" ]
}

# cli_queues PORT: Recv-Q and Send-Q of ns cli's socket to port PORT.
cli_queues() {
	in_ns "$NS_CLI" ss -tnH state established "( dport = :$1 )" | awk '{ print $1, $2 }'
}

# cli_queues_full PORT [WHICH]: the client's queues to PORT (WHICH: both,
# recv) are not empty and have stopped moving: the peer's window is shut.
cli_queues_full() {
	local q
	q=$(unchanged cli_queues "$1") || { echo "client queues still moving: $q"; return 1; }
	echo "client Recv-Q Send-Q: $q"
	[ "${q% *}" -gt 0 ] && { [ "${2:-both}" = recv ] || [ "${q#* }" -gt 0 ]; }
}

# ulp_shown PORT: `ss -tni` in ns srv shows the handoff ULP on an
# established socket of local port PORT.
ulp_shown() {
	local out
	out=$(in_ns "$NS_SRV" ss -tniH state established "( sport = :$1 )")
	echo "$out" | grep -q 'tcp-ulp-handoff' && return 0
	echo "# ss -tni for sport $1:"
	echo "$out" | sed 's/^/#   /'
	return 1
}

# wait_ulp_shown PORT [SECS]: ulp_shown within SECS (default 10).
wait_ulp_shown() {
	wait_until "${2:-10}" "ss to show the handoff ULP on port $1" ulp_shown "$1"
}

# nic_snap / nic_delta NAME: hnic0 `ethtool -S` counters and their change.
declare -A _nic_snap
nic_snap() {
	local n v
	_nic_snap=()
	while read -r n v; do _nic_snap[${n%:}]=$v; done \
		< <(in_ns "$NS_SRV" ethtool -S hnic0 | tail -n +2)
}
nic_delta() {
	local now
	now=$(hnic_stat "$NS_SRV" hnic0 "$1")
	[ "$now" = missing ] && { echo missing; return; }
	echo $((now - ${_nic_snap[$1]:-0}))
}

# elapsed_s T0: seconds since T0 (`date +%s%N`), one decimal.
elapsed_s() {
	local ms=$((($(date +%s%N) - $1) / 1000000))
	echo "$((ms / 1000)).$((ms % 1000 / 100))"
}

# tcp_counters NS: namespace NS's Tcp and TcpExt counters, one
# `Tcp:Name value` line each.
tcp_counters() {
	in_ns "$1" awk '
		/^(Tcp|TcpExt): [A-Z]/ { split($0, h); next }
		/^(Tcp|TcpExt): [-0-9]/ { for (i = 2; i <= NF; i++) print h[1] h[i], $i }' /proc/net/snmp /proc/net/netstat
}

# netstat_ext NS NAME: a TcpExt counter of namespace NS.
netstat_ext() { tcp_counters "$1" | awk -v n="TcpExt:$2" '$1 == n { print $2 }'; }

# snmp_tcp NS NAME: a Tcp counter of /proc/net/snmp in namespace NS.
snmp_tcp() { tcp_counters "$1" | awk -v n="Tcp:$2" '$1 == n { print $2 }'; }

# probes_since NS K0 N: namespace NS has sent N keepalive probes since its
# TCPKeepAlive counter read K0. With TCP_KEEPCNT 5, a sixth probe means the
# earlier ones were answered (five unanswered ones end the connection).
probes_since() {
	local k
	k=$(netstat_ext "$1" TCPKeepAlive)
	echo "$1 sent $((k - $2)) keepalive probes"
	[ $((k - $2)) -ge "$3" ]
}

# tcp_trouble_delta NS FILE: the counters of resets, aborts, PAWS and
# other drops, timeouts and retransmissions in NS that moved since FILE
# (tcp_counters output), as ` Name+N`.
tcp_trouble_delta() {
	tcp_counters "$1" | awk 'NR == FNR { old[$1] = $2; next }
		$1 ~ /Rst|Abort|PAWS|Reset|Timeout|Challenge|Drop|Retrans|Errs|Fail/ && $2 != old[$1] {
			printf " %s+%d", $1, $2 - old[$1] }' "$2" -
}


# handoff_finish: the dmesg check every program ends with.
handoff_finish() {
	tap_check "dmesg free of WARN/BUG/leak reports" dmesg_clean_since
	tap_exit
}

# ---------------------------------------------------------------- restore
#
# Background transfers the tests act on while they run (restore, link
# events, rmmod): hxfer on both sides with --log, so the test knows each
# connection's cookie and 4-tuple and how far it got.

# xfer_bg DIR ADDR PORT BYTES CONNS [HXFER_OPTION...]: start the server (ns
# srv) and the client (ns cli) in the background; options go to both
# sides, plus the arrays XSRV / XCLI to one side each. Output in DIR
# (srv, cli, srv.err, cli.err, srv.log, cli.log); pids in XFER_SRV, XFER_CLI.
XSRV=() XCLI=()
xfer_bg() {
	local dir=$1 addr=$2 port=$3 bytes=$4 conns=$5
	shift 5
	rm -rf "$dir" && mkdir -p "$dir" || return 1
	bg_in_ns "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$addr" --port "$port" --bytes "$bytes" \
		--conns "$conns" --log "$dir/srv.log" "${XSRV[@]}" "$@" >"$dir/srv" 2>"$dir/srv.err"
	XFER_SRV=$BG_PID
	wait_listen "$NS_SRV" "$port" || return 1
	bg_in_ns "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$addr" --port "$port" --bytes "$bytes" \
		--conns "$conns" --log "$dir/cli.log" "${XCLI[@]}" "$@" >"$dir/cli" 2>"$dir/cli.err"
	XFER_CLI=$BG_PID
}

# pid_wait PID SECS: wait for PID at most SECS (then kill it); its status.
pid_wait() {
	wait_until "$2" "pid $1 to exit" pid_gone "$1" || { echo "# killed pid $1"; kill -9 "$1"; }
	wait "$1"
}

# xfer_done DIR CONNS S2C C2S [SECS]: both hxfer ends exit 0 within SECS
# (default 300); every connection's digests match in both directions;
# every server line says sent=S2C recv=C2S (bytes server->client and
# client->server: BYTES, or 0 for the silent side of --oneway).
xfer_done() {
	local dir=$1 conns=$2 s2c=$3 c2s=$4 secs=${5:-300} rc_s rc_c
	pid_wait "$XFER_CLI" "$secs"
	rc_c=$?
	pid_wait "$XFER_SRV" 30
	rc_s=$?
	if [ $rc_c != 0 ] || [ $rc_s != 0 ]; then
		echo "# hxfer failed: client rc=$rc_c server rc=$rc_s"
		cat "$dir/cli.err" "$dir/srv.err" | head -20 | sed 's/^/# /'
		return 1
	fi
	xfer_digests "$dir" "$conns" "$s2c" "$c2s"
}

# xfer_digests DIR CONNS S2C C2S: the digest/byte check of xfer_done.
xfer_digests() {
	local dir=$1 conns=$2 s2c=$3 c2s=$4 n
	for n in srv cli; do
		[ "$(grep -c '^hxfer conn=.* sent=' "$dir/$n")" = "$conns" ] ||
			{ echo "# $n reported $(grep -c '^hxfer conn=.* sent=' "$dir/$n") of $conns connections"; return 1; }
	done
	local a b
	a=$(sed -n 's/.* sent=\([0-9]*\) sent_sha256=\([0-9a-f]*\).*/\1 \2/p' "$dir/srv" | sort)
	b=$(sed -n 's/.* recv=\([0-9]*\) recv_sha256=\([0-9a-f]*\).*/\1 \2/p' "$dir/cli" | sort)
	[ "$a" = "$b" ] || { echo "# server->client stream differs"; _xfer_dump "$dir"; return 1; }
	a=$(sed -n 's/.* sent=\([0-9]*\) sent_sha256=\([0-9a-f]*\).*/\1 \2/p' "$dir/cli" | sort)
	b=$(sed -n 's/.* recv=\([0-9]*\) recv_sha256=\([0-9a-f]*\).*/\1 \2/p' "$dir/srv" | sort)
	[ "$a" = "$b" ] || { echo "# client->server stream differs"; _xfer_dump "$dir"; return 1; }
	if grep '^hxfer conn=' "$dir/srv" | grep -qv " sent=$s2c .* recv=$c2s "; then
		echo "# byte counts differ from sent=$s2c recv=$c2s"
		_xfer_dump "$dir"
		return 1
	fi
}
_xfer_dump() {
	head -4 "$1/srv" | sed 's/^/# srv: /'
	head -4 "$1/cli" | sed 's/^/# cli: /'
}

# xfer_kill: stop a background transfer (a failed subtest's leftovers).
xfer_kill() {
	kill -9 "$XFER_SRV" "$XFER_CLI" 2>/dev/null
	wait "$XFER_SRV" "$XFER_CLI" 2>/dev/null
	return 0
}

# wait_event DIR SIDE EVENT N [SECS]: SIDE's (srv|cli) log has N lines of
# event EVENT (sent, received, fin, eof) within SECS (default 60).
wait_event() {
	wait_until "${5:-60}" "$4 '$3' events from $2" _events_ge "$@"
}
_events_ge() {
	local c
	c=$(grep -c "event=$3\$" "$1/$2.log" 2>/dev/null)
	echo "$2: ${c:-0} of $4 '$3' events"
	[ "${c:-0}" -ge "$4" ]
}

# no_event DIR SIDE EVENT: SIDE has not reached EVENT on any connection (the
# transfer is still under way: the test acts mid-stream).
no_event() {
	grep -q "event=$3\$" "$1/$2.log" 2>/dev/null || return 0
	echo "# $2 already logged '$3': the transfer was not under way any more"
	return 1
}

# sock_cookie DIR [CONN] / sock_tuple DIR [CONN]: the server socket's
# cookie (decimal) and "LOCAL REMOTE" as net.handoff.restore takes them.
sock_cookie() { sed -n "s/^hxfer-sock conn=${2:-0} cookie=\([0-9]*\) .*/\1/p" "$1/srv.log"; }
sock_tuple() { sed -n "s/^hxfer-sock conn=${2:-0} cookie=[0-9]* local=\([^ ]*\) remote=\([^ ]*\)$/\1 \2/p" "$1/srv.log"; }

# wait_sock DIR N: the server logged N connections (within 30 s).
wait_sock() {
	wait_until 30 "the server to log $2 connections" _socks_ge "$1" "$2"
}
_socks_ge() {
	local c
	c=$(grep -c '^hxfer-sock' "$1/srv.log" 2>/dev/null)
	echo "the server logged ${c:-0} of $2 connections"
	[ "${c:-0}" -ge "$2" ]
}

# hctl NAME VALUE [HSYSCTL_OPTION...]: write net.handoff.NAME in ns srv;
# prints the result of each writer (OK or the errno name), one a line.
hctl() {
	in_ns "$NS_SRV" "$HANDOFF_BIN/hsysctl" "$@" | sed -n 's/.* result=\([^ ]*\) .*/\1/p'
}

# hctl_expect RESULT NAME VALUE: the write's result is RESULT.
hctl_expect() {
	local want=$1 got
	shift
	got=$(hctl "$@")
	[ "$got" = "$want" ] && return 0
	echo "# write '$2' to net.handoff.$1: got ${got:-nothing}, expected $want"
	return 1
}

# fw_live [DEV]: the firmware's offloaded connections (debugfs).
fw_live() { cat "/sys/kernel/debug/hnic/${1:-hnic0}/fw_live_conns"; }

# wait_fw_live VALUE [SECS]: fw_live_conns of hnic0 reaches VALUE in SECS
# (default 5; the firmware publishes it every 100 ms tick).
wait_fw_live() {
	wait_until "${2:-5}" "hnic0's fw_live_conns to read $1" _fw_live_is "$1"
}
_fw_live_is() {
	local v
	v=$(fw_live "${2:-hnic0}")
	echo "${2:-hnic0} fw_live_conns = $v"
	[ "$v" = "$1" ]
}

# no_established PORT: ns srv has no established socket of local port PORT.
no_established() {
	local out
	out=$(in_ns "$NS_SRV" ss -tnH state established "( sport = :$1 )")
	[ -z "$out" ] && return 0
	echo "$out" | head -4
	return 1
}

# ss_state PORT STATE: ns srv has a TCP socket of local port PORT in STATE
# (ss state names: established, close-wait, fin-wait-1, last-ack, ...).
ss_state() {
	in_ns "$NS_SRV" ss -tanH state "$2" "( sport = :$1 )" | grep -q . && return 0
	echo "# no $2 socket of port $1 in ns srv; ss -tan there:"
	in_ns "$NS_SRV" ss -tanH "( sport = :$1 )" | sed 's/^/#   /'
	# Who ended it: a reset (either end), a TIME-WAIT killed or never made.
	local ns
	for ns in "$NS_SRV" "$NS_CLI"; do
		echo "# $ns: every TCP socket, then its resets and TIME-WAIT counters since boot:"
		in_ns "$ns" ss -tanH | head -20 | sed 's/^/#   /'
		in_ns "$ns" nstat -asz TcpEstabResets TcpOutRsts TcpExtTW TcpExtTWKilled TcpExtTCPTimeWaitOverflow \
			TcpExtTCPAbortOnClose TcpExtTCPAbortOnData | sed -n 's/^\([A-Za-z]\)/#   \1/p'
	done
	return 1
}


# ---------------------------------------------------------------- stalls
#
# The stall detector: what a connection that stopped moving looks like from
# both ends and the NIC, and where the task that should move it sleeps.
# The stock end (ns cli) is the one whose TCP_INFO is live; an offloaded
# socket's `ss` fields are what the host captured at handoff.

# task_read PID TID: one thread's state letter (_st), wchan (_wchan), kernel
# stack as function names, innermost first (_stack), whether the stack has
# a frame of this module (_in_module) and its voluntary context switches
# (_vcsw), read with shell builtins only (pollers call it often under TCG).
task_read() {
	local f=/proc/$1/task/$2 l a
	_st=gone _wchan=none _stack= _in_module=0 _vcsw=0
	{ [ -d "$f" ] && read -r l <"$f/stat"; } 2>/dev/null || return 1
	l=${l##*) }
	_st=${l%% *}
	{ read -r _wchan <"$f/wchan"; } 2>/dev/null
	mapfile -t a <"$f/stack" 2>/dev/null
	for l in "${a[@]}"; do
		[[ $l == *"[tcp_handoff]"* ]] && _in_module=1
		l=${l#*] }
		_stack+="${l%%+*} "
	done
	mapfile -t a <"$f/status" 2>/dev/null
	for l in "${a[@]}"; do
		[[ $l == voluntary_ctxt_switches:* ]] && _vcsw=${l##*[[:space:]]}
	done
	return 0
}

# task_report PID/TID [WHAT]: one diagnostic line of the thread's state,
# wchan, context switches and stack.
task_report() {
	task_read "${1%/*}" "${1#*/}"
	echo "# ${2:-task} $1: state $_st, wchan $_wchan, voluntary switches $_vcsw; stack: ${_stack:-none}"
}

# conn_facts PORT: "Recv-Q Send-Q snd_wnd bytes_acked bytes_received" of ns
# cli's established socket to port PORT (the stock end).
conn_facts() {
	in_ns "$NS_CLI" ss -tniH state established "( dport = :$1 )" | awk '
		NR == 1 { rq = $1; sq = $2 }
		{ for (i = 1; i <= NF; i++) if (split($i, kv, ":") == 2) v[kv[1]] = kv[2] }
		END { if (NR) printf "%d %d %d %d %d\n", rq, sq, v["snd_wnd"], v["bytes_acked"], v["bytes_received"]; else exit 1 }'
}
_conn_progress_is() {
	local f
	f=$(conn_facts "$1") || return 1
	f=${f#* * * }
	echo "bytes_acked bytes_received: $f"
	[ "$f" = "$2" ]
}

# conn_stalled PORT [SECS]: the connection of ns srv's port PORT has data to
# move, an open window and made no progress for SECS (0.5) s, as its stock
# end sees it: it has unacknowledged bytes and the srv end's window is open,
# or its receive queue is empty (its own window open) and nothing arrives.
# Prints the verdict either way (a shut window means an application that
# does not read, not a stalled connection).
conn_stalled() {
	local port=$1 secs=${2:-0.5} f rq sq wnd acked rcvd
	f=$(conn_facts "$port") || { echo "no established connection to port $port in ns cli"; return 1; }
	read -r rq sq wnd acked rcvd <<<"$f"
	if ! stays_true "$secs" "no progress" _conn_progress_is "$port" "$acked $rcvd" >/dev/null; then
		echo "port $port: moving (cli Recv-Q $rq, Send-Q $sq, bytes_acked $acked, bytes_received $rcvd before)"
		return 1
	fi
	if [ "$sq" -gt 0 ] && [ "$wnd" -gt 0 ]; then
		echo "port $port stalled: cli has $sq bytes unacknowledged, the srv end's window is open ($wnd), nothing acknowledged for $secs s (acked $acked)"
	elif [ "$sq" -gt 0 ]; then
		echo "port $port: the srv end's window is shut with $sq bytes waiting at cli: its application does not read"
		return 1
	elif [ "$rq" = 0 ]; then
		echo "port $port stalled: cli's receive queue is empty (its window open), nothing arrived for $secs s (received $rcvd): the srv end does not send"
	else
		echo "port $port: cli's application does not read (Recv-Q $rq)"
		return 1
	fi
}

# stall_report PORT [PID/TID...]: the report on a stalled connection of ns
# srv's port PORT: conn_stalled's verdict, both ends' `ss -tni` (queues,
# window, byte counters), the NIC's connection dump (every connection it
# runs: the dump names no ports), and each task's state, wchan and stack.
stall_report() {
	local port=$1 t ns n
	shift
	echo "# stall report for port $port:"
	conn_stalled "$port" | sed 's/^/#   /'
	for ns in "$NS_SRV" "$NS_CLI"; do
		in_ns "$ns" ss -tniH exclude listening "( sport = :$port or dport = :$port )" |
			paste -sd ' ' | tr -s ' \t' ' ' | sed "s/^/#   ${ns%%-*}: /"
	done
	n=$(handoff_stat offloaded)
	if [ -w /sys/kernel/debug/hnic/hnic0/dump_conns ] && [ "$n" != missing ] && [ "$n" -gt 0 ]; then
		nic_dump_conns "$n" | sed 's/^# /#   nic: /'
	else
		echo "#   nic: nothing offloaded (offloaded = $n)"
	fi
	for t in "$@"; do
		task_report "$t" | sed 's/^# /#   /'
	done
}
