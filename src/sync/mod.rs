//! The private synchronisation facade: every lock, condition variable, atomic, `Arc` and clock
//! reading of the crate comes from here and from nowhere else.
//!
//! Normally the mutex and condvar are the standard library's and the read-write lock is
//! `parking_lot`'s ([`std`](self::imp)); compiled with `RUSTFLAGS="--cfg taskq_loom"` they are
//! loom's, so that the model checks in `loom-tests/` explore every interleaving of the very code
//! users run. The API is the intersection of the two: guards are passed to `Condvar::wait*` by
//! value and handed back, as loom requires.
//!
//! Time goes through [`Clock`] (system or manual) and [`Deadline`]. loom does not model time, so
//! under loom a finite deadline on the *system* clock counts as passed as soon as it is asked (a
//! timed operation tries once and never sleeps, one legal schedule of a real timeout). A
//! [`ManualClock`]'s time is a loom atomic there: a deadline on it passes when a thread of the
//! model advances the clock, and a timed wait is an untimed one that the timer thread ends by
//! waking the sleepers (`Queue::wake_sleepers`), so loom interleaves the timeout with everything
//! else.

mod clock;
#[cfg(taskq_loom)]
#[path = "loom.rs"]
mod imp;
#[cfg(not(taskq_loom))]
#[path = "std.rs"]
mod imp;

pub use clock::{Clock, ManualClock};

use crate::mutant::mutant;
pub(crate) use imp::*;

use std::time::{Duration, Instant};

/// When a blocking operation gives up.
#[derive(Debug, Clone, Copy)]
pub enum Deadline<'c> {
    /// Do not wait at all (the `try_*` operations).
    Now,
    /// Wait as long as it takes.
    Never,
    /// Give up once `clock` reads this instant.
    At(Instant, &'c Clock),
}

impl<'c> Deadline<'c> {
    /// `None` waits forever; so does a timeout too large to add to the clock (`Duration::MAX`).
    pub(crate) fn after(timeout: Option<Duration>, clock: &'c Clock) -> Self {
        match timeout.and_then(|d| clock.now().checked_add(d)) {
            Some(at) => Deadline::At(at, clock),
            None => Deadline::Never,
        }
    }

    /// The sooner of this deadline and `due` (when the next scheduled task falls due), on
    /// `clock`: how long a claimer that found no task may sleep.
    pub(crate) fn sooner(self, due: Option<Instant>, clock: &'c Clock) -> Self {
        mutant!(SleepIgnoresDue => { return self; });
        match (self, due) {
            (deadline, None) | (deadline @ Deadline::Now, _) => deadline,
            (Deadline::Never, Some(at)) => Deadline::At(at, clock),
            (Deadline::At(until, clock), Some(at)) => Deadline::At(until.min(at), clock),
        }
    }

    /// Whether this deadline can pass on its own (the system's timers, or a manual clock's
    /// advance, end the wait), as opposed to a wait that only a notification ends.
    pub(crate) fn is_timed(self) -> bool {
        matches!(self, Deadline::At(..))
    }

    /// Whether the deadline has passed (on the system clock under loom: always, see the module
    /// comment).
    pub(crate) fn expired(self) -> bool {
        match self {
            Deadline::Now => true,
            Deadline::Never => false,
            Deadline::At(at, clock) => (cfg!(taskq_loom) && clock.is_system()) || clock.now() >= at,
        }
    }

    /// Waits on `cv` until notified or until the deadline. Spurious returns are allowed: the
    /// caller re-checks its condition and the deadline. On a manual clock the wait is sliced
    /// (1 ms of real time), so that advancing the clock is noticed without a notification; under
    /// loom it is not timed at all, and only a notification (`wake_sleepers` after an advance,
    /// in a model) ends it.
    pub(crate) fn wait<'a, T>(self, cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        match self {
            Deadline::Now => guard,
            Deadline::Never => cv.wait(guard),
            Deadline::At(at, clock) => match clock.real_time_until(at) {
                Some(left) => cv.wait_for(guard, left),
                None => cv.wait_for(guard, Duration::from_millis(1)),
            },
        }
    }

    /// [`wait`](Self::wait), counted in the field of the guarded state that `waiters` picks out,
    /// so that a notifier (which reads it under the same lock) knows someone sleeps.
    pub(crate) fn wait_counted<'a, T>(
        self,
        cv: &Condvar,
        mut guard: MutexGuard<'a, T>,
        waiters: fn(&mut T) -> &mut usize,
    ) -> MutexGuard<'a, T> {
        *waiters(&mut guard) += 1;
        let mut guard = self.wait(cv, guard);
        *waiters(&mut guard) -= 1;
        guard
    }
}
