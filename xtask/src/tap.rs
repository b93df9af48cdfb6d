//! TAP 13 parsing and the `N passed, N failed` summary.

use crate::util::Fail;

/// Test outcome totals.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Counts {
    pub passed: u32,
    pub failed: u32,
    pub skipped: u32,
}

impl Counts {
    pub fn add(&mut self, other: &Counts) {
        self.passed += other.passed;
        self.failed += other.failed;
        self.skipped += other.skipped;
    }

    /// Totals from cargo's `test result: ok. 3 passed; 0 failed; 1 ignored` lines.
    pub fn from_cargo(output: &str) -> Counts {
        let mut c = Counts::default();
        for line in output.lines().filter(|l| l.starts_with("test result:")) {
            for part in line.split([';', '.']) {
                let mut words = part.split_whitespace().rev();
                let (Some(kind), Some(num)) = (words.next(), words.next()) else {
                    continue;
                };
                let Ok(n) = num.parse::<u32>() else { continue };
                match kind {
                    "passed" => c.passed += n,
                    "failed" => c.failed += n,
                    "ignored" => c.skipped += n,
                    _ => {}
                }
            }
        }
        c
    }

    /// Totals from kselftest runner output.
    ///
    /// Test programs print nested TAP (`# ok 1 ...` one level in); those
    /// subtests are what is counted. A program that failed without reporting
    /// a failing subtest (crash, timeout, bad exit) counts as one failure, a
    /// passing program with no subtests as one pass.
    pub fn from_kselftest(output: &str) -> Counts {
        let mut c = Counts::default();
        let mut sub = Counts::default();
        for line in output.lines() {
            let line = line.trim_end();
            if let Some(nested) = line.strip_prefix("# ") {
                match classify(nested) {
                    Some(Outcome::Pass) => sub.passed += 1,
                    Some(Outcome::Fail) => sub.failed += 1,
                    Some(Outcome::Skip) => sub.skipped += 1,
                    None => {}
                }
                continue;
            }
            let Some(top) = classify(line) else { continue };
            match top {
                Outcome::Fail if sub.failed == 0 => sub.failed = 1,
                Outcome::Pass if sub == Counts::default() => sub.passed = 1,
                Outcome::Skip if sub == Counts::default() => sub.skipped = 1,
                _ => {}
            }
            c.add(&sub);
            sub = Counts::default();
        }
        // Subtests of a program that never reported (the VM died under it).
        if sub != Counts::default() {
            sub.failed += 1;
            c.add(&sub);
        }
        c
    }

    /// Prints the summary line CI and people read.
    pub fn print_summary(&self, what: &str) {
        println!(
            "{what}: {} passed, {} failed, {} skipped",
            self.passed, self.failed, self.skipped
        );
    }

    pub fn into_result(self) -> Result<(), Fail> {
        if self.failed == 0 && self.passed > 0 {
            Ok(())
        } else if self.passed == 0 && self.failed == 0 {
            Err(Fail::new("no test ran"))
        } else {
            Err(Fail::new(format!("{} test(s) failed", self.failed)))
        }
    }
}

/// Diagnostic lines kept before each failure in [`failures`].
const DIGEST_CONTEXT: usize = 24;

/// One failed result in kselftest runner output.
#[derive(Debug, PartialEq)]
pub struct Failure {
    /// The result line, after the program it belongs to: `s: a.sh: not ok 3 z`.
    pub result: String,
    /// The diagnostic lines (`# # ...`) the program printed just before it.
    pub context: Vec<String>,
}

/// The failures in kselftest runner output, in order: each failing
/// subtest, and each failing program none of whose subtests failed (a
/// timeout, a crash).
pub fn failures(output: &str) -> Vec<Failure> {
    let mut found = Vec::new();
    let mut program = "";
    let mut context: Vec<&str> = Vec::new();
    let mut program_failed = false;
    let fail = |program: &str, line: &str, context: &mut Vec<&str>| Failure {
        result: format!("{program}: {line}"),
        context: context.drain(..).map(String::from).collect(),
    };
    for line in output.lines().map(str::trim_end) {
        if let Some(nested) = line.strip_prefix("# ") {
            if let Some(name) = nested.strip_prefix("selftests: ") {
                program = name;
                context.clear();
                program_failed = false;
                continue;
            }
            match classify(nested) {
                Some(Outcome::Fail) => {
                    found.push(fail(program, nested, &mut context));
                    program_failed = true;
                }
                Some(_) => context.clear(),
                None => {
                    if context.len() == DIGEST_CONTEXT {
                        context.remove(0);
                    }
                    context.push(nested);
                }
            }
            continue;
        }
        if classify(line) == Some(Outcome::Fail) && !program_failed {
            found.push(fail(program, line, &mut context));
        }
    }
    found
}

/// What a failed run prints so that the end of its log, all a CI excerpt
/// keeps, says what failed: every failed result by name, then the
/// diagnostics of the first (later failures are often its consequences).
pub fn failure_digest(output: &str) -> Vec<String> {
    let found = failures(output);
    let mut digest: Vec<String> = found
        .iter()
        .map(|f| format!("not ok: {}", f.result))
        .collect();
    if let Some(first) = found.first() {
        digest.push(format!("first failure: {}", first.result));
        digest.extend(first.context.iter().map(|c| format!("  {c}")));
    }
    digest
}

/// One test program's wall time, as the guest runner prints it on the
/// program's result line: `ok 3 selftests: handoff: basic.sh (42.1 s)`.
#[derive(Debug, Clone, PartialEq)]
pub struct ProgramTime {
    pub suite: String,
    pub program: String,
    pub secs: f64,
}

/// Where a run's time went: every program's wall time, the guest's total
/// (boot to power-off) and the cargo tests'.
#[derive(Debug, Default)]
pub struct Timing {
    pub programs: Vec<ProgramTime>,
    pub guest_secs: Option<u64>,
    pub cargo_secs: Option<u64>,
}

/// Programs listed by name in the timing table.
const SLOWEST_SHOWN: usize = 10;

impl Timing {
    /// The program times in kselftest runner output (top-level result lines).
    pub fn programs_from_kselftest(output: &str) -> Vec<ProgramTime> {
        output
            .lines()
            .filter_map(|l| program_time(l.trim_end()))
            .collect()
    }

    /// The table `make check` ends with: the slowest programs, each suite's
    /// total and the run's totals, every line starting `time:`.
    pub fn table(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut slowest: Vec<&ProgramTime> = self.programs.iter().collect();
        slowest.sort_by(|a, b| b.secs.total_cmp(&a.secs));
        out.push(format!(
            "time: slowest programs ({} of {}):",
            slowest.len().min(SLOWEST_SHOWN),
            slowest.len()
        ));
        for p in slowest.iter().take(SLOWEST_SHOWN) {
            out.push(format!(
                "time: {:>8.1} s  {}: {}",
                p.secs, p.suite, p.program
            ));
        }
        let mut suites: Vec<(&str, f64, usize)> = Vec::new();
        for p in &self.programs {
            match suites.iter_mut().find(|s| s.0 == p.suite) {
                Some(s) => {
                    s.1 += p.secs;
                    s.2 += 1;
                }
                None => suites.push((&p.suite, p.secs, 1)),
            }
        }
        for (suite, secs, n) in suites {
            out.push(format!("time: {secs:>8.1} s  suite {suite} ({n} programs)"));
        }
        let programs: f64 = self.programs.iter().map(|p| p.secs).sum();
        out.push(format!("time: {programs:>8.1} s  all VM programs"));
        if let Some(g) = self.guest_secs {
            out.push(format!("time: {g:>6} s    guest, boot to power-off"));
        }
        if let Some(c) = self.cargo_secs {
            out.push(format!("time: {c:>6} s    cargo tests"));
        }
        out
    }

    pub fn print_table(&self) {
        for line in self.table() {
            println!("{line}");
        }
    }
}

/// `ok 3 selftests: s: p.sh (42.1 s) # SKIP` -> suite s, program p.sh, 42.1.
fn program_time(line: &str) -> Option<ProgramTime> {
    classify(line)?;
    let (_, rest) = line.split_once("selftests: ")?;
    let rest = rest.split_once(" #").map_or(rest, |(r, _)| r);
    let (name, secs) = rest.rsplit_once(" (")?;
    let secs = secs.strip_suffix(" s)")?.parse().ok()?;
    let (suite, program) = name.split_once(": ")?;
    Some(ProgramTime {
        suite: suite.into(),
        program: program.into(),
        secs,
    })
}

#[derive(Debug, PartialEq)]
enum Outcome {
    Pass,
    Fail,
    Skip,
}

/// TAP result of one line, if it is a test line.
fn classify(line: &str) -> Option<Outcome> {
    let (ok, rest) = if let Some(r) = line.strip_prefix("not ok ") {
        (false, r)
    } else if let Some(r) = line.strip_prefix("ok ") {
        (true, r)
    } else {
        return None;
    };
    rest.split_whitespace().next()?.parse::<u32>().ok()?;
    let directive = rest
        .split_once('#')
        .map(|(_, d)| d.trim().to_ascii_uppercase());
    Some(match (ok, directive) {
        (_, Some(d)) if d.starts_with("SKIP") => Outcome::Skip,
        (true, _) => Outcome::Pass,
        (false, _) => Outcome::Fail,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn counts(passed: u32, failed: u32, skipped: u32) -> Counts {
        Counts {
            passed,
            failed,
            skipped,
        }
    }

    #[test]
    fn cargo_summary_lines_are_summed() {
        let out = "test result: ok. 3 passed; 0 failed; 1 ignored; 0 measured\n\
                   test result: FAILED. 2 passed; 1 failed; 0 ignored; 0 measured\n";
        assert_eq!(Counts::from_cargo(out), counts(5, 1, 1));
    }

    #[test]
    fn nested_subtests_are_counted() {
        let out = "TAP version 13\n1..2\n# selftests: s: a.sh\n# ok 1 x\n# not ok 2 y\n\
                   not ok 1 selftests: s: a.sh # exit=1\n# selftests: s: b.sh\n# ok 1 z\n\
                   ok 2 selftests: s: b.sh\n";
        assert_eq!(Counts::from_kselftest(out), counts(2, 1, 0));
    }

    #[test]
    fn failing_program_without_failing_subtest_counts_once() {
        let out = "# ok 1 a\n# ok 2 b\nnot ok 1 selftests: s: t.sh # TIMEOUT 10 seconds\n";
        assert_eq!(Counts::from_kselftest(out), counts(2, 1, 0));
    }

    #[test]
    fn skip_directive_and_bare_programs() {
        let out = "ok 1 selftests: s: a.sh # SKIP\nok 2 selftests: s: b.sh\n";
        assert_eq!(Counts::from_kselftest(out), counts(1, 0, 1));
    }

    #[test]
    fn unfinished_program_is_a_failure() {
        let out = "# ok 1 a\n# ok 2 b\n";
        assert_eq!(Counts::from_kselftest(out), counts(2, 1, 0));
    }

    #[test]
    fn digest_names_failing_subtests_with_their_diagnostics() {
        let out = "# selftests: s: a.sh\n# ok 1 x\n# # noise\n# ok 2 y\n# # saw 3\n# # wanted 4\n\
                   # not ok 3 z\n# ok 4 w\nnot ok 1 selftests: s: a.sh # exit=1\n\
                   # selftests: s: b.sh\n# ok 1 v\nok 2 selftests: s: b.sh\n";
        assert_eq!(
            failures(out),
            vec![Failure {
                result: "s: a.sh: not ok 3 z".into(),
                context: vec!["# saw 3".into(), "# wanted 4".into()]
            }]
        );
    }

    #[test]
    fn digest_names_a_program_that_failed_without_a_failing_subtest() {
        let out = "# selftests: s: t.sh\n# ok 1 a\n# # stuck here\n\
                   not ok 1 selftests: s: t.sh # TIMEOUT 10 seconds\n";
        assert_eq!(
            failures(out),
            vec![Failure {
                result: "s: t.sh: not ok 1 selftests: s: t.sh # TIMEOUT 10 seconds".into(),
                context: vec!["# stuck here".into()]
            }]
        );
        assert!(
            failure_digest("# selftests: s: a.sh\n# ok 1 a\nok 1 selftests: s: a.sh\n").is_empty()
        );
    }

    #[test]
    fn digest_lists_every_failure_then_the_first_ones_diagnostics() {
        let out = "# selftests: s: a.sh\n# # cause\n# not ok 1 x\n# # cascade\n# not ok 2 y\n\
                   not ok 1 selftests: s: a.sh # exit=1\n";
        assert_eq!(
            failure_digest(out),
            vec![
                "not ok: s: a.sh: not ok 1 x",
                "not ok: s: a.sh: not ok 2 y",
                "first failure: s: a.sh: not ok 1 x",
                "  # cause"
            ]
        );
    }

    #[test]
    fn program_times_are_read_from_result_lines() {
        let out = "# selftests: a: x.sh\n# ok 1 sub (0.5 s)\nok 1 selftests: a: x.sh (12.5 s)\n\
                   ok 2 selftests: a: y.sh (3.0 s) # SKIP\n\
                   not ok 3 selftests: b: z.sh (900.1 s) # TIMEOUT 900 seconds\n\
                   ok 4 selftests: b: old.sh\n";
        let t = Timing {
            programs: Timing::programs_from_kselftest(out),
            guest_secs: Some(1000),
            cargo_secs: Some(60),
        };
        let names: Vec<(&str, &str, f64)> = t
            .programs
            .iter()
            .map(|p| (p.suite.as_str(), p.program.as_str(), p.secs))
            .collect();
        assert_eq!(
            names,
            vec![
                ("a", "x.sh", 12.5),
                ("a", "y.sh", 3.0),
                ("b", "z.sh", 900.1)
            ]
        );
        let table = t.table();
        assert_eq!(table[0], "time: slowest programs (3 of 3):");
        assert_eq!(table[1], "time:    900.1 s  b: z.sh");
        assert_eq!(table[3], "time:      3.0 s  a: y.sh");
        assert!(
            table.contains(&"time:     15.5 s  suite a (2 programs)".to_string()),
            "{table:?}"
        );
        assert!(
            table.contains(&"time:    900.1 s  suite b (1 programs)".to_string()),
            "{table:?}"
        );
        assert!(
            table.contains(&"time:    915.6 s  all VM programs".to_string()),
            "{table:?}"
        );
        assert!(
            table.contains(&"time:   1000 s    guest, boot to power-off".to_string()),
            "{table:?}"
        );
        assert_eq!(table.last().unwrap(), "time:     60 s    cargo tests");
    }

    #[test]
    fn empty_run_is_not_success() {
        assert!(Counts::default().into_result().is_err());
        assert!(counts(1, 0, 0).into_result().is_ok());
        assert!(counts(1, 1, 0).into_result().is_err());
    }
}
