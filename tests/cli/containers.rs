//! Docker for the tests under `dockerd::`: whether a daemon answers, and containers that are
//! always removed, by name.
//!
//! `PORTWHO_TEST_DOCKER`: unset or `auto`, the docker tests run where a dockerd answers in
//! this network namespace and skip (with a note) elsewhere; `required` (set by `.ci/run`)
//! makes them fail instead; `skip` skips them without asking docker.
//!
//! Containers publish only on 127.0.0.1 (`TestContainer::run` refuses anything else), and
//! no test sends traffic to a container's address: what the tests look at is the sockets.

use std::net::IpAddr;
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use serde_json::Value;

/// The tests' image: busybox alone (`tests/cli/helpers/docker-image.sh` builds it).
pub const TEST_IMAGE: &str = "portwho-test-busybox:latest";

/// Whether the docker tests can run here. With `PORTWHO_TEST_DOCKER=required`, panics
/// with the reason instead of returning false; otherwise says on stderr why it skips.
pub fn docker_available() -> bool {
    static PROBE: OnceLock<Result<(), String>> = OnceLock::new();
    let mode = std::env::var("PORTWHO_TEST_DOCKER").unwrap_or_default();
    let required = match mode.as_str() {
        "" | "auto" => false,
        "required" => true,
        "skip" => {
            eprintln!("skipped: PORTWHO_TEST_DOCKER=skip");
            return false;
        }
        other => panic!("PORTWHO_TEST_DOCKER={other:?}: want auto, required or skip"),
    };
    match PROBE.get_or_init(probe) {
        Ok(()) => true,
        Err(why) if required => panic!("PORTWHO_TEST_DOCKER=required, but {why}"),
        Err(why) => {
            eprintln!("skipped: {why}");
            false
        }
    }
}

fn probe() -> Result<(), String> {
    let out = Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("docker cannot be run ({e}): install docker.io"))?;
    let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
    if !out.status.success() || version.is_empty() {
        return Err(format!(
            "no docker daemon answers (`docker info`: {}); start dockerd (.ci/run does)",
            String::from_utf8_lossy(&out.stderr).trim()
        ));
    }
    // dockerd publishes ports in its own network namespace: tests run in another one
    // (`unshare --net`) would look for them in the wrong place.
    if std::env::var_os("DOCKER_HOST").is_none() {
        for pidfile in ["/run/docker.pid", "/var/run/docker.pid"] {
            let Ok(pid) = std::fs::read_to_string(pidfile) else {
                continue;
            };
            let theirs = std::fs::read_link(format!("/proc/{}/ns/net", pid.trim()));
            let ours = std::fs::read_link("/proc/self/ns/net");
            let (Ok(theirs), Ok(ours)) = (theirs, ours) else {
                break;
            };
            if theirs != ours {
                return Err(format!(
                    "these tests run in network namespace {} and dockerd (pid {}) in {}: \
                     run the dockerd:: tests in dockerd's (.ci/run runs them outside its \
                     unshare --net)",
                    ours.display(),
                    pid.trim(),
                    theirs.display()
                ));
            }
            break;
        }
    }
    Ok(())
}

/// Builds the test image when docker lacks it, once per test run.
pub fn ensure_image() {
    static BUILT: OnceLock<Result<(), String>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let script = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/cli/helpers/docker-image.sh"
        );
        let out = Command::new("bash")
            .arg(script)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("bash {script}: {e}"))?;
        if out.status.success() {
            Ok(())
        } else {
            Err(format!(
                "{script} failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            ))
        }
    });
    if let Err(why) = built {
        panic!("{why}");
    }
}

/// `docker ARGS`, its output captured; panics when docker cannot be run.
pub fn docker(args: &[&str]) -> Output {
    Command::new("docker")
        .args(args)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("docker {args:?}: {e}"))
}

/// `docker ARGS`, which must succeed; its stdout.
pub fn docker_ok(args: &[&str]) -> String {
    let out = docker(args);
    assert!(
        out.status.success(),
        "docker {args:?}: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    String::from_utf8(out.stdout).expect("utf-8 from docker")
}

/// The names of the containers, running or not, named exactly NAME (`docker ps -a`).
pub fn containers_named(name: &str) -> Vec<String> {
    docker_ok(&[
        "ps",
        "--all",
        "--filter",
        &format!("name=^{name}$"),
        "--format",
        "{{.Names}}",
    ])
    .lines()
    .map(str::to_string)
    .collect()
}

/// A port a container publishes: `container_port` is docker's key (`80/tcp`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Published {
    pub container_port: String,
    pub host_ip: IpAddr,
    pub host_port: u16,
}

/// A running container of the test image, removed (`docker rm -f NAME`) when dropped.
#[derive(Debug)]
pub struct TestContainer {
    /// `pw-test-<test pid>-<n>`, unique on this host.
    pub name: String,
    /// The full id (64 hex digits).
    pub id: String,
    /// The host pid of the container's first process (`State.Pid`).
    pub pid: u32,
    /// Its published ports (`NetworkSettings.Ports`), all on 127.0.0.1.
    pub published: Vec<Published>,
    /// Its address on its network (none with `--network none`). Never sent traffic.
    pub ip: Option<IpAddr>,
}

impl TestContainer {
    /// `docker run -d --name pw-test-… DOCKER_ARGS portwho-test-busybox:latest COMMAND`,
    /// for example `run(&["-p", "127.0.0.1:0:80"], &["/bin/httpd", "-f", "-p", "80"])`
    /// (host port 0: docker picks a free one). Builds the image first if needed. Panics
    /// when docker fails, and on a `-p` that is not on 127.0.0.1, `-P`, or the host's
    /// network: a test must not open the host's ports to other hosts.
    pub fn run(docker_args: &[&str], command: &[&str]) -> TestContainer {
        check_args(docker_args);
        Self::start(docker_args, command)
    }

    fn start(docker_args: &[&str], command: &[&str]) -> TestContainer {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        ensure_image();
        let name = format!(
            "pw-test-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        );
        // From here on, the container is removed on any failure.
        let mut container = TestContainer {
            name,
            id: String::new(),
            pid: 0,
            published: Vec::new(),
            ip: None,
        };
        let label = format!("portwho-test={}", std::process::id());
        let mut args = vec![
            "run",
            "--detach",
            "--name",
            &container.name,
            "--label",
            &label,
        ];
        args.extend_from_slice(docker_args);
        args.push(TEST_IMAGE);
        args.extend_from_slice(command);
        let id = docker_ok(&args).trim().to_string();
        container.read_inspect();
        assert_eq!(container.id, id, "docker run said {id}, inspect another id");
        container
    }

    /// A container in the host's network namespace (`--network host`) whose httpd binds
    /// 127.0.0.1:PORT only: the one way the guard of `run` lets the host's network in.
    pub fn run_on_host_network(port: u16) -> TestContainer {
        let bind = format!("127.0.0.1:{port}");
        Self::start(&["--network", "host"], &["/bin/httpd", "-f", "-p", &bind])
    }

    fn read_inspect(&mut self) {
        let text = docker_ok(&["inspect", "--type", "container", &self.name]);
        let all: Value = serde_json::from_str(&text).expect("docker inspect: JSON");
        let c = &all[0];
        self.id = c["Id"].as_str().expect("Id").to_string();
        let state = &c["State"];
        assert_eq!(
            state["Running"].as_bool(),
            Some(true),
            "{} is not running: {state}",
            self.name
        );
        self.pid = u32::try_from(state["Pid"].as_u64().expect("State.Pid")).expect("pid");
        assert_ne!(self.pid, 0, "{} runs without a pid: {state}", self.name);
        let net = &c["NetworkSettings"];
        self.published.clear();
        if let Some(ports) = net["Ports"].as_object() {
            for (container_port, bindings) in ports {
                for b in bindings.as_array().into_iter().flatten() {
                    self.published.push(Published {
                        container_port: container_port.clone(),
                        host_ip: b["HostIp"].as_str().expect("HostIp").parse().expect("ip"),
                        host_port: b["HostPort"]
                            .as_str()
                            .expect("HostPort")
                            .parse()
                            .expect("port"),
                    });
                }
            }
        }
        for p in &self.published {
            assert_eq!(
                p.host_ip.to_string(),
                "127.0.0.1",
                "{} publishes {p:?} beyond 127.0.0.1",
                self.name
            );
        }
        let first_network = net["Networks"]
            .as_object()
            .into_iter()
            .flat_map(|n| n.values())
            .map(|n| n["IPAddress"].as_str().unwrap_or(""));
        self.ip = std::iter::once(net["IPAddress"].as_str().unwrap_or(""))
            .chain(first_network)
            .find(|ip| !ip.is_empty())
            .map(|ip| ip.parse().expect("container IP"));
    }

    /// The host port that publishes `container_port` (`"80/tcp"`); panics when none does.
    pub fn host_port(&self, container_port: &str) -> u16 {
        self.published
            .iter()
            .find(|p| p.container_port == container_port)
            .unwrap_or_else(|| panic!("{} does not publish {container_port}", self.name))
            .host_port
    }

    /// Waits (up to 10 s) until a TCP socket listens on `port` inside the container's
    /// network namespace, read from `/proc/PID/net/tcp{,6}`: no traffic is sent.
    pub fn wait_listening(&self, port: u16) {
        let start = Instant::now();
        loop {
            if listens(self.pid, port) {
                return;
            }
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "nothing listens on port {port} in {} (pid {}) after 10 s",
                self.name,
                self.pid
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for TestContainer {
    fn drop(&mut self) {
        let out = Command::new("docker")
            .args(["rm", "--force", &self.name])
            .stdin(Stdio::null())
            .output();
        match out {
            Ok(out) if out.status.success() => {}
            Ok(out) => eprintln!(
                "docker rm --force {}: {}",
                self.name,
                String::from_utf8_lossy(&out.stderr).trim()
            ),
            Err(e) => eprintln!("docker rm --force {}: {e}", self.name),
        }
    }
}

/// Whether a TCP socket of PID's network namespace listens on `port`.
pub fn listens(pid: u32, port: u16) -> bool {
    let want = format!(":{port:04X}");
    ["tcp", "tcp6"].iter().any(|table| {
        std::fs::read_to_string(format!("/proc/{pid}/net/{table}"))
            .unwrap_or_default()
            .lines()
            .skip(1)
            .any(|line| {
                let fields: Vec<&str> = line.split_whitespace().collect();
                fields.len() > 3 && fields[1].ends_with(&want) && fields[3] == "0A"
            })
    })
}

/// Refuses `docker run` options that would reach beyond 127.0.0.1.
fn check_args(args: &[&str]) {
    let mut iter = args.iter();
    while let Some(&arg) = iter.next() {
        let publish = match arg {
            "-p" | "--publish" => Some(*iter.next().expect("-p needs a value")),
            _ if arg.starts_with("--publish=") => Some(&arg["--publish=".len()..]),
            _ if arg.starts_with("-p") && arg.len() > 2 => Some(&arg[2..]),
            _ => None,
        };
        if let Some(spec) = publish {
            assert!(
                spec.starts_with("127.0.0.1:"),
                "publish on 127.0.0.1 only (-p 127.0.0.1:HOSTPORT:PORT), not {spec:?}"
            );
        }
        assert!(
            !matches!(arg, "-P" | "--publish-all" | "--publish-all=true"),
            "{arg} publishes on every address: use -p 127.0.0.1:0:PORT"
        );
        let network = match arg {
            "--network" | "--net" => iter.clone().next().copied(),
            _ => arg
                .strip_prefix("--network=")
                .or_else(|| arg.strip_prefix("--net=")),
        };
        assert_ne!(
            network,
            Some("host"),
            "the host's network would put the container's listeners on the host's addresses"
        );
    }
}

/// `run`'s guard, without docker: only 127.0.0.1 publishing gets through.
#[test]
fn container_args_stay_on_loopback() {
    let refused = |args: &[&str]| std::panic::catch_unwind(|| check_args(args)).is_err();
    assert!(!refused(&["-p", "127.0.0.1:0:80", "--network", "bridge"]));
    assert!(!refused(&["--publish=127.0.0.1:8080:80/udp", "-e", "A=1"]));
    for bad in [
        &["-p", "0:80"][..],
        &["-p", "80"],
        &["-p8080:80"],
        &["--publish", "0.0.0.0:0:80"],
        &["--publish=[::]:0:80"],
        &["-P"],
        &["--publish-all"],
        &["--network", "host"],
        &["--net=host"],
    ] {
        assert!(refused(bad), "{bad:?} got through");
    }
}
