//! The values a queue hands out and reports: [`Task`], [`TaskStatus`], [`Stats`], [`Retention`].

use std::fmt;
use std::sync::Arc;

/// A task handed out by a queue.
///
/// The payload is shared (`Arc<P>`): the queue keeps its own reference while the task is being
/// processed, so that [`fail_task`](crate::TaskQueue::fail_task) (or a dropped
/// [`ClaimGuard`](crate::ClaimGuard)) can put the task back without asking the worker for it.
///
/// ```
/// use taskq::{TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// q.add_task("resize", 5, vec![1, 2, 3]).unwrap();
/// let task = q.try_get_next_task().unwrap();
/// assert_eq!((task.id, task.priority, task.attempts), ("resize", 5, 0));
/// assert_eq!(*task.payload, vec![1, 2, 3]);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Task<K, P> {
    /// The id it was added with.
    pub id: K,
    /// Its priority: higher runs first; equal priorities run in the order they were added.
    pub priority: i64,
    /// Its payload.
    pub payload: Arc<P>,
    /// How many times it has failed so far (0 on the first claim).
    pub attempts: u32,
}

impl<K: fmt::Debug, P> fmt::Debug for Task<K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("priority", &self.priority)
            .field("attempts", &self.attempts)
            .finish_non_exhaustive()
    }
}

/// Where a task is in its life.
///
/// `Queued` → `Processing` (claimed) → `Completed`, or back to `Queued` on failure until
/// `max_attempts` makes it `Failed`; `Queued` → `Cancelled`.
///
/// ```
/// use taskq::TaskStatus;
/// assert!(TaskStatus::Completed.is_finished());
/// assert!(!TaskStatus::Processing.is_finished());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum TaskStatus {
    /// Waiting in the queue to be claimed.
    Queued,
    /// Claimed by a worker, not yet completed or failed.
    Processing,
    /// Completed by its worker.
    Completed,
    /// Cancelled while queued (or returned by `shutdown_now`).
    Cancelled,
    /// Failed `max_attempts` times.
    Failed,
}

impl TaskStatus {
    /// Whether the task has reached a final state (`Completed`, `Cancelled` or `Failed`).
    ///
    /// ```
    /// assert!(taskq::TaskStatus::Failed.is_finished());
    /// ```
    pub fn is_finished(self) -> bool {
        matches!(
            self,
            TaskStatus::Completed | TaskStatus::Cancelled | TaskStatus::Failed
        )
    }
}

impl fmt::Display for TaskStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TaskStatus::Queued => "queued",
            TaskStatus::Processing => "processing",
            TaskStatus::Completed => "completed",
            TaskStatus::Cancelled => "cancelled",
            TaskStatus::Failed => "failed",
        })
    }
}

/// Counts of the tasks a queue knows, per status, plus lifetime totals.
///
/// The per-status counts cover the tasks the queue still remembers: finished tasks that the
/// [`Retention`] policy dropped (or that were forgotten) are only in the totals.
///
/// ```
/// use taskq::{TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// q.add_task(1u64, 0, ()).unwrap();
/// q.add_task(2u64, 0, ()).unwrap();
/// q.cancel_task(&2);
/// let s = q.stats();
/// assert_eq!((s.queued, s.cancelled, s.total_added), (1, 1, 2));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Stats {
    /// Tasks waiting to be claimed (equal to `len()`).
    pub queued: usize,
    /// Tasks claimed and not yet completed or failed.
    pub processing: usize,
    /// Completed tasks still remembered.
    pub completed: usize,
    /// Cancelled tasks still remembered.
    pub cancelled: usize,
    /// Failed tasks still remembered.
    pub failed: usize,
    /// Tasks ever accepted by `add_task` (or restored from a snapshot).
    pub total_added: u64,
    /// Tasks ever completed.
    pub total_completed: u64,
    /// Tasks ever cancelled.
    pub total_cancelled: u64,
    /// Tasks ever failed for good.
    pub total_failed: u64,
}

/// How long a queue remembers finished tasks (for `get_status` and duplicate detection).
///
/// Payloads are dropped as soon as a task finishes; only the id and the status are kept.
///
/// ```
/// use taskq::{Retention, TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::builder().retention(Retention::KeepNone).build();
/// q.add_task(7u64, 0, ()).unwrap();
/// q.try_get_next_task().unwrap();
/// q.complete_task(&7).unwrap();
/// assert_eq!(q.get_status(&7), None); // forgotten at once
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub enum Retention {
    /// Remember every finished task until [`forget_task`](crate::TaskQueue::forget_task) (default).
    #[default]
    KeepAll,
    /// Remember the most recently finished `n` tasks.
    KeepLast(usize),
    /// Forget tasks as soon as they finish.
    KeepNone,
}
