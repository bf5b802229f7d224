//! The values a queue hands out and reports: [`Task`], [`Token`], [`TaskStatus`], [`Stats`],
//! [`Retention`].

use std::fmt;

/// A task handed out by a queue: its id, priority and attempts, its payload (moved out of the
/// queue: the claimer owns it), and the [`Token`] of this claim.
///
/// To retry the task, hand it back with [`fail_task`](crate::TaskQueue::fail_task) (or use a
/// [`ClaimGuard`](crate::ClaimGuard), which does so when dropped): the queue takes the payload
/// back. A payload only needs to be `Send`, so `Box<dyn FnOnce() + Send>` jobs work.
///
/// ```
/// use taskq::{TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// q.add_task("resize", 5, vec![1, 2, 3]).unwrap();
/// let task = q.try_get_next_task().unwrap();
/// assert_eq!((task.id, task.priority, task.attempts), ("resize", 5, 0));
/// assert_eq!(task.payload, vec![1, 2, 3]);
/// ```
#[derive(Clone, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
pub struct Task<K, P> {
    /// The id it was added with.
    pub id: K,
    /// Its priority: higher runs first; equal priorities run in the order they were added.
    pub priority: i64,
    /// Its payload.
    pub payload: P,
    /// How many times it has failed so far (0 on the first claim).
    pub attempts: u32,
    /// This claim's fencing token (zero in a snapshot, where nothing is claimed).
    #[cfg_attr(feature = "serde", serde(skip))]
    pub(crate) token: Token,
}

impl<K, P> Task<K, P> {
    /// A task that is not claimed (attempts 0, no token): for building a [`Snapshot`] by hand.
    ///
    /// ```
    /// use taskq::{Snapshot, TaskQueue, ThreadSafeTaskQueue};
    /// let mut snapshot = Snapshot::default();
    /// snapshot.queued.push(taskq::Task::new(1u64, 5, "job"));
    /// let q = ThreadSafeTaskQueue::builder().restore(snapshot).unwrap();
    /// assert_eq!(q.try_get_next_task().unwrap().payload, "job");
    /// ```
    ///
    /// [`Snapshot`]: crate::Snapshot
    pub fn new(id: K, priority: i64, payload: P) -> Self {
        Task {
            id,
            priority,
            payload,
            attempts: 0,
            token: Token::default(),
        }
    }

    /// The fencing token of the claim that handed this task out. Operations that take a task
    /// back ([`fail_task`](crate::TaskQueue::fail_task),
    /// [`complete_claim`](crate::TaskQueue::complete_claim), the [`Backend`](crate::Backend)
    /// methods) are refused with [`TaskError::Stale`](crate::TaskError::Stale) once the claim is
    /// no longer the task's current one.
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task(1u64, 0, ()).unwrap();
    /// q.add_task(2u64, 0, ()).unwrap();
    /// let (a, b) = (q.try_get_next_task().unwrap(), q.try_get_next_task().unwrap());
    /// assert_ne!(a.token(), b.token());
    /// ```
    pub fn token(&self) -> Token {
        self.token
    }
}

/// The fencing token of one claim: unique per claim for the life of a queue, so that a worker
/// whose claim ended (completed by id, expired, or claimed again after a retry) can never touch
/// the task's next claim.
///
/// Two tokens are equal when they name the same claim. An in-memory token also carries a hint
/// of where the task lives in its queue, so that completing or failing a claim needs no hash of
/// the id; the hint is only ever trusted after the claim number matches.
#[derive(Clone, Copy, Default)]
pub struct Token {
    pub(crate) claim: u64,
    /// The task's slot in the queue that handed it out (a hint, checked before use).
    pub(crate) slot: usize,
}

impl Token {
    pub(crate) fn new(claim: u64, slot: usize) -> Self {
        Token { claim, slot }
    }

    /// The token as a number (for logs and for backends that store it).
    ///
    /// ```
    /// assert_eq!(taskq::Token::default().get(), 0);
    /// ```
    pub fn get(self) -> u64 {
        self.claim
    }
}

impl PartialEq for Token {
    fn eq(&self, other: &Self) -> bool {
        self.claim == other.claim
    }
}

impl Eq for Token {}

impl std::hash::Hash for Token {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.claim.hash(state);
    }
}

impl PartialOrd for Token {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Token {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.claim.cmp(&other.claim)
    }
}

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("Token").field(&self.claim).finish()
    }
}

impl<K: fmt::Debug, P> fmt::Debug for Task<K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Task")
            .field("id", &self.id)
            .field("priority", &self.priority)
            .field("attempts", &self.attempts)
            .field("token", &self.token.claim)
            .finish_non_exhaustive()
    }
}

/// Where a task is in its life.
///
/// `Queued` → `Processing` (claimed) → `Completed`, or back to `Queued` on failure until
/// `max_attempts` makes it `Failed`; `Queued` → `Cancelled`. A task added for later
/// (`add_task_at`, `add_task_after`) or failed with a delay (`fail_task_after`) is `Scheduled`
/// until its time comes, then `Queued`; it can be cancelled while `Scheduled`.
///
/// ```
/// use taskq::TaskStatus;
/// assert!(TaskStatus::Completed.is_finished());
/// assert!(!TaskStatus::Processing.is_finished());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum TaskStatus {
    /// Waiting for its time to come; never handed out before. Then `Queued`.
    Scheduled,
    /// Waiting in the queue to be claimed.
    Queued,
    /// Claimed by a worker, not yet completed or failed.
    Processing,
    /// Completed by its worker.
    Completed,
    /// Cancelled while queued (or returned by `shutdown_now`).
    Cancelled,
    /// Failed `max_attempts` times, or failed for good.
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
            TaskStatus::Scheduled => "scheduled",
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
#[non_exhaustive]
pub struct Stats {
    /// Tasks waiting for their time to come (`Scheduled`).
    pub scheduled: usize,
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
/// Payloads never stay with a finished task; only the id and the status are kept. The default,
/// `KeepLast(10_000)` ([`Retention::DEFAULT`]), bounds that memory (about 100 bytes per
/// remembered task with `u64` ids), so a queue's memory follows its live tasks.
///
/// ```
/// use taskq::{Retention, TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::builder().retention(Retention::KeepNone).build().unwrap();
/// q.add_task(7u64, 0, ()).unwrap();
/// q.try_get_next_task().unwrap();
/// q.complete_task(&7).unwrap();
/// assert_eq!(q.get_status(&7), None); // forgotten at once
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(feature = "serde", derive(serde::Serialize, serde::Deserialize))]
#[non_exhaustive]
pub enum Retention {
    /// Remember every finished task until [`forget_task`](crate::TaskQueue::forget_task).
    /// Memory then grows with every task ever finished: pick it only with a `forget_task` routine.
    KeepAll,
    /// Remember the most recently finished `n` tasks (the default, with `n` = 10,000).
    KeepLast(usize),
    /// Forget tasks as soon as they finish.
    KeepNone,
}

impl Retention {
    /// The default: `KeepLast(10_000)`.
    ///
    /// ```
    /// assert_eq!(taskq::Retention::default(), taskq::Retention::KeepLast(10_000));
    /// ```
    pub const DEFAULT: Retention = Retention::KeepLast(10_000);
}

impl Default for Retention {
    fn default() -> Self {
        Retention::DEFAULT
    }
}
