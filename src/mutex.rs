//! [`ThreadSafeTaskQueue`]: the core behind one mutex, with two condition variables.
//!
//! Invariants:
//! - One [`Mutex`] guards the whole [`State`]: the core and the two counts of sleeping threads.
//!   Every read and write of the core happens under it, so each operation is atomic (linearizable
//!   at its critical section) and a task popped under it is marked `Processing` before the lock is
//!   released: no task can be claimed twice.
//! - A claimer increments `claimers_waiting` and sleeps on `not_empty` in one critical section
//!   (the condvar releases the lock atomically). Any write that makes a task claimable runs after
//!   it, sees the count, and notifies after unlocking; the woken thread always re-checks the core
//!   before it reports a timeout. So no wake-up is lost, and none is sent when nobody waits.
//! - The same holds for producers blocked on a full queue (`producers_waiting`, `not_full`).
//! - `queued` mirrors the core's queued count, stored under the lock by every write (in
//!   `release`). It serves `len()` without the lock and tells a claimer that found the queue
//!   empty when to stop spinning; it never decides anything: the claimer re-locks and pops.

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::builder::strategy_constructors;
use crate::core::Core;
use crate::strategy::{impl_task_queue, Strategy, Wake};
use crate::sync::{Condvar, Deadline, Mutex, MutexGuard};
use crate::wait::QueuedCount;
#[cfg(taskq_loom)]
use crate::Mutant;
use crate::{ClaimError, Task, TryAddError};

#[derive(Debug)]
struct State<K, P, S> {
    core: Core<K, P, S>,
    claimers_waiting: usize,
    producers_waiting: usize,
}

/// The classic design, done right: a binary heap and a task map behind one mutex, a condvar for
/// blocked claimers and one for blocked producers, each notified only when someone waits.
///
/// The best all-rounder when critical sections are short and threads are few; the baseline the
/// other strategies are measured against.
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
/// use taskq::{ClaimError, TaskQueue, ThreadSafeTaskQueue};
///
/// let q = Arc::new(ThreadSafeTaskQueue::new());
/// let worker = {
///     let q = Arc::clone(&q);
///     thread::spawn(move || {
///         let mut done = 0;
///         loop {
///             match q.get_next_task(None) {
///                 Ok(task) => {
///                     q.complete_task(&task.id).unwrap();
///                     done += 1;
///                 }
///                 Err(ClaimError::ShutDown) => return done,
///                 Err(e) => panic!("{e}"),
///             }
///         }
///     })
/// };
/// for id in 0..100u64 {
///     q.add_task(id, (id % 10) as i64, format!("job {id}")).unwrap();
/// }
/// q.shutdown(); // the worker drains the queue, then stops
/// assert_eq!(worker.join().unwrap(), 100);
/// ```
#[derive(Debug)]
pub struct ThreadSafeTaskQueue<K, P, S = RandomState> {
    state: Mutex<State<K, P, S>>,
    queued: QueuedCount,
    not_empty: Condvar,
    not_full: Condvar,
}

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> ThreadSafeTaskQueue<K, P, S> {
    fn from_core(core: Core<K, P, S>) -> Self {
        ThreadSafeTaskQueue {
            queued: QueuedCount::new(core.len()),
            state: Mutex::new(State {
                core,
                claimers_waiting: 0,
                producers_waiting: 0,
            }),
            not_empty: Condvar::new(),
            not_full: Condvar::new(),
        }
    }

    /// Publishes the queued count, unlocks, then notifies whom `wake` names if they wait.
    fn release(&self, state: MutexGuard<'_, State<K, P, S>>, wake: Wake) {
        self.queued.publish(state.core.len());
        let claimers = state.claimers_waiting > 0;
        let producers = state.producers_waiting > 0;
        #[cfg(taskq_loom)]
        let notify_one = state.core.mutant_is(Mutant::MutexShutdownNotifiesOne);
        drop(state);
        match wake {
            Wake::Nobody => {}
            // MUTANT: MutexShutdownNotifiesOne wakes one claimer on shutdown.
            #[cfg(taskq_loom)]
            Wake::Everyone if notify_one && claimers => self.not_empty.notify_one(),
            Wake::Claimer if claimers => self.not_empty.notify_one(),
            Wake::Producer if producers => self.not_full.notify_one(),
            Wake::Everyone => {
                if claimers {
                    self.not_empty.notify_all();
                }
                if producers {
                    self.not_full.notify_all();
                }
            }
            Wake::Claimer | Wake::Producer => {}
        }
    }
}

strategy_constructors!(ThreadSafeTaskQueue);

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> Strategy<K, P, S>
    for ThreadSafeTaskQueue<K, P, S>
{
    fn read<R>(&self, f: impl FnOnce(&Core<K, P, S>) -> R) -> R {
        f(&self.state.lock().core)
    }

    fn write<R>(&self, f: impl FnOnce(&mut Core<K, P, S>) -> (R, Wake)) -> R {
        let mut state = self.state.lock();
        let (result, wake) = f(&mut state.core);
        self.release(state, wake);
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
        let mut state = self.state.lock();
        while state.core.add_would_block(&id) && !deadline.expired() {
            state = deadline.wait_counted(&self.not_full, state, |s| &mut s.producers_waiting);
        }
        let result = state.core.add(id, priority, payload);
        let wake = Wake::after_add(&result, &state.core);
        // MUTANT: MutexAddSkipsNotify leaves a blocked claimer asleep.
        #[cfg(taskq_loom)]
        let wake = if state.core.mutant_is(Mutant::MutexAddSkipsNotify) {
            Wake::Nobody
        } else {
            wake
        };
        self.release(state, wake);
        result
    }

    fn claim_until(&self, deadline: Deadline) -> Result<Task<K, P>, ClaimError> {
        let mut state = self.state.lock();
        // MUTANT: MutexSplitClaim picks under one lock section and takes under another.
        #[cfg(taskq_loom)]
        if state.core.mutant_is(Mutant::MutexSplitClaim) {
            if let Some(id) = state.core.peek_id() {
                drop(state);
                state = self.state.lock();
                if let Some(task) = state.core.take_unchecked(&id) {
                    self.release(state, Wake::Producer);
                    return Ok(task);
                }
            }
        }
        let mut spun = false;
        loop {
            match state.core.pop() {
                Ok(task) => {
                    // MUTANT: MutexClaimSkipsProducerNotify leaves a blocked producer asleep.
                    #[cfg(taskq_loom)]
                    if state.core.mutant_is(Mutant::MutexClaimSkipsProducerNotify) {
                        self.release(state, Wake::Nobody);
                        return Ok(task);
                    }
                    self.release(state, Wake::Producer);
                    return Ok(task);
                }
                Err(ClaimError::Empty) if !spun && !deadline.expired() => {
                    // Before sleeping, spin briefly outside the lock for a task to arrive.
                    spun = true;
                    drop(state);
                    self.queued.spin_until_queued();
                    state = self.state.lock();
                }
                Err(ClaimError::Empty) if !deadline.expired() => {
                    state =
                        deadline.wait_counted(&self.not_empty, state, |s| &mut s.claimers_waiting);
                }
                Err(ClaimError::Empty) => return Err(ClaimError::Timeout),
                Err(e) => return Err(e),
            }
        }
    }
}

impl_task_queue!(ThreadSafeTaskQueue);
