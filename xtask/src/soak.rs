//! `make soak`: the stress tier. The same selftests as `make check`, at the
//! scale `selftests/soak.conf` gives through their `HANDOFF_*` knobs, plus
//! the firmware's coverage-guided fuzzing (Documentation/build.rst, "Test
//! tiers").

use std::collections::BTreeMap;
use std::fs;
use std::process::Command;

use crate::tap::Counts;
use crate::util::{repo_root, run_status, Fail};

/// The stress scale: `selftests/soak.conf`'s `NAME=value` lines.
pub struct Scale {
    /// VM suites the soak runs.
    pub suites: String,
    /// Every program's timeout is this many times its `make check` one.
    pub timeout_factor: u64,
    /// libFuzzer executions per firmware fuzz target (0: no fuzzing).
    pub fuzz_runs: u64,
    /// Seeds of the firmware's long interop run against smoltcp (random
    /// loss, duplication, jitter and rates; 0: none).
    pub firmware_seeds: u64,
    /// The selftests' knobs, exported to the guest.
    pub knobs: BTreeMap<String, String>,
}

impl Scale {
    pub fn load() -> Result<Scale, Fail> {
        let path = repo_root().join("selftests/soak.conf");
        let text =
            fs::read_to_string(&path).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
        let mut scale =
            Scale::parse(&text).map_err(|e| Fail::new(format!("{}: {e}", path.display())))?;
        // The environment overrides the file: a part of the soak by hand.
        let from_env = |name| std::env::var(name).ok().and_then(|v| v.parse().ok());
        if let Some(runs) = from_env("SOAK_FUZZ_RUNS") {
            scale.fuzz_runs = runs;
        }
        if let Some(seeds) = from_env("SOAK_FIRMWARE_SEEDS") {
            scale.firmware_seeds = seeds;
        }
        Ok(scale)
    }

    fn parse(text: &str) -> Result<Scale, String> {
        let mut scale = Scale {
            suites: String::new(),
            timeout_factor: 1,
            fuzz_runs: 0,
            firmware_seeds: 0,
            knobs: BTreeMap::new(),
        };
        for (i, line) in text.lines().enumerate() {
            let line = line.split_once('#').map_or(line, |(l, _)| l).trim();
            if line.is_empty() {
                continue;
            }
            let (name, value) = line
                .split_once('=')
                .ok_or(format!("line {}: not NAME=value", i + 1))?;
            let (name, value) = (name.trim(), value.trim());
            let number = || {
                value
                    .parse::<u64>()
                    .map_err(|e| format!("line {}: {name}: {e}", i + 1))
            };
            match name {
                "SOAK_SUITES" => scale.suites = value.to_string(),
                "SOAK_TIMEOUT_FACTOR" => scale.timeout_factor = number()?.max(1),
                "SOAK_FUZZ_RUNS" => scale.fuzz_runs = number()?,
                "SOAK_FIRMWARE_SEEDS" => scale.firmware_seeds = number()?,
                n if n.starts_with("HANDOFF_") => {
                    scale.knobs.insert(n.to_string(), value.to_string());
                }
                n => return Err(format!("line {}: unknown name {n}", i + 1)),
            }
        }
        Ok(scale)
    }

    /// Puts the knobs in this process's environment (whence the VM job
    /// takes them), except those the caller set already: one program can
    /// be run at another scale by hand.
    pub fn export(&self) {
        for (name, value) in &self.knobs {
            if std::env::var_os(name).is_none() {
                std::env::set_var(name, value);
            }
        }
    }
}

/// The firmware's interop soak (`firmware-sim/tests/interop.rs`,
/// `soak_many_seeds`, ignored by `make check`): `seeds` seeded transfers
/// against smoltcp over random link conditions.
pub fn firmware_seeds(seeds: u64) -> Result<Counts, Fail> {
    if seeds == 0 {
        return Ok(Counts::default());
    }
    let args = [
        "test",
        "--release",
        "-p",
        "firmware-sim",
        "--test",
        "interop",
        "--",
        "--ignored",
    ];
    crate::util::cargo_test_run(
        &args,
        &[("FW_SOAK_SEEDS", seeds.to_string())],
        "firmware interop soak",
    )
}

/// The firmware's fuzz targets (cargo-fuzz, libFuzzer), `runs` executions each.
pub fn fuzz(runs: u64) -> Result<Counts, Fail> {
    if runs == 0 {
        return Ok(Counts::default());
    }
    let script = repo_root().join("firmware-sim/fuzz.sh");
    match run_status(
        Command::new(&script).arg(runs.to_string()),
        "firmware fuzzing",
    ) {
        Ok(()) => Ok(Counts {
            passed: 1,
            ..Counts::default()
        }),
        Err(e) => {
            eprintln!("xtask: {e}");
            Ok(Counts {
                failed: 1,
                ..Counts::default()
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::Scale;

    #[test]
    fn soak_conf_is_read() {
        let s = Scale::parse(
            "# comment\nSOAK_SUITES=handoff,hnic\nSOAK_TIMEOUT_FACTOR=20  # why\n\
             SOAK_FUZZ_RUNS=50000000\nSOAK_FIRMWARE_SEEDS=7\nHANDOFF_RESTORE_CYCLE_MIN=10000\n",
        )
        .unwrap();
        assert_eq!(s.suites, "handoff,hnic");
        assert_eq!(s.timeout_factor, 20);
        assert_eq!(s.fuzz_runs, 50_000_000);
        assert_eq!(s.firmware_seeds, 7);
        assert_eq!(
            s.knobs.get("HANDOFF_RESTORE_CYCLE_MIN").map(String::as_str),
            Some("10000")
        );
        assert!(Scale::parse("FOO=1\n").is_err());
        assert!(Scale::parse("HANDOFF_X\n").is_err());
        assert!(Scale::parse("SOAK_FUZZ_RUNS=lots\n").is_err());
    }

    #[test]
    fn the_repository_soak_conf_parses() {
        let s = Scale::load().unwrap();
        assert!(
            !s.suites.is_empty()
                && s.timeout_factor > 1
                && s.fuzz_runs > 0
                && s.firmware_seeds > 0
                && !s.knobs.is_empty()
        );
    }
}
