//! The terminal table: one row per socket, fitted to the terminal, escaped, optionally coloured.

use std::borrow::Cow;
use std::fmt::Write as _;
use std::io::{self, Write};

use tabled::settings::width::Truncate;

use crate::model::{Entry, Process, State};
use crate::text::escape;

const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// Where the PEER column sits, after PROTO and LOCAL (and NETNS when shown).
const PEER: usize = 2;

/// Renders entries as a whitespace-aligned table, like `ss` and `ps`.
pub(crate) struct Table {
    pub color: bool,
    /// Cut the widest cells so each line fits; `None` when not on a terminal.
    pub width: Option<usize>,
    /// Leave the SERVICE column out (`--numeric`).
    pub numeric: bool,
    /// Show the PROCESS column (not with `--no-owners`).
    pub owners: bool,
    /// Show the NETNS column first (`--netns all`).
    pub netns: bool,
}

/// One row's cells written end to end into one buffer, so a row of eight cells costs no
/// allocation once the buffer has grown: the table is laid out twice (widths, then text)
/// for every socket on the host.
#[derive(Default)]
struct Cells {
    text: String,
    ends: Vec<usize>,
}

impl Cells {
    fn clear(&mut self) {
        self.text.clear();
        self.ends.clear();
    }

    /// Close the cell written since the last call.
    fn end(&mut self) {
        self.ends.push(self.text.len());
    }

    fn push(&mut self, cell: &str) {
        self.text.push_str(cell);
        self.end();
    }

    fn iter(&self) -> impl Iterator<Item = &str> {
        let starts = std::iter::once(0).chain(self.ends.iter().copied());
        starts
            .zip(&self.ends)
            .map(|(start, &end)| &self.text[start..end])
    }
}

impl Table {
    fn paint(&self, cells: &mut Cells, code: &str, text: &str) {
        if self.color {
            cells.text.push_str(code);
            cells.text.push_str(text);
            cells.text.push_str(RESET);
        } else {
            cells.text.push_str(text);
        }
    }

    fn row(&self, e: &Entry, with_peer: bool, cells: &mut Cells) {
        cells.clear();
        let s = &e.socket;
        if self.netns {
            netns(e, cells);
            cells.end();
        }
        cells.push(s.proto.as_str());
        // Writing to a String cannot fail.
        let _ = write!(cells.text, "{}", s.local);
        cells.end();
        if with_peer {
            match s.remote {
                Some(remote) => {
                    let _ = write!(cells.text, "{remote}");
                }
                None => cells.text.push('*'),
            }
            cells.end();
        }
        let state = s.state.as_str();
        match s.state {
            State::Listen | State::Unconn => self.paint(cells, GREEN, state),
            _ => cells.text.push_str(state),
        }
        cells.end();
        match (&e.interface, e.exposure) {
            (Some(name), _) => cells.push(&escape(name)),
            (None, exposure) => cells.push(exposure.as_str()),
        }
        if !self.numeric {
            cells.push(e.service.unwrap_or("-"));
        }
        cells.text.push_str(e.category.as_str());
        if e.ephemeral {
            cells.text.push_str(" (eph)");
        }
        cells.end();
        if self.owners {
            self.processes(e, cells);
            cells.end();
        }
        user(e, cells);
        cells.end();
    }

    fn processes(&self, e: &Entry, cells: &mut Cells) {
        if e.processes.is_empty() {
            if e.owners_hidden {
                self.paint(cells, YELLOW, "(hidden)");
            } else {
                cells.text.push('-');
            }
            return;
        }
        // Workers of one server share a name: "812,813,814/nginx" reads better than three.
        for (i, p) in e.processes.iter().enumerate() {
            if e.processes[..i].iter().any(|q| q.name == p.name) {
                continue;
            }
            if i > 0 {
                cells.text.push(' ');
            }
            let pids = e.processes[i..].iter().filter(|q| q.name == p.name);
            for (j, q) in pids.enumerate() {
                let _ = write!(cells.text, "{}{}", if j > 0 { "," } else { "" }, q.pid);
            }
            cells.text.push('/');
            cells.text.push_str(&escape(&p.name));
        }
    }
}

/// Where a socket lives: its container's name, its `ip netns` name, or its inode.
fn netns(e: &Entry, cells: &mut Cells) {
    let place = e.place.as_deref();
    let container = place
        .and_then(|p| p.container.as_deref())
        .map(|c| c.name.as_deref().unwrap_or(&c.id));
    match (container, place.and_then(|p| p.netns.name.as_deref())) {
        (Some(name), _) | (None, Some(name)) => cells.text.push_str(&escape(name)),
        (None, None) if e.socket.netns != 0 => {
            let _ = write!(cells.text, "{}", e.socket.netns);
        }
        (None, None) => cells.text.push('-'),
    }
}

/// How a holder's user is shown: its name, else its uid.
fn name(p: &Process) -> Option<Cow<'_, str>> {
    match (&p.user, p.uid) {
        (Some(user), _) => Some(escape(user)),
        (None, Some(uid)) => Some(Cow::Owned(uid.to_string())),
        (None, None) => None,
    }
}

/// The holders' users, or the socket's owner when no holder is visible.
fn user(e: &Entry, cells: &mut Cells) {
    // Each name once, in the holders' order.
    let mut any = false;
    for (i, p) in e.processes.iter().enumerate() {
        let Some(this) = name(p) else { continue };
        if e.processes[..i]
            .iter()
            .any(|q| name(q).as_deref() == Some(&*this))
        {
            continue;
        }
        if any {
            cells.text.push(',');
        }
        cells.text.push_str(&this);
        any = true;
    }
    if any {
        return;
    }
    // TIME_WAIT and other orphaned sockets carry uid 0 without belonging to root.
    if e.socket.inode == 0 {
        cells.text.push('-');
        return;
    }
    match &e.socket_user {
        Some(user) => cells.text.push_str(&escape(user)),
        None => match e.socket.uid {
            Some(uid) => {
                let _ = write!(cells.text, "{uid}");
            }
            None => cells.text.push('-'),
        },
    }
}

impl Table {
    /// One row on its own, its cells two spaces apart, as `--watch` prints each event: no
    /// header, no widths shared with other rows.
    pub(crate) fn line(&self, e: &Entry) -> String {
        let mut cells = Cells::default();
        self.row(e, e.socket.remote.is_some(), &mut cells);
        cells.iter().collect::<Vec<_>>().join("  ")
    }

    fn header(&self, with_peer: bool, cells: &mut Cells) {
        cells.clear();
        let mut header = Vec::new();
        if self.netns {
            header.push("NETNS");
        }
        header.extend(["PROTO", "LOCAL"]);
        if with_peer {
            header.push("PEER");
        }
        header.extend(["STATE", "EXPOSURE"]);
        if !self.numeric {
            header.push("SERVICE");
        }
        header.push("RANGE");
        if self.owners {
            header.push("PROCESS");
        }
        header.push("USER");
        for h in header {
            self.paint(cells, BOLD, h);
            cells.end();
        }
    }

    /// The table for any rows, cut to the terminal's width there, else at full width.
    ///
    /// Written row by row: one pass for the column widths (and whether any socket has a
    /// peer), one to write. The layout is tabled's (`Style::empty`, two spaces after each
    /// cell, and on a terminal `Width::truncate(width).suffix("…")` with
    /// `PriorityMax::right`), but tabled holds every cell of the table at once: 17.6 MB
    /// for `--all` at 500 × 20 on a terminal, against 6.6 MB streamed.
    pub(crate) fn rows(&self, rows: &dyn super::Rows, out: &mut dyn Write) -> io::Result<()> {
        let mut cells = Cells::default();
        // The widest cell of each column, the header left out (its last cell is padded).
        let mut widths: Vec<usize> = Vec::new();
        let (mut any, mut with_peer) = (false, false);
        rows.each(&mut |e| {
            any = true;
            with_peer |= e.socket.remote.is_some();
            self.row(e, true, &mut cells);
            widths.resize(cells.ends.len(), 0);
            for (width, cell) in widths.iter_mut().zip(cells.iter()) {
                *width = (*width).max(cell_width(cell));
            }
            Ok(())
        })?;
        if !any {
            return Ok(());
        }
        if !with_peer {
            widths.remove(PEER + usize::from(self.netns));
        }
        self.header(with_peer, &mut cells);
        let columns = columns(&cells, &widths, self.width);

        let mut line = String::new();
        let mut write = |cells: &Cells, header: bool| {
            line.clear();
            let last = cells.ends.len().saturating_sub(1);
            for (i, (cell, &column)) in cells.iter().zip(&columns).enumerate() {
                let padding = if i < last || header { PADDING } else { 0 };
                let cell = fit(cell, column.saturating_sub(padding));
                line.push_str(&cell);
                if i < last {
                    let pad = column.saturating_sub(cell_width(&cell));
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            line.truncate(line.trim_end().len());
            line.push('\n');
            out.write_all(line.as_bytes())
        };
        write(&cells, true)?;
        rows.each(&mut |e| {
            self.row(e, with_peer, &mut cells);
            write(&cells, false)
        })
    }
}

/// Spaces after each cell but the last of a row (and after the header's last, which only
/// counts when a column is narrowed).
const PADDING: usize = 2;

/// Each column's width, its padding included, from the `header` cells and the widest
/// `data` cell of each: narrowed to fit `terminal` columns when given, the widest column
/// first and the rightmost of equals, one column at a time and none below its padding.
fn columns(header: &Cells, data: &[usize], terminal: Option<usize>) -> Vec<usize> {
    let last = data.len().saturating_sub(1);
    let mut columns: Vec<usize> = header
        .iter()
        .zip(data)
        .enumerate()
        .map(|(i, (head, &widest))| {
            let padded = if i < last { widest + PADDING } else { widest };
            padded.max(cell_width(head) + PADDING)
        })
        .collect();
    let Some(terminal) = terminal else {
        return columns;
    };
    let mut excess = columns.iter().sum::<usize>().saturating_sub(terminal);
    while excess > 0 {
        // `max_by_key` keeps the last of equal maxima: the rightmost column.
        let widest = (0..columns.len())
            .filter(|&i| columns[i] > PADDING)
            .max_by_key(|&i| columns[i]);
        let Some(widest) = widest else { break };
        columns[widest] -= 1;
        excess -= 1;
    }
    columns
}

/// A cell cut to `width` with "…" as its last character, as tabled cuts it; unchanged
/// when it fits.
fn fit(cell: &str, width: usize) -> Cow<'_, str> {
    if cell_width(cell) <= width {
        return Cow::Borrowed(cell);
    }
    match width {
        0 => Cow::Borrowed(""),
        1 => Cow::Borrowed("…"),
        _ => {
            let mut cut = Truncate::truncate(cell, width - 1).into_owned();
            cut.push('…');
            Cow::Owned(cut)
        }
    }
}

/// A cell's width on a terminal, as tabled measures it (colour codes take none). Most
/// cells are plain ASCII, whose width is their length; measuring those the general way was
/// a tenth of a listing's time.
fn cell_width(cell: &str) -> usize {
    if cell.bytes().all(|b| (b' '..=b'~').contains(&b)) {
        cell.len()
    } else {
        tabled::grid::util::string::get_line_width(cell)
    }
}

#[cfg(test)]
impl Table {
    /// Every entry at once.
    pub(crate) fn render(&self, entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
        self.rows(&entries, out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{Category, Proto, Socket};
    use proptest::prelude::*;

    fn entry() -> impl Strategy<Value = Entry> {
        (
            proptest::collection::vec(
                crate::render::tests::process().prop_map(std::sync::Arc::new),
                0..3,
            ),
            any::<std::net::SocketAddr>(),
            proptest::option::of(any::<std::net::SocketAddr>()),
            any::<(bool, bool, bool)>(),
            proptest::option::of(crate::text::hostile_text()),
        )
            .prop_map(
                |(processes, local, remote, (udp, hidden, eph), user)| Entry {
                    socket: Socket {
                        proto: if udp { Proto::Udp } else { Proto::Tcp },
                        local,
                        remote,
                        state: if remote.is_some() {
                            State::Established
                        } else {
                            State::Listen
                        },
                        uid: Some(7),
                        inode: 1,
                        v6only: None,
                        netns: 0,
                    },
                    processes,
                    owners_hidden: hidden,
                    socket_user: user.map(Into::into),
                    service: eph.then_some("http-alt"),
                    category: Category::Dynamic,
                    ephemeral: eph,
                    exposure: crate::model::Exposure::All,
                    interface: None,
                    findings: Vec::new(),
                    place: None,
                    published: Vec::new(),
                    forward: None,
                    firewall: None,
                },
            )
    }

    /// The table as tabled lays it out, every cell held: what `Table::rows` must
    /// write.
    fn tabled(table: &Table, entries: &[Entry]) -> String {
        use tabled::builder::Builder;
        use tabled::settings::object::{Columns, Rows};
        use tabled::settings::peaker::PriorityMax;
        use tabled::settings::{Padding, Style, Width};

        let with_peer = entries.iter().any(|e| e.socket.remote.is_some());
        let mut cells = Cells::default();
        table.header(with_peer, &mut cells);
        let mut builder = Builder::default();
        builder.push_record(cells.iter().map(str::to_string));
        for e in entries {
            table.row(e, with_peer, &mut cells);
            builder.push_record(cells.iter().map(str::to_string));
        }
        let mut grid = builder.build();
        grid.with(Style::empty())
            .with(Padding::new(0, 2, 0, 0))
            .modify(Columns::last(), Padding::zero())
            .modify(Rows::first(), Padding::new(0, 2, 0, 0));
        if let Some(width) = table.width {
            grid.with(
                Width::truncate(width)
                    .suffix("…")
                    .priority(PriorityMax::right()),
            );
        }
        grid.to_string()
            .lines()
            .map(|line| format!("{}\n", line.trim_end()))
            .collect()
    }

    proptest! {
        /// Written row by row, the table is exactly what tabled lays out.
        #[test]
        fn streamed_is_tabled(
            entries in proptest::collection::vec(entry(), 1..6),
            color in any::<bool>(),
            numeric in any::<bool>(),
            owners in any::<bool>(),
        ) {
            let table = Table { color, width: None, numeric, owners, netns: false };
            let mut streamed = Vec::new();
            table.rows(&entries.as_slice(), &mut streamed).unwrap();
            prop_assert_eq!(String::from_utf8(streamed).unwrap(), tabled(&table, &entries));
        }

        /// Fitted to a terminal, too: the same columns narrowed, the same cells cut.
        #[test]
        fn fitted_is_tabled(
            entries in proptest::collection::vec(entry(), 1..6),
            width in 1usize..160,
            color in any::<bool>(),
            numeric in any::<bool>(),
            owners in any::<bool>(),
        ) {
            let table = Table { color, width: Some(width), numeric, owners, netns: false };
            let mut streamed = Vec::new();
            table.rows(&entries.as_slice(), &mut streamed).unwrap();
            prop_assert_eq!(String::from_utf8(streamed).unwrap(), tabled(&table, &entries));
        }
    }
}
