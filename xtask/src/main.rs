//! xtask: the tcp-handoff build and test driver.
//!
//! `make` calls it; it can also be run directly:
//!
//! ```text
//! cargo run -p xtask -- kernel [--variant default|debug]   # writes build/kdir-<variant>
//! cargo run -p xtask -- vm --mode check|demo|bench --suites a,b [--timeout S]
//! cargo run -p xtask -- check [--suites a,b]
//! cargo run -p xtask -- soak [--suites a,b]                # SOAK_PART=vm|fuzz|all
//! ```
//!
//! Documentation/build.rst explains the pipeline, the cache and the variables.

mod kernel;
mod soak;
mod tap;
mod util;
mod vm;

use std::process::ExitCode;

use util::Fail;

fn usage() -> Fail {
    Fail::new(
        "usage: xtask kernel [--variant V] | vm --mode M [--suites S] [--timeout SECS] | \
         check [--suites S] | soak [--suites S]",
    )
}

/// Value of `--name value` in `args`, if present.
fn opt(args: &[String], name: &str) -> Option<String> {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
}

fn run(args: &[String]) -> Result<(), Fail> {
    let variant = opt(args, "--variant")
        .or_else(|| std::env::var("VARIANT").ok())
        .unwrap_or_else(|| "default".into());
    let suites = opt(args, "--suites")
        .or_else(|| std::env::var("SUITES").ok())
        .unwrap_or_default();
    match args.first().map(String::as_str) {
        Some("kernel") => {
            // Records where the cached tree is, for the Makefile's module build.
            let k = kernel::ensure(&variant)?;
            let record = util::repo_root().join(format!("build/kdir-{variant}"));
            std::fs::create_dir_all(util::repo_root().join("build"))?;
            std::fs::write(&record, format!("{}\n", k.build_dir.display()))?;
            Ok(())
        }
        Some("vm") => {
            let mode = opt(args, "--mode").unwrap_or_else(|| "check".into());
            let timeout = opt(args, "--timeout")
                .map(|t| t.parse().map_err(|_| usage()))
                .transpose()?;
            let k = kernel::ensure(&variant)?;
            let (counts, timing) = vm::run(&k, &vm::Job::new(&mode, &suites, timeout)?);
            if mode == "check" {
                if let Ok(c) = &counts {
                    c.print_summary("vm");
                }
                timing.print_table();
            }
            counts?.into_result()
        }
        Some("check") => {
            let mut counts = tap::Counts::default();
            let cargo_started = std::time::Instant::now();
            counts.add(&util::cargo_tests()?);
            let cargo_secs = cargo_started.elapsed().as_secs();
            let k = kernel::ensure(&variant)?;
            let mut timing = vm_suites(&k, &vm::Job::new("check", &suites, None)?, &mut counts);
            timing.cargo_secs = Some(cargo_secs);
            timing.print_table();
            counts.print_summary("check");
            counts.into_result()
        }
        Some("soak") => {
            let scale = soak::Scale::load()?;
            scale.export();
            let part = std::env::var("SOAK_PART").unwrap_or_else(|_| "all".into());
            let (vm_part, fuzz_part) = match part.as_str() {
                "all" => (true, true),
                "vm" => (true, false),
                "fuzz" => (false, true),
                p => return Err(Fail::new(format!("SOAK_PART={p}: not vm, fuzz or all"))),
            };
            let suites = if suites.is_empty() {
                scale.suites.clone()
            } else {
                suites
            };
            let mut counts = tap::Counts::default();
            let mut timing = tap::Timing::default();
            if vm_part {
                let k = kernel::ensure(&variant)?;
                let job = vm::Job::new("check", &suites, None)?.scaled(scale.timeout_factor);
                timing = vm_suites(&k, &job, &mut counts);
            }
            if fuzz_part {
                let started = std::time::Instant::now();
                counts.add(&soak::firmware_seeds(scale.firmware_seeds)?);
                println!(
                    "time: {:>6} s    firmware interop soak",
                    started.elapsed().as_secs()
                );
                let started = std::time::Instant::now();
                counts.add(&soak::fuzz(scale.fuzz_runs)?);
                println!(
                    "time: {:>6} s    firmware fuzzing",
                    started.elapsed().as_secs()
                );
            }
            if vm_part {
                timing.print_table();
            }
            counts.print_summary("soak");
            counts.into_result()
        }
        _ => Err(usage()),
    }
}

/// Runs a check job's VM suites and adds what they reported to `counts`
/// (a VM run that failed as a whole counts as one failure).
fn vm_suites(k: &kernel::Kernel, job: &vm::Job, counts: &mut tap::Counts) -> tap::Timing {
    let (vm_counts, timing) = vm::run(k, job);
    match vm_counts {
        Ok(c) => {
            c.print_summary("vm");
            counts.add(&c);
        }
        Err(e) => {
            eprintln!("xtask: {e}");
            counts.failed += 1;
        }
    }
    timing
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("xtask: {e}");
            ExitCode::FAILURE
        }
    }
}
