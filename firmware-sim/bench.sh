#!/usr/bin/env bash
# Firmware benchmark: instructions per packet under callgrind (deterministic
# instruction counts), NIC memory per connection, and connections that fit
# in 16 MiB. Prints one `bench <name> <value> <unit>` line per figure.
#
# Method: examples/fw_bench.rs runs two firmware instances back to back
# with N offloaded connections (A sends bulk data, B receives it into posted
# host buffers). Callgrind collects only inside the measured phase
# (`bench_measured`). Firmware instructions for B (receive) are the
# inclusive cost of `bench_step_b` minus its host callbacks (`hostb_*`:
# DMA copies, frame and event hand-off, i.e. hardware and host work in
# the model); likewise A (send) with `bench_step_a` and `hosta_*`. Receive
# is per data segment received by B (including the ACKs B sends), send is
# per data segment sent by A (including the ACKs A processes). Checksums
# are computed in software and are included.
#
# Env: FW_BENCH_PACKETS (default 20000 measured packets), FW_BENCH_CONNS
# (default "1 256 8192"), CARGO_BUILD_JOBS (default 1).
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
cd "$root"
export CARGO_BUILD_JOBS=${CARGO_BUILD_JOBS:-1}
packets=${FW_BENCH_PACKETS:-20000}
conns_list=${FW_BENCH_CONNS:-"1 256 8192"}

command -v valgrind >/dev/null || { echo "bench.sh: valgrind not found" >&2; exit 1; }
command -v callgrind_annotate >/dev/null || { echo "bench.sh: callgrind_annotate not found" >&2; exit 1; }

cargo build --release -q -p firmware-sim --example fw_bench --example layout
bin="$root/target/release/examples/fw_bench"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# Inclusive Ir of every function whose name matches $2 in profile $1.
incl() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v pat="$2" '$0 ~ pat && $0 !~ /=>/ { gsub(",", "", $1); s += $1 } END { printf "%d\n", s }'
}

for n in $conns_list; do
    out="$tmp/cg.$n"
    stats=$(valgrind --tool=callgrind --collect-atstart=no --toggle-collect=bench_measured \
        --callgrind-out-file="$out" "$bin" "$n" "$packets" 2>/dev/null)
    get() { awk -v k="$1" '$1 == k { print $2 }' <<<"$stats"; }
    step_a=$(incl "$out" ':bench_step_a ')
    step_b=$(incl "$out" ':bench_step_b ')
    host_a=$(incl "$out" ':hosta_[a-z_]+ ')
    host_b=$(incl "$out" ':hostb_[a-z_]+ ')
    tx=$(get a_tx_data_segs)
    rx=$(get b_rx_data_segs)
    echo "bench fw_rx_bulk_insn_per_pkt_${n}conn $(( (step_b - host_b) / rx )) insn/pkt"
    echo "bench fw_tx_bulk_insn_per_pkt_${n}conn $(( (step_a - host_a) / tx )) insn/pkt"
done

layout=$("$root/target/release/examples/layout")
lget() { awk -v k="$1" '$1 == k { gsub(",", "", $2); print $2 }' <<<"$layout"; }
echo "bench fw_mem_per_conn $(lget per_conn_bytes) B/conn"
echo "bench fw_max_conns_16MiB $(lget max_conns) conns"
