//! Containers and published ports: the runtime a cgroup names, where docker-proxy forwards.

use std::net::IpAddr;

use serde::{Serialize, Serializer};

use super::Proto;

/// A container a process runs in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Container {
    pub runtime: Runtime,
    /// The id or name exactly as the cgroup path spells it, never shortened.
    pub id: String,
    /// The Kubernetes pod uid, dashed as the API server shows it.
    pub pod: Option<String>,
    /// Its name and image as the runtime's state on disk records them, when it was read.
    pub name: Option<String>,
    pub image: Option<String>,
}

/// What runs a container, as its cgroup path tells.
///
/// A runtime's monitor process (`podman-conmon`, `cri-o-conmon`, `lxc-monitor`) is named
/// apart from the runtime, because it serves the container from outside it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Runtime {
    Docker,
    Podman,
    PodmanConmon,
    /// containerd itself, or nerdctl on it.
    Containerd,
    CriO,
    CriOConmon,
    /// Any runtime's container inside a Kubernetes pod.
    Kubernetes,
    Lxc,
    LxcMonitor,
    SystemdNspawn,
}

impl Runtime {
    pub const ALL: [Runtime; 10] = [
        Runtime::Docker,
        Runtime::Podman,
        Runtime::PodmanConmon,
        Runtime::Containerd,
        Runtime::CriO,
        Runtime::CriOConmon,
        Runtime::Kubernetes,
        Runtime::Lxc,
        Runtime::LxcMonitor,
        Runtime::SystemdNspawn,
    ];

    /// The name shown in the owner card and written in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Runtime::Docker => "docker",
            Runtime::Podman => "podman",
            Runtime::PodmanConmon => "podman-conmon",
            Runtime::Containerd => "containerd",
            Runtime::CriO => "cri-o",
            Runtime::CriOConmon => "cri-o-conmon",
            Runtime::Kubernetes => "kubernetes",
            Runtime::Lxc => "lxc",
            Runtime::LxcMonitor => "lxc-monitor",
            Runtime::SystemdNspawn => "systemd-nspawn",
        }
    }

    /// A process that watches a container from outside it: in a pod it keeps its own
    /// runtime instead of becoming `kubernetes`.
    pub fn is_monitor(self) -> bool {
        matches!(
            self,
            Runtime::PodmanConmon | Runtime::CriOConmon | Runtime::LxcMonitor
        )
    }
}

/// As `as_str` spells it: one spelling for people and for JSON.
impl Serialize for Runtime {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

/// Where a `docker-proxy` process forwards a published port.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ProxyTarget {
    pub proto: Proto,
    pub host_ip: IpAddr,
    pub host_port: u16,
    pub container_ip: IpAddr,
    pub container_port: u16,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runtimes_are_spelled_once_each_and_serialized_as_spelled() {
        let names: Vec<&str> = Runtime::ALL.iter().map(|r| r.as_str()).collect();
        let mut unique = names.clone();
        unique.sort_unstable();
        unique.dedup();
        assert_eq!(unique.len(), names.len(), "{names:?}");
        for runtime in Runtime::ALL {
            assert_eq!(
                serde_json::to_value(runtime).unwrap(),
                serde_json::json!(runtime.as_str())
            );
        }
    }

    #[test]
    fn proxy_targets_serialize_as_strings_and_numbers() {
        let target = ProxyTarget {
            proto: Proto::Udp,
            host_ip: "::".parse().unwrap(),
            host_port: 5353,
            container_ip: "172.18.0.5".parse().unwrap(),
            container_port: 53,
        };
        assert_eq!(
            serde_json::to_value(target).unwrap(),
            serde_json::json!({"proto": "udp", "host_ip": "::", "host_port": 5353,
                               "container_ip": "172.18.0.5", "container_port": 53})
        );
    }
}
