//! Docker: `DATA_ROOT/containers/ID/config.v2.json` and `hostconfig.json`, as dockerd
//! writes them on every change of state (`DATA_ROOT` is `/var/lib/docker` unless
//! `/etc/docker/daemon.json` moves it).

use std::collections::BTreeMap;
use std::net::IpAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{File, Malformed, Parsed, subdirectories, text};
use crate::model::{ContainerState, Containers, PortBinding, Proto, Runtime};

/// Labels kubelet puts on the containers it runs through docker (dockershim, cri-dockerd).
const POD_NAME: &str = "io.kubernetes.pod.name";
const POD_NAMESPACE: &str = "io.kubernetes.pod.namespace";
const POD_UID: &str = "io.kubernetes.pod.uid";
const CONTAINER_NAME: &str = "io.kubernetes.container.name";

/// Read every container docker keeps state for under `root`.
pub(super) fn read(root: &Path, found: &mut Containers) {
    let containers = data_root(root).join("containers");
    for (_, dir) in subdirectories(&containers, found) {
        // A directory without its state is being created or removed: nothing to say.
        let Some(config) = File::read(&dir.join("config.v2.json")).bytes_or_count(found) else {
            continue;
        };
        let hostconfig = File::read(&dir.join("hostconfig.json")).bytes_or_count(found);
        match parse(&config, hostconfig.as_deref()) {
            Ok(parsed) => {
                found.unreadable += parsed.skipped;
                found.containers.push(parsed.state);
            }
            Err(_) => found.unreadable += 1,
        }
    }
}

/// dockerd's `data-root`, from its configuration file when that names one.
fn data_root(root: &Path) -> PathBuf {
    #[derive(Deserialize)]
    struct Daemon {
        #[serde(rename = "data-root")]
        data_root: Option<String>,
    }
    let configured = match File::read(&root.join("etc/docker/daemon.json")) {
        File::Bytes(bytes) => serde_json::from_slice::<Daemon>(&bytes)
            .ok()
            .and_then(|d| d.data_root),
        // dockerd refuses to start with a file it cannot read: the default is as good.
        _ => None,
    };
    match configured {
        Some(dir) if dir.starts_with('/') => root.join(dir.trim_start_matches('/')),
        _ => root.join("var/lib/docker"),
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct Config {
    #[serde(rename = "ID")]
    id: Option<String>,
    name: Option<String>,
    config: Option<ImageConfig>,
    state: Option<State>,
    network_settings: Option<NetworkSettings>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct ImageConfig {
    image: Option<String>,
    labels: Option<BTreeMap<String, String>>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct State {
    running: Option<bool>,
    pid: Option<i64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct NetworkSettings {
    networks: Option<BTreeMap<String, Option<Endpoint>>>,
    ports: Option<Ports>,
    sandbox_key: Option<String>,
}

#[derive(Deserialize)]
struct Endpoint {
    #[serde(rename = "IPAddress")]
    ip_address: Option<String>,
    #[serde(rename = "GlobalIPv6Address")]
    global_ipv6_address: Option<String>,
}

/// `"80/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]`; `null` for a port exposed
/// but not published.
type Ports = BTreeMap<String, Option<Vec<HostBinding>>>;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostBinding {
    host_ip: Option<String>,
    host_port: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
struct HostConfig {
    network_mode: Option<String>,
    port_bindings: Option<Ports>,
}

/// Parse one container's `config.v2.json` and, when there, its `hostconfig.json`.
///
/// `config.v2.json` is the container: without it, or without an id in it, there is
/// nothing. A malformed `hostconfig.json` costs only the network mode and the ports of a
/// stopped container, and is counted in `skipped`.
pub fn parse(config: &[u8], hostconfig: Option<&[u8]>) -> Result<Parsed, Malformed> {
    let config: Config = serde_json::from_slice(config)?;
    let id = text(config.id.as_deref()).ok_or(Malformed::NoId)?;
    let (host, skipped) = match hostconfig.map(serde_json::from_slice::<HostConfig>) {
        Some(Ok(host)) => (Some(host), 0),
        Some(Err(_)) => (None, 1),
        None => (None, 0),
    };
    let running = config.state.as_ref().and_then(|s| s.running) == Some(true);
    let pid = config
        .state
        .as_ref()
        .and_then(|s| s.pid)
        .and_then(|pid| u32::try_from(pid).ok())
        .filter(|&pid| pid > 0 && running);
    let labels = config
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .cloned()
        .unwrap_or_default();
    let label = |key: &str| text(labels.get(key).map(String::as_str));
    let network = config.network_settings;
    let ports = published(running, network.as_ref(), host.as_ref());
    let network_mode = host
        .as_ref()
        .and_then(|h| text(h.network_mode.as_deref()))
        // What `docker run` writes for no `--network`: the bridge, on Linux.
        .map(|mode| {
            if mode == "default" {
                "bridge".into()
            } else {
                mode
            }
        });
    let state = ContainerState {
        runtime: Some(if label(POD_NAME).is_some() {
            Runtime::Kubernetes
        } else {
            Runtime::Docker
        }),
        id,
        name: label(CONTAINER_NAME).or_else(|| {
            text(
                config
                    .name
                    .as_deref()
                    .map(|n| n.strip_prefix('/').unwrap_or(n)),
            )
        }),
        image: text(config.config.as_ref().and_then(|c| c.image.as_deref())),
        pod: label(POD_NAME),
        pod_namespace: label(POD_NAMESPACE),
        pod_uid: label(POD_UID),
        pid,
        network_mode,
        addresses: network.as_ref().map(addresses).unwrap_or_default(),
        ports,
        sandbox: network
            .as_ref()
            .and_then(|n| text(n.sandbox_key.as_deref()))
            .map(PathBuf::from),
    };
    Ok(Parsed { state, skipped })
}

/// Running, `NetworkSettings.Ports` is what dockerd bound (a port left for it to choose is
/// chosen there); stopped, dockerd clears it, and `PortBindings`, what the next start will
/// ask for, is what there is.
fn published(
    running: bool,
    network: Option<&NetworkSettings>,
    host: Option<&HostConfig>,
) -> Vec<PortBinding> {
    let ports = if running {
        network.and_then(|n| n.ports.as_ref())
    } else {
        host.and_then(|h| h.port_bindings.as_ref())
    };
    ports.map(bindings).unwrap_or_default()
}

/// Every network's IPv4 and global IPv6 address, by network name, once each.
fn addresses(network: &NetworkSettings) -> Vec<IpAddr> {
    let mut found = Vec::new();
    for endpoint in network
        .networks
        .iter()
        .flatten()
        .filter_map(|(_, e)| e.as_ref())
    {
        for address in [&endpoint.ip_address, &endpoint.global_ipv6_address] {
            if let Some(ip) = address.as_deref().and_then(|a| a.parse::<IpAddr>().ok())
                && !found.contains(&ip)
            {
                found.push(ip);
            }
        }
    }
    found
}

/// The published ports, sorted, once each. An entry whose port, protocol (docker also
/// knows sctp) or host address does not parse is left out.
fn bindings(ports: &Ports) -> Vec<PortBinding> {
    let mut found = Vec::new();
    for (key, hosts) in ports {
        // A key without a protocol is TCP, as docker reads it.
        let (port, proto) = key.split_once('/').unwrap_or((key, "tcp"));
        let (Ok(container_port), Some(proto)) = (port.parse::<u16>(), Proto::from_name(proto))
        else {
            continue;
        };
        for host in hosts.iter().flatten() {
            let Some(host_port) = host
                .host_port
                .as_deref()
                .and_then(|p| p.parse::<u16>().ok())
                .filter(|&p| p != 0)
            else {
                continue;
            };
            let host_addr = match host.host_ip.as_deref().unwrap_or("") {
                "" => None,
                ip => match ip.parse::<IpAddr>() {
                    Ok(ip) if ip.is_unspecified() => None,
                    Ok(ip) => Some(ip),
                    Err(_) => continue,
                },
            };
            found.push(PortBinding {
                proto,
                host_addr,
                host_port,
                container_port,
            });
        }
    }
    found.sort_by_key(|b| (b.host_port, b.proto, b.host_addr, b.container_port));
    // `-p 8080:80` is bound on 0.0.0.0 and on ::, both "every address" here.
    found.dedup();
    found
}

#[cfg(test)]
// The tests write scratch trees; portwho itself writes none (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::super::testing::{Scratch, fixture};
    use super::*;

    const WEB: &str = "2881535336a25b77b13f3e6d236cf90642562c9e1deb52266ecb58bff4175fbf";
    const TWO: &str = "c5930747593ed87dbf159ee6abd336e892545d97c6fda4c00216293b154d6421";
    const NONE: &str = "98e445115bf7886fdae4687fea3129d88b28d21e96ce827013d94198bba3b676";
    const HOST: &str = "b421720464dfeaa5a9466ca316acab1d8eee17f5e83e9e155f6884da0b5d00d6";
    const SHARED: &str = "870b3d824aa4562629cda901fc44b4567c0d7949543a1c14e689cbb9a5b14619";
    const STOPPED: &str = "65ff2adb7770d32f08f02782b38998c8f289cebe7d87bc6abadb83b8bec609dd";
    const IMAGE: &str = "portwho-test-busybox:1";

    fn dir(id: &str) -> String {
        format!("var/lib/docker/containers/{id}")
    }

    fn tcp(host: &str, host_port: u16, container_port: u16) -> PortBinding {
        PortBinding {
            proto: Proto::Tcp,
            host_addr: Some(host.parse().unwrap()),
            host_port,
            container_port,
        }
    }

    /// What `docker inspect` said of each container when the fixtures were captured
    /// (fixtures/README.md): `.Id`, `.Name`, `.Config.Image`, `.State.Pid` (of the running
    /// ones), `.HostConfig.NetworkMode`, every network's `.IPAddress`,
    /// `.NetworkSettings.Ports` (of the running ones; `.HostConfig.PortBindings` of the
    /// stopped one) and `.NetworkSettings.SandboxKey`.
    fn inspected() -> Vec<ContainerState> {
        let docker = |id: &str, name: &str| ContainerState {
            runtime: Some(Runtime::Docker),
            id: id.into(),
            name: Some(name.into()),
            image: Some(IMAGE.into()),
            ..ContainerState::default()
        };
        let netns = |key: &str| Some(PathBuf::from(format!("/var/run/docker/netns/{key}")));
        // Sorted by id, as the directories are read.
        vec![
            ContainerState {
                pid: Some(12880),
                // inspect says "default", which dockerd runs as the bridge.
                network_mode: Some("bridge".into()),
                addresses: vec!["172.17.0.2".parse().unwrap()],
                ports: vec![tcp("127.0.0.1", 18081, 80)],
                sandbox: netns("ff68d1eafd61"),
                ..docker(WEB, "pw-fixture-web")
            },
            ContainerState {
                // Created, never started: no pid, no address, no sandbox; the ports it
                // asks for.
                network_mode: Some("bridge".into()),
                ports: vec![tcp("127.0.0.1", 18084, 80)],
                ..docker(STOPPED, "pw-fixture-stopped")
            },
            ContainerState {
                pid: Some(13158),
                network_mode: Some(format!("container:{WEB}")),
                ..docker(SHARED, "pw-fixture-shared")
            },
            ContainerState {
                pid: Some(13037),
                network_mode: Some("none".into()),
                sandbox: netns("d8056603e198"),
                ..docker(NONE, "pw-fixture-none")
            },
            ContainerState {
                pid: Some(13108),
                network_mode: Some("host".into()),
                sandbox: netns("default"),
                ..docker(HOST, "pw-fixture-host")
            },
            ContainerState {
                pid: Some(12970),
                network_mode: Some("bridge".into()),
                addresses: vec!["172.17.0.3".parse().unwrap()],
                ports: vec![
                    PortBinding {
                        proto: Proto::Udp,
                        ..tcp("127.0.0.1", 18082, 53)
                    },
                    tcp("127.0.0.1", 18083, 8080),
                ],
                sandbox: netns("c02c0a02cb2f"),
                ..docker(TWO, "pw-fixture-two")
            },
        ]
    }

    #[test]
    fn the_captured_containers_read_as_docker_inspect_showed_them() {
        let found = read_all(&fixture("docker"));
        assert_eq!(found.unreadable, 0);
        assert_eq!(found.containers, inspected());
    }

    fn read_all(root: &Path) -> Containers {
        let mut found = Containers::default();
        read(root, &mut found);
        found
    }

    #[test]
    fn without_hostconfig_the_rest_still_counts() {
        let scratch = Scratch::new("docker-no-hostconfig");
        let file = format!("{}/config.v2.json", dir(WEB));
        scratch.copy_from(&fixture("docker"), &file);
        let found = read_all(&scratch.0);
        let expected = ContainerState {
            network_mode: None,
            ..inspected().remove(0)
        };
        assert_eq!(found.containers, vec![expected]);
        assert_eq!(
            found.unreadable, 0,
            "a missing file is not an unreadable one"
        );

        // Stopped, its ports were only in hostconfig.json.
        let file = format!("{}/config.v2.json", dir(STOPPED));
        let config = std::fs::read(fixture("docker").join(file)).unwrap();
        let parsed = parse(&config, None).unwrap();
        assert_eq!((parsed.state.ports, parsed.skipped), (vec![], 0));
    }

    #[test]
    fn a_malformed_hostconfig_is_counted_and_the_rest_kept() {
        let fixture = fixture("docker");
        let config = std::fs::read(fixture.join(dir(WEB)).join("config.v2.json")).unwrap();
        let parsed = parse(&config, Some(b"{\"NetworkMode\": ")).unwrap();
        assert_eq!(parsed.skipped, 1);
        assert_eq!(parsed.state.network_mode, None);
        assert_eq!(parsed.state.ports, inspected()[0].ports);

        let scratch = Scratch::new("docker-bad-hostconfig");
        scratch.copy_from(&fixture, &format!("{}/config.v2.json", dir(WEB)));
        scratch.write(&format!("{}/hostconfig.json", dir(WEB)), b"[]");
        let found = read_all(&scratch.0);
        assert_eq!((found.containers.len(), found.unreadable), (1, 1));
    }

    /// Every prefix of each captured file, as a crash mid-write would leave it: never a
    /// panic; a cut `config.v2.json` is skipped and counted, a cut `hostconfig.json` costs
    /// only itself.
    #[test]
    fn truncated_state_files_are_skipped_and_counted() {
        let fixture = fixture("docker");
        for id in [WEB, TWO, STOPPED] {
            let config = std::fs::read(fixture.join(dir(id)).join("config.v2.json")).unwrap();
            let host = std::fs::read(fixture.join(dir(id)).join("hostconfig.json")).unwrap();
            // Up to the closing brace: only the final newline can go unnoticed.
            for cut in 0..config.trim_ascii_end().len() {
                let result = parse(&config[..cut], Some(&host));
                assert!(result.is_err(), "{id}: a prefix of {cut} bytes parsed");
            }
            let whole = parse(&config, Some(&host)).unwrap();
            assert_eq!(whole.skipped, 0);
            for cut in 0..host.trim_ascii_end().len() {
                let parsed = parse(&config, Some(&host[..cut])).unwrap();
                assert_eq!(parsed.skipped, 1, "{id}: hostconfig cut at {cut}");
                assert_eq!(parsed.state.pid, whole.state.pid);
            }
        }

        // Through the walk: one cut file among good ones.
        let scratch = Scratch::new("docker-truncated");
        for id in [WEB, TWO] {
            for file in ["config.v2.json", "hostconfig.json"] {
                scratch.copy_from(&fixture, &format!("{}/{file}", dir(id)));
            }
        }
        let config = std::fs::read(fixture.join(dir(TWO)).join("config.v2.json")).unwrap();
        scratch.write(
            &format!("{}/config.v2.json", dir(TWO)),
            &config[..config.len() / 2],
        );
        let found = read_all(&scratch.0);
        assert_eq!(found.unreadable, 1);
        assert_eq!(found.containers, vec![inspected().remove(0)]);
    }

    #[test]
    fn garbage_and_other_shapes_are_malformed() {
        for bad in [
            &b""[..],
            b"\xff\xfe",
            b"null",
            b"[]",
            b"{}",
            br#"{"ID": ""}"#,
            br#"{"ID": 5}"#,
            br#"{"ID": "a", "State": {"Pid": "12"}}"#,
            br#"{"ID": "a", "NetworkSettings": {"Ports": []}}"#,
        ] {
            assert!(
                parse(bad, None).is_err(),
                "{:?}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[test]
    fn fields_docker_may_leave_out_or_spell_oddly() {
        let parsed = parse(
            br#"{"ID": "abc", "Name": "/", "State": {"Running": true, "Pid": 4294967296},
                "NetworkSettings": {"Networks": {"a": null, "b": {"IPAddress": "x",
                    "GlobalIPv6Address": "2001:db8::5"}, "c": {"IPAddress": "10.0.0.2"}},
                "Ports": {"80/tcp": null, "81/sctp": [{"HostIp": "", "HostPort": "81"}],
                    "82/tcp": [{"HostIp": "0.0.0.0", "HostPort": "8082"},
                               {"HostIp": "::", "HostPort": "8082"},
                               {"HostIp": "::1", "HostPort": "8083"},
                               {"HostIp": "bad", "HostPort": "8084"},
                               {"HostIp": "", "HostPort": ""},
                               {"HostIp": "", "HostPort": "0"}],
                    "x/udp": [{"HostPort": "1"}], "83": [{"HostPort": "8085"}]}}}"#,
            Some(br#"{"NetworkMode": "", "PortBindings": {"9/tcp": [{"HostPort": "9"}]}}"#),
        )
        .unwrap();
        let state = parsed.state;
        assert_eq!(
            (state.name, state.pid, state.network_mode),
            (None, None, None)
        );
        assert_eq!(
            state.addresses,
            [
                "2001:db8::5".parse::<IpAddr>().unwrap(),
                "10.0.0.2".parse().unwrap()
            ]
        );
        let every = |host_port, container_port| PortBinding {
            host_addr: None,
            ..tcp("::", host_port, container_port)
        };
        assert_eq!(
            state.ports,
            [every(8082, 82), tcp("::1", 8083, 82), every(8085, 83)],
            "running: NetworkSettings.Ports, not PortBindings"
        );
    }

    #[test]
    fn kubelet_labels_make_it_a_pod_container() {
        let parsed = parse(
            br#"{"ID": "abc", "Name": "/k8s_nginx_web-0_shop_0f1e_0",
                "Config": {"Image": "nginx:1.25", "Labels": {
                    "io.kubernetes.pod.name": "web-0", "io.kubernetes.pod.namespace": "shop",
                    "io.kubernetes.pod.uid": "0f1e", "io.kubernetes.container.name": "nginx"}}}"#,
            None,
        )
        .unwrap();
        let state = parsed.state;
        assert_eq!(state.runtime, Some(Runtime::Kubernetes));
        assert_eq!(
            (state.name, state.pod, state.pod_namespace, state.pod_uid),
            (
                Some("nginx".into()),
                Some("web-0".into()),
                Some("shop".into()),
                Some("0f1e".into())
            )
        );
    }

    #[test]
    fn a_moved_data_root_is_followed() {
        let scratch = Scratch::new("docker-data-root");
        scratch.write("etc/docker/daemon.json", br#"{"data-root": "/srv/docker"}"#);
        let file = format!("{}/config.v2.json", dir(WEB));
        let config = std::fs::read(fixture("docker").join(&file)).unwrap();
        scratch.write(
            &format!("srv/docker/containers/{WEB}/config.v2.json"),
            &config,
        );
        scratch.write(&file.replace(WEB, "elsewhere"), b"not read");
        let found = read_all(&scratch.0);
        assert_eq!(found.unreadable, 0);
        assert_eq!(found.containers.len(), 1);
        assert_eq!(found.containers[0].id, WEB);
    }
}
