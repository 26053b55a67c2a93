//! Details read while the owner scan still runs. The kernel's iterator walks every fd
//! table inside one `read` after another on one thread, and the other core waits; each
//! holder it names goes into this queue, from which a second thread reads the details
//! that will be asked for. What is left when the scan ends is shared by both threads.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, MutexGuard, PoisonError};

use super::bpf::program::Task;
use super::process::Seen;
use crate::model::Process;

/// Holders named by the scan and not yet taken by a reader.
#[derive(Default)]
pub(crate) struct Queue {
    state: Mutex<State>,
    more: Condvar,
}

#[derive(Default)]
struct State {
    pending: VecDeque<(u32, Task)>,
    /// The scan ended: nothing more will come.
    closed: bool,
}

impl Queue {
    fn state(&self) -> MutexGuard<'_, State> {
        // A reader that panicked holds nothing the others need to distrust.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A holder to read.
    pub(crate) fn push(&self, pid: u32, task: Task) {
        self.state().pending.push_back((pid, task));
        self.more.notify_one();
    }

    /// Closes the queue when dropped, however the scan ended (an error, a panic): the
    /// readers then stop waiting.
    pub(crate) fn closing(&self) -> Closing<'_> {
        Closing(self)
    }

    /// The next holder, waiting for one while the scan goes on; `None` once it has ended
    /// and none is left.
    fn next(&self) -> Option<(u32, Task)> {
        let mut state = self.state();
        loop {
            if let Some(next) = state.pending.pop_front() {
                return Some(next);
            }
            if state.closed {
                return None;
            }
            state = self
                .more
                .wait(state)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Read holders with `read` until the queue is closed and empty.
    pub(crate) fn drain(
        &self,
        read: impl Fn(u32, &Task, &mut Seen) -> Option<Process>,
    ) -> Vec<(u32, Option<Process>)> {
        let mut seen = Seen::default();
        let mut read_here = Vec::new();
        while let Some((pid, task)) = self.next() {
            read_here.push((pid, read(pid, &task, &mut seen)));
        }
        read_here
    }
}

pub(crate) struct Closing<'a>(&'a Queue);

impl Drop for Closing<'_> {
    fn drop(&mut self) {
        self.0.state().closed = true;
        self.0.more.notify_all();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn task(ppid: u32) -> Task {
        Task {
            ppid,
            ..Task::default()
        }
    }

    fn read(pid: u32, task: &Task, _: &mut Seen) -> Option<Process> {
        (pid % 7 != 0).then(|| Process {
            pid,
            ppid: Some(task.ppid),
            ..Process::default()
        })
    }

    /// Every holder pushed is read once, by one thread or the other, while the pushing
    /// goes on and after it ends; one that exited is `None`.
    #[test]
    fn every_holder_is_read_once() {
        let queue = Queue::default();
        let (mut all, theirs) = std::thread::scope(|scope| {
            let other = scope.spawn(|| queue.drain(read));
            {
                let _closing = queue.closing();
                for pid in 1..=500 {
                    queue.push(pid, task(pid + 1));
                    if pid % 100 == 0 {
                        std::thread::sleep(std::time::Duration::from_millis(2));
                    }
                }
            }
            let mine = queue.drain(read);
            let theirs = other.join().unwrap();
            (mine, theirs)
        });
        assert!(!theirs.is_empty());
        all.extend(theirs);
        all.sort_unstable_by_key(|(pid, _)| *pid);
        assert_eq!(all.len(), 500);
        for (i, (pid, process)) in all.iter().enumerate() {
            assert_eq!(*pid as usize, i + 1);
            match process {
                Some(p) => assert_eq!(p.ppid, Some(pid + 1)),
                None => assert_eq!(pid % 7, 0),
            }
        }
    }

    /// A scan that fails or panics still closes the queue: the reader does not wait on.
    #[test]
    fn a_scan_that_panics_closes_the_queue() {
        let queue = Queue::default();
        let read_there = std::thread::scope(|scope| {
            let other = scope.spawn(|| queue.drain(read));
            let scan = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let _closing = queue.closing();
                queue.push(1, task(0));
                panic!("the scan failed");
            }));
            assert!(scan.is_err());
            other.join().unwrap()
        });
        assert!(read_there.len() <= 1);
        assert!(queue.drain(read).len() + read_there.len() == 1);
    }
}
