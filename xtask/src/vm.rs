//! The QEMU test VM.
//!
//! The guest shares the host's root filesystem read-only over 9p (as virtme
//! does), so it runs the host's userland and this checkout's module, tools
//! and selftests in place. A second, writable 9p share is the run directory
//! under `build/vm/`, where the guest leaves TAP results and its dmesg.
//! The serial console is captured to `console.log` in the same directory.

use std::fs;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::kernel::Kernel;
use crate::tap::{failure_digest, Counts, Timing};
use crate::util::{cache_dir, output_line, repo_root, sha256_hex, Fail};

/// vCPUs: server CPU, NIC firmware CPU, client CPU.
const VCPUS: u32 = 3;
const MEMORY_MIB: u32 = 2048;
/// Boot plus shutdown allowance under TCG, on top of the tests' own timeouts.
const BOOT_ALLOWANCE: Duration = Duration::from_secs(240);

/// How much longer everything takes on the debug kernel (KASAN, lockdep,
/// kmemleak under TCG): test timeouts are scaled by this.
fn variant_scale() -> u64 {
    if std::env::var("VARIANT").as_deref() == Ok("debug") {
        5
    } else {
        1
    }
}

/// Console lines that mean the kernel is in trouble, whatever the tests say.
const KERNEL_TROUBLE: &[&str] = &[
    "Kernel panic",
    "BUG:",
    "WARNING:",
    "Oops",
    "general protection fault",
    "Call Trace:",
    "unreferenced object",
    "KASAN:",
    "UBSAN:",
    "INFO: task",
    "rcu_sched self-detected stall",
    "watchdog: BUG: soft lockup",
];

/// What one VM boot runs.
pub struct Job {
    mode: String,
    suites: Vec<String>,
    timeout: Duration,
    /// Multiplies every program's `settings` timeout in the guest.
    timeout_scale: u64,
}

impl Job {
    /// `mode` is check, demo, bench or probe. For check, `suites` is a comma
    /// list of selftest suites (empty: all); for bench, the benchmark name
    /// (`userspace-tools/bench/<name>.sh`).
    pub fn new(mode: &str, suites: &str, timeout: Option<u64>) -> Result<Job, Fail> {
        let (suites, budget) = match mode {
            "check" => {
                let all = all_suites()?;
                let suites: Vec<String> = if suites.is_empty() {
                    all.clone()
                } else {
                    suites.split(',').map(str::to_string).collect()
                };
                if let Some(bad) = suites.iter().find(|s| !all.contains(s)) {
                    return Err(Fail::new(format!(
                        "unknown suite '{bad}' (have: {})",
                        all.join(", ")
                    )));
                }
                let budget = suites
                    .iter()
                    .map(|s| suite_budget(s))
                    .sum::<Result<u64, Fail>>()?;
                (suites, budget)
            }
            "bench" => {
                let script = repo_root().join(format!("userspace-tools/bench/{suites}.sh"));
                if suites.is_empty() || !script.exists() {
                    return Err(Fail::new(format!(
                        "no benchmark '{suites}' ({} missing)",
                        script.display()
                    )));
                }
                (vec![suites.to_string()], 1800)
            }
            "demo" => (Vec::new(), 600),
            "probe" => (Vec::new(), 0),
            _ => return Err(Fail::new(format!("unknown VM mode '{mode}'"))),
        };
        let scale = variant_scale();
        let timeout =
            Duration::from_secs(timeout.unwrap_or(budget * scale)) + BOOT_ALLOWANCE * scale as u32;
        Ok(Job {
            mode: mode.into(),
            suites,
            timeout,
            timeout_scale: scale,
        })
    }

    /// The same job with every timeout `factor` times longer (the stress
    /// scale of `make soak` runs the same programs longer).
    pub fn scaled(mut self, factor: u64) -> Job {
        let boot = BOOT_ALLOWANCE * self.timeout_scale as u32;
        self.timeout = (self.timeout - boot) * factor as u32 + boot;
        self.timeout_scale *= factor;
        self
    }
}

/// Suites are the directories of selftests/ that have a kselftest Makefile.
fn all_suites() -> Result<Vec<String>, Fail> {
    let mut v = Vec::new();
    for e in fs::read_dir(repo_root().join("selftests"))? {
        let e = e?;
        if e.path().join("Makefile").exists() {
            v.push(e.file_name().to_string_lossy().into_owned());
        }
    }
    v.sort();
    Ok(v)
}

/// Worst-case seconds a suite may take: the sum of its programs' timeouts.
fn suite_budget(suite: &str) -> Result<u64, Fail> {
    let dir = repo_root().join("selftests").join(suite);
    let settings = fs::read_to_string(dir.join("settings")).unwrap_or_default();
    let makefile = fs::read_to_string(dir.join("Makefile"))?;
    let progs: Vec<&str> = makefile
        .lines()
        .filter_map(|l| {
            l.split_once(":=")
                .filter(|(k, _)| k.trim() == "TEST_PROGS")
                .map(|(_, v)| v)
        })
        .flat_map(str::split_whitespace)
        .collect();
    Ok(progs
        .iter()
        .map(|p| program_timeout(&settings, p))
        .sum::<u64>()
        .max(program_timeout(&settings, "")))
}

/// A program's timeout in a suite's `settings`: its own
/// `timeout.PROGRAM=`, else the suite's `timeout=`, else kselftest's 45 s.
fn program_timeout(settings: &str, program: &str) -> u64 {
    let value = |key: &str| {
        settings
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|v| v.trim().parse().ok())
    };
    value(&format!("timeout.{program}="))
        .or_else(|| value("timeout="))
        .unwrap_or(45)
}

/// Boots the VM for `job`; returns the test counts it reported and where
/// the time went (whatever the outcome: a run that hung needs it most).
pub fn run(kernel: &Kernel, job: &Job) -> (Result<Counts, Fail>, Timing) {
    let mut timing = Timing::default();
    let result = accelerator(kernel).and_then(|accel| {
        let (dir, outcome, guest_secs) = boot(kernel, job, &accel)?;
        timing.guest_secs = Some(guest_secs);
        let tap = fs::read_to_string(dir.join("tap.txt")).unwrap_or_default();
        timing.programs = Timing::programs_from_kselftest(&tap);
        outcome_of(job, &dir, outcome, &tap)
    });
    (result, timing)
}

/// What a finished boot's run directory says of `job`.
fn outcome_of(job: &Job, dir: &Path, outcome: Option<String>, tap: &str) -> Result<Counts, Fail> {
    let console = dir.join("console.log");
    if let Some(trouble) = outcome {
        return Err(trouble_report(&console, &trouble));
    }
    let dmesg = fs::read_to_string(dir.join("dmesg.txt")).unwrap_or_default();
    let console_text = fs::read_to_string(&console).unwrap_or_default();
    let trouble = first_trouble(&dmesg).or_else(|| first_trouble(&console_text));
    if !dir.join("done").exists() {
        let why = match trouble {
            Some(line) => format!("the guest died before finishing its job: {line}"),
            None => "the guest stopped before finishing its job".to_string(),
        };
        return Err(trouble_report(&console, &why));
    }
    if let Some(line) = trouble {
        return Err(trouble_report(
            &console,
            &format!("kernel reported: {line}"),
        ));
    }
    if job.mode == "demo" {
        return Ok(Counts {
            passed: 1,
            ..Counts::default()
        });
    }
    if job.mode == "bench" {
        let out = fs::read_to_string(dir.join("bench.txt")).unwrap_or_default();
        let figures: Vec<&str> = out.lines().filter(|l| l.starts_with("bench ")).collect();
        if figures.is_empty() || !dir.join("bench.ok").exists() {
            return Err(trouble_report(
                &console,
                "the benchmark failed or printed no figures",
            ));
        }
        for f in &figures {
            println!("{f}");
        }
        return Ok(Counts {
            passed: 1,
            ..Counts::default()
        });
    }
    let counts = Counts::from_kselftest(tap);
    eprintln!("vm: results in {}", dir.display());
    for line in failure_digest(tap) {
        println!("vm: {line}");
    }
    if counts.passed + counts.failed == 0 {
        // A VM job that ran nothing is a broken runner, never a pass.
        return Err(trouble_report(&console, "no VM test ran (see tap.txt)"));
    }
    Ok(counts)
}

/// The first kernel-trouble line; panics first, since a panic's own
/// backtrace lines come before it in the log.
fn first_trouble(text: &str) -> Option<&str> {
    let mut lines = text.lines();
    lines
        .clone()
        .find(|l| l.contains("Kernel panic"))
        .or_else(|| lines.find(|l| KERNEL_TROUBLE.iter().any(|p| l.contains(p))))
}

fn trouble_report(console: &Path, what: &str) -> Fail {
    let text = fs::read_to_string(console).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    let tail = lines[lines.len().saturating_sub(50)..].join("\n");
    // The digest comes last: a CI excerpt keeps only the end of the output,
    // and the first report (not the panic it led to) names the culprit.
    Fail::new(format!(
        "VM run failed: {what}\n--- last 50 console lines ---\n{tail}\n--- full console log: {} ---\n{}",
        console.display(),
        oops_digest(&text)
    ))
}

/// The first kernel report in `text`, condensed to a few lines: its
/// headline, RIP and the call trace's function names, innermost first.
fn oops_digest(text: &str) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| {
        KERNEL_TROUBLE.iter().any(|p| l.contains(p))
            && !l.contains("Call Trace:")
            && !l.contains("Kernel panic")
    });
    let Some(start) = start else {
        return "--- no kernel report found in the console log ---".to_string();
    };
    let mut out = vec![format!(
        "--- first kernel report ---\n{}",
        strip_time(lines[start])
    )];
    let (mut frames, mut guessed) = (Vec::new(), Vec::new());
    for l in lines[start + 1..].iter().map(|l| strip_time(l)) {
        if l.starts_with("RIP:")
            || l.contains("BUG:")
            || l.contains("stack guard")
            || l.contains("overflow")
        {
            out.push(l.to_string());
        } else if let Some(frame) = trace_frame(l) {
            frames.push(frame);
        } else if let Some(frame) = l.trim().strip_prefix("? ").and_then(trace_frame) {
            // An overflowed stack has only unreliable frames; they still
            // show what recursed.
            guessed.push(frame);
        } else if l.starts_with("---[ end trace") {
            break;
        }
    }
    if frames.is_empty() {
        frames = guessed.iter().map(|f| format!("?{f}")).collect();
    }
    // Runs of one frame (recursion) shown once with a count.
    let mut runs: Vec<(String, usize)> = Vec::new();
    for f in frames {
        match runs.last_mut() {
            Some((last, n)) if *last == f => *n += 1,
            _ => runs.push((f, 1)),
        }
    }
    let shown: Vec<String> = runs
        .into_iter()
        .map(|(f, n)| if n > 1 { format!("{f} x{n}") } else { f })
        .collect();
    for chunk in shown.chunks(8).take(4) {
        out.push(format!("trace: {}", chunk.join(" < ")));
    }
    out.join("\n")
}

/// `[   80.7] text` -> `text`.
fn strip_time(line: &str) -> &str {
    match (line.starts_with('['), line.find("] ")) {
        (true, Some(i)) => line[i + 2..].trim_start(),
        _ => line.trim_start(),
    }
}

/// ` ? foo+0x12/0x60 [mod]` -> `foo` (unreliable `?` frames are skipped).
fn trace_frame(line: &str) -> Option<String> {
    let l = line.trim();
    if l.starts_with('?') {
        return None;
    }
    let (func, rest) = l.split_once("+0x")?;
    if func.contains(' ') || !rest.contains("/0x") {
        return None;
    }
    Some(func.to_string())
}

/// `kvm` only when a probe boot has proven it works here, else `tcg`.
fn accelerator(kernel: &Kernel) -> Result<String, Fail> {
    if std::env::var("HANDOFF_ACCEL").as_deref() == Ok("tcg") {
        return Ok("tcg".into());
    }
    let usable = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open("/dev/kvm");
    if let Err(e) = usable {
        eprintln!("vm: /dev/kvm unusable ({e}); using TCG");
        return Ok("tcg".into());
    }
    let qemu = output_line("qemu-system-x86_64", &["--version"])?;
    let key = sha256_hex(format!("{qemu}\n{}", kernel.bzimage().display()).as_bytes())?;
    let verdict_file = cache_dir().join(format!("kvm-probe-{}", &key[..16]));
    let verdict = match fs::read_to_string(&verdict_file) {
        Ok(v) => v.trim().to_string(),
        Err(_) => {
            let probe = Job {
                mode: "probe".into(),
                suites: Vec::new(),
                timeout: Duration::from_secs(60),
                timeout_scale: 1,
            };
            let ok = matches!(boot(kernel, &probe, "kvm"), Ok((dir, None, _)) if dir.join("done").exists());
            let v = if ok { "kvm" } else { "tcg" };
            fs::write(&verdict_file, v)?;
            v.to_string()
        }
    };
    if verdict != "kvm" {
        eprintln!(
            "vm: KVM did not boot a guest here (probe cached in {}); using TCG",
            verdict_file.display()
        );
    }
    Ok(verdict)
}

/// A fresh run directory under build/vm/, with build/vm/last pointing at it.
fn run_dir(mode: &str) -> Result<PathBuf, Fail> {
    let base = repo_root().join("build/vm");
    fs::create_dir_all(&base)?;
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let dir = base.join(format!("{mode}-{stamp}-{}", std::process::id()));
    fs::create_dir_all(&dir)?;
    let last = base.join(format!("last-{mode}"));
    let _ = fs::remove_file(&last);
    let _ = std::os::unix::fs::symlink(&dir, &last);
    Ok(dir)
}

/// The selftests' scale knobs (`HANDOFF_*` in the host's environment, e.g.
/// `HANDOFF_RESTORE_CYCLE_CONNS=256`) as `export` lines for the guest's
/// job file, single-quoted so that no value is run as shell.
fn selftest_knobs(vars: impl Iterator<Item = (String, String)>) -> String {
    let mut knobs: Vec<(String, String)> = vars
        .filter(|(name, _)| {
            name.starts_with("HANDOFF_")
                && name != "HANDOFF_ACCEL"
                && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
        })
        .collect();
    knobs.sort();
    knobs
        .iter()
        .map(|(name, value)| format!("export {name}='{}'\n", value.replace('\'', "'\\''")))
        .collect()
}

/// Boots once; returns the run directory, the reason it failed, if it did,
/// and the guest's seconds from boot to power-off.
fn boot(kernel: &Kernel, job: &Job, accel: &str) -> Result<(PathBuf, Option<String>, u64), Fail> {
    let dir = run_dir(&job.mode)?;
    let repo = repo_root();
    fs::write(
        dir.join("job.sh"),
        format!(
            "MODE={}\nSUITES=\"{}\"\nTESTS=\"{}\"\nREPO={}\nVCPUS={VCPUS}\nTIMEOUT_SCALE={}\n",
            job.mode,
            job.suites.join(" "),
            std::env::var("TESTS").unwrap_or_default().replace(',', " "),
            repo.display(),
            job.timeout_scale
        ) + &selftest_knobs(std::env::vars()),
    )?;
    let append = format!(
        "console=ttyS0 root=/dev/root rootfstype=9p \
         rootflags=trans=virtio,version=9p2000.L,access=any,msize=262144 ro \
         init={} panic=-1 printk.devkmsg=on",
        repo.join("xtask/guest/init.sh").display()
    );
    let mut cmd = Command::new("qemu-system-x86_64");
    cmd.args([
        "-machine",
        "q35",
        "-accel",
        accel,
        "-cpu",
        "max",
        "-nodefaults",
        "-no-reboot",
    ])
    .args(["-smp", &VCPUS.to_string(), "-m", &MEMORY_MIB.to_string()])
    .args(["-display", "none", "-serial", "stdio", "-nic", "none"])
    .arg("-kernel")
    .arg(kernel.bzimage())
    .args(["-append", &append])
    .args([
        "-fsdev",
        "local,id=root,path=/,security_model=none,readonly=on",
    ])
    .args(["-device", "virtio-9p-pci,fsdev=root,mount_tag=/dev/root"])
    .arg("-fsdev")
    .arg(format!(
        "local,id=results,path={},security_model=none",
        dir.display()
    ))
    .args(["-device", "virtio-9p-pci,fsdev=results,mount_tag=results"])
    .stdin(Stdio::null())
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    if job.mode != "probe" {
        eprintln!(
            "vm: booting {} vCPUs ({accel}), job '{}' [{}], log {}",
            VCPUS,
            job.mode,
            job.suites.join(","),
            dir.display()
        );
    }
    let started = Instant::now();
    let mut child = cmd.spawn().map_err(|e| {
        Fail::new(format!(
            "cannot start qemu-system-x86_64: {e} (run scripts/deps.sh)"
        ))
    })?;
    let outcome = pump_console(&mut child, &dir, job, started)?;
    let guest_secs = started.elapsed().as_secs();
    if job.mode != "probe" {
        eprintln!("vm: guest ran {guest_secs} s");
    }
    Ok((dir, outcome, guest_secs))
}

/// Copies the serial console to console.log (and the terminal) until the
/// guest powers off or the job's timeout expires.
fn pump_console(
    child: &mut Child,
    dir: &Path,
    job: &Job,
    started: Instant,
) -> Result<Option<String>, Fail> {
    let mut log = fs::File::create(dir.join("console.log"))?;
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = mpsc::channel::<String>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let deadline = started + job.timeout;
    let mut outcome = None;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        match rx.recv_timeout(left) {
            Ok(line) => {
                writeln!(log, "{line}")?;
                echo(&job.mode, &line, started);
            }
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = child.kill();
                outcome = Some(format!(
                    "the guest hung: no power-off within {} s",
                    job.timeout.as_secs()
                ));
                break;
            }
        }
    }
    let status = child.wait()?;
    let _ = reader.join();
    let mut err = String::new();
    if let Some(mut e) = child.stderr.take() {
        use std::io::Read;
        let _ = e.read_to_string(&mut err);
    }
    if outcome.is_none() && !status.success() {
        outcome = Some(format!("qemu exited with {status}: {}", err.trim()));
    }
    Ok(outcome)
}

/// What the person at the terminal sees: test output and kernel trouble,
/// not the boot chatter (that stays in console.log). The demo shows it all.
fn echo(mode: &str, line: &str, started: Instant) {
    match mode {
        "probe" => {}
        "demo" => println!("{line}"),
        "bench" => {
            if !line.starts_with('[') && !line.starts_with("bench ") {
                eprintln!("{line}");
            }
        }
        _ => {
            let kernel_line = line.starts_with('[');
            if !kernel_line || KERNEL_TROUBLE.iter().any(|p| line.contains(p)) {
                println!("{line}");
            }
            if line.contains("handoff-guest: first test starting") {
                eprintln!("vm: boot to first test: {} s", started.elapsed().as_secs());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::first_trouble;

    #[test]
    fn kernel_trouble_is_recognised() {
        assert_eq!(first_trouble("[ 1.0] ok\n[ 2.0] hello\n"), None);
        let warn = "[ 1.0] x\n[ 2.0] WARNING: CPU: 1 PID: 7 at net/core/dev.c:1 f+0x1/0x2\n";
        assert!(first_trouble(warn).unwrap().contains("WARNING: CPU"));
        let panic = "[ 1.0] BUG: kernel NULL pointer dereference\n[ 2.0] Kernel panic - not syncing: Oops\n";
        assert!(first_trouble(panic).unwrap().contains("Kernel panic"));
        assert!(first_trouble("unreferenced object 0xffff888 (size 64):").is_some());
    }

    #[test]
    fn oops_digest_names_the_culprit() {
        let log = "[ 1.0] boot\n[ 2.0] BUG: stack guard page was hit at 0xffa0 (stack is 0xffa1..0xffa2)\n\
                   [ 2.0] RIP: 0010:_raw_spin_lock_irqsave+0x12/0x60\n[ 2.0] Call Trace:\n\
                   [ 2.0]  <IRQ>\n[ 2.0]  ? show_regs+0x1/0x2\n[ 2.0]  try_to_wake_up+0x4/0x9\n\
                   [ 2.0]  hnic_start_xmit+0x1/0x2 [tcp_handoff]\n[ 2.0] ---[ end trace 0 ]---\n\
                   [ 3.0] Kernel panic - not syncing: Fatal exception in interrupt\n";
        let d = super::oops_digest(log);
        assert!(d.contains("BUG: stack guard page"), "{d}");
        assert!(d.contains("RIP: 0010:_raw_spin_lock_irqsave"), "{d}");
        assert!(d.contains("trace: try_to_wake_up < hnic_start_xmit"), "{d}");
        assert!(!d.contains("show_regs"), "{d}");
        assert!(super::oops_digest("[ 1.0] fine\n").contains("no kernel report"));
        let overflow = "[ 1.0] BUG: TASK stack guard page was hit at 0x1\n[ 1.0]  ? f+0x1/0x2\n\
                        [ 1.0]  ? g+0x1/0x2\n[ 1.0]  ? g+0x1/0x2\n[ 1.0]  ? do_syscall_64+0x4/0x9\n";
        let d = super::oops_digest(overflow);
        assert!(d.contains("trace: ?f < ?g x2 < ?do_syscall_64"), "{d}");
    }

    #[test]
    fn program_timeouts_come_from_settings() {
        let s = "timeout=60\ntimeout.slow.sh=600\n";
        assert_eq!(super::program_timeout(s, "slow.sh"), 600);
        assert_eq!(super::program_timeout(s, "fast.sh"), 60);
        assert_eq!(super::program_timeout("", "x.sh"), 45);
    }

    #[test]
    fn selftest_knobs_reach_the_guest_quoted() {
        let vars = [
            ("PATH", "/bin"),
            ("HANDOFF_RESTORE_CYCLE_CONNS", "256"),
            ("HANDOFF_ACCEL", "tcg"),
            ("HANDOFF_X", "a'b $(reboot)"),
            ("HANDOFF_BAD-NAME", "1"),
        ]
        .map(|(n, v)| (n.to_string(), v.to_string()));
        assert_eq!(
            super::selftest_knobs(vars.into_iter()),
            "export HANDOFF_RESTORE_CYCLE_CONNS='256'\nexport HANDOFF_X='a'\\''b $(reboot)'\n"
        );
    }
}
