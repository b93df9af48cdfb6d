#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# `make demo`, guest side: what tcp_handoff does today, shown live.
# Grows with the project (handoff and restore of real connections come with
# the hnic and handoff work).

step() { printf '\n=== %s\n' "$*"; }
show() { printf '$ %s\n' "$*"; "$@"; }

step "guest: $(uname -r), $(nproc) CPUs"
show insmod "$HANDOFF_KO"
show sh -c 'dmesg | grep tcp_handoff'
show sysctl net.handoff

step "every network namespace gets its own net.handoff table"
show ip netns add demo
show ip netns exec demo sysctl net.handoff.version

step "unload: the tables disappear with the module"
show ip netns del demo
show rmmod tcp_handoff
show sh -c 'dmesg | grep tcp_handoff | tail -1'
show sh -c 'ls /proc/sys/net/handoff 2>&1 || true'
