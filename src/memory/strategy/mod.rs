//! The waiting strategies: how a [`Core`] is locked and how blocked threads are woken.
//!
//! A strategy guards a core and wakes blocked threads; nothing else. It supplies a read and a
//! write critical section and the two blocking loops (claim, bounded add). Which operation wakes
//! whom is decided once, in `memory/mod.rs`, by the [`Wake`] each write returns.
//!
//! - [`Mutex`]: one mutex; claimers and producers sleep on a condvar each ([`Locked`] with
//!   [`mutex::Condvars`]).
//! - [`Channel`]: one mutex; a claimer that finds the queue empty waits on a channel of its own
//!   and the next write hands it a task ([`Locked`] with [`channel::HandOff`]).
//! - [`RwLock`]: a read-write lock; blocked threads wait on event counts.
//!
//! Invariants of [`Locked`], shared by `Mutex` and `Channel`:
//! - One mutex guards [`State`]: the core, the count of blocked producers and the claimers'
//!   waiting state. Every read and write of the core happens under it, so each operation is atomic
//!   (linearizable at its critical section), and a claim chooses a task and marks it `Processing`
//!   in one critical section: no task can be claimed twice.
//! - A producer blocked on a full queue increments `producers_waiting` and sleeps on `not_full` in
//!   one critical section (the condvar releases the lock atomically). Every write that makes room
//!   runs after it, sees the count under the same lock and notifies after unlocking; the woken
//!   thread re-checks before it gives up. So no wake-up is lost, and none is sent when nobody waits.
//!   Claimers follow the same rule through their [`Claimers`] implementation.
//! - Scheduled tasks: a claimer that finds no task ready sleeps at most until the earliest due
//!   time it read under the lock (`Deadline::sooner`), then claims again (and the claim moves the
//!   due tasks to the ready heap). A write that moves the earliest due time earlier sets the core's
//!   `due_moved`, and `release` then has every sleeping claimer re-time its sleep, under the same
//!   lock: so no claimer sleeps past a due time that existed before it slept or appeared since.
//! - `queued` mirrors the core's queued count, stored under the lock by every write (in
//!   `release`). It serves `len()` without the lock and tells a claimer that found the queue
//!   empty when to stop spinning; it never decides anything: the claimer re-locks and claims.

// Internal types, unnameable outside the crate; `Queue`'s `Debug` prints what users need.
#![allow(missing_debug_implementations)]

use std::hash::{BuildHasher, Hash};

pub(crate) mod channel;
pub(crate) mod mutex;
pub(crate) mod rwlock;

pub use channel::Channel;
pub use mutex::Mutex;
pub use rwlock::RwLock;

use crate::memory::core::Core;
use crate::memory::wait::QueuedCount;
use crate::mutant::mutant;
use crate::sync::{self, Clock, Condvar, Deadline, MutexGuard};
use crate::{ClaimError, Task, TaskError, TaskStatus, TryAddError};

mod sealed {
    pub trait Sealed {}
}

/// A waiting strategy: the type parameter `W` of [`Queue`](crate::Queue) that says how the
/// queue's state is locked and how blocked threads are woken. Sealed: the strategies are
/// [`Mutex`], [`RwLock`] and [`Channel`]; all obey the same contract.
///
/// ```
/// use taskq::{strategy, Queue, TaskQueue};
///
/// fn describe<W: strategy::Waiting>(q: &Queue<u64, (), W>) -> String {
///     format!("{} queue with {} task(s)", W::NAME, q.len())
/// }
/// let q: Queue<u64, (), strategy::Channel> = Queue::new();
/// assert_eq!(describe(&q), "channel queue with 0 task(s)");
/// ```
pub trait Waiting: sealed::Sealed + Send + Sync + 'static {
    /// The strategy's short name (`"mutex"`, `"rwlock"`, `"channel"`).
    const NAME: &'static str;
    /// The locked state of a queue with this strategy.
    #[doc(hidden)]
    type State<K, P, S>: Strategy<K, P, S> + Send + Sync
    where
        K: Clone + Eq + Hash + Send + Sync,
        P: Send,
        S: BuildHasher + Send + Sync;
}

/// The strategies, each with its name and locked state: the one list of them in `src/`.
macro_rules! strategies {
    ($($w:ident = $name:literal => $state:ty;)+) => {$(
        impl sealed::Sealed for $w {}
        impl Waiting for $w {
            const NAME: &'static str = $name;
            type State<K, P, S> = $state
            where
                K: Clone + Eq + Hash + Send + Sync,
                P: Send,
                S: BuildHasher + Send + Sync;
        }
    )+};
}

strategies! {
    Mutex = "mutex" => Locked<K, P, S, mutex::Condvars>;
    RwLock = "rwlock" => rwlock::Guarded<K, P, S>;
    Channel = "channel" => Locked<K, P, S, channel::HandOff>;
}

/// A task to add, as the strategies' add loops take it.
pub struct Add<K, P> {
    pub(crate) id: K,
    pub(crate) priority: i64,
    pub(crate) payload: P,
    /// When it falls due (`None`: ready at once).
    pub(crate) due: Option<std::time::Instant>,
}

/// What a strategy provides to the one implementation of the contract in `memory/mod.rs`.
pub trait Strategy<K: Clone + Eq + Hash, P, S: BuildHasher> {
    /// Wraps a core.
    fn new(core: Core<K, P, S>) -> Self;

    /// Runs `f` with shared access to the core.
    fn read<R>(&self, f: impl FnOnce(&Core<K, P, S>) -> R) -> R;

    /// Runs `f` with exclusive access to the core, unlocks, then wakes whom `f` says.
    fn write<R>(&self, f: impl FnOnce(&mut Core<K, P, S>) -> (R, Wake)) -> R;

    /// The number of queued tasks, without taking the lock.
    fn len(&self) -> usize;

    /// Adds a task, waiting for room until `deadline`; `Full` means it gave up.
    fn add_until(&self, add: Add<K, P>, deadline: Deadline<'_>) -> Result<(), TryAddError<P>>;

    /// Claims a task, waiting until `deadline`; `Timeout` means it gave up (never `Empty`). With
    /// `more`, a batch claim: right after the first task, in the same critical section (or, for a
    /// task handed over while asleep, the next one), it takes up to `max` more of the best
    /// queued tasks into the vector.
    fn claim_until(
        &self,
        deadline: Deadline<'_>,
        more: More<'_, K, P>,
    ) -> Result<Task<K, P>, ClaimError>;

    /// Time moved: wakes every blocked claimer in a timed wait, and every blocked producer, so
    /// that each re-checks its deadline (and its condition: a spurious wake-up is harmless). No
    /// wake-up is lost to a sleeper that read the clock before the move but is not asleep yet: it
    /// read it under a lock that this takes before it notifies, so it is asleep by then. A
    /// claimer in an untimed wait is left asleep, as a real clock's timers would leave it: that
    /// is what lets a model check catch a claimer that should have timed its sleep and did not.
    fn wake_sleepers(&self);
}

/// The rest of a batch claim: where to put the extra tasks, and how many at most.
pub type More<'a, K, P> = Option<(&'a mut Vec<Task<K, P>>, usize)>;

/// A panic caught under the lock, to re-raise once it is released.
pub type Panic = Box<dyn std::any::Any + Send>;

/// Under the lock, right after a claim took `first`: takes the rest of the batch. Returns the
/// first task and how many tasks the claim took in all (each made room, so as many producers may
/// go on); or, if `K::clone` panicked, the panic, with every task of the batch `first` included
/// back in its place, so that the claim changed nothing.
pub(crate) fn take_more<K: Clone + Eq + Hash, P, S: BuildHasher>(
    core: &mut Core<K, P, S>,
    first: Task<K, P>,
    more: More<'_, K, P>,
) -> (Result<Task<K, P>, Panic>, usize) {
    let Some((out, max)) = more else {
        return (Ok(first), 1);
    };
    match core.take_more(out, max) {
        Ok(n) => (Ok(first), 1 + n),
        Err(panic) => {
            core.untake(first);
            (Err(panic), 0)
        }
    }
}

/// Who may now make progress after a write to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Wake {
    /// Nothing a blocked thread waits for has changed.
    Nobody,
    /// `n` tasks became claimable: wake `n` blocked claimers (all of them when `n > 1`; a batch
    /// is rare enough that a spurious wake-up costs less than counting sleepers per strategy).
    Claimers(usize),
    /// Room for `n` tasks appeared in a bounded queue: wake `n` blocked producers (all of them
    /// when `n > 1`).
    Producers(usize),
    /// The queue shut down: wake every blocked thread.
    Everyone,
}

impl Wake {
    /// Whom an add wakes: a claimer if it queued a task. If it was refused (a duplicate id, say)
    /// while the queue has room, the next blocked producer: this one may have been woken for that
    /// room, and must pass the wake-up on rather than leave the others asleep next to free room.
    /// A task added for later wakes nobody: if it falls due first, the core's `due_moved` has
    /// the sleepers re-time their sleep.
    pub(crate) fn after_add<K, P, S, Q>(
        result: &Result<TaskStatus, TryAddError<Q>>,
        core: &Core<K, P, S>,
    ) -> Wake {
        match result {
            Ok(TaskStatus::Scheduled) => Wake::Nobody,
            Ok(_) => Wake::Claimers(1),
            Err(_) if !core.is_full() => {
                mutant!(RefusedAddKeepsWake => Wake::Nobody, else Wake::Producers(1))
            }
            Err(_) => Wake::Nobody,
        }
    }
}

impl Wake {
    /// Whom failed claims wake: one claimer per task that went back in the queue.
    pub(crate) fn after_fail(requeued: usize) -> Wake {
        mutant!(FailSkipsWake => Wake::Nobody, else Wake::Claimers(requeued))
    }

    /// 1 if a failed claim put its task back in the queue, else 0.
    pub(crate) fn requeued(result: &Result<TaskStatus, TaskError>) -> usize {
        usize::from(*result == Ok(TaskStatus::Queued))
    }
}

/// The state behind [`Locked`]'s mutex.
pub struct State<K, P, S, W> {
    pub(crate) core: Core<K, P, S>,
    producers_waiting: usize,
    /// The claimers' own waiting state (a count, or a FIFO of hand-off channels).
    pub(crate) claimers: W,
}

/// [`Locked`]'s mutex guard.
pub type StateGuard<'a, K, P, S, C> =
    MutexGuard<'a, State<K, P, S, <C as Claimers<K, P>>::Waiting>>;

/// How blocked claimers wait and are woken in a [`Locked`] queue.
pub trait Claimers<K: Clone + Eq + Hash, P>: Sized {
    /// The claimers' state under the lock.
    type Waiting: Default;

    /// A fresh instance.
    fn new() -> Self;

    /// Called under the lock at the end of every write: may hand queued tasks to waiting
    /// claimers. Returns how many tasks left the queue that way (each made room), and a panic of
    /// `K::clone` caught while taking the rest of a batch, to re-raise after unlocking.
    fn settle<S: BuildHasher>(state: &mut State<K, P, S, Self::Waiting>) -> (usize, Option<Panic>);

    /// Whether some claimer sleeps and needs a notification (read under the lock).
    fn sleeping(waiting: &Self::Waiting) -> bool;

    /// After unlocking: wakes claimers as `wake` says, if `sleeping` said some sleep.
    fn notify(&self, wake: Wake, sleeping: bool);

    /// Under the lock: wakes every claimer in a timed wait without handing it anything, so that
    /// it re-checks its deadline (see [`Strategy::wake_sleepers`]).
    fn wake_timed(&self, waiting: &Self::Waiting);

    /// Under the lock, after a write that moved the earliest due time earlier: has every
    /// waiting claimer look at the queue again, so that it re-times its sleep.
    fn retime(&self, waiting: &mut Self::Waiting);

    /// The queue is empty and the deadline has not passed: sleeps, releasing the lock. Returns
    /// the lock to try again with, or the claim's result (for a batch claim, with the rest of
    /// the batch put in `more`, taken in the same critical section as the first task).
    fn sleep<'a, S: BuildHasher>(
        queue: &'a Locked<K, P, S, Self>,
        guard: StateGuard<'a, K, P, S, Self>,
        deadline: Deadline<'_>,
        more: &mut More<'_, K, P>,
    ) -> Slept<'a, K, P, S, Self>;
}

/// What [`Claimers::sleep`] came back with.
pub enum Slept<'a, K: Clone + Eq + Hash, P, S, C: Claimers<K, P>> {
    /// Woken (or timed out): check the queue again under this guard.
    Retry(StateGuard<'a, K, P, S, C>),
    /// The claim is decided.
    Done(Result<Task<K, P>, ClaimError>),
}

/// The core behind one mutex, producers on a condvar, claimers as `C` says.
pub struct Locked<K: Clone + Eq + Hash, P, S, C: Claimers<K, P>> {
    state: sync::Mutex<State<K, P, S, C::Waiting>>,
    /// The core's clock, for the deadlines of sleeps timed to a due task.
    pub(crate) clock: Clock,
    queued: QueuedCount,
    not_full: Condvar,
    pub(crate) claimers: C,
}

impl<K: Clone + Eq + Hash, P, S: BuildHasher, C: Claimers<K, P>> Locked<K, P, S, C> {
    pub(crate) fn lock(&self) -> StateGuard<'_, K, P, S, C> {
        self.state.lock()
    }

    /// Serves waiting claimers, publishes the queued count, unlocks, then wakes whom `wake`
    /// names (if they sleep), plus one producer per task handed to a waiting claimer: such a
    /// task left the queue like a claim does, so it made room.
    fn release(&self, mut state: StateGuard<'_, K, P, S, C>, wake: Wake) {
        let (handed, panic) = C::settle(&mut state);
        let handed = mutant!(ChannelHandOffSkipsProducerWake => 0, else handed);
        if state.core.take_due_moved() {
            self.claimers.retime(&mut state.claimers);
        }
        self.queued.publish(state.core.len());
        let claimers = C::sleeping(&state.claimers);
        let producers = state.producers_waiting > 0;
        drop(state);
        self.claimers.notify(wake, claimers);
        if producers {
            match wake {
                Wake::Everyone | Wake::Producers(2..) => self.not_full.notify_all(),
                Wake::Producers(1) => self.not_full.notify_one(),
                _ => {}
            }
            if wake != Wake::Everyone {
                for _ in 0..handed {
                    self.not_full.notify_one();
                }
            }
        }
        if let Some(panic) = panic {
            std::panic::resume_unwind(panic);
        }
    }
}

impl<K, P, S, C> Strategy<K, P, S> for Locked<K, P, S, C>
where
    K: Clone + Eq + Hash,
    S: BuildHasher,
    C: Claimers<K, P>,
{
    fn new(core: Core<K, P, S>) -> Self {
        Locked {
            queued: QueuedCount::new(core.len()),
            clock: core.clock().clone(),
            state: sync::Mutex::new(State {
                core,
                producers_waiting: 0,
                claimers: C::Waiting::default(),
            }),
            not_full: Condvar::new(),
            claimers: C::new(),
        }
    }

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

    fn add_until(&self, add: Add<K, P>, deadline: Deadline<'_>) -> Result<(), TryAddError<P>> {
        let mut state = self.state.lock();
        while state.core.add_would_block(&add.id) && !deadline.expired() {
            state = deadline.wait_counted(&self.not_full, state, |s| &mut s.producers_waiting);
        }
        let result = state.core.add(add.id, add.priority, add.payload, add.due);
        mutant!(ChannelAddSkipsSettle => { drop(state); return result.map(|_| ()); });
        let wake = Wake::after_add(&result, &state.core);
        let wake = mutant!(AddSkipsNotify => Wake::Nobody, else wake);
        self.release(state, wake);
        result.map(|_| ())
    }

    fn claim_until(
        &self,
        deadline: Deadline<'_>,
        mut more: More<'_, K, P>,
    ) -> Result<Task<K, P>, ClaimError> {
        let mut state = self.state.lock();
        let mut spun = false;
        loop {
            match state.core.best() {
                Ok(slot) => {
                    mutant!(SplitClaim => { drop(state); state = self.state.lock(); });
                    let task = state.core.take(slot);
                    let (task, taken) = take_more(&mut state.core, task, more);
                    let producers = Wake::Producers(taken);
                    let wake = mutant!(ClaimSkipsProducerNotify => Wake::Nobody, else producers);
                    self.release(state, wake);
                    return task.map_err(|panic| std::panic::resume_unwind(panic));
                }
                Err(ClaimError::Empty) if deadline.expired() => return Err(ClaimError::Timeout),
                Err(ClaimError::Empty) if !spun => {
                    // Before sleeping, spin briefly outside the lock for a task to arrive.
                    spun = true;
                    drop(state);
                    self.queued.spin_until_queued();
                    state = self.state.lock();
                }
                Err(ClaimError::Empty) => match C::sleep(self, state, deadline, &mut more) {
                    Slept::Retry(guard) => state = guard,
                    Slept::Done(result) => return result,
                },
                Err(e) => return Err(e),
            }
        }
    }

    fn wake_sleepers(&self) {
        // Every sleeper checked its deadline under this lock and sleeps by releasing it.
        let state = self.state.lock();
        self.claimers.wake_timed(&state.claimers);
        drop(state);
        self.not_full.notify_all();
    }
}
