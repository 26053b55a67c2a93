//! A socket's record written by hand, byte for byte as serde_json writes it: pretty in the
//! `--json` array, compact in `--jsonl`. Through serde each of its two dozen keys was
//! escaped byte by byte and every key, quote, colon and indent was a write of its own: with
//! 10 000 sockets, most of the output's making. Here keys and indents are written as they
//! are, and a string is escaped by serde_json only when it has a byte that needs it. What
//! a record seldom holds (a container, a forward, a firewall verdict, published ports) is
//! still serialized by serde, indented to where it sits; the tests hold the two together.

use std::fmt::Display;
use std::io::Write;

use serde::Serialize;

use super::{Record, Written};

/// A newline and the indent of each level: the array's elements are at level 1, a
/// record's fields at 2, a finding's or a holder's at 3 and 4.
const LEVEL: [&[u8]; 5] = [b"\n", b"\n  ", b"\n    ", b"\n      ", b"\n        "];

/// serde_json's two layouts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(in crate::render) enum Layout {
    /// `to_writer_pretty`, for a record at level 1 of an array.
    Pretty,
    /// `to_writer`: one line.
    Compact,
}

impl Layout {
    /// What comes before a field or an element at `level`.
    fn line(self, level: usize) -> &'static [u8] {
        match self {
            Layout::Pretty => LEVEL[level],
            Layout::Compact => b"",
        }
    }
}

/// `record`, laid out as `layout` says, appended to `out`; its holders' records are those
/// `written` has (in the same layout).
pub(in crate::render) fn record(
    out: &mut Vec<u8>,
    record: &Record,
    written: &Written,
    layout: Layout,
) -> serde_json::Result<()> {
    let r = record;
    let mut o = Object::open(out, layout, 2);
    o.key("proto").serde(&r.proto)?;
    o.key("family").serde(&r.family)?;
    o.key("local_addr").shown(&r.local_addr.0);
    o.key("local_port").number(r.local_port);
    o.key("remote_addr")
        .option(r.remote_addr.as_ref(), |v, a| v.shown(&a.0));
    o.key("remote_port").option(r.remote_port, Value::number);
    o.key("state").serde(&r.state)?;
    o.key("uid").option(r.uid, Value::number);
    o.key("inode").option(r.inode, Value::number);
    o.key("service").text(r.service)?;
    o.key("category").serde(&r.category)?;
    o.key("ephemeral").serde(&r.ephemeral)?;
    o.key("v6only").serde(&r.v6only)?;
    o.key("exposure").serde(&r.exposure)?;
    o.key("interface").text(r.interface)?;
    o.key("findings").array(r.findings, |element, finding| {
        let mut f = Object::open(element.out, layout, 4);
        f.key("severity").serde(&finding.severity)?;
        f.key("code").text(Some(finding.code))?;
        f.key("message").text(Some(&finding.message))?;
        f.key("firewall").nested(&finding.firewall)?;
        f.close();
        Ok(())
    })?;
    o.key("processes").array(r.processes.list, |element, p| {
        written.with(p, |text| {
            element.out.extend_from_slice(text.get().as_bytes())
        })
    })?;
    let mut netns = Object::open(o.key("netns").out, layout, 3);
    netns.key("inode").option(r.netns.inode, Value::number);
    netns.key("name").text(r.netns.name)?;
    netns.close();
    o.key("container").nested(&r.container)?;
    if r.published.0.is_empty() {
        o.key("published").out.extend_from_slice(b"[]");
    } else {
        o.key("published").nested(&r.published)?;
    }
    o.key("forward").nested(&r.forward)?;
    o.key("firewall").nested(&r.firewall)?;
    o.close();
    Ok(())
}

/// An object being written: its fields at `level`.
struct Object<'a> {
    out: &'a mut Vec<u8>,
    layout: Layout,
    level: usize,
    first: bool,
}

impl<'a> Object<'a> {
    fn open(out: &'a mut Vec<u8>, layout: Layout, level: usize) -> Self {
        out.push(b'{');
        Object {
            out,
            layout,
            level,
            first: true,
        }
    }

    /// The next field's key; its value follows.
    fn key(&mut self, key: &str) -> Value<'_> {
        if !std::mem::take(&mut self.first) {
            self.out.push(b',');
        }
        self.out.extend_from_slice(self.layout.line(self.level));
        self.out.push(b'"');
        self.out.extend_from_slice(key.as_bytes());
        self.out.extend_from_slice(match self.layout {
            Layout::Pretty => b"\": ",
            Layout::Compact => b"\":",
        });
        Value {
            out: self.out,
            layout: self.layout,
            level: self.level,
        }
    }

    fn close(self) {
        self.out.extend_from_slice(self.layout.line(self.level - 1));
        self.out.push(b'}');
    }
}

/// Where a value goes: after a key, or as an element, at this level.
struct Value<'a> {
    out: &'a mut Vec<u8>,
    layout: Layout,
    level: usize,
}

impl Value<'_> {
    fn number(self, n: impl itoa::Integer) {
        self.out
            .extend_from_slice(itoa::Buffer::new().format(n).as_bytes());
    }

    /// A value whose `Display` needs no escaping (an address).
    fn shown(self, value: &impl Display) {
        self.out.push(b'"');
        let _ = write!(self.out, "{value}");
        self.out.push(b'"');
    }

    fn option<T>(self, value: Option<T>, some: impl FnOnce(Self, T)) {
        match value {
            Some(value) => some(self, value),
            None => self.out.extend_from_slice(b"null"),
        }
    }

    /// A string, or `null`; escaped as serde_json escapes it, where it has to be.
    fn text(self, text: Option<&str>) -> serde_json::Result<()> {
        match text {
            Some(text) if text.bytes().all(|b| b >= 0x20 && b != b'"' && b != b'\\') => {
                self.out.push(b'"');
                self.out.extend_from_slice(text.as_bytes());
                self.out.push(b'"');
                Ok(())
            }
            _ => self.serde(&text),
        }
    }

    /// A value as serde_json writes it on one line (a number, a name, `null`).
    fn serde(self, value: &impl Serialize) -> serde_json::Result<()> {
        serde_json::to_writer(self.out, value)
    }

    /// A value serde_json may lay out over lines, indented to sit where it is.
    fn nested(self, value: &impl Serialize) -> serde_json::Result<()> {
        if self.layout == Layout::Compact {
            return self.serde(value);
        }
        let text = serde_json::to_string_pretty(value)?;
        // Strings hold their newlines escaped: each one here is the layout's.
        let mut lines = text.split('\n');
        self.out
            .extend_from_slice(lines.next().unwrap_or_default().as_bytes());
        for line in lines {
            self.out.extend_from_slice(LEVEL[self.level]);
            self.out.extend_from_slice(line.as_bytes());
        }
        Ok(())
    }

    /// `[]`, or the elements, in pretty layout one a line at the next level.
    fn array<T>(
        self,
        items: &[T],
        mut element: impl FnMut(Value<'_>, &T) -> serde_json::Result<()>,
    ) -> serde_json::Result<()> {
        if items.is_empty() {
            self.out.extend_from_slice(b"[]");
            return Ok(());
        }
        let (layout, level) = (self.layout, self.level);
        self.out.push(b'[');
        for (i, item) in items.iter().enumerate() {
            if i > 0 {
                self.out.push(b',');
            }
            self.out.extend_from_slice(layout.line(level + 1));
            let value = Value {
                out: &mut *self.out,
                layout,
                level: level + 1,
            };
            element(value, item)?;
        }
        self.out.extend_from_slice(layout.line(level));
        self.out.push(b']');
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use proptest::prelude::*;

    use super::*;
    use crate::model::testing::{entry, tcp};
    use crate::model::{
        ContainerState, Entry, Finding, Firewall, FirewallVerdict, Forward, Netns, Place, Process,
        Proto, Published, RuleRef, Severity, State, Via,
    };

    /// An entry with every part a record can have, its text hostile where a process, a
    /// container's creator or a rule's author chose it.
    fn full(processes: Vec<Arc<Process>>, text: &[String; 6], remote: bool) -> Entry {
        let mut socket = tcp("[2001:db8::1]:6379", State::Listen, 77);
        if remote {
            socket.state = State::Established;
            socket.remote = Some("198.51.100.7:40000".parse().unwrap());
        }
        socket.v6only = Some(remote);
        socket.netns = 4026532000;
        let firewall = Firewall {
            verdict: FirewallVerdict::Conditional,
            rule: Some(RuleRef {
                family: "inet",
                table: text[0].clone(),
                chain: "input".into(),
                handle: Some(12),
                text: text[1].clone(),
            }),
            reason: text[2].clone(),
        };
        let place = Place {
            netns: Netns {
                inode: 4026532000,
                name: Some(text[3].clone()),
            },
            container: Some(Arc::new(ContainerState {
                id: "c0ffee".into(),
                name: Some(text[4].clone()),
                image: Some("nginx:1.25".into()),
                ..ContainerState::default()
            })),
        };
        Entry {
            service: Some("redis"),
            interface: Some(text[5].clone()),
            findings: vec![
                Finding {
                    severity: Severity::High,
                    code: "no-auth",
                    message: text[1].clone(),
                    exposed: true,
                    firewall: Some(firewall.clone()),
                },
                Finding {
                    severity: Severity::Low,
                    code: "ephemeral-port",
                    message: "plain".into(),
                    exposed: false,
                    firewall: None,
                },
            ],
            processes: processes.clone(),
            place: Some(Arc::new(place.clone())),
            published: vec![Published {
                proto: Proto::Tcp,
                host_addr: None,
                host_port: 8080,
                via: Via::Dnat,
            }],
            forward: Some(Forward {
                proto: Proto::Tcp,
                to_addr: Some("172.17.0.2".parse().unwrap()),
                to_port: 80,
                via: Via::DockerProxy,
                place: Some(place),
                processes,
            }),
            firewall: Some(firewall),
            ..entry(socket)
        }
    }

    /// Both layouts, for every record, as serde_json writes the same record.
    fn assert_as_serde(entry: &Entry) -> Result<(), TestCaseError> {
        let record = Record::from(entry);
        for (layout, written, theirs) in [
            (
                Layout::Pretty,
                Written::pretty(),
                // The record as an element of the array, the array's own lines cut off.
                serde_json::to_string_pretty(&[&record]).unwrap()["[\n  ".len()..]
                    .strip_suffix("\n]")
                    .unwrap()
                    .to_string(),
            ),
            (
                Layout::Compact,
                Written::compact(),
                serde_json::to_string(&record).unwrap(),
            ),
        ] {
            // Twice: the second time the holders' records come from `written`.
            for _ in 0..2 {
                let mut ours = Vec::new();
                super::record(&mut ours, &record, &written, layout).unwrap();
                prop_assert_eq!(String::from_utf8(ours).unwrap(), theirs.clone());
            }
        }
        Ok(())
    }

    #[test]
    fn a_bare_record_and_a_full_one_are_laid_out_as_serde_does() {
        let bare = entry(tcp("127.0.0.1:8080", State::Listen, 0));
        assert_as_serde(&bare).unwrap();
        let holders = vec![Arc::new(crate::model::testing::process(1, "nginx"))];
        let text = [
            "filter",
            "tcp dport 6379 accept",
            "why",
            "blue",
            "web",
            "eth0",
        ];
        assert_as_serde(&full(holders, &text.map(String::from), true)).unwrap();
    }

    proptest! {
        #[test]
        fn hostile_records_are_laid_out_as_serde_does(
            processes in proptest::collection::vec(
                crate::render::tests::process().prop_map(Arc::new),
                0..3,
            ),
            text in proptest::array::uniform6(crate::text::hostile_text()),
            remote in any::<bool>(),
        ) {
            assert_as_serde(&full(processes, &text, remote))?;
        }
    }
}
