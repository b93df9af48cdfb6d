#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The soak's firmware fuzzing (Documentation/build.rst, "Test tiers"):
# TOTAL inputs of the seeded mutation fuzzer (tests/fuzz.rs: each input is
# a program of about 60 mutated segments, commands and clock ticks run
# against an engine holding live connections, audited after every step),
# split over JOBS processes (default: one per CPU), each with its own seed.
# Prints `fuzz seeded_mutation INPUTS inputs SECS s RATE inputs/s` and fails
# if any process found a failure (its seed is printed: rerun it with
# FW_FUZZ_SEED=S FW_FUZZ_ITERS=N cargo test --release -p firmware-sim
# --test fuzz seeded).
#
# usage: firmware-sim/fuzz.sh TOTAL [JOBS]
set -euo pipefail
cd "$(dirname "$0")/.."
total=${1:?usage: firmware-sim/fuzz.sh TOTAL [JOBS]}
jobs=${2:-$(nproc)}
per=$(( (total + jobs - 1) / jobs ))
cargo test -q --release -p firmware-sim --test fuzz --no-run
t0=$(date +%s%N)
pids=()
for i in $(seq "$jobs"); do
	FW_FUZZ_SEED=$((0xf022 + i)) FW_FUZZ_ITERS=$per FW_PROPTEST_CASES=1 \
		cargo test -q --release -p firmware-sim --test fuzz seeded_mutation_fuzz >"/tmp/fw-fuzz-$$-$i.log" 2>&1 &
	pids+=($!)
done
bad=0
for i in $(seq "$jobs"); do
	if ! wait "${pids[$((i - 1))]}"; then
		echo "fuzz: seed $((0xf022 + i)) (FW_FUZZ_ITERS=$per) failed:"
		tail -20 "/tmp/fw-fuzz-$$-$i.log"
		bad=1
	fi
	rm -f "/tmp/fw-fuzz-$$-$i.log"
done
t1=$(date +%s%N)
awk -v n=$((per * jobs)) -v ns=$((t1 - t0)) \
	'BEGIN { printf "fuzz seeded_mutation %d inputs %.1f s %.0f inputs/s\n", n, ns / 1e9, n / (ns / 1e9) }'
exit $bad
