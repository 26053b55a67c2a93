//! The only writer of `portwho: ` lines on stderr: notes, warnings and errors, escaped.

use std::collections::HashSet;
use std::io::Write;

use crate::model::{NotEntered, Owners, ScanStats, Warning};
use crate::text::{escape, plural};

/// stderr, for everything that is not the answer.
pub(crate) struct Messages<'a> {
    err: &'a mut dyn Write,
    /// Warnings already said: a wait reads the table every round, and says each once.
    said: HashSet<Warning>,
    verbose: bool,
}

impl<'a> Messages<'a> {
    pub(crate) fn new(err: &'a mut dyn Write, verbose: bool) -> Messages<'a> {
        Messages {
            err,
            said: HashSet::new(),
            verbose,
        }
    }

    /// One line. Everything in it is escaped: notes carry process names, paths and error
    /// texts that other programs chose. stderr going away is no reason to fail an answer
    /// already on stdout, or to stop an action half done.
    pub(crate) fn note(&mut self, text: &str) {
        let _ = writeln!(self.err, "portwho: {}", escape(text));
    }

    /// Each warning once; those about how, not what, was read only with `-v`.
    pub(crate) fn warnings(&mut self, warnings: &[Warning]) {
        for warning in warnings {
            if (self.verbose || !warning.verbose_only()) && self.said.insert(warning.clone()) {
                self.note(&warning_text(warning));
            }
        }
    }

    pub(crate) fn verbose(&self) -> bool {
        self.verbose
    }
}

/// The one line an error ends a run with, on the real stderr.
pub fn error(text: &str) {
    Messages::new(&mut std::io::stderr().lock(), false).note(text);
}

fn warning_text(warning: &Warning) -> String {
    match warning {
        Warning::MalformedLines { path, count } => format!(
            "skipped {} in {}",
            plural(*count, "malformed line", "malformed lines"),
            path.display()
        ),
        Warning::UnknownStates { count } => format!(
            "skipped {} in a state this version does not know",
            plural(*count, "socket", "sockets")
        ),
        Warning::NamespacesNotRead { count, why } => {
            let what = plural(*count, "network namespace", "network namespaces");
            match why {
                NotEntered::NotPermitted => format!(
                    "{what} not read: entering another namespace needs root; run as root: sudo portwho --netns ..."
                ),
                NotEntered::Vanished => format!("{what} went away while being read"),
                NotEntered::Failed(reason) => format!("{what} not read: {reason}"),
            }
        }
        Warning::NamespacesUnknown { processes } => format!(
            "the network namespaces of {} could not be told (permission denied): theirs may be missing",
            plural(*processes, "process", "processes")
        ),
        Warning::ContainerStateUnreadable { count } => format!(
            "skipped {} of container runtimes that could not be read",
            plural(*count, "state file", "state files")
        ),
        Warning::ContainerStateDenied => "containers are not named: only root may read the container runtimes' state; run as root: sudo portwho ...".to_string(),
        Warning::NetlinkRefused { reason } => {
            format!("netlink unavailable ({reason}); read the /proc/net tables instead")
        }
    }
}

/// Why a listing shows sockets without owners.
pub(crate) fn hidden_owners(sockets: usize, stats: &ScanStats, privileged: bool) -> String {
    let hint = if privileged {
        "even root may not read every fd (a hardened kernel or another namespace)"
    } else {
        "run as root to see them: sudo portwho ..."
    };
    let denied = || {
        format!(
            "{} could not be read (permission denied)",
            plural(stats.denied, "process", "processes")
        )
    };
    let why = match (stats.others_invisible, stats.denied) {
        (true, 0) => "/proc is mounted with hidepid=invisible, which hides other users' processes"
            .to_string(),
        (true, _) => format!(
            "/proc is mounted with hidepid=invisible, which hides other users' processes, and {}",
            denied()
        ),
        (false, _) => denied(),
    };
    format!(
        "owners of {} hidden: {why}; {hint}",
        plural(sockets, "socket", "sockets"),
    )
}

/// Why `--kill` cannot tell whom to signal.
pub(crate) fn hidden_from_kill(sockets: usize, privileged: bool) -> String {
    let hint = if privileged {
        "even root cannot read every process here"
    } else {
        "run as root: sudo portwho --kill ..."
    };
    format!(
        "cannot see who holds {}: {hint}",
        plural(sockets, "socket", "sockets")
    )
}

/// `-v`: how the owners were found.
pub(crate) fn scan_summary(owners: &Owners, vanished_details: usize) -> String {
    let stats = &owners.stats;
    if stats.kernel_iterator {
        return format!(
            "scanned the fds of every process with the kernel's task_file iterator (BPF): \
             {} hold sockets; {} exited before their details were read",
            stats.processes, vanished_details
        );
    }
    format!(
        "scanned the fds of {} processes; {} denied, {} exited during the scan{}{}",
        stats.processes,
        stats.denied,
        stats.vanished + vanished_details,
        if stats.others_invisible {
            "; other users' processes are not listed (hidepid=invisible)"
        } else {
            ""
        },
        match &owners.walked_because {
            Some(why) => format!("; through /proc, not the kernel's iterator: {why}"),
            None => String::new(),
        }
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_escaped_and_warnings_said_once() {
        let mut err = Vec::new();
        let mut messages = Messages::new(&mut err, false);
        messages.note("4242 evil\x1b[2J (alice)");
        let skipped = Warning::UnknownStates { count: 1 };
        let refused = Warning::NetlinkRefused {
            reason: "denied".into(),
        };
        messages.warnings(&[skipped.clone(), refused.clone()]);
        messages.warnings(&[skipped]);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "portwho: 4242 evil\\x1b[2J (alice)\n\
             portwho: skipped 1 socket in a state this version does not know\n"
        );
        let mut err = Vec::new();
        Messages::new(&mut err, true).warnings(&[refused]);
        assert_eq!(
            String::from_utf8(err).unwrap(),
            "portwho: netlink unavailable (denied); read the /proc/net tables instead\n"
        );
    }

    #[test]
    fn warnings_in_words() {
        assert_eq!(
            warning_text(&Warning::MalformedLines {
                path: "/proc/net/tcp".into(),
                count: 2
            }),
            "skipped 2 malformed lines in /proc/net/tcp"
        );
    }
}
