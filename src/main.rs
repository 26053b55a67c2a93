//! The `portwho` binary: parse arguments, run, turn the outcome into an exit status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use clap::FromArgMatches;
use clap::error::ErrorKind;

use portwho::cli::Cli;
use portwho::config::{Config, Terminal};
use portwho::error::Error;
use portwho::exit;
use portwho::label::services::ServiceTable;
use portwho::render::escape::escape;

fn main() -> ExitCode {
    let cli = match parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&usage_line(&e)),
    };
    match run(cli) {
        Ok(code) => code.into(),
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => fail(&e.to_string()),
    }
}

/// What `Cli::try_parse` does, through the command that carries the exit statuses.
fn parse() -> Result<Cli, clap::Error> {
    let mut matches = portwho::generate::command().try_get_matches()?;
    // As clap's derive does: an error found after matching is rendered for the command.
    Cli::from_arg_matches_mut(&mut matches).map_err(|e| e.format(&mut portwho::generate::command()))
}

fn run(cli: Cli) -> Result<exit::ExitCode, Error> {
    // Everything but -q answers on stdout; refuse before doing anything (--kill!) rather
    // than answer into nothing.
    if !cli.quiet && portwho::backend::stdout_was_closed() {
        return Err(Error::Output(std::io::Error::other("stdout is closed")));
    }
    if let Some(what) = cli.generate {
        portwho::generate::write(what, &mut std::io::stdout().lock()).map_err(Error::Output)?;
        return Ok(exit::ExitCode::Matched);
    }
    let backend = match &cli.proc_root {
        Some(root) => portwho::backend::linux::LinuxBackend::with_proc_root(root),
        None => match std::env::var_os("PORTWHO_BPF") {
            // When to find owners with the kernel's fd iterator instead of walking /proc.
            Some(value) if !value.is_empty() => {
                let choice = value
                    .to_str()
                    .and_then(portwho::backend::linux::bpf::Choice::parse)
                    .ok_or_else(|| Error::Setting {
                        name: "PORTWHO_BPF",
                        value: value.to_string_lossy().into_owned(),
                        expected: "never, auto or always",
                    })?;
                portwho::backend::linux::LinuxBackend::with_kernel_iterator(choice)
            }
            _ => portwho::backend::native(),
        },
    };
    let mut services = ServiceTable::builtin();
    if let Ok(text) = std::fs::read_to_string("/etc/services") {
        services = services.with_etc_services(&text);
    }
    let stdout = std::io::stdout();
    let terminal = Terminal {
        stdout_is_tty: stdout.is_terminal(),
        stdin_is_tty: std::io::stdin().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        width: terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)),
    };
    let config = Config::from_cli(cli, &services, &backend, terminal)?;
    // Rust's stdout flushes at every newline: a write(2) per line of a 100 000-socket
    // listing. Buffered, the answer is written in large blocks; `run` and the actions flush
    // where order matters, and the last flush here reports a failed write.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, stdout.lock());
    let code = portwho::run(
        &config,
        &backend,
        &services,
        &mut out,
        &mut std::io::stderr().lock(),
    )?;
    out.flush().map_err(Error::Output)?;
    Ok(code)
}

/// clap's first line, without its "error: " prefix: one line, as for every other error.
/// A first line ending in ':' is completed by the indented lines that follow it ("the
/// following required arguments were not provided: --kill").
fn usage_line(e: &clap::Error) -> String {
    let rendered = e.render().to_string();
    let mut lines = rendered.lines();
    let first = lines.next().unwrap_or("invalid arguments");
    let first = first.strip_prefix("error: ").unwrap_or(first);
    let mut line = first.to_string();
    if first.ends_with(':') {
        let listed: Vec<&str> = lines
            .take_while(|l| l.starts_with(' '))
            .map(str::trim)
            .collect();
        line = format!("{line} {}", listed.join(", "));
    }
    format!("{line} (see 'portwho --help')")
}

fn fail(message: &str) -> ExitCode {
    let _ = writeln!(std::io::stderr(), "portwho: {}", escape(message));
    exit::ExitCode::Error.into()
}
