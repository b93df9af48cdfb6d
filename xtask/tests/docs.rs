//! Documentation/*.rst builds without a warning: every file goes through
//! docutils (the reStructuredText reference parser, which Sphinx uses)
//! with warnings reported, and any report fails the test.

use std::path::Path;
use std::process::Command;

const CHECK: &str = r#"
import io, sys, docutils.core
bad = 0
for p in sys.argv[1:]:
    err = io.StringIO()
    docutils.core.publish_doctree(open(p).read(), source_path=p,
        settings_overrides={"warning_stream": err, "report_level": 2, "halt_level": 5})
    if err.getvalue():
        bad = 1
        sys.stdout.write(err.getvalue())
sys.exit(bad)
"#;

#[test]
fn documentation_builds_without_warnings() {
    let docs = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .join("Documentation");
    let mut files: Vec<_> = std::fs::read_dir(&docs)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "rst"))
        .collect();
    files.sort();
    assert!(
        files.len() >= 5,
        "found only {} .rst files in {}",
        files.len(),
        docs.display()
    );
    let out = Command::new("python3")
        .arg("-c")
        .arg(CHECK)
        .args(&files)
        .output()
        .expect("python3 (scripts/deps.sh installs it, with docutils)");
    assert!(
        out.status.success(),
        "reStructuredText warnings:\n{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}
