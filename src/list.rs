//! The listing, `--audit` and `--diff`: one snapshot labelled, filtered, sorted, printed.

use std::collections::HashMap;
use std::io::Write;
use std::sync::{Mutex, PoisonError};

use crate::backend::Backend;
use crate::config::{Config, Format, Mode};
use crate::diff;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::filter::Filters;
use crate::firewall::{self, Firewalls};
use crate::forward;
use crate::gather::Rulesets;
use crate::gather::{Request, Snapshot};
use crate::join;
use crate::label::{Judging, Labeller, services::ServiceTable};
use crate::messages::{self, Messages};
use crate::model::Severity;
use crate::model::{Entry, Firewall, Host, PortForward, RuleForward, Socket};
use crate::render::{self, Render};

/// Read, label and print what the configuration selects.
pub(crate) fn run(
    config: &Config,
    backend: &dyn Backend,
    services: &ServiceTable,
    printer: &dyn Render,
    out: &mut dyn Write,
    messages: &mut Messages,
) -> Result<ExitCode, Error> {
    let filters = &config.filters;
    // `portwho :PORT` for a person explains the port, which takes every socket on it, on
    // any address and in any state: a listener on 0.0.0.0 blocks 127.0.0.1 too.
    let explain = config.mode == Mode::List && !filters.targets.is_empty() && printer.explains();
    let listing = Listing {
        config,
        backend,
        services,
        printer,
        explain,
        // Where a published port goes is shown in JSON, in the cards and by --forwards.
        joins: config.owners
            && (matches!(config.format, Format::Json | Format::Jsonl)
                || explain
                || config.mode == Mode::Forwards),
        // The firewall's verdicts are shown in JSON, the audit and the cards, and weigh the
        // findings that --prometheus counts as they weigh the audit's.
        firewall: matches!(
            config.format,
            Format::Json | Format::Jsonl | Format::Prometheus
        ) || explain
            || matches!(config.mode, Mode::Audit { .. } | Mode::Forwards),
    };
    let mut snapshot = listing.read()?;
    messages.warnings(&snapshot.warnings);
    let (shown, related) = split(&mut snapshot, filters, listing.explain);
    listing.present(snapshot, shown, &related, out, messages)
}

/// One listing, `--audit` or `--diff`, and what decides how it is read and shown.
struct Listing<'a> {
    config: &'a Config,
    backend: &'a dyn Backend,
    services: &'a ServiceTable,
    printer: &'a dyn Render,
    explain: bool,
    joins: bool,
    firewall: bool,
}

impl<'a> Listing<'a> {
    /// The one snapshot this listing needs.
    fn read(&self) -> Result<Snapshot, Error> {
        let (config, filters) = (self.config, &self.config.filters);
        // A quiet listing without owner filters answers from the socket table alone: no
        // /proc scan. An audit or a diff judges the owners, quiet or not.
        let bare = config.format == Format::Quiet && config.mode == Mode::List;
        let related = |s: &Socket| self.explain && filters.on_target_port(s);
        let request = Request {
            query: filters.query(),
            keep: &|s| filters.socket(s) || related(s),
            held: &|s, pids| filters.pids(pids) || related(s),
            owners: config.owners && (!bare || filters.needs_owners()),
            detail: config.detail(self.explain),
            netns: &config.netns,
            joins: self.joins,
            elsewhere: self.explain,
            firewall: self.firewall,
        };
        Snapshot::read(self.backend, &request)
    }

    /// Label, filter, sort and print; then the notes for stderr.
    fn present(
        &self,
        mut snapshot: Snapshot,
        mut shown: Vec<Socket>,
        related: &[Socket],
        out: &mut dyn Write,
        messages: &mut Messages,
    ) -> Result<ExitCode, Error> {
        let (config, filters) = (self.config, &self.config.filters);
        let host = self.backend.host();
        let interfaces = self.backend.interfaces();
        let labeller = self.labeller(&interfaces, &host, &snapshot.users);
        if !filters.commands.is_empty() || !filters.uids.is_empty() {
            let entry =
                |s: &Socket| label(&labeller, &snapshot, None, None, s, snapshot.holders(s));
            shown.retain(|s| filters.entry(&entry(s)));
        }
        join::sort(&mut shown);
        // The listeners on both sides of the namespaces' borders, each with its holders.
        let mut listeners = Vec::new();
        if self.joins {
            for s in shown.iter().chain(&snapshot.behind) {
                if s.state.is_listening() {
                    listeners.push((s, snapshot.processes_of(snapshot.holders(s))));
                }
            }
        }
        let view = self.joins.then_some(forward::View {
            containers: &snapshot.containers,
            places: &snapshot.places,
            listeners,
        });
        let verdicts = self.firewall.then(|| Verdicts::new(&snapshot.rulesets));
        let entries = |sockets: &[Socket]| -> Vec<Entry> {
            let entry = |s| {
                label(
                    &labeller,
                    &snapshot,
                    view.as_ref(),
                    verdicts.as_ref(),
                    s,
                    snapshot.holders(s),
                )
            };
            sockets.iter().map(entry).collect()
        };
        let around = Around {
            related: entries(related),
            elsewhere: entries(&snapshot.elsewhere),
            forwards: joined_forwards(view.as_ref(), &snapshot.rule_forwards),
            host: &host,
        };
        let holders = join::HolderList::new(&shown, &snapshot.owners);
        // The rows read their holders from the list: the map of every socket on the host
        // goes.
        snapshot.owners.by_inode = Default::default();
        let row = |i: usize| {
            label(
                &labeller,
                &snapshot,
                view.as_ref(),
                verdicts.as_ref(),
                &shown[i],
                holders.of(i),
            )
        };
        let code = self.print(&shown, &row, &around, out)?;
        if config.format != Format::Quiet {
            let hidden = (0..shown.len())
                .filter(|&i| snapshot.hidden(&shown[i], holders.of(i)))
                .count();
            notes(messages, &snapshot, hidden, self.backend.privileged());
            if code == ExitCode::NoMatch && !self.explain && self.printer.explains() {
                messages.note("no socket matches");
            }
        }
        Ok(code)
    }

    /// What labels each row: findings only where they are shown (JSON, the audit, metrics).
    fn labeller<'l>(
        &self,
        interfaces: &'l [(std::net::IpAddr, String)],
        host: &Host,
        users: &'l HashMap<u32, std::sync::Arc<str>>,
    ) -> Labeller<'l>
    where
        'a: 'l,
    {
        let config = self.config;
        Labeller {
            interfaces,
            services: (!config.numeric).then_some(self.services),
            ephemeral: host.ephemeral.clone(),
            users,
            findings: if matches!(config.format, Format::Json | Format::Jsonl)
                || matches!(config.mode, Mode::Audit { .. })
            {
                Judging::Worded
            } else if config.format == Format::Prometheus {
                Judging::Counted
            } else {
                Judging::Not
            },
        }
    }

    /// The answer on stdout, as the mode asks.
    fn print(
        &self,
        shown: &[Socket],
        row: &(dyn Fn(usize) -> Entry + Sync),
        around: &Around,
        out: &mut dyn Write,
    ) -> Result<ExitCode, Error> {
        let printer = self.printer;
        let code = match &self.config.mode {
            Mode::Audit { fail_on } => {
                let entries: Vec<Entry> = (0..shown.len()).map(row).collect();
                audit(printer, &entries, *fail_on, out)?
            }
            Mode::Diff { path } => {
                let entries: Vec<Entry> = (0..shown.len()).map(row).collect();
                changes(printer, &entries, path, out)?
            }
            Mode::Forwards => {
                let entries: Vec<Entry> = (0..shown.len()).map(row).collect();
                let found = port_forwards(&entries, &around.forwards, &self.config.filters);
                printer.forwards(&found, out).map_err(Error::Output)?;
                if found.is_empty() {
                    ExitCode::NoMatch
                } else {
                    ExitCode::Matched
                }
            }
            _ => {
                let rows = render::Lazy {
                    sockets: shown,
                    make: row,
                    split: &crate::parts::TwoThreads,
                };
                list(printer, &rows, &self.config.filters, around, out)?
            }
        };
        out.flush().map_err(Error::Output)?;
        Ok(code)
    }
}

/// The sockets to show, and those on the asked ports that explain them (only when the
/// port is explained): the one list read, taken apart without a copy when it can be.
fn split(snapshot: &mut Snapshot, filters: &Filters, explain: bool) -> (Vec<Socket>, Vec<Socket>) {
    if !explain {
        return (std::mem::take(&mut snapshot.sockets), Vec::new());
    }
    let shown = snapshot
        .sockets
        .iter()
        .filter(|s| filters.socket(s) && filters.pids(snapshot.holders(s)))
        .cloned()
        .collect();
    let related = snapshot
        .sockets
        .iter()
        .filter(|s| filters.on_target_port(s))
        .cloned()
        .collect();
    (shown, related)
}

/// What stderr says after the answer: hidden owners, and with `-v` how they were found.
fn notes(messages: &mut Messages, snapshot: &Snapshot, hidden: usize, privileged: bool) {
    if hidden > 0 {
        let stats = &snapshot.owners.stats;
        messages.note(&messages::hidden_owners(hidden, stats, privileged));
    }
    if messages.verbose() {
        let summary = messages::scan_summary(&snapshot.owners, snapshot.vanished_details);
        messages.note(&summary);
    }
}

/// A socket joined with the details of its holders, and labelled.
fn label(
    labeller: &Labeller,
    snapshot: &Snapshot,
    view: Option<&forward::View>,
    verdicts: Option<&Verdicts>,
    socket: &Socket,
    pids: &[u32],
) -> Entry {
    let mut entry = labeller.entry(
        socket.clone(),
        snapshot.processes_of(pids),
        snapshot.hidden(socket, pids),
    );
    entry.place = snapshot.place(socket).cloned();
    if let Some(view) = view {
        entry.forward = view.forward(socket, &entry.processes);
        entry.published = view.published(socket, entry.place.as_ref());
    }
    // A listener bound to loopback is out of other hosts' reach whatever the firewall says.
    if let Some(verdicts) = verdicts
        && firewall::applies(socket)
    {
        entry.firewall = verdicts.of(socket);
        crate::label::findings::weigh_firewall(&mut entry);
    }
    entry
}

/// The firewall's verdicts for the sockets of every namespace whose ruleset was read,
/// each ruleset compiled once and each verdict reached once however many sockets share it.
struct Verdicts<'r> {
    rulesets: &'r Rulesets,
    compiled: Mutex<HashMap<u64, Firewalls<'r>>>,
}

impl<'r> Verdicts<'r> {
    fn new(rulesets: &'r Rulesets) -> Verdicts<'r> {
        let compiled = rulesets
            .iter()
            .filter_map(|(netns, read)| Some((*netns, Firewalls::new(read.as_ref().ok()?))))
            .collect();
        Verdicts {
            rulesets,
            compiled: Mutex::new(compiled),
        }
    }

    /// `None` when the socket's namespace had no ruleset read.
    fn of(&self, socket: &Socket) -> Option<Firewall> {
        match self.rulesets.get(&socket.netns)? {
            Ok(_) => Some(
                self.compiled
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .get_mut(&socket.netns)?
                    .verdict(socket),
            ),
            Err(why) => Some(firewall::unreadable(why)),
        }
    }
}

/// The listing, and for `portwho :PORT` read by a person, the explanation.
fn list(
    printer: &dyn Render,
    rows: &render::Lazy,
    filters: &Filters,
    around: &Around,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    printer.rows(rows, out).map_err(Error::Output)?;
    if printer.explains() && !filters.targets.is_empty() {
        // A few sockets on the asked ports: the cards want them all at once.
        let entries: Vec<Entry> = (0..rows.sockets.len()).map(rows.make).collect();
        let lines = diagnosis(filters, around);
        printer
            .explanation(&entries, &lines, out)
            .map_err(Error::Output)?;
    }
    Ok(if rows.sockets.is_empty() {
        ExitCode::NoMatch
    } else {
        ExitCode::Matched
    })
}

/// What explains the asked ports besides the rows: every socket on them here, those
/// other namespaces hold when this one holds none, and the host's port settings.
struct Around<'a> {
    related: Vec<Entry>,
    elsewhere: Vec<Entry>,
    /// The firewall's forwards, joined to where they go.
    forwards: Vec<PortForward>,
    host: &'a Host,
}

/// The firewall's forwards, joined to where they go (without a join: none shown).
fn joined_forwards(view: Option<&forward::View>, rules: &[(u64, RuleForward)]) -> Vec<PortForward> {
    match view {
        Some(view) => rules
            .iter()
            .map(|(netns, rule)| view.rule_forward(*netns, rule))
            .collect(),
        None => Vec::new(),
    }
}

/// `--forwards`: the docker-proxies among the listeners, and the firewall's rules, on the
/// targets' host ports (all without a target).
fn port_forwards(entries: &[Entry], rules: &[PortForward], filters: &Filters) -> Vec<PortForward> {
    let proxies = entries.iter().filter_map(|e| {
        let forward = e.forward.clone()?;
        let ip = e.socket.local.ip();
        Some(PortForward {
            host_addr: (!ip.is_unspecified()).then_some(ip),
            host_port: e.socket.local.port(),
            forward,
            rule: None,
            netns: e.socket.netns,
        })
    });
    let wanted = |f: &PortForward| {
        filters.targets.is_empty()
            || filters.targets.iter().any(|t| {
                t.ports.contains(&f.host_port)
                    && t.proto.is_none_or(|p| p == f.forward.proto)
                    && t.addr.is_none_or(|a| f.host_addr.is_none_or(|h| h == a))
            })
    };
    let mut found: Vec<PortForward> = rules
        .iter()
        .cloned()
        .chain(proxies)
        .filter(wanted)
        .collect();
    found.sort_by_key(|f| (f.host_port, f.forward.proto, f.forward.via));
    found
}

/// The diagnosis of each asked port, each line once.
fn diagnosis(filters: &Filters, around: &Around) -> Vec<String> {
    let on_port = |entries: &[Entry], target: &crate::target::Target| -> Vec<Entry> {
        entries
            .iter()
            .filter(|e| target.matches_port(&e.socket))
            .cloned()
            .collect()
    };
    let mut lines: Vec<String> = Vec::new();
    for target in &filters.targets {
        let here = on_port(&around.related, target);
        let elsewhere = on_port(&around.elsewhere, target);
        let facts = crate::diagnose::Facts {
            related: &here,
            elsewhere: &elsewhere,
            forwards: &around.forwards,
            host: around.host,
        };
        for line in crate::diagnose::diagnose(target, &facts) {
            if !lines.contains(&line) {
                lines.push(line);
            }
        }
    }
    lines
}

/// `--audit`: the listeners with findings; status 3 when one reaches `fail_on`.
fn audit(
    printer: &dyn Render,
    entries: &[Entry],
    fail_on: Severity,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let flagged: Vec<Entry> = entries
        .iter()
        .filter(|e| !e.findings.is_empty())
        .cloned()
        .collect();
    printer
        .findings(&flagged, entries.len(), fail_on, out)
        .map_err(Error::Output)?;
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

/// `--diff`: what is new, gone or held by another program since the baseline in `path`.
fn changes(
    printer: &dyn Render,
    entries: &[Entry],
    path: &std::path::Path,
    out: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let baseline_error = |reason: String| Error::Baseline {
        path: path.to_path_buf(),
        reason,
    };
    let text = std::fs::read_to_string(path).map_err(|e| baseline_error(e.to_string()))?;
    let baseline = diff::parse_baseline(&text).map_err(baseline_error)?;
    let changes = diff::diff(&baseline, entries);
    printer
        .changes(&changes, &path.display().to_string(), out)
        .map_err(Error::Output)?;
    Ok(if changes.is_empty() {
        ExitCode::Matched
    } else {
        ExitCode::Changed
    })
}
