//! The parsed command line turned into what a run needs; clap's types stop here.

use crate::backend::Backend;
use crate::cli::{Cli, ColorChoice, FailOn};
use crate::diff::{self, Listener};
use crate::error::Error;
use crate::filter::Filters;
use crate::label::findings::Severity;
use crate::label::services::ServiceTable;
use crate::target;

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
    /// `--quiet`: nothing on stdout.
    Quiet,
}

/// What a run does with the selected sockets.
#[derive(Debug, Clone, PartialEq)]
pub enum Mode {
    /// Show them (the default).
    List,
    /// `--audit`: show those with findings; fail at or above this severity.
    Audit { fail_on: Severity },
    /// `--diff FILE`: compare the listeners with a saved baseline.
    Diff {
        name: String,
        baseline: Vec<Listener>,
    },
}

/// What portwho knows about where it writes, read once by `main`.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Terminal {
    pub stdout_is_tty: bool,
    /// `NO_COLOR` is set to a non-empty value.
    pub no_color: bool,
    /// Columns of the terminal, when stdout is one.
    pub width: Option<usize>,
}

/// Everything a run needs.
#[derive(Debug, Clone, PartialEq)]
pub struct Config {
    pub mode: Mode,
    pub filters: Filters,
    /// The TARGET arguments as typed, to repeat them in suggestions.
    pub target_args: Vec<String>,
    pub format: Format,
    pub numeric: bool,
    pub color: bool,
    /// Cut the table to this width (on a terminal only).
    pub width: Option<usize>,
    pub verbose: bool,
}

impl Config {
    /// Resolve targets through the service table and user names through the backend.
    pub fn from_cli(
        cli: Cli,
        services: &ServiceTable,
        backend: &dyn Backend,
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
                Err(_) => backend
                    .user_id(user)
                    .ok_or_else(|| Error::UnknownUser(user.clone()))?,
            };
            uids.push(uid);
        }
        // Naming one protocol or family means "only this one"; naming both, or neither, both.
        let both = |a: bool, b: bool| if a || b { (a, b) } else { (true, true) };
        let (tcp, udp) = both(cli.tcp, cli.udp);
        let (ipv4, ipv6) = both(cli.ipv4, cli.ipv6);
        let mode = if cli.audit {
            Mode::Audit {
                fail_on: match cli.fail_on {
                    FailOn::Low => Severity::Low,
                    FailOn::Medium => Severity::Medium,
                    FailOn::High => Severity::High,
                },
            }
        } else if let Some(path) = &cli.diff {
            let baseline_error = |reason: String| Error::Baseline {
                path: path.clone(),
                reason,
            };
            let text = std::fs::read_to_string(path).map_err(|e| baseline_error(e.to_string()))?;
            Mode::Diff {
                name: path.display().to_string(),
                baseline: diff::parse_baseline(&text).map_err(baseline_error)?,
            }
        } else {
            Mode::List
        };
        // An audit and a diff are about listeners, whatever the targets.
        let listening_only =
            cli.listening || mode != Mode::List || (!cli.all && targets.is_empty());

        let format = if cli.quiet {
            Format::Quiet
        } else if cli.json {
            Format::Json
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
            color,
            width: terminal.width.filter(|_| terminal.stdout_is_tty),
            verbose: cli.verbose,
        })
    }
}
