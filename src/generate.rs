//! The command as parsing, help, man page and completions see it, built from `cli.rs`.

use std::io::{self, Write};

use clap::{Command, CommandFactory};
use clap_mangen::roff::{Roff, bold, italic, roman};

use crate::cli::{Cli, Generate};
use crate::label::services::ServiceTable;

/// `cli.rs`'s definition with the exit statuses from `exit.rs` ending `--help`. `cli.rs`
/// stays the bare clap definition, so the paragraph is added here, where every user of the
/// command gets it.
pub(crate) fn command() -> Command {
    let cmd = Cli::command();
    let examples = cmd
        .get_after_long_help()
        .map(ToString::to_string)
        .unwrap_or_default();
    cmd.after_long_help(format!("{examples}\n\n{}", crate::exit::help()))
}

/// Write what `--generate` asked for.
pub(crate) fn write(what: Generate, out: &mut dyn Write) -> io::Result<()> {
    let shell = match what {
        Generate::Man => return man(out),
        Generate::CompleteBash => clap_complete::Shell::Bash,
        Generate::CompleteZsh => clap_complete::Shell::Zsh,
        Generate::CompleteFish => clap_complete::Shell::Fish,
    };
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut completion_command(), "portwho", &mut script);
    let script = String::from_utf8(script).map_err(io::Error::other)?;
    let names = service_names();
    let script = match what {
        Generate::CompleteBash => bash_with_services(&script, &names),
        Generate::CompleteZsh => zsh_with_services(&script, &names),
        _ => Ok(fish_with_services(&script, &names)),
    }
    // clap_complete's output changed shape: fail loudly rather than ship a script whose
    // service completion silently went missing.
    .map_err(|what| io::Error::other(format!("cannot add service names: {what} not found")))?;
    out.write_all(script.as_bytes())
}

/// The CLI as completions see it: without the hidden options. clap_complete offers every
/// option, hidden or not, which would put --generate and --proc-root one Tab away.
fn completion_command() -> Command {
    let mut full = command();
    full.build();
    let hidden: Vec<&clap::Id> = full
        .get_arguments()
        .filter(|a| a.is_hide_set())
        .map(|a| a.get_id())
        .collect();
    // `build` added --help and --version; they are copied like every other option.
    let mut cmd = Command::new("portwho")
        .version(env!("CARGO_PKG_VERSION"))
        .disable_help_flag(true)
        .disable_version_flag(true);
    for arg in full.get_arguments().filter(|a| !a.is_hide_set()) {
        // A conflict with a hidden option would name an option the new command lacks.
        let conflicts: Vec<clap::Id> = full
            .get_arg_conflicts_with(arg)
            .into_iter()
            .map(|a| a.get_id().clone())
            .filter(|id| !hidden.contains(&id))
            .collect();
        cmd = cmd.arg(
            arg.clone()
                .conflicts_with(clap::builder::Resettable::<clap::Id>::Reset)
                .conflicts_with_all(conflicts),
        );
    }
    // clap's derive adds a group of every field, hidden ones included; nothing refers to it.
    for group in full
        .get_groups()
        .filter(|g| g.get_args().all(|id| !hidden.contains(&id)))
    {
        cmd = cmd.group(group.clone());
    }
    cmd
}

/// Service names a TARGET accepts as `:NAME`, from the built-in table only: completion
/// scripts are generated once, not per host. Names that are not TARGET syntax (IANA has a
/// few with '/' or '*') are left out.
fn service_names() -> Vec<String> {
    // Every name is in the table, so only the syntax is in question: a lookup that finds
    // everything keeps this from searching the table once per name.
    let found = |_: &str| vec![(crate::model::Proto::Tcp, 1)];
    ServiceTable::builtin()
        .names()
        .filter(|name| crate::target::parse(&format!(":{name}"), &found).is_ok())
        .map(str::to_string)
        .collect()
}

/// `words` joined by spaces into lines of at most `width` characters (a longer word gets
/// a line of its own), each line starting with `indent`.
fn wrapped(words: &[String], indent: &str, width: usize) -> String {
    let mut lines = Vec::new();
    let mut line = String::from(indent);
    for word in words {
        if line.len() > indent.len() && line.len() + 1 + word.len() > width {
            lines.push(std::mem::replace(&mut line, String::from(indent)));
        }
        if line.len() > indent.len() {
            line.push(' ');
        }
        line.push_str(word);
    }
    lines.push(line);
    lines.join("\n")
}

/// clap's bash script, with service names completing TARGET after ':' (`:postg`,
/// `127.0.0.1:postg`). A wrapper function answers such words and hands every other word to
/// clap's function.
fn bash_with_services(script: &str, names: &[String]) -> Result<String, &'static str> {
    const REGISTER: &str = "complete -F _portwho ";
    const VERSION_CHECK: &str = "if [[ \"${BASH_VERSINFO[0]}\" -eq 4";
    if script.matches(REGISTER).count() != 2 {
        return Err("bash's `complete -F _portwho`");
    }
    let (clap_fn, register) = script
        .split_once(VERSION_CHECK)
        .ok_or("bash's version check")?;
    Ok(format!(
        r#"{clap_fn}# Service names for TARGET after ':' (portwho :postg<Tab>), from portwho's table.
_portwho_target() {{
    # The word under the cursor as typed: bash splits `:postg` into `:` and `postg` when
    # ':' is in COMP_WORDBREAKS, as it is by default.
    local line="${{COMP_LINE:0:COMP_POINT}}"
    local word="${{line##*[[:space:]]}}"
    if [[ "${{word}}" != *:* || "${{word}}" == -* ]]; then
        _portwho "$@"
        return
    fi
    local names="
{names}"
    local name="${{word##*:}}" i
    COMPREPLY=( $(compgen -W "${{names}}" -- "${{name}}") )
    # Bash replaces what follows the last word-break character: without ':' among them,
    # the whole word.
    if [[ "${{COMP_WORDBREAKS}}" != *:* ]]; then
        for i in "${{!COMPREPLY[@]}}"; do
            COMPREPLY[i]="${{word%"${{name}}"}}${{COMPREPLY[i]}}"
        done
    fi
    return 0
}}

{VERSION_CHECK}{register}"#,
        names = wrapped(names, "", 100),
        register = register.replace(REGISTER, "complete -F _portwho_target "),
    ))
}

/// clap's zsh script, with TARGET completed by a function that offers service names after
/// ':' and clap's `_default` otherwise.
fn zsh_with_services(script: &str, names: &[String]) -> Result<String, &'static str> {
    const DISPATCH: &str = "if [ \"$funcstack[1]\" = \"_portwho\" ]; then";
    let target_line = script
        .lines()
        .find(|l| l.starts_with("'*::targets -- ") && l.ends_with(":_default' \\"))
        .ok_or("zsh's TARGET line")?;
    let (before, after) = script.split_once(DISPATCH).ok_or("zsh's dispatch")?;
    let before = before.replace(
        target_line,
        &target_line.replace(":_default' \\", ":_portwho_target' \\"),
    );
    Ok(format!(
        r#"{before}(( $+functions[_portwho_target] )) ||
_portwho_target() {{
    # Service names after ':' (portwho :postg<Tab>), from portwho's table.
    if compset -P '*:'; then
        local -a names
        names=(
{names}
        )
        _wanted services expl 'service name' compadd -a names
    else
        _default
    fi
}}

{DISPATCH}{after}"#,
        names = wrapped(names, "            ", 100)
    ))
}

/// clap's fish script, plus service names for a TARGET word with a ':'.
fn fish_with_services(script: &str, names: &[String]) -> String {
    format!(
        r#"{script}
# Service names after ':' (portwho :postg<Tab>), from portwho's table.
function __portwho_services
    set -l word (commandline -ct)
    printf '%s\n' (string replace -r '[^:]*$' '' -- $word)(string split ' ' -- '
{names}' | string match -v '')
end
complete -c portwho -n 'string match -q -- "*:*" (commandline -ct)' -f -a '(__portwho_services)'
"#,
        names = wrapped(names, "", 100)
    )
}

/// Sections a clap definition cannot carry, written once here: (term, description) pairs.
const TARGETS: &[(&str, &str)] = &[
    (":PORT, PORT", "that port, TCP and UDP"),
    ("LOW-HIGH", "every port in the range, both ends included"),
    ("ADDR:PORT, [IPV6]:PORT", "that local address and port"),
    (
        ":SERVICE",
        "a service name such as http or postgresql, from the built-in IANA table, \
         a few common unregistered names (redis, vite, jupyter) and /etc/services",
    ),
    ("TARGET/tcp, TARGET/udp", "one protocol only"),
];

const ENVIRONMENT: &[(&str, &str)] = &[
    (
        "NO_COLOR",
        "When set and not empty, no colour unless --color always asks for it.",
    ),
    (
        "PORTWHO_BPF",
        "How to find the processes that hold sockets: never, auto (the default, also when \
         unset or empty) or always. Run as root on a kernel with BTF (Linux 5.8 or later \
         built with CONFIG_DEBUG_INFO_BTF), portwho can read every process's open files \
         with a BPF task_file iterator that it loads for the run and that is unloaded when \
         it exits; the program only reads, and its output goes to portwho alone. It costs \
         about 2.5 ms to start and then reads files several times faster than the walk of \
         /proc/*/fd, and it also sees sockets held by a thread with an fd table of its own; \
         it tells each holder's name, parent, start, user and whether its executable was \
         deleted, so the table reads nothing more of those processes. \
         auto uses it when the host has at least 3000 open files (fs/file-nr), where it is \
         the quicker; always whenever it can be loaded; never walks /proc. Where it cannot \
         be loaded (not root, a kernel without BTF, a refusal), portwho walks /proc; -v says \
         which was used and why. Any other value is an error (exit 2).",
    ),
];

const KILL: &str = "--kill signals the processes that hold a listening socket (TCP LISTEN, UDP \
    bound) on the selected ports. Processes with only connections on or to the port, such as \
    a browser tab or a database client, are left alone unless --all is given. portwho never \
    signals pid 1, itself or its parent. Each process is opened as a pidfd first, then \
    checked to still hold the socket, then signalled through the pidfd, so a process that \
    exited in between (and any process that was given its pid) is never hit. On a terminal \
    portwho asks per process; elsewhere it needs --yes. It then waits up to --timeout \
    seconds until the port is free and says so, or names what still holds it.";

const JSON_FIELDS: &[(&str, &str)] = &[
    ("proto", "\"tcp\" or \"udp\""),
    ("family", "\"ipv4\" or \"ipv6\""),
    (
        "local_addr, local_port",
        "the local end; IPv6 addresses without brackets",
    ),
    (
        "remote_addr, remote_port",
        "the peer, or null for listening and unconnected sockets",
    ),
    (
        "state",
        "LISTEN, ESTABLISHED, SYN_SENT, SYN_RECV, FIN_WAIT1, FIN_WAIT2, TIME_WAIT, CLOSE, \
         CLOSE_WAIT, LAST_ACK, CLOSING; for UDP UNCONN or ESTABLISHED",
    ),
    ("uid", "the socket's owner as the kernel records it"),
    ("inode", "the socket inode (0 for TIME_WAIT)"),
    ("service", "the service name of the local port, or null"),
    (
        "category",
        "\"well-known\" (0-1023), \"registered\" (1024-49151) or \"dynamic\" (49152-65535)",
    ),
    (
        "ephemeral",
        "whether the port lies in this host's ephemeral range (ip_local_port_range)",
    ),
    (
        "v6only",
        "for IPv6 sockets, whether IPV6_V6ONLY is set (false: a dual-stack socket that \
         takes IPv4 too); null when unknown",
    ),
    (
        "exposure, interface",
        "\"loopback\" (127.0.0.0/8, ::1), \"all\" (0.0.0.0, ::) or \"address\" (one \
         address, with its interface name)",
    ),
    (
        "findings",
        "audit findings for listening sockets: severity (high, medium, low), code, message",
    ),
    (
        "processes",
        "every process holding the socket: pid, name, cmdline (the argument vector), \
         user, uid, ppid, exe, exe_deleted, cwd, start_time (RFC 3339), unit (systemd), \
         container (runtime, id, pod uid, and name and image from the runtime's state), \
         proxy (where a docker-proxy forwards); empty for TIME_WAIT or when the owner is \
         hidden (stderr says so)",
    ),
    (
        "netns",
        "the network namespace the socket lives in: {\"inode\", \"name\"}, name being its \
         ip netns name or null; inode null where unknown (a copied proc tree)",
    ),
    (
        "container",
        "the container whose namespace it is, from the runtime's state on disk: runtime, \
         id, name, image, and Kubernetes' pod and namespace; null for the host's own \
         namespace and plain ip netns ones",
    ),
    (
        "published",
        "for a listener inside a container: the host ports that reach it, each with \
         proto, host_addr (null: every address), host_port and via (docker-proxy, or \
         runtime when only the runtime's record says so)",
    ),
    (
        "forward",
        "for a docker-proxy's socket on the host: where the port really goes (proto, \
         to_addr, to_port, via) and who answers there (netns, container, processes); null \
         otherwise",
    ),
    (
        "firewall",
        "for a listening socket not bound to loopback: what the nftables ruleset does with a \
         new connection from another host: verdict (accept, drop, reject, conditional: only \
         for some sources, interfaces or rates; unknown: not root, legacy iptables, or a rule \
         portwho does not evaluate), rule (family, table, chain, handle, text; null for no \
         rules) and reason; null for loopback-bound sockets",
    ),
];

const FIREWALL: &str = "portwho reads the kernel's nftables ruleset over netlink (which covers \
     nft, iptables-nft, ufw, firewalld and docker), never by running nft or iptables, and \
     walks every base chain on the input hook in priority order, following jumps, skipping \
     established/related and iif lo rules, to say what a new connection from another host \
     meets. --audit reports a listener the firewall drops or rejects one severity lower. \
     --forwards lists the DNAT and REDIRECT rules of the prerouting and output hooks and the \
     docker-proxy processes, with where each goes and who listens there; a port with no \
     socket but a forward is not called free. Reading the ruleset needs root \
     (CAP_NET_ADMIN); legacy iptables (ip_tables) rules are not in nftables, so verdicts are \
     then unknown. With --netns, each namespace's own ruleset is read.";

const CONTAINERS: &str = "ss, netstat and lsof see only their own network namespace, so \
     a port published by a container shows at most a docker-proxy. portwho reads the \
     container runtimes' state on disk (docker's /var/lib/docker/containers, containerd's \
     task bundles for Kubernetes, podman's storage), never a daemon or a CLI: a \
     docker-proxy's card then says which container the port goes to, its image, the \
     process listening inside, and 'docker stop NAME'. --netns all reads every namespace \
     on the host (those of all processes, /run/netns and docker's), each once, through a \
     thread that enters it (root), or else a member process's /proc/PID/net; one walk of \
     every process's fds finds the holders in all of them. A TARGET free in the caller's \
     namespace but held in another gets a diagnosis naming that namespace and container. \
     Namespaces that cannot be read (not root) are counted on stderr.";

const MONITORING: &str = "--prometheus prints the selection (by default the listening \
     sockets) in Prometheus' text exposition format: portwho_socket_listening, one series per \
     listening socket with the labels proto, family, addr, port, service, process (a forked \
     server's master), user, exposure and netns (host for portwho's own namespace); \
     portwho_sockets by state and protocol; portwho_findings by severity (as --audit judges \
     them, one lower where the firewall closes the port); \
     portwho_hidden_owners; portwho_last_run_timestamp_seconds and \
     portwho_scrape_duration_seconds. It exits 0 once they are written. With --output \
     /var/lib/prometheus/node-exporter/portwho.prom, node_exporter's textfile collector \
     serves them: the file is written beside its final name, synced, then renamed over it, \
     so the collector never reads half of one. The Debian package installs \
     portwho-prometheus.service and portwho-prometheus.timer, which run exactly that every \
     minute; they are disabled until systemctl enable --now portwho-prometheus.timer. \
     --jsonl prints --json's records one object a line for log pipelines (--diff: a change \
     a line with \"change\"; --free: {\"port\": N}). --watch keeps running and prints the \
     sockets that opened and closed every SECS seconds (default 2), one line each or one JSON \
     object {\"event\", \"time\", ...record} with --jsonl; the first look prints nothing, \
     only what changes after it. Only sockets not seen before are looked into, so a quiet \
     host costs one netlink dump per look. SIGINT or SIGTERM end it with status 0.";

const EXAMPLES: &[(&str, &str)] = &[
    ("portwho", "What is listening on this host."),
    (
        "portwho :8080",
        "Who holds port 8080, in any state, listeners first.",
    ),
    (
        "portwho -q :8080 && echo busy",
        "Ask in a script; the exit status answers.",
    ),
    ("portwho --all -t -4", "Every IPv4 TCP socket."),
    (
        "portwho --audit --fail-on medium",
        "What this host exposes that needs a look; exit status 3 on a finding at or above medium.",
    ),
    (
        "portwho --listening --json > baseline.json; portwho --diff baseline.json",
        "Record today's listeners, later show what is new, gone or held by another program.",
    ),
    (
        "portwho -c nginx -U www-data",
        "What nginx holds as www-data.",
    ),
    (
        "sudo portwho --netns all",
        "Every namespace's listeners, with the container each one belongs to.",
    ),
    (
        "portwho --netns blue :53/udp",
        "Who holds port 53 in the ip netns namespace named blue.",
    ),
    (
        "sudo portwho --forwards",
        "The port forwards: DNAT and REDIRECT rules and docker-proxy, and who answers behind them.",
    ),
    (
        "portwho --json | jq '.[] | select(.category == \"well-known\")'",
        "Machine output for scripts.",
    ),
    (
        "sudo portwho --prometheus --output /var/lib/prometheus/node-exporter/portwho.prom",
        "Metrics for node_exporter's textfile collector, replaced atomically.",
    ),
    (
        "sudo portwho --watch --jsonl",
        "Every 2 seconds, the sockets that opened and closed, one JSON object a line.",
    ),
    (
        "portwho --kill :8080",
        "Stop whatever listens on 8080 (asking first), and wait until the port is free.",
    ),
    (
        "portwho --kill --yes --signal KILL 127.0.0.1:8080/tcp",
        "The same without asking, with SIGKILL, for one address and protocol.",
    ),
    (
        "portwho --free 8000 --count 3",
        "Three unused TCP ports from 8000 on, outside the ephemeral range.",
    ),
    (
        "portwho --wait-listen :5432 --timeout 30 && psql",
        "Start the client once the database listens.",
    ),
];

/// The man page's date: when its text last changed. A fixed string, so the checked-in page
/// stays what `--generate man` prints; without one, clap_mangen's empty date moves the
/// version into the date field of `.TH`.
const MAN_DATE: &str = "2026-12-06";

fn man(out: &mut dyn Write) -> io::Result<()> {
    let man = clap_mangen::Man::new(command())
        .title("PORTWHO")
        .section("1")
        .date(MAN_DATE)
        .manual("User Commands");
    man.render_title(out)?;
    man.render_name_section(out)?;
    man.render_synopsis_section(out)?;
    man.render_description_section(out)?;
    man.render_options_section(out)?;

    let mut roff = Roff::new();
    tagged(&mut roff, "TARGETS", TARGETS);
    roff.control("SH", ["OUTPUT"]).text([roman(
        "A table with one row per socket: protocol, local address and port, peer (when any \
         row has one), state, exposure, service, range, and the processes holding it as \
         PID/NAME, with the user. With a TARGET, an owner card follows for each process \
         (command, executable, working directory, start time, parents, systemd unit or \
         container, how to stop it), then a diagnosis of the port: free and who may bind \
         it, only TIME_WAIT left, blocked on every address by a 0.0.0.0 or dual-stack :: \
         listener, inside the ephemeral range, owner hidden. Workers of one server are grouped as PID,PID/NAME. (eph) marks a \
         port inside this host's ephemeral range; (hidden) an owner that could not be read \
         (run as root). Names and command lines are printed with control characters \
         escaped. Colour is used only on a terminal and never with NO_COLOR set; on a \
         terminal, the widest cells are cut to fit.",
    )]);
    roff.control("SH", ["CONTAINERS AND NETWORK NAMESPACES"])
        .text([roman(CONTAINERS)]);
    roff.control("SH", ["FIREWALL AND FORWARDS"])
        .text([roman(FIREWALL)]);
    roff.control("SH", ["STOPPING A PORT'S HOLDER"])
        .text([roman(KILL)]);
    crate::exit::man(&mut roff);
    roff.control("SH", ["JSON OUTPUT"]).text([roman(
        "With --json, stdout holds one JSON array with one object per socket, and nothing \
         else. Field names and value spellings are fixed; new fields may be added.",
    )]);
    for (field, text) in JSON_FIELDS {
        roff.control("TP", [] as [&str; 0])
            .text([bold(*field)])
            .text([roman(*text)]);
    }
    roff.control("SH", ["MONITORING"]).text([roman(MONITORING)]);
    roff.control("SH", ["EXAMPLES"]);
    for (command, text) in EXAMPLES {
        roff.control("TP", [] as [&str; 0])
            .text([bold(*command)])
            .text([roman(*text)]);
    }
    tagged(&mut roff, "ENVIRONMENT", ENVIRONMENT);
    roff.control("SH", ["SEE ALSO"]).text([
        italic("ss"),
        roman("(8), "),
        italic("lsof"),
        roman("(8), "),
        italic("netstat"),
        roman("(8), "),
        italic("fuser"),
        roman("(1), "),
        italic("services"),
        roman("(5)"),
    ]);
    roff.to_writer(out)?;
    man.render_version_section(out)
}

fn tagged(roff: &mut Roff, title: &str, items: &[(&str, &str)]) {
    roff.control("SH", [title]);
    for (term, text) in items {
        roff.control("TP", [] as [&str; 0])
            .text([bold(*term)])
            .text([roman(*text)]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn completions_offer_the_service_names_targets_accept() {
        let names = service_names();
        for wanted in ["http", "https", "postgresql", "redis", "vite", "grafana"] {
            assert!(names.iter().any(|n| n == wanted), "{wanted}");
        }
        let table = ServiceTable::builtin();
        let left_out: Vec<&str> = table
            .names()
            .filter(|n| !names.iter().any(|m| m == n))
            .collect();
        assert!(
            left_out.iter().all(|n| n.contains(['/', '*'])),
            "{left_out:?}"
        );
    }
}
