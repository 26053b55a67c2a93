//! Docker containers. These need a dockerd whose published ports are in this network
//! namespace (see `containers.rs`): `.ci/run` runs them by name, one at a time, outside
//! the private network namespace of the other tests (`cargo test --test cli docker::`).

use std::path::Path;
use std::time::{Duration, Instant};

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
