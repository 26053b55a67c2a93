//! Races: sockets and processes that come and go while portwho reads them.

use std::collections::HashSet;
use std::time::{Duration, Instant};

use crate::common::*;

const CHURN: &str = include_str!("helpers/churn.py");

/// portwho runs back to back for at least this long and this many runs, whichever takes
/// longer (a busy host makes runs slow), while the helpers churn.
const CHURN_MIN: Duration = Duration::from_secs(4);
const CHURN_MIN_RUNS: usize = 20;
/// The helpers stop by themselves after this, should the test die without stopping them.
const CHURN_MAX_SECONDS: &str = "120";

/// portwho in a loop against processes that open sockets, fork and exit: every run exits
/// 0 or 1 with valid JSON, processes that vanish mid-scan are counted on stderr, and no
/// socket is ever attributed to a pid that did not hold it.
#[test]
fn churn_never_misattributes() {
    let Some(ns) = Netns::new() else { return };
    let log = std::env::temp_dir().join(format!("portwho-churn-{}.log", std::process::id()));
    let _ = std::fs::remove_file(&log);
    let mut helper = Helper::spawn(ns.exec(python3()).args([
        "-c",
        CHURN,
        log.to_str().unwrap(),
        CHURN_MAX_SECONDS,
    ]));

    let mut reported: HashSet<(u64, u64)> = HashSet::new();
    let (mut runs, mut vanished, mut empty, mut kernel_runs) = (0, 0, 0, 0);
    let start = Instant::now();
    while start.elapsed() < CHURN_MIN || runs < CHURN_MIN_RUNS {
        // Every other run through /proc, the others with the kernel's iterator where
        // portwho can load it (root): neither may misattribute.
        let through_proc = runs % 2 == 0;
        let mut cmd = ns.exec(env!("CARGO_BIN_EXE_portwho"));
        cmd.args(["--all", "--json", "-v"]).env_remove("NO_COLOR");
        cmd.env("PORTWHO_BPF", if through_proc { "never" } else { "always" });
        let r = run(&mut cmd);
        assert!(r.code == 0 || r.code == 1, "exit {}: {}", r.code, r.stderr);
        let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout)
            .unwrap_or_else(|e| panic!("run {runs}: not JSON ({e}): {}", r.stdout));
        // -v says what the scan skipped, and nothing else goes to stderr.
        let mut lines = r.stderr.lines();
        let note = lines.next().unwrap_or_default();
        assert!(
            note.starts_with("portwho: scanned the fds of ") && lines.next().is_none(),
            "{}",
            r.stderr
        );
        if note.contains("task_file iterator") {
            assert!(!through_proc, "{note}");
            kernel_runs += 1;
        } else {
            vanished += note
                .split("denied, ")
                .nth(1)
                .and_then(|rest| rest.split(' ').next())
                .and_then(|n| n.parse::<u64>().ok())
                .unwrap_or_else(|| panic!("no count in {note}"));
        }
        for record in &records {
            let inode = record["inode"].as_u64().unwrap();
            for pid in pids_of(record) {
                reported.insert((pid, inode));
            }
        }
        if records.is_empty() {
            empty += 1;
        }
        runs += 1;
        assert!(helper.alive(), "the churn helper ended early");
    }
    let pid = rustix::process::Pid::from_raw(helper.pid() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = helper.exited_within(Duration::from_secs(10)).unwrap();
    assert!(status.success(), "churn helper failed: {status}");

    let text = std::fs::read_to_string(&log).unwrap();
    let held: HashSet<(u64, u64)> = text
        .lines()
        .map(|line| {
            let (pid, inode) = line.split_once(' ').unwrap();
            (pid.parse().unwrap(), inode.parse().unwrap())
        })
        .collect();
    std::fs::remove_file(&log).unwrap();
    let wrong: Vec<&(u64, u64)> = reported.difference(&held).collect();
    assert!(
        wrong.is_empty(),
        "{} of {} (pid, inode) pairs were never held: {wrong:?}",
        wrong.len(),
        reported.len()
    );
    assert!(reported.len() >= 10, "{runs} runs saw {reported:?}");
    // With hundreds of exits a second, some land between listing /proc and reading them.
    assert!(vanished > 0, "no process vanished mid-scan in {runs} runs");
    eprintln!(
        "churn: {runs} runs ({empty} empty, {kernel_runs} with the kernel's iterator), {} (pid, inode) pairs checked against {} held, {vanished} processes vanished mid-scan",
        reported.len(),
        held.len()
    );
}

/// The two moments a process can vanish, frozen in a proc tree: listed but its fd directory
/// gone (exited during the fd scan), and found holding a socket but gone before its details
/// were read. Both are counted for -v; neither is an error, and the socket is still listed.
#[test]
fn vanished_processes_are_counted_not_errors() {
    use std::os::unix::fs::symlink;
    let root = std::env::temp_dir().join(format!("portwho-vanish-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&root);
    let dir = |path: &str| {
        let path = root.join(path);
        std::fs::create_dir_all(&path).unwrap();
        path
    };
    std::fs::write(
        dir("net").join("tcp"),
        "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n\
         \x20  0: 0100007F:1F90 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1\n",
    )
    .unwrap();
    std::fs::write(root.join("net/udp"), "").unwrap();
    // 100 holds the socket and stays; 200 exited before its fds were read; 300 held the
    // socket during the scan and exited before its details were read.
    symlink("socket:[4242]", dir("100/fd").join("3")).unwrap();
    std::fs::write(root.join("100/comm"), "server\n").unwrap();
    std::fs::write(root.join("100/cmdline"), "server\0").unwrap();
    dir("200");
    symlink("socket:[4242]", dir("300/fd").join("3")).unwrap();

    let r = portwho_run(&["--proc-root", root.to_str().unwrap(), "--json", "-v"]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 1);
    assert_eq!(pids_of(&records[0]), vec![100]);
    assert_eq!(
        r.stderr,
        "portwho: scanned the fds of 2 processes; 0 denied, 2 exited during the scan\n"
    );
    std::fs::remove_dir_all(&root).unwrap();
}
