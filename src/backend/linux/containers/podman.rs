//! podman, through containers/storage: the list of containers
//! (`STORAGE/DRIVER-containers/containers.json`, and `volatile-containers.json` beside it),
//! each one's OCI spec (`STORAGE/DRIVER-containers/ID/userdata/config.json`) and the pid
//! conmon writes (`RUNROOT/DRIVER-containers/ID/userdata/pidfile`).
//!
//! Root's storage is `/var/lib/containers/storage` with its run root in
//! `/run/containers/storage`; a user's (rootless) is `~/.local/share/containers/storage`
//! with `/run/user/UID/containers`. What podman alone knows (state, ports, networks) is in
//! its database, which is not read: a container's pid is as its pidfile says.
//!
//! CRI-O keeps its containers in the same storage, with its own metadata: those are
//! Kubernetes pods' containers.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use super::{File, Malformed, Parsed, oci, parse_pid, subdirectories, text};
use crate::model::{ContainerState, Containers, Runtime};

/// Read root's storage and every user's under `root/home`.
pub(super) fn read(root: &Path, found: &mut Containers) {
    read_storage(
        &root.join("var/lib/containers/storage"),
        &root.join("run/containers/storage"),
        found,
    );
    // Users' homes are not all readable by whoever runs portwho: only a storage that can be
    // seen is read, and a home that cannot be entered is not counted.
    let Ok(homes) = std::fs::read_dir(root.join("home")) else {
        return;
    };
    let mut storages: Vec<PathBuf> = homes
        .filter_map(Result::ok)
        .map(|home| home.path().join(".local/share/containers/storage"))
        .filter(|storage| storage.is_dir())
        .collect();
    storages.sort();
    for storage in storages {
        // podman's rootless run root is the owner's XDG_RUNTIME_DIR.
        let Ok(owner) = std::fs::metadata(&storage).map(|m| m.uid()) else {
            continue;
        };
        let run = root.join(format!("run/user/{owner}/containers"));
        read_storage(&storage, &run, found);
    }
}

/// One storage: each driver's list (`overlay-containers`, `vfs-containers`, …).
fn read_storage(storage: &Path, run: &Path, found: &mut Containers) {
    for (name, dir) in subdirectories(storage, found) {
        let Some(driver) = name.strip_suffix("-containers") else {
            continue;
        };
        let run_dir = run.join(format!("{driver}-containers"));
        for list in ["containers.json", "volatile-containers.json"] {
            let Some(bytes) = File::read(&dir.join(list)).bytes_or_count(found) else {
                continue;
            };
            let Ok(entries) = parse_list(&bytes) else {
                found.unreadable += 1;
                continue;
            };
            for entry in entries {
                let Some(id) = entry.id.as_deref().filter(|id| is_file_name(id)) else {
                    found.unreadable += 1;
                    continue;
                };
                let userdata = Path::new(id).join("userdata");
                let config = File::read(&dir.join(&userdata).join("config.json"));
                let pidfile = File::read(&run_dir.join(&userdata).join("pidfile"));
                let config = config.bytes_or_count(found);
                let pidfile = pidfile.bytes_or_count(found);
                match parse_one(&entry, config.as_deref(), pidfile.as_deref()) {
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

/// An id that names one directory, never a way out of the storage.
fn is_file_name(id: &str) -> bool {
    !id.is_empty() && id != "." && id != ".." && !id.contains('/') && !id.contains('\0')
}

/// One container in containers/storage's list.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct StorageEntry {
    pub id: Option<String>,
    pub names: Option<Vec<String>>,
    /// JSON in a string, the creator's own: podman's and CRI-O's differ.
    pub metadata: Option<String>,
}

/// Parse a `containers.json`: a JSON array of entries.
pub fn parse_list(bytes: &[u8]) -> Result<Vec<StorageEntry>, Malformed> {
    Ok(serde_json::from_slice(bytes)?)
}

/// What podman (libpod's `RuntimeContainerMetadata`) and CRI-O (its own, with the pod)
/// keep in an entry's metadata.
#[derive(Deserialize, Default)]
struct Metadata {
    #[serde(rename = "image-name")]
    image_name: Option<String>,
    name: Option<String>,
    #[serde(rename = "pod-id")]
    pod_id: Option<String>,
    /// CRI-O: the name in the pod's or container's CRI metadata.
    #[serde(rename = "metadata-name")]
    metadata_name: Option<String>,
    /// CRI-O: whether this is the pod's sandbox (infra container).
    pod: Option<bool>,
    uid: Option<String>,
    namespace: Option<String>,
}

/// One entry, with its `config.json` and pidfile when there. Without an id there is
/// nothing; malformed metadata says nothing; a malformed `config.json` or pidfile is
/// counted in `skipped`.
pub fn parse_one(
    entry: &StorageEntry,
    config: Option<&[u8]>,
    pidfile: Option<&[u8]>,
) -> Result<Parsed, Malformed> {
    let id = text(entry.id.as_deref()).ok_or(Malformed::NoId)?;
    let metadata: Metadata = entry
        .metadata
        .as_deref()
        .and_then(|m| serde_json::from_str(m).ok())
        .unwrap_or_default();
    let spec = config.map(oci::parse);
    let pid = pidfile.map(parse_pid);
    let skipped = usize::from(matches!(spec, Some(Err(_)))) + usize::from(pid == Some(None));
    let spec = spec.and_then(Result::ok).unwrap_or_default();
    let first_name = entry
        .names
        .as_ref()
        .and_then(|n| text(n.first().map(String::as_str)));
    let mut state = ContainerState {
        runtime: Some(Runtime::Podman),
        id,
        name: text(metadata.name.as_deref()).or(first_name),
        image: text(metadata.image_name.as_deref()),
        pid: pid.flatten(),
        network_mode: spec.network_mode(),
        sandbox: spec.sandbox(),
        ..ContainerState::default()
    };
    if metadata.pod_id.is_some() {
        // CRI-O's: a sandbox carries its pod's name, namespace and uid; a container its
        // own name.
        state.runtime = Some(Runtime::Kubernetes);
        let cri_name = text(metadata.metadata_name.as_deref());
        if metadata.pod == Some(true) {
            state.name = None;
            state.pod = cri_name;
            state.pod_namespace = text(metadata.namespace.as_deref());
            state.pod_uid = text(metadata.uid.as_deref());
        } else {
            state.name = cri_name.or(state.name);
        }
    }
    Ok(Parsed { state, skipped })
}

#[cfg(test)]
// The tests write scratch trees; portwho itself writes none (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::super::testing::{Scratch, fixture};
    use super::*;

    const LIST: &str = "var/lib/containers/storage/overlay-containers/containers.json";
    const WEB: &str = "5a0e8c2b7d4f1a3c6e9b0d2f4a6c8e1b3d5f7a9c0e2b4d6f8a1c3e5b7d9f0a2c";
    const HOSTNET: &str = "7c3e9a1f5b2d8c4e6a0f2b4d6e8a1c3f5b7d9e0a2c4f6b8d1e3a5c7f9b0d2e4a";
    const STOPPED: &str = "e4b2d8f6a0c3e5b7d9f1a2c4e6b8d0f3a5c7e9b1d2f4a6c8e0b3d5f7a9c1e2b4";
    const ROOTLESS: &str = "1d7f3b9e5a2c8d4f6b0e2a4c6d8f1b3e5a7c9d0f2b4e6a8c1d3f5b7e9a0c2d4f";
    const CRIO_POD: &str = "3f9b5d1a7e2c4f6b8d0a2e4c6f8b1d3a5e7c9f0b2d4a6e8c1f3b5d7a9e0c2f4b";

    fn read_all(root: &Path) -> Containers {
        let mut found = Containers::default();
        read(root, &mut found);
        found
    }

    fn podman(id: &str, name: &str, image: &str) -> ContainerState {
        ContainerState {
            runtime: Some(Runtime::Podman),
            id: id.into(),
            name: Some(name.into()),
            image: Some(image.into()),
            ..ContainerState::default()
        }
    }

    #[test]
    fn storage_reads_as_written() {
        let found = read_all(&fixture("podman"));
        assert_eq!(found.unreadable, 0);
        let mut expected = vec![
            // Root's list, in its order.
            ContainerState {
                pid: Some(23456),
                sandbox: Some("/run/netns/netns-8e2f4a6c-1b3d-4e5f-a7c9-0b2d4f6a8c1e".into()),
                ..podman(WEB, "pw-web", "docker.io/library/nginx:1.25")
            },
            ContainerState {
                pid: Some(23511),
                network_mode: Some("host".into()),
                ..podman(HOSTNET, "pw-hostnet", "docker.io/library/redis:7")
            },
            // Stopped: no pidfile; created but never started: no spec either.
            podman(STOPPED, "pw-stopped", "docker.io/library/busybox:latest"),
            ContainerState {
                runtime: Some(Runtime::Kubernetes),
                id: CRIO_POD.into(),
                image: Some("registry.k8s.io/pause:3.9".into()),
                pod: Some("web-0".into()),
                pod_namespace: Some("shop".into()),
                pod_uid: Some("7a1c3e5b-9d2f-4a6c-8e0b-1d3f5a7c9e2b".into()),
                pid: Some(24001),
                sandbox: Some("/var/run/netns/2c4e6a8b-0d1f-4b3c-9e5a-7c8d0f2a4b6e".into()),
                ..ContainerState::default()
            },
        ];
        // A user's (rootless) storage; its pidfile would be in /run/user/UID, UID being
        // whoever checked out the fixtures, so it has none here (see the next test).
        expected.push(ContainerState {
            sandbox: Some("/run/user/1000/netns/netns-3b5d7f9a-2c4e-4a6b-8d0f-1e3a5c7b9d2f".into()),
            ..podman(ROOTLESS, "pw-rootless", "docker.io/library/caddy:2")
        });
        assert_eq!(found.containers, expected);
    }

    #[test]
    fn a_rootless_pidfile_is_in_the_owners_run_directory() {
        let scratch = Scratch::new("podman-rootless");
        let storage = "home/alice/.local/share/containers/storage/overlay-containers";
        scratch.copy_from(&fixture("podman"), &format!("{storage}/containers.json"));
        let uid = std::fs::metadata(scratch.0.join(storage)).unwrap().uid();
        let pidfile = format!("overlay-containers/{ROOTLESS}/userdata/pidfile");
        scratch.write(&format!("run/user/{uid}/containers/{pidfile}"), b"31337");
        scratch.write(&format!("run/user/{}/containers/{pidfile}", uid + 1), b"1");
        let found = read_all(&scratch.0);
        assert_eq!(found.unreadable, 0);
        assert_eq!(found.containers.len(), 1);
        assert_eq!(found.containers[0].pid, Some(31337));
        assert_eq!(found.containers[0].sandbox, None, "its spec was not copied");
    }

    #[test]
    fn truncated_lists_and_secondary_files() {
        let list = std::fs::read(fixture("podman").join(LIST)).unwrap();
        for cut in 0..list.trim_ascii_end().len() {
            assert!(parse_list(&list[..cut]).is_err(), "cut at {cut}");
        }
        let entries = parse_list(&list).unwrap();
        let config = fixture("podman").join(format!(
            "var/lib/containers/storage/overlay-containers/{WEB}/userdata/config.json"
        ));
        let config = std::fs::read(config).unwrap();
        let whole = parse_one(&entries[0], Some(&config), Some(b"23456\n")).unwrap();
        assert_eq!(whole.skipped, 0);
        for cut in 0..config.trim_ascii_end().len() {
            let parsed = parse_one(&entries[0], Some(&config[..cut]), Some(b"x")).unwrap();
            assert_eq!(parsed.skipped, 2, "cut at {cut}");
            assert_eq!(parsed.state.name, whole.state.name);
        }

        let scratch = Scratch::new("podman-truncated");
        scratch.write(LIST, &list[..list.trim_ascii_end().len() - 1]);
        assert_eq!(read_all(&scratch.0).unreadable, 1);
    }

    #[test]
    fn entries_without_a_usable_id_or_metadata() {
        let entries = parse_list(
            br#"[{"id": "", "names": ["a"]}, {"id": "../../etc"}, {"names": []},
                 {"id": "abc", "names": ["n"], "metadata": "{not json"},
                 {"id": "abd", "metadata": "{\"name\": \"\", \"image-name\": \"i\"}"}]"#,
        )
        .unwrap();
        assert_eq!(parse_one(&entries[0], None, None), Err(Malformed::NoId));
        assert_eq!(parse_one(&entries[2], None, None), Err(Malformed::NoId));
        let named = parse_one(&entries[3], None, None).unwrap().state;
        assert_eq!((named.name.as_deref(), named.image), (Some("n"), None));
        let unnamed = parse_one(&entries[4], None, None).unwrap().state;
        assert_eq!((unnamed.name, unnamed.image.as_deref()), (None, Some("i")));

        // Through the walk, an id that would leave the storage is not followed.
        let scratch = Scratch::new("podman-ids");
        scratch.write(LIST, br#"[{"id": "../../etc"}, {"id": ""}, {"id": "ok"}]"#);
        let found = read_all(&scratch.0);
        assert_eq!((found.containers.len(), found.unreadable), (1, 2));
        for bad in [
            &b"{}"[..],
            b"[5]",
            b"[{\"id\": 5}]",
            b"[{\"names\": \"a\"}]",
        ] {
            assert!(parse_list(bad).is_err());
        }
    }
}
