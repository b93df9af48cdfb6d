#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# make bench-restore (runs in the VM): what handing a connection off and
# taking it back (net.handoff.restore) costs, over one hnic pair, measured
# from userspace in the same run as a native accept():
#
# - hlat: per connection, the accept() and the first send() with the
#   policy off (native) and on (the first send hands the connection off),
#   then a write of the socket's cookie to net.handoff.restore and to
#   net.handoff.offload (re-handoff), each timed around the one syscall;
# - the time of one `restore all` write with $ALL_CONNS offloaded
#   connections;
# - a busy offloaded connection (server sending as fast as it can) restored
#   mid-stream: the receiver's throughput in 100 ms windows before, during
#   and after.
#
# Prints `bench <name> <value> <unit>` lines; diagnostics start with '#'.
# Method and caveats: Documentation/handoff-tests.rst.

set -u
. "$REPO/selftests/lib.sh"

LAT_CONNS=${BENCH_RESTORE_LAT_CONNS:-500}
ALL_CONNS=${BENCH_RESTORE_ALL_CONNS:-1024}
W=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$W"; topo_destroy; module_unload' EXIT

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }'; }
us() { awk -v a="$1" 'BEGIN { printf "%.1f", a / 1000 }'; }
sysctl_w() { ip netns exec "$NS_SRV" "$HANDOFF_BIN/hsysctl" "$@"; }
# rate_windows N | rate_past T: the client logged N 100 ms windows / a
# window ending after T (CLOCK_REALTIME ns).
rate_windows() {
	local n
	n=$(grep -c . "$W/rate" 2>/dev/null)
	echo "${n:-0} windows logged"
	[ "${n:-0}" -ge "$1" ]
}
rate_past() {
	local last
	last=$(tail -n 1 "$W/rate" 2>/dev/null | sed -n 's/.* end_ns=\([0-9]*\) .*/\1/p')
	echo "last window ends at ${last:-none}"
	[ "${last:-0}" -gt "$1" ]
}

# lat PORT [--restore]: hlat over LAT_CONNS connections; sets
# lat_<measure>_med / _p99 (ns) for each measure it printed.
lat() {
	local port=$1 out
	shift
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hlat" server --addr "$SRV4" --port "$port" --conns "$LAT_CONNS" "$@" >"$W/lat" &
	local srv=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hlat" client --addr "$SRV4" --port "$port" --conns "$LAT_CONNS" || return 1
	wait $srv || { echo "# hlat server failed"; return 1; }
	sed 's/^/# /' "$W/lat"
	while read -r out; do
		local name med p99
		name=$(echo "$out" | sed -n 's/.*stat=\([a-z_]*\) .*/\1/p')
		med=$(echo "$out" | sed -n 's/.* median_ns=\([0-9]*\).*/\1/p')
		p99=$(echo "$out" | sed -n 's/.* p99_ns=\([0-9]*\).*/\1/p')
		printf -v "lat_${name}_med" %s "$med"
		printf -v "lat_${name}_p99" %s "$p99"
	done < <(grep '^hlat stat=' "$W/lat")
}

topo_create hnic >/dev/null || { echo "# hnic topology failed"; exit 1; }
[ -e /proc/sys/net/handoff/restore ] || { echo "# tcp_handoff.ko has no net.handoff.restore"; exit 1; }

# ---- latencies: native, then offloaded with restore and re-handoff.
ip netns exec "$NS_SRV" sysctl -q -w net.handoff.enabled=0 || exit 1
h0=$(handoff_stat handoffs)
lat 5601 || exit 1
[ "$(handoff_stat handoffs)" = "$h0" ] || { echo "# connections were handed off with the policy off"; exit 1; }
native_accept_med=$lat_accept_med native_accept_p99=$lat_accept_p99
native_send_med=$lat_first_send_med native_send_p99=$lat_first_send_p99

ip netns exec "$NS_SRV" sysctl -q -w net.handoff.ports=all net.handoff.enabled=1 || exit 1
r0=$(handoff_stat restores)
lat 5602 --restore || exit 1
h1=$(handoff_stat handoffs) r1=$(handoff_stat restores)
echo "# offloaded phase: $((h1 - h0)) handoffs, $((r1 - r0)) restores"
[ $((h1 - h0)) -ge $((2 * LAT_CONNS)) ] && [ $((r1 - r0)) = "$LAT_CONNS" ] ||
	{ echo "# expected $((2 * LAT_CONNS)) handoffs and $LAT_CONNS restores"; exit 1; }

# ---- restore all with ALL_CONNS offloaded (idle, held open).
ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port 5603 --bytes 1 --conns "$ALL_CONNS" \
	--hold "$W/hold" >/dev/null &
all_srv=$!
ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port 5603 --bytes 1 --conns "$ALL_CONNS" \
	--hold "$W/hold" >/dev/null &
all_cli=$!
handoff_wait_offloaded "$ALL_CONNS" 120 || exit 1
r0=$(handoff_stat restores)
out=$(sysctl_w restore all)
r1=$(handoff_stat restores)
echo "# $out; restores +$((r1 - r0))"
[[ $out == *result=OK* ]] && [ $((r1 - r0)) = "$ALL_CONNS" ] || { echo "# restore all did not restore $ALL_CONNS"; exit 1; }
all_ns=$(echo "$out" | sed -n 's/.* ns=\([0-9]*\).*/\1/p')
touch "$W/hold"
wait $all_srv $all_cli || { echo "# the held transfers failed after restore all"; exit 1; }

# ---- throughput dip: server sends as fast as it can; 100 ms windows at the
# client; restore by cookie 2 s in; 2 s more, then stop.
ip netns exec "$NS_SRV" "$HANDOFF_BIN/hxfer" server --addr "$SRV4" --port 5604 --bytes $((1 << 40)) \
	--oneway server --log "$W/dip.log" >/dev/null 2>&1 &
dip_srv=$!
ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$SRV4" --port 5604 --bytes $((1 << 40)) \
	--oneway server --rate-log "$W/rate" >/dev/null 2>&1 &
dip_cli=$!
wait_until 30 "2 s of the busy transfer" rate_windows 20
cookie=$(sed -n 's/^hxfer-sock conn=0 cookie=\([0-9]*\) .*/\1/p' "$W/dip.log")
[ "$(handoff_stat offloaded)" = 1 ] && [ -n "$cookie" ] || { echo "# the busy connection is not offloaded"; exit 1; }
t0=$(date +%s%N)
out=$(sysctl_w restore "$cookie")
t1=$(date +%s%N)
echo "# busy connection: $out"
[[ $out == *result=OK* ]] || exit 1
wait_until 30 "2 s of windows after the restore" rate_past $((t1 + 2500000000))
kill $dip_srv $dip_cli 2>/dev/null
wait $dip_srv $dip_cli 2>/dev/null
# Windows: before = ended in [first + 0.5 s, t0); during = ended in
# (t0, t1 + 1 s]; after = ended in (t1 + 1 s, t1 + 2 s].
read -r before during_min during_mean after < <(awk -v t0="$t0" -v t1="$t1" '
	{ sub("end_ns=", "", $3); sub("bytes=", "", $4); e = $3 + 0; b = ($4 + 0) * 8 / 0.1 / 1e6; t0 += 0; t1 += 0
	  if (!first) first = e
	  if (e >= first + 5e8 && e < t0) { bs += b; bn++ }
	  else if (e > t0 && e <= t1 + 1e9) { ds += b; dn++; if (dmin == "" || b < dmin) dmin = b }
	  else if (e > t1 + 1e9 && e <= t1 + 2e9) { as += b; an++ } }
	END { printf "%.1f %.1f %.1f %.1f\n", bn ? bs / bn : 0, dmin, dn ? ds / dn : 0, an ? as / an : 0 }' "$W/rate")
echo "# 100 ms windows: before $before Mbit/s, during min $during_min mean $during_mean, after $after"
[ "${before%.*}" -gt 0 ] || { echo "# no throughput before the restore"; exit 1; }

ip netns exec "$NS_SRV" sysctl -q -w net.handoff.enabled=0
topo_destroy
module_unload

echo "bench native_accept_latency_median $(us "$native_accept_med") us"
echo "bench native_accept_latency_p99 $(us "$native_accept_p99") us"
echo "bench native_first_send_latency_median $(us "$native_send_med") us"
echo "bench native_first_send_latency_p99 $(us "$native_send_p99") us"
echo "bench handoff_latency_median $(us "$lat_first_send_med") us"
echo "bench handoff_latency_p99 $(us "$lat_first_send_p99") us"
echo "bench handoff_vs_native_accept_latency_median_ratio $(ratio "$lat_first_send_med" "$native_accept_med") x"
echo "bench handoff_vs_native_accept_latency_p99_ratio $(ratio "$lat_first_send_p99" "$native_accept_p99") x"
echo "bench restore_latency_median $(us "$lat_restore_med") us"
echo "bench restore_latency_p99 $(us "$lat_restore_p99") us"
echo "bench restore_vs_native_accept_latency_median_ratio $(ratio "$lat_restore_med" "$native_accept_med") x"
echo "bench restore_vs_native_accept_latency_p99_ratio $(ratio "$lat_restore_p99" "$native_accept_p99") x"
echo "bench rehandoff_latency_median $(us "$lat_offload_med") us"
echo "bench rehandoff_latency_p99 $(us "$lat_offload_p99") us"
echo "bench rehandoff_vs_native_accept_latency_median_ratio $(ratio "$lat_offload_med" "$native_accept_med") x"
echo "bench restore_all_${ALL_CONNS}_conns_time $(awk -v a="$all_ns" 'BEGIN { printf "%.2f", a / 1e6 }') ms"
echo "bench restore_all_per_conn $(us $((all_ns / ALL_CONNS))) us"
echo "bench busy_conn_throughput_before_restore $before Mbit/s"
echo "bench busy_conn_throughput_min_100ms_during_restore $during_min Mbit/s"
echo "bench busy_conn_restore_dip_min_ratio $(ratio "$during_min" "$before") x"
echo "bench busy_conn_restore_dip_mean_1s_ratio $(ratio "$during_mean" "$before") x"
echo "bench busy_conn_throughput_after_restore_ratio $(ratio "$after" "$before") x"
