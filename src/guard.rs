//! [`ClaimGuard`] and [`OwnedClaimGuard`]: a claimed task that cannot be lost, fenced by its
//! claim's token.

use std::fmt;
use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use crate::{ClaimError, Task, TaskError, TaskQueue, TaskStatus};

/// How a [`Guard`] reaches its queue: by reference ([`ClaimGuard`]) or through an `Arc`
/// ([`OwnedClaimGuard`]).
pub trait QueueRef<K, P> {
    /// The queue.
    fn queue(&self) -> &dyn TaskQueue<K, P>;
}

impl<'a, K, P> QueueRef<K, P> for &'a (dyn TaskQueue<K, P> + 'a) {
    fn queue(&self) -> &dyn TaskQueue<K, P> {
        *self
    }
}

impl<K, P> QueueRef<K, P> for Arc<dyn TaskQueue<K, P>> {
    fn queue(&self) -> &dyn TaskQueue<K, P> {
        &**self
    }
}

/// A claimed task that is handed back to its queue if it is dropped unfinished.
///
/// Finish it with [`complete`](Self::complete) or [`fail`](Self::fail). If the guard is dropped
/// otherwise (the worker returned early or panicked), the task is failed on its behalf: it goes
/// back in the queue with `attempts + 1`, or becomes `Failed` once `max_attempts` is reached.
/// Either way no task is lost because its worker died. Every operation is fenced by the claim's
/// [`Token`](crate::Token): a guard whose claim was ended by someone else (say, `complete_task`
/// by id) can never touch a later claim of the same id. Derefs to the [`Task`].
///
/// Use it as [`ClaimGuard`] (borrows the queue) or [`OwnedClaimGuard`] (holds an `Arc`, for
/// `'static` threads).
///
/// ```
/// use taskq::{ClaimGuard, TaskQueue, TaskStatus, RwLockTaskQueue};
///
/// let q = RwLockTaskQueue::new();
/// q.add_task("a", 1, 10u32).unwrap();
/// let dyn_q: &dyn TaskQueue<&str, u32> = &q;
/// let guard = ClaimGuard::claim(dyn_q, None).unwrap();
/// assert_eq!(guard.payload, 10);
/// assert_eq!(guard.fail(), Ok(TaskStatus::Queued));
/// ```
pub struct Guard<R: QueueRef<K, P>, K, P> {
    queue: R,
    task: Option<Task<K, P>>,
}

/// A [`Guard`] that borrows its queue; from [`TaskQueue::claim`].
pub type ClaimGuard<'a, K, P> = Guard<&'a (dyn TaskQueue<K, P> + 'a), K, P>;

/// A [`Guard`] that holds its queue in an `Arc`, so that it can move into a `'static` thread;
/// from [`Queue::claim_owned`](crate::Queue::claim_owned).
pub type OwnedClaimGuard<K, P> = Guard<Arc<dyn TaskQueue<K, P>>, K, P>;

impl<'a, K, P> Guard<&'a (dyn TaskQueue<K, P> + 'a), K, P> {
    /// Claims a task from any queue, even a `dyn` one; see [`TaskQueue::claim`].
    pub fn claim(
        queue: &'a (dyn TaskQueue<K, P> + 'a),
        timeout: Option<Duration>,
    ) -> Result<Self, ClaimError> {
        Self::new(queue, timeout)
    }
}

impl<K, P> Guard<Arc<dyn TaskQueue<K, P>>, K, P> {
    /// Claims a task from a shared queue; the guard keeps the queue alive.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{OwnedClaimGuard, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q: Arc<dyn TaskQueue<u64, String>> = Arc::new(ThreadSafeTaskQueue::new());
    /// q.add_task(1, 0, "job".to_string()).unwrap();
    /// let guard = OwnedClaimGuard::claim(Arc::clone(&q), None).unwrap();
    /// let done = std::thread::spawn(move || guard.complete()).join().unwrap();
    /// assert_eq!(done, Ok(()));
    /// ```
    pub fn claim(
        queue: Arc<dyn TaskQueue<K, P>>,
        timeout: Option<Duration>,
    ) -> Result<Self, ClaimError> {
        Self::new(queue, timeout)
    }
}

impl<R: QueueRef<K, P>, K, P> Guard<R, K, P> {
    fn new(queue: R, timeout: Option<Duration>) -> Result<Self, ClaimError> {
        let task = queue.queue().get_next_task(timeout)?;
        Ok(Guard {
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

    fn take(&mut self) -> Task<K, P> {
        self.task
            .take()
            .expect("present until the guard is consumed")
    }

    /// Marks the task `Completed` (fenced: [`TaskError::Stale`] if this claim was ended by
    /// someone else meanwhile).
    pub fn complete(mut self) -> Result<(), TaskError> {
        let task = self.take();
        self.queue.queue().complete_claim(&task.id, task.token())
    }

    /// Fails the task: back in the queue, or `Failed` once out of attempts. Returns the new
    /// status (fenced like [`complete`](Self::complete)).
    pub fn fail(mut self) -> Result<TaskStatus, TaskError> {
        let task = self.take();
        self.queue.queue().fail_task(task)
    }

    /// Takes the task out of the guard, which then does nothing when dropped: finish it with
    /// [`TaskQueue::complete_claim`] or [`TaskQueue::fail_task`].
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue};
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task(1u64, 0, Box::new(|| 6 * 7) as Box<dyn FnOnce() -> i32 + Send>).unwrap();
    /// let task = q.claim(None).unwrap().into_task();
    /// let (id, token) = (task.id, task.token());
    /// assert_eq!((task.payload)(), 42); // the job runs once: it is the worker's now
    /// q.complete_claim(&id, token).unwrap();
    /// ```
    pub fn into_task(mut self) -> Task<K, P> {
        self.take()
    }
}

impl<R: QueueRef<K, P>, K, P> Deref for Guard<R, K, P> {
    type Target = Task<K, P>;

    fn deref(&self) -> &Task<K, P> {
        self.task()
    }
}

impl<R: QueueRef<K, P>, K, P> DerefMut for Guard<R, K, P> {
    fn deref_mut(&mut self) -> &mut Task<K, P> {
        self.task
            .as_mut()
            .expect("present until the guard is consumed")
    }
}

impl<R: QueueRef<K, P>, K, P> Drop for Guard<R, K, P> {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // A stale claim (ended by someone else meanwhile) is refused and changes nothing.
            let _ = self.queue.queue().fail_task(task);
        }
    }
}

impl<R: QueueRef<K, P>, K: fmt::Debug, P> fmt::Debug for Guard<R, K, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ClaimGuard")
            .field("task", &self.task)
            .finish_non_exhaustive()
    }
}
