//! [`ClaimGuard`]: a claimed task that cannot be lost.

use std::fmt;
use std::ops::Deref;
use std::time::Duration;

use crate::{ClaimError, Task, TaskError, TaskQueue, TaskStatus};

/// A claimed task that is put back in the queue if it is dropped unfinished.
///
/// Finish it with [`complete`](Self::complete) or [`fail`](Self::fail). If the guard is dropped
/// otherwise (the worker returned early or panicked), the task is failed on its behalf: it goes back
/// in the queue with `attempts + 1`, or becomes `Failed` once `max_attempts` is reached. Either
/// way no task is lost because its worker died. Derefs to the [`Task`].
///
/// ```
/// use taskq::{ClaimGuard, TaskQueue, TaskStatus, RwLockTaskQueue};
///
/// let q = RwLockTaskQueue::new();
/// q.add_task("a", 1, 10u32).unwrap();
/// let dyn_q: &dyn TaskQueue<&str, u32> = &q;
/// let guard = ClaimGuard::claim(dyn_q, None).unwrap();
/// assert_eq!(*guard.payload, 10);
/// assert_eq!(guard.fail(), Ok(TaskStatus::Queued));
/// ```
pub struct ClaimGuard<'a, K, P> {
    queue: &'a dyn TaskQueue<K, P>,
    task: Option<Task<K, P>>,
}

impl<'a, K, P> ClaimGuard<'a, K, P> {
    /// Claims a task from any queue, even a `dyn` one; see [`TaskQueue::claim`].
    pub fn claim(
        queue: &'a dyn TaskQueue<K, P>,
        timeout: Option<Duration>,
    ) -> Result<Self, ClaimError> {
        let task = queue.get_next_task(timeout)?;
        Ok(ClaimGuard {
            queue,
            task: Some(task),
        })
    }

    /// The claimed task.
    pub fn task(&self) -> &Task<K, P> {
        self.task
            .as_ref()
            .expect("present until the guard is consumed")
    }

    /// Marks the task `Completed`.
    pub fn complete(mut self) -> Result<(), TaskError> {
        let task = self
            .task
            .take()
            .expect("present until the guard is consumed");
        self.queue.complete_task(&task.id)
    }

    /// Fails the task: back in the queue, or `Failed` once out of attempts. Returns the new status.
    pub fn fail(mut self) -> Result<TaskStatus, TaskError> {
        let task = self
            .task
            .take()
            .expect("present until the guard is consumed");
        self.queue.fail_task(&task.id)
    }
}

impl<K, P> Deref for ClaimGuard<'_, K, P> {
    type Target = Task<K, P>;

    fn deref(&self) -> &Task<K, P> {
        self.task()
    }
}

impl<K, P> Drop for ClaimGuard<'_, K, P> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // The task may have been completed or failed by id meanwhile; then there is
            // nothing to put back and the error is expected.
            let _ = self.queue.fail_task(&task.id);
        }
    }
}

impl<K: fmt::Debug, P> fmt::Debug for ClaimGuard<'_, K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimGuard")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}
