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
    // A file, not a directory; a table that cannot be read as a file.
    assert_usage_error(
        &["--proc-root", "/etc/passwd"],
        "cannot read /etc/passwd/net/tcp: Not a directory",
    );
    let odd = std::env::temp_dir().join(format!("portwho-odd-{}", std::process::id()));
    std::fs::create_dir_all(odd.join("net/tcp")).unwrap();
    assert_usage_error(
        &["--proc-root", odd.to_str().unwrap()],
        "net/tcp: Is a directory",
    );
    std::fs::remove_dir_all(&odd).unwrap();
    assert_usage_error(
        &["--diff", "/nonexistent/baseline.json"],
        "cannot use baseline /nonexistent/baseline.json: No such file or directory",
    );
}

/// Where netlink is refused (here by a seccomp filter that fails socket(AF_NETLINK) with
/// EACCES, as some sandboxes do), the `/proc/net` tables answer instead: the same sockets
/// and owners, only without IPV6_V6ONLY, which the text tables do not carry. -v says so.
#[test]
fn netlink_refused_falls_back_to_proc_net() {
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;
    let l4 = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let l6 = on_unused_port(|p| TcpListener::bind(("::1", p))).unwrap();
    let targets = [
        format!("{}/tcp", l4.local_addr().unwrap()),
        format!("{}/tcp", l6.local_addr().unwrap()),
    ];
    let without_netlink = |args: &[&str]| run(refusing("netlink").args(args).args(&targets));
    let r = without_netlink(&["--json", "-v"]);
    if r.code == 77 {
        eprintln!("skipped: no seccomp filter for this architecture");
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.starts_with(
            "portwho: netlink unavailable (cannot open a NETLINK_SOCK_DIAG socket: Permission denied"
        ),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("read the /proc/net tables instead"));
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    for fd in [l4.as_raw_fd(), l6.as_raw_fd()] {
        let record = records.iter().find(|r| r["inode"] == inode_of(fd)).unwrap();
        assert_eq!(pids_of(record), vec![u64::from(std::process::id())]);
        assert!(record["v6only"].is_null(), "{record}");
    }
    // Through netlink the IPv6 socket says whether it is IPv6-only.
    let mut args = vec!["--json"];
    args.extend(targets.iter().map(String::as_str));
    let r = portwho_run(&args);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let v6 = records.iter().find(|r| r["family"] == "ipv6").unwrap();
    assert!(v6["v6only"].is_boolean(), "{v6}");
    // Without -v the fallback is silent: the answer is the same.
    let r = without_netlink(&[]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
}

/// Where bpf(2) is refused (here by a seccomp filter failing it with EPERM, as container
/// runtimes do), root's owners come from the /proc walk instead: the same holders, and -v
/// says why.
#[test]
fn kernel_iterator_refused_falls_back_to_proc() {
    use std::net::TcpListener;
    use std::os::fd::AsRawFd;
    if !rustix::process::geteuid().is_root() {
        eprintln!("skipped: only root loads the kernel's iterator");
        return;
    }
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let target = format!("{}/tcp", l.local_addr().unwrap());
    let without_bpf = |args: &[&str]| {
        run(refusing("bpf")
            .args(args)
            .arg(&target)
            .env("PORTWHO_BPF", "always"))
    };
    let r = without_bpf(&["--json", "-v"]);
    if r.code == 77 {
        eprintln!("skipped: no seccomp filter for this architecture");
        return;
    }
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(
        r.stderr.ends_with(
            "; through /proc, not the kernel's iterator: cannot load the iterator program: \
             Operation not permitted (os error 1)\n"
        ),
        "{}",
        r.stderr
    );
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["inode"], inode_of(l.as_raw_fd()));
    assert_eq!(pids_of(&records[0]), vec![u64::from(std::process::id())]);
    // Without -v the fallback is silent: the answer is the same.
    let r = without_bpf(&["--json"]);
    assert_eq!((r.code, r.stderr.as_str()), (0, ""));
    let again: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(again, records);
}

/// PORTWHO_BPF takes never, auto or always; anything else is refused before any work, in
/// one line, escaped.
#[test]
fn a_bad_portwho_bpf_is_refused() {
    for (value, code) in [("never", 0), ("auto", 0), ("always", 0), ("", 0), ("1", 2)] {
        let r = run(portwho()
            .args(["-q", "--no-owners"])
            .env("PORTWHO_BPF", value));
        assert!(
            r.code == code || (code == 0 && r.code == 1),
            "{value}: {}",
            r.stderr
        );
    }
    let r = run(portwho().arg("-q").env("PORTWHO_BPF", "yes\x1b[31m"));
    assert_eq!(r.code, 2);
    assert_eq!(
        r.stderr,
        "portwho: PORTWHO_BPF='yes\\x1b[31m': expected never, auto or always\n"
    );
    assert_eq!(r.stdout, "");
}

/// portwho under a seccomp filter that refuses `what` (`helpers/refuse.py`: netlink or
/// bpf); arguments follow. The run exits 77 where the filter knows no such architecture.
fn refusing(what: &str) -> std::process::Command {
    let mut cmd = std::process::Command::new(python3());
    cmd.args(["-c", include_str!("helpers/refuse.py"), what])
        .arg(env!("CARGO_BIN_EXE_portwho"))
        .env_remove("NO_COLOR")
        .env_remove("PORTWHO_BPF");
    cmd
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
