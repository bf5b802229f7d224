//! The [`RwLock`] strategy: the core behind a read-write lock; blocked threads wait on event
//! counts.
//!
//! Invariants:
//! - One read-write lock guards the core. Writes (add, claim, complete, ...) take it exclusively,
//!   so each is atomic and a claimed task is `Processing` before anyone else can look: no double
//!   claim. Reads (`get_status`, `stats`) take it shared and run in parallel with each other.
//! - A read-write lock has no condvar, so blocked claimers and producers wait on a [`Signal`]
//!   each (see `memory/wait.rs` for why its wake-ups cannot be lost): a thread registers, then
//!   checks under the lock once more before it sleeps; every write that makes a task claimable (or
//!   room) notifies *after* releasing the lock. A woken thread always tries again before it gives
//!   up, and it reads its deadline under the lock in which it found the queue empty (or full): a
//!   timeout means that at one instant the deadline had passed and no task (or no room) was there.
//! - Scheduled tasks: a claimer that found no task ready reads the earliest due time in the same
//!   critical section and sleeps at most until then. A write that moves the earliest due time
//!   earlier notifies every registered claimer after releasing the lock (`unlock`); a claimer
//!   registered before it re-checked, so the notification reaches it (event counts lose none).
//! - `len()` takes no lock at all: `queued` mirrors `core.len()` and is stored by every writer
//!   before it releases the write lock.

// Internal types, unnameable outside the crate; `Queue`'s `Debug` prints what users need.
#![allow(missing_debug_implementations)]

use std::hash::{BuildHasher, Hash};

use super::{take_more, Add, More, Strategy, Wake};
use crate::memory::core::Core;
use crate::memory::wait::{QueuedCount, Signal};
use crate::mutant::mutant;
use crate::sync::{self, Clock, Deadline, RwLockWriteGuard};
use crate::{ClaimError, Task, TryAddError};

/// A read-write lock: status queries and `stats()` run concurrently with each other, and only
/// writers exclude each other. Its public name is [`RwLockTaskQueue`](crate::RwLockTaskQueue).
#[derive(Debug)]
pub enum RwLock {}

/// The core behind a read-write lock, with an event count for each side that may block.
pub struct Guarded<K, P, S> {
    core: sync::RwLock<Core<K, P, S>>,
    clock: Clock,
    queued: QueuedCount,
    claimers: Signal,
    producers: Signal,
}

impl<K, P, S> Guarded<K, P, S> {
    /// Publishes the queued count for `len()`, then releases the write lock; if the write moved
    /// the earliest due time earlier, has every registered claimer re-time its sleep.
    fn unlock(&self, mut core: RwLockWriteGuard<'_, Core<K, P, S>>) {
        self.queued.publish(core.len());
        let retime = core.take_due_moved();
        drop(core);
        if retime {
            self.claimers.notify_all();
        }
    }

    fn wake(&self, wake: Wake) {
        match wake {
            Wake::Nobody | Wake::Claimers(0) | Wake::Producers(0) => {}
            Wake::Claimers(1) => self.claimers.notify_one(),
            Wake::Claimers(_) => self.claimers.notify_all(),
            Wake::Producers(1) => self.producers.notify_one(),
            Wake::Producers(_) => self.producers.notify_all(),
            Wake::Everyone => {
                self.claimers.notify_all();
                self.producers.notify_all();
            }
        }
    }
}

impl<K: Clone + Eq + Hash, P, S: BuildHasher> Strategy<K, P, S> for Guarded<K, P, S> {
    fn new(core: Core<K, P, S>) -> Self {
        Guarded {
            queued: QueuedCount::new(core.len()),
            clock: core.clock().clone(),
            core: sync::RwLock::new(core),
            claimers: Signal::new(),
            producers: Signal::new(),
        }
    }

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

    fn add_until(&self, add: Add<K, P>, deadline: Deadline<'_>) -> Result<(), TryAddError<P>> {
        // The first try goes without registering; a thread registers, then tries once more,
        // before it sleeps.
        let mut ticket = None;
        loop {
            let mut core = self.core.write();
            if core.add_would_block(&add.id) && !deadline.expired() {
                drop(core);
                match ticket.take() {
                    None => ticket = Some(self.producers.prepare()),
                    Some(ticket) => self.producers.wait(ticket, deadline),
                }
                continue;
            }
            mutant!(RwLockWakeBeforeWrite => { drop(core); self.wake(Wake::Claimers(1)); core = self.core.write(); });
            let result = core.add(add.id, add.priority, add.payload, add.due);
            let wake = Wake::after_add(&result, &core);
            let wake = mutant!(RwLockWakeBeforeWrite => Wake::Nobody, else wake);
            self.unlock(core);
            if let Some(ticket) = ticket {
                self.producers.cancel(ticket);
            }
            self.wake(wake);
            return result.map(|_| ());
        }
    }

    fn claim_until(
        &self,
        deadline: Deadline<'_>,
        mut more: More<'_, K, P>,
    ) -> Result<Task<K, P>, ClaimError> {
        let mut ticket = None;
        loop {
            let mut core = self.core.write();
            let (result, taken) = match core.pop() {
                Ok(task) => match take_more(&mut core, task, more.take()) {
                    (Ok(task), taken) => (Ok(task), taken),
                    (Err(panic), _) => {
                        // The batch went back: nothing changed, nobody to wake.
                        self.unlock(core);
                        if let Some(ticket) = ticket {
                            self.claimers.cancel(ticket);
                        }
                        std::panic::resume_unwind(panic);
                    }
                },
                Err(e) => (Err(e), 0),
            };
            mutant!(RwLockTimeoutSplitCheck => { self.unlock(core); core = self.core.write(); });
            // The deadline is read under the lock, as `Locked` does: a claimer times out only if,
            // at one instant, its deadline had passed and the queue was empty.
            let wait = matches!(result, Err(ClaimError::Empty)) && !deadline.expired();
            // Until the deadline, or until the next scheduled task falls due, if sooner.
            let until = deadline.sooner(if wait { core.next_due() } else { None }, &self.clock);
            self.unlock(core);
            if wait {
                match ticket.take() {
                    // Spin briefly outside the lock before registering to sleep.
                    None if self.queued.spin_until_queued() => {}
                    None => {
                        ticket = Some(self.claimers.prepare());
                        mutant!(RwLockRegisterAfterCheck => { self.claimers.wait(ticket.take().expect("just registered"), until); });
                    }
                    Some(ticket) => {
                        self.claimers.wait(ticket, until);
                        mutant!(RwLockTimeoutSkipsRecheck => { if deadline.expired() { return Err(ClaimError::Timeout); } });
                    }
                }
                continue;
            }
            if let Some(ticket) = ticket {
                self.claimers.cancel(ticket);
            }
            if result.is_ok() {
                let producers = Wake::Producers(taken);
                self.wake(mutant!(RwLockClaimWakesWrongSide => Wake::Claimers(1), else producers));
            }
            return result.map_err(|e| match e {
                ClaimError::Empty => ClaimError::Timeout,
                e => e,
            });
        }
    }

    fn wake_sleepers(&self) {
        self.claimers.wake_timed();
        self.producers.wake_all();
    }
}
