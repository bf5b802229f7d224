//! The test kit every backend runs: one list of strategies, one factory, the contract suite
//! (`contract`), the backend-contract suite (`backend`), the worker-pool suite (`pool`), the
//! stress test (`stress`) and the linearizability checker (`lin`). A test file instantiates a
//! suite for each strategy with [`for_each_strategy!`]; a later backend provides a [`Factory`]
//! and instantiates the same suites.
#![allow(dead_code, unused_macros, unused_imports)]

pub mod backend;
pub mod contract;
pub mod lin;
pub mod pool;
pub mod schedule;
pub mod stress;

use std::hash::Hash;
use std::marker::PhantomData;

use taskq::strategy::Waiting;
use taskq::{BuildError, Builder, Queue, RestoreError, Retention, Snapshot, TaskQueue};

/// Calls `$m!(name, Factory)` once per in-memory strategy: the one place the strategies are
/// listed for the tests.
macro_rules! for_each_strategy {
    ($m:ident) => {
        $m!(mutex, $crate::common::Memory<taskq::strategy::Mutex>);
        $m!(rwlock, $crate::common::Memory<taskq::strategy::RwLock>);
        $m!(channel, $crate::common::Memory<taskq::strategy::Channel>);
    };
}
pub(crate) use for_each_strategy;

/// Queue options, applied to any strategy's builder.
#[derive(Debug, Clone, Default)]
pub struct Opts {
    pub capacity: Option<usize>,
    pub max_attempts: Option<u32>,
    pub retention: Option<Retention>,
    pub clock: Option<taskq::Clock>,
    pub ageing: Option<std::time::Duration>,
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
        self.retention = Some(r);
        self
    }
    pub fn clock(mut self, clock: taskq::Clock) -> Self {
        self.clock = Some(clock);
        self
    }
    pub fn ageing(mut self, step: std::time::Duration) -> Self {
        self.ageing = Some(step);
        self
    }
    pub fn apply<Q>(self, mut b: Builder<Q>) -> Builder<Q> {
        if let Some(c) = self.clock {
            b = b.clock(c);
        }
        if let Some(a) = self.ageing {
            b = b.ageing(a);
        }
        if let Some(c) = self.capacity {
            b = b.capacity(c);
        }
        if let Some(m) = self.max_attempts {
            b = b.max_attempts(m);
        }
        if let Some(r) = self.retention {
            b = b.retention(r);
        }
        b
    }
}

/// What the suites need of a queue beyond the contract: its invariants.
pub trait Inspect {
    /// `Err` describes the first broken invariant.
    fn check_invariants(&self) -> Result<(), String>;
}

impl<K, P, W, S> Inspect for Queue<K, P, W, S>
where
    K: Clone + Eq + Hash + Send + Sync,
    P: Send,
    W: Waiting,
    S: std::hash::BuildHasher + Send + Sync,
{
    fn check_invariants(&self) -> Result<(), String> {
        Queue::check_invariants(self)
    }
}

/// Builds (or restores) a queue of one backend, for any id and payload type.
pub trait Factory {
    /// The backend's name, for messages.
    const NAME: &'static str;
    /// The queue type.
    type Q<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static>: TaskQueue<K, P>
        + Inspect
        + std::panic::RefUnwindSafe
        + 'static;
    /// A fresh queue with these options, or why they are invalid.
    fn try_build<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static>(
        opts: Opts,
    ) -> Result<Self::Q<K, P>, BuildError>;
    /// A fresh queue with these (valid) options.
    fn build<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static>(
        opts: Opts,
    ) -> Self::Q<K, P> {
        Self::try_build(opts).expect("valid options")
    }
    /// A queue rebuilt from a snapshot.
    fn restore<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static>(
        opts: Opts,
        snapshot: Snapshot<K, P>,
    ) -> Result<Self::Q<K, P>, RestoreError>;
}

/// The in-memory queue with strategy `W`.
pub struct Memory<W>(PhantomData<W>);

/// The strategy of `Memory<W>`, for tests that build queues themselves.
pub trait MemoryQueue {
    type W: Waiting;
}

impl<W: Waiting> MemoryQueue for Memory<W> {
    type W = W;
}

impl<W: Waiting> Factory for Memory<W> {
    const NAME: &'static str = W::NAME;
    type Q<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static> = Queue<K, P, W>;
    fn try_build<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static>(
        opts: Opts,
    ) -> Result<Queue<K, P, W>, BuildError> {
        opts.apply(Queue::builder()).build()
    }
    fn restore<K: Clone + Eq + Hash + Send + Sync + 'static, P: Send + 'static>(
        opts: Opts,
        snapshot: Snapshot<K, P>,
    ) -> Result<Queue<K, P, W>, RestoreError> {
        opts.apply(Queue::builder()).restore(snapshot)
    }
}

/// Panics with the queue's own description if its invariants do not hold.
#[track_caller]
pub fn inv(q: &impl Inspect) {
    if let Err(e) = q.check_invariants() {
        panic!("invariants broken: {e}");
    }
}

/// A small deterministic pseudo-random generator (the crate's own SplitMix64), so that runs are
/// reproducible and a failing seed can be replayed.
#[derive(Debug, Clone)]
pub struct Rng(taskq::pool::SplitMix64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(taskq::pool::SplitMix64::new(seed))
    }
    pub fn next_u64(&mut self) -> u64 {
        self.0.next_u64()
    }
    /// Uniform in `0..n` (n > 0).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// How long a test may run before [`Watchdog`] declares it stuck.
pub const STUCK_AFTER: std::time::Duration = std::time::Duration::from_secs(60);

/// Fails a test that hangs (a lost wake-up, a deadlock) instead of letting `cargo test` wait for
/// CI's timeout: unless dropped within `limit`, it writes the test's name to stderr (past the test
/// harness's output capture, which an abort would lose) and aborts the test binary.
pub struct Watchdog {
    done: std::sync::Arc<(std::sync::Mutex<bool>, std::sync::Condvar)>,
}

impl Watchdog {
    pub fn new(name: &'static str, limit: std::time::Duration) -> Self {
        let done = std::sync::Arc::new((std::sync::Mutex::new(false), std::sync::Condvar::new()));
        let watched = std::sync::Arc::clone(&done);
        std::thread::spawn(move || {
            let (lock, cv) = &*watched;
            let guard = lock.lock().unwrap_or_else(|e| e.into_inner());
            let (finished, _) = cv
                .wait_timeout_while(guard, limit, |finished| !*finished)
                .unwrap_or_else(|e| e.into_inner());
            if !*finished {
                use std::io::Write;
                let _ = writeln!(
                    std::io::stderr(),
                    "\nwatchdog: test `{name}` has not finished after {limit:?}: it is stuck \
                     (a blocked claim or add that was never woken?); aborting the test binary"
                );
                std::process::abort();
            }
        });
        Watchdog { done }
    }
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        let (lock, cv) = &*self.done;
        *lock.lock().unwrap_or_else(|e| e.into_inner()) = true;
        cv.notify_one();
    }
}

/// A [`Watchdog`] named after the calling test (`module::test`).
macro_rules! watchdog {
    ($test:ident) => {
        $crate::common::Watchdog::new(
            concat!(module_path!(), "::", stringify!($test)),
            $crate::common::STUCK_AFTER,
        )
    };
}
pub(crate) use watchdog;
