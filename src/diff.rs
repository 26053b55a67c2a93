//! `--diff`: the listening sockets now against a baseline saved with `--listening --json`.

use serde::Deserialize;

use crate::model::{Change, Entry, Listener, Proto, Spelled, State, place_name, programs};

#[derive(Deserialize)]
struct Record {
    proto: String,
    local_addr: String,
    local_port: u16,
    #[serde(default)]
    state: Option<String>,
    #[serde(default)]
    processes: Vec<RecordProcess>,
    #[serde(default)]
    netns: Option<Named>,
    #[serde(default)]
    container: Option<Named>,
}

/// The `name` of a record's `netns` or `container` object.
#[derive(Deserialize)]
struct Named {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    id: Option<String>,
}

#[derive(Deserialize)]
struct RecordProcess {
    #[serde(default)]
    name: String,
    #[serde(default)]
    exe: Option<String>,
}

/// Parse a baseline: a JSON array of socket objects. Non-listening sockets in it (a
/// baseline saved with `--all`) are ignored.
pub(crate) fn parse_baseline(text: &str) -> Result<Vec<Listener>, String> {
    let values: Vec<serde_json::Value> =
        serde_json::from_str(text).map_err(|e| format!("not a JSON array of sockets ({e})"))?;
    let mut listeners = Vec::new();
    for (i, value) in values.into_iter().enumerate() {
        let record: Record = serde_json::from_value(value.clone())
            .map_err(|e| format!("socket {} is not a portwho JSON object ({e})", i + 1))?;
        // Unknown states are not listening ones; no state at all is taken as listening.
        let listening = |s: &str| State::from_name(s).is_some_and(State::is_listening);
        if record.state.as_deref().is_some_and(|s| !listening(s)) {
            continue;
        }
        listeners.push(Listener {
            proto: Spelled::read(record.proto, Proto::from_name),
            local_addr: Spelled::read(record.local_addr, |text| text.parse().ok()),
            local_port: record.local_port,
            place: match (record.container, record.netns.and_then(|n| n.name)) {
                (Some(c), _) => c.name.or(c.id).map(|name| format!("container {name}")),
                (None, Some(name)) => Some(format!("netns {name}")),
                (None, None) => None,
            },
            programs: record
                .processes
                .into_iter()
                .map(|p| p.exe.unwrap_or(p.name))
                .collect(),
            raw: value,
        });
    }
    Ok(listeners)
}

/// A listener whose protocol or address portwho cannot read is no socket it lists. Its
/// place is matched by name, not by namespace inode: a restarted container gets a new
/// namespace but keeps its name.
fn same_listener(l: &Listener, e: &Entry) -> bool {
    l.proto == Spelled::Known(e.socket.proto)
        && l.local_port == e.socket.local.port()
        && l.local_addr == Spelled::Known(e.socket.local.ip())
        && l.place == place_name(e)
}

/// Compare, matching listeners on protocol, local address and port. An owner that was not
/// visible on either side (another user's process) is not a change.
pub(crate) fn diff<'a>(baseline: &'a [Listener], current: &'a [Entry]) -> Vec<Change<'a>> {
    let mut changes = Vec::new();
    for e in current.iter().filter(|e| e.socket.state.is_listening()) {
        match baseline.iter().find(|l| same_listener(l, e)) {
            None => changes.push(Change::Added(e)),
            Some(l) => {
                let now = programs(e);
                if !l.programs.is_empty() && !now.is_empty() && l.programs != now {
                    changes.push(Change::Changed {
                        before: l,
                        after: e,
                    });
                }
            }
        }
    }
    for l in baseline {
        if !current
            .iter()
            .any(|e| e.socket.state.is_listening() && same_listener(l, e))
        {
            changes.push(Change::Removed(l));
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Process, Proto, State, describe, testing};

    fn entry(local: &str, exe: &str) -> Entry {
        Entry {
            processes: vec![std::sync::Arc::new(Process {
                pid: 999,
                name: "srv".into(),
                exe: (!exe.is_empty()).then(|| exe.to_string()),
                ..Process::default()
            })],
            ..testing::entry(testing::socket(local, Proto::Tcp, State::Listen))
        }
    }

    /// A listener of a container's, in a namespace with this inode.
    fn in_container(name: &str, inode: u64) -> Entry {
        use crate::model::{ContainerState, Netns, Place};
        let place = Place {
            netns: Netns { inode, name: None },
            container: Some(std::sync::Arc::new(ContainerState {
                name: Some(name.into()),
                ..ContainerState::default()
            })),
        };
        Entry {
            place: Some(std::sync::Arc::new(place)),
            ..entry("0.0.0.0:80", "/bin/httpd")
        }
    }

    #[test]
    fn a_container_is_matched_by_name_not_by_namespace() {
        let baseline = parse_baseline(
            r#"[{"proto": "tcp", "local_addr": "0.0.0.0", "local_port": 80, "state": "LISTEN",
                 "netns": {"inode": 4026532181, "name": null},
                 "container": {"runtime": "docker", "id": "b973", "name": "web"},
                 "processes": [{"pid": 1499, "name": "httpd", "exe": "/bin/httpd"}]}]"#,
        )
        .unwrap();
        assert_eq!(baseline[0].place.as_deref(), Some("container web"));
        // Restarted: another namespace, another pid, the same container.
        assert!(diff(&baseline, &[in_container("web", 4026532999)]).is_empty());
        // Another container on the same port, or the host's own: a change each way.
        let other = [in_container("db", 4026532181)];
        assert_eq!(diff(&baseline, &other).len(), 2);
        let host = [entry("0.0.0.0:80", "/bin/httpd")];
        assert_eq!(diff(&baseline, &host).len(), 2);
    }

    const BASELINE: &str = r#"[
      {"proto": "tcp", "local_addr": "0.0.0.0", "local_port": 80, "state": "LISTEN",
       "processes": [{"pid": 1, "name": "nginx", "exe": "/usr/sbin/nginx"}]},
      {"proto": "tcp", "local_addr": "127.0.0.1", "local_port": 8080, "state": "LISTEN",
       "processes": [{"pid": 2, "name": "python3", "exe": "/usr/bin/python3"}]},
      {"proto": "tcp", "local_addr": "::", "local_port": 22, "state": "LISTEN",
       "processes": [{"pid": 3, "name": "sshd", "exe": "/usr/sbin/sshd"}]},
      {"proto": "tcp", "local_addr": "127.0.0.1", "local_port": 5000, "state": "ESTABLISHED",
       "processes": []}
    ]"#;

    #[test]
    fn added_removed_changed_and_pids_ignored() {
        let baseline = parse_baseline(BASELINE).unwrap();
        assert_eq!(baseline.len(), 3, "the ESTABLISHED one is ignored");
        let current = vec![
            entry("0.0.0.0:80", "/opt/nginx/sbin/nginx"),
            entry("[::]:22", "/usr/sbin/sshd"),
            entry("0.0.0.0:6379", "/usr/bin/redis-server"),
        ];
        let changes = diff(&baseline, &current);
        let summary: Vec<String> = changes
            .iter()
            .map(|c| match c {
                Change::Added(e) => format!("+{}", e.socket.local),
                Change::Removed(l) => format!("-{}:{}", l.local_addr, l.local_port),
                Change::Changed { before, after } => format!(
                    "~{} {} -> {}",
                    after.socket.local,
                    describe(&before.programs),
                    describe(&programs(after))
                ),
            })
            .collect();
        assert_eq!(
            summary,
            vec![
                "~0.0.0.0:80 /usr/sbin/nginx -> /opt/nginx/sbin/nginx",
                "+0.0.0.0:6379",
                "-127.0.0.1:8080",
            ]
        );
    }

    #[test]
    fn unchanged_and_unknown_owners_are_not_changes() {
        let baseline = parse_baseline(BASELINE).unwrap();
        let mut hidden = entry("0.0.0.0:80", "");
        hidden.processes.clear();
        let current = vec![
            hidden,
            entry("127.0.0.1:8080", "/usr/bin/python3"),
            entry("[::]:22", "/usr/sbin/sshd"),
        ];
        assert!(diff(&baseline, &current).is_empty());
    }

    #[test]
    fn bad_baselines_say_why() {
        assert!(
            parse_baseline("{}")
                .unwrap_err()
                .contains("not a JSON array")
        );
        assert!(
            parse_baseline("nonsense")
                .unwrap_err()
                .contains("not a JSON array")
        );
        assert!(
            parse_baseline(r#"[{"proto": "tcp"}]"#)
                .unwrap_err()
                .contains("socket 1 is not a portwho JSON object")
        );
        assert_eq!(parse_baseline("[]").unwrap(), vec![]);
    }

    #[test]
    fn spellings_portwho_does_not_know_are_kept_and_never_match() {
        let baseline = parse_baseline(
            r#"[
              {"proto": "sctp", "local_addr": "0.0.0.0", "local_port": 80},
              {"proto": "TCP", "local_addr": "0.0.0.0", "local_port": 80, "state": "LISTEN"},
              {"proto": "tcp", "local_addr": "localhost", "local_port": 80, "state": "UNCONN"},
              {"proto": "tcp", "local_addr": "0.0.0.0", "local_port": 80, "state": "listen"}
            ]"#,
        )
        .unwrap();
        assert_eq!(baseline.len(), 3, "an unknown state is not a listening one");
        assert_eq!(baseline[0].proto, Spelled::Unknown("sctp".into()));
        assert_eq!(baseline[1].proto, Spelled::Unknown("TCP".into()));
        assert_eq!(baseline[2].local_addr, Spelled::Unknown("localhost".into()));
        let current = vec![entry("0.0.0.0:80", "/usr/sbin/nginx")];
        let changes = diff(&baseline, &current);
        assert!(matches!(
            changes[..],
            [
                Change::Added(_),
                Change::Removed(_),
                Change::Removed(_),
                Change::Removed(_)
            ]
        ));
    }

    #[test]
    fn addresses_compare_as_addresses() {
        let baseline = parse_baseline(
            r#"[{"proto": "tcp", "local_addr": "0:0:0:0:0:0:0:0", "local_port": 22}]"#,
        )
        .unwrap();
        assert!(diff(&baseline, &[entry("[::]:22", "/usr/sbin/sshd")]).is_empty());
    }
}
