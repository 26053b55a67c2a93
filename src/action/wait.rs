//! `--wait-listen` and `--wait-free`: poll the targets, one filtered socket query per round.

use std::collections::BTreeSet;
use std::ops::ControlFlow;
use std::time::Duration;

use super::{Context, describe, seconds, socket_text, target_text, targets_text};
use crate::error::Error;
use crate::exit::ExitCode;
use crate::filter::Filters;
use crate::model::{Socket, State};
use crate::target::Target;

/// Wait until something listens on the targets; print what does.
pub(crate) fn listen(
    filters: &Filters,
    timeout: Duration,
    quiet: bool,
    cx: &mut Context,
) -> Result<ExitCode, Error> {
    let select = |s: &Socket| s.state.is_listening() && filters.socket(s);
    let (happened, found) = poll(filters, timeout, cx, select, |found| !found.is_empty())?;
    if !happened {
        cx.note(&format!(
            "nothing listens on {} after {}",
            targets_text(&filters.targets),
            seconds(timeout)
        ));
        return Ok(ExitCode::NoMatch);
    }
    if !quiet {
        let lines: BTreeSet<(u16, String)> = found
            .iter()
            .map(|s| {
                (
                    s.local.port(),
                    format!("listening: {} {}", s.proto.as_str(), s.local),
                )
            })
            .collect();
        for (_, line) in lines {
            cx.say(&line)?;
        }
    }
    Ok(ExitCode::Matched)
}

/// Wait until no socket but TIME_WAIT uses the targets. TIME_WAIT does not stop a server
/// from binding again (servers set SO_REUSEADDR), and it lasts a minute.
pub(crate) fn free(
    filters: &Filters,
    timeout: Duration,
    quiet: bool,
    cx: &mut Context,
) -> Result<ExitCode, Error> {
    let select = |s: &Socket| s.state != State::TimeWait && filters.socket(s);
    let (happened, found) = poll(filters, timeout, cx, select, <[Socket]>::is_empty)?;
    if happened {
        if !quiet {
            for t in &filters.targets {
                cx.say(&free_line(t))?;
            }
        }
        return Ok(ExitCode::Matched);
    }
    // Once, at the end: who is in the way.
    let holders = super::visible_holders(&found, cx.backend)?;
    let mut shown: Vec<String> = found.iter().take(3).map(socket_text).collect();
    if found.len() > 3 {
        shown.push(format!("{} more", found.len() - 3));
    }
    let by = if holders.is_empty() {
        String::new()
    } else {
        let names: Vec<String> = holders.iter().map(describe).collect();
        format!("; held by {}", names.join(", "))
    };
    cx.note(&format!(
        "{} still in use after {} ({}{by})",
        targets_text(&filters.targets),
        seconds(timeout),
        shown.join(", ")
    ));
    Ok(ExitCode::NoMatch)
}

/// Query until `done` says so or the timeout passes; at least once, even with no time.
/// Returns whether `done` said so, and the last selection. The kernel filters by port and
/// state; no /proc is read while waiting.
fn poll(
    filters: &Filters,
    timeout: Duration,
    cx: &mut Context,
    select: impl Fn(&Socket) -> bool,
    done: impl Fn(&[Socket]) -> bool,
) -> Result<(bool, Vec<Socket>), Error> {
    cx.poll(timeout, |cx, _| {
        let mut found = cx.sockets(filters.query())?;
        found.retain(|s| select(s));
        Ok(if done(&found) {
            ControlFlow::Break((true, found))
        } else {
            ControlFlow::Continue((false, found))
        })
    })
}

/// `port 8080 is free`, `ports 8000-8100 are free`, `127.0.0.1:8080/tcp is free`.
fn free_line(t: &Target) -> String {
    match (t.addr, t.proto) {
        (None, None) if t.ports.start() == t.ports.end() => {
            format!("port {} is free", t.ports.start())
        }
        (None, None) => format!("ports {}-{} are free", t.ports.start(), t.ports.end()),
        _ => format!("{} is free", target_text(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Guard;
    use crate::action::POLL;
    use crate::action::testing::run_with_fakes;
    use crate::backend::fake::FakeBackend;
    use crate::model::Proto;
    use crate::model::testing::tcp as socket;

    fn filters(port: u16, listening_only: bool) -> Filters {
        Filters {
            targets: vec![Target {
                addr: None,
                ports: port..=port,
                proto: None,
            }],
            listening_only,
            ..Filters::default()
        }
    }

    type Waiter = fn(&Filters, Duration, bool, &mut Context) -> Result<ExitCode, Error>;

    fn wait(
        fake: &FakeBackend,
        waiter: Waiter,
        filters: &Filters,
        timeout: Duration,
    ) -> (ExitCode, String, String, Duration) {
        let guard = Guard { own: 1, parent: 1 };
        let ran = run_with_fakes(fake, &[], guard, |cx| waiter(filters, timeout, false, cx));
        (ran.result.unwrap(), ran.out, ran.err, ran.slept)
    }

    #[test]
    fn listen_returns_when_a_listener_appears() {
        let fake = FakeBackend::new();
        fake.on_query(|n, sockets| {
            if n == 4 {
                sockets.push(socket("127.0.0.1:5432", State::Listen, 1));
                sockets.push(socket("[::1]:5432", State::Listen, 2));
            }
        });
        let (code, out, _, slept) =
            wait(&fake, listen, &filters(5432, true), Duration::from_secs(30));
        assert_eq!(code, ExitCode::Matched);
        assert_eq!(
            out,
            "listening: tcp 127.0.0.1:5432\nlistening: tcp [::1]:5432\n"
        );
        assert_eq!(slept, POLL * 3);
        assert_eq!(fake.owner_scans(), 0, "no /proc scan while waiting");
    }

    #[test]
    fn listen_ignores_other_ports_and_connections_then_times_out() {
        let fake = FakeBackend::new();
        fake.add_socket(socket("127.0.0.1:5433", State::Listen, 1));
        fake.add_socket(socket("127.0.0.1:5432", State::Established, 2));
        let (code, out, err, slept) = wait(
            &fake,
            listen,
            &filters(5432, true),
            Duration::from_millis(300),
        );
        assert_eq!((code, out.as_str()), (ExitCode::NoMatch, ""));
        assert_eq!(err, "portwho: nothing listens on :5432 after 0.3s\n");
        assert_eq!(slept, Duration::from_millis(300));
        // One query per 50 ms round, plus the first.
        assert_eq!(fake.socket_queries(), 7);
    }

    #[test]
    fn zero_timeout_still_looks_once() {
        let fake = FakeBackend::new();
        fake.add_socket(socket("127.0.0.1:5432", State::Listen, 1));
        let (code, _, _, _) = wait(&fake, listen, &filters(5432, true), Duration::ZERO);
        assert_eq!(code, ExitCode::Matched);
    }

    #[test]
    fn free_waits_out_everything_but_time_wait() {
        let fake = FakeBackend::new();
        fake.add_socket(socket("127.0.0.1:8080", State::Listen, 1));
        fake.add_socket(socket("127.0.0.1:8080", State::TimeWait, 0));
        fake.on_query(|n, sockets| {
            if n == 3 {
                sockets.retain(|s| s.state == State::TimeWait);
            }
        });
        let (code, out, _, _) = wait(&fake, free, &filters(8080, false), Duration::from_secs(1));
        assert_eq!(code, ExitCode::Matched);
        assert_eq!(out, "port 8080 is free\n");
    }

    #[test]
    fn free_times_out_naming_the_holder() {
        let fake = FakeBackend::new();
        fake.spawn(42, "python3", &[1]);
        fake.add_socket(socket("127.0.0.1:8080", State::Listen, 1));
        let (code, _, err, _) = wait(
            &fake,
            free,
            &filters(8080, false),
            Duration::from_millis(100),
        );
        assert_eq!(code, ExitCode::NoMatch);
        assert_eq!(
            err,
            "portwho: :8080 still in use after 0.1s (tcp 127.0.0.1:8080 LISTEN; held by 42 python3 (alice))\n"
        );
    }

    #[test]
    fn free_lines() {
        let t = |addr: Option<&str>, ports, proto| Target {
            addr: addr.map(|a| a.parse().unwrap()),
            ports,
            proto,
        };
        assert_eq!(free_line(&t(None, 80..=80, None)), "port 80 is free");
        assert_eq!(free_line(&t(None, 80..=90, None)), "ports 80-90 are free");
        assert_eq!(
            free_line(&t(Some("::1"), 80..=80, Some(Proto::Tcp))),
            "[::1]:80/tcp is free"
        );
    }
}
