//! [`Builder`]: the options every strategy takes.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;
use std::time::Duration;

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
    /// `ageing(Duration::ZERO)` was asked for (refused by `build`).
    zero_ageing: bool,
    queue: PhantomData<fn() -> Q>,
}

impl<Q> Builder<Q> {
    pub(crate) fn new() -> Self {
        Builder {
            config: Config::default(),
            zero_ageing: false,
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
        self.config.clock = clock;
        self
    }

    /// Ageing: a queued task's priority rises by one for every `step` it has waited since it
    /// became ready, so that a steady stream of high priorities cannot starve the low ones
    /// forever: a task of priority `p` waiting since `t` is handed out before one of priority
    /// `q > p` waiting since `u` once `p + (now - t) / step` exceeds `q + (now - u) / step`,
    /// which does not depend on `now`. So the order is fixed when a task is queued: no
    /// per-tick work, still O(log n) per operation, and FIFO among equal priorities still
    /// holds (the older of two equal tasks has waited longer). Time counts in whole steps from
    /// the queue's creation; a failed task starts waiting again when it is queued again.
    /// `step` must not be zero ([`BuildError::ZeroAgeing`]). Default: no ageing.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::{ManualClock, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let time = ManualClock::new();
    /// let q = ThreadSafeTaskQueue::builder()
    ///     .clock(time.clock())
    ///     .ageing(Duration::from_secs(1)) // +1 priority per second waited
    ///     .build()
    ///     .unwrap();
    /// q.add_task("old", 0, ()).unwrap();
    /// time.advance(Duration::from_secs(10));
    /// q.add_task("new", 5, ()).unwrap(); // priority 5 < 0 + 10 seconds of waiting
    /// assert_eq!(q.try_get_next_task().unwrap().id, "old");
    /// ```
    pub fn ageing(mut self, step: Duration) -> Self {
        let nanos = u64::try_from(step.as_nanos()).unwrap_or(u64::MAX);
        self.zero_ageing = nanos == 0;
        self.config.ageing = Some(nanos.max(1));
        self
    }

    fn validate(&self) -> Result<(), BuildError> {
        if self.config.capacity == Some(0) {
            return Err(BuildError::ZeroCapacity);
        }
        if self.config.max_attempts == Some(0) {
            return Err(BuildError::ZeroMaxAttempts);
        }
        if self.zero_ageing {
            return Err(BuildError::ZeroAgeing);
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
        Ok(Queue::from_core(Core::new(self.config, hasher)))
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
        Ok(Queue::from_core(core))
    }
}

impl<Q> fmt::Debug for Builder<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.config.capacity)
            .field("max_attempts", &self.config.max_attempts)
            .field("retention", &self.config.retention)
            .field("ageing", &self.config.ageing.map(Duration::from_nanos))
            .field("clock", &self.config.clock)
            .finish()
    }
}
