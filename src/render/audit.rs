//! `--audit` and `--diff` for people: one block per finding or change, then a summary.

use std::io::{self, Write};

use crate::model::{Change, Entry, Finding, Severity, Spelled, describe, place_name, programs};
use crate::text::format_addr;
use crate::text::{escape, plural};

/// Findings, most severe first, each with the socket and its holders, and the reason.
pub(crate) fn findings(
    entries: &[Entry],
    listening: usize,
    fail_on: Severity,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut rows: Vec<(&Entry, &Finding)> = entries
        .iter()
        .flat_map(|e| e.findings.iter().map(move |f| (e, f)))
        .collect();
    rows.sort_by_key(|(e, f)| (std::cmp::Reverse(f.severity), e.socket.local.port()));
    for (e, f) in &rows {
        let s = &e.socket;
        let exposure = e.interface.as_deref().map_or_else(
            || e.exposure.as_str().to_string(),
            |i| escape(i).into_owned(),
        );
        writeln!(
            out,
            "{:<6}  {:<25}  {} {}{} ({exposure})  {}",
            f.severity.as_str(),
            f.code,
            s.proto.as_str(),
            format_addr(s.local),
            within(place_name(e).as_deref()),
            holders(e)
        )?;
        writeln!(out, "        {}", escape(&f.message))?;
    }
    let count = |sev: Severity| rows.iter().filter(|(_, f)| f.severity == sev).count();
    let sockets = entries.iter().filter(|e| !e.findings.is_empty()).count();
    if !rows.is_empty() {
        writeln!(out)?;
    }
    writeln!(
        out,
        "{} ({} high, {} medium, {} low) on {sockets} of {}; failing at {} or above",
        plural(rows.len(), "finding", "findings"),
        count(Severity::High),
        count(Severity::Medium),
        count(Severity::Low),
        plural(listening, "listening socket", "listening sockets"),
        fail_on.as_str()
    )
}

/// ` in container web`, ` in netns blue`; nothing for the caller's own namespace.
fn within(place: Option<&str>) -> String {
    place.map_or(String::new(), |p| format!(" in {}", escape(p)))
}

fn holders(e: &Entry) -> String {
    if e.processes.is_empty() {
        return if e.owners_hidden { "(hidden)" } else { "-" }.to_string();
    }
    e.processes
        .iter()
        .map(|p| format!("{}/{}", p.pid, escape(&p.name)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// `+` new, `-` gone, `~` another program now, then a one-line summary.
pub(crate) fn changes(
    changes: &[Change],
    baseline_name: &str,
    out: &mut dyn Write,
) -> io::Result<()> {
    let mut counts = [0usize; 3];
    for change in changes {
        match change {
            Change::Added(e) => {
                counts[0] += 1;
                writeln!(
                    out,
                    "+ {} {}{}  new: {}",
                    e.socket.proto.as_str(),
                    format_addr(e.socket.local),
                    within(place_name(e).as_deref()),
                    escape(&describe(&programs(e)))
                )?;
            }
            Change::Removed(l) => {
                counts[1] += 1;
                // What portwho could not read is shown as saved, escaped.
                let proto = match &l.proto {
                    Spelled::Known(proto) => proto.as_str().into(),
                    Spelled::Unknown(text) => escape(text),
                };
                let addr = match &l.local_addr {
                    Spelled::Known(ip) => format_addr(std::net::SocketAddr::new(*ip, l.local_port)),
                    Spelled::Unknown(text) => format!("{}:{}", escape(text), l.local_port),
                };
                writeln!(
                    out,
                    "- {proto} {addr}{}  gone: {}",
                    within(l.place.as_deref()),
                    escape(&describe(&l.programs))
                )?;
            }
            Change::Changed { before, after } => {
                counts[2] += 1;
                writeln!(
                    out,
                    "~ {} {}{}  other program: {} → {}",
                    after.socket.proto.as_str(),
                    format_addr(after.socket.local),
                    within(place_name(after).as_deref()),
                    escape(&describe(&before.programs)),
                    escape(&describe(&programs(after)))
                )?;
            }
        }
    }
    if changes.is_empty() {
        writeln!(out, "no change since {}", escape(baseline_name))
    } else {
        writeln!(
            out,
            "{} new, {} gone, {} changed since {}",
            counts[0],
            counts[1],
            counts[2],
            escape(baseline_name)
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Listener;

    #[test]
    fn a_removed_listener_is_shown_as_saved_where_portwho_cannot_read_it() {
        let listener = |proto: &str, addr: &str| Listener {
            proto: Spelled::read(proto.to_string(), crate::model::Proto::from_name),
            local_addr: Spelled::read(addr.to_string(), |text| text.parse().ok()),
            local_port: 80,
            place: None,
            programs: Default::default(),
            raw: serde_json::Value::Null,
        };
        let gone = [
            listener("tcp", "::"),
            listener("sctp", "localhost"),
            listener("udp", "fe80::1%eth0"),
        ];
        let changes: Vec<Change> = gone.iter().map(Change::Removed).collect();
        let mut out = Vec::new();
        super::changes(&changes, "base.json", &mut out).unwrap();
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "- tcp [::]:80  gone: owner unknown\n\
             - sctp localhost:80  gone: owner unknown\n\
             - udp fe80::1%eth0:80  gone: owner unknown\n\
             0 new, 3 gone, 0 changed since base.json\n"
        );
    }
}
