//! Long machine output made on two threads and written in order: `render::Split` for a
//! listing, outside the pure layers because it starts a thread.
//!
//! A listing of 10 000 sockets is 10 MB of JSON: labelling each row and serializing it
//! took as long as all the reading before it, on one core of two. The rows are cut into
//! parts of `render::PART`; this thread and another each take the next part not yet taken,
//! and this one writes the parts in their order as they are done. At most a few parts wait
//! to be written, so the output is never held whole in memory.

use std::collections::BTreeMap;
use std::io::{self, Write};
use std::sync::{Condvar, Mutex, PoisonError};

use crate::render::{InOrder, MakePart, Split, part, parts};

/// Below this many parts one thread writes them all: starting another costs more than it
/// saves.
const SPLIT_FROM: usize = 4;

/// How many parts may be taken ahead of the one to be written next: what is held in
/// memory at most.
const AHEAD: usize = 8;

/// This thread and one more, as the owner scan and the details reading use two: on the
/// two cores portwho is measured on, more are no faster.
pub(crate) struct TwoThreads;

impl Split for TwoThreads {
    fn threads(&self) -> usize {
        2
    }

    fn write(&self, rows: usize, make: &MakePart, out: &mut dyn Write) -> io::Result<()> {
        let count = parts(rows);
        if count < SPLIT_FROM {
            return InOrder.write(rows, make, out);
        }
        let shared = Shared {
            rows,
            count,
            queue: Mutex::new(Queue::default()),
            changed: Condvar::new(),
        };
        std::thread::scope(|scope| {
            scope.spawn(|| {
                // Should `make` panic there, the writing here must not wait for its part.
                let _gone = Gone(&shared);
                // A part the other thread could not make is handed over as the error it met.
                while let Some((index, range, mut buf)) = shared.take() {
                    let made = make(1, range, &mut buf).map(|()| buf);
                    shared.done(index, made);
                }
            });
            let result = shared.write(make, out);
            // Whatever happened here, the other thread must stop taking parts.
            shared.stop();
            result
        })
    }
}

/// What both threads share: which parts are taken, and those made but not yet written.
struct Shared {
    rows: usize,
    count: usize,
    queue: Mutex<Queue>,
    changed: Condvar,
}

#[derive(Default)]
struct Queue {
    /// The next part to take.
    taken: usize,
    /// The next part to write.
    written: usize,
    /// Parts made, by index, waiting for those before them.
    made: BTreeMap<usize, io::Result<Vec<u8>>>,
    /// Buffers written, for reuse.
    spare: Vec<Vec<u8>>,
    /// The writing stopped: take nothing more.
    stopped: bool,
    /// The other thread ended.
    gone: bool,
}

/// Says, when the other thread ends however it ends, that it is gone.
struct Gone<'a>(&'a Shared);

impl Drop for Gone<'_> {
    fn drop(&mut self) {
        self.0.lock().gone = true;
        self.0.changed.notify_all();
    }
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The other thread's next part, waiting while it is too far ahead of the writing;
    /// `None` when there is nothing left to take.
    fn take(&self) -> Option<(usize, std::ops::Range<usize>, Vec<u8>)> {
        let mut queue = self.lock();
        loop {
            if queue.stopped || queue.taken == self.count {
                return None;
            }
            if queue.taken < queue.written + AHEAD {
                return Some(self.claim(&mut queue));
            }
            queue = self
                .changed
                .wait(queue)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }

    /// Take the next part, with a buffer for it.
    fn claim(&self, queue: &mut Queue) -> (usize, std::ops::Range<usize>, Vec<u8>) {
        let index = queue.taken;
        queue.taken += 1;
        let range = part(self.rows, index);
        let mut buf = queue.spare.pop().unwrap_or_default();
        buf.clear();
        (index, range, buf)
    }

    fn done(&self, index: usize, made: io::Result<Vec<u8>>) {
        self.lock().made.insert(index, made);
        self.changed.notify_all();
    }

    fn stop(&self) {
        self.lock().stopped = true;
        self.changed.notify_all();
    }

    /// This thread's part of the work: write each part in order once it is made, and
    /// make the next one untaken rather than wait.
    fn write(&self, make: &MakePart, out: &mut dyn Write) -> io::Result<()> {
        let count = self.count;
        let mut queue = self.lock();
        while queue.written < count {
            let next = queue.written;
            if let Some(made) = queue.made.remove(&next) {
                queue.written += 1;
                drop(queue);
                let buf = made?;
                out.write_all(&buf)?;
                queue = self.lock();
                queue.spare.push(buf);
                // The other thread may have waited for room ahead.
                self.changed.notify_all();
            } else if queue.taken < count && queue.taken < queue.written + AHEAD {
                let (index, range, mut buf) = self.claim(&mut queue);
                drop(queue);
                let made = make(0, range, &mut buf).map(|()| buf);
                queue = self.lock();
                queue.made.insert(index, made);
            } else if queue.gone && queue.taken > next {
                // It took this part and ended without making it: it panicked.
                return Err(io::Error::other("the second writing thread stopped"));
            } else {
                queue = self
                    .changed
                    .wait(queue)
                    .unwrap_or_else(PoisonError::into_inner);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::PART;
    use std::sync::atomic::{AtomicUsize, Ordering};

    /// Each row as its number and a newline, by `split`.
    fn numbers(split: &dyn Split, rows: usize) -> String {
        let mut out = Vec::new();
        let make = |_, range, buf: &mut Vec<u8>| {
            for i in range {
                writeln!(buf, "{i}")?;
            }
            Ok(())
        };
        split.write(rows, &make, &mut out).unwrap();
        String::from_utf8(out).unwrap()
    }

    #[test]
    fn every_row_is_written_once_in_order() {
        let four = SPLIT_FROM * PART;
        for rows in [
            0,
            1,
            PART - 1,
            PART,
            PART + 1,
            four - 1,
            four,
            four + 1,
            50 * PART + 3,
        ] {
            let expected: String = (0..rows).map(|i| format!("{i}\n")).collect();
            assert_eq!(numbers(&TwoThreads, rows), expected, "{rows} rows");
            assert_eq!(numbers(&InOrder, rows), expected, "{rows} rows in order");
        }
    }

    #[test]
    fn parts_cover_the_rows_and_no_rows_is_one_empty_part() {
        assert_eq!((parts(0), part(0, 0)), (1, 0..0));
        assert_eq!((parts(PART), part(PART, 0)), (1, 0..PART));
        assert_eq!((parts(PART + 1), part(PART + 1, 1)), (2, PART..PART + 1));
    }

    #[test]
    fn an_error_on_either_thread_is_returned() {
        // Enough parts that the other thread makes some of them, whichever fails.
        let rows = 40 * PART;
        for bad in (0..rows).step_by(PART) {
            let mut out = Vec::new();
            let make = |_, range: std::ops::Range<usize>, buf: &mut Vec<u8>| {
                if range.contains(&bad) {
                    return Err(io::Error::other("bad row"));
                }
                buf.extend_from_slice(b"x");
                Ok(())
            };
            let result = TwoThreads.write(rows, &make, &mut out);
            assert_eq!(result.unwrap_err().to_string(), "bad row", "row {bad}");
            // Nothing after the part that failed.
            assert_eq!(out.len(), bad / PART, "row {bad}");
        }
    }

    /// A writer that fails after `left` bytes, as a closed pipe does.
    struct Closing {
        left: usize,
    }

    impl Write for Closing {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            if self.left == 0 {
                return Err(io::ErrorKind::BrokenPipe.into());
            }
            let n = buf.len().min(self.left);
            self.left -= n;
            Ok(n)
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn a_failed_write_stops_both_threads() {
        let made = AtomicUsize::new(0);
        let make = |_, _, buf: &mut Vec<u8>| {
            made.fetch_add(1, Ordering::Relaxed);
            buf.extend_from_slice(&[b'x'; 10]);
            Ok(())
        };
        let result = TwoThreads.write(100 * PART, &make, &mut Closing { left: 25 });
        assert_eq!(result.unwrap_err().kind(), io::ErrorKind::BrokenPipe);
        // The third part's write failed; at most a few parts were made ahead of it.
        assert!(made.into_inner() <= 3 + AHEAD + 1);
    }

    #[test]
    fn a_panic_on_the_other_thread_is_not_waited_for() {
        let make = |thread, _, buf: &mut Vec<u8>| {
            assert_eq!(thread, 0, "the other thread");
            // Slow here, so that the other thread surely takes a part.
            std::thread::sleep(std::time::Duration::from_millis(1));
            buf.push(b'x');
            Ok(())
        };
        // The scope re-raises the other thread's panic once both have ended: that it
        // comes back at all is the test (a wait for the lost part would never end).
        let result =
            std::panic::catch_unwind(|| TwoThreads.write(100 * PART, &make, &mut io::sink()));
        assert!(result.is_err());
    }
}
