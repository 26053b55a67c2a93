//! What container runtimes record on disk about their containers: docker's state files,
//! containerd's task bundles (Kubernetes' CRI among them) and podman's storage.
//!
//! Files only, never a daemon's socket or a CLI: the files are there when the daemon hangs
//! or is another version, a captured tree (`root` laid out like `/`) tests the same code,
//! and nothing is started or asked. Each runtime's parser is a pure function over bytes
//! (the fuzz targets feed them); the walking of directories is apart from it.
//!
//! A pid is as the runtime recorded it: docker clears its own on stop, but a bundle or a
//! pidfile can outlive its process. Whoever joins it to a live process checks that the
//! process's cgroup names the same container.

mod containerd;
mod docker;
mod oci;
mod podman;

use std::io::Read;
use std::path::{Path, PathBuf};

use crate::model::{ContainerState, Containers};

pub use containerd::parse as parse_containerd;
pub use docker::parse as parse_docker;
pub use podman::{StorageEntry, parse_list as parse_podman_list, parse_one as parse_podman};

/// Why a state file was skipped.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Malformed {
    /// Not JSON, cut short, or JSON of another shape (serde_json's words: what and where).
    #[error("{0}")]
    Json(String),
    #[error("no container id")]
    NoId,
}

impl From<serde_json::Error> for Malformed {
    fn from(error: serde_json::Error) -> Self {
        Malformed::Json(error.to_string())
    }
}

/// One container's files, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Parsed {
    pub state: ContainerState,
    /// Secondary files (docker's `hostconfig.json`, a bundle's `init.pid`, podman's
    /// `config.json` or pidfile) that were there but malformed: the state was kept without
    /// what they would have said, and each counts as unreadable.
    pub skipped: usize,
}

/// Every container the runtimes' files under `root` describe (`/` on a live host).
///
/// A runtime that is not installed has no directory: nothing, and nothing counted. A state
/// file or directory that exists but is malformed or cannot be read is counted in
/// `unreadable`, or in `denied` when only root may read it; the others still count.
pub(crate) fn read(root: &Path) -> Containers {
    let mut found = Containers::default();
    docker::read(root, &mut found);
    containerd::read(root, &mut found);
    podman::read(root, &mut found);
    found
}

/// Larger state files are not the runtimes' (docker's `config.v2.json` is a few kB): they
/// are refused rather than read into memory.
const MAX_STATE_FILE: u64 = 8 << 20;

/// A state file, read whole.
enum File {
    Missing,
    /// Only root may read it (the runtimes keep their state so).
    Denied,
    Unreadable,
    Bytes(Vec<u8>),
}

impl File {
    fn read(path: &Path) -> File {
        let file = match std::fs::File::open(path) {
            Ok(file) => file,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return File::Missing,
            Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return File::Denied,
            Err(_) => return File::Unreadable,
        };
        let mut bytes = Vec::new();
        match file.take(MAX_STATE_FILE + 1).read_to_end(&mut bytes) {
            Ok(n) if n as u64 <= MAX_STATE_FILE => File::Bytes(bytes),
            // Too large, or a directory where a file should be.
            _ => File::Unreadable,
        }
    }

    /// The bytes, or `None` when missing; an unreadable file is counted.
    fn bytes_or_count(self, found: &mut Containers) -> Option<Vec<u8>> {
        match self {
            File::Bytes(bytes) => Some(bytes),
            File::Missing => None,
            File::Denied => {
                found.denied += 1;
                None
            }
            File::Unreadable => {
                found.unreadable += 1;
                None
            }
        }
    }
}

/// The subdirectories of `dir`, by name. A missing `dir` has none; one that cannot be
/// listed is counted.
fn subdirectories(dir: &Path, found: &mut Containers) -> Vec<(String, PathBuf)> {
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Vec::new(),
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => {
            found.denied += 1;
            return Vec::new();
        }
        Err(_) => {
            found.unreadable += 1;
            return Vec::new();
        }
    };
    let mut dirs: Vec<(String, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter(|entry| entry.file_type().is_ok_and(|t| t.is_dir()))
        .filter_map(|entry| Some((entry.file_name().into_string().ok()?, entry.path())))
        .collect();
    dirs.sort();
    dirs
}

/// A non-empty string, owned.
fn text(value: Option<&str>) -> Option<String> {
    value.filter(|v| !v.is_empty()).map(str::to_string)
}

/// A pid file's number (`init.pid`, podman's `pidfile`): digits, maybe a newline.
fn parse_pid(bytes: &[u8]) -> Option<u32> {
    let text = std::str::from_utf8(bytes).ok()?.trim_ascii();
    text.parse().ok().filter(|&pid| pid > 0)
}

#[cfg(test)]
// Scratch trees are written by tests only; portwho itself writes none (clippy.toml).
#[allow(clippy::disallowed_methods)]
pub(super) mod testing {
    //! Scratch trees laid out like `/`, for the walking tests.

    use std::path::{Path, PathBuf};

    /// A directory under the system's temporary one, removed when dropped.
    pub(crate) struct Scratch(pub(crate) PathBuf);

    impl Scratch {
        pub(crate) fn new(name: &str) -> Scratch {
            let dir = std::env::temp_dir()
                .join(format!("portwho-containers-{name}-{}", std::process::id()));
            let _ = std::fs::remove_dir_all(&dir);
            std::fs::create_dir_all(&dir).unwrap();
            Scratch(dir)
        }

        /// Write `bytes` at `relative`, making its directories.
        pub(crate) fn write(&self, relative: &str, bytes: &[u8]) {
            let path = self.0.join(relative);
            std::fs::create_dir_all(path.parent().unwrap()).unwrap();
            std::fs::write(path, bytes).unwrap();
        }

        /// Copy a fixture tree's file to the same place here.
        pub(crate) fn copy_from(&self, fixture: &Path, relative: &str) {
            self.write(relative, &std::fs::read(fixture.join(relative)).unwrap());
        }
    }

    impl Drop for Scratch {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }

    /// `fixtures/containers/NAME`, a tree laid out like `/`.
    pub(crate) fn fixture(name: &str) -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("fixtures/containers")
            .join(name)
    }
}

#[cfg(test)]
// The tests write scratch trees; portwho itself writes none (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::testing::{Scratch, fixture};
    use super::*;

    #[test]
    fn no_runtime_installed_reads_nothing_and_counts_nothing() {
        let empty = Scratch::new("empty");
        assert_eq!(read(&empty.0), Containers::default());
        assert_eq!(read(&empty.0.join("not-even-there")), Containers::default());
    }

    #[test]
    fn pid_files() {
        assert_eq!(parse_pid(b"12880"), Some(12880));
        assert_eq!(parse_pid(b"12880\n"), Some(12880));
        for bad in [&b""[..], b"0", b"-1", b"12a", b"\xff", b"99999999999"] {
            assert_eq!(parse_pid(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn oversized_and_directory_state_files_are_unreadable() {
        let scratch = Scratch::new("oversized");
        scratch.write("big", &vec![b' '; MAX_STATE_FILE as usize + 1]);
        scratch.write("dir/file", b"");
        assert!(matches!(
            File::read(&scratch.0.join("big")),
            File::Unreadable
        ));
        assert!(matches!(
            File::read(&scratch.0.join("dir")),
            File::Unreadable
        ));
        assert!(matches!(File::read(&scratch.0.join("none")), File::Missing));
    }

    /// One captured file of each kind, to corrupt.
    fn seeds() -> Vec<Vec<u8>> {
        let docker = "docker/var/lib/docker/containers/\
            c5930747593ed87dbf159ee6abd336e892545d97c6fda4c00216293b154d6421";
        let bundle = "containerd/run/containerd/io.containerd.runtime.v2.task/k8s.io/\
            9f3a7c1e5b2d8f4a6c0e2b4d6f8a0c2e4b6d8f0a2c4e6b8d0f2a4c6e8b0d2f4a";
        let list = "podman/var/lib/containers/storage/overlay-containers/containers.json";
        let root = fixture("");
        [
            format!("{docker}/config.v2.json"),
            format!("{docker}/hostconfig.json"),
            format!("{bundle}/config.json"),
            list.to_string(),
        ]
        .iter()
        .map(|file| std::fs::read(root.join(file)).unwrap())
        .collect()
    }

    /// Every parser, on the same bytes; none may panic.
    fn parse_everything(bytes: &[u8]) {
        let _ = parse_docker(bytes, Some(bytes));
        let _ = parse_containerd("id", bytes, Some(bytes));
        if let Ok(entries) = parse_podman_list(bytes) {
            for entry in &entries {
                let _ = parse_podman(entry, Some(bytes), Some(bytes));
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn garbage_never_panics(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..512)) {
            parse_everything(&bytes);
        }

        /// A captured file with some bytes overwritten, as a disk or a careless edit would.
        #[test]
        fn corrupted_state_files_never_panic(
            seed in 0..4usize,
            edits in proptest::collection::vec((proptest::num::usize::ANY, proptest::num::u8::ANY), 1..8),
        ) {
            let mut bytes = seeds().swap_remove(seed);
            for (at, byte) in edits {
                let at = at % bytes.len();
                bytes[at] = byte;
            }
            parse_everything(&bytes);
        }
    }

    #[test]
    fn every_fixture_tree_reads_without_unreadable_files() {
        for name in ["docker", "containerd", "podman"] {
            let found = read(&fixture(name));
            assert_eq!(found.unreadable, 0, "{name}");
            assert!(!found.containers.is_empty(), "{name}");
        }
    }
}
