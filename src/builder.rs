//! [`Builder`]: the options every strategy takes.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use crate::memory::core::{Config, Core};
use crate::memory::strategy::Waiting;
use crate::{BuildError, Clock, Queue, RestoreError, Retention, Snapshot};

/// Options for a queue of type `Q`; start with `Q::builder()`, finish with
/// [`build`](Self::build), which refuses invalid options with a [`BuildError`].
///
/// ```
/// use taskq::{Retention, TaskQueue, ChannelTaskQueue};
///
/// let q: ChannelTaskQueue<String, Vec<u8>> = ChannelTaskQueue::builder()
///     .capacity(1_000)
///     .max_attempts(3)
///     .retention(Retention::KeepLast(10_000))
///     .build()
///     .unwrap();
/// assert_eq!(q.capacity(), Some(1_000));
/// ```
///
/// The task index hashes ids with [`DefaultHashBuilder`](crate::DefaultHashBuilder) (foldhash,
/// randomly seeded per queue) by default; any other `BuildHasher` can be chosen, for instance
/// SipHash where ids come from untrusted clients:
///
/// ```
/// use std::collections::hash_map::RandomState;
/// use taskq::{TaskQueue, ThreadSafeTaskQueue};
///
/// let q = ThreadSafeTaskQueue::<u64, &str>::builder()
///     .build_with_hasher(RandomState::new())
///     .unwrap();
/// q.add_task(7, 1, "job").unwrap();
/// assert_eq!(q.try_get_next_task().unwrap().id, 7);
/// ```
pub struct Builder<Q> {
    config: Config,
    clock: Clock,
    queue: PhantomData<fn() -> Q>,
}

impl<Q> Builder<Q> {
    pub(crate) fn new() -> Self {
        Builder {
            config: Config::default(),
            clock: Clock::system(),
            queue: PhantomData,
        }
    }

    /// Bounds the number of queued tasks: `add_task` blocks while the queue is full,
    /// `try_add_task` fails with `Full`. Must be at least 1 ([`BuildError::ZeroCapacity`]).
    /// Default: unbounded.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = Some(capacity);
        self
    }

    /// How many times a task may be claimed and failed before it becomes `Failed`. Must be at
    /// least 1 ([`BuildError::ZeroMaxAttempts`]). Default: unlimited (a failed task always goes
    /// back in the queue).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = Some(max_attempts);
        self
    }

    /// How long finished tasks are remembered. Default: [`Retention::DEFAULT`]
    /// (`KeepLast(10_000)`).
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// The clock timeouts are measured on. Default: [`Clock::system`]; tests can pass a
    /// [`ManualClock`](crate::ManualClock)'s.
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.config.capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        if self.config.max_attempts == Some(0) {
            return Err(BuildError::ZeroMaxAttempts);
        }
        Ok(())
    }
}

impl<K, P, W, S0> Builder<Queue<K, P, W, S0>>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S0: BuildHasher + Send + Sync,
{
    /// Builds the queue.
    pub fn build(self) -> Result<Queue<K, P, W>, BuildError> {
        self.build_with_hasher(Default::default())
    }

    /// Builds the queue with `hasher` for its task index instead of the default
    /// [`DefaultHashBuilder`](crate::DefaultHashBuilder) (foldhash, randomly seeded): for
    /// instance [`RandomState`](std::collections::hash_map::RandomState) (SipHash, slower, and
    /// the strongest against hash flooding by ids an attacker chooses).
    pub fn build_with_hasher<S: BuildHasher + Send + Sync>(
        self,
        hasher: S,
    ) -> Result<Queue<K, P, W, S>, BuildError> {
        self.validate()?;
        Ok(Queue::from_core(Core::new(self.config, hasher), self.clock))
    }

    /// Builds the queue from a [`Snapshot`]: queued tasks in their order and with their
    /// attempts, finished tasks as retained. A snapshot that lists tasks in flight is refused
    /// ([`RestoreError::InFlight`]).
    pub fn restore(self, snapshot: Snapshot<K, P>) -> Result<Queue<K, P, W>, RestoreError> {
        self.restore_with_hasher(Default::default(), snapshot)
    }

    /// [`restore`](Self::restore) with `hasher` for the task index, as in
    /// [`build_with_hasher`](Self::build_with_hasher).
    pub fn restore_with_hasher<S: BuildHasher + Send + Sync>(
        self,
        hasher: S,
        snapshot: Snapshot<K, P>,
    ) -> Result<Queue<K, P, W, S>, RestoreError> {
        self.validate()?;
        let core = Core::restore(self.config, hasher, snapshot)?;
        Ok(Queue::from_core(core, self.clock))
    }
}

impl<Q> fmt::Debug for Builder<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.config.capacity)
            .field("max_attempts", &self.config.max_attempts)
            .field("retention", &self.config.retention)
            .field("clock", &self.clock)
            .finish()
    }
}
