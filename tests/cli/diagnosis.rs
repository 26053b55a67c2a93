//! `portwho :PORT` explains the port: owner cards and diagnosis lines, on live sockets.

use std::net::TcpListener;

use crate::common::*;

fn explain(target: &str) -> Run {
    let r = portwho_run(&[target]);
    assert!(r.code == 0 || r.code == 1, "{}", r.stderr);
    r
}

#[test]
fn owner_card_for_a_forked_server() {
    let (helper, port, child) = forked_server();
    let parent = helper.pid();
    let r = explain(&format!(":{port}"));
    assert_eq!(r.code, 0);
    let out = &r.stdout;
    // One card per holder, each with its details.
    assert!(out.contains(&format!("\n{parent} python3 (")), "{out}");
    assert!(out.contains(&format!("\n{child} python3 (")), "{out}");
    assert!(out.contains("  command  "), "{out}");
    assert!(out.contains("  exe      /"), "{out}");
    assert!(out.contains("  cwd      /"), "{out}");
    assert!(out.contains("  started  "), "{out}");
    assert!(
        out.contains(&format!("  holds    tcp 127.0.0.1:{port} LISTEN")),
        "{out}"
    );
    // The child's parent chain starts at the parent, and the child points at it.
    assert!(
        out.contains(&format!("  parents  python3({parent}) › ")),
        "{out}"
    );
    assert!(
        out.contains(&format!(
            "its parent {parent} python3 holds the same socket"
        )),
        "{out}"
    );
    assert!(
        out.contains(&format!("kill {parent}, or: portwho --kill :{port}")),
        "{out}"
    );
    // JSON carries the same details.
    let (_, records) = json(&[&format!(":{port}")]);
    let p = records[0]["processes"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["pid"] == child)
        .unwrap();
    assert_eq!(p["ppid"], parent);
    assert!(p["exe"].as_str().unwrap().starts_with('/'));
    assert_eq!(p["exe_deleted"], false);
    assert!(p["start_time"].as_str().unwrap().ends_with('Z'));
}

#[test]
fn only_time_wait_remains() {
    let (l, port) = listener_with_time_wait();
    drop(l);
    // The exact address: another process may hold the same port number on ::1 or in UDP.
    let r = explain(&format!("127.0.0.1:{port}/tcp"));
    assert!(
        r.stdout
            .contains(&format!("only TIME_WAIT sockets remain on port {port}")),
        "{}",
        r.stdout
    );
}

#[test]
fn dual_stack_listener_blocks_ipv4() {
    let helper = dual_stack_server();
    let port = helper.numbers[0] as u16;
    // The diagnosis is true: an IPv4 bind to the port fails.
    let err = TcpListener::bind(("127.0.0.1", port)).unwrap_err();
    assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    let r = explain(&format!("127.0.0.1:{port}"));
    assert_eq!(r.code, 1, "nothing is bound to 127.0.0.1 itself");
    assert!(
        r.stdout
            .contains("is dual-stack (IPV6_V6ONLY off): it takes IPv4 too"),
        "{}",
        r.stdout
    );
    assert!(
        r.stdout.contains(&format!(
            "nothing is bound to 127.0.0.1:{port} itself, but [::]:{port} covers it"
        )),
        "{}",
        r.stdout
    );
}

#[test]
fn specific_address_listener() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let port = l.local_addr().unwrap().port();
    let r = explain(&format!(":{port}"));
    assert!(
        r.stdout
            .contains(&format!("only 127.0.0.1:{port} (tcp) is taken")),
        "{}",
        r.stdout
    );
    // And it is true: another loopback address can still bind it.
    assert!(TcpListener::bind(("127.0.0.2", port)).is_ok());
}

#[test]
fn free_port_says_who_may_bind() {
    let port = unused_port();
    let r = explain(&format!(":{port}"));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains(&format!("port {port} is free: no socket uses it")),
        "{}",
        r.stdout
    );
    let range = std::fs::read_to_string("/proc/sys/net/ipv4/ip_local_port_range").unwrap();
    let bounds: Vec<u16> = range
        .split_whitespace()
        .map(|n| n.parse().unwrap())
        .collect();
    let inside = (bounds[0]..=bounds[1]).contains(&port);
    assert_eq!(r.stdout.contains("ephemeral range"), inside, "{}", r.stdout);
}

#[test]
fn privileged_port_free_as_nobody() {
    let _turn = crate::privilege::nobody_turn();
    if !crate::privilege::can_switch_user() {
        eprintln!("skipped: needs root and setpriv");
        return;
    }
    // Port 1 is not in use on a test machine; check, then ask as nobody.
    if portwho_run(&["-q", ":1"]).code == 0 {
        eprintln!("skipped: port 1 is in use");
        return;
    }
    let bin = crate::privilege::binary_for_nobody();
    let r = run(crate::privilege::as_nobody(bin.to_str().unwrap()).arg(":1"));
    assert_eq!(r.code, 1);
    assert!(
        r.stdout
            .contains("binding it needs root or CAP_NET_BIND_SERVICE"),
        "{}",
        r.stdout
    );
    let r = portwho_run(&[":1"]);
    assert!(r.stdout.contains("you may bind them"), "{}", r.stdout);
}
