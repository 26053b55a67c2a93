//! The JSON output: one array, one object per socket, field names fixed by the contract.

use std::collections::HashMap;
use std::collections::hash_map::Entry as Slot;
use std::io::{self, Write};
use std::net::IpAddr;
use std::ops::Range;
use std::sync::{Arc, Mutex, PoisonError};

use serde::Serialize;
use serde_json::value::RawValue;

use super::Rows;
use super::time::Rfc3339;
use crate::model::{
    Category, Change, Container, ContainerState, Entry, Exposure, Family, Finding, Firewall,
    Forward, Place, PortForward, Process, Proto, ProxyTarget, Published, Runtime, State,
};

pub(super) mod write;

/// Renders entries as the contract's JSON array.
pub(crate) struct Json;

/// One socket as the contract spells it. Built per row and serialized at once: it borrows
/// from the entry, and its text fields (addresses, times) are written straight into the
/// output rather than made into a `String` each.
#[derive(Serialize)]
pub(super) struct Record<'a> {
    proto: Proto,
    family: Family,
    local_addr: Shown<IpAddr>,
    local_port: u16,
    remote_addr: Option<Shown<IpAddr>>,
    remote_port: Option<u16>,
    state: State,
    uid: Option<u32>,
    inode: Option<u64>,
    service: Option<&'a str>,
    category: Category,
    ephemeral: bool,
    v6only: Option<bool>,
    exposure: Exposure,
    interface: Option<&'a str>,
    findings: &'a [Finding],
    processes: Holders<'a>,
    netns: NetnsRecord<'a>,
    container: Option<ContainerRecord<'a>>,
    published: PublishedList<'a>,
    forward: Option<ForwardRecord<'a>>,
    firewall: Option<&'a Firewall>,
}

/// A value written as the JSON string of its `Display`, without allocating it first.
struct Shown<T>(T);

impl<T: std::fmt::Display> Serialize for Shown<T> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(&self.0)
    }
}

/// The holders of a socket, as an array of process records.
struct Holders<'a> {
    list: &'a [Arc<Process>],
}

impl<'a> Holders<'a> {
    fn of(list: &'a [Arc<Process>]) -> Self {
        Holders { list }
    }
}

impl Serialize for Holders<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.list.iter().map(|p| ProcessRecord::from(&**p)))
    }
}

/// A process, and its record as written.
type Known = (Arc<Process>, Box<RawValue>);

/// Process records already written, by the address of the shared process (kept alive
/// here, so that no other process can take its address). One process may hold thousands
/// of sockets, and its record, half of each socket's, was serialized again for every one.
pub(super) struct Written {
    known: Mutex<HashMap<usize, Known>>,
    /// How a record is laid out where it is written.
    form: fn(&Process) -> serde_json::Result<Box<RawValue>>,
}

impl Written {
    /// `use` given the record of `p`, written now if it was not before.
    fn with<T>(
        &self,
        p: &Arc<Process>,
        use_: impl FnOnce(&RawValue) -> T,
    ) -> serde_json::Result<T> {
        // Each thread that writes a listing has its own: the lock is never waited for.
        let mut known = self.known.lock().unwrap_or_else(PoisonError::into_inner);
        let text = match known.entry(Arc::as_ptr(p) as usize) {
            Slot::Occupied(known) => known.into_mut(),
            Slot::Vacant(new) => new.insert((Arc::clone(p), (self.form)(p)?)),
        };
        Ok(use_(&text.1))
    }

    /// For the listing's array, as `to_writer_pretty` writes it.
    fn pretty() -> Written {
        Written {
            known: Default::default(),
            form: nested,
        }
    }

    /// For a record a line (`--jsonl`).
    pub(super) fn compact() -> Written {
        Written {
            known: Default::default(),
            form: |p| RawValue::from_string(serde_json::to_string(&ProcessRecord::from(p))?),
        }
    }
}

/// A process record as `to_writer_pretty` writes it in the listing's array: an element of
/// the `processes` of a record of the array, three levels deep, so every line after its
/// first is indented by three more levels. Newlines inside strings are escaped, so only
/// the layout's own are indented.
fn nested(p: &Process) -> serde_json::Result<Box<RawValue>> {
    let text = serde_json::to_string_pretty(&ProcessRecord::from(p))?;
    RawValue::from_string(text.replace('\n', "\n      "))
}

/// `{"inode": 4026531840, "name": "blue"}`; the inode is `null` where it is not known (a
/// captured proc tree).
#[derive(Serialize)]
struct NetnsRecord<'a> {
    inode: Option<u64>,
    name: Option<&'a str>,
}

impl<'a> NetnsRecord<'a> {
    fn of(inode: u64, place: Option<&'a Place>) -> Self {
        NetnsRecord {
            inode: (inode != 0).then_some(inode),
            name: place.and_then(|p| p.netns.name.as_deref()),
        }
    }
}

/// The container whose namespace a socket lives in, as its runtime recorded it.
#[derive(Serialize)]
struct ContainerRecord<'a> {
    runtime: Option<Runtime>,
    id: &'a str,
    name: Option<&'a str>,
    image: Option<&'a str>,
    pod: Option<&'a str>,
    namespace: Option<&'a str>,
}

impl<'a> From<&'a ContainerState> for ContainerRecord<'a> {
    fn from(c: &'a ContainerState) -> Self {
        ContainerRecord {
            runtime: c.runtime,
            id: &c.id,
            name: c.name.as_deref(),
            image: c.image.as_deref(),
            pod: c.pod.as_deref(),
            namespace: c.pod_namespace.as_deref(),
        }
    }
}

#[derive(Serialize)]
struct PublishedRecord {
    proto: Proto,
    host_addr: Option<Shown<IpAddr>>,
    host_port: u16,
    via: &'static str,
}

/// The host ports that reach a socket, as an array.
struct PublishedList<'a>(&'a [Published]);

impl Serialize for PublishedList<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_seq(self.0.iter().map(|p| PublishedRecord {
            proto: p.proto,
            host_addr: p.host_addr.map(Shown),
            host_port: p.host_port,
            via: p.via.as_str(),
        }))
    }
}

#[derive(Serialize)]
struct ForwardRecord<'a> {
    proto: Proto,
    to_addr: Option<Shown<IpAddr>>,
    to_port: u16,
    via: &'static str,
    netns: Option<NetnsRecord<'a>>,
    container: Option<ContainerRecord<'a>>,
    processes: Holders<'a>,
}

impl<'a> From<&'a Forward> for ForwardRecord<'a> {
    fn from(f: &'a Forward) -> Self {
        ForwardRecord {
            proto: f.proto,
            to_addr: f.to_addr.map(Shown),
            to_port: f.to_port,
            via: f.via.as_str(),
            netns: f
                .place
                .as_ref()
                .map(|p| NetnsRecord::of(p.netns.inode, Some(p))),
            container: f
                .place
                .as_ref()
                .and_then(|p| p.container.as_deref())
                .map(ContainerRecord::from),
            processes: Holders::of(&f.processes),
        }
    }
}

#[derive(Serialize)]
struct ProcessRecord<'a> {
    pid: u32,
    name: &'a str,
    cmdline: &'a [String],
    user: Option<&'a str>,
    uid: Option<u32>,
    ppid: Option<u32>,
    exe: Option<&'a str>,
    exe_deleted: bool,
    cwd: Option<&'a str>,
    start_time: Option<Shown<Rfc3339>>,
    unit: Option<&'a str>,
    container: Option<&'a Container>,
    proxy: Option<&'a ProxyTarget>,
}

impl<'a> From<&'a Process> for ProcessRecord<'a> {
    fn from(p: &'a Process) -> Self {
        ProcessRecord {
            pid: p.pid,
            name: &p.name,
            cmdline: &p.cmdline,
            user: p.user.as_deref(),
            uid: p.uid,
            ppid: p.ppid,
            exe: p.exe.as_deref(),
            exe_deleted: p.exe_deleted,
            cwd: p.cwd.as_deref(),
            start_time: p.started.map(|secs| Shown(Rfc3339(secs))),
            unit: p.manager.unit.as_deref(),
            container: p.manager.container.as_ref(),
            proxy: p.proxy.as_ref(),
        }
    }
}

impl<'a> From<&'a Entry> for Record<'a> {
    fn from(e: &'a Entry) -> Self {
        let s = &e.socket;
        Record {
            proto: s.proto,
            family: s.family(),
            local_addr: Shown(s.local.ip()),
            local_port: s.local.port(),
            remote_addr: s.remote.map(|r| Shown(r.ip())),
            remote_port: s.remote.map(|r| r.port()),
            state: s.state,
            uid: s.uid,
            inode: s.inode_known(),
            service: e.service,
            category: e.category,
            ephemeral: e.ephemeral,
            v6only: s.v6only,
            exposure: e.exposure,
            interface: e.interface.as_deref(),
            findings: &e.findings,
            processes: Holders::of(&e.processes),
            netns: NetnsRecord::of(s.netns, e.place.as_deref()),
            container: e
                .place
                .as_ref()
                .and_then(|p| p.container.as_deref())
                .map(ContainerRecord::from),
            published: PublishedList(&e.published),
            forward: e.forward.as_ref().map(ForwardRecord::from),
            firewall: e.firewall.as_ref(),
        }
    }
}

/// The serializer writes a few bytes at a time (a key, a quote, a comma); through the run's
/// `dyn Write` each was a call that could not be inlined, a tenth of `--json`'s time. A
/// buffer of the serializer's own type takes them as plain copies and hands the output on
/// in large blocks.
pub(super) fn buffered(out: &mut dyn Write) -> io::BufWriter<&mut dyn Write> {
    io::BufWriter::with_capacity(64 * 1024, out)
}

impl Json {
    /// The array for rows made as they are written, on two threads when they are many.
    pub(crate) fn rows(&self, rows: &dyn Rows, out: &mut dyn Write) -> io::Result<()> {
        if rows.len() == 0 {
            return out.write_all(b"[]\n");
        }
        let mut out = buffered(out);
        // Each part is written as the array's piece: the first begins with its `[`, the
        // others with the `,` after the record before; the array's `\n]` comes after all.
        // Records are laid out by hand as `to_writer_pretty` lays them out (`write`).
        let split = rows.split();
        let written: Vec<Written> = (0..split.threads()).map(|_| Written::pretty()).collect();
        let part = |thread: usize, range: Range<usize>, buf: &mut Vec<u8>| {
            buf.push(if range.start == 0 { b'[' } else { b',' });
            let mut first = true;
            rows.range(range, &mut |e| {
                let record = Record::from(e);
                buf.extend_from_slice(if first { b"\n  " } else { b",\n  " });
                first = false;
                write::record(buf, &record, &written[thread], write::Layout::Pretty)
                    .map_err(io::Error::other)
            })
        };
        split.write(rows.len(), &part, &mut out)?;
        out.write_all(b"\n]\n")?;
        out.flush()
    }
}

impl Json {
    /// Every entry at once.
    pub(crate) fn render(&self, entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
        self.rows(&entries, out)
    }
}

#[derive(Serialize)]
struct RuleRecord<'a> {
    family: &'a str,
    table: &'a str,
    chain: &'a str,
    handle: Option<u64>,
}

/// One forward, as the contract spells it.
#[derive(Serialize)]
struct PortForwardRecord<'a> {
    proto: Proto,
    host_addr: Option<String>,
    host_port: u16,
    to_addr: Option<Shown<std::net::IpAddr>>,
    to_port: u16,
    via: &'static str,
    rule: Option<RuleRecord<'a>>,
    netns: Option<NetnsRecord<'a>>,
    container: Option<ContainerRecord<'a>>,
    processes: Holders<'a>,
}

impl<'a> From<&'a PortForward> for PortForwardRecord<'a> {
    fn from(f: &'a PortForward) -> Self {
        let to = ForwardRecord::from(&f.forward);
        PortForwardRecord {
            proto: to.proto,
            host_addr: f.host_addr.map(|a| a.to_string()),
            host_port: f.host_port,
            to_addr: to.to_addr,
            to_port: to.to_port,
            via: to.via,
            rule: f.rule.as_ref().map(|r| RuleRecord {
                family: r.family,
                table: &r.table,
                chain: &r.chain,
                handle: r.handle,
            }),
            netns: to.netns,
            container: to.container,
            processes: to.processes,
        }
    }
}

/// `--forwards --json`: one array of forwards.
pub(crate) fn forwards(forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()> {
    let records: Vec<PortForwardRecord> = forwards.iter().map(PortForwardRecord::from).collect();
    serde_json::to_writer_pretty(&mut *out, &records)?;
    writeln!(out)
}

/// `--forwards --jsonl`: a forward a line.
pub(crate) fn forward_lines(forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()> {
    for f in forwards {
        serde_json::to_writer(&mut *out, &PortForwardRecord::from(f))?;
        writeln!(out)?;
    }
    Ok(())
}

/// `--diff --json`: `{"added": [...], "removed": [...], "changed": [{"before", "after"}]}`,
/// with current sockets as records and baseline ones as they were saved.
pub(crate) fn changes(changes: &[Change], out: &mut dyn Write) -> io::Result<()> {
    let mut added = Vec::new();
    let mut removed = Vec::new();
    let mut changed = Vec::new();
    for change in changes {
        match change {
            Change::Added(e) => added.push(serde_json::to_value(Record::from(*e))?),
            Change::Removed(l) => removed.push(l.raw.clone()),
            Change::Changed { before, after } => changed.push(serde_json::json!({
                "before": before.raw,
                "after": serde_json::to_value(Record::from(*after))?,
            })),
        }
    }
    let value = serde_json::json!({"added": added, "removed": removed, "changed": changed});
    serde_json::to_writer_pretty(&mut *out, &value)?;
    writeln!(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Socket;

    #[test]
    fn contract_fields_and_spellings() {
        let entry = Entry {
            socket: Socket {
                proto: Proto::Tcp,
                local: "[::1]:8080".parse().unwrap(),
                remote: Some("[::1]:50000".parse().unwrap()),
                state: State::TimeWait,
                uid: Some(1000),
                inode: 0,
                v6only: None,
                netns: 0,
            },
            processes: vec![std::sync::Arc::new(Process {
                pid: 4242,
                name: "py\u{1b}thon3".into(),
                cmdline: vec!["python3".into(), "-m".into()],
                user: Some("alice".into()),
                uid: Some(1000),
                ppid: Some(1),
                exe: Some("/usr/bin/python3.11".into()),
                exe_deleted: true,
                cwd: Some("/srv".into()),
                started: Some(1_700_000_000),
                ancestors: vec![],
                manager: crate::model::Manager {
                    unit: Some("app.service".into()),
                    container: None,
                },
                proxy: None,
            })],
            owners_hidden: false,
            socket_user: None,
            service: Some("http-alt"),
            category: Category::Registered,
            ephemeral: false,
            exposure: Exposure::Loopback,
            interface: None,
            findings: Vec::new(),
            place: None,
            published: Vec::new(),
            forward: None,
            firewall: None,
        };
        let mut out = Vec::new();
        Json.render(&[entry], &mut out).unwrap();
        let value: serde_json::Value = serde_json::from_slice(&out).unwrap();
        let expected = serde_json::json!([{
            "proto": "tcp", "family": "ipv6", "local_addr": "::1", "local_port": 8080,
            "remote_addr": "::1", "remote_port": 50000, "state": "TIME_WAIT", "uid": 1000,
            "inode": 0, "service": "http-alt", "category": "registered", "ephemeral": false,
            "v6only": null, "exposure": "loopback", "interface": null, "findings": [],
            "processes": [{"pid": 4242, "name": "py\u{1b}thon3", "cmdline": ["python3", "-m"],
                           "user": "alice", "uid": 1000, "ppid": 1, "exe": "/usr/bin/python3.11",
                           "exe_deleted": true, "cwd": "/srv", "start_time": "2023-11-14T22:13:20Z",
                           "unit": "app.service", "container": null, "proxy": null}],
            "netns": {"inode": null, "name": null}, "container": null, "published": [],
            "forward": null, "firewall": null
        }]);
        assert_eq!(value, expected);
    }

    /// A process's record, written once and copied for its other sockets, reads as if each
    /// had been serialized in place.
    #[test]
    fn records_written_once_are_the_records_in_place() {
        use crate::model::testing::{entry, process, tcp};
        let hostile = Arc::new(Process {
            cmdline: vec!["a\n  \"b\"".into(), String::new(), "\u{1b}[2J".into()],
            exe: Some("/usr/bin/x\ny".into()),
            ..process(7, "x\"} 1\n")
        });
        let other = Arc::new(process(8, "nginx"));
        let with = |inode, holders: &[&Arc<Process>]| Entry {
            processes: holders.iter().map(|p| Arc::clone(p)).collect(),
            ..entry(tcp("127.0.0.1:80", State::Listen, inode))
        };
        let entries = [
            with(1, &[&hostile]),
            with(2, &[&hostile, &other]),
            with(3, &[]),
            with(4, &[&other, &hostile]),
        ];
        let mut out = Vec::new();
        Json.render(&entries, &mut out).unwrap();
        let records: Vec<Record> = entries.iter().map(Record::from).collect();
        let in_place = serde_json::to_string_pretty(&records).unwrap() + "\n";
        assert_eq!(String::from_utf8(out).unwrap(), in_place);
    }

    /// Rows made in parts on two threads, each with its own records already written, read
    /// as the whole array serialized at once: no part lost, doubled, reordered or joined
    /// wrongly. Enough rows for many parts, an odd number so that the last is short.
    #[test]
    fn rows_written_in_parts_on_two_threads_are_the_array_in_place() {
        use crate::model::testing::{entry, process, tcp};
        let holders: Vec<Arc<Process>> = (1..40).map(|pid| Arc::new(process(pid, "w"))).collect();
        let sockets: Vec<Socket> = (0..20 * crate::render::PART + 7)
            .map(|i| tcp("127.0.0.1:80", State::Listen, i as u64 + 1))
            .collect();
        let make = |i: usize| Entry {
            processes: vec![Arc::clone(&holders[i * 7 % holders.len()])],
            ..entry(sockets[i].clone())
        };
        let entries: Vec<Entry> = (0..sockets.len()).map(make).collect();
        let records: Vec<Record> = entries.iter().map(Record::from).collect();
        let in_place = serde_json::to_string_pretty(&records).unwrap() + "\n";
        let lines: String = records
            .iter()
            .map(|r| serde_json::to_string(r).unwrap() + "\n")
            .collect();
        let rows = super::super::Lazy {
            sockets: &sockets,
            make: &make,
            split: &crate::parts::TwoThreads,
        };
        let mut out = Vec::new();
        Json.rows(&rows, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), in_place);
        let mut out = Vec::new();
        super::super::Render::rows(&super::super::jsonl::JsonLines, &rows, &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), lines);
    }

    #[test]
    fn empty_is_an_empty_array() {
        let mut out = Vec::new();
        Json.render(&[], &mut out).unwrap();
        assert_eq!(String::from_utf8(out).unwrap(), "[]\n");
    }
}
