//! `--watch`: look again every interval and print the sockets that opened and closed.
//!
//! Each look is one `Snapshot::read` of the socket tables alone (a netlink dump). Only a
//! socket not seen before costs more: its holders are found and their details read (one
//! `Snapshot::of` for all of a look's new sockets), and the row made then is kept, to be
//! printed again when the socket closes. A quiet host costs one dump per interval.

use std::collections::HashMap;
use std::io::Write;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime};

use crate::backend::Backend;
use crate::config::Config;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::gather::{Request, Snapshot};
use crate::label::{Labeller, services::ServiceTable};
use crate::messages::{self, Messages};
use crate::model::{Entry, Place, Proto, Socket};
use crate::render::Render;
use crate::render::events::{Event, Kind};
use crate::text::plural;

/// Watch until SIGINT or SIGTERM, printing each look's changes through `printer`.
pub(crate) fn run(
    config: &Config,
    backend: &dyn Backend,
    services: &ServiceTable,
    printer: &dyn Render,
    interval: Duration,
    out: &mut dyn Write,
    messages: &mut Messages,
) -> Result<ExitCode, Error> {
    // Caught before the first look, so that a signal during it ends the watch cleanly too.
    let stop = Stop::catch()?;
    let mut watcher = Watcher::new(config, backend, services);
    let first = watcher.look(messages)?;
    // What ss -E and inotifywait do: the state at the start is not printed, only what
    // changes after it; stderr says that the watch is set up, and on how much.
    messages.note(&format!(
        "watching {} every {}s; changes follow",
        plural(first.opened.len(), "socket", "sockets"),
        interval.as_secs_f64()
    ));
    let mut next = Instant::now() + interval;
    while !stop.wait_until(next) {
        // A fixed rate; a look that took longer than the interval is not caught up on.
        next = (next + interval).max(Instant::now());
        let time = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs());
        let changes = watcher.look(messages)?;
        let events: Vec<Event> = (changes.closed.iter().map(|e| (Kind::Close, e)))
            .chain(changes.opened.iter().map(|e| (Kind::Open, e)))
            .map(|(kind, entry)| Event { kind, time, entry })
            .collect();
        if !events.is_empty() {
            // Flushed at once: whoever reads the events wants them as they happen. A reader
            // gone (`| head`) ends the watch here, quietly (main).
            printer
                .events(&events, out)
                .and_then(|()| out.flush())
                .map_err(Error::Output)?;
        }
    }
    Ok(ExitCode::Matched)
}

/// A socket across looks: its inode in its namespace, so a server that restarts on the
/// same port is a close and an open. Sockets without an inode (TIME_WAIT) are told apart
/// by their ends.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct Key {
    netns: u64,
    inode: u64,
    ends: Option<(Proto, SocketAddr, Option<SocketAddr>)>,
}

impl Key {
    fn of(s: &Socket) -> Key {
        Key {
            netns: s.netns,
            inode: s.inode,
            ends: (s.inode == 0).then_some((s.proto, s.local, s.remote)),
        }
    }
}

/// A socket seen in the last look, with its row as it was first seen; `None` for one that
/// `--pid`, `--command` or `--user` leaves out, so it is not looked into again.
#[derive(Debug)]
struct Seen {
    look: u64,
    entry: Option<Entry>,
}

/// What one look found changed, each in the listing's order.
#[derive(Debug, Default)]
struct Changes {
    closed: Vec<Entry>,
    opened: Vec<Entry>,
}

/// The state kept between looks.
struct Watcher<'a> {
    config: &'a Config,
    backend: &'a dyn Backend,
    services: &'a ServiceTable,
    known: HashMap<Key, Seen>,
    looks: u64,
}

impl<'a> Watcher<'a> {
    fn new(config: &'a Config, backend: &'a dyn Backend, services: &'a ServiceTable) -> Self {
        Watcher {
            config,
            backend,
            services,
            known: HashMap::new(),
            looks: 0,
        }
    }

    /// One look: the socket tables, then the holders of the sockets not seen before.
    fn look(&mut self, messages: &mut Messages) -> Result<Changes, Error> {
        self.looks += 1;
        let filters = &self.config.filters;
        let request = Request {
            query: filters.query(),
            keep: &|s| filters.socket(s),
            held: &|_, _| true,
            owners: false,
            detail: None,
            netns: &self.config.netns,
            joins: false,
            elsewhere: false,
            firewall: false,
        };
        let snapshot = Snapshot::read(self.backend, &request)?;
        messages.warnings(&snapshot.warnings);
        let mut new = Vec::new();
        for socket in snapshot.sockets {
            match self.known.get_mut(&Key::of(&socket)) {
                Some(seen) => seen.look = self.looks,
                None => new.push(socket),
            }
        }
        let mut changes = Changes::default();
        if !new.is_empty() {
            let keys: Vec<Key> = new.iter().map(Key::of).collect();
            let mut rows: HashMap<Key, Entry> = self
                .rows(new, &snapshot.places, messages)?
                .into_iter()
                .map(|e| (Key::of(&e.socket), e))
                .collect();
            for key in keys {
                let entry = rows.remove(&key);
                changes.opened.extend(entry.clone());
                let look = self.looks;
                self.known.insert(key, Seen { look, entry });
            }
        }
        let looks = self.looks;
        self.known.retain(|_, seen| {
            if seen.look == looks {
                return true;
            }
            changes.closed.extend(seen.entry.take());
            false
        });
        for list in [&mut changes.closed, &mut changes.opened] {
            list.sort_by_key(|e| order(&e.socket));
        }
        Ok(changes)
    }

    /// The rows of new sockets: their holders (one owner walk), the holders' details, the
    /// labels; those the owner filters leave out are not returned.
    fn rows(
        &self,
        sockets: Vec<Socket>,
        places: &HashMap<u64, Arc<Place>>,
        messages: &mut Messages,
    ) -> Result<Vec<Entry>, Error> {
        let config = self.config;
        let filters = &config.filters;
        let request = Request {
            query: filters.query(),
            keep: &|_| true,
            held: &|_, pids| filters.pids(pids),
            owners: config.owners,
            detail: config.detail(false),
            netns: &config.netns,
            joins: false,
            elsewhere: false,
            firewall: false,
        };
        let snapshot = Snapshot::of(self.backend, sockets, &request)?;
        let interfaces = self.backend.interfaces();
        let labeller = Labeller {
            interfaces: &interfaces,
            services: (!config.numeric).then_some(self.services),
            ephemeral: self.backend.host().ephemeral,
            users: &snapshot.users,
            findings: match config.format {
                crate::config::Format::Jsonl => crate::label::Judging::Worded,
                _ => crate::label::Judging::Not,
            },
        };
        let by_process = !filters.commands.is_empty() || !filters.uids.is_empty();
        let mut rows = Vec::with_capacity(snapshot.sockets.len());
        for socket in &snapshot.sockets {
            let pids = snapshot.holders(socket);
            let hidden = snapshot.hidden(socket, pids);
            let mut entry = labeller.entry(socket.clone(), snapshot.processes_of(pids), hidden);
            entry.place = places.get(&socket.netns).cloned();
            if !by_process || filters.entry(&entry) {
                rows.push(entry);
            }
        }
        // Said once, the first time: every later look would say it again.
        let hidden = rows.iter().filter(|e| e.owners_hidden).count();
        if self.looks == 1 && hidden > 0 {
            let stats = &snapshot.owners.stats;
            messages.note(&messages::hidden_owners(
                hidden,
                stats,
                self.backend.privileged(),
            ));
        }
        Ok(rows)
    }
}

/// The listing's order: listeners first, then by port, protocol, address and inode.
fn order(s: &Socket) -> (bool, u16, Proto, SocketAddr, u64) {
    (
        !s.state.is_listening(),
        s.local.port(),
        s.proto,
        s.local,
        s.inode,
    )
}

/// How often a wait between looks checks for SIGINT and SIGTERM: soon enough to feel
/// immediate, and ten wake-ups a second cost nothing measurable.
const SIGNAL_CHECK: Duration = Duration::from_millis(100);

/// SIGINT and SIGTERM, caught: the watch ends after the look in progress, with status 0.
/// The handlers only set a flag (signal-hook's `flag`, which Windows has too).
struct Stop {
    caught: Arc<AtomicBool>,
}

impl Stop {
    fn catch() -> Result<Stop, Error> {
        use signal_hook::consts::{SIGINT, SIGTERM};
        let caught = Arc::new(AtomicBool::new(false));
        for signal in [SIGINT, SIGTERM] {
            signal_hook::flag::register(signal, Arc::clone(&caught)).map_err(Error::Signals)?;
        }
        Ok(Stop { caught })
    }

    /// Wait until `deadline`; whether a signal came first.
    fn wait_until(&self, deadline: Instant) -> bool {
        loop {
            if self.caught.load(Ordering::Relaxed) {
                return true;
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            std::thread::sleep(left.min(SIGNAL_CHECK));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::backend::fake::FakeBackend;
    use crate::config::Terminal;
    use crate::model::State;
    use crate::model::testing::tcp as socket;
    use clap::Parser;

    fn config(args: &[&str]) -> Config {
        let cli = crate::cli::Cli::try_parse_from(
            ["portwho", "--watch", "1"].iter().chain(args).copied(),
        )
        .unwrap();
        Config::from_cli(
            cli,
            &ServiceTable::builtin(),
            &|_| None,
            Terminal::default(),
        )
        .unwrap()
    }

    fn ports(entries: &[Entry]) -> Vec<u16> {
        entries.iter().map(|e| e.socket.local.port()).collect()
    }

    #[test]
    fn only_new_sockets_are_looked_into_and_a_restart_is_a_close_and_an_open() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[1, 2]);
        fake.add_socket(socket("127.0.0.1:8080", State::Listen, 1));
        fake.add_socket(socket("127.0.0.1:9090", State::Listen, 2));
        let config = config(&[]);
        let services = ServiceTable::builtin();
        let (mut err, mut out) = (Vec::new(), Vec::new());
        let mut messages = Messages::new(&mut err, false);
        let mut watcher = Watcher::new(&config, &fake, &services);
        let first = watcher.look(&mut messages).unwrap();
        assert_eq!(ports(&first.opened), [8080, 9090]);
        assert_eq!(fake.owner_scans(), 1);

        // Nothing new: the table alone, no owner walk.
        let quiet = watcher.look(&mut messages).unwrap();
        assert!(quiet.opened.is_empty() && quiet.closed.is_empty());
        assert_eq!(fake.owner_scans(), 1);
        assert_eq!(fake.socket_queries(), 2);

        // 9090 restarted (a new inode), 8080 closed, 5432 opened.
        fake.spawn(43, "postgres", &[3, 4]);
        fake.on_query(|n, sockets| {
            if n == 3 {
                sockets.retain(|s| s.inode > 2);
                sockets.push(socket("127.0.0.1:9090", State::Listen, 3));
                sockets.push(socket("127.0.0.1:5432", State::Listen, 4));
            }
        });
        let changed = watcher.look(&mut messages).unwrap();
        assert_eq!(ports(&changed.closed), [8080, 9090]);
        assert_eq!(ports(&changed.opened), [5432, 9090]);
        assert_eq!(changed.closed[0].processes[0].name, "python3");
        assert_eq!(changed.opened[0].processes[0].name, "postgres");
        assert_eq!(fake.owner_scans(), 2);

        let events: Vec<Event> = changed
            .closed
            .iter()
            .map(|entry| Event {
                kind: Kind::Close,
                time: 1_700_000_000,
                entry,
            })
            .collect();
        let printer = crate::render::printer(crate::render::Format::Jsonl, config.style(0));
        printer.events(&events, &mut out).unwrap();
        let text = String::from_utf8(out).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["event"], "close");
        assert_eq!(first["time"], "2023-11-14T22:13:20Z");
        assert_eq!(first["local_port"], 8080);
        assert_eq!(first["processes"][0]["pid"], 42);
        assert!(text.starts_with("{\"event\":\"close\",\"time\":"), "{text}");
    }

    #[test]
    fn sockets_the_owner_filters_leave_out_are_not_looked_into_again() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[1]);
        fake.spawn(43, "nginx", &[2]);
        fake.add_socket(socket("127.0.0.1:8080", State::Listen, 1));
        fake.add_socket(socket("127.0.0.1:80", State::Listen, 2));
        let config = config(&["-c", "nginx"]);
        let services = ServiceTable::builtin();
        let mut err = Vec::new();
        let mut messages = Messages::new(&mut err, false);
        let mut watcher = Watcher::new(&config, &fake, &services);
        assert_eq!(ports(&watcher.look(&mut messages).unwrap().opened), [80]);
        let again = watcher.look(&mut messages).unwrap();
        assert!(again.opened.is_empty() && again.closed.is_empty());
        assert_eq!(fake.owner_scans(), 1);
        fake.on_query(|n, sockets| {
            if n == 3 {
                sockets.retain(|s| s.inode != 1);
            }
        });
        let gone = watcher.look(&mut messages).unwrap();
        assert!(gone.closed.is_empty(), "8080 was never shown");
    }
}
