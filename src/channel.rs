//! [`ChannelTaskQueue`]: blocked claimers are served through rendezvous channels, in arrival order.
//!
//! Invariants:
//! - One [`Mutex`] guards the [`State`]: the core, the FIFO of blocked claimers (each with its own
//!   [`Oneshot`] channel) and the count of blocked producers.
//! - A claimer that finds the queue empty enqueues its channel and sleeps on it *in the same
//!   critical section* in which it saw the queue empty. Every write ends with [`State::settle`],
//!   which, while claimers wait and a task is queued, pops the best task (marking it `Processing`
//!   under the lock) and sends it down the oldest claimer's channel. So while a claimer waits, the
//!   queue is empty; a task cannot wait while a claimer sleeps (no lost wake-up), and a popped task
//!   goes into exactly one channel (no double claim). Once the queue is shut down and drained,
//!   `settle` sends `ShutDown` to every waiting claimer.
//! - A claimer that times out takes the lock before giving up: under it, a hand-off has either
//!   happened (the task is in its channel, and it takes it) or cannot happen any more (it removes its
//!   channel). A task is never sent to a claimer that has left.
//! - Lock order: the queue's mutex, then a channel's; a claimer never holds its channel's lock while
//!   taking the queue's, so there is no deadlock.
//! - `queued` mirrors the core's queued count, stored under the lock by every write (in
//!   `release`, after `settle`). It serves `len()` without the lock and tells a claimer that found
//!   the queue empty when to stop spinning before it queues up; it decides nothing.
//! - Producers blocked on a full queue wait on the `not_full` condvar, as in
//!   [`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue). A hand-off in `settle` takes a task out
//!   of the queue like a claim does, so it wakes a producer as a claim does.

use std::collections::VecDeque;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

use crate::builder::strategy_constructors;
use crate::core::Core;
use crate::strategy::{impl_task_queue, Strategy, Wake};
use crate::sync::{Condvar, Deadline, Mutex, MutexGuard};
use crate::wait::{Oneshot, QueuedCount};
#[cfg(taskq_loom)]
use crate::Mutant;
use crate::{ClaimError, Task, TryAddError};

#[cfg(taskq_loom)]
use loom::sync::Arc;
#[cfg(not(taskq_loom))]
use std::sync::Arc;

type Reply<K, P> = Arc<Oneshot<Result<Task<K, P>, ClaimError>>>;

#[derive(Debug)]
struct State<K, P, S> {
    core: Core<K, P, S>,
    claimers: VecDeque<Reply<K, P>>,
    producers_waiting: usize,
}

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> State<K, P, S> {
    /// Hands queued tasks to waiting claimers, oldest claimer first; tells them once the queue is
    /// shut down and drained. Returns how many tasks it handed out (each made room in the queue).
    fn settle(&mut self) -> usize {
        let mut handed = 0;
        while let Some(claimer) = self.claimers.front() {
            match self.core.pop() {
                Ok(task) => {
                    claimer.send(Ok(task));
                    handed += 1;
                }
                Err(ClaimError::Empty) => return handed,
                // MUTANT: ChannelSettleIgnoresShutdown leaves waiting claimers asleep.
                #[cfg(taskq_loom)]
                Err(_) if self.core.mutant_is(Mutant::ChannelSettleIgnoresShutdown) => {
                    return handed
                }
                Err(e) => claimer.send(Err(e)),
            }
            self.claimers.pop_front();
        }
        handed
    }
}

/// Claimers that find the queue empty wait on a channel of their own, and the thread that adds the
/// next task hands it straight over: the woken claimer never contends for the lock again, no
/// wake-up is spurious, and blocked claimers are served first-come, first-served.
///
/// Pick it when workers outnumber the tasks in flight and usually wait (job runners, pools that
/// idle): it has no thundering herd and no starvation among workers. Its fast path (a task is
/// ready) is that of [`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue).
///
/// ```
/// use std::time::Duration;
/// use taskq::{ChannelTaskQueue, TaskQueue};
///
/// let q = ChannelTaskQueue::new();
/// std::thread::scope(|s| {
///     let worker = s.spawn(|| q.get_next_task(Some(Duration::from_secs(10))).unwrap());
///     q.add_task(1u64, 0, "wake up").unwrap();
///     assert_eq!(worker.join().unwrap().id, 1);
/// });
/// ```
#[derive(Debug)]
pub struct ChannelTaskQueue<K, P, S = RandomState> {
    state: Mutex<State<K, P, S>>,
    /// `core.len()` as of the last write, for `len()` and spinning claimers.
    queued: QueuedCount,
    not_full: Condvar,
}

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> ChannelTaskQueue<K, P, S> {
    fn from_core(core: Core<K, P, S>) -> Self {
        ChannelTaskQueue {
            queued: QueuedCount::new(core.len()),
            state: Mutex::new(State {
                core,
                claimers: VecDeque::new(),
                producers_waiting: 0,
            }),
            not_full: Condvar::new(),
        }
    }

    /// Serves waiting claimers, unlocks, then wakes blocked producers if `wake` says so.
    fn release(&self, mut state: MutexGuard<'_, State<K, P, S>>, wake: Wake) {
        let handed = if state.claimers.is_empty() {
            0
        } else {
            state.settle()
        };
        // MUTANT: ChannelHandOffSkipsProducerWake forgets that a hand-off made room.
        #[cfg(taskq_loom)]
        let handed = if state
            .core
            .mutant_is(Mutant::ChannelHandOffSkipsProducerWake)
        {
            0
        } else {
            handed
        };
        self.queued.publish(state.core.len());
        let producers = state.producers_waiting > 0;
        drop(state);
        match wake {
            Wake::Everyone if producers => self.not_full.notify_all(),
            Wake::Producer if producers => self.not_full.notify_one(),
            _ => {}
        }
        // A task handed to a waiting claimer left the queue, like a claim: it made room, so it
        // wakes a producer too (loom model `producers_wake_on_claims` deadlocked without this).
        if producers && wake != Wake::Everyone {
            for _ in 0..handed {
                self.not_full.notify_one();
            }
        }
    }
}

strategy_constructors!(ChannelTaskQueue);

impl<K: Clone + Eq + std::hash::Hash, P, S: BuildHasher> Strategy<K, P, S>
    for ChannelTaskQueue<K, P, S>
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
        // MUTANT: ChannelAddSkipsSettle unlocks without serving waiting claimers.
        #[cfg(taskq_loom)]
        if state.core.mutant_is(Mutant::ChannelAddSkipsSettle) {
            drop(state);
            return result;
        }
        // Claimers are served by `settle` in `release`; the wake is for producers.
        let wake = Wake::after_add(&result, &state.core);
        self.release(state, wake);
        result
    }

    fn claim_until(&self, deadline: Deadline) -> Result<Task<K, P>, ClaimError> {
        let mut state = self.state.lock();
        let mut spun = false;
        loop {
            match state.core.pop() {
                Ok(task) => {
                    self.release(state, Wake::Producer);
                    return Ok(task);
                }
                Err(ClaimError::Empty) if !deadline.expired() => {
                    if spun {
                        break;
                    }
                    // Before queueing up to sleep, spin briefly outside the lock for a task.
                    spun = true;
                    drop(state);
                    self.queued.spin_until_queued();
                    state = self.state.lock();
                }
                Err(ClaimError::Empty) => return Err(ClaimError::Timeout),
                Err(e) => return Err(e),
            }
        }
        // MUTANT: ChannelEnqueueAfterUnlock unlocks between the check and the enqueue.
        #[cfg(taskq_loom)]
        if state.core.mutant_is(Mutant::ChannelEnqueueAfterUnlock) {
            drop(state);
            state = self.state.lock();
        }
        let reply: Reply<K, P> = Arc::new(Oneshot::new());
        state.claimers.push_back(Arc::clone(&reply));
        drop(state);
        if let Some(result) = reply.recv(deadline) {
            return result;
        }
        // Timed out: under the lock no hand-off is in flight, so either it came or it never will.
        let mut state = self.state.lock();
        if let Some(result) = reply.try_recv() {
            return result;
        }
        state.claimers.retain(|c| !Arc::ptr_eq(c, &reply));
        Err(ClaimError::Timeout)
    }
}

impl_task_queue!(ChannelTaskQueue);
