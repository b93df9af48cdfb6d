//! Prints the NIC memory layout for a budget (default 16 MiB).
use firmware_sim::memory::NicMemoryLayout;

fn main() {
    let bytes = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(firmware_sim::DEFAULT_MEMORY);
    let l = NicMemoryLayout::for_size(bytes).expect("budget too small");
    println!("conn_slot_bytes {}", NicMemoryLayout::CONN_SLOT_BYTES);
    println!("per_conn_bytes {}", NicMemoryLayout::PER_CONN_BYTES);
    println!("ref_bytes {}", NicMemoryLayout::REF_BYTES);
    println!("chunk_total_bytes {}", NicMemoryLayout::CHUNK_TOTAL_BYTES);
    println!("max_conns {}", l.max_conns);
    println!("refs {}", l.refs);
    println!("staging_bytes {}", l.staging_bytes);
    println!("used_bytes {}", l.used_bytes());
    println!("{l:#?}");
}
