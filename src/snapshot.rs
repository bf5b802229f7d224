//! Whole-queue snapshots: what a queue holds, in an owned, serializable form.

use std::error::Error;
use std::fmt;
use std::time::Duration;

use crate::{BuildError, Task, TaskStatus};

/// Every task a queue knows at one instant, from [`TaskQueue::snapshot`](crate::TaskQueue::snapshot).
///
/// With the `serde` feature it serializes and deserializes (payloads too), so a queue can be
/// saved and rebuilt with [`Builder::restore`](crate::Builder::restore): queued tasks keep their
/// order and attempts, finished tasks keep their status. Tasks being processed are listed without
/// payload (it is with their claimer), and a snapshot that still lists some is refused by
/// `restore` ([`RestoreError::InFlight`]): take it after the workers stopped, or clear
/// `processing` on purpose.
///
/// ```
/// use taskq::{TaskQueue, TaskStatus, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// q.add_task(1u64, 0, "a").unwrap();
/// q.add_task(2u64, 5, "b").unwrap();
/// q.add_task(3u64, 0, "c").unwrap();
/// let claimed = q.try_get_next_task().unwrap(); // 2, now processing
/// let mut snap = q.snapshot();
/// assert_eq!(snap.queued.iter().map(|t| t.id).collect::<Vec<_>>(), [1, 3]);
/// assert_eq!(snap.processing[0].id, claimed.id);
///
/// snap.processing.clear(); // task 2 runs on, or is lost with its worker
/// let rebuilt = ThreadSafeTaskQueue::builder().restore(snap).unwrap();
/// assert_eq!(rebuilt.len(), 2);
/// assert_eq!(rebuilt.get_status(&2), None);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub struct Snapshot<K, P> {
    /// Queued tasks, in the order they would be handed out.
    pub queued: Vec<Task<K, P>>,
    /// Scheduled tasks, earliest first, each with how long it still had to wait (a restored
    /// queue schedules it that long after the restore).
    pub scheduled: Vec<ScheduledTask<K, P>>,
    /// Tasks being processed, oldest claim first (their payloads are with their claimers).
    pub processing: Vec<ClaimedTask<K>>,
    /// Finished tasks that the retention policy keeps.
    pub finished: Vec<FinishedTask<K>>,
}

impl<K, P> Default for Snapshot<K, P> {
    fn default() -> Self {
        Snapshot {
            queued: Vec::new(),
            scheduled: Vec::new(),
            processing: Vec::new(),
            finished: Vec::new(),
        }
    }
}

/// A scheduled task in a [`Snapshot`]: the task, and how long it still had to wait when the
/// snapshot was taken (zero if it was due but not yet claimed).
///
/// ```
/// use std::time::Duration;
/// use taskq::{ManualClock, TaskQueue, TaskStatus, ThreadSafeTaskQueue};
///
/// let time = ManualClock::new();
/// let q = ThreadSafeTaskQueue::builder().clock(time.clock()).build().unwrap();
/// q.add_task_after(1u64, 0, "later", Duration::from_secs(60)).unwrap();
/// time.advance(Duration::from_secs(20));
/// let snap = q.snapshot();
/// assert_eq!(snap.scheduled[0].due_in, Duration::from_secs(40));
///
/// let rebuilt = ThreadSafeTaskQueue::builder().clock(time.clock()).restore(snap).unwrap();
/// assert_eq!(rebuilt.get_status(&1), Some(TaskStatus::Scheduled));
/// time.advance(Duration::from_secs(40));
/// assert_eq!(rebuilt.try_get_next_task().unwrap().payload, "later");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ScheduledTask<K, P> {
    /// The task (its attempts so far included).
    pub task: Task<K, P>,
    /// How long it still had to wait.
    pub due_in: Duration,
}

/// A task being processed, in a [`Snapshot`]: its id, priority and attempts so far.
#[derive(Debug, Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct ClaimedTask<K> {
    /// The task's id.
    pub id: K,
    /// Its priority.
    pub priority: i64,
    /// How many times it had failed before this claim.
    pub attempts: u32,
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
/// let mut bad: Snapshot<u64, ()> = Snapshot::default();
/// bad.finished.push(FinishedTask { id: 1, status: TaskStatus::Queued });
/// let err = ThreadSafeTaskQueue::builder().restore(bad).unwrap_err();
/// assert_eq!(err, RestoreError::NotFinished(TaskStatus::Queued));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum RestoreError {
    /// The same id appears twice.
    DuplicateId,
    /// A task in `finished` has a status that is not final.
    NotFinished(TaskStatus),
    /// This many tasks were being processed: their payloads are not in the snapshot.
    InFlight(usize),
    /// The builder's options are invalid.
    Build(BuildError),
}

impl fmt::Display for RestoreError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RestoreError::DuplicateId => f.write_str("the snapshot holds the same id twice"),
            RestoreError::NotFinished(s) => write!(f, "a finished task has the status {s}"),
            RestoreError::InFlight(n) => write!(
                f,
                "{n} task(s) were being processed and their payloads are not in the snapshot"
            ),
            RestoreError::Build(e) => write!(f, "invalid options: {e}"),
        }
    }
}

impl Error for RestoreError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            RestoreError::Build(e) => Some(e),
            _ => None,
        }
    }
}

impl From<BuildError> for RestoreError {
    fn from(e: BuildError) -> Self {
        RestoreError::Build(e)
    }
}
