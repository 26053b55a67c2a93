//! Captured proc trees under `fixtures/linux/`: parsing and the owner join, checked against
//! the expected output and against what `ss -tuanpe` saw when the tree was captured.

use std::path::PathBuf;

use crate::common::*;

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("fixtures/linux")
        .join(name)
}

fn at(name: &str, args: &[&str]) -> Run {
    let root = fixture(name);
    let mut all = vec!["--proc-root", root.to_str().unwrap(), "--color", "never"];
    all.extend_from_slice(args);
    portwho_run(&all)
}

/// Compare with a file, showing both when they differ.
fn assert_same(got: &str, expected_file: &str) {
    let path = fixture(expected_file);
    let expected = std::fs::read_to_string(&path).unwrap();
    assert!(
        got == expected,
        "{} differs\n--- expected\n{expected}\n--- got\n{got}",
        path.display()
    );
}

#[test]
fn basic_all_json_matches_expected() {
    let r = at("basic", &["--all", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_same(&r.stdout, "basic/expected-all.json");
}

#[test]
fn basic_listening_table_matches_expected() {
    let r = at("basic", &[]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert_same(&r.stdout, "basic/expected-listening.txt");
}

#[test]
fn basic_agrees_with_captured_ss() {
    let r = at("basic", &["--all", "--json"]);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let ss = std::fs::read_to_string(fixture("basic/ss.txt")).unwrap();
    let mut checked = 0;
    for line in ss.lines().skip(1) {
        let Some(inode) = line
            .split_whitespace()
            .find_map(|f| f.strip_prefix("ino:"))
            .map(|i| i.parse::<u64>().unwrap())
        else {
            continue;
        };
        if inode == 0 {
            continue;
        }
        let record = records
            .iter()
            .find(|r| r["inode"] == inode)
            .unwrap_or_else(|| panic!("inode {inode} missing: {line}"));
        let mut ss_pids: Vec<u64> = line
            .split("pid=")
            .skip(1)
            .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
            .collect();
        ss_pids.sort_unstable();
        assert_eq!(pids_of(record), ss_pids, "{line}");
        checked += 1;
    }
    assert!(checked >= 7, "only {checked} sockets checked");
    // Every socket ss listed is there, TIME_WAIT included.
    let ss_rows = ss.lines().skip(1).filter(|l| !l.trim().is_empty()).count();
    assert_eq!(records.len(), ss_rows);
}

#[test]
fn names_with_escapes_are_escaped_in_the_table_not_in_json() {
    let r = at("basic", &["--all"]);
    assert!(!r.stdout.contains('\x1b'));
    assert!(r.stdout.contains("evil\\x1b[31mname"));
    let r = at("basic", &["--all", "--json"]);
    assert!(r.stdout.contains("evil\\u001b[31mname"));
}

#[test]
fn filters_on_fixture() {
    let r = at("basic", &["--json", "-U", "nobody"]);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["proto"], "udp");
    assert_eq!(records[0]["processes"][0]["user"], "nobody");
    let r = at("basic", &["-q", "-6", "-u"]);
    assert_eq!(r.code, 0);
    let r = at("basic", &["-q", "-4", "-u", "-t", ":2024/udp"]);
    assert_eq!(r.code, 1);
}

#[test]
fn malformed_lines_are_skipped_and_said() {
    let r = at("broken", &["--all", "--json"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    assert!(
        r.stderr.contains("skipped 2 malformed lines in"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("net/tcp"));
}
