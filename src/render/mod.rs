//! Rendering finished entries: one trait, one module per format.

pub(crate) mod audit;
pub(crate) mod card;
pub(crate) mod events;
mod forwards;
pub(crate) mod json;
pub(crate) mod jsonl;
mod printer;
pub(crate) mod prometheus;
pub(crate) mod table;
pub(crate) mod time;

use std::io::{self, Write};
use std::ops::Range;

use crate::model::Change;
use crate::model::Severity;
use crate::model::{Entry, PortForward, Socket};

pub(crate) use printer::{Format, Style, printer};

/// How a run writes its answer: chosen once, from the configuration, for the whole run.
pub(crate) trait Render {
    /// Whether a person reads this: the owner cards, the diagnosis and "no socket
    /// matches" are written for people only.
    fn explains(&self) -> bool;
    /// The listing, one row per socket.
    fn rows(&self, rows: &dyn Rows, out: &mut dyn Write) -> io::Result<()>;
    /// After the rows of `portwho :PORT`: a card per holder, then the diagnosis lines.
    fn explanation(
        &self,
        entries: &[Entry],
        diagnosis: &[String],
        out: &mut dyn Write,
    ) -> io::Result<()>;
    /// `--audit`: the listeners with findings, of `listening` examined.
    fn findings(
        &self,
        flagged: &[Entry],
        listening: usize,
        fail_on: Severity,
        out: &mut dyn Write,
    ) -> io::Result<()>;
    /// `--diff`: what changed since the baseline called `baseline_name`.
    fn changes(
        &self,
        changes: &[Change],
        baseline_name: &str,
        out: &mut dyn Write,
    ) -> io::Result<()>;
    /// `--free`: the ports found.
    fn free_ports(&self, ports: &[u16], out: &mut dyn Write) -> io::Result<()>;
    /// `--forwards`: the port forwards found.
    fn forwards(&self, forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()>;
    /// `--watch`: the sockets that opened and closed since the last look. Nothing for the
    /// formats `--watch` does not go with (`--json`, `--prometheus`, `-q`).
    fn events(&self, events: &[events::Event], out: &mut dyn Write) -> io::Result<()> {
        let _ = (events, out);
        Ok(())
    }
}

/// Rows for the formats that write one row per socket (the table and JSON), visited in
/// order as often as a format needs: the table walks them twice, for the column widths and
/// then for the text. Any thread may make any row: JSON writes its records on two.
pub(crate) trait Rows: Sync {
    /// How many rows there are.
    fn len(&self) -> usize;
    /// Visit the rows of `range`, in order.
    fn range(
        &self,
        range: Range<usize>,
        visit: &mut dyn FnMut(&Entry) -> io::Result<()>,
    ) -> io::Result<()>;
    /// Visit every row, in order.
    fn each(&self, visit: &mut dyn FnMut(&Entry) -> io::Result<()>) -> io::Result<()> {
        self.range(0..self.len(), visit)
    }
    /// How a format that writes its rows in parts may have them made.
    fn split(&self) -> &dyn Split {
        &InOrder
    }
}

/// Makes the parts of a long output and writes them in order, on as many threads as the run
/// may use: the pure layers start none themselves (a listing is handed two threads).
pub(crate) trait Split: Sync {
    /// How many threads make parts: each is told its number, below this, so that what
    /// it keeps between parts is its own.
    fn threads(&self) -> usize;
    /// Write rows `0..rows` to `out` as `make` writes a range of them into an empty buffer;
    /// the parts come out in order, as if made one after another.
    fn write(&self, rows: usize, make: &MakePart, out: &mut dyn Write) -> io::Result<()>;
}

/// Writes the rows of `range` into a buffer, on the thread numbered by the first argument.
pub(crate) type MakePart<'a> =
    dyn Fn(usize, Range<usize>, &mut Vec<u8>) -> io::Result<()> + Sync + 'a;

/// Rows a part holds: about 150 kB of JSON, enough that handing a part to another thread
/// costs nothing beside making it, few enough that neither thread waits long for the other.
pub(crate) const PART: usize = 128;

/// How many parts `rows` rows make; one, empty, for no rows, so that a format still writes
/// its frame.
pub(crate) fn parts(rows: usize) -> usize {
    rows.div_ceil(PART).max(1)
}

/// The rows of part `index`.
pub(crate) fn part(rows: usize, index: usize) -> Range<usize> {
    (index * PART).min(rows)..((index + 1) * PART).min(rows)
}

/// Every part on this thread, one after another: rows already made, and short listings.
pub(crate) struct InOrder;

impl Split for InOrder {
    fn threads(&self) -> usize {
        1
    }

    fn write(&self, rows: usize, make: &MakePart, out: &mut dyn Write) -> io::Result<()> {
        let mut buf = Vec::new();
        for index in 0..parts(rows) {
            buf.clear();
            make(0, part(rows, index), &mut buf)?;
            out.write_all(&buf)?;
        }
        Ok(())
    }
}

impl Rows for &[Entry] {
    fn len(&self) -> usize {
        <[Entry]>::len(self)
    }

    fn range(
        &self,
        range: Range<usize>,
        visit: &mut dyn FnMut(&Entry) -> io::Result<()>,
    ) -> io::Result<()> {
        self[range].iter().try_for_each(visit)
    }
}

/// Rows made from sorted sockets as they are written. A listing holds only its sockets,
/// and each row exists while it is written: held all at once, the labelled rows were
/// most of portwho's memory on a host with tens of thousands of sockets.
pub(crate) struct Lazy<'a> {
    pub sockets: &'a [Socket],
    /// The row of the socket at an index.
    pub make: &'a (dyn Fn(usize) -> Entry + Sync),
    /// How to make them for a format that writes them in parts.
    pub split: &'a dyn Split,
}

impl Rows for Lazy<'_> {
    fn len(&self) -> usize {
        self.sockets.len()
    }

    fn range(
        &self,
        range: Range<usize>,
        visit: &mut dyn FnMut(&Entry) -> io::Result<()>,
    ) -> io::Result<()> {
        range.into_iter().try_for_each(|i| visit(&(self.make)(i)))
    }

    fn split(&self) -> &dyn Split {
        self.split
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::model::Proto;
    use proptest::prelude::*;
    use std::net::{IpAddr, SocketAddr};

    fn no_services(_: &str) -> Vec<(Proto, u16)> {
        Vec::new()
    }

    fn text() -> impl Strategy<Value = String> {
        crate::text::hostile_text()
    }

    /// A process where every field another process (or its cgroup's creator) chose is
    /// hostile text.
    pub(crate) fn process() -> impl Strategy<Value = crate::model::Process> {
        use crate::model::{Ancestor, Container, Manager, Process, ProxyTarget, Runtime};
        (
            (
                text(),
                proptest::collection::vec(text(), 0..4),
                proptest::option::of(text()),
            ),
            (
                proptest::option::of(text()),
                proptest::option::of(text()),
                text(),
            ),
            (
                proptest::option::of(text()),
                proptest::option::of((
                    proptest::sample::select(Runtime::ALL.to_vec()),
                    text(),
                    proptest::option::of(text()),
                )),
                proptest::option::of((
                    proptest::sample::select(Proto::ALL.to_vec()),
                    any::<IpAddr>(),
                    any::<IpAddr>(),
                )),
            ),
            (1u32..5, any::<bool>()),
        )
            .prop_map(
                |(
                    (name, cmdline, user),
                    (exe, cwd, parent),
                    (unit, container, proxy),
                    (pid, deleted),
                )| {
                    Process {
                        pid,
                        name,
                        cmdline,
                        user,
                        uid: Some(1000),
                        ppid: Some(1),
                        exe,
                        exe_deleted: deleted,
                        cwd,
                        started: Some(1_700_000_000),
                        ancestors: vec![Ancestor {
                            pid: 1,
                            name: parent,
                        }],
                        manager: Manager {
                            unit,
                            container: container.map(|(runtime, id, pod)| Container {
                                runtime,
                                id,
                                pod,
                                name: None,
                                image: None,
                            }),
                        },
                        proxy: proxy.map(|(proto, host_ip, container_ip)| ProxyTarget {
                            proto,
                            host_ip,
                            host_port: 8080,
                            container_ip,
                            container_port: 80,
                        }),
                    }
                },
            )
    }

    /// Nothing a terminal acts on: no control character but the line ends, no bidi control.
    fn assert_inert(output: &[u8]) -> Result<(), TestCaseError> {
        let text = std::str::from_utf8(output).map_err(|e| TestCaseError::fail(e.to_string()))?;
        let bad = text.chars().find(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
        });
        prop_assert!(bad.is_none(), "{:?} in {}", bad, text);
        Ok(())
    }

    proptest! {
        /// The table, the owner cards, the diagnosis and the audit escape every string a
        /// process chose, whatever it is (`--json` leaves them to the JSON encoder).
        #[test]
        fn hostile_strings_never_reach_the_terminal_raw(
            processes in proptest::collection::vec(process().prop_map(std::sync::Arc::new), 1..3),
            socket_user in proptest::option::of(text()),
            interface in text(),
            width in proptest::option::of(10usize..120),
            (container_name, image, netns_name, pod) in (text(), text(), text(), text()),
        ) {
            use crate::model::{ContainerState, Forward, Host, Netns, Place, Socket, State, Via};
            let users = std::collections::HashMap::from([(1000, socket_user.unwrap_or_default().into())]);
            let interfaces = [("192.0.2.1".parse().unwrap(), interface)];
            let labeller = crate::label::Labeller {
                services: None,
                ephemeral: 32768..=60999,
                users: &users,
                interfaces: &interfaces,
                findings: crate::label::Judging::Worded,
            };
            let socket = |local: &str, inode| Socket {
                proto: Proto::Tcp,
                local: local.parse().unwrap(),
                remote: None,
                state: State::Listen,
                uid: Some(1000),
                inode,
                v6only: None,
                netns: 0,
            };
            // What a container's creator chose: its name, image and pod, and a netns name.
            let container = std::sync::Arc::new(ContainerState {
                name: Some(container_name),
                image: Some(image),
                pod: Some(pod.clone()),
                pod_namespace: Some(pod),
                ..ContainerState::default()
            });
            let place = std::sync::Arc::new(Place {
                netns: Netns { inode: 7, name: Some(netns_name) },
                container: Some(container),
            });
            let mut entries = vec![
                labeller.entry(socket("0.0.0.0:6379", 1), processes.clone(), false),
                labeller.entry(socket("192.0.2.1:6379", 2), processes.clone(), false),
                labeller.entry(socket("[::]:6379", 3), Vec::new(), true),
            ];
            entries[1].place = Some(std::sync::Arc::clone(&place));
            entries[0].forward = Some(Forward {
                proto: Proto::Tcp,
                to_addr: None,
                to_port: 80,
                via: Via::DockerProxy,
                place: Some(Place::clone(&place)),
                processes,
            });
            let mut out = Vec::new();
            table::Table { color: false, width, numeric: false, owners: true, netns: true }.render(&entries, &mut out).unwrap();
            card::Cards { now: 1_700_000_100, width, color: false, targets: vec![":6379".into()] }
                .render(&entries, &mut out)
                .unwrap();
            let target = crate::target::Target { addr: None, ports: 6379..=6379, proto: None };
            let host = Host::default();
            let facts = crate::diagnose::Facts { related: &entries, elsewhere: &entries, forwards: &[], host: &host };
            for line in crate::diagnose::diagnose(&target, &facts) {
                out.extend_from_slice(line.as_bytes());
                out.push(b'\n');
            }
            audit::findings(&entries, entries.len(), crate::model::Severity::High, &mut out).unwrap();
            let changes: Vec<crate::model::Change> = entries.iter().map(crate::model::Change::Added).collect();
            audit::changes(&changes, "base.json", &mut out).unwrap();
            assert_inert(&out)?;
        }

        /// Every address the backends make (`SocketAddr::new`: no IPv6 scope or flow) is
        /// printed so that it parses back to itself, as an address and as a TARGET.
        #[test]
        fn printed_addresses_parse_back(ip in any::<IpAddr>(), port in any::<u16>()) {
            let addr = SocketAddr::new(ip, port);
            let text = crate::text::format_addr(addr);
            prop_assert_eq!(text.parse::<SocketAddr>(), Ok(addr));
            let target = crate::target::Target { addr: Some(ip), ports: port..=port, proto: None };
            prop_assert_eq!(crate::target::parse(&text, &no_services), Ok(vec![target]));
        }
    }
}
