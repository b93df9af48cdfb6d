//! The guest kernel: built once per (source, config, toolchain), cached.
//!
//! Cache entry: `$TCP_HANDOFF_CACHE/kernel/linux-<version>-<variant>-<key>/`
//! with `src/` (the unpacked Debian source), `build/` (the O= tree) and a
//! `complete` stamp written only after a successful build. An entry without
//! the stamp was interrupted and is rebuilt from scratch.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::util::{
    self, bindgen, cache_dir, output_line, repo_root, run_status, Fail, KERNEL_RUSTC,
};

/// Debian's kernel source package the guest kernel is built from.
const SOURCE_PACKAGE: &str = "linux-source-6.12";
const SOURCE_TARBALL: &str = "/usr/src/linux-source-6.12.tar.xz";
/// Bumped when the build recipe below changes in a way the key cannot see.
const RECIPE: &str = "recipe-1: tinyconfig + fragments, LLVM=1, make all";

/// A built, cached kernel tree.
pub struct Kernel {
    /// The O= tree: `bzImage` and what out-of-tree modules build against.
    pub build_dir: PathBuf,
}

impl Kernel {
    pub fn bzimage(&self) -> PathBuf {
        self.build_dir.join("arch/x86/boot/bzImage")
    }
}

/// The config fragments of a variant, base first.
fn fragments(variant: &str) -> Result<Vec<PathBuf>, Fail> {
    let dir = repo_root().join("kernel");
    let mut list = vec![dir.join("tcp-handoff.config")];
    match variant {
        "default" => {}
        "debug" => list.push(dir.join("debug.config")),
        other => {
            return Err(Fail::new(format!(
                "unknown VARIANT '{other}' (default or debug)"
            )))
        }
    }
    Ok(list)
}

/// make arguments every kernel and module build shares.
pub fn make_args() -> Vec<String> {
    vec![
        "LLVM=1".into(),
        format!("RUSTC={KERNEL_RUSTC}"),
        format!("HOSTRUSTC={KERNEL_RUSTC}"),
        format!("BINDGEN={}", bindgen().display()),
    ]
}

/// Everything the build's output depends on, hashed into the cache key.
fn key_material(variant: &str, frags: &[PathBuf]) -> Result<String, Fail> {
    let version = output_line("dpkg-query", &["-W", "-f=${Version}", SOURCE_PACKAGE])?;
    let mut m = format!("{RECIPE}\nvariant={variant}\nsource={SOURCE_PACKAGE} {version}\n");
    for f in frags {
        let text = fs::read_to_string(f).map_err(|e| Fail::new(format!("{}: {e}", f.display())))?;
        m.push_str(&format!(
            "fragment {}:\n{text}\n",
            f.file_name().unwrap_or_default().to_string_lossy()
        ));
    }
    m.push_str(&format!(
        "rustc={}\n",
        output_line(KERNEL_RUSTC, &["--version"])?
    ));
    m.push_str(&format!(
        "bindgen={}\n",
        output_line(&bindgen().to_string_lossy(), &["--version"])?
    ));
    m.push_str(&format!(
        "clang={}\n",
        output_line("clang", &["--version"])?
    ));
    Ok(m)
}

/// Returns the cached kernel for `variant`, building it first if needed.
///
/// `KDIR=/path/to/O-tree` bypasses the cache and uses a kernel you built.
pub fn ensure(variant: &str) -> Result<Kernel, Fail> {
    if let Some(kdir) = std::env::var_os("KDIR").filter(|k| !k.is_empty()) {
        let kernel = Kernel {
            build_dir: PathBuf::from(kdir),
        };
        if !kernel.bzimage().exists() || !kernel.build_dir.join("Module.symvers").exists() {
            return Err(Fail::new(format!(
                "KDIR={} is not a built kernel tree",
                kernel.build_dir.display()
            )));
        }
        return Ok(kernel);
    }
    let frags = fragments(variant)?;
    let material = key_material(variant, &frags)?;
    let key = util::sha256_hex(material.as_bytes())?;
    let version = output_line(
        "dpkg-query",
        &["-W", "-f=${source:Upstream-Version}", SOURCE_PACKAGE],
    )?;
    let root = cache_dir().join("kernel");
    fs::create_dir_all(&root).map_err(|e| {
        Fail::new(format!(
            "cannot create {}: {e} (run as root or set TCP_HANDOFF_CACHE)",
            root.display()
        ))
    })?;
    let entry = root.join(format!("linux-{version}-{variant}-{}", &key[..16]));
    let kernel = Kernel {
        build_dir: entry.join("build"),
    };
    let stamp = entry.join("complete");

    // One builder at a time per entry; others wait and then reuse its
    // result. Different entries (variants, configs) build side by side.
    let lock = fs::File::create(root.join(format!(
        "{}.lock",
        entry.file_name().unwrap_or_default().to_string_lossy()
    )))?;
    lock.lock()?;
    if stamp.exists() && kernel.bzimage().exists() {
        return Ok(kernel);
    }
    if entry.exists() {
        eprintln!(
            "kernel: {} is incomplete (interrupted build?); rebuilding it",
            entry.display()
        );
        fs::remove_dir_all(&entry)?;
    }
    eprintln!(
        "kernel: building {SOURCE_PACKAGE} ({variant}) into {}",
        entry.display()
    );
    let started = std::time::Instant::now();
    build(&entry, &frags)?;
    fs::write(&stamp, &material)?;
    eprintln!("kernel: built in {} s", started.elapsed().as_secs());
    Ok(kernel)
}

fn build(entry: &Path, frags: &[PathBuf]) -> Result<(), Fail> {
    let src = entry.join("src");
    let out = entry.join("build");
    fs::create_dir_all(&src)?;
    fs::create_dir_all(&out)?;
    run_status(
        Command::new("tar")
            .args(["xf", SOURCE_TARBALL, "--strip-components=1", "-C"])
            .arg(&src),
        "unpacking the kernel source",
    )?;
    let jobs = std::thread::available_parallelism()
        .map(|n| n.get() + 1)
        .unwrap_or(3);
    let make = |targets: &[&str]| -> Command {
        let mut c = Command::new("make");
        c.current_dir(&src)
            .arg(format!("O={}", out.display()))
            .args(make_args())
            .args(targets);
        c
    };
    run_status(
        make(&["-s", "tinyconfig"]).stdout(std::process::Stdio::null()),
        "make tinyconfig",
    )?;
    let mut merge = Command::new("scripts/kconfig/merge_config.sh");
    merge
        .current_dir(&src)
        .args(["-m", "-O"])
        .arg(&out)
        .arg(out.join(".config"))
        .args(frags);
    run_status(
        merge.stdout(std::process::Stdio::null()),
        "merging config fragments",
    )?;
    run_status(&mut make(&["-s", "olddefconfig"]), "make olddefconfig")?;
    verify_config(&out.join(".config"), frags)?;
    run_status(&mut make(&[&format!("-j{jobs}"), "all"]), "kernel build")?;
    Ok(())
}

/// Fails if Kconfig dropped any option a fragment asked for (a dependency
/// not met): a silently different kernel would make tests lie.
fn verify_config(config: &Path, frags: &[PathBuf]) -> Result<(), Fail> {
    let have = fs::read_to_string(config)?;
    let have: std::collections::HashSet<&str> = have.lines().collect();
    let mut missing = Vec::new();
    for f in frags {
        for line in fs::read_to_string(f)?.lines().map(str::trim) {
            if line.starts_with("CONFIG_") && !have.contains(line) {
                missing.push(line.to_string());
            }
        }
    }
    if missing.is_empty() {
        Ok(())
    } else {
        Err(Fail::new(format!(
            "kernel config lost {} (unmet dependencies?)",
            missing.join(", ")
        )))
    }
}
