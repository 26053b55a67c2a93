//! `--free PORT`: unused TCP ports at or after PORT, outside the ephemeral and reserved ports.

use std::collections::HashSet;
use std::ops::RangeInclusive;

use super::Context;
use crate::error::Error;
use crate::exit::ExitCode;
use crate::model::SocketQuery;
use crate::render::Render;

/// The first `count` ports at or after `start` that no socket uses, that the kernel will not
/// hand out as a client's source port (the ephemeral range: a server there can collide with
/// outgoing connections), and that the admin has not reserved.
pub(crate) fn pick(
    start: u16,
    count: u16,
    used: &HashSet<u16>,
    ephemeral: &RangeInclusive<u16>,
    reserved: &[RangeInclusive<u16>],
) -> Vec<u16> {
    (start..=u16::MAX)
        .filter(|p| !used.contains(p))
        .filter(|p| !ephemeral.contains(p))
        .filter(|p| !reserved.iter().any(|r| r.contains(p)))
        .take(usize::from(count))
        .collect()
}

/// Find the ports and print them as `printer` writes them.
pub(crate) fn run(
    start: u16,
    count: u16,
    printer: &dyn Render,
    cx: &mut Context,
) -> Result<ExitCode, Error> {
    // One dump of every TCP socket from `start` up, in any state and on any address: a
    // port in TIME_WAIT or bound on another address can still refuse a bind.
    let query = SocketQuery {
        tcp: true,
        udp: false,
        ipv4: true,
        ipv6: true,
        listening_only: false,
        ports: Some(vec![start..=u16::MAX]),
    };
    let used: HashSet<u16> = cx.sockets(query)?.iter().map(|s| s.local.port()).collect();
    let host = cx.backend.host();
    let ports = pick(start, count, &used, &host.ephemeral, &host.reserved);
    // Flushed before any note: stdout is buffered, stderr is not.
    printer
        .free_ports(&ports, cx.out)
        .and_then(|()| cx.out.flush())
        .map_err(Error::Output)?;
    if ports.len() < usize::from(count) {
        cx.note(&match ports.len() {
            0 => format!("no free port at or after {start}"),
            1 => format!("only 1 free port at or after {start}"),
            n => format!("only {n} free ports at or after {start}"),
        });
        return Ok(ExitCode::NoMatch);
    }
    Ok(ExitCode::Matched)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::action::Guard;
    use crate::action::testing::run_with_fakes;
    use crate::backend::fake::FakeBackend;
    use crate::model::{Proto, Socket, State};
    use crate::render::{Format, Style, printer};

    #[test]
    fn skips_used_ephemeral_and_reserved() {
        let used = HashSet::from([8080, 8081]);
        let eph = 32768..=60999;
        assert_eq!(pick(8080, 1, &used, &eph, &[]), vec![8082]);
        assert_eq!(
            pick(8080, 3, &used, &eph, &[8083..=8090]),
            vec![8082, 8091, 8092]
        );
        // Inside the ephemeral range: the first port after it.
        assert_eq!(pick(40000, 1, &used, &eph, &[]), vec![61000]);
        assert_eq!(pick(65535, 2, &used, &eph, &[]), vec![65535]);
        assert!(pick(65535, 1, &HashSet::from([65535]), &eph, &[]).is_empty());
        assert!(pick(1024, 1, &used, &(1..=65535), &[]).is_empty());
    }

    fn run_free(fake: &FakeBackend, start: u16, count: u16, format: Format) -> (ExitCode, String) {
        let guard = Guard { own: 1, parent: 1 };
        let style = Style {
            color: false,
            width: None,
            numeric: false,
            owners: true,
            netns: false,
            targets: Vec::new(),
            now: 0,
            scrape: None,
        };
        let printer = printer(format, style);
        let ran = run_with_fakes(fake, &[], guard, |cx| run(start, count, &*printer, cx));
        (ran.result.unwrap(), ran.out)
    }

    #[test]
    fn one_query_then_print() {
        let fake = FakeBackend::new();
        fake.reserve(8082..=8082);
        for (port, state) in [(8080, State::Listen), (8081, State::TimeWait)] {
            fake.add_socket(Socket {
                proto: Proto::Tcp,
                local: format!("[::]:{port}").parse().unwrap(),
                remote: None,
                state,
                uid: Some(0),
                inode: 0,
                v6only: None,
                netns: 0,
            });
        }
        assert_eq!(
            run_free(&fake, 8080, 1, Format::Table),
            (ExitCode::Matched, "8083\n".into())
        );
        assert_eq!(
            run_free(&fake, 8080, 2, Format::Json),
            (ExitCode::Matched, "[8083,8084]\n".into())
        );
        assert_eq!(
            run_free(&fake, 8080, 1, Format::Quiet),
            (ExitCode::Matched, String::new())
        );
        assert_eq!(
            run_free(&fake, 65535, 2, Format::Table),
            (ExitCode::NoMatch, "65535\n".into())
        );
        assert_eq!(fake.socket_queries(), 4);
        assert_eq!(fake.owner_scans(), 0);
    }
}
