//! The parsed command line turned into what a run needs; clap's types stop here.

use std::path::PathBuf;
use std::time::Duration;

pub(crate) use crate::action::kill::KillOptions;
use crate::cli::{Cli, ColorChoice, FailOn, Generate};
use crate::error::Error;
use crate::filter::Filters;
use crate::label::services::ServiceTable;
use crate::model::Severity;
use crate::model::{Detail, NetnsChoice};
pub(crate) use crate::render::Format;
use crate::render::Style;
use crate::signal::Signal;
use crate::target;

/// How long `--kill` waits for the port to be freed, unless `--timeout` says.
pub(crate) const KILL_TIMEOUT: Duration = Duration::from_secs(5);
/// How long `--wait-listen` and `--wait-free` wait, unless `--timeout` says: long enough for
/// a database or a dev server to start.
pub(crate) const WAIT_TIMEOUT: Duration = Duration::from_secs(30);

/// What a run does with the selected sockets.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Mode {
    /// Show them (the default).
    List,
    /// `--audit`: show those with findings; fail at or above this severity.
    Audit { fail_on: Severity },
    /// `--diff FILE`: compare the listeners with a baseline saved in this file.
    Diff { path: PathBuf },
    /// `--kill`: signal their holders, then wait for the port to be freed.
    Kill(KillOptions),
    /// `--free PORT`: find unused ports; no selection involved.
    Free { start: u16, count: u16 },
    /// `--wait-listen`: wait until something listens on the targets.
    WaitListen { timeout: Duration },
    /// `--wait-free`: wait until nothing but TIME_WAIT uses the targets.
    WaitFree { timeout: Duration },
    /// `--generate`: write a man page or a completion script, from the CLI's definition.
    Generate(Generate),
    /// `--forwards`: the port forwards on the targets' ports, or all.
    Forwards,
    /// `--watch`: look again every `interval`, and print what opened and closed.
    Watch { interval: Duration },
}

/// What portwho knows about where it writes, read once by `main` from the environment.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    pub stdout_is_tty: bool,
    /// `--kill` asks only where someone can answer.
    pub stdin_is_tty: bool,
    /// `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
    /// Columns of the terminal, when stdout is one.
    pub width: Option<usize>,
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub(crate) mode: Mode,
    pub(crate) filters: Filters,
    /// The TARGET arguments as typed, to repeat them in suggestions.
    pub(crate) target_args: Vec<String>,
    pub(crate) format: Format,
    pub(crate) numeric: bool,
    /// Find the processes that hold the sockets (not with `--no-owners`).
    pub(crate) owners: bool,
    pub(crate) color: bool,
    /// Cut the table to this width (on a terminal only).
    pub(crate) width: Option<usize>,
    pub(crate) verbose: bool,
    /// Which network namespaces to read.
    pub(crate) netns: NetnsChoice,
    /// `--output`: write the answer to this file, atomically, instead of stdout.
    pub(crate) output: Option<PathBuf>,
}

impl Config {
    /// Resolve targets through the service table and user names through `user_id` (the
    /// system's user database).
    pub fn from_cli(
        cli: Cli,
        services: &ServiceTable,
        user_id: &dyn Fn(&str) -> Option<u32>,
        terminal: Terminal,
    ) -> Result<Config, Error> {
        let lookup = |name: &str| services.lookup(name);
        let mut targets = Vec::new();
        for text in &cli.targets {
            targets.extend(target::parse(text, &lookup)?);
        }
        let mut uids = Vec::new();
        for user in &cli.users {
            let uid = match user.parse::<u32>() {
                Ok(uid) => uid,
                Err(_) => user_id(user).ok_or_else(|| Error::UnknownUser(user.clone()))?,
            };
            uids.push(uid);
        }
        // Naming one protocol or family means "only this one"; naming both, or neither, both.
        let both = |a: bool, b: bool| if a || b { (a, b) } else { (true, true) };
        let (tcp, udp) = both(cli.tcp, cli.udp);
        let (ipv4, ipv6) = both(cli.ipv4, cli.ipv6);
        let mut listening_only = cli.listening || (!cli.all && targets.is_empty());
        let mode = mode(&cli, &targets, terminal)?;
        match mode {
            // An audit and a diff are about listeners, whatever the targets.
            Mode::WaitListen { .. } | Mode::Audit { .. } | Mode::Diff { .. } | Mode::Forwards => {
                listening_only = true
            }
            Mode::WaitFree { .. } => listening_only = false,
            _ => {}
        }

        let netns = match &cli.netns {
            None => NetnsChoice::Own,
            Some(text) => {
                NetnsChoice::parse(text).ok_or_else(|| Error::NetnsChoice(text.clone()))?
            }
        };
        let format = if cli.quiet {
            Format::Quiet
        } else if cli.json {
            Format::Json
        } else if cli.jsonl {
            Format::Jsonl
        } else if cli.prometheus {
            Format::Prometheus
        } else {
            Format::Table
        };
        let color = match cli.color {
            ColorChoice::Always => true,
            ColorChoice::Never => false,
            ColorChoice::Auto => terminal.stdout_is_tty && !terminal.no_color,
        };
        Ok(Config {
            mode,
            target_args: cli.targets.clone(),
            filters: Filters {
                targets,
                tcp,
                udp,
                ipv4,
                ipv6,
                listening_only,
                pids: cli.pids,
                commands: cli.commands,
                uids,
            },
            format,
            numeric: cli.numeric,
            owners: !cli.no_owners,
            color,
            width: terminal.width.filter(|_| terminal.stdout_is_tty),
            verbose: cli.verbose,
            netns,
            output: cli.output,
        })
    }
}

impl Config {
    /// How much to read about the shown processes: nothing for a quiet listing that
    /// filters on neither name nor user; names and users for the plain table; the command
    /// line for `--command`; everything for cards, JSON, the audit and the diff.
    pub fn detail(&self, explain: bool) -> Option<Detail> {
        let filters = &self.filters;
        let by_process = !filters.commands.is_empty() || !filters.uids.is_empty();
        if self.format == Format::Quiet && self.mode == Mode::List && !by_process {
            return None;
        }
        // `--watch` shows rows as the listing does; machine formats want every field (and
        // Prometheus the parent pids, to name a forked server's master).
        let listing = matches!(self.mode, Mode::List | Mode::Watch { .. });
        let machine = matches!(self.format, Format::Json | Format::Jsonl);
        Some(
            if self.format == Format::Prometheus && listing && !explain {
                Detail::Judged
            } else if explain || machine || !listing {
                Detail::Full
            } else if filters.commands.is_empty() {
                Detail::Names
            } else {
                Detail::Brief
            },
        )
    }

    /// How text for people looks, at `now` (seconds since the Unix epoch).
    pub fn style(&self, now: u64) -> Style {
        Style {
            color: self.color,
            width: self.width,
            numeric: self.numeric,
            owners: self.owners,
            netns: self.netns == NetnsChoice::All,
            targets: self.target_args.clone(),
            now,
            scrape: None,
        }
    }
}

/// The mode the flags ask for, refusing the combinations that would do harm or nothing.
fn mode(cli: &Cli, targets: &[target::Target], terminal: Terminal) -> Result<Mode, Error> {
    if let Some(what) = cli.generate {
        return Ok(Mode::Generate(what));
    }
    if cli.kill {
        // Like pkill, never "everything": a selection must name what to stop.
        if targets.is_empty() && cli.pids.is_empty() && cli.commands.is_empty() {
            return Err(Error::KillWithoutSelection);
        }
        if !cli.yes && !terminal.stdin_is_tty {
            return Err(Error::KillNeedsYes);
        }
        let signal = match &cli.signal {
            Some(text) => Signal::parse(text)?,
            None => Signal::Term,
        };
        return Ok(Mode::Kill(KillOptions {
            signal,
            ask: !cli.yes,
            timeout: cli.timeout.unwrap_or(KILL_TIMEOUT),
            clients_too: cli.all,
        }));
    }
    if cli.forwards {
        return Ok(Mode::Forwards);
    }
    if cli.audit {
        return Ok(Mode::Audit {
            fail_on: match cli.fail_on {
                FailOn::Low => Severity::Low,
                FailOn::Medium => Severity::Medium,
                FailOn::High => Severity::High,
            },
        });
    }
    if let Some(path) = &cli.diff {
        return Ok(Mode::Diff { path: path.clone() });
    }
    if let Some(interval) = cli.watch {
        return Ok(Mode::Watch { interval });
    }
    if let Some(start) = cli.free {
        return Ok(Mode::Free {
            start,
            count: cli.count.unwrap_or(1),
        });
    }
    let timeout = cli.timeout.unwrap_or(WAIT_TIMEOUT);
    if cli.wait_listen || cli.wait_free {
        let flag = if cli.wait_listen {
            "wait-listen"
        } else {
            "wait-free"
        };
        if targets.is_empty() {
            return Err(Error::WaitWithoutTarget(flag));
        }
        return Ok(if cli.wait_listen {
            Mode::WaitListen { timeout }
        } else {
            Mode::WaitFree { timeout }
        });
    }
    Ok(Mode::List)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    fn parse(args: &[&str], stdin_is_tty: bool) -> Result<Mode, Error> {
        let cli = Cli::try_parse_from(std::iter::once("portwho").chain(args.iter().copied()))
            .map_err(|e| Error::Unsupported(e.to_string()))?;
        let terminal = Terminal {
            stdin_is_tty,
            ..Terminal::default()
        };
        Config::from_cli(cli, &ServiceTable::builtin(), &|_| None, terminal).map(|c| c.mode)
    }

    #[test]
    fn kill_defaults_and_options() {
        let Ok(Mode::Kill(kill)) = parse(&["--kill", ":8080"], true) else {
            panic!("not a kill")
        };
        assert_eq!(kill.signal, Signal::Term);
        assert!(kill.ask && !kill.clients_too);
        assert_eq!(kill.timeout, KILL_TIMEOUT);
        let Ok(Mode::Kill(kill)) = parse(
            &[
                "--kill",
                "-y",
                "--signal",
                "9",
                "--timeout",
                "0.5",
                "-a",
                ":80",
            ],
            false,
        ) else {
            panic!("not a kill")
        };
        assert_eq!(kill.signal, Signal::Kill);
        assert!(!kill.ask && kill.clients_too);
        assert_eq!(kill.timeout, Duration::from_millis(500));
    }

    #[test]
    fn kill_refusals() {
        assert!(matches!(
            parse(&["--kill", "--yes"], false),
            Err(Error::KillWithoutSelection)
        ));
        assert!(matches!(
            parse(&["--kill", "--yes", "-U", "0"], false),
            Err(Error::KillWithoutSelection)
        ));
        assert!(matches!(
            parse(&["--kill", ":80"], false),
            Err(Error::KillNeedsYes)
        ));
        assert!(parse(&["--kill", "-p", "5"], true).is_ok());
        assert!(parse(&["--kill", "-y", "-c", "nginx"], false).is_ok());
        assert!(matches!(
            parse(&["--kill", "-y", "--signal", "BOGUS", ":80"], false),
            Err(Error::Signal(_))
        ));
    }

    #[test]
    fn free_and_waits() {
        assert_eq!(
            parse(&["--free", "8080"], false).unwrap(),
            Mode::Free {
                start: 8080,
                count: 1
            }
        );
        assert_eq!(
            parse(&["--free", "8080", "--count", "3"], false).unwrap(),
            Mode::Free {
                start: 8080,
                count: 3
            }
        );
        assert_eq!(
            parse(&["--wait-listen", ":5432", "--timeout", "30"], false).unwrap(),
            Mode::WaitListen {
                timeout: Duration::from_secs(30)
            }
        );
        assert_eq!(
            parse(&["--wait-free", ":5432"], false).unwrap(),
            Mode::WaitFree {
                timeout: WAIT_TIMEOUT
            }
        );
        assert!(matches!(
            parse(&["--wait-free"], false),
            Err(Error::WaitWithoutTarget("wait-free"))
        ));
        assert_eq!(parse(&[":80"], false).unwrap(), Mode::List);
    }

    #[test]
    fn clap_refuses_nonsense() {
        for args in [
            &["--kill", "--free", "80"][..],
            &["--wait-listen", "--wait-free", ":80"],
            &["--signal", "KILL", ":80"],
            &["--yes", ":80"],
            &["--timeout", "1", ":80"],
            &["--timeout", "-1", "--kill", ":80"],
            &["--timeout", "soon", "--kill", ":80"],
            &["--count", "3"],
            &["--free", "80", ":80"],
            &["--free", "0"],
            &["--free", "80", "--count", "0"],
            &["--kill", "--json", ":80"],
            &["--wait-listen", "-p", "5", ":80"],
        ] {
            assert!(
                matches!(parse(args, true), Err(Error::Unsupported(_))),
                "{args:?}"
            );
        }
    }
}
