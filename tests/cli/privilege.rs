//! Running as an unprivileged user: every socket still listed, hidden owners said on stderr.

use std::net::TcpListener;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

const NOBODY: &str = "65534";

/// A copy of the binary that `nobody` can execute wherever the checkout lives.
pub fn binary_for_nobody() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("portwho-nobody-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let bin = dir.join("portwho");
    std::fs::copy(env!("CARGO_BIN_EXE_portwho"), &bin).unwrap();
    std::fs::set_permissions(&bin, std::fs::Permissions::from_mode(0o755)).unwrap();
    bin
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
    if !can_switch_user() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    let bin = binary_for_nobody();
    let root_listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let root_port = root_listener.local_addr().unwrap().port();
    let nobody_helper = Helper::spawn(as_nobody(python3()).args([
        "-c",
        "import socket, time\n\
         s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
         print(s.getsockname()[1], flush=True)\n\
         time.sleep(60)\n",
    ]));
    let nobody_port = nobody_helper.numbers[0];

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
