//! Live sockets on loopback, opened by the test itself or by helper processes.

use std::net::{TcpListener, TcpStream, UdpSocket};
use std::os::fd::AsRawFd;

use crate::common::*;

fn me() -> u64 {
    u64::from(std::process::id())
}

#[test]
fn own_tcp_listener_with_pid_state_and_address() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, records) = json(&[&format!(":{port}")]);
    assert_eq!(code, 0);
    assert_eq!(records.len(), 1, "{records:?}");
    let r = &records[0];
    assert_eq!(r["proto"], "tcp");
    assert_eq!(r["family"], "ipv4");
    assert_eq!(r["local_addr"], "127.0.0.1");
    assert_eq!(r["local_port"], port);
    assert_eq!(r["state"], "LISTEN");
    assert_eq!(r["remote_addr"], serde_json::Value::Null);
    assert_eq!(r["inode"], inode_of(l.as_raw_fd()));
    assert_eq!(r["uid"], rustix::process::geteuid().as_raw());
    assert_eq!(pids_of(r), vec![me()]);
    let process = &r["processes"][0];
    assert!(!process["name"].as_str().unwrap().is_empty());
    assert!(!process["cmdline"].as_array().unwrap().is_empty());
}

#[test]
fn ipv6_listener_and_address_target() {
    let l = on_unused_port(|p| TcpListener::bind(("::1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let (code, records) = json(&[&format!("[::1]:{port}")]);
    assert_eq!(code, 0);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["family"], "ipv6");
    assert_eq!(records[0]["local_addr"], "::1");
    // The same port on another address is not this socket.
    let (code, records) = json(&[&format!("127.0.0.1:{port}")]);
    assert_eq!((code, records.len()), (1, 0));
    let (code, _) = json(&["-4", &format!(":{port}")]);
    assert_eq!(code, 1);
}

#[test]
fn udp_bound_socket_is_listening() {
    let u = on_unused_port(|p| UdpSocket::bind(("127.0.0.1", p))).unwrap();
    let port = u.local_addr().unwrap().port();
    let (code, records) = json(&[&format!(":{port}/udp")]);
    assert_eq!(code, 0);
    assert_eq!(records[0]["proto"], "udp");
    assert_eq!(records[0]["state"], "UNCONN");
    assert_eq!(pids_of(&records[0]), vec![me()]);
    // In the default listing, and gone with -t (among listeners: a TCP client of another
    // test may take the same number for a moment).
    let (_, listening) = json(&["-u"]);
    assert!(listening.iter().any(|r| r["local_port"] == port));
    let (code, _) = json(&["-t", "-l", &format!(":{port}")]);
    assert_eq!(code, 1);
    // A connected UDP socket is ESTABLISHED, with its peer.
    u.connect("127.0.0.1:9").unwrap();
    let (_, records) = json(&[&format!(":{port}")]);
    assert_eq!(records[0]["state"], "ESTABLISHED");
    assert_eq!(records[0]["remote_port"], 9);
}

#[test]
fn established_pair_listener_first() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let client = TcpStream::connect(("127.0.0.1", port)).unwrap();
    let (_server, _) = l.accept().unwrap();
    let client_port = client.local_addr().unwrap().port();

    let (code, records) = json(&[&format!("127.0.0.1:{port}/tcp")]);
    assert_eq!(code, 0);
    let states: Vec<&str> = records
        .iter()
        .map(|r| r["state"].as_str().unwrap())
        .collect();
    assert_eq!(states, vec!["LISTEN", "ESTABLISHED"]);
    assert_eq!(records[1]["remote_port"], client_port);
    assert_eq!(records[1]["remote_addr"], "127.0.0.1");

    // Without a target only the listener is listed; with --all, both ends.
    let (_, listening) = json(&[]);
    assert!(listening.iter().any(|r| r["local_port"] == port));
    // (The client's port number may be another socket's elsewhere: another protocol or
    // address, on a busy host.)
    assert!(!listening.iter().any(|r| r["local_port"] == client_port
        && r["proto"] == "tcp"
        && r["local_addr"] == "127.0.0.1"));
    let (_, all) = json(&["--all", "-t", "-4"]);
    assert!(all.iter().any(|r| r["local_port"] == client_port
        && r["state"] == "ESTABLISHED"
        && pids_of(r) == vec![me()]));
    // -l with a target keeps the listener only.
    let (_, records) = json(&["-l", &port.to_string()]);
    assert_eq!(records.len(), 1);
}

#[test]
fn time_wait_has_no_process() {
    let (_l, port) = listener_with_time_wait();
    let (_, records) = json(&[&format!(":{port}")]);
    let tw = records
        .iter()
        .find(|r| r["state"] == "TIME_WAIT")
        .unwrap_or_else(|| panic!("no TIME_WAIT in {records:?}"));
    assert_eq!(tw["inode"], 0);
    assert_eq!(tw["processes"].as_array().unwrap().len(), 0);
    assert_eq!(records[0]["state"], "LISTEN");
}

#[test]
fn forked_server_shares_one_listener() {
    let (helper, port, child) = forked_server();
    let (code, records) = json(&[&format!(":{port}")]);
    assert_eq!(code, 0);
    assert_eq!(records.len(), 1, "one socket, two holders: {records:?}");
    let mut expected = vec![u64::from(helper.pid()), u64::from(child)];
    expected.sort_unstable();
    assert_eq!(pids_of(&records[0]), expected);
    // --pid selects by either holder and still shows both.
    let (code, records) = json(&["--pid", &child.to_string(), &format!(":{port}")]);
    assert_eq!((code, pids_of(&records[0])), (0, expected.clone()));
    let (code, _) = json(&["--pid", &me().to_string(), &format!(":{port}")]);
    assert_eq!(code, 1);
}

#[test]
fn reuseport_gives_each_process_its_own_socket() {
    let (helper, port, child) = reuseport_pair();
    let (_, records) = json(&[&format!(":{port}")]);
    assert_eq!(records.len(), 2, "{records:?}");
    let mut holders: Vec<Vec<u64>> = records.iter().map(pids_of).collect();
    holders.sort();
    // The child inherited the first socket too, so it holds both; the parent holds one.
    let parent = u64::from(helper.pid());
    let child = u64::from(child);
    let mut both = vec![parent, child];
    both.sort_unstable();
    assert!(holders.contains(&vec![child]), "{holders:?}");
    assert!(holders.contains(&both), "{holders:?}");
}

#[test]
fn dual_stack_listener() {
    let helper = dual_stack_server();
    let port = helper.numbers[0];
    let (_, records) = json(&[&format!(":{port}")]);
    assert_eq!(records.len(), 1);
    assert_eq!(records[0]["local_addr"], "::");
    assert_eq!(records[0]["family"], "ipv6");
    assert_eq!(records[0]["v6only"], false);
    assert_eq!(pids_of(&records[0]), vec![u64::from(helper.pid())]);
}

#[test]
fn free_port_exits_one_with_empty_array() {
    let port = unused_port();
    let (code, records) = json(&[&format!(":{port}")]);
    assert_eq!((code, records.len()), (1, 0));
    let r = portwho_run(&[&format!(":{port}")]);
    assert_eq!(r.code, 1);
    // On the table path the answer is the diagnosis; a listing with nothing in it is empty.
    assert!(
        r.stdout.contains(&format!("port {port} is free")),
        "{}",
        r.stdout
    );
    let r = portwho_run(&["-c", "no-such-command-anywhere"]);
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
}

#[test]
fn quiet_answers_by_exit_status() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    // The exact address: another process may hold the same port number on ::1 or in UDP.
    let target = format!("127.0.0.1:{port}/tcp");
    let r = portwho_run(&["-q", &target]);
    assert_eq!((r.code, r.stdout.as_str(), r.stderr.as_str()), (0, "", ""));
    drop(l);
    let r = portwho_run(&["-q", &target]);
    assert_eq!((r.code, r.stdout.as_str()), (1, ""));
}

#[test]
fn command_and_user_filters() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let target = format!(":{port}");
    let (_, records) = json(&[&target]);
    let name = records[0]["processes"][0]["name"]
        .as_str()
        .unwrap()
        .to_string();
    let (code, _) = json(&["-c", &name, &target]);
    assert_eq!(code, 0);
    let (code, _) = json(&["-c", "no-such-command", &target]);
    assert_eq!(code, 1);
    let uid = rustix::process::geteuid().as_raw().to_string();
    let (code, _) = json(&["-U", &uid, &target]);
    assert_eq!(code, 0);
    let (code, _) = json(&["-U", "4000000000", &target]);
    assert_eq!(code, 1);
}

#[test]
fn table_shows_pid_and_name_and_no_colour_when_piped() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let r = portwho_run(&[&format!(":{port}")]);
    assert_eq!(r.code, 0);
    let lines: Vec<&str> = r.stdout.lines().collect();
    assert!(lines[0].starts_with("PROTO"), "{}", r.stdout);
    assert!(lines[1].contains(&format!("127.0.0.1:{port}")));
    assert!(lines[1].contains(&format!("{}/", me())));
    assert!(!r.stdout.contains('\x1b'));
    let r = portwho_run(&["--color", "always", &format!(":{port}")]);
    assert!(r.stdout.contains("\x1b["));
    let r = run(portwho()
        .env("NO_COLOR", "1")
        .args(["--color", "auto", &format!(":{port}")]));
    assert!(!r.stdout.contains('\x1b'));
}

#[test]
fn numeric_drops_service_names() {
    let (_, records) = json(&["-n", "--all"]);
    assert!(records.iter().all(|r| r["service"].is_null()));
    let r = portwho_run(&["-n", "--all"]);
    assert!(!r.stdout.contains("SERVICE"));
}

#[test]
fn broken_pipe_is_quiet() {
    // Enough rows that the output outlives `head -1`.
    let listeners: Vec<TcpListener> = (0..50)
        .map(|_| on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap())
        .collect();
    let out = std::process::Command::new("sh")
        .arg("-c")
        .arg(format!(
            "'{}' --all | head -1",
            env!("CARGO_BIN_EXE_portwho")
        ))
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(!stderr.contains("Broken pipe"), "{stderr}");
    drop(listeners);
}

/// portwho and `ss -tuanpe` read at the same moment agree on inodes and pids for the
/// sockets this test made.
#[test]
fn agrees_with_ss() {
    if std::process::Command::new("ss").arg("-V").output().is_err() {
        eprintln!("skipped: ss is not installed");
        return;
    }
    let l4 = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let l6 = on_unused_port(|p| TcpListener::bind(("::1", p))).unwrap();
    let u = on_unused_port(|p| UdpSocket::bind(("127.0.0.1", p))).unwrap();
    let c = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (a, _) = l4.accept().unwrap();
    let mine: Vec<u64> = [
        l4.as_raw_fd(),
        l6.as_raw_fd(),
        u.as_raw_fd(),
        c.as_raw_fd(),
        a.as_raw_fd(),
    ]
    .into_iter()
    .map(inode_of)
    .collect();

    let (_, records) = json(&["--all"]);
    let ss = std::process::Command::new("ss")
        .arg("-tuanpe")
        .output()
        .unwrap();
    let ss = String::from_utf8_lossy(&ss.stdout);

    for inode in &mine {
        let line = ss
            .lines()
            .find(|l| l.contains(&format!("ino:{inode} ")))
            .unwrap_or_else(|| panic!("ss lacks inode {inode}:\n{ss}"));
        let mut ss_pids: Vec<u64> = line
            .split("pid=")
            .skip(1)
            .map(|rest| rest.split(',').next().unwrap().parse().unwrap())
            .collect();
        ss_pids.sort_unstable();
        ss_pids.dedup();
        let record = records
            .iter()
            .find(|r| r["inode"] == *inode)
            .unwrap_or_else(|| panic!("portwho lacks inode {inode}"));
        assert_eq!(pids_of(record), ss_pids, "inode {inode}: {line}");
        let port = record["local_port"].as_u64().unwrap();
        assert!(line.contains(&format!(":{port} ")), "{line}");
    }
}

/// The kernel's `task_file` iterator (the default, as root) and the `/proc` scan find the
/// same holders: a forked server's shared listener, SO_REUSEPORT siblings, a dual-stack
/// listener, UDP over IPv6, both ends of a connection; and what the iterator tells of each
/// holder (name, parent, start, user) is what `/proc` tells.
#[test]
fn kernel_iterator_and_proc_scan_agree() {
    let (forked, forked_port, child) = forked_server();
    let (_reuse, reuse_port, _) = reuseport_pair();
    let dual = dual_stack_server();
    // Every port here is one no other socket used (the helpers and `on_unused_port` pick
    // them so): what the targets find is this test's own.
    let u6 = on_unused_port(|p| UdpSocket::bind(("::1", p))).unwrap();
    let l4 = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let _c = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (_a, _) = l4.accept().unwrap();
    // Each with its protocol: a TCP client of another test may take the UDP port's number
    // between the two scans (a TCP listener's it cannot).
    let targets = [
        format!(":{forked_port}/tcp"),
        format!(":{reuse_port}/tcp"),
        format!(":{}/tcp", dual.numbers[0]),
        format!(":{}/udp", u6.local_addr().unwrap().port()),
        format!(":{}/tcp", l4.local_addr().unwrap().port()),
    ];
    let mut args = vec!["--all"];
    args.extend(targets.iter().map(String::as_str));

    let holders = |records: &[serde_json::Value]| -> Vec<(u64, Vec<u64>)> {
        let mut all: Vec<(u64, Vec<u64>)> = records
            .iter()
            .filter(|r| r["inode"] != 0)
            .map(|r| (r["inode"].as_u64().unwrap(), pids_of(r)))
            .collect();
        all.sort();
        all
    };
    let (kernel, note) = json_through(false, &args);
    let (proc, proc_note) = json_through(true, &args);
    assert!(
        proc_note.contains("not the kernel's iterator: PORTWHO_BPF=never"),
        "{proc_note}"
    );
    let processes = |records: &[serde_json::Value]| -> Vec<serde_json::Value> {
        let mut all: Vec<serde_json::Value> = records
            .iter()
            .flat_map(|r| r["processes"].as_array().unwrap().clone())
            .collect();
        all.sort_by_key(|p| p["pid"].as_u64());
        all.dedup();
        all
    };
    let (by_kernel, by_proc) = (processes(&kernel), processes(&proc));
    // The forked server's two processes, the SO_REUSEPORT pair's, the dual-stack server,
    // this test.
    assert!(by_kernel.len() >= 4, "{by_kernel:?}");
    assert_eq!(by_kernel, by_proc);
    let kernel = holders(&kernel);
    // 1 + 2 + 1 + 1 + the listener and the accepted end (the client's local port is
    // another).
    assert_eq!(kernel.len(), 7, "{kernel:?}");
    assert_eq!(kernel, holders(&proc), "{note}");
    let shared = kernel
        .iter()
        .find(|(_, pids)| pids.contains(&u64::from(child)) && pids.len() == 2);
    assert!(shared.is_some(), "{kernel:?}");
    assert!(
        kernel.iter().all(|(_, pids)| !pids.is_empty()),
        "{kernel:?}"
    );
    used_kernel_iterator(&note);
    drop(forked);
}

/// A thread that unshared its fd table (`unshare(CLONE_FILES)`) holds sockets that its
/// process's `/proc/PID/fd` does not list; the kernel's iterator walks that table too and
/// names the process.
#[test]
fn a_thread_with_its_own_fd_table() {
    let helper = Helper::python(&format!(
        "import ctypes, socket, threading, time\n\
         libc = ctypes.CDLL(None, use_errno=True)\n\
         def own_table():\n    assert libc.unshare(0x400) == 0, ctypes.get_errno()\n    s = socket.socket(); s.bind(('127.0.0.1', {})); s.listen()\n    print(s.getsockname()[1], flush=True)\n    time.sleep(60)\n\
         threading.Thread(target=own_table, daemon=True).start()\n\
         time.sleep(60)\n",
        unused_port()
    ));
    let target = format!(":{}", helper.numbers[0]);
    let (records, note) = json_through(false, &[&target]);
    assert_eq!(records.len(), 1, "{records:?}");
    if used_kernel_iterator(&note) {
        assert_eq!(pids_of(&records[0]), vec![u64::from(helper.pid())]);
    }
    // Through /proc the holder stays unknown: the limit the iterator lifts.
    let (records, _) = json_through(true, &[&target]);
    assert_eq!(pids_of(&records[0]), Vec::<u64>::new());
}

/// netlink (the default) and the `/proc/net` text tables (the fallback) give the same
/// sockets and owners.
#[test]
fn netlink_and_proc_net_agree() {
    let l4 = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let l6 = on_unused_port(|p| TcpListener::bind(("::1", p))).unwrap();
    let u6 = on_unused_port(|p| UdpSocket::bind(("::1", p))).unwrap();
    let c = TcpStream::connect(l4.local_addr().unwrap()).unwrap();
    let (_a, _) = l4.accept().unwrap();
    // Exact targets, so other sockets that happen to share a port number stay out.
    let ports: Vec<String> = [
        format!("{}/tcp", l4.local_addr().unwrap()),
        format!("{}/tcp", l6.local_addr().unwrap()),
        format!("{}/udp", u6.local_addr().unwrap()),
        format!("{}/tcp", c.local_addr().unwrap()),
    ]
    .to_vec();
    let args: Vec<&str> = ports.iter().map(String::as_str).collect();
    // The client's ephemeral port may also be another connection's, to another address
    // (Linux shares one local port among different destinations): only these five
    // sockets, by both ends, are compared.
    let addr = |a: std::net::SocketAddr| (a.ip().to_string(), u64::from(a.port()));
    let (server, client) = (
        addr(l4.local_addr().unwrap()),
        addr(c.local_addr().unwrap()),
    );
    let ours = [
        (server.clone(), None),
        (server.clone(), Some(client.clone())),
        (client, Some(server)),
        (addr(l6.local_addr().unwrap()), None),
        (addr(u6.local_addr().unwrap()), None),
    ];
    let only_ours = |records: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        let end = |r: &serde_json::Value, side: &str| {
            let ip = r[format!("{side}_addr")].as_str()?.to_string();
            Some((ip, r[format!("{side}_port")].as_u64()?))
        };
        records
            .into_iter()
            .filter(|r| ours.contains(&(end(r, "local").unwrap(), end(r, "remote"))))
            .collect()
    };
    let netlink = only_ours(json(&args).1);
    let mut with_root = vec!["--proc-root", "/proc"];
    with_root.extend_from_slice(&args);
    let text = only_ours(json(&with_root).1);
    assert_eq!(netlink.len(), 5, "{netlink:?}");
    // Only netlink knows IPV6_V6ONLY; the text tables do not carry it.
    for r in &netlink {
        assert_eq!(r["v6only"].is_boolean(), r["family"] == "ipv6", "{r}");
    }
    let strip = |records: Vec<serde_json::Value>| -> Vec<serde_json::Value> {
        records
            .into_iter()
            .map(|mut r| {
                r.as_object_mut().unwrap().remove("v6only");
                r
            })
            .collect()
    };
    assert!(text.iter().all(|r| r["v6only"].is_null()));
    assert_eq!(strip(netlink), strip(text));
}

#[test]
fn no_owners_lists_sockets_without_the_scan() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let target = format!(":{port}");

    // The table: the socket and its user, no PROCESS column, and no /proc walk (-v says).
    let r = portwho_run(&["--no-owners", "-v", "-n", &target]);
    assert_eq!(r.code, 0, "{}", r.stderr);
    let header = r.stdout.lines().next().unwrap();
    let columns: Vec<&str> = header.split_whitespace().collect();
    assert_eq!(
        columns,
        ["PROTO", "LOCAL", "STATE", "EXPOSURE", "RANGE", "USER"]
    );
    let row = r.stdout.lines().nth(1).unwrap();
    assert!(row.contains(&format!("127.0.0.1:{port}")), "{}", r.stdout);
    assert!(!row.contains(&format!("{}/", me())), "{}", r.stdout);
    assert!(
        r.stderr.contains("scanned the fds of 0 processes"),
        "{}",
        r.stderr
    );
    // Without it, the same row names this process.
    let r = portwho_run(&["-v", "-n", &target]);
    assert!(r.stdout.contains(&format!("{}/", me())), "{}", r.stdout);
    assert!(!r.stderr.contains("scanned the fds of 0 processes"));

    // JSON: the socket with its uid and inode, "processes" empty.
    let (code, records) = json(&["--no-owners", &target]);
    assert_eq!(code, 0);
    assert_eq!(records.len(), 1, "{records:?}");
    assert_eq!(records[0]["inode"], inode_of(l.as_raw_fd()));
    assert_eq!(records[0]["processes"], serde_json::json!([]));

    // Options that need the owners cannot go with it: one line, exit 2.
    for other in [["-p", "1"], ["-c", "x"], ["-U", "0"], ["--kill", "-y"]] {
        let r = portwho_run(&["--no-owners", other[0], other[1], &target]);
        assert_eq!(r.code, 2, "{other:?}: {}", r.stderr);
        assert_eq!(r.stderr.lines().count(), 1, "{}", r.stderr);
        assert!(r.stderr.contains("--no-owners"), "{}", r.stderr);
    }
    for other in ["--audit", "--diff=/dev/null"] {
        let r = portwho_run(&["--no-owners", other]);
        assert_eq!(r.code, 2, "{other}: {}", r.stderr);
    }
}
