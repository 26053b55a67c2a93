//! Signalling processes through pidfds, which pin a process, or kill(2) on kernels without.

use std::os::fd::OwnedFd;

use rustix::io::Errno;
use rustix::process::{Pid, PidfdFlags};

use crate::backend::{PinError, PinnedProcess, SignalError};
use crate::signal::Signal;

/// A pidfd: it refers to the process that had the pid when it was opened, for as long as
/// the fd lives. Once that process exits (even if its pid is handed to a new process),
/// `pidfd_send_signal` fails with ESRCH instead of reaching the newcomer.
struct PidFd(OwnedFd);

impl PinnedProcess for PidFd {
    fn signal(&self, signal: Signal) -> Result<(), SignalError> {
        rustix::process::pidfd_send_signal(&self.0, platform(signal)).map_err(signal_error)
    }
}

/// Open a pidfd for `pid`.
pub(crate) fn pin(pid: u32) -> Result<Box<dyn PinnedProcess>, PinError> {
    let pid = positive(pid).ok_or(PinError::Gone)?;
    match rustix::process::pidfd_open(pid, PidfdFlags::empty()) {
        Ok(fd) => Ok(Box::new(PidFd(fd))),
        Err(Errno::SRCH) => Err(PinError::Gone),
        // Linux before 5.3, or a seccomp filter that hides the call.
        Err(Errno::NOSYS) => Err(PinError::Unsupported),
        Err(e) => Err(PinError::Other(e.into())),
    }
}

/// kill(2) by pid number.
pub(crate) fn kill(pid: u32, signal: Signal) -> Result<(), SignalError> {
    let pid = positive(pid).ok_or(SignalError::Gone)?;
    rustix::process::kill_process(pid, platform(signal)).map_err(signal_error)
}

/// Only a positive pid names one process: kill(2) reads 0 and negative numbers as process
/// groups, and -1 as every process the caller may signal.
fn positive(pid: u32) -> Option<Pid> {
    i32::try_from(pid)
        .ok()
        .filter(|&p| p > 0)
        .and_then(Pid::from_raw)
}

fn signal_error(e: Errno) -> SignalError {
    match e {
        Errno::SRCH => SignalError::Gone,
        Errno::PERM => SignalError::Denied,
        e => SignalError::Other(e.into()),
    }
}

/// The platform's constant for a signal, chosen by name, so the number is always right
/// for the architecture portwho was built for.
fn platform(signal: Signal) -> rustix::process::Signal {
    use rustix::process::Signal as S;
    match signal {
        Signal::Hup => S::HUP,
        Signal::Int => S::INT,
        Signal::Quit => S::QUIT,
        Signal::Abrt => S::ABORT,
        Signal::Kill => S::KILL,
        Signal::Usr1 => S::USR1,
        Signal::Usr2 => S::USR2,
        Signal::Alrm => S::ALARM,
        Signal::Term => S::TERM,
    }
}

#[cfg(test)]
// The tests start a process to signal; portwho itself runs none (clippy.toml).
#[allow(clippy::disallowed_methods)]
mod tests {
    use super::*;

    #[test]
    fn numbers_match_this_platform() {
        for s in Signal::all() {
            assert_eq!(platform(s).as_raw(), s.number(), "{s}");
        }
    }

    #[test]
    fn no_process_groups_or_broadcasts() {
        assert!(positive(0).is_none());
        assert!(positive(u32::MAX).is_none(), "would be -1 as an i32");
        assert!(positive(1 << 31).is_none());
        assert_eq!(
            positive(42).map(Pid::as_raw_nonzero).map(|p| p.get()),
            Some(42)
        );
        assert!(matches!(kill(0, Signal::Term), Err(SignalError::Gone)));
        assert!(matches!(pin(u32::MAX), Err(PinError::Gone)));
    }

    #[test]
    fn pidfd_signals_a_live_child_and_reports_exit() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let pinned = pin(child.id()).unwrap();
        pinned.signal(Signal::Kill).unwrap();
        child.wait().unwrap();
        // Reaped: the pid is free for reuse, and the pidfd still refuses to reach anyone.
        assert!(matches!(
            pinned.signal(Signal::Kill),
            Err(SignalError::Gone)
        ));
    }
}
