# SPDX-License-Identifier: GPL-2.0
#
# tcp-handoff top-level Makefile. The two commands that matter:
#
#   make demo    build what is needed, boot the VM, show the module at work
#   make check   every test: cargo tests + all VM selftest suites
#   make soak    the same tests at stress scale (selftests/soak.conf) plus
#                firmware fuzzing; SOAK_PART=vm|fuzz|all
#
# Variables: VARIANT=default|debug (kernel config), SUITES=a,b (VM suites),
# TESTS=x.sh,y.sh (programs within them),
# TCP_HANDOFF_CACHE=/var/cache/tcp-handoff (kernel cache), HANDOFF_ACCEL=tcg
# (skip the KVM probe). See Documentation/build.rst.

# CI may run with a bare environment: cargo and bindgen live in ~/.cargo/bin.
HOME ?= /root
export HOME
export PATH := $(HOME)/.cargo/bin:$(PATH)
VARIANT ?= default
SUITES ?=
TESTS ?=
export VARIANT SUITES TESTS

CARGO ?= cargo
XTASK := $(CARGO) run -q -p xtask --
KDIR_FILE := build/kdir-$(VARIANT)
KBUILD_ARGS = -C $$(cat $(KDIR_FILE)) M=$(CURDIR) LLVM=1 RUSTC=/usr/bin/rustc \
	HOSTRUSTC=/usr/bin/rustc BINDGEN=$(HOME)/.cargo/bin/bindgen

.PHONY: all deps kernel module tools demo check soak vm-check cargo-test \
	bench-firmware bench-hnic bench-handoff bench-restore clean

all: module tools

deps:
	@scripts/deps.sh

# The kernel is cached outside the checkout; this only records where it is.
kernel: deps
	@$(XTASK) kernel

module: kernel
	@$(MAKE) --no-print-directory $(KBUILD_ARGS) modules

IP_PLUGIN := build/ip/link_hnic.so

tools: deps $(IP_PLUGIN)
	@$(CARGO) build -q --release -p userspace-tools

# `ip link add ... type hnic peer ...` needs this plugin (IP_LIB_DIR=build/ip).
$(IP_PLUGIN): userspace-tools/iproute2/link_hnic.c
	@mkdir -p $(dir $@)
	@$(CC) -O2 -Wall -shared -fPIC -o $@ $<

demo: module tools
	@$(XTASK) vm --mode demo

# cargo tests, then every VM suite; ends with "check: N passed, N failed".
check: module tools
	@$(XTASK) check

# The stress tier: same programs, soak.conf's scale (Documentation/build.rst).
soak: module tools
	@$(XTASK) soak

vm-check: module tools
	@$(XTASK) vm --mode check

cargo-test:
	@$(CARGO) test --workspace --release

bench-firmware: deps
	@firmware-sim/bench.sh

# VM benchmarks: userspace-tools/bench/<area>.sh, figures as `bench ...` lines.
bench-hnic: module tools
	@$(XTASK) vm --mode bench --suites hnic

# Native vs offloaded over one hnic pair (Documentation/handoff-tests.rst).
bench-handoff: module tools
	@$(XTASK) vm --mode bench --suites handoff

# Handoff/restore latencies, restore all, throughput dip (handoff-tests.rst).
bench-restore: module tools
	@$(XTASK) vm --mode bench --suites restore

clean:
	@[ ! -f $(KDIR_FILE) ] || $(MAKE) --no-print-directory $(KBUILD_ARGS) clean
	@rm -rf build
