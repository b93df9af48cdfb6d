//! The code follows the kernel's style gates: the module (with the vnic
//! driver and the firmware it compiles in) and every cargo crate are
//! formatted with the kernel's rustfmt settings (`.rustfmt.toml`, as
//! `make rustfmtcheck` in the kernel tree applies them), and the cargo
//! crates pass clippy with warnings as errors.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn report(what: &str, out: &Output) -> String {
    format!(
        "{what}:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[test]
fn module_follows_kernel_rustfmt_config() {
    let root = root();
    // rustfmt follows `mod` items, `#[path]` ones included, so the crate
    // root reaches vnic/ and firmware-sim/ as the kernel build does.
    let out = Command::new("rustfmt")
        .arg("--check")
        .arg("--config-path")
        .arg(root.join(".rustfmt.toml"))
        .arg(root.join("src/tcp_handoff.rs"))
        .output()
        .expect("rustfmt (rustup's, in ~/.cargo/bin)");
    assert!(
        out.status.success(),
        "{}",
        report(
            "run `rustfmt --config-path .rustfmt.toml src/tcp_handoff.rs`",
            &out
        )
    );
}

#[test]
fn cargo_crates_follow_kernel_rustfmt_config() {
    let out = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args(["fmt", "--all", "--check"])
        .current_dir(root())
        .output()
        .expect("cargo fmt");
    assert!(
        out.status.success(),
        "{}",
        report("run `cargo fmt --all`", &out)
    );
}

#[test]
fn cargo_crates_pass_clippy() {
    let root = root();
    // Its own target directory: the `cargo test` running this holds the
    // workspace's.
    let out = Command::new(std::env::var("CARGO").unwrap_or("cargo".into()))
        .args([
            "clippy",
            "-q",
            "--workspace",
            "--all-targets",
            "--release",
            "--",
            "-D",
            "warnings",
        ])
        .env("CARGO_TARGET_DIR", root.join("target/clippy"))
        .current_dir(&root)
        .output()
        .expect("cargo clippy");
    assert!(
        out.status.success(),
        "{}",
        report("cargo clippy found", &out)
    );
}
