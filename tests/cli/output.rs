//! Output that cannot be written: stdout closed, a reader that went away, a full disk.
//! Each ends cleanly, never with a panic, for the table, the JSON and the owner card.

use std::net::TcpListener;
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::process::{Command, Stdio};

use crate::common::*;

/// The three renderers, each asked about the same socket.
fn outputs(target: &str) -> [(&'static str, Vec<String>); 3] {
    [
        ("table", vec!["--all".into(), "-n".into()]),
        ("json", vec!["--all".into(), "--json".into()]),
        ("card", vec![target.to_string()]),
    ]
}

fn assert_one_line(what: &str, r: &Run, needle: &str) {
    assert_eq!(r.code, 2, "{what}: {}", r.stderr);
    assert_eq!(r.stderr.lines().count(), 1, "{what}: {}", r.stderr);
    assert!(
        r.stderr.starts_with("portwho: cannot write output: "),
        "{what}: {}",
        r.stderr
    );
    assert!(r.stderr.contains(needle), "{what}: {}", r.stderr);
    assert!(!r.stderr.contains("panicked"), "{what}: {}", r.stderr);
}

/// Run through `sh` so that the redirection is the shell's, as a user would type it.
fn shell(redirect: &str, args: &[String]) -> Run {
    run(Command::new("sh")
        .arg("-c")
        .arg(format!("exec \"$0\" \"$@\" {redirect}"))
        .arg(env!("CARGO_BIN_EXE_portwho"))
        .args(args)
        .stdin(Stdio::null()))
}

#[test]
fn closed_stdout_is_one_line_and_exit_two() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let target = format!("{}/tcp", l.local_addr().unwrap());
    for (what, args) in outputs(&target) {
        assert_one_line(what, &shell(">&-", &args), "stdout is closed");
    }
    // -q writes nothing, so it needs no stdout; a real /dev/null is not a closed stdout.
    let quiet = shell(">&-", &["-q".into(), target.clone()]);
    assert_eq!((quiet.code, quiet.stderr.as_str()), (0, ""));
    let null = shell(">/dev/null", &[target]);
    assert_eq!((null.code, null.stderr.as_str()), (0, ""));
}

#[test]
fn full_disk_is_one_line_and_exit_two() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let target = format!("{}/tcp", l.local_addr().unwrap());
    for (what, args) in outputs(&target) {
        assert_one_line(what, &shell(">/dev/full", &args), "No space left on device");
    }
}

/// A reader that has gone away (`| head -1` once head has exited): a broken pipe ends the
/// answer quietly, with status 0, whatever the renderer.
#[test]
fn gone_reader_is_quiet_success() {
    let l = on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap();
    let target = format!("{}/tcp", l.local_addr().unwrap());
    for (what, args) in outputs(&target) {
        // The other end is closed before portwho starts: its first write fails with EPIPE.
        let (ours, theirs) = UnixStream::pair().unwrap();
        drop(theirs);
        let r = run(portwho()
            .args(&args)
            .stdout(Stdio::from(OwnedFd::from(ours))));
        assert_eq!((r.code, r.stderr.as_str()), (0, ""), "{what}");
    }
    // And as typed, with more output than a pipe holds.
    let listeners: Vec<TcpListener> = (0..300)
        .map(|_| on_unused_port(|p| TcpListener::bind(("127.0.0.1", p))).unwrap())
        .collect();
    for (what, args) in outputs(&target) {
        let r = run(Command::new("sh")
            .arg("-c")
            .arg("{ \"$0\" \"$@\"; echo \"$?\" >&2; } | head -1 >/dev/null")
            .arg(env!("CARGO_BIN_EXE_portwho"))
            .args(&args)
            .stdin(Stdio::null()));
        assert_eq!(r.stderr, "0\n", "{what}");
    }
    drop(listeners);
}
