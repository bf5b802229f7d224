//! [`RwLockTaskQueue`]: the core behind a read-write lock; blocked threads wait on event counts.
//!
//! Invariants:
//! - One [`RwLock`] guards the core. Writes (add, claim, complete, ...) take it exclusively, so
//!   each is atomic and a task popped under it is `Processing` before anyone else can look: no
//!   double claim. Reads (`get_status`, `len`, `stats`, `snapshot`) take it shared and run in
//!   parallel with each other.
//! - A read-write lock has no condvar, so blocked claimers and producers wait on a [`Signal`]
//!   each (see `wait.rs` for why its wake-ups cannot be lost): a claimer registers *before* it
//!   takes the lock and tries to pop; every write that makes a task claimable notifies *after*
//!   releasing the lock. A woken claimer always tries again before reporting a timeout.
//! - `len()` takes no lock at all: `queued` mirrors `core.len()` and is stored by every writer
//!   before it releases the write lock, so a `len()` never reports a state older than one a
//!   reader on the same thread already saw under the lock (release/acquire through the lock).

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::builder::strategy_constructors;
use crate::core::Core;
use crate::strategy::{impl_task_queue, Strategy, Wake};
use crate::sync::{Deadline, RwLock, RwLockWriteGuard};
use crate::wait::{QueuedCount, Signal};
#[cfg(taskq_loom)]
use crate::Mutant;
use crate::{ClaimError, Task, TryAddError};

/// The core behind a read-write lock: status queries, `len()` and `stats()` run concurrently with
/// each other, and only writers exclude each other.
///
/// Pick it when many threads poll task status while few add and claim (dashboards, request
/// handlers checking on a job). Writes cost a little more than with
/// [`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue).
///
/// ```
/// use taskq::{RwLockTaskQueue, TaskQueue, TaskStatus};
///
/// let q = RwLockTaskQueue::new();
/// q.add_task("report".to_string(), 3, ()).unwrap();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| assert_eq!(q.get_status(&"report".to_string()), Some(TaskStatus::Queued)));
///     }
/// });
/// ```
#[derive(Debug)]
pub struct RwLockTaskQueue<K, P, S = RandomState> {
    core: RwLock<Core<K, P, S>>,
    /// `core.len()` as of the last write; read by `len()` without the lock.
    queued: QueuedCount,
    claimers: Signal,
    producers: Signal,
}

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> RwLockTaskQueue<K, P, S> {
    fn from_core(core: Core<K, P, S>) -> Self {
        RwLockTaskQueue {
            queued: QueuedCount::new(core.len()),
            core: RwLock::new(core),
            claimers: Signal::new(),
            producers: Signal::new(),
        }
    }

    /// Publishes the queued count for `len()`, then releases the write lock.
    fn unlock(&self, core: RwLockWriteGuard<'_, Core<K, P, S>>) {
        self.queued.publish(core.len());
        drop(core);
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Nobody => {}
            Wake::Claimer => self.claimers.notify_one(),
            Wake::Producer => self.producers.notify_one(),
            Wake::Everyone => {
                self.claimers.notify_all();
                self.producers.notify_all();
            }
        }
    }
}

strategy_constructors!(RwLockTaskQueue);

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> Strategy<K, P, S>
    for RwLockTaskQueue<K, P, S>
{
    fn read<R>(&self, f: impl FnOnce(&Core<K, P, S>) -> R) -> R {
        f(&self.core.read())
    }

    fn write<R>(&self, f: impl FnOnce(&mut Core<K, P, S>) -> (R, Wake)) -> R {
        let mut core = self.core.write();
        let (result, wake) = f(&mut core);
        self.unlock(core);
        self.wake(wake);
        result
    }

    fn len(&self) -> usize {
        self.queued.get()
    }

    fn add_until(
        &self,
        id: K,
        priority: i64,
        payload: std::sync::Arc<P>,
        deadline: Deadline,
    ) -> Result<(), TryAddError<std::sync::Arc<P>>> {
        // The first try goes without registering; a thread registers, then tries once more,
        // before it sleeps.
        let mut ticket = None;
        loop {
            let mut core = self.core.write();
            if core.add_would_block(&id) && !deadline.expired() {
                drop(core);
                match ticket.take() {
                    None => ticket = Some(self.producers.prepare()),
                    Some(ticket) => self.producers.wait(ticket, deadline),
                }
                continue;
            }
            // MUTANT: RwLockWakeBeforeWrite wakes claimers, then writes the task.
            #[cfg(taskq_loom)]
            let early = core.mutant_is(Mutant::RwLockWakeBeforeWrite);
            #[cfg(taskq_loom)]
            if early {
                drop(core);
                self.wake(Wake::Claimer);
                core = self.core.write();
            }
            #[cfg(not(taskq_loom))]
            let early = false;
            let result = core.add(id, priority, payload);
            let wake = Wake::after_add(&result, &core);
            self.unlock(core);
            if let Some(ticket) = ticket {
                self.producers.cancel(ticket);
            }
            if !(early && wake == Wake::Claimer) {
                self.wake(wake);
            }
            return result;
        }
    }

    fn claim_until(&self, deadline: Deadline) -> Result<Task<K, P>, ClaimError> {
        let mut ticket = None;
        loop {
            let mut core = self.core.write();
            let result = core.pop();
            #[cfg(taskq_loom)]
            let (register_late, wrong_side) = (
                core.mutant_is(Mutant::RwLockRegisterAfterCheck),
                core.mutant_is(Mutant::RwLockClaimWakesWrongSide),
            );
            self.unlock(core);
            if matches!(result, Err(ClaimError::Empty)) && !deadline.expired() {
                // MUTANT: RwLockRegisterAfterCheck registers after the check and sleeps at once.
                #[cfg(taskq_loom)]
                if register_late {
                    self.claimers.wait(self.claimers.prepare(), deadline);
                    continue;
                }
                match ticket.take() {
                    // Spin briefly outside the lock before registering to sleep.
                    None if self.queued.spin_until_queued() => {}
                    None => ticket = Some(self.claimers.prepare()),
                    Some(ticket) => self.claimers.wait(ticket, deadline),
                }
                continue;
            }
            if let Some(ticket) = ticket {
                self.claimers.cancel(ticket);
            }
            // MUTANT: RwLockClaimWakesWrongSide announces the room to claimers.
            #[cfg(taskq_loom)]
            if result.is_ok() && wrong_side {
                self.wake(Wake::Claimer);
                return result;
            }
            if result.is_ok() {
                self.wake(Wake::Producer);
            }
            return result.map_err(|e| match e {
                ClaimError::Empty => ClaimError::Timeout,
                e => e,
            });
        }
    }
}

impl_task_queue!(RwLockTaskQueue);
