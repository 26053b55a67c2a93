//! Terminal safety: a process's name, arguments, working directory and cgroup are its own
//! (or its creator's) to choose; the table and the owner card print them escaped, and
//! `--json` carries them as JSON strings.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::process::Command;

use crate::common::*;

/// One class of hostile bytes: what the table shows for it, and what JSON decodes to.
struct Class {
    what: &'static str,
    bytes: &'static [u8],
    shown: &'static str,
}

const CLASSES: [Class; 6] = [
    Class {
        what: "ESC",
        bytes: b"\x1b[31m",
        shown: "\\x1b[31m",
    },
    Class {
        what: "BEL",
        bytes: b"\x07",
        shown: "\\x07",
    },
    Class {
        what: "CR",
        bytes: b"\r",
        shown: "\\r",
    },
    Class {
        what: "backspace",
        bytes: b"\x08",
        shown: "\\x08",
    },
    Class {
        what: "bidi override",
        bytes: "\u{202e}".as_bytes(),
        shown: "\\u{202e}",
    },
    // Not text: shown, and sent in JSON, as U+FFFD, never as raw bytes.
    Class {
        what: "invalid UTF-8",
        bytes: b"\xff\xfe",
        shown: "\u{fffd}\u{fffd}",
    },
];

/// Names itself (PR_SET_NAME) `pw<bytes>x`, moves into the directory argv[2], listens.
const HELPER: &str = "import ctypes, os, socket, sys, time\n\
    raw = os.fsencode(sys.argv[1])\n\
    name = b'pw' + raw[4:-4] + b'x'\n\
    libc = ctypes.CDLL(None, use_errno=True)\n\
    assert libc.prctl(15, ctypes.c_char_p(name), 0, 0, 0) == 0\n\
    os.chdir(os.fsencode(sys.argv[2]))\n\
    s = socket.socket(); s.bind(('127.0.0.1', 0)); s.listen()\n\
    print(s.getsockname()[1], flush=True)\n\
    time.sleep(60)\n";

fn concat(parts: &[&[u8]]) -> Vec<u8> {
    parts.concat()
}

/// Nothing a terminal would act on: no control character but the line end, no bidi control.
fn assert_inert(text: &str, what: &str) {
    let bad = text.chars().find(|&c| {
        (c.is_control() && c != '\n')
            || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' | '\u{200e}' | '\u{200f}' | '\u{061c}')
    });
    assert!(
        bad.is_none(),
        "{what}: {bad:?} reached the terminal:\n{text}"
    );
}

/// A cgroup v2 directory named like a systemd service, removed on drop.
struct Cgroup(PathBuf);

impl Cgroup {
    fn new(name: &[u8]) -> Option<Cgroup> {
        let mountinfo = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
        let root = mountinfo
            .lines()
            .find(|l| {
                l.split(" - ")
                    .nth(1)
                    .is_some_and(|t| t.starts_with("cgroup2 "))
            })?
            .split(' ')
            .nth(4)?
            .to_string();
        let dir = PathBuf::from(root).join(OsStr::from_bytes(name));
        std::fs::create_dir(&dir).ok()?;
        Some(Cgroup(dir))
    }

    fn enter(&self, pid: u32) -> bool {
        std::fs::write(self.0.join("cgroup.procs"), pid.to_string()).is_ok()
    }
}

impl Drop for Cgroup {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir(&self.0);
    }
}

#[test]
fn hostile_names_arguments_and_directories_are_escaped() {
    for (i, class) in CLASSES.iter().enumerate() {
        let token = class.bytes;
        let lossy = String::from_utf8_lossy(token).into_owned();
        let dir = std::env::temp_dir().join(OsStr::from_bytes(&concat(&[
            format!("portwho-cwd-{}-{i}-", std::process::id()).as_bytes(),
            token,
        ])));
        std::fs::create_dir_all(&dir).unwrap();
        // The ESC case also runs in a cgroup named with ESC and a bidi override.
        let cgroup = (i == 0)
            .then(|| Cgroup::new("pw\x1b[31m\u{202e}.service".as_bytes()))
            .flatten();
        let helper = Helper::spawn(
            Command::new(python3())
                .args(["-c", HELPER])
                .arg(OsStr::from_bytes(&concat(&[b"arg-", token, b"-end"])))
                .arg(&dir),
        );
        let managed = cgroup.as_ref().is_some_and(|c| c.enter(helper.pid()));
        if i == 0 && !managed {
            eprintln!("cgroup part skipped: cannot make or enter a cgroup v2 directory");
        }
        let target = format!("127.0.0.1:{}/tcp", helper.numbers[0]);
        let pid = helper.pid();

        // The table, the owner card and the diagnosis of `portwho :PORT`.
        let r = portwho_run(&[&target]);
        assert_eq!(r.code, 0, "{}: {}", class.what, r.stderr);
        assert_inert(&r.stdout, class.what);
        let name = format!("pw{}x", class.shown);
        assert!(
            r.stdout.contains(&format!("{pid}/{name}")),
            "{}: {}",
            class.what,
            r.stdout
        );
        // Whatever its name, the process's user is still read.
        let user = run(Command::new("id").arg("-un")).stdout;
        let title = format!("\n{pid} {name} ({})\n", user.trim());
        assert!(r.stdout.contains(&title), "{}: {}", class.what, r.stdout);
        assert!(
            r.stdout.contains(&format!("arg-{}-end", class.shown)),
            "{}: {}",
            class.what,
            r.stdout
        );
        let cwd_line = r.stdout.lines().find(|l| l.starts_with("  cwd ")).unwrap();
        assert!(
            cwd_line.ends_with(&format!("-{i}-{}", class.shown)),
            "{}: {cwd_line}",
            class.what
        );
        if managed {
            let unit = "pw\\x1b[31m\\u{202e}.service";
            assert!(
                r.stdout.contains(&format!("managed  {unit} (systemd)")),
                "{}",
                r.stdout
            );
            assert!(
                r.stdout
                    .contains(&format!("stop     systemctl stop {unit}")),
                "{}",
                r.stdout
            );
        }

        // JSON: valid, with the text itself (lossy for invalid UTF-8) as JSON strings.
        let (code, records) = json(&[&target]);
        assert_eq!(code, 0);
        let p = &records[0]["processes"][0];
        assert_eq!(p["pid"], pid);
        assert_eq!(
            p["uid"],
            rustix::process::geteuid().as_raw(),
            "{}",
            class.what
        );
        assert_eq!(p["name"], format!("pw{lossy}x"), "{}", class.what);
        assert_eq!(
            p["cmdline"][3],
            format!("arg-{lossy}-end"),
            "{}",
            class.what
        );
        assert!(
            p["cwd"]
                .as_str()
                .unwrap()
                .ends_with(&format!("-{i}-{lossy}")),
            "{}: {p}",
            class.what
        );
        if managed {
            assert_eq!(p["unit"], "pw\x1b[31m\u{202e}.service");
        }
        drop(helper);
        drop(cgroup);
        std::fs::remove_dir(&dir).unwrap();
    }
}
