//! portwho: who is listening on this port, what holds it, and what this host exposes.

pub mod action;
pub mod backend;
pub mod cli;
pub mod config;
pub mod diagnose;
pub mod diff;
pub mod error;
pub mod exit;
pub mod filter;
pub mod generate;
pub mod hash;
pub mod join;
pub mod label;
pub mod model;
pub mod render;
pub mod signal;
pub mod target;

use std::collections::{HashMap, HashSet};
use std::io::Write;

use backend::{Backend, Detail, Owners, ScanStats};
use config::{Config, Format, Mode};
use error::Error;
use exit::ExitCode;
use label::findings::Severity;
use label::{Labeller, services::ServiceTable};
use model::{Entry, Socket};
use render::Render;

/// One run: read the sockets, find their holders, label, filter, render.
///
/// Notes for the user (hidden owners, skipped lines) go to `err`; stdout gets only the
/// table (with owner cards and the diagnosis when TARGETs were given) or the JSON.
pub fn run(
    config: &Config,
    backend: &dyn Backend,
    services: &ServiceTable,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Error> {
    // --kill, --free and --wait-* select like the listing but end differently (src/action/).
    match config.mode {
        Mode::List | Mode::Audit { .. } | Mode::Diff { .. } => {}
        Mode::Kill(_) | Mode::Free { .. } | Mode::WaitListen { .. } | Mode::WaitFree { .. } => {
            return action::run(config, backend, out, err);
        }
    }
    let filters = &config.filters;
    // A quiet listing without owner filters answers from the socket table alone: no /proc
    // scan. An audit or a diff judges the owners, quiet or not.
    let bare = config.format == Format::Quiet && config.mode == Mode::List;
    let find_owners = config.owners && (!bare || filters.needs_owners());
    if find_owners {
        backend.prepare_owners();
    }
    let table = backend.sockets(&filters.query())?;
    for warning in &table.warnings {
        note(err, warning);
    }
    if let (Some(why), true) = (&table.fallback, config.verbose) {
        note(
            err,
            &format!("netlink unavailable ({why}); read the /proc/net tables instead"),
        );
    }
    // `portwho :PORT` on a terminal explains the port, which takes every socket on it, on
    // any address and in any state: a listener on 0.0.0.0 blocks 127.0.0.1 too.
    let explain =
        config.mode == Mode::List && config.format == Format::Table && !filters.targets.is_empty();
    let related: Vec<Socket> = if explain {
        table
            .sockets
            .iter()
            .filter(|s| filters.on_target_port(s))
            .cloned()
            .collect()
    } else {
        Vec::new()
    };
    let mut shown: Vec<Socket> = table
        .sockets
        .into_iter()
        .filter(|s| filters.socket(s))
        .collect();

    let mut owners = if !find_owners {
        Owners::default()
    } else {
        let wanted: HashSet<u64> = shown
            .iter()
            .chain(&related)
            .map(|s| s.inode)
            .filter(|&i| i != 0)
            .collect();
        backend.owners(&wanted)?
    };
    shown.retain(|s| filters.pids(join::holder_pids(s, &owners)));

    // Details only for the processes that can still be shown.
    let mut pids: Vec<u32> = shown
        .iter()
        .chain(&related)
        .flat_map(|s| join::holder_pids(s, &owners).iter().copied())
        .collect();
    pids.sort_unstable();
    pids.dedup();
    let details = match detail(config, explain) {
        Some(detail) => backend.processes(&pids, detail),
        None => backend::ProcessDetails::default(),
    };
    let users = user_names(backend, shown.iter().chain(&related));
    let host = backend.host();
    let interfaces = backend.interfaces();
    let labeller = Labeller {
        interfaces: &interfaces,
        services: (!config.numeric).then_some(services),
        ephemeral: host.ephemeral.clone(),
        users: &users,
        findings: config.format == Format::Json || matches!(config.mode, Mode::Audit { .. }),
    };
    let vanished_details = details.vanished;
    let details: hash::IntMap<u32, std::sync::Arc<model::Process>> = details
        .processes
        .into_iter()
        .map(|(pid, p)| (pid, std::sync::Arc::new(p)))
        .collect();
    let someone_hidden = owners.stats.someone_hidden();
    // No holder is visible while some processes could not be read: the owner may be hidden.
    let hidden = |s: &Socket, pids: &[u32]| {
        someone_hidden && s.inode != 0 && pids.iter().all(|pid| !details.contains_key(pid))
    };
    let label = |s: &Socket, pids: &[u32]| {
        labeller.entry(s.clone(), join::holders(pids, &details), hidden(s, pids))
    };
    if !filters.commands.is_empty() || !filters.uids.is_empty() {
        shown.retain(|s| filters.entry(&label(s, join::holder_pids(s, &owners))));
    }
    join::sort(&mut shown);
    let related: Vec<Entry> = related
        .iter()
        .map(|s| label(s, join::holder_pids(s, &owners)))
        .collect();
    let holders = join::HolderList::new(&shown, &owners);
    // The rows read their holders from the list: the map of every socket on the host goes.
    owners.by_inode = Default::default();
    let row = |i: usize| label(&shown[i], holders.of(i));
    let code = match &config.mode {
        Mode::Audit { fail_on } => {
            let entries: Vec<Entry> = (0..shown.len()).map(row).collect();
            audit(config, &entries, *fail_on, out)
        }
        Mode::Diff { name, baseline } => {
            let entries: Vec<Entry> = (0..shown.len()).map(row).collect();
            changes(config, &entries, name, baseline, out)
        }
        // The actions returned above. A listing makes each row as it writes it.
        _ => {
            let rows = render::Lazy {
                sockets: &shown,
                make: &row,
            };
            list(config, &rows, &related, &host, out)
        }
    }
    .map_err(Error::Output)?;
    out.flush().map_err(Error::Output)?;

    if config.format != Format::Quiet {
        let hidden = (0..shown.len())
            .filter(|&i| hidden(&shown[i], holders.of(i)))
            .count();
        if hidden > 0 {
            note(
                err,
                &hidden_note(hidden, &owners.stats, backend.privileged()),
            );
        }
        if config.verbose {
            note(err, &scan_note(&owners, vanished_details));
        }
        if code == ExitCode::NoMatch && !explain && config.format == Format::Table {
            note(err, "no socket matches");
        }
    }
    Ok(code)
}

/// How much to read about the shown processes: nothing for a quiet listing that filters
/// on neither name nor user; names and users for the plain table; the command line for
/// `--command`; everything for cards, JSON, the audit and the diff.
fn detail(config: &Config, explain: bool) -> Option<Detail> {
    let filters = &config.filters;
    let by_process = !filters.commands.is_empty() || !filters.uids.is_empty();
    if config.format == Format::Quiet && config.mode == Mode::List && !by_process {
        return None;
    }
    Some(
        if explain || config.format == Format::Json || config.mode != Mode::List {
            Detail::Full
        } else if filters.commands.is_empty() {
            Detail::Names
        } else {
            Detail::Brief
        },
    )
}

/// The names of the sockets' owners, one shared string per uid.
fn user_names<'a>(
    backend: &dyn Backend,
    sockets: impl Iterator<Item = &'a Socket>,
) -> HashMap<u32, std::sync::Arc<str>> {
    let mut users = HashMap::new();
    for s in sockets {
        if let std::collections::hash_map::Entry::Vacant(slot) = users.entry(s.uid)
            && let Some(name) = backend.user_name(s.uid)
        {
            slot.insert(std::sync::Arc::<str>::from(name));
        }
    }
    users
}

/// The listing: a table or JSON, and for `portwho :PORT` on a terminal, the explanation.
fn list(
    config: &Config,
    rows: &render::Lazy,
    related: &[Entry],
    host: &model::Host,
    out: &mut dyn Write,
) -> std::io::Result<ExitCode> {
    match config.format {
        Format::Quiet => {}
        Format::Json => render::json::Json.rows(rows, out)?,
        Format::Table => {
            render::table::Table {
                color: config.color,
                width: config.width,
                numeric: config.numeric,
                owners: config.owners,
            }
            .rows(rows, out)?;
            if !config.filters.targets.is_empty() {
                // A few sockets on the asked ports: the cards want them all at once.
                let entries: Vec<Entry> = (0..rows.sockets.len()).map(rows.make).collect();
                explain_targets(config, &entries, related, host, out)?;
            }
        }
    }
    Ok(if rows.sockets.is_empty() {
        ExitCode::NoMatch
    } else {
        ExitCode::Matched
    })
}

/// `--audit`: the listeners with findings; status 3 when one reaches `fail_on`.
fn audit(
    config: &Config,
    entries: &[Entry],
    fail_on: Severity,
    out: &mut dyn Write,
) -> std::io::Result<ExitCode> {
    let flagged: Vec<Entry> = entries
        .iter()
        .filter(|e| !e.findings.is_empty())
        .cloned()
        .collect();
    match config.format {
        Format::Quiet => {}
        Format::Json => render::json::Json.render(&flagged, out)?,
        Format::Table => render::audit::findings(&flagged, entries.len(), fail_on, out)?,
    }
    let failing = flagged
        .iter()
        .flat_map(|e| &e.findings)
        .any(|f| f.severity >= fail_on);
    Ok(if failing {
        ExitCode::Findings
    } else {
        ExitCode::Matched
    })
}

/// `--diff`: what is new, gone or held by another program since the baseline.
fn changes(
    config: &Config,
    entries: &[Entry],
    name: &str,
    baseline: &[diff::Listener],
    out: &mut dyn Write,
) -> std::io::Result<ExitCode> {
    let changes = diff::diff(baseline, entries);
    match config.format {
        Format::Quiet => {}
        Format::Json => render::json::changes(&changes, out)?,
        Format::Table => render::audit::changes(&changes, name, out)?,
    }
    Ok(if changes.is_empty() {
        ExitCode::Matched
    } else {
        ExitCode::Changed
    })
}

/// The owner cards and the diagnosis that follow the table of `portwho :PORT`.
fn explain_targets(
    config: &Config,
    entries: &[Entry],
    related: &[Entry],
    host: &model::Host,
    out: &mut dyn Write,
) -> std::io::Result<()> {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    render::card::Cards {
        now,
        width: config.width,
        color: config.color,
        targets: config.target_args.clone(),
    }
    .render(entries, out)?;
    let mut lines: Vec<String> = Vec::new();
    for target in &config.filters.targets {
        let on_port: Vec<Entry> = related
            .iter()
            .filter(|e| target.matches_port(&e.socket))
            .cloned()
            .collect();
        for line in diagnose::diagnose(target, &on_port, host) {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    if !lines.is_empty() && !entries.is_empty() {
        writeln!(out)?;
    }
    for line in lines {
        writeln!(out, "* {line}")?;
    }
    Ok(())
}

fn note(err: &mut dyn Write, text: &str) {
    // Notes name paths (`--proc-root`): escaped like everything else a terminal shows.
    // stderr going away is no reason to fail the answer already on stdout.
    let _ = writeln!(err, "portwho: {}", render::escape::escape(text));
}

fn hidden_note(sockets: usize, stats: &ScanStats, privileged: bool) -> String {
    let plural =
        |n: usize, one: &str, many: &str| format!("{n} {}", if n == 1 { one } else { many });
    let hint = if privileged {
        "even root may not read every fd (a hardened kernel or another namespace)"
    } else {
        "run as root to see them: sudo portwho ..."
    };
    let why = match (stats.others_invisible, stats.denied) {
        (true, 0) => "/proc is mounted with hidepid=invisible, which hides other users' processes"
            .to_string(),
        (true, denied) => format!(
            "/proc is mounted with hidepid=invisible, which hides other users' processes, and {} could not be read (permission denied)",
            plural(denied, "process", "processes")
        ),
        (false, denied) => format!(
            "{} could not be read (permission denied)",
            plural(denied, "process", "processes")
        ),
    };
    format!(
        "owners of {} hidden: {why}; {hint}",
        plural(sockets, "socket", "sockets"),
    )
}

fn scan_note(owners: &Owners, vanished_details: usize) -> String {
    let stats = &owners.stats;
    if stats.kernel_iterator {
        return format!(
            "scanned the fds of every process with the kernel's task_file iterator (BPF): \
             {} hold sockets; {} exited before their details were read",
            stats.processes, vanished_details
        );
    }
    format!(
        "scanned the fds of {} processes; {} denied, {} exited during the scan{}{}",
        stats.processes,
        stats.denied,
        stats.vanished + vanished_details,
        if stats.others_invisible {
            "; other users' processes are not listed (hidepid=invisible)"
        } else {
            ""
        },
        match &owners.fallback {
            Some(why) => format!("; through /proc, not the kernel's iterator: {why}"),
            None => String::new(),
        }
    )
}
