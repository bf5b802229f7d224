//! A concurrent priority task queue: one contract, several locking strategies.
//!
//! Producers [`add_task`](TaskQueue::add_task) with an id, a priority and a payload; workers
//! [`claim`](TaskQueue::claim) the best task (blocking, with an optional timeout), which moves its
//! payload to them, and then complete it or hand it back to be retried. Higher
//! priorities run first; equal priorities run first in, first out. Tasks can be cancelled while
//! queued and re-prioritised in O(log n); finished tasks are remembered for
//! [`get_status`](TaskQueue::get_status) according to a [`Retention`] policy. Tasks can wait for
//! their time ([`add_task_after`](TaskQueue::add_task_after),
//! [`fail_task_after`](TaskQueue::fail_task_after): [`TaskStatus::Scheduled`] until due), and
//! [`Builder::ageing`] keeps low priorities from starving. `shutdown()` drains
//! gracefully, `shutdown_now()` hands the queued tasks back; a claim tells a timeout
//! ([`ClaimError::Timeout`]) from a shutdown ([`ClaimError::ShutDown`]).
//!
//! There are two contracts: [`TaskQueue`], the rich in-memory API, and [`Backend`], a fallible,
//! lease-fenced API that stores which can fail or live elsewhere implement too. One generic type,
//! [`Queue<K, P, W, S>`](Queue), implements both over one single-threaded core; the waiting
//! strategy `W` says how the core is locked and blocked threads are woken, and the public names
//! are aliases:
//!
//! | alias | strategy `W` | locking | pick it for |
//! |---|---|---|---|
//! | [`ThreadSafeTaskQueue`] | [`strategy::Mutex`] | one mutex, two condvars | the default: short critical sections, few threads |
//! | [`RwLockTaskQueue`] | [`strategy::RwLock`] | read-write lock, event counts | many status / `stats` readers on many cores |
//! | [`ChannelTaskQueue`] | [`strategy::Channel`] | one mutex, a hand-off channel per blocked claimer | many idle workers: FIFO among them, no herd |
//!
//! ```
//! use std::time::Duration;
//! use taskq::{ClaimError, TaskQueue, ThreadSafeTaskQueue};
//!
//! let q = ThreadSafeTaskQueue::builder().max_attempts(3).build().unwrap();
//! q.add_task("email-42", 1, "send welcome mail").unwrap();
//! q.add_task("charge-7", 10, "charge card").unwrap();
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| loop {
//!         match q.claim(Some(Duration::from_millis(100))) {
//!             Ok(job) => job.complete().unwrap(), // dropped unfinished: retried
//!             Err(ClaimError::Timeout) => continue,
//!             Err(_) => break, // shut down and drained
//!         }
//!     });
//!     q.shutdown();
//! });
//! assert_eq!(q.stats().total_completed, 2);
//! ```
//!
//! # Features
//! - `serde`: `Serialize`/`Deserialize` for [`Task`], [`TaskStatus`], [`Stats`], [`Retention`] and
//!   [`Snapshot`].
//!
//! # Model checking
//! Compiled with `RUSTFLAGS="--cfg taskq_loom"`, every lock, condvar, atomic and `Arc` comes from
//! [loom](https://docs.rs/loom) (through the private `sync` facade), and the `loom-tests` crate
//! explores the interleavings of each strategy. Under loom a finite timeout expires at once, since
//! loom does not model time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod builder;
mod contract;
mod error;
mod guard;
mod hasher;
mod memory;
mod mutant;
pub mod pipeline;
pub mod pool;
mod snapshot;
mod sync;
mod task;

pub use builder::Builder;
pub use contract::{Backend, BackendError, ErrorKind, MemoryError, TaskQueue};
pub use error::{AddError, AddTimeoutError, BuildError, ClaimError, TaskError, TryAddError};
pub use guard::{ClaimGuard, Guard, OwnedClaimGuard, QueueRef};
pub use hasher::DefaultHashBuilder;
pub use memory::Queue;
pub use snapshot::{ClaimedTask, FinishedTask, RestoreError, ScheduledTask, Snapshot};
pub use sync::{Clock, ManualClock};
pub use task::{Retention, Stats, Task, TaskStatus, Token};

/// The waiting strategies, the type parameter `W` of [`Queue`]: how the queue's state is locked
/// and how blocked threads are woken.
pub mod strategy {
    pub use crate::memory::strategy::{Channel, Mutex, RwLock, Waiting};
}

/// The classic design, done right: a binary heap and a task map behind one mutex, a condvar for
/// blocked claimers and one for blocked producers, each notified only when someone waits.
///
/// The best all-rounder when critical sections are short and threads are few; the baseline the
/// other strategies are measured against.
///
/// ```
/// use std::sync::Arc;
/// use std::thread;
/// use taskq::{ClaimError, TaskQueue, ThreadSafeTaskQueue};
///
/// let q = Arc::new(ThreadSafeTaskQueue::new());
/// let worker = {
///     let q = Arc::clone(&q);
///     thread::spawn(move || {
///         let mut done = 0;
///         loop {
///             match q.claim(None) {
///                 Ok(job) => {
///                     job.complete().unwrap();
///                     done += 1;
///                 }
///                 Err(ClaimError::ShutDown) => return done,
///                 Err(e) => panic!("{e}"),
///             }
///         }
///     })
/// };
/// for id in 0..100u64 {
///     q.add_task(id, (id % 10) as i64, format!("job {id}")).unwrap();
/// }
/// q.shutdown(); // the worker drains the queue, then stops
/// assert_eq!(worker.join().unwrap(), 100);
/// ```
pub type ThreadSafeTaskQueue<K, P, S = DefaultHashBuilder> = Queue<K, P, strategy::Mutex, S>;

/// The core behind a read-write lock: status queries and `stats()` run concurrently with each
/// other, and only writers exclude each other; `len()` takes no lock.
///
/// Pick it when many threads poll task status while few add and claim, on a machine with cores to
/// spare (measure first: see the README's performance section).
///
/// ```
/// use taskq::{RwLockTaskQueue, TaskQueue, TaskStatus};
///
/// let q = RwLockTaskQueue::new();
/// q.add_task("report".to_string(), 3, ()).unwrap();
/// std::thread::scope(|s| {
///     for _ in 0..4 {
///         s.spawn(|| assert_eq!(q.get_status("report"), Some(TaskStatus::Queued)));
///     }
/// });
/// ```
pub type RwLockTaskQueue<K, P, S = DefaultHashBuilder> = Queue<K, P, strategy::RwLock, S>;

/// Claimers that find the queue empty wait on a channel of their own, and the thread that adds the
/// next task hands it straight over: the woken claimer never contends for the lock again, no
/// wake-up is spurious, and blocked claimers are served first come, first served.
///
/// Pick it when workers outnumber the tasks in flight and usually wait (job runners, pools that
/// idle). Its fast path (a task is ready) is that of [`ThreadSafeTaskQueue`].
///
/// ```
/// use std::time::Duration;
/// use taskq::{ChannelTaskQueue, TaskQueue};
///
/// let q = ChannelTaskQueue::new();
/// std::thread::scope(|s| {
///     let worker = s.spawn(|| q.get_next_task(Some(Duration::from_secs(10))).unwrap());
///     q.add_task(1u64, 0, "wake up").unwrap();
///     assert_eq!(worker.join().unwrap().id, 1);
/// });
/// ```
pub type ChannelTaskQueue<K, P, S = DefaultHashBuilder> = Queue<K, P, strategy::Channel, S>;

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
