//! The in-guest kselftest runner (xtask/guest/run_selftests.sh), exercised
//! on the host against throwaway suites: timeouts, skips, failures and the
//! counting the VM job relies on.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::Command;

fn runner() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("guest/run_selftests.sh")
}

/// A fake checkout with one suite holding `progs` (name, script body).
fn fake_repo(tag: &str, timeout: u32, progs: &[(&str, &str)]) -> PathBuf {
    let repo = std::env::temp_dir().join(format!("xtask-runner-{tag}-{}", std::process::id()));
    let suite = repo.join("selftests/s");
    let _ = fs::remove_dir_all(&repo);
    fs::create_dir_all(&suite).unwrap();
    let names: Vec<&str> = progs.iter().map(|p| p.0).collect();
    fs::write(
        suite.join("Makefile"),
        format!("TEST_PROGS := {}\n", names.join(" ")),
    )
    .unwrap();
    fs::write(suite.join("settings"), format!("timeout={timeout}\n")).unwrap();
    for (name, body) in progs {
        let p = suite.join(name);
        fs::write(&p, format!("#!/bin/bash\n{body}\n")).unwrap();
        Command::new("chmod").arg("+x").arg(&p).status().unwrap();
    }
    repo
}

/// The runner's output with each program's wall time, `(12.3 s)`, checked
/// for shape and replaced by `(T s)`.
fn run(repo: &Path) -> String {
    let out = Command::new("bash")
        .arg(runner())
        .arg("s")
        .env("REPO", repo)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    text.lines().map(|l| without_time(l) + "\n").collect()
}

fn without_time(line: &str) -> String {
    if !(line.starts_with("ok ") || line.starts_with("not ok ")) {
        return line.to_string();
    }
    let open = line
        .find(" (")
        .unwrap_or_else(|| panic!("no time in {line:?}"));
    let close = open
        + line[open..]
            .find(" s)")
            .unwrap_or_else(|| panic!("no time in {line:?}"));
    let secs = &line[open + 2..close];
    let (whole, tenth) = secs
        .split_once('.')
        .unwrap_or_else(|| panic!("time {secs:?} in {line:?}"));
    assert!(
        whole.parse::<u32>().is_ok() && tenth.len() == 1 && tenth.parse::<u32>().is_ok(),
        "{line:?}"
    );
    format!("{} (T s){}", &line[..open], &line[close + 3..])
}

#[test]
fn hanging_test_is_killed_reported_and_the_run_continues() {
    let repo = fake_repo(
        "timeout",
        1,
        &[("hang.sh", "sleep 30"), ("after.sh", "echo 'ok 1 ran'")],
    );
    let started = std::time::Instant::now();
    let out = run(&repo);
    assert!(
        started.elapsed().as_secs() < 20,
        "runner did not kill the hung test"
    );
    assert!(
        out.contains("not ok 1 selftests: s: hang.sh (T s) # TIMEOUT 1 seconds"),
        "{out}"
    );
    assert!(out.contains("ok 2 selftests: s: after.sh (T s)"), "{out}");
    assert!(out.starts_with("TAP version 13\n1..2\n"), "{out}");
    let _ = fs::remove_dir_all(repo);
}

#[test]
fn skip_fail_and_nested_output() {
    let repo = fake_repo(
        "mixed",
        10,
        &[
            ("skip.sh", "exit 4"),
            ("fail.sh", "echo 'not ok 1 broken'; exit 1"),
            ("pass.sh", "echo 'ok 1 fine'"),
        ],
    );
    let out = run(&repo);
    assert!(
        out.contains("ok 1 selftests: s: skip.sh (T s) # SKIP"),
        "{out}"
    );
    assert!(
        out.contains("# not ok 1 broken\nnot ok 2 selftests: s: fail.sh (T s) # exit=1"),
        "{out}"
    );
    assert!(
        out.contains("# ok 1 fine\nok 3 selftests: s: pass.sh (T s)"),
        "{out}"
    );
    let _ = fs::remove_dir_all(repo);
}

#[test]
fn each_result_carries_the_programs_wall_time() {
    let repo = fake_repo("time", 10, &[("nap.sh", "sleep 1.2")]);
    let out = Command::new("bash")
        .arg(runner())
        .arg("s")
        .env("REPO", &repo)
        .output()
        .unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    let line = text
        .lines()
        .find(|l| l.starts_with("ok 1 "))
        .unwrap_or_else(|| panic!("{text}"));
    let secs: f64 = line
        .strip_prefix("ok 1 selftests: s: nap.sh (")
        .and_then(|r| r.strip_suffix(" s)"))
        .and_then(|t| t.parse().ok())
        .unwrap_or_else(|| panic!("{line}"));
    assert!((1.2..5.0).contains(&secs), "{line}");
    let _ = fs::remove_dir_all(repo);
}

#[test]
fn a_program_can_have_its_own_timeout() {
    let repo = fake_repo(
        "own-timeout",
        30,
        &[("slow.sh", "sleep 30"), ("fast.sh", "echo 'ok 1 quick'")],
    );
    let settings = repo.join("selftests/s/settings");
    fs::write(&settings, "timeout=30\ntimeout.slow.sh=1\n").unwrap();
    let started = std::time::Instant::now();
    let out = run(&repo);
    assert!(
        started.elapsed().as_secs() < 20,
        "the program's own timeout was not applied"
    );
    assert!(
        out.contains("not ok 1 selftests: s: slow.sh (T s) # TIMEOUT 1 seconds"),
        "{out}"
    );
    assert!(out.contains("ok 2 selftests: s: fast.sh (T s)"), "{out}");
    let _ = fs::remove_dir_all(repo);
}
