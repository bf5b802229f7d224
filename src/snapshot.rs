//! Whole-queue snapshots: what a queue holds, in an owned, serializable form.

use std::error::Error;
use std::fmt;

use crate::{Task, TaskStatus};

/// Every task a queue knows at one instant, from [`TaskQueue::snapshot`](crate::TaskQueue::snapshot).
///
/// With the `serde` feature it serializes and deserializes (payloads too), so a queue can be
/// saved and rebuilt with [`Builder::restore`](crate::Builder::restore): queued tasks keep their
/// order, tasks that were processing go back in the queue, finished tasks keep their status.
///
/// ```
/// use taskq::{TaskQueue, TaskStatus, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// q.add_task(1u64, 0, "a").unwrap();
/// q.add_task(2u64, 5, "b").unwrap();
/// q.add_task(3u64, 0, "c").unwrap();
/// let claimed = q.try_get_next_task().unwrap(); // 2, now processing
/// let snap = q.snapshot();
/// assert_eq!(snap.queued.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 3]);
/// assert_eq!(snap.processing[0].id, claimed.id);
///
/// let rebuilt = ThreadSafeTaskQueue::builder().restore(snap).unwrap();
/// assert_eq!(rebuilt.len(), 3);
/// assert_eq!(rebuilt.get_status(&2), Some(TaskStatus::Queued));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Snapshot<K, P> {
    /// Queued tasks, in the order they would be handed out.
    pub queued: Vec<Task<K, P>>,
    /// Tasks being processed, oldest claim first.
    pub processing: Vec<Task<K, P>>,
    /// Finished tasks that the retention policy keeps.
    pub finished: Vec<FinishedTask<K>>,
}

/// A finished task in a [`Snapshot`]: its id and final status (its payload is gone).
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct FinishedTask<K> {
    /// The task's id.
    pub id: K,
    /// `Completed`, `Cancelled` or `Failed`.
    pub status: TaskStatus,
}

/// Why a [`Snapshot`] could not be restored.
///
/// ```
/// use taskq::{FinishedTask, RestoreError, Snapshot, TaskStatus, ThreadSafeTaskQueue};
///
/// let bad: Snapshot<u64, ()> = Snapshot {
///     queued: vec![],
///     processing: vec![],
///     finished: vec![FinishedTask { id: 1, status: TaskStatus::Queued }],
/// };
/// let err = ThreadSafeTaskQueue::builder().restore(bad).unwrap_err();
/// assert_eq!(err, RestoreError::NotFinished(TaskStatus::Queued));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RestoreError {
    /// The same id appears twice.
    DuplicateId,
    /// A task in `finished` has a status that is not final.
    NotFinished(TaskStatus),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::DuplicateId => f.write_str("the snapshot holds the same id twice"),
            RestoreError::NotFinished(s) => write!(f, "a finished task has the status {s}"),
        }
    }
}

impl Error for RestoreError {}
