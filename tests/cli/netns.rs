//! `--netns`: other network namespaces, made by the tests (`ip netns`, `unshare --net`),
//! compared with `ip netns exec NS ss`; and the errors a user can type.

use std::os::unix::fs::MetadataExt;
use std::process::Command;

use crate::common::{Helper, Netns, json, on_unused_port, portwho_run, python3, run, unused_port};
use crate::privilege::{as_nobody, binary_for_nobody, can_switch_user, nobody_turn};

/// The listening TCP ports `ss` sees inside a namespace.
fn ss_ports(ns: &Netns) -> Vec<u64> {
    let out = ns.exec("ss").args(["-Htln"]).output().expect("ss");
    let mut ports: Vec<u64> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| {
            l.split_whitespace()
                .nth(3)?
                .rsplit(':')
                .next()?
                .parse()
                .ok()
        })
        .collect();
    ports.sort_unstable();
    ports
}

fn ports_in(records: &[serde_json::Value], inode: u64) -> Vec<u64> {
    let mut ports: Vec<u64> = records
        .iter()
        .filter(|r| r["netns"]["inode"] == inode && r["proto"] == "tcp")
        .filter_map(|r| r["local_port"].as_u64())
        .collect();
    ports.sort_unstable();
    ports
}

#[test]
fn an_ip_netns_namespace_is_read_by_name_and_with_all() {
    let Some(ns) = Netns::new() else { return };
    let server = ns.listen("[('tcp', '127.0.0.1', 0), ('tcp', '192.0.2.1', 0)]");
    let (code, named) = json(&["--netns", ns.name()]);
    assert_eq!(code, 0);
    assert_eq!(ports_in(&named, ns.inode()), ss_ports(&ns));
    for r in &named {
        assert_eq!(r["netns"]["name"], ns.name(), "{r}");
        assert_eq!(r["container"], serde_json::Value::Null);
        assert_eq!(r["processes"][0]["pid"], server.pid(), "{r}");
    }
    let (_, all) = json(&["--netns", "all"]);
    assert_eq!(ports_in(&all, ns.inode()), ss_ports(&ns));
    let table = portwho_run(&["--netns", "all", "-n"]);
    let rows: Vec<&str> = table
        .stdout
        .lines()
        .filter(|l| l.starts_with(&format!("{} ", ns.name())))
        .collect();
    assert_eq!(rows.len(), 2, "{}", table.stdout);
}

#[test]
fn the_same_port_in_two_namespaces_is_two_sockets() {
    let (Some(a), Some(b)) = (Netns::new(), Netns::new()) else {
        return;
    };
    // Free here too, in any protocol: the diagnosis below says so.
    let port = unused_port();
    let _first = a.listen(&format!("[('tcp', '127.0.0.1', {port})]"));
    let _second = b.listen(&format!("[('tcp', '127.0.0.1', {port})]"));
    let (code, found) = json(&["--netns", "all", &format!(":{port}")]);
    assert_eq!(code, 0);
    let mut inodes: Vec<u64> = found
        .iter()
        .filter(|r| r["state"] == "LISTEN")
        .filter_map(|r| r["netns"]["inode"].as_u64())
        .collect();
    inodes.sort_unstable();
    let mut expected = vec![a.inode(), b.inode()];
    expected.sort_unstable();
    assert_eq!(inodes, expected, "{found:?}");
    // Here, the port is free; the diagnosis names both holders.
    let here = portwho_run(&[&format!(":{port}")]);
    assert_eq!(here.code, 1, "{}", here.stdout);
    for ns in [&a, &b] {
        let line = format!(
            "free here; in network namespace {} tcp 127.0.0.1:{port}",
            ns.name()
        );
        assert!(
            here.stdout.contains(&line),
            "no {line:?} in\n{}",
            here.stdout
        );
    }
}

#[test]
fn an_unnamed_namespace_is_found_through_its_process() {
    if Netns::new().is_none() {
        return;
    }
    let script = "import socket, time\n\
                  s = socket.socket()\n\
                  s.bind(('127.0.0.1', 0))\n\
                  s.listen()\n\
                  print(s.getsockname()[1], flush=True)\n\
                  time.sleep(60)\n";
    let helper = Helper::spawn(Command::new("unshare").args(["--net", python3(), "-c", script]));
    let port = u64::from(helper.numbers[0]);
    let inode = std::fs::metadata(format!("/proc/{}/ns/net", helper.pid()))
        .unwrap()
        .ino();
    for choice in ["all", &helper.pid().to_string()] {
        let (_, found) = json(&["--netns", choice]);
        let r = found
            .iter()
            .find(|r| r["netns"]["inode"] == inode)
            .unwrap_or_else(|| panic!("--netns {choice}: {found:?}"));
        assert_eq!(r["local_port"], port);
        assert_eq!(r["netns"]["name"], serde_json::Value::Null);
        assert_eq!(r["processes"][0]["pid"], helper.pid());
    }
}

#[test]
fn without_root_other_namespaces_are_counted_not_read() {
    let _turn = nobody_turn();
    let Some(ns) = Netns::new() else { return };
    if !can_switch_user() {
        return;
    }
    let _server = ns.listen("[('tcp', '127.0.0.1', 0)]");
    // Something in the caller's own namespace, which is read whoever runs portwho.
    let own = on_unused_port(|p| std::net::TcpListener::bind(("127.0.0.1", p))).unwrap();
    let own_port = own.local_addr().unwrap().port();
    let bin = binary_for_nobody();
    let r = run(as_nobody(bin.to_str().unwrap()).args(["--netns", ns.name()]));
    let all = run(as_nobody(bin.to_str().unwrap()).args(["--netns", "all", "-n"]));
    std::fs::remove_dir_all(bin.parent().unwrap()).unwrap();
    assert_eq!(r.code, 1, "nothing read: {}{}", r.stdout, r.stderr);
    assert_eq!(
        r.stderr,
        "portwho: 1 network namespace not read: entering another namespace needs root; run as root: sudo portwho --netns ...\n\
         portwho: no socket matches\n"
    );
    // The caller's own is read all the same, and the status is that of what was read.
    assert!(all.stdout.starts_with("NETNS "), "{}", all.stdout);
    assert!(
        all.stdout.contains(&format!("127.0.0.1:{own_port}")),
        "{}",
        all.stdout
    );
    assert_eq!(all.code, 0, "the own namespace's sockets matched");
    assert!(
        all.stderr
            .contains("not read: entering another namespace needs root"),
        "{}",
        all.stderr
    );
    assert!(!all.stdout.contains(ns.name()), "{}", all.stdout);
}

#[test]
fn a_namespace_the_user_names_must_exist() {
    let cases: &[(&[&str], &str)] = &[
        (
            &["--netns", "portwho-no-such-namespace"],
            "portwho: --netns: no network namespace named 'portwho-no-such-namespace' (ip netns list shows the names)\n",
        ),
        (
            &["--netns", "4294967295"],
            "portwho: --netns: no process 4294967295\n",
        ),
        (
            &["--netns", "../etc"],
            "portwho: --netns '../etc': expected all, a name from 'ip netns list', or a process id\n",
        ),
        (
            &["--netns", ""],
            "portwho: --netns '': expected all, a name from 'ip netns list', or a process id\n",
        ),
    ];
    for (args, message) in cases {
        let r = portwho_run(args);
        assert_eq!((r.code, r.stdout.as_str()), (2, ""), "{args:?}");
        assert_eq!(r.stderr, *message, "{args:?}");
    }
    let r = portwho_run(&["--netns", "all", "--proc-root", "/proc"]);
    assert_eq!(r.code, 2);
    assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
}
