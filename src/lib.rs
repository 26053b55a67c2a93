//! portwho: who is listening on this port, what holds it, and what this host exposes.

pub mod action;
pub mod backend;
pub mod cli;
pub mod config;
pub mod error;
pub mod exit;
pub mod filter;
pub mod generate;
pub mod join;
pub mod label;
pub mod model;
pub mod render;
pub mod signal;
pub mod target;

use std::collections::{HashMap, HashSet};
use std::io::Write;

use backend::{Backend, Owners, ScanStats};
use config::{Config, Format};
use error::Error;
use exit::ExitCode;
use label::{Labeller, services::ServiceTable};
use model::Entry;
use render::Render;

/// One run: read the sockets, find their holders, label, filter, render.
///
/// Notes for the user (hidden owners, skipped lines) go to `err`; stdout gets only the
/// table or the JSON.
pub fn run(
    config: &Config,
    backend: &dyn Backend,
    services: &ServiceTable,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Error> {
    // --kill, --free and --wait-* select like the listing but end differently (src/action/).
    if config.mode != config::Mode::List {
        return action::run(config, backend, out, err);
    }
    let filters = &config.filters;
    let table = backend.sockets(&filters.query())?;
    for warning in &table.warnings {
        note(err, warning)?;
    }
    let mut sockets: Vec<_> = table
        .sockets
        .into_iter()
        .filter(|s| filters.socket(s))
        .collect();

    // `-q` without owner filters answers from the socket table alone: no /proc scan.
    let owners = if config.format == Format::Quiet && !filters.needs_owners() {
        Owners::default()
    } else {
        let wanted: HashSet<u64> = sockets
            .iter()
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        backend.owners(&wanted)?
    };
    sockets.retain(|s| filters.pids(join::holder_pids(s, &owners)));

    // Details only for the processes that can still be shown.
    let mut pids: Vec<u32> = sockets
        .iter()
        .flat_map(|s| join::holder_pids(s, &owners).iter().copied())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let details =
        if config.format == Format::Quiet && filters.commands.is_empty() && filters.uids.is_empty()
        {
            backend::ProcessDetails::default()
        } else {
            backend.processes(&pids)
        };

    let mut users = HashMap::new();
    for s in &sockets {
        if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(s.uid)
            && let Some(name) = backend.user_name(s.uid)
        {
            slot.insert(name);
        }
    }
    let labeller = Labeller {
        services: (!config.numeric).then_some(services),
        ephemeral: backend
            .ephemeral_range()
            .unwrap_or(label::ranges::LINUX_DEFAULT_EPHEMERAL),
        users: &users,
    };
    let someone_hidden = owners.stats.denied > 0;
    let mut entries: Vec<Entry> = sockets
        .into_iter()
        .map(|s| {
            let processes = join::holders(&s, &owners, &details);
            let hidden = someone_hidden && processes.is_empty() && s.inode != 0;
            labeller.entry(s, processes, hidden)
        })
        .filter(|e| filters.entry(e))
        .collect();
    join::sort(&mut entries);

    let matched = !entries.is_empty();
    let write = |r: &dyn Render, out: &mut dyn Write| r.render(&entries, out);
    match config.format {
        Format::Quiet => {}
        Format::Json => write(&render::json::Json, out).map_err(Error::Output)?,
        Format::Table => write(
            &render::table::Table {
                color: config.color,
                width: config.width,
                numeric: config.numeric,
            },
            out,
        )
        .map_err(Error::Output)?,
    }
    out.flush().map_err(Error::Output)?;

    if config.format != Format::Quiet {
        let hidden = entries.iter().filter(|e| e.owners_hidden).count();
        if hidden > 0 {
            note(
                err,
                &hidden_note(hidden, &owners.stats, backend.privileged()),
            )?;
        }
        if config.verbose {
            note(err, &scan_note(&owners.stats, details.vanished))?;
        }
        if !matched && config.format == Format::Table {
            note(err, "no socket matches")?;
        }
    }
    Ok(if matched {
        ExitCode::Matched
    } else {
        ExitCode::NoMatch
    })
}

fn note(err: &mut dyn Write, text: &str) -> Result<(), Error> {
    // stderr going away is no reason to fail the answer already on stdout.
    let _ = writeln!(err, "portwho: {text}");
    Ok(())
}

fn hidden_note(sockets: usize, stats: &ScanStats, privileged: bool) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let hint = if privileged {
        "even root may not read every fd (a hardened kernel or another namespace)"
    } else {
        "run as root to see them: sudo portwho ..."
    };
    format!(
        "owners of {} hidden: {} could not be read (permission denied); {hint}",
        plural(sockets, "socket", "sockets"),
        plural(stats.denied, "process", "processes"),
    )
}

fn scan_note(stats: &ScanStats, vanished_details: usize) -> String {
    format!(
        "scanned the fds of {} processes; {} denied, {} exited during the scan",
        stats.processes,
        stats.denied,
        stats.vanished + vanished_details
    )
}
