//! The three printers (terminal text, JSON, nothing), one of which a run picks once.

use std::io::{self, Write};

use super::{Render, Rows, audit, card::Cards, events, json::Json, table::Table};
use crate::model::Change;
use crate::model::Severity;
use crate::model::{Entry, PortForward};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    Table,
    Json,
    /// `--jsonl`: one JSON object a line.
    Jsonl,
    /// `--prometheus`: the text exposition format.
    Prometheus,
    /// `--quiet`: nothing on stdout.
    Quiet,
}

/// How text for people looks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Style {
    pub color: bool,
    /// Cut lines to this width (on a terminal only).
    pub width: Option<usize>,
    pub numeric: bool,
    /// The PROCESS column is shown (not with `--no-owners`).
    pub owners: bool,
    /// The NETNS column is shown (`--netns all`).
    pub netns: bool,
    /// The TARGET arguments as typed, for suggestions in the cards.
    pub targets: Vec<String>,
    /// Seconds since the Unix epoch, for how long a process has run.
    pub now: u64,
    /// When the run started and in which namespace, for `--prometheus`'s own metrics.
    pub scrape: Option<super::prometheus::Scrape>,
}

/// The printer for a format.
pub(crate) fn printer(format: Format, style: Style) -> Box<dyn Render> {
    match format {
        Format::Table => Box::new(Text { style }),
        Format::Json => Box::new(JsonPrinter),
        Format::Jsonl => Box::new(super::jsonl::JsonLines),
        Format::Prometheus => Box::new(super::prometheus::Prometheus::new(style.scrape)),
        Format::Quiet => Box::new(Quiet),
    }
}

/// The terminal's tables, cards and summaries.
struct Text {
    style: Style,
}

impl Render for Text {
    fn explains(&self) -> bool {
        true
    }

    fn rows(&self, rows: &dyn Rows, out: &mut dyn Write) -> io::Result<()> {
        Table {
            color: self.style.color,
            width: self.style.width,
            numeric: self.style.numeric,
            owners: self.style.owners,
            netns: self.style.netns,
        }
        .rows(rows, out)
    }

    fn explanation(
        &self,
        entries: &[Entry],
        diagnosis: &[String],
        out: &mut dyn Write,
    ) -> io::Result<()> {
        Cards {
            now: self.style.now,
            width: self.style.width,
            color: self.style.color,
            targets: self.style.targets.clone(),
        }
        .render(entries, out)?;
        if !diagnosis.is_empty() && !entries.is_empty() {
            writeln!(out)?;
        }
        for line in diagnosis {
            writeln!(out, "* {line}")?;
        }
        Ok(())
    }

    fn findings(
        &self,
        flagged: &[Entry],
        listening: usize,
        fail_on: Severity,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        audit::findings(flagged, listening, fail_on, out)
    }

    fn changes(
        &self,
        changes: &[Change],
        baseline_name: &str,
        out: &mut dyn Write,
    ) -> io::Result<()> {
        audit::changes(changes, baseline_name, out)
    }

    fn free_ports(&self, ports: &[u16], out: &mut dyn Write) -> io::Result<()> {
        ports.iter().try_for_each(|port| writeln!(out, "{port}"))
    }

    fn forwards(&self, forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()> {
        super::forwards::table(forwards, out)
    }

    fn events(&self, events: &[events::Event], out: &mut dyn Write) -> io::Result<()> {
        let table = Table {
            color: self.style.color,
            width: None,
            numeric: self.style.numeric,
            owners: self.style.owners,
            netns: self.style.netns,
        };
        events::lines(&table, events, out)
    }
}

/// The contract's JSON: one array (or object, for `--diff`) on stdout.
struct JsonPrinter;

impl Render for JsonPrinter {
    fn explains(&self) -> bool {
        false
    }

    fn rows(&self, rows: &dyn Rows, out: &mut dyn Write) -> io::Result<()> {
        Json.rows(rows, out)
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
        Json.render(flagged, out)
    }

    fn changes(&self, changes: &[Change], _: &str, out: &mut dyn Write) -> io::Result<()> {
        super::json::changes(changes, out)
    }

    fn free_ports(&self, ports: &[u16], out: &mut dyn Write) -> io::Result<()> {
        serde_json::to_writer(&mut *out, ports)?;
        writeln!(out)
    }

    fn forwards(&self, forwards: &[PortForward], out: &mut dyn Write) -> io::Result<()> {
        super::json::forwards(forwards, out)
    }
}

/// `--quiet`: the exit status answers.
struct Quiet;

impl Render for Quiet {
    fn explains(&self) -> bool {
        false
    }

    fn rows(&self, _: &dyn Rows, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn explanation(&self, _: &[Entry], _: &[String], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn findings(&self, _: &[Entry], _: usize, _: Severity, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn changes(&self, _: &[Change], _: &str, _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn free_ports(&self, _: &[u16], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }

    fn forwards(&self, _: &[PortForward], _: &mut dyn Write) -> io::Result<()> {
        Ok(())
    }
}
