//! [`Builder`]: the options every strategy takes.

use std::fmt;
use std::hash::{BuildHasher, Hash};
use std::marker::PhantomData;

use crate::core::{Config, Core};
use crate::{RestoreError, Retention, Snapshot};

/// Options for a queue of strategy `Q`; start with `Q::builder()`.
///
/// ```
/// use taskq::{Retention, TaskQueue, ChannelTaskQueue};
///
/// let q: ChannelTaskQueue<String, Vec<u8>> = ChannelTaskQueue::builder()
///     .capacity(1_000)
///     .max_attempts(3)
///     .retention(Retention::KeepLast(10_000))
///     .build();
/// assert_eq!(q.capacity(), Some(1_000));
/// ```
///
/// The task index hashes ids with SipHash (`RandomState`) by default, which resists hash flooding
/// by untrusted ids; where ids are trusted, a faster hasher makes every operation cheaper:
///
/// ```
/// use std::collections::hash_map::DefaultHasher;
/// use std::hash::BuildHasherDefault;
/// use taskq::{TaskQueue, ThreadSafeTaskQueue};
///
/// // Any `BuildHasher`; a real program would pick a fast one such as an Fx or foldhash hasher.
/// let q = ThreadSafeTaskQueue::<u64, &str>::builder()
///     .build_with_hasher(BuildHasherDefault::<DefaultHasher>::default());
/// q.add_task(7, 1, "job").unwrap();
/// assert_eq!(q.try_get_next_task().unwrap().id, 7);
/// ```
pub struct Builder<Q> {
    config: Config,
    strategy: PhantomData<fn() -> Q>,
}

impl<Q> Builder<Q> {
    pub(crate) fn new() -> Self {
        Builder {
            config: Config::default(),
            strategy: PhantomData,
        }
    }

    /// Bounds the number of queued tasks: `add_task` blocks while the queue is full,
    /// `try_add_task` fails with `Full`. A capacity of 0 is taken as 1. Default: unbounded.
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.config.capacity = Some(capacity.max(1));
        self
    }

    /// How many times a task may be claimed and failed before it becomes `Failed`. A value of 0
    /// is taken as 1. Default: unlimited (a failed task always goes back in the queue).
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.config.max_attempts = Some(max_attempts.max(1));
        self
    }

    /// How long finished tasks are remembered. Default: [`Retention::KeepAll`].
    pub fn retention(mut self, retention: Retention) -> Self {
        self.config.retention = retention;
        self
    }

    /// Switches on a deliberate bug, for the loom model checks only (`cfg(taskq_loom)`).
    #[cfg(taskq_loom)]
    #[doc(hidden)]
    pub fn mutant(mut self, mutant: crate::Mutant) -> Self {
        self.config.mutant = Some(mutant);
        self
    }

    pub(crate) fn core<K: Clone + Eq + Hash, P, S: BuildHasher>(self, hasher: S) -> Core<K, P, S> {
        Core::new(self.config, hasher)
    }

    pub(crate) fn restored_core<K: Clone + Eq + Hash, P, S: BuildHasher>(
        self,
        hasher: S,
        snapshot: Snapshot<K, P>,
    ) -> Result<Core<K, P, S>, RestoreError> {
        Core::restore(self.config, hasher, snapshot)
    }
}

impl<Q> fmt::Debug for Builder<Q> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Builder")
            .field("capacity", &self.config.capacity)
            .field("max_attempts", &self.config.max_attempts)
            .field("retention", &self.config.retention)
            .finish()
    }
}

/// Gives a strategy its `new()`, `builder()`, `Builder::build()` and `Builder::restore()`; the
/// strategy provides `from_core(Core) -> Self`.
macro_rules! strategy_constructors {
    ($strategy:ident) => {
        impl<K: Clone + Eq + std::hash::Hash, P> $strategy<K, P> {
            /// An unbounded queue with the default options.
            pub fn new() -> Self {
                Self::builder().build()
            }

            /// A [`Builder`](crate::Builder) for this strategy.
            pub fn builder() -> crate::Builder<Self> {
                crate::Builder::new()
            }
        }

        impl<K: Clone + Eq + std::hash::Hash, P> Default for $strategy<K, P> {
            fn default() -> Self {
                Self::new()
            }
        }

        impl<K: Clone + Eq + std::hash::Hash, P> crate::Builder<$strategy<K, P>> {
            /// Builds the queue.
            pub fn build(self) -> $strategy<K, P> {
                $strategy::from_core(self.core(Default::default()))
            }

            /// Builds the queue with `hasher` for its task index instead of the default
            /// [`RandomState`](std::collections::hash_map::RandomState) (SipHash, which resists
            /// hash flooding). A fast hasher makes every operation cheaper; use one only where ids
            /// cannot be chosen by an adversary. See `benches/README.md` for the measured gain.
            pub fn build_with_hasher<S: std::hash::BuildHasher>(
                self,
                hasher: S,
            ) -> $strategy<K, P, S> {
                $strategy::from_core(self.core(hasher))
            }

            /// Builds the queue from a [`Snapshot`](crate::Snapshot): queued tasks in their order,
            /// then the tasks that were processing, back in the queue; finished tasks as retained.
            pub fn restore(
                self,
                snapshot: crate::Snapshot<K, P>,
            ) -> Result<$strategy<K, P>, crate::RestoreError> {
                self.restore_with_hasher(Default::default(), snapshot)
            }

            /// [`restore`](Self::restore) with `hasher` for the task index, as in
            /// [`build_with_hasher`](Self::build_with_hasher).
            pub fn restore_with_hasher<S: std::hash::BuildHasher>(
                self,
                hasher: S,
                snapshot: crate::Snapshot<K, P>,
            ) -> Result<$strategy<K, P, S>, crate::RestoreError> {
                Ok($strategy::from_core(self.restored_core(hasher, snapshot)?))
            }
        }
    };
}

pub(crate) use strategy_constructors;
