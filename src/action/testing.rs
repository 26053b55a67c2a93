//! A prompt and a clock for the actions' unit tests, and a way to run an action on them.

use std::cell::Cell;
use std::collections::VecDeque;
use std::io;
use std::time::{Duration, Instant};

use super::{Clock, Context, Guard, Prompt};
use crate::backend::fake::FakeBackend;
use crate::messages::Messages;

/// What an action printed, asked and slept when run against the fakes.
pub(crate) struct Ran<T> {
    pub result: T,
    pub out: String,
    pub err: String,
    pub questions: Vec<String>,
    pub slept: Duration,
}

/// Run `action` in a context of `fake`, a prompt answering `answers`, and a fake clock.
pub(crate) fn run_with_fakes<T>(
    fake: &FakeBackend,
    answers: &[bool],
    guard: Guard,
    action: impl FnOnce(&mut Context) -> T,
) -> Ran<T> {
    let mut prompt = FakePrompt::new(answers);
    let clock = FakeClock::new();
    let (mut out, mut err) = (Vec::new(), Vec::new());
    let mut messages = Messages::new(&mut err, false);
    let mut cx = Context {
        backend: fake,
        prompt: &mut prompt,
        clock: &clock,
        guard,
        out: &mut out,
        messages: &mut messages,
    };
    let result = action(&mut cx);
    drop(messages);
    Ran {
        result,
        out: String::from_utf8_lossy(&out).into_owned(),
        err: String::from_utf8_lossy(&err).into_owned(),
        questions: prompt.questions,
        slept: clock.slept(),
    }
}

/// Answers from a script; "no" once it runs out.
pub(crate) struct FakePrompt {
    answers: VecDeque<bool>,
    pub questions: Vec<String>,
}

impl FakePrompt {
    pub(crate) fn new(answers: &[bool]) -> FakePrompt {
        FakePrompt {
            answers: answers.iter().copied().collect(),
            questions: Vec::new(),
        }
    }
}

impl Prompt for FakePrompt {
    fn confirm(&mut self, question: &str) -> io::Result<bool> {
        self.questions.push(question.to_string());
        Ok(self.answers.pop_front().unwrap_or(false))
    }
}

/// Time that passes only when slept.
pub(crate) struct FakeClock {
    start: Instant,
    slept: Cell<Duration>,
}

impl FakeClock {
    pub(crate) fn new() -> FakeClock {
        FakeClock {
            start: Instant::now(),
            slept: Cell::new(Duration::ZERO),
        }
    }

    pub(crate) fn slept(&self) -> Duration {
        self.slept.get()
    }
}

impl Clock for FakeClock {
    fn now(&self) -> Instant {
        self.start + self.slept.get()
    }

    fn sleep(&self, duration: Duration) {
        self.slept.set(self.slept.get() + duration);
    }
}
