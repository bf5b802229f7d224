//! Shared helpers for the integration tests: a factory trait that builds any strategy with the
//! same options, so each contract / stress check is written once, generic over the strategy.
#![allow(dead_code)]

use std::hash::Hash;

use taskq::{
    Builder, ChannelTaskQueue, RestoreError, Retention, RwLockTaskQueue, Snapshot, TaskQueue,
    ThreadSafeTaskQueue,
};

/// Queue options, applied to any strategy's builder.
#[derive(Debug, Clone, Copy, Default)]
pub struct Opts {
    pub capacity: Option<usize>,
    pub max_attempts: Option<u32>,
    pub retention: Retention,
}

impl Opts {
    pub fn capacity(mut self, n: usize) -> Self {
        self.capacity = Some(n);
        self
    }
    pub fn max_attempts(mut self, n: u32) -> Self {
        self.max_attempts = Some(n);
        self
    }
    pub fn retention(mut self, r: Retention) -> Self {
        self.retention = r;
        self
    }
    pub fn apply<Q>(self, mut b: Builder<Q>) -> Builder<Q> {
        if let Some(c) = self.capacity {
            b = b.capacity(c);
        }
        if let Some(m) = self.max_attempts {
            b = b.max_attempts(m);
        }
        b.retention(self.retention)
    }
}

/// Builds (or restores) a queue of one strategy, for any key and payload type.
pub trait Factory {
    /// The strategy's queue type.
    type Q<K: Clone + Eq + Hash + Send + Sync, P: Send + Sync>: TaskQueue<K, P>;
    /// A fresh queue with these options.
    fn build<K: Clone + Eq + Hash + Send + Sync, P: Send + Sync>(opts: Opts) -> Self::Q<K, P>;
    /// A queue rebuilt from a snapshot.
    fn restore<K: Clone + Eq + Hash + Send + Sync, P: Send + Sync>(
        opts: Opts,
        snapshot: Snapshot<K, P>,
    ) -> Result<Self::Q<K, P>, RestoreError>;
}

macro_rules! factory {
    ($name:ident, $queue:ident) => {
        /// Factory for this strategy.
        pub struct $name;
        impl Factory for $name {
            type Q<K: Clone + Eq + Hash + Send + Sync, P: Send + Sync> = $queue<K, P>;
            fn build<K: Clone + Eq + Hash + Send + Sync, P: Send + Sync>(
                opts: Opts,
            ) -> $queue<K, P> {
                opts.apply($queue::builder()).build()
            }
            fn restore<K: Clone + Eq + Hash + Send + Sync, P: Send + Sync>(
                opts: Opts,
                snapshot: Snapshot<K, P>,
            ) -> Result<$queue<K, P>, RestoreError> {
                opts.apply($queue::builder()).restore(snapshot)
            }
        }
    };
}

factory!(Mutex, ThreadSafeTaskQueue);
factory!(RwLock, RwLockTaskQueue);
factory!(Channel, ChannelTaskQueue);

/// Panics with the queue's own description if its invariants do not hold.
#[track_caller]
pub fn inv<K, P>(q: &impl TaskQueue<K, P>) {
    if let Err(e) = q.check_invariants() {
        panic!("invariants broken: {e}");
    }
}

/// A small deterministic pseudo-random generator (xorshift64*), so runs are reproducible.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1)
    }
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}
