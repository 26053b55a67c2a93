//! `--watch`'s events: a socket that opened or closed since the last look.

use std::io::{self, Write};

use super::table::Table;
use super::time::Rfc3339;
use crate::model::Entry;

/// What happened to a socket between two looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Open,
    Close,
}

impl Kind {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Kind::Open => "open",
            Kind::Close => "close",
        }
    }
}

/// One event: the socket's row as it was first seen, and when the look that saw the change
/// was made (seconds since the Unix epoch).
#[derive(Debug, Clone, Copy)]
pub(crate) struct Event<'a> {
    pub kind: Kind,
    pub time: u64,
    pub entry: &'a Entry,
}

/// A line an event: the time, the event, then the socket's row as the table shows it.
///
/// `2026-12-06T07:50:01Z  open   tcp  127.0.0.1:8080  LISTEN  loopback  http-alt  ...`
pub(crate) fn lines(table: &Table, events: &[Event], out: &mut dyn Write) -> io::Result<()> {
    for event in events {
        writeln!(
            out,
            "{}  {:<5}  {}",
            Rfc3339(event.time),
            event.kind.as_str(),
            table.line(event.entry)
        )?;
    }
    Ok(())
}
