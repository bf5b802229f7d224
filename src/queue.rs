//! The contract: the [`TaskQueue`] trait that every strategy implements.

use std::time::Duration;

use crate::{
    AddError, AddTimeoutError, ClaimError, ClaimGuard, Snapshot, Stats, Task, TaskError,
    TaskStatus, TryAddError,
};

/// A concurrent priority task queue.
///
/// Higher priorities are handed out first; equal priorities in the order they were added (FIFO).
/// Every method takes `&self`: share a queue between threads with `Arc` or scoped threads. The
/// trait is object-safe, so `&dyn TaskQueue<K, P>` works; pick a strategy
/// ([`ThreadSafeTaskQueue`](crate::ThreadSafeTaskQueue), [`RwLockTaskQueue`](crate::RwLockTaskQueue),
/// [`ChannelTaskQueue`](crate::ChannelTaskQueue)) by workload: they obey the same rules.
///
/// A task's life: `add_task` → `Queued` → claimed (`get_next_task`) → `Processing` →
/// `complete_task` → `Completed`; or `fail_task` → back to `Queued` with `attempts + 1`, until
/// `max_attempts` makes it `Failed`; or `cancel_task` while `Queued` → `Cancelled`.
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
/// assert_eq!(task.id, "high");
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

    /// Claims the best queued task and marks it `Processing`.
    ///
    /// `None` waits until a task arrives or the queue shuts down; `Some(d)` waits at most about
    /// `d` (a zero timeout still returns a ready task; `Duration::MAX` waits forever). After
    /// `shutdown()`, queued tasks are still handed out and then [`ClaimError::ShutDown`] is
    /// returned; after `shutdown_now()`, `ShutDown` at once. No task is handed to two claimers.
    fn get_next_task(&self, timeout: Option<Duration>) -> Result<Task<K, P>, ClaimError>;

    /// Claims the best queued task without waiting: [`ClaimError::Empty`] if there is none.
    fn try_get_next_task(&self) -> Result<Task<K, P>, ClaimError>;

    /// The task's status, or `None` if it is unknown (never added, or finished and forgotten).
    fn get_status(&self, id: &K) -> Option<TaskStatus>;

    /// Marks a `Processing` task `Completed`.
    fn complete_task(&self, id: &K) -> Result<(), TaskError>;

    /// Gives up on a `Processing` task for now: it goes back in the queue with `attempts + 1`
    /// (behind tasks of the same priority), or becomes `Failed` once it has failed
    /// `max_attempts` times. Returns the new status.
    fn fail_task(&self, id: &K) -> Result<TaskStatus, TaskError>;

    /// Cancels a `Queued` task; returns whether it did (false for unknown ids and other states).
    fn cancel_task(&self, id: &K) -> bool;

    /// Changes the priority of a `Queued` task, in O(log n). It keeps its place among tasks of
    /// its new priority by the time it was added.
    fn update_priority(&self, id: &K, priority: i64) -> Result<(), TaskError>;

    /// Forgets a finished task (`Completed`, `Cancelled` or `Failed`), so that its memory is
    /// freed and its id may be added again.
    fn forget_task(&self, id: &K) -> Result<(), TaskError>;

    /// Refuses new tasks and wakes every blocked thread. Queued tasks are still handed out;
    /// once none is left, claims return [`ClaimError::ShutDown`]. Idempotent.
    fn shutdown(&self);

    /// Refuses new tasks and claims at once, and returns the queued tasks (best first), which
    /// are marked `Cancelled`. Tasks being processed stay `Processing`; one that is failed
    /// afterwards goes back to `Queued` and is returned by the next `shutdown_now()`.
    fn shutdown_now(&self) -> Vec<Task<K, P>>;

    /// Whether `shutdown()` or `shutdown_now()` was called.
    fn is_shut_down(&self) -> bool;

    /// The number of queued tasks, in O(1).
    fn len(&self) -> usize;

    /// Whether no task is queued.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The bound on queued tasks, if any.
    fn capacity(&self) -> Option<usize>;

    /// Counts per status, and lifetime totals.
    fn stats(&self) -> Stats;

    /// Every task the queue knows: queued ones in the order they would be handed out, the ones
    /// being processed, and the finished ones still retained. With the `serde` feature it
    /// serializes; [`Builder::restore`](crate::Builder::restore) rebuilds a queue from it.
    fn snapshot(&self) -> Snapshot<K, P>;

    /// Checks the queue's internal invariants (task index, heap and counts agree). For tests and
    /// model checks; `Err` describes the first inconsistency found. The default checks nothing.
    #[doc(hidden)]
    fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }

    /// Claims a task inside a [`ClaimGuard`], which puts it back (as a failed attempt) if it is
    /// dropped without [`complete`](ClaimGuard::complete) or [`fail`](ClaimGuard::fail).
    ///
    /// ```
    /// use taskq::{TaskQueue, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task(1u64, 0, "job").unwrap();
    /// {
    ///     let _guard = q.claim(None).unwrap();
    ///     // the worker panics or returns early: the guard is dropped
    /// }
    /// assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    /// let guard = q.claim(None).unwrap();
    /// assert_eq!(guard.attempts, 1);
    /// guard.complete().unwrap();
    /// ```
    fn claim(&self, timeout: Option<Duration>) -> Result<ClaimGuard<'_, K, P>, ClaimError>
    where
        Self: Sized,
    {
        ClaimGuard::claim(self, timeout)
    }
}
