//! The OS side is layered without an import circle: each part names only
//! the parts below it (comments aside).
//!
//! ```text
//!   control   operator knobs, triggers, unload
//!   ulp       the TCP ULP and the protocol tables it swaps in
//!   bypass    the socket operations of an offloaded connection
//!   handoff   admission, capture, restore, the NIC's events
//!   conn      the connection record, its phase door, rings, commands
//!   vnic      the hnic driver and its bus (`Endpoint`)
//! ```

use std::path::Path;

const LAYERS: [(&str, &[&str]); 6] = [
    ("vnic", &["vnic"]),
    ("conn", &["src/conn"]),
    ("handoff", &["src/handoff"]),
    ("bypass", &["src/bypass"]),
    ("ulp", &["src/ulp.rs"]),
    ("control", &["src/control"]),
];

fn files(root: &Path, at: &str) -> Vec<std::path::PathBuf> {
    let p = root.join(at);
    if p.is_file() {
        return vec![p];
    }
    let mut v: Vec<_> = std::fs::read_dir(&p)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rs"))
        .collect();
    v.sort();
    v
}

#[test]
fn each_part_names_only_the_parts_below() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut bad = Vec::new();
    let mut seen = 0;
    for (level, (name, dirs)) in LAYERS.iter().enumerate() {
        for f in dirs.iter().flat_map(|d| files(root, d)) {
            seen += 1;
            let text = std::fs::read_to_string(&f).unwrap();
            for (n, line) in text.lines().enumerate() {
                let code = line.split("//").next().unwrap();
                for (above, _) in &LAYERS[level + 1..] {
                    if code.contains(&format!("crate::{above}::"))
                        || code.contains(&format!("crate::{above};"))
                        || code.contains(&format!("crate::{above}}}"))
                    {
                        bad.push(format!(
                            "{}:{}: {name} names {above}: {}",
                            f.strip_prefix(root).unwrap().display(),
                            n + 1,
                            line.trim()
                        ));
                    }
                }
            }
        }
    }
    assert!(seen > 15, "found only {seen} files: the layout moved");
    assert!(bad.is_empty(), "import circle:\n{}", bad.join("\n"));
}
