//! hsysctl: one timed `write(2)` to a `net.handoff` sysctl, errno by name.
//!
//! ```text
//! hsysctl NAME VALUE [--parallel K] [--dir DIR]
//! ```
//!
//! Writes `VALUE\n` (as `echo` would) to `DIR/NAME` (default DIR:
//! `/proc/sys/net/handoff`, i.e. the namespace hsysctl runs in) with a
//! single `write(2)` on a fresh descriptor, and prints
//!
//! `hsysctl name=NAME result=OK|<errno name> ns=T`
//!
//! (T: nanoseconds the write took, open excluded). `--parallel K`: K threads
//! open the file, meet at a barrier, then write at once; one line each.
//! Meant for `net.handoff.restore` / `net.handoff.offload`, whose errors
//! (EINVAL, ENOENT, EALREADY) the tests tell apart. Exit status 0 when every
//! write succeeded, 1 when one failed, 2 on a usage error.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Barrier};
use std::time::Instant;

use userspace_tools::sock::{arg, arg_or, result_name};

const USAGE: &str = "usage: hsysctl NAME VALUE [--parallel K] [--dir DIR]
  one timed write of \"VALUE\\n\" to DIR/NAME (default /proc/sys/net/handoff);
  prints `hsysctl name=NAME result=OK|<errno name> ns=T` per writer";

fn write_once(path: &PathBuf, value: &str, barrier: &Barrier) -> (String, u128) {
    let mut f = match std::fs::OpenOptions::new().write(true).open(path) {
        Ok(f) => f,
        Err(e) => {
            barrier.wait();
            return (result_name(&Err(e)), 0);
        }
    };
    let line = format!("{value}\n");
    barrier.wait();
    let t0 = Instant::now();
    // One write(2): write_all could split a short write into a retry that
    // the kernel would parse as a second, partial value.
    let r = f.write(line.as_bytes()).and_then(|n| {
        if n == line.len() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "short write: {n} of {} bytes",
                line.len()
            )))
        }
    });
    let ns = t0.elapsed().as_nanos();
    (result_name(&r), ns)
}

fn main() -> ExitCode {
    let v: Vec<String> = std::env::args().skip(1).collect();
    if v.iter().any(|a| a == "--help" || a == "-h") {
        println!("{USAGE}");
        return ExitCode::SUCCESS;
    }
    let (Some(name), Some(value)) = (v.first().filter(|s| !s.starts_with("--")), v.get(1)) else {
        eprintln!("hsysctl: NAME and VALUE required\n{USAGE}");
        return ExitCode::from(2);
    };
    let k: usize = match arg_or(&v, "--parallel", 1) {
        Ok(k) if k > 0 => k,
        _ => {
            eprintln!("hsysctl: --parallel: a number > 0\n{USAGE}");
            return ExitCode::from(2);
        }
    };
    let path = PathBuf::from(arg(&v, "--dir").unwrap_or_else(|| "/proc/sys/net/handoff".into()))
        .join(name);
    let barrier = Arc::new(Barrier::new(k));
    let workers: Vec<_> = (0..k)
        .map(|_| {
            let (p, val, b) = (path.clone(), value.clone(), barrier.clone());
            std::thread::spawn(move || write_once(&p, &val, &b))
        })
        .collect();
    let mut ok = true;
    for w in workers {
        let (res, ns) = w.join().expect("writer panicked");
        ok &= res == "OK";
        println!("hsysctl name={name} result={res} ns={ns}");
    }
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}
