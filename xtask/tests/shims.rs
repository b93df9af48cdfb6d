//! Every C shim (`src/shim*.c`: one function per kernel inline or macro)
//! is called from the module's Rust: a shim nobody calls is dead code.

use std::path::Path;

fn rust_sources(dir: &Path, out: &mut String) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_sources(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") && !p.ends_with("bindings_generated.rs")
        {
            out.push_str(&std::fs::read_to_string(&p).unwrap());
        }
    }
}

#[test]
fn every_shim_is_called() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).parent().unwrap();
    let mut rust = String::new();
    rust_sources(&root.join("src"), &mut rust);
    rust_sources(&root.join("vnic"), &mut rust);
    let mut shims = 0;
    let mut dead = Vec::new();
    for file in ["src/shim.c", "src/shim_tcp.c"] {
        let c = std::fs::read_to_string(root.join(file)).unwrap();
        // A definition starts a line with its return type and has the
        // opening brace on the next line (kernel style).
        let lines: Vec<&str> = c.lines().collect();
        for w in lines.windows(2) {
            if w[1] != "{" || w[0].starts_with([' ', '\t', '#', '/', '*']) {
                continue;
            }
            let Some(name) = w[0]
                .split('(')
                .next()
                .and_then(|head| head.split_whitespace().last())
                .map(|n| n.trim_start_matches('*'))
                .filter(|n| n.starts_with("handoff_"))
            else {
                continue;
            };
            shims += 1;
            if !rust.contains(&format!("bindings::{name}("))
                && !rust.contains(&format!("bindings::{name})"))
            {
                dead.push(format!("{file}: {name}"));
            }
        }
    }
    assert!(shims > 100, "found only {shims} shims: the parser is off");
    assert!(
        dead.is_empty(),
        "shims no Rust code calls:\n{}",
        dead.join("\n")
    );
}
