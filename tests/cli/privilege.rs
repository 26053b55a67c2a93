//! Running as an unprivileged user: every socket still listed, hidden owners said on stderr.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

const NOBODY: &str = "65534";

/// A copy of the binary that `nobody` can execute wherever the checkout lives.
/// Each call makes its own copy, which its test removes when done.
pub fn binary_for_nobody() -> PathBuf {
    static NEXT: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let dir = std::env::temp_dir().join(format!("portwho-nobody-{}-{n}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("portwho");
    std::fs::copy(env!("CARGO_BIN_EXE_portwho"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
}

/// Tests that run processes as `nobody` take turns: one test's nobody process, caught
/// mid-exec (not yet dumpable), is a process another's unprivileged portwho cannot read,
/// and that test's count of denied processes would be off by one.
pub fn nobody_turn() -> std::sync::MutexGuard<'static, ()> {
    static TURN: std::sync::Mutex<()> = std::sync::Mutex::new(());
    TURN.lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub fn as_nobody(program: &str) -> Command {
    let mut cmd = Command::new("setpriv");
    cmd.args([
        "--reuid",
        NOBODY,
        "--regid",
        NOBODY,
        "--clear-groups",
        "--",
        program,
    ]);
    cmd.env_remove("NO_COLOR");
    cmd
}

pub fn can_switch_user() -> bool {
    is_root() && Command::new("setpriv").arg("--version").output().is_ok()
}

#[test]
fn unprivileged_sees_sockets_but_not_foreign_owners() {
    let _turn = nobody_turn();
    if !can_switch_user() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let bin = binary_for_nobody();
    // Ports nothing else uses, in any protocol: the counts below are of these two sockets.
    let root_listener = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let root_port = root_listener.local_addr().unwrap().port();
    let nobody_port = unused_port();
    let listener = LISTENER.replace("'127.0.0.1', 0)", &format!("'127.0.0.1', {nobody_port})"));
    let nobody_helper = Helper::spawn(as_nobody(python3()).args(["-c", &listener]));
    assert_eq!(nobody_helper.numbers[0], u32::from(nobody_port));

    let r = run(as_nobody(bin.to_str().unwrap()).args([
        "--json",
        &format!(":{root_port}"),
        &format!(":{nobody_port}"),
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    let root_rec = records
        .iter()
        .find(|r| r["local_port"] == root_port)
        .unwrap();
    let nobody_rec = records
        .iter()
        .find(|r| r["local_port"] == nobody_port)
        .unwrap();
    // The kernel's uid is always there; root's process is not visible to nobody.
    assert_eq!(root_rec["uid"], 0);
    assert_eq!(root_rec["processes"].as_array().unwrap().len(), 0);
    assert_eq!(nobody_rec["uid"], 65534);
    assert_eq!(pids_of(nobody_rec), vec![u64::from(nobody_helper.pid())]);
    assert!(
        r.stderr.contains("owners of 1 socket hidden"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("run as root"), "{}", r.stderr);

    // The table marks the hidden owner; stdout stays clean of notes.
    let r = run(as_nobody(bin.to_str().unwrap()).arg(format!(":{root_port}")));
    assert_eq!(r.code, 0);
    assert!(r.stdout.contains("(hidden)"), "{}", r.stdout);
    assert!(!r.stdout.contains("portwho:"));
    // The diagnosis says whose it is and how to see it.
    assert!(
        r.stdout.contains(&format!(
            "the owner of 127.0.0.1:{root_port} is hidden: the socket belongs to uid 0 (root)"
        )),
        "{}",
        r.stdout
    );
    assert!(r.stdout.contains(&format!("sudo portwho :{root_port}")));

    // As root the same socket shows its owner.
    let (_, records) = json(&[&format!(":{root_port}")]);
    assert_eq!(pids_of(&records[0]), vec![u64::from(std::process::id())]);
    let _ = std::fs::remove_dir_all(bin.parent().unwrap());
}

/// `/proc` mounted with `hidepid=2` (in a private mount namespace) and portwho run as
/// `nobody`: other users' processes are not even listed, so no read is denied. Every
/// socket is still listed (netlink gives its uid and inode), and stderr says the owners
/// are hidden, and why.
#[test]
fn hidepid_proc_hides_owners_not_sockets() {
    let _turn = nobody_turn();
    if !can_switch_user() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let hidepid = |args: &[&str]| {
        let mut cmd = Command::new("unshare");
        cmd.args(["-m", "--propagation", "private", "--", "sh", "-c"])
            .arg(
                "mount -t proc -o hidepid=2 proc /proc || exit 97; \
                 exec setpriv --reuid 65534 --regid 65534 --clear-groups -- \"$@\"",
            )
            .arg("sh")
            .args(args)
            .env_remove("NO_COLOR");
        cmd
    };
    match hidepid(&["true"]).status() {
        Ok(s) if s.success() => {}
        _ => {
            eprintln!("skipped: cannot mount a hidepid=2 /proc in a private mount namespace");
            return;
        }
    }
    let bin = binary_for_nobody();
    let bin = bin.to_str().unwrap();
    let root_listener = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let root_target = format!("{}/tcp", root_listener.local_addr().unwrap());
    let nobody_helper = Helper::spawn(as_nobody(python3()).args(["-c", LISTENER]));
    let nobody_target = format!("127.0.0.1:{}/tcp", nobody_helper.numbers[0]);

    let r = run(&mut hidepid(&[
        bin,
        "--json",
        "-v",
        &root_target,
        &nobody_target,
    ]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    assert_eq!(records.len(), 2, "{records:?}");
    let root_rec = records.iter().find(|r| r["uid"] == 0).unwrap();
    let nobody_rec = records.iter().find(|r| r["uid"] == 65534).unwrap();
    assert_eq!(root_rec["processes"].as_array().unwrap().len(), 0);
    assert_eq!(pids_of(nobody_rec), vec![u64::from(nobody_helper.pid())]);
    assert!(
        r.stderr.contains(
            "owners of 1 socket hidden: /proc is mounted with hidepid=invisible, which hides \
             other users' processes; run as root to see them"
        ),
        "{}",
        r.stderr
    );
    assert!(
        r.stderr
            .contains("other users' processes are not listed (hidepid=invisible)"),
        "{}",
        r.stderr
    );

    // The table marks it, the diagnosis says whose it is, the audit calls it hidden.
    let r = run(&mut hidepid(&[bin, &root_target]));
    assert_eq!(r.code, 0, "{}", r.stderr);
    assert!(r.stdout.contains("(hidden)"), "{}", r.stdout);
    assert!(
        r.stdout
            .contains("is hidden: the socket belongs to uid 0 (root)"),
        "{}",
        r.stdout
    );
    let r = run(&mut hidepid(&[bin, "--audit", "--json", &root_target]));
    assert!(r.code == 0 || r.code == 3, "{}", r.stderr);
    assert!(r.stdout.contains("\"owner-hidden\""), "{}", r.stdout);
    assert!(!r.stdout.contains("\"owner-unknown\""), "{}", r.stdout);
    let _ = std::fs::remove_dir_all(std::path::Path::new(bin).parent().unwrap());
}

/// A server that made itself non-dumpable (as sshd, or anything setuid, does) has its
/// `/proc/PID` files given to root, all but the directory itself: its user must still be
/// the uid it runs as, not root.
#[test]
fn a_non_dumpable_process_keeps_its_user() {
    let _turn = nobody_turn();
    if !can_switch_user() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let script = format!(
        "import ctypes\nctypes.CDLL(None).prctl(4, 0, 0, 0, 0)  # PR_SET_DUMPABLE, 0\n{LISTENER}"
    );
    let helper = Helper::spawn(as_nobody(python3()).args(["-c", &script]));
    let (pid, port) = (helper.pid(), helper.numbers[0]);
    // The prctl took: the process's files now belong to root.
    let fd_dir = std::fs::metadata(format!("/proc/{pid}/fd")).unwrap();
    assert_eq!(std::os::unix::fs::MetadataExt::uid(&fd_dir), 0);

    let r = portwho_run(&["--json", &format!(":{port}")]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let records: Vec<serde_json::Value> = serde_json::from_str(&r.stdout).unwrap();
    let holder = &records[0]["processes"][0];
    assert_eq!(holder["pid"], u64::from(pid), "{records:?}");
    assert_eq!(holder["uid"], 65534, "{holder}");
    let table = portwho_run(&["--listening", "-p", &pid.to_string()]);
    assert!(table.stdout.contains("nobody"), "{}", table.stdout);
}

/// Root in a child pid namespace (a container's view): the kernel's iterator reports pids
/// as the host numbers them, not as this namespace's /proc does. portwho sees that its own
/// socket comes back under another pid, drops the iterator's answer and walks /proc: the
/// holder is named by the pid this namespace knows.
#[test]
fn a_child_pid_namespace_walks_proc() {
    if !is_root() {
        eprintln!("skipped: needs root");
        return;
    }
    let script = "import os, socket, subprocess, sys\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         r = subprocess.run([sys.argv[1], '-v', '--json', '127.0.0.1:%d/tcp' % s.getsockname()[1]],\n\
         \x20   capture_output=True, text=True, env={'PORTWHO_BPF': 'always'})\n\
         print(os.getpid()); print(r.stdout); sys.stderr.write(r.stderr)\n";
    let out = Command::new("unshare")
        .args([
            "--pid",
            "--fork",
            "--mount-proc",
            "--",
            python3(),
            "-c",
            script,
        ])
        .arg(env!("CARGO_BIN_EXE_portwho"))
        .output()
        .unwrap();
    let (stdout, stderr) = (
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
    );
    if !out.status.success() && stderr.contains("unshare failed") {
        eprintln!("skipped: cannot make a pid namespace: {stderr}");
        return;
    }
    assert!(out.status.success(), "{stderr}");
    let (pid, json) = stdout.split_once('\n').unwrap();
    let records: Vec<serde_json::Value> = serde_json::from_str(json.trim()).unwrap();
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(pids_of(&records[0]), vec![pid.parse::<u64>().unwrap()]);
    assert!(
        !stderr.contains("with the kernel's task_file iterator"),
        "the iterator's pids were taken in a child pid namespace: {stderr}"
    );
    assert!(
        stderr.contains("the iterator did not report portwho's own socket")
            || stderr.contains("cannot read the kernel's BTF"),
        "{stderr}"
    );
}
