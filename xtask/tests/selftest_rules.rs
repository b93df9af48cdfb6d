//! Rules every script in selftests/ and userspace-tools/bench/ keeps
//! (Documentation/build.rst, "Test tiers"):
//!
//! - Tests and benchmarks wait for a state, never for a time: no fixed
//!   sleep longer than 100 ms, shell or embedded Python, and no `hxfer
//!   --idle SECS` (`--idle-until FILE` waits for the test instead). A line
//!   that measures what happens over an interval says so with the words
//!   "measurement window".
//! - A background command in a namespace starts with `bg_in_ns`, whose
//!   pid is the command's own: `in_ns ... &` gives a subshell's pid, and
//!   a test that kills it leaves the command running (its connections
//!   then outlive the test and fail the ones after it).
//! - No program or subtest skips itself: `make check` builds and installs
//!   everything they need, so a missing tool or feature is a failure
//!   (`require` in selftests/lib.sh), never a pass in disguise.

use std::fs;
use std::path::{Path, PathBuf};

const LONGEST_SLEEP: f64 = 0.1;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .to_path_buf()
}

fn scripts(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            scripts(&p, out);
        } else if p.extension().is_some_and(|x| x == "sh") {
            out.push(p);
        }
    }
}

/// The number right after `word` in `line`, if there is one.
fn number_after(line: &str, word: &str) -> Option<f64> {
    let rest = &line[line.find(word)? + word.len()..];
    let n: String = rest
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    n.parse().ok()
}

/// The line, trimmed, unless it is a comment: the rules judge code only.
fn code(line: &str) -> Option<&str> {
    Some(line.trim()).filter(|c| !c.starts_with('#'))
}

/// What is wrong with one line, if anything.
fn fixed_wait(line: &str) -> Option<String> {
    if code(line).is_none() || line.contains("measurement window") {
        return None;
    }
    for word in ["sleep ", "time.sleep("] {
        if let Some(secs) = number_after(line, word).filter(|s| *s > LONGEST_SLEEP) {
            return Some(format!("a fixed {secs} s sleep"));
        }
    }
    number_after(line, "--idle ")
        .filter(|s| *s > 0.0)
        .map(|s| format!("hxfer --idle {s} (use --idle-until)"))
}

/// A line that skips a program or a subtest, if it is one.
fn self_skip(line: &str) -> Option<String> {
    code(line)?;
    ["ksft_skip", "exit 4", "# SKIP", "tap_skip"]
        .iter()
        .find(|w| line.contains(*w))
        .map(|w| format!("skips itself ({w}; fail instead)"))
}

/// A backgrounded `in_ns` call, if the (logical) line is one.
fn in_ns_backgrounded(line: &str) -> Option<String> {
    let code = code(line)?;
    (code.contains("in_ns ") && code.ends_with('&') && !code.ends_with("&&"))
        .then(|| "in_ns in the background (use bg_in_ns: $! would be a subshell's)".into())
}

/// The logical lines of a script (backslash continuations joined), each
/// with the number of its first physical line.
fn logical_lines(text: &str) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut cur: Option<(usize, String)> = None;
    for (i, line) in text.lines().enumerate() {
        let (n, mut acc) = cur.take().unwrap_or((i + 1, String::new()));
        match line.strip_suffix('\\') {
            Some(head) => {
                acc.push_str(head);
                acc.push(' ');
                cur = Some((n, acc));
            }
            None => {
                acc.push_str(line);
                out.push((n, acc));
            }
        }
    }
    out.extend(cur);
    out
}

/// Every logical line of every script for which `rule` says what is wrong.
fn violations(rule: fn(&str) -> Option<String>) -> Vec<String> {
    let root = repo();
    let mut files = Vec::new();
    scripts(&root.join("selftests"), &mut files);
    scripts(&root.join("userspace-tools/bench"), &mut files);
    assert!(files.len() > 10, "found only {} scripts", files.len());
    let mut bad = Vec::new();
    for f in &files {
        for (n, line) in logical_lines(&fs::read_to_string(f).unwrap()) {
            if let Some(what) = rule(&line) {
                bad.push(format!(
                    "{}:{n}: {what}: {}",
                    f.strip_prefix(&root).unwrap().display(),
                    line.trim()
                ));
            }
        }
    }
    bad
}

#[test]
fn line_rules() {
    assert!(in_ns_backgrounded("\tin_ns \"$NS_SRV\" hxfer server --port 1 >out &").is_some());
    assert!(in_ns_backgrounded("\tbg_in_ns \"$NS_SRV\" hxfer server --port 1 >out").is_none());
    assert!(in_ns_backgrounded("\tin_ns \"$NS_SRV\" true &&").is_none());
    assert_eq!(
        logical_lines("a \\\n\tb &\nc\n"),
        vec![(1, "a  \tb &".to_string()), (3, "c".to_string())]
    );
    assert!(self_skip("\texit $ksft_skip").is_some());
    assert!(self_skip("\techo \"ok 3 x # SKIP no nginx\"").is_some());
    assert!(self_skip("\ttap_skip \"nginx\" \"not installed\"").is_some());
    assert!(self_skip("\texit $ksft_fail").is_none());
    assert!(self_skip("# programs never exit 4 here").is_none());
    assert!(fixed_wait("\tsleep 2").is_some());
    assert!(fixed_wait("\tsleep 0.5 && x").is_some());
    assert!(fixed_wait("            time.sleep(0.2)").is_some());
    assert!(fixed_wait("xfer --idle 3 --keepalive 1").is_some());
    assert!(fixed_wait("\tsleep 0.1").is_none());
    assert!(fixed_wait("\tsleep 0.05").is_none());
    assert!(fixed_wait("\tsleep \"$WAIT_POLL\"").is_none());
    assert!(fixed_wait("# the client sleeps 10 s").is_none());
    assert!(fixed_wait("sleep 2 # measurement window: idle NIC").is_none());
    assert!(fixed_wait("xfer --idle-until \"$go\"").is_none());
}

#[test]
fn tests_and_benchmarks_wait_for_states() {
    let bad = violations(fixed_wait);
    assert!(
        bad.is_empty(),
        "fixed waits (use wait_until/stays_true from selftests/lib.sh):\n{}",
        bad.join("\n")
    );
}

#[test]
fn background_commands_in_namespaces_keep_their_pid() {
    let bad = violations(in_ns_backgrounded);
    assert!(bad.is_empty(), "backgrounded in_ns:\n{}", bad.join("\n"));
}

#[test]
fn no_program_skips_itself() {
    let bad = violations(self_skip);
    assert!(
        bad.is_empty(),
        "self-skips (use require from selftests/lib.sh, or fail):\n{}",
        bad.join("\n")
    );
}
