#!/usr/bin/env bash
# Firmware benchmark: instructions per packet under callgrind (deterministic
# instruction counts), NIC memory per connection, and connections that fit
# in 16 MiB. Prints one `bench <name> <value> <unit>` line per figure.
#
# Method: examples/fw_bench.rs runs two firmware instances back to back
# with N offloaded connections (A sends bulk data, B receives it into posted
# host buffers). Callgrind collects only inside one side's firmware calls
# during the measured phase (`bench_step_b` for receive, `bench_step_a` for
# send), minus that side's host callbacks (`hostb_*`/`hosta_*`: DMA copies,
# frame and event hand-off, i.e. hardware and host work in the model).
# insn/pkt divides by every segment that firmware handled, received or
# sent, data or ACK (the paper's normalization: Table 2 is per packet sent
# and received); insn/seg divides by data segments only (received by B,
# sent by A), each then carrying its share of ACK work. Checksums are
# computed in software and are included; the *_csum_* lines show how much
# of the per-packet figure is the checksum alone.
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

# Inclusive Ir of the functions whose names match $2 in profile $1.
# callgrind_annotate may list a function several times: once with its whole
# inclusive cost and again per source file its inlined code came from (a
# part of the whole), so the largest line per function name is taken.
incl() {
    callgrind_annotate --inclusive=yes --threshold=100 "$1" 2>/dev/null |
        awk -v pat="$2" '$0 ~ pat && $0 !~ /=>/ {
            v = $1; gsub(",", "", v)
            name = $0; sub(/ \[.*$/, "", name); sub(/^.*:/, "", name)
            if (v + 0 > best[name]) best[name] = v + 0
        } END { for (n in best) s += best[n]; printf "%d\n", s }'
}

# One callgrind run per side: collection is on only inside that side's
# firmware step, so every cost in the profile is that firmware's (or its
# host callbacks', which are subtracted).
measure() { # $1=conns $2=a|b
    local out="$tmp/cg.$1.$2"
    valgrind --tool=callgrind --collect-atstart=no --toggle-collect="bench_step_$2" \
        --callgrind-out-file="$out" "$bin" "$1" "$packets" 2>/dev/null >"$tmp/stats.$1"
    local step host csum
    step=$(incl "$out" ":bench_step_$2( |$)")
    host=$(incl "$out" ":host$2_[a-z_]+( |$)")
    csum=$(incl "$out" 'checksum::add( |$)')
    echo "$((step - host)) $csum"
}

for n in $conns_list; do
    read -r fw_b csum_b < <(measure "$n" b)
    read -r fw_a csum_a < <(measure "$n" a)
    get() { awk -v k="$1" '$1 == k { print $2 }' "$tmp/stats.$n"; }
    rx_data=$(get b_rx_data_segs)
    tx_data=$(get a_tx_data_segs)
    # Packets the firmware handled, in and out (data and ACKs): the
    # normalization of the paper's firmware profile (Table 2, per packet
    # sent and received).
    rx_pkts=$(( $(get b_rx_segs) + $(get b_tx_segs) ))
    tx_pkts=$(( $(get a_tx_segs) + $(get a_rx_segs) ))
    echo "bench fw_rx_bulk_insn_per_pkt_${n}conn $((fw_b / rx_pkts)) insn/pkt"
    echo "bench fw_tx_bulk_insn_per_pkt_${n}conn $((fw_a / tx_pkts)) insn/pkt"
    # The same per data segment (each includes its share of ACK work).
    echo "bench fw_rx_bulk_insn_per_data_seg_${n}conn $((fw_b / rx_data)) insn/seg"
    echo "bench fw_tx_bulk_insn_per_data_seg_${n}conn $((fw_a / tx_data)) insn/seg"
    # Part of the per-packet figures spent in the software Internet
    # checksum (what a NIC's checksum-offload hardware would take over).
    echo "bench fw_rx_bulk_csum_insn_per_pkt_${n}conn $((csum_b / rx_pkts)) insn/pkt"
    echo "bench fw_tx_bulk_csum_insn_per_pkt_${n}conn $((csum_a / tx_pkts)) insn/pkt"
done

layout=$("$root/target/release/examples/layout")
lget() { awk -v k="$1" '$1 == k { gsub(",", "", $2); print $2 }' <<<"$layout"; }
echo "bench fw_mem_per_conn $(lget per_conn_bytes) B/conn"
echo "bench fw_max_conns_16MiB $(lget max_conns) conns"
