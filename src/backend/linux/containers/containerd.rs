//! containerd: the bundle of each running task,
//! `STATE/io.containerd.runtime.v2.task/NAMESPACE/ID/` with the OCI spec (`config.json`)
//! and the first process's pid (`init.pid`). Kubernetes' CRI plugin runs its pods'
//! containers in the `k8s.io` namespace and annotates their specs.

use std::path::Path;

use super::{File, Malformed, Parsed, oci, parse_pid, subdirectories, text};
use crate::model::{ContainerState, Containers, Runtime};

/// Where containerd keeps its tasks' state: its own, and k3s's bundled one.
const STATE_DIRS: [&str; 2] = ["run/containerd", "run/k3s/containerd"];

/// dockerd's namespace: docker's own files describe those containers with their names and
/// ports, so they are read there, once.
const DOCKER_NAMESPACE: &str = "moby";

/// The annotations containerd's CRI plugin sets (pkg/cri/annotations, internal/cri/
/// annotations in containerd 2).
mod cri {
    pub(super) const CONTAINER_TYPE: &str = "io.kubernetes.cri.container-type";
    pub(super) const SANDBOX_NAME: &str = "io.kubernetes.cri.sandbox-name";
    pub(super) const SANDBOX_NAMESPACE: &str = "io.kubernetes.cri.sandbox-namespace";
    pub(super) const SANDBOX_UID: &str = "io.kubernetes.cri.sandbox-uid";
    pub(super) const CONTAINER_NAME: &str = "io.kubernetes.cri.container-name";
    pub(super) const IMAGE_NAME: &str = "io.kubernetes.cri.image-name";
    /// The pause image, on a sandbox (containerd 2).
    pub(super) const SANDBOX_IMAGE_NAME: &str = "io.kubernetes.cri.podsandbox.image-name";
}

/// Read every task bundle under `root`'s containerd state directories.
pub(super) fn read(root: &Path, found: &mut Containers) {
    for state in STATE_DIRS {
        let tasks = root.join(state).join("io.containerd.runtime.v2.task");
        for (namespace, dir) in subdirectories(&tasks, found) {
            if namespace == DOCKER_NAMESPACE {
                continue;
            }
            for (id, bundle) in subdirectories(&dir, found) {
                let Some(config) = File::read(&bundle.join("config.json")).bytes_or_count(found)
                else {
                    continue;
                };
                let init_pid = File::read(&bundle.join("init.pid")).bytes_or_count(found);
                match parse(&id, &config, init_pid.as_deref()) {
                    Ok(parsed) => {
                        found.unreadable += parsed.skipped;
                        found.containers.push(parsed.state);
                    }
                    Err(_) => found.unreadable += 1,
                }
            }
        }
    }
}

/// Parse a bundle: its directory's name (the container's id), its `config.json` and, when
/// there, its `init.pid`.
///
/// A spec with the CRI plugin's annotations is a Kubernetes pod's container or its
/// sandbox (the pause container that holds the pod's namespaces); a sandbox has the pod's
/// name but no container name. A malformed `init.pid` is counted in `skipped`.
pub fn parse(id: &str, config: &[u8], init_pid: Option<&[u8]>) -> Result<Parsed, Malformed> {
    if id.is_empty() {
        return Err(Malformed::NoId);
    }
    let spec = oci::parse(config)?;
    let pid = init_pid.map(parse_pid);
    let skipped = usize::from(pid == Some(None));
    let annotation = |key: &str| text(spec.annotation(key));
    let kind = spec.annotation(cri::CONTAINER_TYPE);
    let pod = annotation(cri::SANDBOX_NAME);
    let kubernetes = kind.is_some() || pod.is_some();
    let state = ContainerState {
        runtime: Some(if kubernetes {
            Runtime::Kubernetes
        } else {
            Runtime::Containerd
        }),
        id: id.to_string(),
        name: annotation(cri::CONTAINER_NAME),
        image: annotation(cri::IMAGE_NAME).or_else(|| annotation(cri::SANDBOX_IMAGE_NAME)),
        pod,
        pod_namespace: annotation(cri::SANDBOX_NAMESPACE),
        pod_uid: annotation(cri::SANDBOX_UID),
        pid: pid.flatten(),
        network_mode: spec.network_mode(),
        // The pod's addresses and host ports are in containerd's database, not the bundle.
        addresses: Vec::new(),
        ports: Vec::new(),
        sandbox: spec.sandbox(),
    };
    Ok(Parsed { state, skipped })
}

#[cfg(test)]
// The tests write scratch trees; portwho itself writes none (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use std::path::PathBuf;

    use super::super::testing::{Scratch, fixture};
    use super::*;

    const TASKS: &str = "run/containerd/io.containerd.runtime.v2.task";
    /// Captured from docker's containerd (fixtures/README.md).
    const PLAIN: &str = "2881535336a25b77b13f3e6d236cf90642562c9e1deb52266ecb58bff4175fbf";
    const SANDBOX: &str = "4b1c0e7f6a0d9c2e8b3a5f1d7c6e9a0b2d4f6a8c0e1b3d5f7a9c1e3b5d7f9a1c";
    const APP: &str = "9f3a7c1e5b2d8f4a6c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a";
    const HOSTNET: &str = "c7e1a3b5d9f2a4c6e8b0d2f4a6c8e0b2d4f6a8c0e2b4d6f8a0c2e4b6d8f0a2c4";

    fn read_all(root: &Path) -> Containers {
        let mut found = Containers::default();
        read(root, &mut found);
        found
    }

    fn pod(id: &str, pid: u32) -> ContainerState {
        ContainerState {
            runtime: Some(Runtime::Kubernetes),
            id: id.into(),
            pod: Some("web-7d4b9c6f5-x2x5q".into()),
            pod_namespace: Some("shop".into()),
            pod_uid: Some("0b6e3b9a-6f2d-4c1e-9a7b-3d5f8e2c1a40".into()),
            pid: Some(pid),
            ..ContainerState::default()
        }
    }

    #[test]
    fn bundles_read_as_written() {
        let found = read_all(&fixture("containerd"));
        assert_eq!(found.unreadable, 0);
        let expected = vec![
            // Namespace `default`, read first: the bundle docker's containerd made for
            // pw-fixture-web (its own network namespace, no annotations).
            ContainerState {
                runtime: Some(Runtime::Containerd),
                id: PLAIN.into(),
                pid: Some(12880),
                ..ContainerState::default()
            },
            // Namespace `k8s.io`, hand-written after the CRI plugin's annotations.
            ContainerState {
                sandbox: Some(PathBuf::from(
                    "/var/run/netns/cni-5d0c2b8e-3f1a-4e6b-9c7d-2a8f0e1b3c5d",
                )),
                image: Some("registry.k8s.io/pause:3.9".into()),
                ..pod(SANDBOX, 4101)
            },
            ContainerState {
                name: Some("nginx".into()),
                image: Some("docker.io/library/nginx:1.25".into()),
                sandbox: Some(PathBuf::from("/proc/4101/ns/net")),
                ..pod(APP, 4188)
            },
            ContainerState {
                pod: Some("node-exporter-8kq2m".into()),
                pod_namespace: Some("monitoring".into()),
                pod_uid: Some("5e2a9c7d-1b3f-4d6e-8a0c-2f4b6d8e0a1c".into()),
                network_mode: Some("host".into()),
                ..pod(HOSTNET, 4302)
            },
        ];
        assert_eq!(found.containers, expected);
    }

    #[test]
    fn dockers_namespace_is_left_to_docker() {
        let scratch = Scratch::new("containerd-moby");
        let file = format!("{TASKS}/default/{PLAIN}/config.json");
        let config = std::fs::read(fixture("containerd").join(file)).unwrap();
        scratch.write(&format!("{TASKS}/moby/{PLAIN}/config.json"), &config);
        assert_eq!(read_all(&scratch.0), Containers::default());
        // k3s keeps its own containerd's state apart.
        scratch.write(
            &format!("run/k3s/containerd/io.containerd.runtime.v2.task/k8s.io/{PLAIN}/config.json"),
            &config,
        );
        let found = read_all(&scratch.0);
        assert_eq!((found.containers.len(), found.unreadable), (1, 0));
        assert_eq!(found.containers[0].pid, None, "no init.pid: not started");
    }

    #[test]
    fn truncated_specs_and_bad_pids() {
        let root = fixture("containerd");
        let config = std::fs::read(root.join(format!("{TASKS}/k8s.io/{APP}/config.json"))).unwrap();
        for cut in 0..config.trim_ascii_end().len() {
            assert!(parse(APP, &config[..cut], None).is_err(), "cut at {cut}");
        }
        let parsed = parse(APP, &config, Some(b"41\x0088")).unwrap();
        assert_eq!((parsed.state.pid, parsed.skipped), (None, 1));
        assert_eq!(parsed.state.name.as_deref(), Some("nginx"));
        let parsed = parse(APP, &config, Some(b"4188\n")).unwrap();
        assert_eq!((parsed.state.pid, parsed.skipped), (Some(4188), 0));
        assert_eq!(parse("", &config, None), Err(Malformed::NoId));

        let scratch = Scratch::new("containerd-truncated");
        scratch.write(&format!("{TASKS}/k8s.io/{APP}/config.json"), &config[..100]);
        scratch.write(&format!("{TASKS}/k8s.io/{SANDBOX}/config.json"), &config);
        scratch.write(&format!("{TASKS}/k8s.io/{SANDBOX}/init.pid"), b"");
        let found = read_all(&scratch.0);
        assert_eq!((found.containers.len(), found.unreadable), (1, 2));
    }
}
