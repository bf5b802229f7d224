//! Errors, one type per operation, in the style of crossbeam-channel: an add that is refused hands
//! its payload back.

use crate::TaskStatus;
use std::error::Error;
use std::fmt;

macro_rules! payload_error {
    (
        $(#[$meta:meta])*
        $name:ident { $($(#[$vmeta:meta])* $variant:ident => $msg:literal,)+ }
    ) => {
        $(#[$meta])*
        #[derive(Clone, PartialEq, Eq)]
        pub enum $name<P> {
            $($(#[$vmeta])* $variant(P),)+
        }

        impl<P> $name<P> {
            /// Takes back the payload that was not added.
            pub fn into_payload(self) -> P {
                match self {
                    $($name::$variant(p) => p,)+
                }
            }

            /// The same reason, with the payload mapped by `f` (for instance to put the payload
            /// back into a whole task).
            pub fn map<Q>(self, f: impl FnOnce(P) -> Q) -> $name<Q> {
                match self {
                    $($name::$variant(p) => $name::$variant(f(p)),)+
                }
            }
        }

        impl<P> fmt::Debug for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str(concat!(stringify!($name), "::", stringify!($variant), "(..)")),)+
                }
            }
        }

        impl<P> fmt::Display for $name<P> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                match self {
                    $($name::$variant(_) => f.write_str($msg),)+
                }
            }
        }

        impl<P> Error for $name<P> {}
    };
}

payload_error! {
    /// Why [`add_task`](crate::TaskQueue::add_task) refused a task. The payload comes back.
    ///
    /// ```
    /// use taskq::{AddError, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::new();
    /// q.add_task(1u64, 0, "first").unwrap();
    /// assert_eq!(q.add_task(1, 0, "again"), Err(AddError::Duplicate("again")));
    /// q.shutdown();
    /// assert_eq!(q.add_task(2, 0, "late").unwrap_err().into_payload(), "late");
    /// ```
    AddError {
        /// A task with this id is still known to the queue (queued, processing, or finished and
        /// retained).
        Duplicate => "a task with this id is already known to the queue",
        /// The queue has been shut down.
        ShutDown => "the queue has been shut down",
    }
}

payload_error! {
    /// Why [`try_add_task`](crate::TaskQueue::try_add_task) refused a task. The payload comes back.
    ///
    /// ```
    /// use taskq::{TaskQueue, ThreadSafeTaskQueue, TryAddError};
    ///
    /// let q = ThreadSafeTaskQueue::builder().capacity(1).build().unwrap();
    /// q.try_add_task(1u64, 0, 'a').unwrap();
    /// assert_eq!(q.try_add_task(2, 0, 'b'), Err(TryAddError::Full('b')));
    /// ```
    TryAddError {
        /// The queue holds `capacity` queued tasks.
        Full => "the queue is full",
        /// A task with this id is still known to the queue.
        Duplicate => "a task with this id is already known to the queue",
        /// The queue has been shut down.
        ShutDown => "the queue has been shut down",
    }
}

payload_error! {
    /// Why [`add_task_timeout`](crate::TaskQueue::add_task_timeout) refused a task. The payload
    /// comes back.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{AddTimeoutError, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let q = ThreadSafeTaskQueue::builder().capacity(1).build().unwrap();
    /// q.add_task(1u64, 0, 'a').unwrap();
    /// let err = q.add_task_timeout(2, 0, 'b', Duration::from_millis(5)).unwrap_err();
    /// assert_eq!(err, AddTimeoutError::Timeout('b'));
    /// ```
    AddTimeoutError {
        /// The queue stayed full for the whole timeout.
        Timeout => "timed out waiting for room in the queue",
        /// A task with this id is still known to the queue.
        Duplicate => "a task with this id is already known to the queue",
        /// The queue has been shut down.
        ShutDown => "the queue has been shut down",
    }
}

impl<P> TryAddError<P> {
    /// For an add that waited without a deadline, which never gives up for lack of room.
    pub(crate) fn into_untimed(self) -> AddError<P> {
        match self {
            TryAddError::Duplicate(p) => AddError::Duplicate(p),
            TryAddError::ShutDown(p) => AddError::ShutDown(p),
            TryAddError::Full(_) => unreachable!("an add without a deadline waits for room"),
        }
    }

    /// For an add that waited until a deadline: `Full` there means the time ran out.
    pub(crate) fn into_timed(self) -> AddTimeoutError<P> {
        match self {
            TryAddError::Full(p) => AddTimeoutError::Timeout(p),
            TryAddError::Duplicate(p) => AddTimeoutError::Duplicate(p),
            TryAddError::ShutDown(p) => AddTimeoutError::ShutDown(p),
        }
    }
}

impl<P> From<AddError<P>> for TryAddError<P> {
    fn from(e: AddError<P>) -> Self {
        match e {
            AddError::Duplicate(p) => TryAddError::Duplicate(p),
            AddError::ShutDown(p) => TryAddError::ShutDown(p),
        }
    }
}

impl<P> From<AddError<P>> for AddTimeoutError<P> {
    fn from(e: AddError<P>) -> Self {
        match e {
            AddError::Duplicate(p) => AddTimeoutError::Duplicate(p),
            AddError::ShutDown(p) => AddTimeoutError::ShutDown(p),
        }
    }
}

/// Why a claim returned no task.
///
/// `Timeout` and `ShutDown` are distinct, so a worker knows whether to try again or to stop.
///
/// ```
/// use std::time::Duration;
/// use taskq::{ClaimError, TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::<u64, ()>::new();
/// assert_eq!(q.try_get_next_task(), Err(ClaimError::Empty));
/// assert_eq!(q.get_next_task(Some(Duration::ZERO)), Err(ClaimError::Timeout));
/// q.shutdown();
/// assert_eq!(q.get_next_task(None), Err(ClaimError::ShutDown));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ClaimError {
    /// No task arrived before the timeout.
    Timeout,
    /// The queue is shut down and has no task left to hand out.
    ShutDown,
    /// `try_get_next_task` found no queued task.
    Empty,
}

impl fmt::Display for ClaimError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ClaimError::Timeout => "timed out waiting for a task",
            ClaimError::ShutDown => "the queue is shut down and drained",
            ClaimError::Empty => "no task is queued",
        })
    }
}

impl Error for ClaimError {}

impl ClaimError {
    /// For a claim that did not wait: running out of time there means the queue was empty.
    pub(crate) fn untimed(self) -> Self {
        match self {
            ClaimError::Timeout => ClaimError::Empty,
            other => other,
        }
    }
}

/// Why an operation on a task by id was refused.
///
/// ```
/// use taskq::{TaskError, TaskQueue, TaskStatus, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::new();
/// assert_eq!(q.complete_task(&1u64), Err(TaskError::NotFound));
/// q.add_task(1u64, 0, ()).unwrap();
/// assert_eq!(
///     q.complete_task(&1),
///     Err(TaskError::InvalidState { current: TaskStatus::Queued })
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum TaskError {
    /// No task with this id is known (never added, or finished and forgotten).
    NotFound,
    /// The claim this operation came with is no longer the task's current one: the task was
    /// finished, forgotten, re-added or claimed again since. Nothing was changed.
    Stale,
    /// The task is known but the operation does not apply to its current state.
    InvalidState {
        /// The state the task is in.
        current: TaskStatus,
    },
}

impl fmt::Display for TaskError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TaskError::NotFound => f.write_str("no task with this id is known"),
            TaskError::Stale => f.write_str("the claim is no longer the task's current one"),
            TaskError::InvalidState { current } => {
                write!(f, "the operation does not apply to a {current} task")
            }
        }
    }
}

impl Error for TaskError {}

/// Why a [`Builder`](crate::Builder) refused its options.
///
/// ```
/// use taskq::{BuildError, ThreadSafeTaskQueue};
///
/// let err = ThreadSafeTaskQueue::<u64, ()>::builder().capacity(0).build().unwrap_err();
/// assert_eq!(err, BuildError::ZeroCapacity);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum BuildError {
    /// `capacity(0)`: a queue that can hold no task would refuse every add.
    ZeroCapacity,
    /// `max_attempts(0)`: a task must be allowed at least one attempt.
    ZeroMaxAttempts,
    /// `ageing(Duration::ZERO)`: priorities would rise without bound at once.
    ZeroAgeing,
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            BuildError::ZeroCapacity => "capacity must be at least 1",
            BuildError::ZeroMaxAttempts => "max_attempts must be at least 1",
            BuildError::ZeroAgeing => "the ageing step must not be zero",
        })
    }
}

impl Error for BuildError {}
