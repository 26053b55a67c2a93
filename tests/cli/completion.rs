//! The checked-in completion scripts work in their shells: options, option values, and
//! service names after ':'. A shell that is not installed skips its test, saying so.

use std::path::{Path, PathBuf};
use std::process::Command;

fn script(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("completions")
        .join(name)
}

fn installed(program: &str) -> bool {
    let found = Command::new(program)
        .arg("--version")
        .output()
        .is_ok_and(|o| o.status.success());
    if !found {
        eprintln!("skipped: {program} is not installed");
    }
    found
}

/// Sources the bash script in a non-interactive bash and calls the function that
/// `complete -p portwho` names, as bash would for the line up to the cursor: `words` is
/// that line split the way bash splits it (':' is a word of its own when it is in
/// COMP_WORDBREAKS, as by default), the last word being the one under the cursor.
fn bash_complete(words: &[&str], wordbreaks_colon: bool) -> Vec<String> {
    // A line whose words are glued where a ':' split them, as the user typed it.
    let mut line = String::new();
    for (i, word) in words.iter().enumerate() {
        let glued = *word == ":" || (i > 0 && words[i - 1] == ":");
        if i > 0 && !glued {
            line.push(' ');
        }
        line.push_str(word);
    }
    let harness = r#"
        source "$1"; shift
        COMP_WORDBREAKS=$' \t\n"'"'"'><=;|&('
        if [[ "$1" == colon ]]; then COMP_WORDBREAKS+=':'; fi
        COMP_LINE="$2"; COMP_POINT=${#COMP_LINE}; shift 2
        COMP_WORDS=("$@"); COMP_CWORD=$(( $# - 1 ))
        spec=$(complete -p portwho) || exit 3
        fn=${spec#*-F }; fn=${fn%% *}
        prev=""; if (( COMP_CWORD > 0 )); then prev=${COMP_WORDS[COMP_CWORD-1]}; fi
        "$fn" portwho "${COMP_WORDS[COMP_CWORD]}" "$prev"
        printf '%s\n' "${COMPREPLY[@]}"
    "#;
    let out = Command::new("bash")
        .args(["--norc", "--noprofile", "-c", harness, "harness"])
        .arg(script("portwho.bash"))
        .arg(if wordbreaks_colon {
            "colon"
        } else {
            "no-colon"
        })
        .arg(&line)
        .args(words)
        .output()
        .expect("run bash");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .filter(|l| !l.is_empty())
        .map(str::to_string)
        .collect()
}

#[test]
fn bash_completes_options_values_and_service_names() {
    if !installed("bash") {
        return;
    }
    let options = bash_complete(&["portwho", "--"], true);
    for wanted in ["--listening", "--json", "--kill", "--color", "--help"] {
        assert!(options.iter().any(|o| o == wanted), "{wanted}: {options:?}");
    }
    for hidden in ["--generate", "--proc-root"] {
        assert!(
            !options.iter().any(|o| o == hidden),
            "{hidden}: {options:?}"
        );
    }
    assert_eq!(
        bash_complete(&["portwho", "--color", ""], true),
        ["auto", "always", "never"]
    );
    assert_eq!(
        bash_complete(&["portwho", "--audit", "--fail-on", "m"], true),
        ["medium"]
    );

    // With ':' breaking words bash replaces only what follows it; without, the whole word.
    assert_eq!(
        bash_complete(&["portwho", ":", "postgr"], true),
        ["postgresql"]
    );
    assert_eq!(
        bash_complete(&["portwho", ":postgr"], false),
        [":postgresql"]
    );
    assert_eq!(
        bash_complete(&["portwho", "-t", "127.0.0.1", ":", "redi"], true),
        ["redis"]
    );
    assert_eq!(
        bash_complete(&["portwho", "127.0.0.1:redi"], false),
        ["127.0.0.1:redis"]
    );
    let http = bash_complete(&["portwho", ":", "http"], true);
    for wanted in ["http", "http-alt", "http-dev", "https"] {
        assert!(http.iter().any(|n| n == wanted), "{wanted}: {http:?}");
    }
    assert!(bash_complete(&["portwho", ":", "nosuchservice"], true).is_empty());
}

#[test]
fn zsh_script_parses_and_loads() {
    if !installed("zsh") {
        return;
    }
    let path = script("_portwho");
    let out = Command::new("zsh")
        .arg("-n")
        .arg(&path)
        .output()
        .expect("run zsh");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Loaded as zsh loads it from $fpath, the script registers the target function.
    let dir = path.parent().expect("completions/");
    let load = r#"fpath=("$1" $fpath); autoload -U compinit; compinit -u -D
        autoload -U _portwho; _portwho 2>/dev/null
        (( $+functions[_portwho_target] )) && print -r -- "$_comps[portwho]""#;
    let out = Command::new("zsh")
        .args(["-f", "-c", load, "zsh"])
        .arg(dir)
        .env("HOME", std::env::temp_dir())
        .output()
        .expect("run zsh");
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "_portwho",
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn fish_completes_options_and_service_names() {
    if !installed("fish") {
        return;
    }
    let path = script("portwho.fish");
    let out = Command::new("fish")
        .arg("--no-execute")
        .arg(&path)
        .output()
        .expect("run fish");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let complete = |line: &str| -> Vec<String> {
        let out = Command::new("fish")
            .args(["--no-config", "-c", "source $argv[1]; complete -C $argv[2]"])
            .arg(&path)
            .arg(line)
            .output()
            .expect("run fish");
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .map(|l| l.split('\t').next().unwrap_or("").to_string())
            .collect()
    };
    let options = complete("portwho --");
    for wanted in ["--listening", "--json", "--kill"] {
        assert!(options.iter().any(|o| o == wanted), "{wanted}: {options:?}");
    }
    assert!(!options.iter().any(|o| o == "--generate"), "{options:?}");
    assert_eq!(complete("portwho :postgr"), [":postgresql"]);
    assert_eq!(complete("portwho 127.0.0.1:redi"), ["127.0.0.1:redis"]);
}

/// Types `typed` and a Tab into an interactive `shell` on a pseudo-terminal (python3's pty
/// module drives it) and returns what the terminal showed once `expect` appeared, or after
/// ten seconds.
fn in_terminal(shell: &[&str], setup: &str, typed: &str, expect: &str) -> String {
    let driver = r#"
import os, pty, select, sys, time
shell, setup, typed, expect = sys.argv[1].split(), sys.argv[2], sys.argv[3], sys.argv[4]
pid, fd = pty.fork()
if pid == 0:
    os.execvpe(shell[0], shell, {"PATH": os.environ["PATH"], "TERM": "dumb", "HOME": os.environ["HOME"]})
seen = b""
def read_until(text, limit):
    global seen
    end = time.time() + limit
    while time.time() < end and text.encode() not in seen:
        if select.select([fd], [], [], 0.1)[0]:
            try:
                seen += os.read(fd, 65536)
            except OSError:
                break
os.write(fd, (setup + "; echo READY\n").encode())
read_until("READY\r\n", 10)
seen = b""
os.write(fd, (typed + "\t").encode())
read_until(expect, 10)
os.kill(pid, 9)
sys.stdout.write(seen.decode(errors="replace"))
"#;
    let home = std::env::temp_dir().join(format!("portwho-completion-{}", std::process::id()));
    std::fs::create_dir_all(&home).expect("a HOME for the shell");
    let out = Command::new("python3")
        .args(["-c", driver, &shell.join(" "), setup, typed, expect])
        .env("HOME", &home)
        .output()
        .expect("run python3");
    let _ = std::fs::remove_dir_all(&home);
    String::from_utf8_lossy(&out.stdout).into_owned()
}

#[test]
fn tab_completes_service_names_in_a_terminal() {
    if !installed("python3") {
        return;
    }
    let dir = script("").display().to_string();
    if installed("bash") {
        let setup = format!("PS1='$ '; source '{dir}/portwho.bash'");
        for (typed, expect) in [
            ("portwho :postgr", "portwho :postgresql "),
            ("portwho 127.0.0.1:redi", "portwho 127.0.0.1:redis "),
            ("portwho --lis", "portwho --listening "),
        ] {
            let shown = in_terminal(
                &["bash", "--norc", "--noprofile", "-i"],
                &setup,
                typed,
                expect,
            );
            assert!(shown.contains(expect), "bash, {typed:?}: {shown:?}");
        }
    }
    if installed("zsh") {
        let setup =
            format!("PS1='$ '; fpath=('{dir}' $fpath); autoload -U compinit; compinit -u -D");
        for (typed, expect) in [
            ("portwho :postgr", "portwho :postgresql "),
            ("portwho 127.0.0.1:redi", "portwho 127.0.0.1:redis "),
        ] {
            let shown = in_terminal(&["zsh", "-f", "-i"], &setup, typed, expect);
            assert!(shown.contains(expect), "zsh, {typed:?}: {shown:?}");
        }
    }
}
