//! The in-memory engine: [`Queue`], one generic type over a waiting strategy, and its one
//! implementation of both contracts ([`TaskQueue`] and [`Backend`]).
//!
//! Layout: `core/` is the single-threaded state machine (index, heap, transitions, retention);
//! `strategy/` holds the ways of locking it and waking blocked threads; `wait.rs` the blocking
//! primitives they are built from. Which operation wakes whom is decided here, once, by the
//! [`Wake`] each write returns; the strategies only carry it out (their modules state how, and
//! why no wake-up is lost and no task is claimed twice).
//!
//! No user code runs under a lock where a panic could leave the core inconsistent: payloads leave
//! the core by value and are dropped here, after the lock is released (`Leftover`), and the core
//! calls `K`'s `Clone`, `Hash` and `Eq` before it changes anything (see `core/mod.rs`).

use std::borrow::Borrow;
use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::panic::{RefUnwindSafe, UnwindSafe};
use std::sync::Arc;
use std::time::{Duration, Instant};

pub(crate) mod core;
mod mirror;
pub(crate) mod strategy;
mod wait;

use self::core::Core;
use self::strategy::{Add, Strategy, Waiting, Wake};
use crate::mutant::mutant;
use crate::sync::{Clock, Deadline};
use crate::{
    AddError, AddTimeoutError, Backend, ClaimError, ClaimGuard, DefaultHashBuilder, MemoryError,
    OwnedClaimGuard, Snapshot, Stats, Task, TaskError, TaskQueue, TaskStatus, Token, TryAddError,
};

/// A concurrent priority task queue in memory, with the waiting strategy `W`
/// ([`strategy::Mutex`](crate::strategy::Mutex) by default) and the hasher `S` of its task index.
///
/// The public names are aliases of this one type:
/// [`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue) (`W` = `Mutex`),
/// [`RwLockTaskQueue`](crate::RwLockTaskQueue) and [`ChannelTaskQueue`](crate::ChannelTaskQueue).
/// It implements the rich [`TaskQueue`] contract and the fallible, fenced [`Backend`] contract.
/// Besides the trait methods, lookups by id accept any borrowed form of the id (`&str` for
/// `String` ids), as `HashMap` does.
///
/// ```
/// use taskq::{strategy, Queue, TaskQueue, TaskStatus};
///
/// let q: Queue<String, &str, strategy::RwLock> = Queue::new();
/// q.add_task("report-7".to_string(), 3, "render").unwrap();
/// assert_eq!(q.get_status("report-7"), Some(TaskStatus::Queued)); // no String allocated
/// assert!(q.cancel_task("report-7"));
/// ```
pub struct Queue<K, P, W = strategy::Mutex, S = DefaultHashBuilder>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
    state: W::State<K, P, S>,
    clock: Clock,
    strategy: PhantomData<fn() -> W>,
}

// The core stays consistent when user code panics (see the module comment), and a poisoned lock
// is not treated as an error; so every strategy may be observed after a caught panic.
impl<K, P, W, S> RefUnwindSafe for Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
}

impl<K, P, W, S> UnwindSafe for Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
}

impl<K: Clone + Eq + Hash + Send + Sync, P: Send, W: Waiting> Queue<K, P, W> {
    /// An unbounded queue with the default options.
    ///
    /// ```
    /// let q = taskq::ThreadSafeTaskQueue::<u64, String>::new();
    /// assert!(taskq::TaskQueue::is_empty(&q));
    /// ```
    pub fn new() -> Self {
        Self::from_core(Core::new(Default::default(), DefaultHashBuilder::default()))
    }

    /// A [`Builder`](crate::Builder) for this strategy.
    ///
    /// ```
    /// use taskq::{ChannelTaskQueue, TaskQueue};
    /// let q = ChannelTaskQueue::<u64, ()>::builder().capacity(8).build().unwrap();
    /// assert_eq!(q.capacity(), Some(8));
    /// ```
    pub fn builder() -> crate::Builder<Self> {
        crate::Builder::new()
    }
}

impl<K: Clone + Eq + Hash + Send + Sync, P: Send, W: Waiting> Default for Queue<K, P, W> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, P, W, S> Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
    pub(crate) fn from_core(core: Core<K, P, S>) -> Self {
        Queue {
            clock: core.clock().clone(),
            state: W::State::new(core),
            strategy: PhantomData,
        }
    }

    /// The clock the queue measures timeouts on.
    ///
    /// ```
    /// let q = taskq::ThreadSafeTaskQueue::<u64, ()>::new();
    /// assert!(q.clock().now() <= std::time::Instant::now());
    /// ```
    pub fn clock(&self) -> &Clock {
        &self.clock
    }

    /// [`TaskQueue::get_status`] with any borrowed form of the id.
    ///
    /// ```
    /// use taskq::{TaskStatus, ThreadSafeTaskQueue};
    /// let q = ThreadSafeTaskQueue::new();
    /// taskq::TaskQueue::add_task(&q, "a".to_string(), 0, ()).unwrap();
    /// assert_eq!(q.get_status("a"), Some(TaskStatus::Queued));
    /// ```
    pub fn get_status<Q: Hash + Eq + ?Sized>(&self, id: &Q) -> Option<TaskStatus>
    where
        K: Borrow<Q>,
    {
        self.state.status(id)
    }

    /// [`TaskQueue::complete_task`] with any borrowed form of the id.
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task("a".to_string(), 0, ()).unwrap();
    /// q.try_get_next_task().unwrap();
    /// assert_eq!(q.complete_task("a"), Ok(()));
    /// ```
    pub fn complete_task<Q: Hash + Eq + ?Sized>(&self, id: &Q) -> Result<(), TaskError>
    where
        K: Borrow<Q>,
    {
        self.state.write(|core| (core.complete(id), Wake::Nobody))
    }

    /// [`TaskQueue::cancel_task`] with any borrowed form of the id.
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task("a".to_string(), 0, ()).unwrap();
    /// assert!(q.cancel_task("a"));
    /// ```
    pub fn cancel_task<Q: Hash + Eq + ?Sized>(&self, id: &Q) -> bool
    where
        K: Borrow<Q>,
    {
        let payload = self.state.write(|core| {
            let payload = core.cancel(id);
            let wake = match payload {
                // The last scheduled task of a draining queue: the sleepers waiting for it learn
                // that nothing is left.
                Some(_) if core.is_drained() => Wake::Everyone,
                Some(_) => Wake::Producers(1),
                None => Wake::Nobody,
            };
            (payload, mutant!(CancelSkipsWake => Wake::Nobody, else wake))
        });
        // Dropped here, after the lock is released: a panicking `Drop` cannot hurt the queue.
        payload.is_some()
    }

    /// [`TaskQueue::update_priority`] with any borrowed form of the id.
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task("a".to_string(), 0, ()).unwrap();
    /// assert_eq!(q.update_priority("a", 9), Ok(()));
    /// ```
    pub fn update_priority<Q: Hash + Eq + ?Sized>(
        &self,
        id: &Q,
        priority: i64,
    ) -> Result<(), TaskError>
    where
        K: Borrow<Q>,
    {
        self.state
            .write(|core| (core.update_priority(id, priority), Wake::Nobody))
    }

    /// [`TaskQueue::forget_task`] with any borrowed form of the id.
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task("a".to_string(), 0, ()).unwrap();
    /// q.cancel_task("a");
    /// assert_eq!(q.forget_task("a"), Ok(()));
    /// ```
    pub fn forget_task<Q: Hash + Eq + ?Sized>(&self, id: &Q) -> Result<(), TaskError>
    where
        K: Borrow<Q>,
    {
        self.state.write(|core| (core.forget(id), Wake::Nobody))
    }

    /// Checks the queue's internal invariants (task index, heap order, payloads and counts
    /// agree); `Err` describes the first inconsistency found. For tests and model checks: it
    /// takes the lock exclusively and walks every record.
    #[doc(hidden)]
    pub fn check_invariants(&self) -> Result<(), String> {
        self.state.check_invariants()
    }

    /// Time moved: wakes every blocked claimer and producer, so that each re-checks its deadline
    /// (a spurious wake-up is harmless). For tests on a [`ManualClock`](crate::ManualClock): a
    /// sleeper on a manual clock notices an advance within about a millisecond anyway, but under
    /// loom, which does not model time, only this wakes it; a model's timer thread advances the
    /// clock, then calls this.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{strategy, ClaimError, ManualClock, Queue, TaskQueue};
    ///
    /// fn times_out<W: strategy::Waiting>() {
    ///     let time = ManualClock::new();
    ///     let q = Queue::<u64, (), W>::builder().clock(time.clock()).build().unwrap();
    ///     std::thread::scope(|s| {
    ///         let claimer = s.spawn(|| q.get_next_task(Some(Duration::from_secs(60))));
    ///         while !claimer.is_finished() {
    ///             time.advance(Duration::from_secs(61));
    ///             q.wake_sleepers();
    ///             std::thread::sleep(Duration::from_millis(1));
    ///         }
    ///         assert_eq!(claimer.join().unwrap().unwrap_err(), ClaimError::Timeout);
    ///     });
    /// }
    /// times_out::<strategy::Mutex>();
    /// times_out::<strategy::RwLock>();
    /// times_out::<strategy::Channel>();
    /// ```
    #[doc(hidden)]
    pub fn wake_sleepers(&self) {
        self.state.wake_sleepers();
    }

    /// Claims a batch: the first task as a single claim would, the rest in the same critical
    /// section.
    fn claim_batch(
        &self,
        max: usize,
        deadline: Deadline<'_>,
    ) -> Result<Vec<Task<K, P>>, ClaimError> {
        if max == 0 {
            return Ok(Vec::new());
        }
        let mut rest = Vec::with_capacity((max - 1).min(256));
        let first = self
            .state
            .claim_until(deadline, Some((&mut rest, max - 1)))?;
        rest.insert(0, first);
        Ok(rest)
    }

    /// Adds a task, ready at once or at `due`, blocking while a bounded queue is full.
    fn add_task_due(
        &self,
        id: K,
        priority: i64,
        payload: P,
        due: Option<Instant>,
    ) -> Result<(), AddError<P>> {
        let add = Add {
            id,
            priority,
            payload,
            due,
        };
        (self.state.add_until(add, Deadline::Never)).map_err(TryAddError::into_untimed)
    }

    /// Ends a claim unsuccessfully: back in the queue after `retry` (`None`: failed for good).
    fn fail_with(
        &self,
        task: Task<K, P>,
        retry: Option<Duration>,
    ) -> Result<TaskStatus, TaskError> {
        let (result, leftover) = self.state.write(|core| {
            let (result, leftover) = core.fail(task, retry);
            let wake = Wake::after_fail(Wake::requeued(&result));
            ((result, leftover), wake)
        });
        drop(leftover);
        result
    }
}

impl<K, P, W, S> Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync + 'static,
    P: Send + 'static,
    W: Waiting,
    S: BuildHasher + Send + Sync + 'static,
{
    /// Claims a task inside an [`OwnedClaimGuard`], which holds a clone of the `Arc` and so can
    /// move into a `'static` thread; see [`TaskQueue::claim`].
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q = Arc::new(ThreadSafeTaskQueue::new());
    /// q.add_task(1u64, 0, "job").unwrap();
    /// let guard = q.claim_owned(None).unwrap();
    /// std::thread::spawn(move || guard.complete().unwrap()).join().unwrap();
    /// assert_eq!(q.stats().total_completed, 1);
    /// ```
    pub fn claim_owned(
        self: &Arc<Self>,
        timeout: Option<Duration>,
    ) -> Result<OwnedClaimGuard<K, P>, ClaimError> {
        OwnedClaimGuard::claim(Arc::clone(self) as Arc<dyn TaskQueue<K, P>>, timeout)
    }
}

impl<K, P, W, S> TaskQueue<K, P> for Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
    fn add_task(&self, id: K, priority: i64, payload: P) -> Result<(), AddError<P>> {
        self.add_task_due(id, priority, payload, None)
    }

    fn add_task_at(
        &self,
        id: K,
        priority: i64,
        payload: P,
        at: Instant,
    ) -> Result<(), AddError<P>> {
        self.add_task_due(id, priority, payload, Some(at))
    }

    fn add_task_after(
        &self,
        id: K,
        priority: i64,
        payload: P,
        delay: Duration,
    ) -> Result<(), AddError<P>> {
        // A delay too long to add to the clock never falls due: as good as the far future.
        let far = || self.clock.now() + Duration::from_secs(100 * 365 * 24 * 3600);
        let at = self.clock.now().checked_add(delay).unwrap_or_else(far);
        self.add_task_due(id, priority, payload, Some(at))
    }

    fn try_add_task(&self, id: K, priority: i64, payload: P) -> Result<(), TryAddError<P>> {
        self.state.add_until(
            Add {
                id,
                priority,
                payload,
                due: None,
            },
            Deadline::Now,
        )
    }

    fn add_task_timeout(
        &self,
        id: K,
        priority: i64,
        payload: P,
        timeout: Duration,
    ) -> Result<(), AddTimeoutError<P>> {
        let deadline = Deadline::after(Some(timeout), &self.clock);
        self.state
            .add_until(
                Add {
                    id,
                    priority,
                    payload,
                    due: None,
                },
                deadline,
            )
            .map_err(TryAddError::into_timed)
    }

    fn get_next_task(&self, timeout: Option<Duration>) -> Result<Task<K, P>, ClaimError> {
        self.state
            .claim_until(Deadline::after(timeout, &self.clock), None)
    }

    fn try_get_next_task(&self) -> Result<Task<K, P>, ClaimError> {
        self.state
            .claim_until(Deadline::Now, None)
            .map_err(ClaimError::untimed)
    }

    fn get_next_tasks(
        &self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<Task<K, P>>, ClaimError> {
        self.claim_batch(max, Deadline::after(timeout, &self.clock))
    }

    fn try_get_next_tasks(&self, max: usize) -> Result<Vec<Task<K, P>>, ClaimError> {
        self.claim_batch(max, Deadline::Now)
            .map_err(ClaimError::untimed)
    }

    fn try_add_tasks(&self, tasks: Vec<Task<K, P>>) -> Vec<TryAddError<Task<K, P>>> {
        let (refused, panic) = self.state.write(|core| {
            let mut refused = Vec::new();
            let mut added = 0;
            // A panicking `Hash`, `Eq` or `Clone` of one id leaves the tasks before it added
            // (each add is whole); they are announced before the panic goes on.
            let panic = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                for task in tasks {
                    match core.add_task(task) {
                        Ok(_) => added += 1,
                        Err(why) => refused.push(why),
                    }
                }
            }))
            .err();
            let wake = Wake::Claimers(added);
            (
                (refused, panic),
                mutant!(BatchAddWakesOne => Wake::Claimers(added.min(1)), else wake),
            )
        });
        if let Some(panic) = panic {
            std::panic::resume_unwind(panic);
        }
        refused
    }

    fn complete_claims(&self, claims: &[(K, Token)]) -> Vec<Result<(), TaskError>> {
        self.state.write(|core| {
            let results = claims
                .iter()
                .map(|(id, token)| core.complete_claim(id, *token))
                .collect();
            (results, Wake::Nobody)
        })
    }

    fn fail_tasks(&self, tasks: Vec<Task<K, P>>) -> Vec<Result<TaskStatus, TaskError>> {
        let (results, leftovers): (Vec<_>, Vec<_>) = self.state.write(|core| {
            let mut requeued = 0;
            let outcome: (Vec<_>, Vec<_>) = tasks
                .into_iter()
                .map(|task| {
                    let (result, leftover) = core.fail(task, Some(Duration::ZERO));
                    requeued += Wake::requeued(&result);
                    (result, leftover)
                })
                .unzip();
            (outcome, Wake::after_fail(requeued))
        });
        // Payloads of tasks failed for good (or refused) are dropped here, after unlocking.
        drop(leftovers);
        results
    }

    fn get_status(&self, id: &K) -> Option<TaskStatus> {
        Queue::get_status(self, id)
    }

    fn complete_task(&self, id: &K) -> Result<(), TaskError> {
        Queue::complete_task(self, id)
    }

    fn complete_claim(&self, id: &K, token: Token) -> Result<(), TaskError> {
        self.state.write(|core| {
            let result = mutant!(CompleteClaimIgnoresToken => core.complete(id), else core.complete_claim(id, token));
            (result, Wake::Nobody)
        })
    }

    fn fail_task(&self, task: Task<K, P>) -> Result<TaskStatus, TaskError> {
        self.fail_with(task, Some(Duration::ZERO))
    }

    fn fail_task_after(&self, task: Task<K, P>, delay: Duration) -> Result<TaskStatus, TaskError> {
        self.fail_with(task, Some(delay))
    }

    fn cancel_task(&self, id: &K) -> bool {
        Queue::cancel_task(self, id)
    }

    fn update_priority(&self, id: &K, priority: i64) -> Result<(), TaskError> {
        Queue::update_priority(self, id, priority)
    }

    fn forget_task(&self, id: &K) -> Result<(), TaskError> {
        Queue::forget_task(self, id)
    }

    fn shutdown(&self) {
        self.state.write(|core| {
            core.shutdown();
            ((), Wake::Everyone)
        })
    }

    fn shutdown_now(&self) -> Vec<Task<K, P>> {
        self.state
            .write(|core| (core.shutdown_now(), Wake::Everyone))
    }

    fn is_shut_down(&self) -> bool {
        self.state.read(|core| core.is_shut_down())
    }

    fn len(&self) -> usize {
        self.state.len()
    }

    fn capacity(&self) -> Option<usize> {
        self.state.read(|core| core.capacity())
    }

    fn stats(&self) -> Stats {
        self.state.read(|core| core.stats())
    }

    fn snapshot(&self) -> Snapshot<K, P>
    where
        P: Clone,
    {
        self.state.write(|core| (core.snapshot(), Wake::Nobody))
    }

    fn claim(&self, timeout: Option<Duration>) -> Result<ClaimGuard<'_, K, P>, ClaimError> {
        ClaimGuard::claim(self, timeout)
    }
}

impl<K, P, W, S> Backend<K, P> for Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
    type Error = MemoryError;

    fn enqueue(&self, id: K, priority: i64, payload: P) -> Result<(), MemoryError> {
        (self.add_task(id, priority, payload)).map_err(MemoryError::from_add)
    }

    fn lease(&self, wait: Option<Duration>) -> Result<Option<Task<K, P>>, MemoryError> {
        match self.get_next_task(wait) {
            Ok(task) => Ok(Some(task)),
            Err(ClaimError::Timeout | ClaimError::Empty) => Ok(None),
            Err(_) => Err(MemoryError::ShutDown),
        }
    }

    fn heartbeat(&self, task: &Task<K, P>) -> Result<(), MemoryError> {
        let (id, token) = (&task.id, task.token);
        (self.state.read(|core| core.check_claim(id, token))).map_err(lease_error)
    }

    fn complete(&self, task: &Task<K, P>) -> Result<(), MemoryError> {
        (self.complete_claim(&task.id, task.token)).map_err(lease_error)
    }

    fn enqueue_after(
        &self,
        id: K,
        priority: i64,
        payload: P,
        delay: Duration,
    ) -> Result<(), MemoryError> {
        self.add_task_after(id, priority, payload, delay)
            .map_err(MemoryError::from_add)
    }

    fn retry_after(&self, task: Task<K, P>, delay: Duration) -> Result<TaskStatus, MemoryError> {
        (self.fail_with(task, Some(delay))).map_err(lease_error)
    }

    fn fail(&self, task: Task<K, P>) -> Result<(), MemoryError> {
        (self.fail_with(task, None).map(|_| ())).map_err(lease_error)
    }

    fn release(&self, task: Task<K, P>) -> Result<(), MemoryError> {
        let (result, leftover) = self.state.write(|core| match core.release(task) {
            Ok(()) => ((Ok(()), None), Wake::after_fail(1)),
            Err((e, payload)) => ((Err(e), Some(payload)), Wake::Nobody),
        });
        drop(leftover);
        result.map_err(lease_error)
    }

    fn queued(&self) -> Result<Option<usize>, MemoryError> {
        Ok(Some(self.len()))
    }

    fn status(&self, id: &K) -> Result<Option<TaskStatus>, MemoryError> {
        Ok(Queue::get_status(self, id))
    }
}

/// A refused operation on a lease: a claim that has ended (its task no longer `Processing` under
/// it) is a stale lease, as the [`Backend`] contract says.
fn lease_error(e: TaskError) -> MemoryError {
    match e {
        TaskError::InvalidState { .. } => MemoryError::Task(TaskError::Stale),
        e => MemoryError::Task(e),
    }
}

/// Prints the strategy and the lock-free counters only: no lock is taken and no task (nor its
/// payload) is formatted.
impl<K, P, W, S> fmt::Debug for Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: BuildHasher + Send + Sync,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Queue")
            .field("strategy", &W::NAME)
            .field("len", &self.state.len())
            .field("clock", &self.clock)
            .finish_non_exhaustive()
    }
}
