//! The terminal table: one row per socket, fitted to the terminal, escaped, optionally coloured.

use std::io::{self, Write};

use tabled::builder::Builder;
use tabled::settings::object::{Columns, Rows};
use tabled::settings::peaker::PriorityMax;
use tabled::settings::{Padding, Style, Width};

use super::{Render, escape::escape, format_addr};
use crate::model::{Entry, State};

const BOLD: &str = "\x1b[1m";
const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RESET: &str = "\x1b[0m";

/// Renders entries as a whitespace-aligned table, like `ss` and `ps`.
pub struct Table {
    pub color: bool,
    /// Cut the widest cells so each line fits; `None` when not on a terminal.
    pub width: Option<usize>,
    /// Leave the SERVICE column out (`--numeric`).
    pub numeric: bool,
}

impl Table {
    fn paint(&self, code: &str, text: &str) -> String {
        if self.color {
            format!("{code}{text}{RESET}")
        } else {
            text.to_string()
        }
    }

    fn row(&self, e: &Entry, with_peer: bool) -> Vec<String> {
        let s = &e.socket;
        let mut row = vec![s.proto.as_str().to_string(), format_addr(s.local)];
        if with_peer {
            row.push(s.remote.map_or_else(|| "*".to_string(), format_addr));
        }
        let state = s.state.as_str();
        row.push(match s.state {
            State::Listen | State::Unconn => self.paint(GREEN, state),
            _ => state.to_string(),
        });
        row.push(match (&e.interface, e.exposure) {
            (Some(name), _) => escape(name).into_owned(),
            (None, exposure) => exposure.as_str().to_string(),
        });
        if !self.numeric {
            row.push(e.service.as_deref().map_or("-", |n| n).to_string());
        }
        let mut range = e.category.as_str().to_string();
        if e.ephemeral {
            range.push_str(" (eph)");
        }
        row.push(range);
        row.push(self.processes(e));
        row.push(user(e));
        row
    }

    fn processes(&self, e: &Entry) -> String {
        if e.processes.is_empty() {
            return if e.owners_hidden {
                self.paint(YELLOW, "(hidden)")
            } else {
                "-".to_string()
            };
        }
        // Workers of one server share a name: "812,813,814/nginx" reads better than three.
        let mut groups: Vec<(&str, Vec<u32>)> = Vec::new();
        for p in &e.processes {
            match groups.iter_mut().find(|(name, _)| *name == p.name) {
                Some((_, pids)) => pids.push(p.pid),
                None => groups.push((&p.name, vec![p.pid])),
            }
        }
        groups
            .iter()
            .map(|(name, pids)| {
                let pids: Vec<String> = pids.iter().map(u32::to_string).collect();
                format!("{}/{}", pids.join(","), escape(name))
            })
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The holders' users, or the socket's owner when no holder is visible.
fn user(e: &Entry) -> String {
    let mut names: Vec<String> = Vec::new();
    for p in &e.processes {
        let name = match (&p.user, p.uid) {
            (Some(user), _) => escape(user).into_owned(),
            (None, Some(uid)) => uid.to_string(),
            (None, None) => continue,
        };
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        // TIME_WAIT and other orphaned sockets carry uid 0 without belonging to root.
        if e.socket.inode == 0 {
            return "-".to_string();
        }
        return match &e.socket_user {
            Some(user) => escape(user).into_owned(),
            None => e.socket.uid.to_string(),
        };
    }
    names.join(",")
}

impl Table {
    fn header(&self, with_peer: bool) -> Vec<String> {
        let mut header = vec!["PROTO", "LOCAL"];
        if with_peer {
            header.push("PEER");
        }
        header.extend(["STATE", "EXPOSURE"]);
        if !self.numeric {
            header.push("SERVICE");
        }
        header.extend(["RANGE", "PROCESS", "USER"]);
        header.iter().map(|h| self.paint(BOLD, h)).collect()
    }

    /// On a terminal: tabled, which cuts the widest cells to fit.
    fn fitted(&self, entries: &[Entry], with_peer: bool, out: &mut dyn Write) -> io::Result<()> {
        let header = self.header(with_peer);
        let mut builder = Builder::with_capacity(entries.len() + 1, header.len());
        builder.push_record(header);
        for e in entries {
            builder.push_record(self.row(e, with_peer));
        }
        let mut table = builder.build();
        table
            .with(Style::empty())
            .with(Padding::new(0, 2, 0, 0))
            .modify(Columns::last(), Padding::zero())
            .modify(Rows::first(), Padding::new(0, 2, 0, 0));
        if let Some(width) = self.width {
            table.with(
                Width::truncate(width)
                    .suffix("…")
                    .priority(PriorityMax::right()),
            );
        }
        let text = table.to_string();
        for line in text.lines() {
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }

    /// Not on a terminal nothing is cut, so the same layout is written row by row: one pass
    /// for the column widths, one to write. tabled holds every cell at once, which was half
    /// of portwho's memory for 100 000 sockets.
    fn streamed(&self, entries: &[Entry], with_peer: bool, out: &mut dyn Write) -> io::Result<()> {
        let header = self.header(with_peer);
        let mut widths: Vec<usize> = header.iter().map(|h| cell_width(h)).collect();
        for e in entries {
            for (width, cell) in widths.iter_mut().zip(self.row(e, with_peer)) {
                *width = (*width).max(cell_width(&cell));
            }
        }
        let mut line = String::new();
        let mut write = |cells: &[String]| {
            line.clear();
            for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
                line.push_str(cell);
                if i + 1 < cells.len() {
                    let pad = width.saturating_sub(cell_width(cell)) + 2;
                    line.extend(std::iter::repeat_n(' ', pad));
                }
            }
            writeln!(out, "{}", line.trim_end())
        };
        write(&header)?;
        for e in entries {
            write(&self.row(e, with_peer))?;
        }
        Ok(())
    }
}

/// A cell's width on a terminal, as tabled measures it (colour codes take none).
fn cell_width(cell: &str) -> usize {
    tabled::grid::util::string::get_line_width(cell)
}

impl Render for Table {
    fn render(&self, entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let with_peer = entries.iter().any(|e| e.socket.remote.is_some());
        match self.width {
            Some(_) => self.fitted(entries, with_peer, out),
            None => self.streamed(entries, with_peer, out),
        }
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
            proptest::option::of(crate::render::escape::hostile_text()),
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
                        uid: 7,
                        inode: 1,
                        v6only: None,
                    },
                    processes,
                    owners_hidden: hidden,
                    socket_user: user,
                    service: eph.then(|| "http-alt".to_string()),
                    category: Category::Dynamic,
                    ephemeral: eph,
                    exposure: crate::label::exposure::Exposure::All,
                    interface: None,
                    findings: Vec::new(),
                },
            )
    }

    proptest! {
        /// Written row by row, the table is exactly what tabled lays out.
        #[test]
        fn streamed_is_tabled(
            entries in proptest::collection::vec(entry(), 1..6),
            color in any::<bool>(),
            numeric in any::<bool>(),
        ) {
            let table = Table { color, width: None, numeric };
            let with_peer = entries.iter().any(|e| e.socket.remote.is_some());
            let (mut streamed, mut fitted) = (Vec::new(), Vec::new());
            table.streamed(&entries, with_peer, &mut streamed).unwrap();
            table.fitted(&entries, with_peer, &mut fitted).unwrap();
            prop_assert_eq!(String::from_utf8(streamed).unwrap(), String::from_utf8(fitted).unwrap());
        }
    }
}
