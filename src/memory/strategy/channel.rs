//! The [`Channel`] strategy: [`Locked`] with blocked claimers served through rendezvous channels,
//! in arrival order.
//!
//! Invariants (beyond [`Locked`]'s, see `strategy/mod.rs`):
//! - A claimer that finds the queue empty enqueues its own [`Oneshot`] *in the same critical
//!   section* in which it saw the queue empty. Every write ends with `settle`, which, while
//!   claimers wait and a task is queued, claims the best task (marking it `Processing` under the
//!   lock) and sends it down the oldest claimer's channel. So while a claimer waits, the queue is
//!   empty; a task cannot wait while a claimer sleeps (no lost wake-up), and a claimed task goes
//!   into exactly one channel (no double claim). A batch claimer is handed its whole batch (the
//!   best tasks, up to its maximum) in that one critical section, so a batch claim is one atomic
//!   step whether it found tasks queued or waited for them. Once the queue is shut down and
//!   drained, `settle` sends `ShutDown` to every waiting claimer.
//! - A claimer that times out takes the lock before giving up: under it, a hand-off has either
//!   happened (the task is in its channel, and it takes it) or cannot happen any more (it removes
//!   its channel). A task is never sent to a claimer that has left.
//! - Scheduled tasks: a claimer sleeps at most until the earliest due time it read under the
//!   lock in which it enqueued its channel. A write that moves that time earlier sends every
//!   waiting claimer `Empty` (`retime`) under the lock: each takes the lock again, claims what is
//!   due, or re-times its sleep. Either way it is off the FIFO once told, so a channel is sent to
//!   at most once.
//! - Lock order: the queue's mutex, then a channel's; a claimer never holds its channel's lock
//!   while taking the queue's, so there is no deadlock.

use std::collections::VecDeque;
use std::hash::{BuildHasher, Hash};

use super::{Claimers, Locked, More, Panic, Slept, State, StateGuard, Wake};
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

/// What a claimer is handed: its first task and, for a batch claim, the rest of the batch,
/// taken in the same critical section.
type Handed<K, P> = Result<(Task<K, P>, Vec<Task<K, P>>), ClaimError>;

type Reply<K, P> = Arc<Oneshot<Handed<K, P>>>;

/// A waiting claimer: its channel, how many tasks it takes after the first, and whether its
/// wait is timed.
pub struct Waiter<K, P> {
    reply: Reply<K, P>,
    more: usize,
    timed: bool,
}

/// Waiting claimers are a FIFO of reply channels under the lock; nothing to notify.
#[derive(Debug)]
pub struct HandOff;

impl<K: Clone + Eq + Hash, P> Claimers<K, P> for HandOff {
    type Waiting = VecDeque<Waiter<K, P>>;

    fn new() -> Self {
        HandOff
    }

    /// Hands queued tasks to waiting claimers, oldest claimer first, a whole batch to a batch
    /// claimer; tells them once the queue is shut down and drained. If `K::clone` panics while
    /// the rest of a batch is taken, that rest goes back, the claimer gets its first task alone,
    /// and the panic is returned to be re-raised after unlocking.
    fn settle<S: BuildHasher>(state: &mut State<K, P, S, Self::Waiting>) -> (usize, Option<Panic>) {
        let mut handed = 0;
        while let Some(claimer) = state.claimers.front() {
            match state.core.pop() {
                Ok(task) => {
                    let mut rest = Vec::new();
                    let taken = match claimer.more {
                        0 => Ok(0),
                        more => state.core.take_more(&mut rest, more),
                    };
                    handed += 1 + rest.len();
                    claimer.reply.send(Ok((task, rest)));
                    if let Err(panic) = taken {
                        state.claimers.pop_front();
                        return (handed, Some(panic));
                    }
                }
                Err(ClaimError::Empty) => return (handed, None),
                Err(e) => {
                    mutant!(ChannelSettleIgnoresShutdown => { return (handed, None); });
                    claimer.reply.send(Err(e));
                }
            }
            state.claimers.pop_front();
        }
        (handed, None)
    }

    fn sleeping(_: &Self::Waiting) -> bool {
        false
    }

    fn notify(&self, _: Wake, _: bool) {}

    fn wake_timed(&self, waiting: &Self::Waiting) {
        for waiter in waiting.iter().filter(|w| w.timed) {
            waiter.reply.wake();
        }
    }

    fn retime(&self, waiting: &mut Self::Waiting) {
        for waiter in waiting.drain(..) {
            waiter.reply.send(Err(ClaimError::Empty));
        }
    }

    fn sleep<'a, S: BuildHasher>(
        queue: &'a Locked<K, P, S, Self>,
        mut guard: StateGuard<'a, K, P, S, Self>,
        deadline: Deadline<'_>,
        more: &mut More<'_, K, P>,
    ) -> Slept<'a, K, P, S, Self> {
        mutant!(ChannelEnqueueAfterUnlock => { drop(guard); guard = queue.lock(); });
        // Until the deadline, or until the next scheduled task falls due, if sooner.
        let until = deadline.sooner(guard.core.next_due(), &queue.clock);
        let reply: Reply<K, P> = Arc::new(Oneshot::new());
        guard.claimers.push_back(Waiter {
            reply: Arc::clone(&reply),
            more: more.as_ref().map_or(0, |(_, max)| *max),
            timed: until.is_timed(),
        });
        drop(guard);
        let mut deliver = |handed: Handed<K, P>| {
            Slept::Done(handed.map(|(task, rest)| {
                if let Some((out, _)) = more {
                    out.extend(rest);
                }
                task
            }))
        };
        match reply.recv(until) {
            // Told to look again (a task falls due sooner): off the FIFO already.
            Some(Err(ClaimError::Empty)) => return Slept::Retry(queue.lock()),
            Some(handed) => return deliver(handed),
            None => {}
        }
        // Timed out: under the lock no hand-off is in flight, so either it came or it never will.
        let mut guard = queue.lock();
        match mutant!(ChannelTimeoutSkipsRecheck => None, else reply.try_recv()) {
            Some(Err(ClaimError::Empty)) => return Slept::Retry(guard),
            Some(handed) => return deliver(handed),
            None => {}
        }
        guard.claimers.retain(|c| !Arc::ptr_eq(&c.reply, &reply));
        if deadline.expired() {
            Slept::Done(Err(ClaimError::Timeout))
        } else {
            // Woken for a due task (or by a manual clock's advance): look again.
            Slept::Retry(guard)
        }
    }
}
