//! Bad input: one line on stderr, exit 2, nothing on stdout, never a panic.

use crate::common::*;

fn assert_usage_error(args: &[&str], needle: &str) {
    let r = portwho_run(args);
    assert_eq!(r.code, 2, "{args:?}: {}", r.stderr);
    assert_eq!(r.stdout, "", "{args:?}");
    assert_eq!(r.stderr.lines().count(), 1, "{args:?}: {}", r.stderr);
    assert!(r.stderr.starts_with("portwho: "), "{args:?}: {}", r.stderr);
    assert!(r.stderr.contains(needle), "{args:?}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"));
}

#[test]
fn malformed_targets() {
    for (arg, needle) in [
        ("70000", "port 70000 is out of range"),
        (":65536", "out of range"),
        ("", "it is empty"),
        (":", "the port is missing"),
        ("9000-8000", "runs backwards"),
        ("80-x", "not a port range"),
        ("::1:80", "needs brackets"),
        ("[::1", "not closed"),
        ("1.2.3:80", "not an IPv4 address"),
        ("80/sctp", "unknown protocol"),
        (":no-such-service-name", "unknown service name"),
        ("a b", "neither a port nor a service name"),
    ] {
        assert_usage_error(&[arg], needle);
        // The valid forms are named in every such error.
        assert_usage_error(&[arg], "expected PORT, :PORT, LOW-HIGH");
    }
}

#[test]
fn escape_sequences_in_bad_input_are_escaped() {
    let r = portwho_run(&[":\x1b]0;owned\x07"]);
    assert_eq!(r.code, 2);
    assert!(!r.stderr.contains('\x1b'), "{:?}", r.stderr);
    assert!(r.stderr.contains("\\x1b"));
}

#[test]
fn bad_options() {
    assert_usage_error(&["--no-such-flag"], "unexpected argument");
    assert_usage_error(&["-p", "abc"], "is not a process id");
    assert_usage_error(&["-tulpn"], "-p takes a PID");
    assert_usage_error(&["-l", "-a"], "cannot be used with");
    assert_usage_error(&["--json", "-q"], "cannot be used with");
    assert_usage_error(&["--color", "purple"], "invalid value");
    assert_usage_error(
        &["-U", "no-such-user-here"],
        "unknown user 'no-such-user-here'",
    );
}

#[test]
fn unreadable_system_is_exit_two() {
    assert_usage_error(
        &["--proc-root", "/nonexistent/proc"],
        "cannot read /nonexistent/proc",
    );
    let empty = std::env::temp_dir().join(format!("portwho-empty-{}", std::process::id()));
    std::fs::create_dir_all(&empty).unwrap();
    assert_usage_error(
        &["--proc-root", empty.to_str().unwrap()],
        "is not a procfs mount",
    );
    std::fs::remove_dir_all(&empty).unwrap();
}

#[test]
fn help_and_version_exit_zero() {
    let r = portwho_run(&["--help"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("Examples:"));
    assert!(r.stdout.contains("portwho :8080"));
    let r = portwho_run(&["--version"]);
    assert_eq!(r.code, 0);
    assert!(r.stdout.starts_with("portwho "));
}
