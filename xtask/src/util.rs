//! Small helpers shared by the xtask subcommands.

use std::fmt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::tap::Counts;

/// An error that ends the xtask run with one clear line.
#[derive(Debug)]
pub struct Fail(String);

impl Fail {
    pub fn new(msg: impl Into<String>) -> Self {
        Fail(msg.into())
    }
}

impl fmt::Display for Fail {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<std::io::Error> for Fail {
    fn from(e: std::io::Error) -> Self {
        Fail(e.to_string())
    }
}

/// The repository root (xtask lives one level below it).
pub fn repo_root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(Path::to_path_buf).unwrap_or(manifest)
}

/// Where built kernels and probe results are cached, outside the checkout.
pub fn cache_dir() -> PathBuf {
    std::env::var_os("TCP_HANDOFF_CACHE")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/var/cache/tcp-handoff"))
}

/// Runs `cmd`, failing with `what` if it cannot start or exits non-zero.
pub fn run_status(cmd: &mut Command, what: &str) -> Result<(), Fail> {
    let status = cmd
        .status()
        .map_err(|e| Fail::new(format!("{what}: cannot run {:?}: {e}", cmd.get_program())))?;
    if status.success() {
        Ok(())
    } else {
        Err(Fail::new(format!("{what} failed ({status})")))
    }
}

/// First line of a command's standard output, or a failure naming it.
pub fn output_line(program: &str, args: &[&str]) -> Result<String, Fail> {
    let out = Command::new(program)
        .args(args)
        .stderr(Stdio::null())
        .output()
        .map_err(|e| Fail::new(format!("cannot run {program}: {e} (run scripts/deps.sh)")))?;
    if !out.status.success() {
        return Err(Fail::new(format!(
            "{program} {args:?} failed (run scripts/deps.sh)"
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout)
        .lines()
        .next()
        .unwrap_or("")
        .trim()
        .to_string())
}

/// Hex SHA-256 of `data`, via coreutils' sha256sum (keeps xtask dependency-free).
pub fn sha256_hex(data: &[u8]) -> Result<String, Fail> {
    use std::io::Write;
    let mut child = Command::new("sha256sum")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    child.stdin.take().expect("piped stdin").write_all(data)?;
    let out = child.wait_with_output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    text.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| Fail::new("sha256sum printed nothing"))
}

/// The kernel's Rust toolchain: Debian's rustc-web, the only one with rust-src.
pub const KERNEL_RUSTC: &str = "/usr/bin/rustc";

/// bindgen-cli as installed by scripts/deps.sh.
pub fn bindgen() -> PathBuf {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(std::env::var_os("HOME").unwrap_or_default()).join(".cargo")
        });
    home.join("bin/bindgen")
}

/// Runs the workspace's cargo tests, echoing their output, and counts them.
pub fn cargo_tests() -> Result<Counts, Fail> {
    cargo_test_run(&["test", "--workspace", "--release"], &[], "cargo test")
}

/// Runs `cargo ARGS` (a test run) with `envs` added, echoing its output,
/// and counts its results under `what`.
pub fn cargo_test_run(args: &[&str], envs: &[(&str, String)], what: &str) -> Result<Counts, Fail> {
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let out = Command::new(cargo)
        .args(args)
        .envs(envs.iter().map(|(k, v)| (*k, v.as_str())))
        .current_dir(repo_root())
        .stderr(Stdio::inherit())
        .output()?;
    let text = String::from_utf8_lossy(&out.stdout);
    print!("{text}");
    let mut counts = Counts::from_cargo(&text);
    if !out.status.success() && counts.failed == 0 {
        // A build error or crashed test binary prints no per-test result.
        counts.failed += 1;
    }
    counts.print_summary(what);
    Ok(counts)
}
