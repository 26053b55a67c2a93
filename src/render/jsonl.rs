//! `--jsonl`: `--json`'s records, one compact JSON object a line, for log pipelines.

use std::io::{self, Write};

use serde::Serialize;
use serde_json::{Map, Value};

use super::events::Event;
use super::json::{Record, buffered};
use super::time::rfc3339;
use super::{Render, Rows};
use crate::model::{Change, Entry, Severity};

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
        rows.each(&mut |e| {
            serde_json::to_writer(&mut out, &Record::from(e))?;
            out.write_all(b"\n")
        })?;
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
