#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# The firmware's coverage-guided fuzzing: cargo-fuzz and libFuzzer over the
# targets of firmware-sim/fuzz/ (engine: an engine holding live IPv4 and
# IPv6 connections driven by a byte-coded program of frames, mutated
# segments, commands and ticks, audited after every step; messages: the
# command, event and snapshot decoders). RUNS libFuzzer executions of each
# target, one target after the other, from an empty corpus in
# build/fuzz/<target>/corpus with a fixed seed, so that a run is
# reproducible (below; FW_FUZZ_SEED=S picks another seed). Prints
#   fuzz <target> <runs> execs <secs> s <execs_per_s> exec/s
# per target and fails if any target crashed, printing the crash file
# libFuzzer wrote; replay one with
#   cd firmware-sim/fuzz && cargo fuzz run --sanitizer none <target> FILE
# libFuzzer's own output goes to build/fuzz/<target>/fuzz.log, crash files
# to build/fuzz/<target>/artifacts/.
#
# Runs on the stable toolchain: built without a sanitizer, cargo-fuzz passes
# rustc only stable flags (-Cpasses=sancov-module and -Cllvm-args=...), so no
# nightly is needed. ASan would need -Zsanitizer=address and buys little
# here: firmware-sim forbids unsafe code, and what finds its bugs (panics,
# overflow checks and debug assertions, which cargo-fuzz turns on, and the
# engine's audit) works without it, and the engine target runs about six
# times faster without it.
# FW_FUZZ_SANITIZER=address still builds with ASan, unlocking -Z on stable
# with RUSTC_BOOTSTRAP=1.
#
# usage: firmware-sim/fuzz.sh RUNS
set -euo pipefail
cd "$(dirname "$0")/.."
runs=${1:?usage: firmware-sim/fuzz.sh RUNS}
[[ $runs =~ ^[0-9]+$ ]] && ((runs > 0)) || { echo "fuzz.sh: RUNS must be a positive number" >&2; exit 2; }
seed=${FW_FUZZ_SEED:-1} # libFuzzer takes -seed=0 as "pick one at random"
sanitizer=${FW_FUZZ_SANITIZER:-none}
cargo_fuzz_version=0.13.2
# target:max_len. An engine input is a program of steps of 2 + up to 255
# bytes; a message is at most 176 bytes (a snapshot event), the rest is
# trailing junk for the decoders.
targets=(engine:4096 messages:512)

# cargo and rustup's rustc live in ~/.cargo/bin, which a bare environment
# (CI) may lack; /usr/bin/rustc is Debian's, kept for the kernel.
export PATH="$HOME/.cargo/bin:$PATH"
if [[ $sanitizer != none ]]; then
	# -Zsanitizer=... on the stable compiler.
	export RUSTC_BOOTSTRAP=1
fi

if [[ $(cargo fuzz --version 2>/dev/null) != "cargo-fuzz $cargo_fuzz_version" ]]; then
	echo "fuzz.sh: installing cargo-fuzz $cargo_fuzz_version" >&2
	cargo install -q --locked cargo-fuzz --version "$cargo_fuzz_version"
fi

host=$(rustc -vV | sed -n 's/^host: //p')
mkdir -p build/fuzz
if ! (cd firmware-sim/fuzz && cargo fuzz build --release --debug-assertions \
	--sanitizer "$sanitizer" --target "$host") >build/fuzz/build.log 2>&1; then
	cat build/fuzz/build.log >&2
	exit 1
fi
bindir=$PWD/firmware-sim/fuzz/target/$host/release

# Reproducible: besides the seed, libFuzzer's mutations depend on the
# values its traced comparisons saw, pointers among them (Rust's slice
# iterators compare pointers), so on where things are in memory. Hence no
# address space randomization where setarch can turn it off, and -reload=0
# (libFuzzer rereads the corpus every second by default, whose allocations
# move the target's heap at a time that depends on the machine's speed).
# Paths and environment still place the heap, so a run repeats exactly only
# in the same checkout; the crash file is the reproducer to hand on.
norand=(setarch "$(uname -m)" -R)
"${norand[@]}" true 2>/dev/null || norand=()

bad=0
for t in "${targets[@]}"; do
	name=${t%%:*}
	dir=build/fuzz/$name
	rm -rf "$dir/corpus"
	mkdir -p "$dir/corpus" "$dir/artifacts"
	t0=$(date +%s%N)
	rc=0
	"${norand[@]}" "$bindir/$name" "$dir/corpus" -runs="$runs" -seed="$seed" \
		-max_len="${t#*:}" -reload=0 -timeout=60 -print_final_stats=1 \
		-artifact_prefix="$PWD/$dir/artifacts/" \
		>"$dir/fuzz.log" 2>&1 || rc=$?
	t1=$(date +%s%N)
	execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/fuzz.log" | tail -1)
	awk -v t="$name" -v n="${execs:-0}" -v ns=$((t1 - t0)) \
		'BEGIN { printf "fuzz %s %d execs %.1f s %.0f exec/s\n", t, n, ns / 1e9, n / (ns / 1e9) }'
	if ((rc != 0)); then
		bad=1
		echo "fuzz $name: libFuzzer exited $rc (log: $dir/fuzz.log)"
		grep -E -A1 'panicked at|^SUMMARY:' "$dir/fuzz.log" | grep -v '^--$' | head -4 || true
		crash=$(sed -n 's/.*Test unit written to //p' "$dir/fuzz.log" | tail -1)
		echo "fuzz $name: crash file: ${crash:-none written}"
	fi
done
exit $bad
