//! The [`Channel`] strategy: [`Locked`] with blocked claimers served through rendezvous channels,
//! in arrival order.
//!
//! Invariants (beyond [`Locked`]'s, see `strategy/mod.rs`):
//! - A claimer that finds the queue empty enqueues its own [`Oneshot`] *in the same critical
//!   section* in which it saw the queue empty. Every write ends with `settle`, which, while
//!   claimers wait and a task is queued, claims the best task (marking it `Processing` under the
//!   lock) and sends it down the oldest claimer's channel. So while a claimer waits, the queue is
//!   empty; a task cannot wait while a claimer sleeps (no lost wake-up), and a claimed task goes
//!   into exactly one channel (no double claim). Once the queue is shut down and drained, `settle`
//!   sends `ShutDown` to every waiting claimer.
//! - A claimer that times out takes the lock before giving up: under it, a hand-off has either
//!   happened (the task is in its channel, and it takes it) or cannot happen any more (it removes
//!   its channel). A task is never sent to a claimer that has left.
//! - Lock order: the queue's mutex, then a channel's; a claimer never holds its channel's lock
//!   while taking the queue's, so there is no deadlock.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};

use super::{Claimers, Locked, Slept, State, StateGuard, Wake};
use crate::memory::wait::Oneshot;
use crate::mutant::mutant;
use crate::sync::{Arc, Deadline};
use crate::{ClaimError, Task};

/// One mutex; a claimer that finds the queue empty waits on a channel of its own and the thread
/// that adds the next task hands it straight over: no thundering herd, no spurious wake-up, and
/// blocked claimers are served first come, first served. Its public name is
/// [`ChannelTaskQueue`](crate::ChannelTaskQueue).
#[derive(Debug)]
pub enum Channel {}

type Reply<K, P> = Arc<Oneshot<Result<Task<K, P>, ClaimError>>>;

/// Waiting claimers are a FIFO of reply channels under the lock; nothing to notify.
#[derive(Debug)]
pub struct HandOff;

impl<K: Clone + Eq + Hash, P> Claimers<K, P> for HandOff {
    type Waiting = VecDeque<Reply<K, P>>;

    fn new() -> Self {
        HandOff
    }

    /// Hands queued tasks to waiting claimers, oldest claimer first; tells them once the queue
    /// is shut down and drained.
    fn settle<S: BuildHasher>(state: &mut State<K, P, S, Self::Waiting>) -> usize {
        let mut handed = 0;
        while let Some(claimer) = state.claimers.front() {
            match state.core.pop() {
                Ok(task) => {
                    claimer.send(Ok(task));
                    handed += 1;
                }
                Err(ClaimError::Empty) => return handed,
                Err(e) => {
                    mutant!(ChannelSettleIgnoresShutdown => { return handed; });
                    claimer.send(Err(e));
                }
            }
            state.claimers.pop_front();
        }
        handed
    }

    fn sleeping(_: &Self::Waiting) -> bool {
        false
    }

    fn notify(&self, _: Wake, _: bool) {}

    fn wake_all(&self, waiting: &Self::Waiting) {
        for reply in waiting {
            reply.wake();
        }
    }

    fn sleep<'a, S: BuildHasher>(
        queue: &'a Locked<K, P, S, Self>,
        mut guard: StateGuard<'a, K, P, S, Self>,
        deadline: Deadline<'_>,
    ) -> Slept<'a, K, P, S, Self> {
        mutant!(ChannelEnqueueAfterUnlock => { drop(guard); guard = queue.lock(); });
        let reply: Reply<K, P> = Arc::new(Oneshot::new());
        guard.claimers.push_back(Arc::clone(&reply));
        drop(guard);
        if let Some(result) = reply.recv(deadline) {
            return Slept::Done(result);
        }
        // Timed out: under the lock no hand-off is in flight, so either it came or it never will.
        let mut guard = queue.lock();
        if let Some(result) = mutant!(ChannelTimeoutSkipsRecheck => None, else reply.try_recv()) {
            return Slept::Done(result);
        }
        guard.claimers.retain(|c| !Arc::ptr_eq(c, &reply));
        Slept::Done(Err(ClaimError::Timeout))
    }
}
