//! The few parts of an OCI runtime spec (a bundle's `config.json`) portwho reads: the
//! annotations and the network namespace.

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde::Deserialize;

use super::Malformed;

/// What a spec says about one container.
#[derive(Debug, Default)]
pub(super) struct Spec {
    pub(super) annotations: BTreeMap<String, String>,
    pub(super) network: Network,
}

/// Where the container's network namespace comes from.
#[derive(Debug, Default, PartialEq, Eq)]
pub(super) enum Network {
    /// The spec says nothing of Linux namespaces (another platform, a VM runtime).
    #[default]
    Unknown,
    /// Namespaces are listed but not the network's: the container shares the host's.
    Host,
    /// A new one, made by the runtime when the container starts.
    New,
    /// An existing one, entered through this file (`/var/run/netns/cni-…`,
    /// `/proc/PID/ns/net`).
    Join(PathBuf),
}

impl Spec {
    pub(super) fn annotation(&self, key: &str) -> Option<&str> {
        self.annotations
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// The namespace file, when the container enters an existing one.
    pub(super) fn sandbox(&self) -> Option<PathBuf> {
        match &self.network {
            Network::Join(path) => Some(path.clone()),
            _ => None,
        }
    }

    /// `host` when the spec leaves the container in the host's namespace; the spec does
    /// not say what network a new or shared namespace is on.
    pub(super) fn network_mode(&self) -> Option<String> {
        (self.network == Network::Host).then(|| "host".to_string())
    }
}

#[derive(Deserialize)]
struct RawSpec {
    annotations: Option<BTreeMap<String, String>>,
    linux: Option<Linux>,
}

#[derive(Deserialize)]
struct Linux {
    namespaces: Option<Vec<Namespace>>,
}

#[derive(Deserialize)]
struct Namespace {
    #[serde(rename = "type")]
    kind: Option<String>,
    path: Option<String>,
}

/// Parse a `config.json`; anything but a JSON object of the spec's shape is malformed.
pub(super) fn parse(bytes: &[u8]) -> Result<Spec, Malformed> {
    let raw: RawSpec = serde_json::from_slice(bytes)?;
    let network = match raw.linux.and_then(|linux| linux.namespaces) {
        None => Network::Unknown,
        Some(namespaces) => {
            match namespaces
                .into_iter()
                .find(|ns| ns.kind.as_deref() == Some("network"))
            {
                None => Network::Host,
                Some(Namespace {
                    path: Some(path), ..
                }) if !path.is_empty() => Network::Join(PathBuf::from(path)),
                Some(_) => Network::New,
            }
        }
    };
    Ok(Spec {
        annotations: raw.annotations.unwrap_or_default(),
        network,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn network_namespaces() {
        let network = |json: &str| parse(json.as_bytes()).unwrap().network;
        assert_eq!(network("{}"), Network::Unknown);
        assert_eq!(network(r#"{"linux": {}}"#), Network::Unknown);
        assert_eq!(
            network(r#"{"linux": {"namespaces": [{"type": "pid"}]}}"#),
            Network::Host
        );
        assert_eq!(
            network(r#"{"linux": {"namespaces": [{"type": "network"}]}}"#),
            Network::New
        );
        assert_eq!(
            network(r#"{"linux": {"namespaces": [{"type": "network", "path": ""}]}}"#),
            Network::New
        );
        assert_eq!(
            network(
                r#"{"linux": {"namespaces": [{"type": "network", "path": "/proc/7/ns/net"}]}}"#
            ),
            Network::Join("/proc/7/ns/net".into())
        );
    }

    #[test]
    fn other_shapes_are_malformed() {
        for bad in [
            "",
            "[]",
            "null",
            r#"{"annotations": {"a": 1}}"#,
            r#"{"linux": {"namespaces": {}}}"#,
            r#"{"linux": {"namespaces": [{"type": "network", "path": 5}]}}"#,
            r#"{"annotations": {"#,
        ] {
            assert!(parse(bad.as_bytes()).is_err(), "{bad}");
        }
    }
}
