//! The `portwho` binary: parse arguments, read the environment, run, exit with a status.

use std::io::{IsTerminal, Write};
use std::process::ExitCode;

use portwho::{Error, Terminal, exit};

fn main() -> ExitCode {
    match run() {
        Ok(code) => code.into(),
        // `portwho | head -1` ends this way; it is not a failure.
        Err(e) if e.is_broken_pipe() => ExitCode::SUCCESS,
        Err(e) => {
            portwho::report_error(&e.to_string());
            exit::ExitCode::Error.into()
        }
    }
}

fn run() -> Result<exit::ExitCode, Error> {
    let Some(cli) = portwho::cli_args()? else {
        // --help or --version, printed.
        return Ok(exit::ExitCode::Matched);
    };
    // Everything but -q and --output answers on stdout; refuse before doing anything
    // (--kill!) rather than answer into nothing.
    if !cli.quiet && cli.output.is_none() && portwho::stdout_was_closed() {
        return Err(Error::Output(std::io::Error::other("stdout is closed")));
    }
    let bpf = std::env::var_os("PORTWHO_BPF");
    let system = portwho::System::open(cli.proc_root.as_deref(), bpf.as_deref())?;
    let terminal = Terminal {
        stdout_is_tty: std::io::stdout().is_terminal(),
        stdin_is_tty: std::io::stdin().is_terminal(),
        no_color: std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty()),
        width: terminal_size::terminal_size().map(|(w, _)| usize::from(w.0)),
    };
    let config = system.configure(cli, terminal)?;
    // Rust's stdout flushes at every newline: a write(2) per line of a 100 000-socket
    // listing. Buffered, the answer is written in large blocks; the run flushes where
    // order matters, and the last flush here reports a failed write.
    let mut out = std::io::BufWriter::with_capacity(64 * 1024, std::io::stdout().lock());
    let code = system.run(&config, &mut out, &mut std::io::stderr())?;
    out.flush().map_err(Error::Output)?;
    Ok(code)
}
