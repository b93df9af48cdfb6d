#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Two namespaces joined by veth; 64 MiB over TCP in both directions at once,
# SHA-256 checked on both ends, IPv4 and IPv6. This is the topology every
# later suite reuses with hnic pairs instead of veth.

. ../lib.sh

BYTES=$((64 * 1024 * 1024))
[ -x "$HANDOFF_BIN/hxfer" ] || { echo "# missing: hxfer (make module tools builds it)"; exit $ksft_fail; }
require ip ping
tap_plan 3
trap topo_destroy EXIT
dmesg_mark

tap_check "veth topology up, both families reachable" topo_create veth
tap_check "IPv4: 64 MiB each way, SHA-256 verified" xfer_verify "$SRV4" 5001 $BYTES
tap_check "IPv6: 64 MiB each way, SHA-256 verified" xfer_verify "$SRV6" 5002 $BYTES
tap_exit
