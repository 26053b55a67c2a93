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

impl Render for Table {
    fn render(&self, entries: &[Entry], out: &mut dyn Write) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let with_peer = entries.iter().any(|e| e.socket.remote.is_some());
        let mut header = vec!["PROTO", "LOCAL"];
        if with_peer {
            header.push("PEER");
        }
        header.extend(["STATE", "EXPOSURE"]);
        if !self.numeric {
            header.push("SERVICE");
        }
        header.extend(["RANGE", "PROCESS", "USER"]);

        let mut builder = Builder::with_capacity(entries.len() + 1, header.len());
        builder.push_record(header.iter().map(|h| self.paint(BOLD, h)));
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
}
