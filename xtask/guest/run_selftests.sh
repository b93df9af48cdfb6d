#!/bin/bash
# SPDX-License-Identifier: GPL-2.0
#
# Minimal kselftest runner (the output format of the kernel's
# tools/testing/selftests/kselftest/runner.sh): one TAP 13 stream, each test
# program's own output nested under "# ", per-test timeout from the suite's
# `settings`, exit 4 = skip.
#
# usage: run_selftests.sh SUITE...   (directories under $REPO/selftests)
# $TESTS, if set, keeps only the test programs it names (space-separated).
# $TIMEOUT_SCALE multiplies every timeout (the debug kernel is slower).
# `settings` has the suite's timeout=SECS, as kselftest's, and may give a
# program its own: timeout.PROGRAM=SECS (sized from its measured time).
# Each program's result line carries its wall time, "(12.3 s)", before any
# directive: xtask's timing table (Documentation/build.rst) is read from it.

ksft_skip=4
suites=("$@")

# elapsed T0: seconds since $EPOCHREALTIME was T0, one decimal.
elapsed() {
	local us=$(( ${EPOCHREALTIME/./} - ${1/./} ))
	printf '%d.%d' $((us / 1000000)) $((us / 100000 % 10))
}

tests=()
for suite in "${suites[@]}"; do
	dir="$REPO/selftests/$suite"
	progs=$(sed -n 's/^TEST_PROGS[[:space:]]*:=//p' "$dir/Makefile")
	for p in $progs; do
		[ -z "${TESTS:-}" ] || [[ " $TESTS " == *" $p "* ]] || continue
		tests+=("$suite/$p")
	done
done

echo "TAP version 13"
echo "1..${#tests[@]}"
n=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	suite=${t%%/*}
	prog=${t#*/}
	dir="$REPO/selftests/$suite"
	timeout=$(sed -n "s/^timeout\.$prog=//p" "$dir/settings" 2>/dev/null)
	[ -n "$timeout" ] || timeout=$(sed -n 's/^timeout=//p' "$dir/settings" 2>/dev/null)
	timeout=$(( ${timeout:-45} * ${TIMEOUT_SCALE:-1} ))
	name="selftests: $suite: $prog"
	echo "# $name"
	t0=$EPOCHREALTIME
	(cd "$dir" && timeout --kill-after=10 "$timeout" "./$prog" 2>&1) | sed -u 's/^/# /'
	rc=${PIPESTATUS[0]}
	took=$(elapsed "$t0")
	case $rc in
	0) echo "ok $n $name ($took s)" ;;
	$ksft_skip) echo "ok $n $name ($took s) # SKIP" ;;
	124|137) echo "not ok $n $name ($took s) # TIMEOUT $timeout seconds" ;;
	*) echo "not ok $n $name ($took s) # exit=$rc" ;;
	esac
done
