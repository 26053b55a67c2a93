//! `--jsonl`: `--json`'s records, one compact JSON object a line, for log pipelines.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value};

use super::events::Event;
use super::json::write::{self, Layout};
use super::json::{Record, Written, buffered};
use super::time::rfc3339;
use super::{Render, Rows};
use crate::model::{Change, Entry, PortForward, Severity};

/// One object a line: a socket's record (the listing, `--audit`), a change (`--diff`), a
/// port (`--free`), an event (`--watch`).
pub(crate) struct JsonLines;

/// `{"event": "open", "time": "2026-12-06T07:50:01Z", ...the socket's record}`.
#[derive(Serialize)]
struct EventRecord<'a> {
    event: &'static str,
    time: String,
    #[serde(flatten)]
    record: Record<'a>,
}

/// `{"change": "added", ...record}`, `{"change": "removed", ...the baseline's record}`,
/// `{"change": "changed", ...record, "before": the baseline's record}`.
#[derive(Serialize)]
struct ChangeRecord<'a> {
    change: &'static str,
    #[serde(flatten)]
    now: Option<Record<'a>>,
    #[serde(flatten)]
    saved: Option<&'a Map<String, Value>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    before: Option<&'a Value>,
}

/// A change as its line says it.
fn change_record<'a>(change: &Change<'a>) -> ChangeRecord<'a> {
    match *change {
        Change::Added(e) => ChangeRecord {
            change: "added",
            now: Some(Record::from(e)),
            saved: None,
            before: None,
        },
        // A baseline's records are objects; anything else is kept whole, as "before".
        Change::Removed(l) => ChangeRecord {
            change: "removed",
            now: None,
            saved: l.raw.as_object(),
            before: (!l.raw.is_object()).then_some(&l.raw),
        },
        Change::Changed { before, after } => ChangeRecord {
            change: "changed",
            now: Some(Record::from(after)),
            saved: None,
            before: Some(&before.raw),
        },
    }
}

/// `{"port": 8080}`.
#[derive(Serialize)]
struct PortRecord {
    port: u16,
}

/// Each item as one line of compact JSON, through one buffer.
fn lines<T: Serialize>(out: &mut dyn Write, items: impl IntoIterator<Item = T>) -> io::Result<()> {
    let mut out = buffered(out);
    for item in items {
        serde_json::to_writer(&mut out, &item)?;
        out.write_all(b"\n")?;
    }
    out.flush()
}

impl Render for JsonLines {
    fn explains(&self) -> bool {
        false
    }

    fn rows(&self, rows: &dyn Rows, out: &mut dyn Write) -> io::Result<()> {
        let mut out = buffered(out);
        let split = rows.split();
        let written: Vec<Written> = (0..split.threads()).map(|_| Written::compact()).collect();
        let part = |thread: usize, range, buf: &mut Vec<u8>| {
            rows.range(range, &mut |e| {
                let record = Record::from(e);
                write::record(buf, &record, &written[thread], Layout::Compact)?;
                buf.push(b'\n');
                Ok(())
            })
        };
        split.write(rows.len(), &part, &mut out)?;
        out.flush()
    }

    fn explanation(&self, _: &[Entry], _: &[String], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn findings(
        &self,
        flagged: &[Entry],
        _: usize,
        _: Severity,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        self.rows(&flagged, out)
    }

    fn changes(&self, changes: &[Change], _: &str, out: &mut dyn Write) -> io::Result<()> {
        lines(out, changes.iter().map(change_record))
    }

    fn free_ports(&self, ports: &[u16], out: &mut dyn Write) -> io::Result<()> {
        lines(out, ports.iter().map(|&port| PortRecord { port }))
    }

    fn forwards(&self, forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()> {
        super::json::forward_lines(forwards, out)
    }

    fn events(&self, events: &[Event], out: &mut dyn Write) -> io::Result<()> {
        lines(
            out,
            events.iter().map(|e| EventRecord {
                event: e.kind.as_str(),
                time: rfc3339(e.time),
                record: Record::from(e.entry),
            }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::testing::{entry, tcp};
    use crate::model::{Listener, Spelled, State};

    fn lines_of(out: Vec<u8>) -> Vec<Value> {
        String::from_utf8(out)
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    }

    /// Holders' records written once and copied read as if serialized in place.
    #[test]
    fn a_line_is_the_record_in_place() {
        use crate::model::Process;
        use crate::model::testing::process;
        use std::sync::Arc;
        let shared = Arc::new(Process {
            cmdline: vec!["a\n\"b\"".into()],
            ..process(7, "x\"} 1\n")
        });
        let entries: Vec<Entry> = (1..4)
            .map(|inode| Entry {
                processes: vec![Arc::clone(&shared)],
                ..entry(tcp("127.0.0.1:80", State::Listen, inode))
            })
            .collect();
        let mut out = Vec::new();
        JsonLines.rows(&&entries[..], &mut out).unwrap();
        let in_place: String = entries
            .iter()
            .map(|e| serde_json::to_string(&Record::from(e)).unwrap() + "\n")
            .collect();
        assert_eq!(String::from_utf8(out).unwrap(), in_place);
    }

    #[test]
    fn a_record_a_line_and_a_change_a_line() {
        let now = entry(tcp("127.0.0.1:8080", State::Listen, 7));
        let mut out = Vec::new();
        let both = [now.clone(), now.clone()];
        JsonLines.rows(&&both[..], &mut out).unwrap();
        let records = lines_of(out);
        assert_eq!(records.len(), 2);
        assert_eq!(records[0]["local_port"], 8080);

        let raw = serde_json::json!({"proto": "tcp", "local_addr": "0.0.0.0", "local_port": 22});
        let saved = Listener {
            proto: Spelled::Known(crate::model::Proto::Tcp),
            local_addr: Spelled::Known("0.0.0.0".parse().unwrap()),
            local_port: 22,
            place: None,
            programs: Default::default(),
            raw,
        };
        let changes = [
            Change::Added(&now),
            Change::Removed(&saved),
            Change::Changed {
                before: &saved,
                after: &now,
            },
        ];
        let mut out = Vec::new();
        JsonLines.changes(&changes, "base.json", &mut out).unwrap();
        let text = String::from_utf8(out.clone()).unwrap();
        assert!(
            text.starts_with("{\"change\":\"added\",\"proto\":\"tcp\""),
            "{text}"
        );
        let lines = lines_of(out);
        assert_eq!(lines[0]["inode"], 7);
        assert_eq!(
            lines[1],
            serde_json::json!({"change": "removed", "proto": "tcp", "local_addr": "0.0.0.0", "local_port": 22})
        );
        assert_eq!(lines[2]["change"], "changed");
        assert_eq!(lines[2]["local_port"], 8080);
        assert_eq!(lines[2]["before"]["local_port"], 22);

        let mut out = Vec::new();
        JsonLines.free_ports(&[8000, 8001], &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "{\"port\":8000}\n{\"port\":8001}\n"
        );
    }
}
