//! Who runs a process: its systemd unit and container (from its cgroup), and docker-proxy targets.

use std::net::IpAddr;

use crate::model::{Container, Manager, Proto, ProxyTarget, Runtime};

/// Read one process's cgroup file, or `None` when it cannot be read (the process exited,
/// or the kernel has no cgroups). `process::read` reads it through the process's open
/// directory; this is for the tests.
#[cfg(test)]
pub(crate) fn read(proc_root: &std::path::Path, pid: u32) -> Option<Manager> {
    let bytes = std::fs::read(proc_root.join(pid.to_string()).join("cgroup")).ok()?;
    // Cgroup names are whatever their creator chose; one odd byte must not hide the rest.
    Some(parse(&String::from_utf8_lossy(&bytes)))
}

/// Decode the text of `/proc/PID/cgroup`, v2, v1 or hybrid.
///
/// Lines are tried in this order: the unified (`0::`) line, the `name=systemd` line, then
/// the controllers in file order. The first line that names a container wins, else the
/// first that names a unit. A container outranks a unit from a preferred line because on
/// hybrid hosts runc (cgroupfs driver) moves a container's processes in the v1
/// controllers only, and the unified line keeps naming `containerd.service`.
pub fn parse(text: &str) -> Manager {
    let mut lines: Vec<Line<'_>> = text.lines().filter_map(Line::split).collect();
    // A stable sort keeps file order among the controllers.
    lines.sort_by_key(|line| line.rank);
    let mut with_unit = None;
    for line in &lines {
        let manager = of_path(line.path);
        if manager.container.is_some() {
            return manager;
        }
        if with_unit.is_none() && manager.unit.is_some() {
            with_unit = Some(manager);
        }
    }
    with_unit.unwrap_or_default()
}

/// One `hierarchy-id:controllers:path` line.
struct Line<'a> {
    /// 0 for the unified hierarchy, 1 for `name=systemd`, 2 for any other.
    rank: u8,
    path: &'a str,
}

impl<'a> Line<'a> {
    fn split(line: &'a str) -> Option<Line<'a>> {
        // Only the first two colons separate fields: a cgroup name may contain colons.
        let mut fields = line.splitn(3, ':');
        let hierarchy: u32 = fields.next()?.parse().ok()?;
        let controllers = fields.next()?;
        let path = fields.next()?;
        if !path.starts_with('/') {
            return None;
        }
        let rank = if hierarchy == 0 && controllers.is_empty() {
            0
        } else if controllers.split(',').any(|c| c == "name=systemd") {
            1
        } else {
            2
        };
        Some(Line { rank, path })
    }
}

fn of_path(path: &str) -> Manager {
    let parts = components(path);
    Manager {
        unit: unit_of(&parts),
        container: container_of(&parts),
    }
}

/// The path's names, outermost first.
fn components(path: &str) -> Vec<String> {
    // The kernel marks a removed cgroup this way; a zombie can still sit in one.
    let path = path.strip_suffix(" (deleted)").unwrap_or(path);
    let mut parts = Vec::new();
    // `..` appears when the process lies outside the reader's cgroup namespace; what
    // follows is still the real path below the common ancestor.
    for part in path
        .split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
    {
        // runc's systemd driver, when it falls back to plain cgroupfs, names a cgroup
        // `slice:prefix:name` for what systemd would call `slice/prefix-name.scope`.
        let pieces: Vec<&str> = part.split(':').collect();
        match pieces.as_slice() {
            [slice, prefix, name] if [slice, prefix, name].iter().all(|p| !p.is_empty()) => {
                parts.push((*slice).to_string());
                parts.push(format!("{prefix}-{name}"));
            }
            _ => parts.push(part.to_string()),
        }
    }
    parts
}

/// Unit types that hold processes; slices only group units and never name one.
const UNIT_SUFFIXES: [&str; 5] = [".service", ".scope", ".socket", ".mount", ".swap"];

fn is_unit(part: &str) -> bool {
    UNIT_SUFFIXES.iter().any(|suffix| {
        part.strip_suffix(suffix)
            .is_some_and(|stem| !stem.is_empty())
    })
}

/// `user@1000.service`: a user's own systemd, whose units are only meaningful next to it.
fn is_user_manager(part: &str) -> bool {
    part.strip_prefix("user@")
        .and_then(|rest| rest.strip_suffix(".service"))
        .is_some_and(|uid| !uid.is_empty() && uid.bytes().all(|b| b.is_ascii_digit()))
}

fn unit_of(parts: &[String]) -> Option<String> {
    let inner = parts.iter().rposition(|p| is_unit(p))?;
    let unit = parts.get(inner)?;
    let user_manager = parts
        .get(..inner)
        .and_then(|outer| outer.iter().rfind(|p| is_user_manager(p)));
    Some(match user_manager {
        Some(manager) => format!("{manager} › {unit}"),
        None => unit.clone(),
    })
}

/// Names of the form `prefix<id>.scope` (systemd driver) or `prefix<id>` (cgroupfs).
const SCOPED: [(&str, Runtime); 7] = [
    ("docker-", Runtime::Docker),
    ("libpod-conmon-", Runtime::PodmanConmon),
    ("libpod-", Runtime::Podman),
    ("cri-containerd-", Runtime::Containerd),
    ("crio-conmon-", Runtime::CriOConmon),
    ("crio-", Runtime::CriO),
    ("nerdctl-", Runtime::Containerd),
];

/// Container ids are hex; runtimes write 64 digits, some older setups 32. A lower bound
/// keeps a unit like `docker-cafe.scope` from passing for a container.
fn is_container_id(id: &str) -> bool {
    (12..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit())
}

/// One name's meaning for the container search.
enum Found {
    /// `kubepods.slice`, `kubepods-burstable.slice`, `kubepods`: the kubelet's tree.
    Kubepods,
    Pod(String),
    Container(Runtime, String),
}

fn classify(previous: Option<&str>, part: &str, in_kubepods: bool) -> Option<Found> {
    let stem = part.strip_suffix(".slice").unwrap_or(part);
    let segments: Vec<&str> = stem.split('-').collect();
    if segments.contains(&"kubepods") {
        // The systemd driver spells the pod `kubepods-<qos>-pod<uid>.slice`, with the
        // uid's dashes turned into underscores because a dash means nesting there.
        return Some(
            match segments.last().and_then(|last| last.strip_prefix("pod")) {
                Some(uid) if is_pod_uid(uid) => Found::Pod(uid.replace('_', "-")),
                _ => Found::Kubepods,
            },
        );
    }
    if in_kubepods {
        if let Some(uid) = part.strip_prefix("pod").filter(|uid| is_pod_uid(uid)) {
            return Some(Found::Pod(uid.to_string()));
        }
    }
    let unscoped = part.strip_suffix(".scope").unwrap_or(part);
    for (prefix, runtime) in SCOPED {
        if let Some(id) = unscoped
            .strip_prefix(prefix)
            .filter(|id| is_container_id(id))
        {
            return Some(Found::Container(runtime, id.to_string()));
        }
    }
    let named = |runtime, name: &str| {
        (!name.is_empty()).then(|| Found::Container(runtime, name.to_string()))
    };
    if let Some(name) = part.strip_prefix("lxc.payload.") {
        return named(Runtime::Lxc, name);
    }
    if let Some(name) = part.strip_prefix("lxc.monitor.") {
        return named(Runtime::LxcMonitor, name);
    }
    if let Some(name) = part
        .strip_prefix("systemd-nspawn@")
        .and_then(|rest| rest.strip_suffix(".service"))
    {
        return named(Runtime::SystemdNspawn, name);
    }
    // The cgroupfs layouts put the id in a directory of its own under the runtime's.
    match previous {
        Some("docker") if is_container_id(part) => named(Runtime::Docker, part),
        Some("lxc" | "lxc.payload") => named(Runtime::Lxc, part),
        Some("lxc.monitor") => named(Runtime::LxcMonitor, part),
        _ => None,
    }
}

/// Pod uids are UUIDs, or for static pods a hash: hex with dashes or underscores.
fn is_pod_uid(uid: &str) -> bool {
    (1..=64).contains(&uid.len())
        && uid
            .bytes()
            .all(|b| b.is_ascii_hexdigit() || b == b'-' || b == b'_')
}

/// The innermost container on the path: a container nested in another (docker in docker,
/// a kind node) is the one the process runs in.
fn container_of(parts: &[String]) -> Option<Container> {
    let mut in_kubepods = false;
    // A pod whose container has not been seen yet: the kubelet puts containers right
    // below their pod, and under the cgroupfs driver names them by bare id.
    let mut pod: Option<String> = None;
    let mut found: Option<Container> = None;
    let mut previous: Option<&str> = None;
    for part in parts {
        match classify(previous, part, in_kubepods) {
            Some(Found::Kubepods) => {
                // Whatever contained the kubelet's tree is the node, not the workload.
                in_kubepods = true;
                found = None;
            }
            Some(Found::Pod(uid)) => {
                in_kubepods = true;
                found = None;
                pod = Some(uid);
            }
            Some(Found::Container(runtime, id)) => found = Some(contained(runtime, id, pod.take())),
            None => {
                if pod.is_some() && is_container_id(part) {
                    found = Some(contained(Runtime::Kubernetes, part.clone(), pod.take()));
                }
            }
        }
        previous = Some(part);
    }
    found
}

/// In a pod, the kubelet decides a container's life, so it is `kubernetes` whichever
/// runtime made it; a monitor process keeps its runtime's name.
fn contained(runtime: Runtime, id: String, pod: Option<String>) -> Container {
    let runtime = match &pod {
        Some(_) if !runtime.is_monitor() => Runtime::Kubernetes,
        _ => runtime,
    };
    Container {
        runtime,
        id,
        pod,
        name: None,
        image: None,
    }
}

/// Where a `docker-proxy` forwards, from its command line; `None` for any other program
/// or when a required flag is missing or unreadable: a port that is no number, an
/// address that is no IP address, a protocol other than tcp and udp. docker-proxy itself
/// refuses such addresses, and it also forwards sctp, whose sockets portwho does not list,
/// so such a proxy never holds a socket portwho shows.
///
/// dockerd starts one proxy per published port and address family, so the proxy, not the
/// container, is what holds the host port.
pub fn docker_proxy_target(cmdline: &[String]) -> Option<ProxyTarget> {
    let (program, args) = cmdline.split_first()?;
    // A command line is the process's own to write; only the program name says this is a
    // proxy. RootlessKit ships one that takes the same flags.
    let name = program.rsplit('/').next().unwrap_or(program);
    if name != "docker-proxy" && name != "rootlesskit-docker-proxy" {
        return None;
    }
    let (mut proto, mut host_ip, mut host_port) = (None, None, None);
    let (mut container_ip, mut container_port) = (None, None);
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        if arg == "--" {
            break;
        }
        // Go's flag package takes `-flag value`, `-flag=value` and the same with `--`.
        let Some(flag) = arg.strip_prefix("--").or_else(|| arg.strip_prefix('-')) else {
            continue;
        };
        let (flag, inline) = match flag.split_once('=') {
            Some((flag, value)) => (flag, Some(value)),
            None => (flag, None),
        };
        let slot = match flag {
            "proto" => &mut proto,
            "host-ip" => &mut host_ip,
            "host-port" => &mut host_port,
            "container-ip" => &mut container_ip,
            "container-port" => &mut container_port,
            // Boolean flags such as -use-listen-fd take no separate value.
            _ => continue,
        };
        // Like Go, a valued flag takes the next argument whatever it looks like, and the
        // last occurrence wins.
        let value = match inline {
            Some(value) => value,
            None => match args.next() {
                Some(value) => value.as_str(),
                None => break,
            },
        };
        *slot = Some(value);
    }
    let ip = |value: Option<&str>| value?.parse::<IpAddr>().ok();
    let port = |value: Option<&str>| value?.parse::<u16>().ok();
    Some(ProxyTarget {
        proto: Proto::from_name(proto?)?,
        host_ip: ip(host_ip)?,
        host_port: port(host_port)?,
        container_ip: ip(container_ip)?,
        container_port: port(container_port)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    use std::path::{Path, PathBuf};

    fn fixtures() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/cgroup")
    }

    fn fixture(name: &str) -> String {
        std::fs::read_to_string(fixtures().join(name))
            .unwrap_or_else(|e| panic!("fixture {name}: {e}"))
    }

    fn unit(unit: &str) -> Manager {
        Manager {
            unit: Some(unit.to_string()),
            container: None,
        }
    }

    fn container(unit: Option<&str>, runtime: &str, id: &str, pod: Option<&str>) -> Manager {
        Manager {
            unit: unit.map(str::to_string),
            container: Some(Container {
                runtime: Runtime::ALL
                    .into_iter()
                    .find(|r| r.as_str() == runtime)
                    .unwrap_or_else(|| panic!("no runtime spelled {runtime}")),
                id: id.to_string(),
                pod: pod.map(str::to_string),
                name: None,
                image: None,
            }),
        }
    }

    const D1: &str = "8cda0c45d2a0d9fc505d07acb3b79e98ed6daf58b2ff0d59d84579677103a259";
    const D2: &str = "9ca22cc253460a9e1ddbae15d7c3e1fd3b98a4a27df3c665837fe89a48d64542";
    const P1: &str = "a31945e6a89ea9ba13c3fb4511231d5e6e655a03667c4742d65f8ff737ec2041";
    const P2: &str = "31b3b3868567ffca16ace91f278c75a5ef5f6b6f7c2af5dfc139c5e90ff542e2";
    const C1: &str = "56beb04fbf487c1c5bb0f01a3e7d0854e3dee86e77d4021d747eb132b8f7983f";
    const K1: &str = "767166090578baff2ed41e422d264ee7848ab0aa532516d307a75af50e90df8e";
    const K2: &str = "650e86adb0bc27a7cfcb0983066b920848253241df96b07b4767da5136bf4c7b";
    const K3: &str = "cdcfa205a07a951c80322915be6f57f321b0588644a9a8b167eda81a58dd728c";
    const N1: &str = "5ad972e8dfa03929ce18191c9c9aa6cc0986d521713f910baa86ec058b44fbdf";
    const U1: &str = "8f2e4746-bae7-4ad5-84d6-d88c48d6e00e";
    const U2: &str = "a102ccbb-998a-40cc-af6b-9b544edc302d";
    const U3: &str = "4b275c18-266b-4996-8cda-72e25d15407d";
    const U4: &str = "0e0e2639-9c69-48fd-874b-52398dc9a34d";
    const U5: &str = "f0d7721b-9315-451c-8996-fc35c1df47ed";

    /// Every file in `fixtures/linux/cgroup/` with the manager it must give.
    fn cases() -> Vec<(&'static str, Manager)> {
        let scope = |prefix: &str, id: &str| format!("{prefix}{id}.scope");
        vec![
            ("systemd-service.v2", unit("nginx.service")),
            (
                "user-app-scope.v2",
                unit("user@1000.service › app-gnome-code-8214.scope"),
            ),
            ("user-manager.v2", unit("user@1000.service › init.scope")),
            ("session-scope.v2", unit("session-3.scope")),
            ("getty.v2", unit("getty@tty1.service")),
            ("init.v2", unit("init.scope")),
            ("root.v2", Manager::default()),
            ("cgroupns-outside.v2", unit("ssh.service")),
            ("deleted.v2", unit("backup.service")),
            ("hybrid-systemd.v1", unit("ssh.service")),
            ("containerd-daemon.v2", unit("containerd.service")),
            (
                "docker.v2",
                container(Some(&scope("docker-", D1)), "docker", D1, None),
            ),
            (
                "docker-in-unit.v2",
                container(Some("nginx.service"), "docker", D2, None),
            ),
            ("docker.v1", container(None, "docker", D1, None)),
            (
                "docker-centos7.v1",
                container(Some(&scope("docker-", D2)), "docker", D2, None),
            ),
            (
                "podman.v2",
                container(Some(&scope("libpod-", P1)), "podman", P1, None),
            ),
            (
                "podman-conmon.v2",
                container(
                    Some(&scope("libpod-conmon-", P1)),
                    "podman-conmon",
                    P1,
                    None,
                ),
            ),
            (
                "podman-rootless.v2",
                container(
                    Some(&format!("user@1000.service › {}", scope("libpod-", P2))),
                    "podman",
                    P2,
                    None,
                ),
            ),
            (
                "nerdctl.v2",
                container(Some(&scope("nerdctl-", N1)), "containerd", N1, None),
            ),
            (
                "containerd-cri.v2",
                container(
                    Some(&scope("cri-containerd-", K1)),
                    "kubernetes",
                    K1,
                    Some(U1),
                ),
            ),
            (
                "crio.v2",
                container(Some(&scope("crio-", C1)), "kubernetes", C1, Some(U2)),
            ),
            (
                "crio-conmon.v2",
                container(
                    Some(&scope("crio-conmon-", C1)),
                    "cri-o-conmon",
                    C1,
                    Some(U2),
                ),
            ),
            (
                "k8s-burstable.v2",
                container(
                    Some(&scope("cri-containerd-", K2)),
                    "kubernetes",
                    K2,
                    Some(U3),
                ),
            ),
            ("k8s.v1", container(None, "kubernetes", K1, Some(U4))),
            (
                "k8s-colon.v1",
                container(Some("containerd.service"), "kubernetes", K2, Some(U2)),
            ),
            (
                "kind-node.v2",
                container(
                    Some(&scope("cri-containerd-", K3)),
                    "kubernetes",
                    K3,
                    Some(U5),
                ),
            ),
            (
                "lxc.v2",
                container(Some("nginx.service"), "lxc", "web01", None),
            ),
            (
                "lxc-monitor.v2",
                container(None, "lxc-monitor", "web01", None),
            ),
            (
                "lxc.v1",
                container(Some("nginx.service"), "lxc", "web01", None),
            ),
            (
                "nspawn.v2",
                container(Some("nginx.service"), "systemd-nspawn", "debian", None),
            ),
            // Captured on the machine that wrote these tests: a sandbox whose only
            // non-root cgroup is a memory limit that names nothing.
            ("captured-self.v1", Manager::default()),
            ("captured-pid1.v1", Manager::default()),
            ("garbage", Manager::default()),
        ]
    }

    #[test]
    fn fixtures_give_their_managers() {
        let mut wrong = Vec::new();
        for (name, expected) in cases() {
            let got = parse(&fixture(name));
            if got != expected {
                wrong.push(format!(
                    "{name}\n  expected {expected:?}\n  got      {got:?}"
                ));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn every_fixture_has_a_case() {
        let named: Vec<&str> = cases().iter().map(|(name, _)| *name).collect();
        for entry in std::fs::read_dir(fixtures()).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            assert!(named.contains(&file.as_str()), "no case for {file}");
        }
    }

    #[test]
    fn every_truncation_parses() {
        for (name, _) in cases() {
            let text = fixture(name);
            for (i, _) in text.char_indices() {
                parse(&text[..i]);
                parse(&text[i..]);
            }
        }
    }

    #[test]
    fn serializes_as_documented() {
        let json = serde_json::to_value(parse(&fixture("k8s-burstable.v2"))).unwrap();
        assert_eq!(
            json,
            serde_json::json!({
                "unit": format!("cri-containerd-{K2}.scope"),
                "container": {"runtime": "kubernetes", "id": K2, "pod": U3, "name": null, "image": null},
            })
        );
        let json = serde_json::to_value(parse(&fixture("root.v2"))).unwrap();
        assert_eq!(json, serde_json::json!({"unit": null, "container": null}));
    }

    #[test]
    fn reads_self_and_misses_quietly() {
        assert!(read(Path::new("/proc"), std::process::id()).is_some());
        assert_eq!(read(&fixtures(), 1), None);
        assert_eq!(read(Path::new("/nonexistent"), 1), None);
    }

    fn proxy_fixture(name: &str) -> Vec<String> {
        let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/linux/docker-proxy")
            .join(name);
        let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("fixture {name}: {e}"));
        crate::backend::linux::process::decode_cmdline(&bytes)
    }

    fn target(proto: &str, host: (&str, u16), container: (&str, u16)) -> Option<ProxyTarget> {
        Some(ProxyTarget {
            proto: Proto::from_name(proto).expect("tcp or udp"),
            host_ip: host.0.parse().expect("an IP address"),
            host_port: host.1,
            container_ip: container.0.parse().expect("an IP address"),
            container_port: container.1,
        })
    }

    /// Every file in `fixtures/linux/docker-proxy/` with the target it must give.
    fn proxy_cases() -> Vec<(&'static str, Option<ProxyTarget>)> {
        vec![
            (
                "ipv4.cmdline",
                target("tcp", ("0.0.0.0", 8080), ("172.17.0.2", 80)),
            ),
            (
                "ipv6-host.cmdline",
                target("tcp", ("::", 8080), ("172.17.0.2", 80)),
            ),
            (
                "udp.cmdline",
                target("udp", ("127.0.0.1", 5353), ("172.18.0.5", 53)),
            ),
            (
                "listen-fd.cmdline",
                target("tcp", ("0.0.0.0", 443), ("172.19.0.3", 8443)),
            ),
            (
                "flag-forms.cmdline",
                target("tcp", ("192.168.1.10", 9000), ("10.88.0.7", 9090)),
            ),
            (
                "rootlesskit.cmdline",
                target("tcp", ("0.0.0.0", 8080), ("172.17.0.2", 80)),
            ),
            ("missing-port.cmdline", None),
            ("bad-port.cmdline", None),
            ("not-proxy.cmdline", None),
        ]
    }

    #[test]
    fn proxy_fixtures_give_their_targets() {
        for (name, expected) in proxy_cases() {
            assert_eq!(
                docker_proxy_target(&proxy_fixture(name)),
                expected,
                "{name}"
            );
        }
        let named: Vec<&str> = proxy_cases().iter().map(|(name, _)| *name).collect();
        let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("fixtures/linux/docker-proxy");
        for entry in std::fs::read_dir(dir).unwrap() {
            let file = entry.unwrap().file_name().into_string().unwrap();
            assert!(named.contains(&file.as_str()), "no case for {file}");
        }
    }

    #[test]
    fn proxy_odd_command_lines_do_not_panic() {
        let odd = |args: &[&str]| {
            let args: Vec<String> = args.iter().map(|a| a.to_string()).collect();
            docker_proxy_target(&args)
        };
        assert_eq!(odd(&[]), None);
        assert_eq!(odd(&[""]), None);
        assert_eq!(odd(&["docker-proxy"]), None);
        assert_eq!(odd(&["docker-proxy", "-", "--", "-=", "--=x", "==="]), None);
        // A flag with its value missing at the very end.
        assert_eq!(odd(&["docker-proxy", "-proto"]), None);
        // An empty value is no value.
        assert_eq!(
            odd(&[
                "docker-proxy",
                "-proto=",
                "-host-ip",
                "0.0.0.0",
                "-host-port",
                "1",
                "-container-ip",
                "10.0.0.1",
                "-container-port",
                "2",
            ]),
            None
        );
        // A protocol other than tcp and udp, or an address that is no IP address, is no
        // target either (docker-proxy refuses such addresses and may forward sctp).
        let with = |proto: &str, host_ip: &str| {
            odd(&[
                "docker-proxy",
                "-proto",
                proto,
                "-host-ip",
                host_ip,
                "-host-port",
                "1",
                "-container-ip",
                "10.0.0.1",
                "-container-port",
                "2",
            ])
        };
        assert!(with("tcp", "0.0.0.0").is_some());
        assert_eq!(with("sctp", "0.0.0.0"), None);
        assert_eq!(with("TCP", "0.0.0.0"), None);
        assert_eq!(with("tcp", "localhost"), None);
        assert_eq!(with("tcp", "[::]"), None);
        // Every cut of every argument of every fixture.
        for (name, _) in proxy_cases() {
            let args = proxy_fixture(name);
            for n in 0..=args.len() {
                docker_proxy_target(&args[..n]);
            }
            for (i, arg) in args.iter().enumerate() {
                for (cut, _) in arg.char_indices() {
                    let mut args = args.clone();
                    args[i] = arg[..cut].to_string();
                    docker_proxy_target(&args);
                }
            }
        }
    }
}
