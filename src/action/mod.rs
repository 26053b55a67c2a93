//! What portwho does besides listing: `--kill`, `--free`, `--wait-listen`, `--wait-free`.

pub(crate) mod free;
pub(crate) mod kill;
pub(crate) mod wait;

#[cfg(test)]
mod testing;

use std::io::{self, BufRead, Write};
use std::ops::ControlFlow;
use std::time::{Duration, Instant};

use crate::backend::Backend;
use crate::error::Error;
use crate::gather::{Request, Snapshot};
use crate::messages::Messages;
use crate::model::{Detail, Process, Socket, SocketQuery};
use crate::target::Target;

/// How often the waits look again: often enough to feel immediate, rarely enough that one
/// filtered netlink dump per round costs nothing.
pub(crate) const POLL: Duration = Duration::from_millis(50);

/// Asks the user a yes/no question; tests answer with a script.
pub(crate) trait Prompt {
    fn confirm(&mut self, question: &str) -> io::Result<bool>;
}

/// The question on stderr (stdout stays for results), the answer from stdin.
pub(crate) struct TerminalPrompt;

impl Prompt for TerminalPrompt {
    fn confirm(&mut self, question: &str) -> io::Result<bool> {
        let mut err = io::stderr().lock();
        write!(err, "{question} [y/N] ")?;
        err.flush()?;
        let mut answer = String::new();
        // End of input is a "no": nobody said yes.
        io::stdin().lock().read_line(&mut answer)?;
        Ok(matches!(
            answer.trim().to_ascii_lowercase().as_str(),
            "y" | "yes"
        ))
    }
}

/// Time, so the waits can be tested without waiting.
pub(crate) trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

pub(crate) struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> Instant {
        Instant::now()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// Processes `--kill` never signals, whatever they hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Guard {
    /// portwho itself.
    pub own: u32,
    /// What ran portwho: usually the user's shell, which holds a socket only by accident
    /// (an inherited fd) and whose death would end the session.
    pub parent: u32,
}

impl Guard {
    pub(crate) fn current() -> Guard {
        Guard {
            own: std::process::id(),
            parent: crate::backend::parent_pid(),
        }
    }
}

/// Everything an action needs from outside: the system, the user, the clock.
pub(crate) struct Context<'a, 'm> {
    pub backend: &'a dyn Backend,
    pub prompt: &'a mut dyn Prompt,
    pub clock: &'a dyn Clock,
    pub guard: Guard,
    pub out: &'a mut dyn Write,
    pub messages: &'a mut Messages<'m>,
}

impl Context<'_, '_> {
    /// A line on stderr, through the one writer of them.
    fn note(&mut self, text: &str) {
        self.messages.note(text);
    }

    /// A result line on stdout, flushed: stdout is buffered, and the next question or
    /// note on stderr must come after it.
    fn say(&mut self, text: &str) -> Result<(), Error> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .map_err(Error::Output)
    }

    /// The socket table alone, as a query returns it; its warnings said once.
    fn sockets(&mut self, query: SocketQuery) -> Result<Vec<Socket>, Error> {
        let snapshot = Snapshot::read(self.backend, &Request::sockets(query))?;
        self.messages.warnings(&snapshot.warnings);
        Ok(snapshot.sockets)
    }

    /// Look until `look` breaks or the timeout passes; at least once, even with no time.
    /// `look` is told whether the time is up; what it last continued with is returned then.
    fn poll<T>(
        &mut self,
        timeout: Duration,
        mut look: impl FnMut(&mut Self, bool) -> Result<ControlFlow<T, T>, Error>,
    ) -> Result<T, Error> {
        let deadline = self.clock.now() + timeout;
        loop {
            let late = self.clock.now() >= deadline;
            match look(self, late)? {
                ControlFlow::Break(done) => return Ok(done),
                ControlFlow::Continue(last) if late => return Ok(last),
                ControlFlow::Continue(_) => {}
            }
            let left = deadline.saturating_duration_since(self.clock.now());
            self.clock.sleep(left.min(POLL));
        }
    }
}

/// Who holds these sockets: one owner scan, made only when it is worth telling.
pub(crate) fn visible_holders(
    sockets: &[Socket],
    backend: &dyn Backend,
) -> Result<Vec<Process>, Error> {
    if sockets.iter().all(|s| s.inode == 0) {
        return Ok(Vec::new());
    }
    let request = Request {
        owners: true,
        detail: Some(Detail::Brief),
        ..Request::sockets(SocketQuery::default())
    };
    let snapshot = Snapshot::of(backend, sockets.to_vec(), &request)?;
    let mut found: Vec<Process> = snapshot
        .processes
        .values()
        .map(|p| Process::clone(p))
        .collect();
    found.sort_unstable_by_key(|p| p.pid);
    Ok(found)
}

/// `4242 python3 (alice)`. Not escaped: the line it ends up in is, as a whole.
pub(crate) fn describe(p: &Process) -> String {
    let name = if p.name.is_empty() { "?" } else { &p.name };
    let mut text = format!("{} {name}", p.pid);
    match (&p.user, p.uid) {
        (Some(user), _) => text.push_str(&format!(" ({user})")),
        (None, Some(uid)) => text.push_str(&format!(" (uid {uid})")),
        (None, None) => {}
    }
    text
}

/// A target as the user would type it: `:8080`, `127.0.0.1:8000-8100/tcp`.
pub(crate) fn target_text(t: &Target) -> String {
    let addr = match t.addr {
        Some(std::net::IpAddr::V6(ip)) => format!("[{ip}]"),
        Some(ip) => ip.to_string(),
        None => String::new(),
    };
    let ports = if t.ports.start() == t.ports.end() {
        t.ports.start().to_string()
    } else {
        format!("{}-{}", t.ports.start(), t.ports.end())
    };
    let proto = t
        .proto
        .map_or(String::new(), |p| format!("/{}", p.as_str()));
    format!("{addr}:{ports}{proto}")
}

/// The targets, comma-separated.
pub(crate) fn targets_text(targets: &[Target]) -> String {
    targets
        .iter()
        .map(target_text)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `tcp 127.0.0.1:5432 LISTEN`.
pub(crate) fn socket_text(s: &Socket) -> String {
    format!("{} {} {}", s.proto.as_str(), s.local, s.state.as_str())
}

/// `5s`, `0.5s`.
pub(crate) fn seconds(d: Duration) -> String {
    format!("{}s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::Proto;

    #[test]
    fn descriptions_escape_names() {
        let mut p = Process {
            pid: 4242,
            name: "python3".into(),
            cmdline: vec![],
            user: Some("alice".into()),
            uid: Some(1000),
            ..Process::default()
        };
        assert_eq!(describe(&p), "4242 python3 (alice)");
        p.user = None;
        assert_eq!(describe(&p), "4242 python3 (uid 1000)");
        p.uid = None;
        p.name = "evil\x1b[2J".into();
        // Raw here: the note or question it goes into is escaped whole (messages.rs).
        assert_eq!(describe(&p), "4242 evil\x1b[2J");
    }

    #[test]
    fn targets_as_typed() {
        let t = |addr: Option<&str>, ports, proto| Target {
            addr: addr.map(|a| a.parse().unwrap()),
            ports,
            proto,
        };
        assert_eq!(target_text(&t(None, 8080..=8080, None)), ":8080");
        assert_eq!(
            target_text(&t(Some("::1"), 80..=90, Some(Proto::Tcp))),
            "[::1]:80-90/tcp"
        );
        assert_eq!(
            targets_text(&[
                t(Some("127.0.0.1"), 53..=53, Some(Proto::Udp)),
                t(None, 1..=1, None)
            ]),
            "127.0.0.1:53/udp, :1"
        );
        assert_eq!(seconds(Duration::from_millis(300)), "0.3s");
        assert_eq!(seconds(Duration::from_secs(5)), "5s");
    }
}
