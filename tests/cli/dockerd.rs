//! Docker containers. These need a dockerd whose published ports are in this network
//! namespace (see `containers.rs`): `.ci/run` runs them by name, one at a time, outside
//! the private network namespace of the other tests (`cargo test --test cli dockerd::`).

use std::path::Path;
use std::time::{Duration, Instant};

use crate::common::{free_port, portwho_run};
use crate::containers::{TestContainer, containers_named, docker_available};

/// The helper itself: a container runs, is listed, publishes on 127.0.0.1 only, has its
/// own network namespace, and is gone, process and all, once dropped.
#[test]
fn docker_helper_runs_and_removes_a_container() {
    if !docker_available() {
        return;
    }
    let c = TestContainer::run(&["-p", "127.0.0.1:0:80"], &["/bin/httpd", "-f", "-p", "80"]);
    assert!(
        c.name
            .starts_with(&format!("pw-test-{}-", std::process::id())),
        "{}",
        c.name
    );
    assert_eq!(containers_named(&c.name), vec![c.name.clone()]);
    assert_eq!(c.id.len(), 64, "{}", c.id);
    assert!(c.id.bytes().all(|b| b.is_ascii_hexdigit()), "{}", c.id);
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", c.pid)).expect("its cmdline");
    assert_eq!(
        String::from_utf8_lossy(&cmdline),
        "/bin/httpd\0-f\0-p\080\0",
        "pid {} is not the container's httpd",
        c.pid
    );
    let port = c.host_port("80/tcp");
    assert_ne!(port, 0);
    assert_eq!(c.published.len(), 1, "{:?}", c.published);
    assert_eq!(c.published[0].host_ip.to_string(), "127.0.0.1");
    assert!(c.ip.is_some(), "no address on the default bridge");
    let ns = |pid: &str| std::fs::read_link(format!("/proc/{pid}/ns/net")).expect("netns");
    assert_ne!(ns(&c.pid.to_string()), ns("self"));
    c.wait_listening(80);

    let (name, pid) = (c.name.clone(), c.pid);
    drop(c);
    assert_eq!(containers_named(&name), Vec::<String>::new());
    let start = Instant::now();
    while Path::new(&format!("/proc/{pid}")).exists() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "pid {pid} of {name} still runs"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// The inode of a process's network namespace, as `/proc` says it.
fn netns_of(pid: u32) -> u64 {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata(format!("/proc/{pid}/ns/net"))
        .expect("its namespace")
        .ino()
}

/// The one record on a port, parsed from `portwho --json ARGS`.
fn records(args: &[&str]) -> Vec<serde_json::Value> {
    let (_, records) = crate::common::json(args);
    records
}

const IMAGE: &str = "portwho-test-busybox:latest";

/// `portwho :HOSTPORT` names the container behind docker-proxy, its image, the httpd
/// inside that answers, and how to stop it, as `docker inspect` and `/proc` say.
#[test]
fn a_published_port_names_the_container_and_who_answers_inside() {
    if !docker_available() {
        return;
    }
    let c = TestContainer::run(&["-p", "127.0.0.1:0:80"], &["/bin/httpd", "-f", "-p", "80"]);
    c.wait_listening(80);
    let port = c.host_port("80/tcp").to_string();
    let found = records(&[&format!(":{port}")]);
    let proxy = found
        .iter()
        .find(|r| r["state"] == "LISTEN")
        .unwrap_or_else(|| panic!("no listener on {port}: {found:?}"));
    assert_eq!(proxy["processes"][0]["name"], "docker-proxy", "{proxy}");
    let forward = &proxy["forward"];
    assert_eq!(forward["via"], "docker-proxy", "{proxy}");
    assert_eq!(forward["to_addr"], c.ip.expect("an address").to_string());
    assert_eq!(forward["to_port"], 80);
    assert_eq!(forward["netns"]["inode"], netns_of(c.pid));
    assert_eq!(forward["container"]["runtime"], "docker");
    assert_eq!(forward["container"]["id"], c.id.as_str());
    assert_eq!(forward["container"]["name"], c.name.as_str());
    assert_eq!(forward["container"]["image"], IMAGE);
    assert_eq!(forward["processes"][0]["pid"], c.pid, "{forward}");
    assert_eq!(forward["processes"][0]["name"], "httpd");
    assert_eq!(proxy["netns"]["inode"], netns_of(std::process::id()));

    let card = portwho_run(&[&format!(":{port}")]);
    assert_eq!(card.code, 0, "{}", card.stderr);
    let lines = [
        format!(
            "  forwards tcp 127.0.0.1:{port} → {}:80, container {} ({IMAGE})",
            c.ip.expect("an address"),
            c.name
        ),
        format!("           held there by {} httpd (root)", c.pid),
        format!("  stop     docker stop {}", c.name),
    ];
    for line in lines {
        assert!(
            card.stdout.contains(&line),
            "no {line:?} in\n{}",
            card.stdout
        );
    }
}

/// `--netns all` lists the httpd inside the container, with the container's name, its
/// namespace, and the host port that reaches it; the NETNS column names the container.
#[test]
fn netns_all_shows_the_socket_inside_the_container() {
    if !docker_available() {
        return;
    }
    let inner = free_port();
    let c = TestContainer::run(
        &["-p", &format!("127.0.0.1:0:{inner}")],
        &["/bin/httpd", "-f", "-p", &inner.to_string()],
    );
    c.wait_listening(inner);
    let host_port = c.host_port(&format!("{inner}/tcp"));
    let target = format!(":{inner}");
    let found = records(&["--netns", "all", &target]);
    let inside: Vec<&serde_json::Value> = found
        .iter()
        .filter(|r| r["netns"]["inode"] == netns_of(c.pid))
        .collect();
    assert_eq!(inside.len(), 1, "{found:?}");
    let r = inside[0];
    assert_eq!(r["container"]["name"], c.name.as_str());
    assert_eq!(r["container"]["image"], IMAGE);
    assert_eq!(r["processes"][0]["pid"], c.pid);
    assert_eq!(r["processes"][0]["container"]["name"], c.name.as_str());
    assert_eq!(
        r["published"],
        serde_json::json!([{"proto": "tcp", "host_addr": "127.0.0.1", "host_port": host_port,
                            "via": "docker-proxy"}])
    );
    let table = portwho_run(&["--netns", "all", "-n", &target]);
    assert!(table.stdout.starts_with("NETNS "), "{}", table.stdout);
    assert!(
        table.stdout.lines().any(|l| l.starts_with(&c.name)),
        "{}",
        table.stdout
    );
    // Without --netns, the port is free here: exit 1, and the diagnosis says where it is.
    let here = portwho_run(&[&target]);
    assert_eq!(here.code, 1, "{}", here.stdout);
    let line = format!(
        "* port {inner} is free here; in network namespace {} (container {}) tcp *:{inner} is held by {} httpd",
        netns_of(c.pid),
        c.name,
        c.pid
    );
    assert!(
        here.stdout.contains(&line),
        "no {line:?} in\n{}",
        here.stdout
    );
}

/// A container without a network has a namespace of its own all the same.
#[test]
fn a_container_without_network_is_read_too() {
    if !docker_available() {
        return;
    }
    let inner = free_port();
    let c = TestContainer::run(
        &["--network", "none"],
        &["/bin/httpd", "-f", "-p", &format!("127.0.0.1:{inner}")],
    );
    c.wait_listening(inner);
    let found = records(&["--netns", "all", &format!(":{inner}")]);
    let r = found
        .iter()
        .find(|r| r["netns"]["inode"] == netns_of(c.pid))
        .unwrap_or_else(|| panic!("not found: {found:?}"));
    assert_eq!(r["container"]["name"], c.name.as_str());
    assert_eq!(r["published"], serde_json::json!([]));
    let by_pid = records(&["--netns", &c.pid.to_string()]);
    assert!(
        by_pid.iter().any(|r| r["local_port"] == inner),
        "{by_pid:?}"
    );
}

/// A container on the host's network: its socket is the host's, and its process is named
/// with the container it runs in.
#[test]
fn a_container_on_the_host_network_holds_a_host_socket() {
    if !docker_available() {
        return;
    }
    let port = free_port();
    let c = TestContainer::run_on_host_network(port);
    c.wait_listening(port);
    let found = records(&[&format!(":{port}")]);
    let r = found
        .iter()
        .find(|r| r["state"] == "LISTEN")
        .unwrap_or_else(|| panic!("not found: {found:?}"));
    assert_eq!(r["netns"]["inode"], netns_of(std::process::id()));
    assert_eq!(
        r["container"],
        serde_json::Value::Null,
        "the host's namespace"
    );
    let p = &r["processes"][0];
    assert_eq!(p["pid"], c.pid);
    assert_eq!(p["container"]["runtime"], "docker");
    assert_eq!(p["container"]["id"], c.id.as_str());
    assert_eq!(p["container"]["name"], c.name.as_str());
}

/// A baseline names the container, not its namespace: a restart (new namespace, new
/// pids) is no change.
#[test]
fn a_restarted_container_is_no_change_since_the_baseline() {
    if !docker_available() {
        return;
    }
    let inner = free_port();
    let c = TestContainer::run(
        &["--network", "none"],
        &["/bin/httpd", "-f", "-p", &format!("127.0.0.1:{inner}")],
    );
    c.wait_listening(inner);
    let base = portwho_run(&["--netns", "all", "--listening", "--json"]);
    assert!(
        base.stdout.contains(&format!("\"name\": \"{}\"", c.name)),
        "the baseline names the container:\n{}",
        base.stdout
    );
    let file = std::env::temp_dir().join(format!("portwho-base-{}.json", std::process::id()));
    std::fs::write(&file, &base.stdout).unwrap();
    crate::containers::docker_ok(&["restart", "--time", "1", &c.name]);
    let pid: u32 = crate::containers::docker_ok(&["inspect", "-f", "{{.State.Pid}}", &c.name])
        .trim()
        .parse()
        .unwrap();
    let start = Instant::now();
    while !crate::containers::listens(pid, inner) {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "not listening again"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    assert_ne!(pid, c.pid, "a restart makes a new process");
    let diff = portwho_run(&["--netns", "all", "--diff", file.to_str().unwrap()]);
    std::fs::remove_file(&file).unwrap();
    let mine = format!("in container {}", c.name);
    assert!(
        !diff.stdout.lines().any(|l| l.contains(&mine)),
        "the restart shows as a change:\n{}",
        diff.stdout
    );
}
