//! The [`Mutex`] strategy: [`Locked`] with blocked claimers on a condition variable.
//!
//! Invariants (beyond [`Locked`]'s, see `strategy/mod.rs`):
//! - A claimer that found the queue empty increments the count of sleeping claimers and sleeps on
//!   `not_empty` in the critical section in which it saw the queue empty (the condvar releases the
//!   lock atomically). A write that makes a task claimable runs after it, sees the count under the
//!   lock and notifies after unlocking; the woken claimer re-checks the queue before it reports a
//!   timeout. So no wake-up is lost, and none is sent when no claimer sleeps.
//! - Shutdown notifies every sleeping claimer, each of which then sees the shut-down core.
//! - A claimer sleeps at most until the earliest due time it read under the lock; a write that
//!   moves that time earlier notifies every sleeper (`retime`) under the lock, so each re-times.

use std::hash::{BuildHasher, Hash};

use super::{Claimers, Locked, More, Panic, Slept, State, StateGuard, Wake};
use crate::mutant::mutant;
use crate::sync::{Condvar, Deadline};
#[cfg(taskq_loom)]
use crate::ClaimError;

/// One mutex and two condition variables: the classic design, done right (each condvar notified
/// only when someone waits). The default strategy; its public name is
/// [`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue).
#[derive(Debug)]
pub enum Mutex {}

/// Claimers sleep on `not_empty`; the count of sleepers is kept under the lock.
#[derive(Debug)]
pub struct Condvars {
    not_empty: Condvar,
}

/// The sleeping claimers: all of them, and those in a timed wait.
#[derive(Debug, Default)]
pub struct Sleepers {
    all: usize,
    timed: usize,
}

impl<K: Clone + Eq + Hash, P> Claimers<K, P> for Condvars {
    type Waiting = Sleepers;

    fn new() -> Self {
        Condvars {
            not_empty: Condvar::new(),
        }
    }

    fn settle<S: BuildHasher>(_: &mut State<K, P, S, Sleepers>) -> (usize, Option<Panic>) {
        (0, None)
    }

    fn sleeping(waiting: &Sleepers) -> bool {
        waiting.all > 0
    }

    fn notify(&self, wake: Wake, sleeping: bool) {
        let cv = &self.not_empty;
        match wake {
            Wake::Claimers(1) if sleeping => cv.notify_one(),
            Wake::Claimers(2..) if sleeping => cv.notify_all(),
            Wake::Everyone if sleeping => {
                mutant!(MutexShutdownNotifiesOne => cv.notify_one(), else cv.notify_all())
            }
            _ => {}
        }
    }

    fn wake_timed(&self, waiting: &Sleepers) {
        if waiting.timed > 0 {
            self.not_empty.notify_all();
        }
    }

    fn retime(&self, waiting: &mut Sleepers) {
        if waiting.all > 0 {
            self.not_empty.notify_all();
        }
    }

    fn sleep<'a, S: BuildHasher>(
        queue: &'a Locked<K, P, S, Self>,
        mut guard: StateGuard<'a, K, P, S, Self>,
        deadline: Deadline<'_>,
        _: &mut More<'_, K, P>,
    ) -> Slept<'a, K, P, S, Self> {
        let not_empty = &queue.claimers.not_empty;
        // Until the deadline, or until the next scheduled task falls due, if sooner.
        let until = deadline.sooner(guard.core.next_due(), &queue.clock);
        let timed = usize::from(until.is_timed());
        guard.claimers.timed += timed;
        let mut guard = until.wait_counted(not_empty, guard, |s| &mut s.claimers.all);
        guard.claimers.timed -= timed;
        mutant!(MutexTimeoutSkipsRecheck => { if deadline.expired() { return Slept::Done(Err(ClaimError::Timeout)); } });
        Slept::Retry(guard)
    }
}
