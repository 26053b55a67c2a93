//! What portwho does besides listing: `--kill`, `--free`, `--wait-listen`, `--wait-free`.

pub mod free;
pub mod kill;
pub mod wait;

#[cfg(test)]
mod fake;

use std::io::{self, BufRead, Write};
use std::time::{Duration, Instant};

use crate::backend::{Backend, Detail};
use crate::config::{Config, Format, Mode};
use crate::error::Error;
use crate::exit::ExitCode;
use crate::model::{Process, Socket};
use crate::render::escape::escape;
use crate::target::Target;

/// How often the waits look again: often enough to feel immediate, rarely enough that one
/// filtered netlink dump per round costs nothing.
pub const POLL: Duration = Duration::from_millis(50);

/// Asks the user a yes/no question; tests answer with a script.
pub trait Prompt {
    fn confirm(&mut self, question: &str) -> io::Result<bool>;
}

/// The question on stderr (stdout stays for results), the answer from stdin.
pub struct TerminalPrompt;

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
pub trait Clock {
    fn now(&self) -> Instant;
    fn sleep(&self, duration: Duration);
}

pub struct SystemClock;

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
pub struct Guard {
    /// portwho itself.
    pub own: u32,
    /// What ran portwho: usually the user's shell, which holds a socket only by accident
    /// (an inherited fd) and whose death would end the session.
    pub parent: u32,
}

impl Guard {
    pub fn current() -> Guard {
        Guard {
            own: std::process::id(),
            parent: std::os::unix::process::parent_id(),
        }
    }
}

/// Everything an action needs from outside: the system, the user, the clock.
pub struct Context<'a> {
    pub backend: &'a dyn Backend,
    pub prompt: &'a mut dyn Prompt,
    pub clock: &'a dyn Clock,
    pub guard: Guard,
    pub out: &'a mut dyn Write,
    pub err: &'a mut dyn Write,
}

impl Context<'_> {
    /// A line on stderr; stderr going away is no reason to stop an action half done.
    fn note(&mut self, text: &str) {
        let _ = writeln!(self.err, "portwho: {text}");
    }

    /// A result line on stdout, flushed: stdout is buffered, and the next question or
    /// note on stderr must come after it.
    fn say(&mut self, text: &str) -> Result<(), Error> {
        writeln!(self.out, "{text}")
            .and_then(|()| self.out.flush())
            .map_err(Error::Output)
    }
}

/// Run the action `config.mode` names, on the real terminal and clock.
pub fn run(
    config: &Config,
    backend: &dyn Backend,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let mut cx = Context {
        backend,
        prompt: &mut TerminalPrompt,
        clock: &SystemClock,
        guard: Guard::current(),
        out,
        err,
    };
    run_with(config, &mut cx)
}

/// Run the action `config.mode` names in `cx`.
pub fn run_with(config: &Config, cx: &mut Context) -> Result<ExitCode, Error> {
    let quiet = config.format == Format::Quiet;
    let code = match &config.mode {
        Mode::List | Mode::Audit { .. } | Mode::Diff { .. } => {
            return Err(Error::Unsupported("no action to run".into()));
        }
        Mode::Kill(kill) => kill::run(&config.filters, kill, quiet, cx)?,
        Mode::Free { start, count } => free::run(*start, *count, config.format, cx)?,
        Mode::WaitListen { timeout } => wait::listen(&config.filters, *timeout, quiet, cx)?,
        Mode::WaitFree { timeout } => wait::free(&config.filters, *timeout, quiet, cx)?,
    };
    cx.out.flush().map_err(Error::Output)?;
    Ok(code)
}

/// Who holds these sockets: one owner scan, made only when it is worth telling.
pub fn visible_holders(sockets: &[Socket], backend: &dyn Backend) -> Result<Vec<Process>, Error> {
    let wanted: std::collections::HashSet<u64> = sockets
        .iter()
        .map(|s| s.inode)
        .filter(|&i| i != 0)
        .collect();
    if wanted.is_empty() {
        return Ok(Vec::new());
    }
    let owners = backend.owners(&wanted)?;
    let mut pids: Vec<u32> = owners.by_inode.values().flatten().copied().collect();
    pids.sort_unstable();
    pids.dedup();
    let mut details = backend.processes(&pids, Detail::Brief);
    let mut found: Vec<Process> = pids
        .iter()
        .filter_map(|pid| details.processes.remove(pid))
        .collect();
    for p in &mut found {
        if p.user.is_none() {
            p.user = p.uid.and_then(|uid| backend.user_name(uid));
        }
    }
    Ok(found)
}

/// `4242 python3 (alice)`, with the name escaped: a process can call itself anything.
pub fn describe(p: &Process) -> String {
    let name = if p.name.is_empty() { "?" } else { &p.name };
    let mut text = format!("{} {}", p.pid, escape(name));
    match (&p.user, p.uid) {
        (Some(user), _) => text.push_str(&format!(" ({})", escape(user))),
        (None, Some(uid)) => text.push_str(&format!(" (uid {uid})")),
        (None, None) => {}
    }
    text
}

/// A target as the user would type it: `:8080`, `127.0.0.1:8000-8100/tcp`.
pub fn target_text(t: &Target) -> String {
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
pub fn targets_text(targets: &[Target]) -> String {
    targets
        .iter()
        .map(target_text)
        .collect::<Vec<_>>()
        .join(", ")
}

/// `tcp 127.0.0.1:5432 LISTEN`.
pub fn socket_text(s: &Socket) -> String {
    format!(
        "{} {} {}",
        s.proto.as_str(),
        crate::render::format_addr(s.local),
        s.state.as_str()
    )
}

/// `5s`, `0.5s`.
pub fn seconds(d: Duration) -> String {
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
        assert_eq!(describe(&p), "4242 evil\\x1b[2J");
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
