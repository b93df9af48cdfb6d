#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Unmodified servers in ns srv with the policy on for every port: the epoll
# echo server hecho (level- and edge-triggered), python3 -m http.server and
# nginx. Every connection they accept is handed off (handoffs == connections
# made, offloaded back to 0 after close, each released by the NIC), and
# what the clients in ns cli get is what was sent (SHA-256).

. ../lib.sh
. ./common.sh

handoff_start hxfer hecho
require python3 sha256sum
tap_plan 10
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null; wait; rm -rf "$WORK"; topo_destroy; module_unload' EXIT
dmesg_mark

tap_check "hnic topology up, policy on for all ports" handoff_topology all

# hecho_case ADDR PORT CONNS BYTES [--edge]: hxfer --echo clients against
# hecho; hecho's own count agrees; every connection offloaded and released;
# the socket calls went through the bypass layer.
hecho_case() {
	local addr=$1 port=$2 conns=$3 bytes=$4 mode=${5:-} srv rc sum
	handoff_snap
	# shellcheck disable=SC2086 # $mode is empty or one flag
	ip netns exec "$NS_SRV" "$HANDOFF_BIN/hecho" --addr "$addr" --port "$port" --conns "$conns" $mode >"$WORK/hecho" &
	srv=$!
	ip netns exec "$NS_CLI" "$HANDOFF_BIN/hxfer" client --addr "$addr" --port "$port" \
		--bytes "$bytes" --conns "$conns" --echo >"$WORK/cli" 2>"$WORK/cli.err"
	rc=$?
	wait $srv
	sum=$(cat "$WORK/hecho")
	echo "# $sum"
	[ $rc = 0 ] || { sed 's/^/# /' "$WORK/cli.err"; return 1; }
	[ "$(wc -l <"$WORK/cli")" = "$conns" ] || return 1
	[ "$sum" = "hecho conns=$conns bytes=$((conns * bytes)) resets=0" ] || return 1
	offloaded_all "$conns" || return 1
	handoff_report bypass_sendmsg bypass_recvmsg bypass_poll bypass_shutdown bypass_close nic_released
	counter_ge bypass_recvmsg 1 && counter_ge bypass_sendmsg 1 && counter_ge bypass_poll 1 &&
	counter_ge bypass_shutdown "$conns" && closes_accounted "$conns"
}

# closes_accounted N: each of N offloaded connections was closed through the
# bypass layer, or the NIC had already finished it and handed it back (its
# FIN exchange done before the server's close(), which then runs natively).
closes_accounted() {
	local closed released
	closed=$(handoff_delta bypass_close)
	released=$(handoff_delta nic_released)
	[ $((closed + released)) -ge "$1" ] && return 0
	echo "# bypass_close +$closed, nic_released +$released: fewer than $1 closes accounted for"
	return 1
}
tap_check "hecho level-triggered IPv4: 16 conns x 1 MiB echoed intact, all 16 offloaded" \
	hecho_case "$SRV4" 7001 16 $((1 << 20))
tap_check "hecho level-triggered IPv6: 16 conns x 1 MiB echoed intact, all 16 offloaded" \
	hecho_case "$SRV6" 7002 16 $((1 << 20))
tap_check "hecho edge-triggered IPv4: 16 conns x 1 MiB echoed intact, all 16 offloaded" \
	hecho_case "$SRV4" 7003 16 $((1 << 20)) --edge
tap_check "hecho edge-triggered IPv6: 1 conn x 16 MiB echoed intact, offloaded" \
	hecho_case "$SRV6" 7004 1 $((16 << 20)) --edge

# A web root with one file of a few MiB.
mkdir -p "$WORK/www"
head -c $((3 << 20)) /dev/urandom >"$WORK/www/blob.bin"
SHA=$(sha256sum "$WORK/www/blob.bin" | cut -d' ' -f1)

# fetch URL N: N GETs from ns cli, each on a new connection; every body's
# SHA-256 must be the file's.
fetch() {
	ip netns exec "$NS_CLI" python3 - "$1" "$2" "$SHA" <<'PY'
import hashlib, sys, time, urllib.request
url, n, want = sys.argv[1], int(sys.argv[2]), sys.argv[3]
opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
deadline = time.time() + 30
for i in range(n):
    while True:
        try:
            body = opener.open(url, timeout=60).read()
            break
        except OSError as e:  # the server may not be listening yet
            if i > 0 or time.time() > deadline:
                sys.exit(f"GET {url}: {e}")
            time.sleep(0.1)
    got = hashlib.sha256(body).hexdigest()
    if got != want:
        sys.exit(f"GET {url} #{i}: {len(body)} bytes, sha256 {got}, want {want}")
print(f"# {n} GETs of {url}: {len(body)} bytes each, SHA-256 intact")
PY
}

# web_case NAME URL N: N verified GETs, each connection offloaded.
web_case() {
	handoff_snap
	fetch "$2" "$3" || return 1
	offloaded_all "$3"
}

http_server() { # ADDR PORT
	ip netns exec "$NS_SRV" python3 -m http.server "$2" --bind "$1" --directory "$WORK/www" \
		>"$WORK/http.$2.log" 2>&1 &
	wait_listen "$NS_SRV" "$2"
}
http_server "$SRV4" 8000 && tap_check "python3 -m http.server IPv4: 3 GETs of 3 MiB intact, 3 connections offloaded" \
	web_case http "http://$SRV4:8000/blob.bin" 3 || tap_fail "python3 -m http.server IPv4 did not start"
http_server "$SRV6" 8001 && tap_check "python3 -m http.server IPv6: 3 GETs of 3 MiB intact, 3 connections offloaded" \
	web_case http "http://[$SRV6]:8001/blob.bin" 3 || tap_fail "python3 -m http.server IPv6 did not start"

# nginx (sendfile and epoll), if installed: both families on one port.
nginx_start() {
	mkdir -p "$WORK/nginx"
	cat >"$WORK/nginx/nginx.conf" <<CONF
daemon off;
master_process on;
worker_processes 1;
user root;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
events { worker_connections 256; }
http {
    access_log off;
    sendfile on;
    client_body_temp_path $WORK/nginx/body;
    proxy_temp_path $WORK/nginx/proxy;
    fastcgi_temp_path $WORK/nginx/fastcgi;
    uwsgi_temp_path $WORK/nginx/uwsgi;
    scgi_temp_path $WORK/nginx/scgi;
    server {
        listen $SRV4:8080;
        listen [$SRV6]:8080;
        root $WORK/www;
    }
}
CONF
	ip netns exec "$NS_SRV" nginx -e "$WORK/nginx/error.log" -p "$WORK/nginx" -c "$WORK/nginx/nginx.conf" \
		>"$WORK/nginx/out" 2>&1 &
	wait_listen "$NS_SRV" 8080 || { sed 's/^/# nginx: /' "$WORK/nginx/out" "$WORK/nginx/error.log"; return 1; }
}
if ! command -v nginx >/dev/null; then
	tap_fail "nginx IPv4: nginx not installed (scripts/deps.sh installs nginx-light)"
	tap_fail "nginx IPv6: nginx not installed (scripts/deps.sh installs nginx-light)"
elif nginx_start; then
	tap_check "nginx IPv4 (sendfile): 3 GETs of 3 MiB intact, 3 connections offloaded" \
		web_case nginx "http://$SRV4:8080/blob.bin" 3
	tap_check "nginx IPv6 (sendfile): 3 GETs of 3 MiB intact, 3 connections offloaded" \
		web_case nginx "http://[$SRV6]:8080/blob.bin" 3
else
	tap_fail "nginx IPv4: did not start"
	tap_fail "nginx IPv6: did not start"
fi
handoff_finish
