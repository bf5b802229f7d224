//! The two contracts: [`TaskQueue`], the rich in-memory API, and [`Backend`], the fallible,
//! lease-fenced API that a store which can fail or lives in another process can implement
//! honestly (the in-memory [`Queue`](crate::Queue) implements both).

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::{
    AddError, AddTimeoutError, ClaimError, ClaimGuard, Snapshot, Stats, Task, TaskError,
    TaskStatus, Token, TryAddError,
};

/// A concurrent priority task queue.
///
/// Higher priorities are handed out first; equal priorities in the order they were added (FIFO).
/// Every method takes `&self`: share a queue between threads with `Arc` or scoped threads. The
/// trait is object-safe (`&dyn TaskQueue<K, P>` works, [`claim`](Self::claim) included); pick a
/// strategy ([`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue),
/// [`RwLockTaskQueue`](crate::RwLockTaskQueue), [`ChannelTaskQueue`](crate::ChannelTaskQueue)) by
/// workload: they obey the same rules.
///
/// A task's life: `add_task` → `Queued` → claimed (`get_next_task`, which moves the payload to
/// the claimer) → `Processing` → `complete_task` → `Completed`; or `fail_task` (the claimer hands
/// the task back) → `Queued` again with `attempts + 1`, until `max_attempts` makes it `Failed`; or
/// `cancel_task` while `Queued` → `Cancelled`.
///
/// ```
/// use std::time::Duration;
/// use taskq::{TaskQueue, TaskStatus, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// q.add_task("low", 1, "sweep").unwrap();
/// q.add_task("high", 9, "page the on-call").unwrap();
///
/// let task = q.get_next_task(Some(Duration::from_secs(1))).unwrap();
/// assert_eq!((task.id, task.payload), ("high", "page the on-call"));
/// assert_eq!(q.get_status(&"high"), Some(TaskStatus::Processing));
/// q.complete_task(&"high").unwrap();
/// assert_eq!(q.get_status(&"high"), Some(TaskStatus::Completed));
/// assert_eq!(q.len(), 1);
/// ```
pub trait TaskQueue<K, P>: Send + Sync {
    /// Adds a task. Blocks while a bounded queue is full.
    ///
    /// Fails, handing the payload back, if a task with this id is still known (queued,
    /// processing, or finished and retained) or if the queue was shut down.
    fn add_task(&self, id: K, priority: i64, payload: P) -> Result<(), AddError<P>>;

    /// Adds a task that is [`TaskStatus::Scheduled`] until `at` (an instant on the queue's
    /// clock: `q.clock().now() + delay`), then queued as if added at that moment: it is never
    /// handed out before, and a claimer waiting with no task ready wakes when it falls due. An
    /// instant already past queues it at once. Blocks while a bounded queue is full (scheduled
    /// tasks count towards its capacity). Cancel and `update_priority` work on it while it waits.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{ClaimError, ManualClock, TaskQueue, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let time = ManualClock::new();
    /// let q = ThreadSafeTaskQueue::builder().clock(time.clock()).build().unwrap();
    /// let at = q.clock().now() + Duration::from_secs(30);
    /// q.add_task_at("report", 1, "render", at).unwrap();
    /// assert_eq!(q.get_status(&"report"), Some(TaskStatus::Scheduled));
    /// assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    /// time.advance(Duration::from_secs(30));
    /// assert_eq!(q.try_get_next_task().unwrap().payload, "render");
    /// ```
    fn add_task_at(
        &self,
        id: K,
        priority: i64,
        payload: P,
        at: std::time::Instant,
    ) -> Result<(), AddError<P>>;

    /// [`add_task_at`](Self::add_task_at) `delay` from now on the queue's clock.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{TaskQueue, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task_after(1u64, 0, "soon", Duration::from_millis(20)).unwrap();
    /// assert_eq!(q.get_status(&1), Some(TaskStatus::Scheduled));
    /// // A blocked claimer wakes when the task falls due.
    /// let task = q.get_next_task(Some(Duration::from_secs(10))).unwrap();
    /// assert_eq!(task.payload, "soon");
    /// ```
    fn add_task_after(
        &self,
        id: K,
        priority: i64,
        payload: P,
        delay: Duration,
    ) -> Result<(), AddError<P>>;

    /// Adds a task without blocking: a full bounded queue gives [`TryAddError::Full`].
    fn try_add_task(&self, id: K, priority: i64, payload: P) -> Result<(), TryAddError<P>>;

    /// Adds a task, waiting at most `timeout` for room in a bounded queue.
    fn add_task_timeout(
        &self,
        id: K,
        priority: i64,
        payload: P,
        timeout: Duration,
    ) -> Result<(), AddTimeoutError<P>>;

    /// Claims the best queued task: marks it `Processing` and moves its payload to the caller.
    ///
    /// `None` waits until a task arrives or the queue shuts down; `Some(d)` waits at most about
    /// `d` (a zero timeout still returns a ready task; `Duration::MAX` waits forever). After
    /// `shutdown()`, queued tasks are still handed out and then [`ClaimError::ShutDown`] is
    /// returned; after `shutdown_now()`, `ShutDown` at once. No task is handed to two claimers.
    fn get_next_task(&self, timeout: Option<Duration>) -> Result<Task<K, P>, ClaimError>;

    /// Claims the best queued task without waiting: [`ClaimError::Empty`] if there is none.
    fn try_get_next_task(&self) -> Result<Task<K, P>, ClaimError>;

    /// Claims up to `max` of the best queued tasks at once, taking the lock once: waits for the
    /// first as [`get_next_task`](Self::get_next_task) does (same `timeout`, same errors), then
    /// takes as many more as are queued at that moment, best first, up to `max` in all. `max == 0`
    /// returns an empty batch at once.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{Task, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.try_add_tasks((0..5u64).map(|id| Task::new(id, id as i64, ())).collect());
    /// let batch = q.get_next_tasks(3, Some(Duration::from_secs(1))).unwrap();
    /// assert_eq!(batch.iter().map(|t| t.id).collect::<Vec<_>>(), [4, 3, 2]);
    /// let claims: Vec<_> = batch.iter().map(|t| (t.id, t.token())).collect();
    /// assert!(q.complete_claims(&claims).iter().all(Result::is_ok));
    /// assert_eq!(q.len(), 2);
    /// ```
    fn get_next_tasks(
        &self,
        max: usize,
        timeout: Option<Duration>,
    ) -> Result<Vec<Task<K, P>>, ClaimError>;

    /// Claims up to `max` of the best queued tasks without waiting: [`ClaimError::Empty`] if
    /// there is none (and `max > 0`).
    fn try_get_next_tasks(&self, max: usize) -> Result<Vec<Task<K, P>>, ClaimError>;

    /// Adds many tasks, taking the lock once. Never blocks: each task is accepted or refused on
    /// its own, in order, exactly as [`try_add_task`](Self::try_add_task) would (so a batch that
    /// repeats an id adds the first and refuses the rest). Returns the refused tasks, in order,
    /// each whole inside the error that says why; an empty vector means every task was added.
    /// Only the id, priority and payload of each task are used.
    ///
    /// ```
    /// use taskq::{Task, TaskQueue, ThreadSafeTaskQueue, TryAddError};
    ///
    /// let q = ThreadSafeTaskQueue::builder().capacity(2).build().unwrap();
    /// let refused = q.try_add_tasks(vec![
    ///     Task::new(1u64, 0, "a"),
    ///     Task::new(1, 0, "again"),
    ///     Task::new(2, 0, "b"),
    ///     Task::new(3, 0, "no room"),
    /// ]);
    /// assert_eq!(q.len(), 2);
    /// assert!(matches!(&refused[..], [TryAddError::Duplicate(d), TryAddError::Full(f)]
    ///     if d.payload == "again" && f.id == 3));
    /// ```
    fn try_add_tasks(&self, tasks: Vec<Task<K, P>>) -> Vec<TryAddError<Task<K, P>>>;

    /// Completes many claims, taking the lock once: each `(id, token)` as
    /// [`complete_claim`](Self::complete_claim) would, in order. Returns one result per claim.
    fn complete_claims(&self, claims: &[(K, Token)]) -> Vec<Result<(), TaskError>>;

    /// Hands many claimed tasks back, taking the lock once: each as
    /// [`fail_task`](Self::fail_task) would, in order. Returns one result per task.
    ///
    /// ```
    /// use taskq::{Task, TaskQueue, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::builder().max_attempts(2).build().unwrap();
    /// q.try_add_tasks(vec![Task::new(1u64, 0, ()), Task::new(2, 0, ())]);
    /// let batch = q.try_get_next_tasks(10).unwrap();
    /// assert_eq!(q.fail_tasks(batch), [Ok(TaskStatus::Queued), Ok(TaskStatus::Queued)]);
    /// let batch = q.try_get_next_tasks(10).unwrap();
    /// assert_eq!(q.fail_tasks(batch), [Ok(TaskStatus::Failed), Ok(TaskStatus::Failed)]);
    /// ```
    fn fail_tasks(&self, tasks: Vec<Task<K, P>>) -> Vec<Result<TaskStatus, TaskError>>;

    /// The task's status, or `None` if it is unknown (never added, or finished and forgotten).
    fn get_status(&self, id: &K) -> Option<TaskStatus>;

    /// Marks a `Processing` task `Completed`, whoever claimed it. A worker finishing its own
    /// claim should prefer [`complete_claim`](Self::complete_claim), which cannot complete a
    /// later claim of the same id.
    fn complete_task(&self, id: &K) -> Result<(), TaskError>;

    /// Marks the claim `token` of `id` `Completed`; refused with [`TaskError::Stale`] if that
    /// claim is no longer the task's current one.
    ///
    /// ```
    /// use taskq::{TaskError, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task(1u64, 0, ()).unwrap();
    /// let first = q.try_get_next_task().unwrap();
    /// q.fail_task(first.clone()).unwrap(); // back in the queue...
    /// let second = q.try_get_next_task().unwrap(); // ...and claimed again
    /// assert_eq!(q.complete_claim(&1, first.token()), Err(TaskError::Stale));
    /// assert_eq!(q.complete_claim(&1, second.token()), Ok(()));
    /// ```
    fn complete_claim(&self, id: &K, token: Token) -> Result<(), TaskError>;

    /// Hands a claimed task back unfinished: it goes back in the queue with `attempts + 1`
    /// (behind tasks of the same priority), or becomes `Failed` once it has failed
    /// `max_attempts` times. Returns the new status. Fenced by the task's token: a stale task is
    /// refused ([`TaskError::Stale`]) and changes nothing.
    fn fail_task(&self, task: Task<K, P>) -> Result<TaskStatus, TaskError>;

    /// [`fail_task`](Self::fail_task), but the task comes back only once `delay` has passed: it is
    /// `Scheduled` until then (`Queued` at once for a zero delay; `Failed` if it has used up its
    /// attempts). Retries with backoff are built on it.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{ManualClock, TaskQueue, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let time = ManualClock::new();
    /// let q = ThreadSafeTaskQueue::builder().clock(time.clock()).build().unwrap();
    /// q.add_task(1u64, 0, "flaky").unwrap();
    /// let task = q.try_get_next_task().unwrap();
    /// let status = q.fail_task_after(task, Duration::from_secs(5)).unwrap();
    /// assert_eq!(status, TaskStatus::Scheduled);
    /// assert!(q.try_get_next_task().is_err());
    /// time.advance(Duration::from_secs(5));
    /// assert_eq!(q.try_get_next_task().unwrap().attempts, 1);
    /// ```
    fn fail_task_after(&self, task: Task<K, P>, delay: Duration) -> Result<TaskStatus, TaskError>;

    /// Cancels a `Queued` or `Scheduled` task; returns whether it did (false for unknown ids
    /// and other states).
    fn cancel_task(&self, id: &K) -> bool;

    /// Changes the priority of a `Queued` or `Scheduled` task, in O(log n). It keeps its place among tasks of
    /// its new priority by the time it was added.
    fn update_priority(&self, id: &K, priority: i64) -> Result<(), TaskError>;

    /// Forgets a finished task (`Completed`, `Cancelled` or `Failed`), so that its memory is
    /// freed and its id may be added again.
    fn forget_task(&self, id: &K) -> Result<(), TaskError>;

    /// Refuses new tasks and wakes every blocked thread. Queued tasks are still handed out;
    /// once none is left, claims return [`ClaimError::ShutDown`]. Idempotent.
    ///
    /// A task still being processed may come back afterwards (its worker calls `fail_task`, or
    /// drops its guard): it is queued again, but claimers that already saw `ShutDown` have left.
    /// Keep the worker that failed it claiming until it sees `ShutDown` itself, or collect such
    /// tasks with [`shutdown_now`](Self::shutdown_now) once the workers have stopped.
    fn shutdown(&self);

    /// Refuses new tasks and claims at once, and returns the queued tasks (best first), which
    /// are marked `Cancelled`. Tasks being processed stay `Processing`; one that is failed
    /// afterwards goes back to `Queued` and is returned by the next `shutdown_now()`.
    fn shutdown_now(&self) -> Vec<Task<K, P>>;

    /// Whether `shutdown()` or `shutdown_now()` was called.
    fn is_shut_down(&self) -> bool;

    /// The number of queued tasks, in O(1). Scheduled tasks are not counted; a scheduled task
    /// that fell due is counted from the next operation on the queue (a claim, an add), which
    /// moves it to the queue, although `get_status` reports it `Queued` from its due time on.
    fn len(&self) -> usize;

    /// Whether no task is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on queued tasks, if any.
    fn capacity(&self) -> Option<usize>;

    /// Counts per status, and lifetime totals.
    fn stats(&self) -> Stats;

    /// Every task the queue knows: queued ones (with a clone of their payload) in the order they
    /// would be handed out, the ones being processed (without payload: it is with the claimer),
    /// and the finished ones still retained. With the `serde` feature it serializes;
    /// [`Builder::restore`](crate::Builder::restore) rebuilds a queue from it.
    fn snapshot(&self) -> Snapshot<K, P>
    where
        P: Clone;

    /// Claims a task inside a [`ClaimGuard`], which hands it back (as a failed attempt) if it is
    /// dropped without [`complete`](ClaimGuard::complete) or [`fail`](ClaimGuard::fail). Works on
    /// `&dyn TaskQueue` too; for a guard that can move into a `'static` thread, see
    /// [`Queue::claim_owned`](crate::Queue::claim_owned).
    ///
    /// ```
    /// use taskq::{TaskQueue, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task(1u64, 0, "job").unwrap();
    /// let dyn_q: &dyn TaskQueue<u64, &str> = &q;
    /// {
    ///     let _guard = dyn_q.claim(None).unwrap();
    ///     // the worker panics or returns early: the guard is dropped
    /// }
    /// assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    /// let guard = q.claim(None).unwrap();
    /// assert_eq!(guard.attempts, 1);
    /// guard.complete().unwrap();
    /// ```
    fn claim(&self, timeout: Option<Duration>) -> Result<ClaimGuard<'_, K, P>, ClaimError>;
}

/// The contract for a task store that can fail or lives elsewhere (a database, another
/// process): every operation is fallible, a claim is a lease fenced by a [`Token`], and every
/// operation on a lease is refused with an error of kind [`ErrorKind::Stale`] once the lease is
/// stale (its claim was ended by anyone: completed, retried, failed; or its task was re-added or
/// claimed again since), so a task is never completed twice nor overwritten after it finished.
///
/// The worker pool builds on this contract only. The in-memory [`Queue`](crate::Queue)
/// implements it (leases never expire there: a lease ends when its holder completes, retries or
/// fails it).
///
/// ```
/// use std::time::Duration;
/// use taskq::{Backend, BackendError, ErrorKind, TaskStatus, ThreadSafeTaskQueue};
///
/// fn work<B: Backend<u64, String>>(backend: &B) -> Result<usize, B::Error> {
///     let mut done = 0;
///     while let Some(lease) = backend.lease(Some(Duration::ZERO))? {
///         if lease.payload.is_empty() {
///             backend.fail(lease)?; // hopeless: failed for good
///         } else {
///             backend.complete(&lease)?;
///             done += 1;
///         }
///     }
///     Ok(done)
/// }
///
/// let q = ThreadSafeTaskQueue::new();
/// q.enqueue(1, 5, "resize".to_string()).unwrap();
/// q.enqueue(2, 1, String::new()).unwrap();
/// assert_eq!(work(&q), Ok(1));
/// assert_eq!(q.status(&2), Ok(Some(TaskStatus::Failed)));
/// assert_eq!(q.enqueue(1, 0, "again".into()).unwrap_err().kind(), ErrorKind::Duplicate);
/// ```
pub trait Backend<K, P>: Send + Sync {
    /// Why an operation failed; [`BackendError::kind`] says what a caller can do about it.
    type Error: BackendError;

    /// Adds a task (the in-memory queue blocks while it is full).
    fn enqueue(&self, id: K, priority: i64, payload: P) -> Result<(), Self::Error>;

    /// Leases the best ready task, waiting at most `wait` (`None`: until one is ready). `Ok(None)`
    /// when the wait ran out; an error of kind [`ErrorKind::ShutDown`] once the store is shut down
    /// and has nothing left to hand out.
    fn lease(&self, wait: Option<Duration>) -> Result<Option<Task<K, P>>, Self::Error>;

    /// Confirms that the lease is still held (and, where leases expire, extends it).
    fn heartbeat(&self, lease: &Task<K, P>) -> Result<(), Self::Error>;

    /// Completes the leased task.
    fn complete(&self, lease: &Task<K, P>) -> Result<(), Self::Error>;

    /// Adds a task that becomes ready once `delay` has passed: until then it is
    /// [`TaskStatus::Scheduled`] and never leased. A zero delay is [`enqueue`](Self::enqueue).
    fn enqueue_after(
        &self,
        id: K,
        priority: i64,
        payload: P,
        delay: Duration,
    ) -> Result<(), Self::Error>;

    /// Puts the leased task back for another attempt (`Queued`), or fails it once it has used up
    /// its attempts (`Failed`). Returns the new status.
    fn retry(&self, lease: Task<K, P>) -> Result<TaskStatus, Self::Error> {
        self.retry_after(lease, Duration::ZERO)
    }

    /// Puts the leased task back for another attempt once `delay` has passed (`Scheduled` until
    /// then, `Queued` at once for a zero delay), or fails it once it has used up its attempts
    /// (`Failed`). Returns the new status. The worker pool's backoff is built on this.
    fn retry_after(&self, lease: Task<K, P>, delay: Duration) -> Result<TaskStatus, Self::Error>;

    /// Fails the leased task for good, whatever attempts it has left.
    fn fail(&self, lease: Task<K, P>) -> Result<(), Self::Error>;

    /// Hands the leased task back unrun: it is queued again in its place, without counting an
    /// attempt (a worker that leased it as it was told to stop). The default is
    /// [`retry`](Self::retry), which does count one; the in-memory queue overrides it.
    fn release(&self, lease: Task<K, P>) -> Result<(), Self::Error> {
        self.retry(lease).map(|_| ())
    }

    /// How many tasks are ready to be leased, if the store can tell cheaply (`Ok(None)` if not,
    /// the default). The worker pool shows it in its live counters.
    fn queued(&self) -> Result<Option<usize>, Self::Error> {
        Ok(None)
    }

    /// The task's status, `None` if it is unknown.
    fn status(&self, id: &K) -> Result<Option<TaskStatus>, Self::Error>;
}

/// What kind of failure a [`Backend`] reported, so that generic callers (the worker pool) can
/// react: stop, drop a stale lease, try again later.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// The store is shut down (and, for a lease, drained).
    ShutDown,
    /// The lease is no longer the task's current claim.
    Stale,
    /// No task with this id is known.
    NotFound,
    /// A task with this id is already known.
    Duplicate,
    /// The task is not in a state the operation applies to.
    InvalidState,
    /// The store could not be reached; the operation may succeed if tried again.
    Unavailable,
    /// Anything else.
    Other,
}

/// An error of a [`Backend`].
pub trait BackendError: Error + Send + Sync + 'static {
    /// What kind of failure this is.
    fn kind(&self) -> ErrorKind;
}

/// Why the in-memory queue refused a [`Backend`] operation.
///
/// ```
/// use taskq::{Backend, BackendError, ErrorKind, MemoryError, TaskError, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::<u64, ()>::new();
/// assert_eq!(q.status(&1), Ok(None));
/// q.enqueue(1, 0, ()).unwrap();
/// let lease = q.lease(None).unwrap().unwrap();
/// q.complete(&lease).unwrap();
/// let err = q.complete(&lease).unwrap_err(); // that claim has ended: the lease is stale
/// assert_eq!(err, MemoryError::Task(TaskError::Stale));
/// assert_eq!(err.kind(), ErrorKind::Stale);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum MemoryError {
    /// A task with this id is still known.
    Duplicate,
    /// The queue is shut down (and, for a lease, drained).
    ShutDown,
    /// An operation on a task or lease was refused.
    Task(TaskError),
}

impl MemoryError {
    pub(crate) fn from_add<P>(e: AddError<P>) -> Self {
        match e {
            AddError::Duplicate(_) => MemoryError::Duplicate,
            AddError::ShutDown(_) => MemoryError::ShutDown,
        }
    }
}

impl From<TaskError> for MemoryError {
    fn from(e: TaskError) -> Self {
        MemoryError::Task(e)
    }
}

impl fmt::Display for MemoryError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            MemoryError::Duplicate => f.write_str("a task with this id is already known"),
            MemoryError::ShutDown => f.write_str("the queue is shut down"),
            MemoryError::Task(e) => fmt::Display::fmt(e, f),
        }
    }
}

impl Error for MemoryError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            MemoryError::Task(e) => Some(e),
            _ => None,
        }
    }
}

impl BackendError for MemoryError {
    fn kind(&self) -> ErrorKind {
        match self {
            MemoryError::Duplicate => ErrorKind::Duplicate,
            MemoryError::ShutDown => ErrorKind::ShutDown,
            MemoryError::Task(TaskError::NotFound) => ErrorKind::NotFound,
            MemoryError::Task(TaskError::Stale) => ErrorKind::Stale,
            MemoryError::Task(_) => ErrorKind::InvalidState,
        }
    }
}
