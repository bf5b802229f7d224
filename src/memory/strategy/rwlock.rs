//! The [`RwLock`] strategy: the core behind a read-write lock; blocked threads wait on event
//! counts.
//!
//! Invariants:
//! - One read-write lock guards the core. Writes (add, claim, complete, ...) take it exclusively,
//!   so each is atomic and a claimed task is `Processing` before anyone else can look: no double
//!   claim. Other reads (`stats`, `capacity`, ...) take it shared and run in parallel with each
//!   other.
//! - `get_status` takes no lock of the core: it reads the status [`Mirror`], which every write
//!   publishes to before it releases the write lock (in `unlock`, or in `claim_until` before
//!   it), all of one write's status changes at one instant; a reader never waits for a writer
//!   there (`memory/mirror.rs` says why, and why such reads are linearizable). A write whose
//!   core operation panicked after changing something (only those run through `write`: the
//!   core runs user code before changing anything elsewhere) publishes what changed before the
//!   panic goes on. If user code panics while publishing, the mirror is given up and status
//!   reads take the read lock from then on; a claim is then undone (its tasks queued again in
//!   their places) before the panic goes on, so no claimed task is lost with the unwinding.
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
//! - `len()` takes no lock at all: the mirror publishes the queued count with the statuses, at
//!   the same instant (a status read and `len()` must agree). `queued` mirrors `core.len()` too,
//!   stored by every writer before it releases the write lock: it is the claimers' hint for
//!   spinning, and `len()` once the mirror was given up.

// Internal types, unnameable outside the crate; `Queue`'s `Debug` prints what users need.
#![allow(missing_debug_implementations)]

use std::borrow::Borrow;
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};

use super::{take_more, Add, More, Panic, Strategy, Wake};
use crate::memory::core::Core;
use crate::memory::mirror::Mirror;
use crate::memory::wait::{QueuedCount, Signal};
use crate::mutant::mutant;
use crate::sync::{self, Clock, Deadline, RwLockWriteGuard};
use crate::{ClaimError, Task, TaskStatus, TryAddError};

/// A read-write lock: `stats()` and the like run concurrently with each other, and only writers
/// exclude each other; `get_status` never waits for a writer (a published copy of the statuses,
/// which costs memory per task and time per write). Its public name is
/// [`RwLockTaskQueue`](crate::RwLockTaskQueue).
#[derive(Debug)]
pub enum RwLock {}

/// The core behind a read-write lock, with an event count for each side that may block.
pub struct Guarded<K, P, S> {
    core: sync::RwLock<Core<K, P, S>>,
    /// Every task's status, for `get_status` without the lock.
    mirror: Mirror<K, S>,
    clock: Clock,
    queued: QueuedCount,
    claimers: Signal,
    producers: Signal,
}

/// Re-raises a panic caught while publishing statuses, once the caller has woken whom it must.
fn rethrow(panic: Option<Panic>) {
    if let Some(panic) = panic {
        resume_unwind(panic);
    }
}

impl<K: Clone + Eq + Hash, P, S: BuildHasher> Guarded<K, P, S> {
    /// Publishes the write's status changes and the queued count for `len()`, then releases the
    /// write lock; if the write moved the earliest due time earlier, has every registered
    /// claimer re-time its sleep. Returns a panic of `K`'s code caught while publishing, for
    /// the caller to re-raise with [`rethrow`] once it has woken whom it must.
    #[must_use = "a panic caught while publishing must be re-raised"]
    fn unlock(&self, mut core: RwLockWriteGuard<'_, Core<K, P, S>>) -> Option<Panic> {
        let panic = self.mirror.publish(&mut core);
        self.queued.publish(core.len());
        let retime = core.take_due_moved();
        drop(core);
        if retime {
            self.claimers.notify_all();
        }
        panic
    }
}

impl<K, P, S> Guarded<K, P, S> {
    /// The status mirror (for its tests).
    #[cfg(test)]
    pub(crate) fn mirror(&self) -> &Mirror<K, S> {
        &self.mirror
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
    fn new(mut core: Core<K, P, S>) -> Self {
        Guarded {
            queued: QueuedCount::new(core.len()),
            clock: core.clock().clone(),
            mirror: Mirror::new(&mut core),
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
        // User code may panic after the core changed (retention's `K::hash`, say): what changed
        // is published before the panic goes on.
        let done = catch_unwind(AssertUnwindSafe(|| f(&mut core)));
        let panic = self.unlock(core);
        let (result, wake) = done.unwrap_or_else(|panic| resume_unwind(panic));
        self.wake(wake);
        rethrow(panic);
        result
    }

    fn len(&self) -> usize {
        // From the mirror, published with the statuses; once it was given up, the count
        // published under the lock (as status reads then take the lock).
        self.mirror.len().unwrap_or_else(|_| self.queued.get())
    }

    fn status<Q>(&self, id: &Q) -> Option<TaskStatus>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        match self.mirror.status(id) {
            Ok(status) => status,
            // Given up after a panic of user code: the lock, as the other reads take it.
            Err(_) => self.core.read().status(id),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let mut core = self.core.write();
        core.check_invariants()?;
        self.mirror.check(&core)
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
            let panic = self.unlock(core);
            if let Some(ticket) = ticket {
                self.producers.cancel(ticket);
            }
            self.wake(wake);
            rethrow(panic);
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
            let start = more.as_ref().map_or(0, |(out, _)| out.len());
            let claimed = match core.pop() {
                Ok(task) => {
                    let batch = more.as_mut().map(|(out, max)| (&mut **out, *max));
                    match take_more(&mut core, task, batch) {
                        (Ok(task), taken) => match self.mirror.publish(&mut core) {
                            None => Ok((Ok(task), taken)),
                            Some(panic) => {
                                // The claim cannot be published (the mirror was given up): it is
                                // undone, as a batch claim whose `K::clone` panicked is, so that
                                // no claimed task is lost with the unwinding.
                                if let Some((out, _)) = more.as_mut() {
                                    out.drain(start..).rev().for_each(|t| core.untake(t));
                                }
                                core.untake(task);
                                Err(panic)
                            }
                        },
                        (Err(panic), _) => Err(panic),
                    }
                }
                Err(e) => Ok((Err(e), 0)),
            };
            let (result, taken) = match claimed {
                Ok(claimed) => claimed,
                Err(panic) => {
                    // The batch went back: nothing changed, nobody to wake. (A second panic,
                    // publishing the take and the put-back, is dropped: one is re-raised.)
                    let _second = self.unlock(core);
                    if let Some(ticket) = ticket {
                        self.claimers.cancel(ticket);
                    }
                    resume_unwind(panic);
                }
            };
            mutant!(RwLockTimeoutSplitCheck => { rethrow(self.unlock(core)); core = self.core.write(); });
            // The deadline is read under the lock, as `Locked` does: a claimer times out only if,
            // at one instant, its deadline had passed and the queue was empty.
            let wait = matches!(result, Err(ClaimError::Empty)) && !deadline.expired();
            // Until the deadline, or until the next scheduled task falls due, if sooner.
            let until = deadline.sooner(if wait { core.next_due() } else { None }, &self.clock);
            // The claim was published above: nothing is left to publish, nothing can panic.
            rethrow(self.unlock(core));
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
