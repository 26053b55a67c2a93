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
pub mod gather;
pub mod generate;
pub mod hash;
pub mod join;
pub mod label;
pub mod list;
pub mod messages;
pub mod model;
pub mod render;
pub mod signal;
pub mod target;

use std::io::Write;

use action::{Context, Guard, SystemClock, TerminalPrompt};
use backend::Backend;
use config::{Config, Mode};
use error::Error;
use exit::ExitCode;
use label::services::ServiceTable;
use messages::Messages;

/// One run of the mode the configuration names.
///
/// Notes for the user (hidden owners, skipped lines) go to `err`, through the messages
/// module; stdout gets only the answer, written by the one printer `config` chooses.
pub fn run(
    config: &Config,
    backend: &dyn Backend,
    services: &ServiceTable,
    out: &mut dyn Write,
    err: &mut dyn Write,
) -> Result<ExitCode, Error> {
    let mut messages = Messages::new(err, config.verbose);
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs());
    let printer = render::printer(config.format, config.style(now));
    let quiet = config.format == config::Format::Quiet;
    let mut cx = Context {
        backend,
        prompt: &mut TerminalPrompt,
        clock: &SystemClock,
        guard: Guard::current(),
        out,
        messages: &mut messages,
    };
    let filters = &config.filters;
    let code = match &config.mode {
        Mode::List | Mode::Audit { .. } | Mode::Diff { .. } => {
            list::run(config, backend, services, &*printer, cx.out, cx.messages)?
        }
        Mode::Kill(options) => action::kill::run(filters, options, quiet, &mut cx)?,
        Mode::Free { start, count } => action::free::run(*start, *count, &*printer, &mut cx)?,
        Mode::WaitListen { timeout } => action::wait::listen(filters, *timeout, quiet, &mut cx)?,
        Mode::WaitFree { timeout } => action::wait::free(filters, *timeout, quiet, &mut cx)?,
        Mode::Generate(what) => {
            generate::write(*what, cx.out).map_err(Error::Output)?;
            ExitCode::Matched
        }
    };
    cx.out.flush().map_err(Error::Output)?;
    Ok(code)
}

/// The command line, parsed; `None` when it asked for `--help` or `--version`, which
/// are printed here.
pub fn cli_args() -> Result<Option<cli::Cli>, Error> {
    use clap::{FromArgMatches, error::ErrorKind};
    // The command that carries the exit statuses in its help; an error found after
    // matching is rendered for it, as clap's derive does.
    let parsed = generate::command()
        .try_get_matches()
        .and_then(|mut matches| {
            cli::Cli::from_arg_matches_mut(&mut matches)
                .map_err(|e| e.format(&mut generate::command()))
        });
    match parsed {
        Ok(cli) => Ok(Some(cli)),
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            e.print().map_err(Error::Output)?;
            Ok(None)
        }
        Err(e) => Err(Error::Usage(error::usage_line(&e))),
    }
}

/// The service table: IANA's, with the names the system's own services file adds.
pub fn services(backend: &dyn Backend) -> ServiceTable {
    let builtin = ServiceTable::builtin();
    match backend.services_file() {
        Some(text) => builtin.with_etc_services(&text),
        None => builtin,
    }
}
