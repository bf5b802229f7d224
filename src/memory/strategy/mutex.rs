//! The [`Mutex`] strategy: [`Locked`] with blocked claimers on a condition variable.
//!
//! Invariants (beyond [`Locked`]'s, see `strategy/mod.rs`):
//! - A claimer that found the queue empty increments the count of sleeping claimers and sleeps on
//!   `not_empty` in the critical section in which it saw the queue empty (the condvar releases the
//!   lock atomically). A write that makes a task claimable runs after it, sees the count under the
//!   lock and notifies after unlocking; the woken claimer re-checks the queue before it reports a
//!   timeout. So no wake-up is lost, and none is sent when no claimer sleeps.
//! - Shutdown notifies every sleeping claimer, each of which then sees the shut-down core.

use std::hash::{BuildHasher, Hash};

use super::{Claimers, Locked, Slept, State, Wake};
use crate::mutant::mutant;
use crate::sync::{Condvar, Deadline, MutexGuard};

/// One mutex and two condition variables: the classic design, done right (each condvar notified
/// only when someone waits). The default strategy; its public name is
/// [`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue).
#[derive(Debug)]
pub enum Mutex {}

impl super::Waiting for Mutex {
    const NAME: &'static str = "mutex";
    type State<K, P, S>
        = Locked<K, P, S, Condvars>
    where
        K: Send + Sync,
        P: Send,
        S: Send + Sync;
}

/// Claimers sleep on `not_empty`; the count of sleepers is kept under the lock.
#[derive(Debug)]
pub struct Condvars {
    not_empty: Condvar,
}

impl<K, P> Claimers<K, P> for Condvars {
    type Waiting = usize;

    fn new() -> Self {
        Condvars {
            not_empty: Condvar::new(),
        }
    }

    fn settle<S>(_: &mut State<K, P, S, usize>) -> usize {
        0
    }

    fn sleeping(waiting: &usize) -> bool {
        *waiting > 0
    }

    fn notify(&self, wake: Wake, sleeping: bool) {
        match wake {
            Wake::Claimer if sleeping => self.not_empty.notify_one(),
            Wake::Everyone if sleeping => {
                mutant!(MutexShutdownNotifiesOne => self.not_empty.notify_one(), else self.not_empty.notify_all())
            }
            _ => {}
        }
    }

    fn sleep<'a, S>(
        queue: &'a Locked<K, P, S, Self>,
        guard: MutexGuard<'a, State<K, P, S, usize>>,
        deadline: Deadline<'_>,
    ) -> Slept<'a, K, P, S, usize>
    where
        K: Clone + Eq + Hash,
        S: BuildHasher,
    {
        let not_empty = &queue.claimers.not_empty;
        Slept::Retry(deadline.wait_counted(not_empty, guard, |s| &mut s.claimers))
    }
}
