//! A concurrent priority task queue: one contract, several locking strategies.
//!
//! Producers [`add_task`](TaskQueue::add_task) with an id, a priority and a payload; workers
//! [`get_next_task`](TaskQueue::get_next_task) (blocking, with an optional timeout) and then
//! [`complete_task`](TaskQueue::complete_task) or [`fail_task`](TaskQueue::fail_task). Higher
//! priorities run first; equal priorities run first in, first out. Tasks can be cancelled while
//! queued and re-prioritised in O(log n); finished tasks are remembered for
//! [`get_status`](TaskQueue::get_status) according to a [`Retention`] policy. `shutdown()` drains
//! gracefully, `shutdown_now()` hands the queued tasks back; a claim tells a timeout
//! ([`ClaimError::Timeout`]) from a shutdown ([`ClaimError::ShutDown`]).
//!
//! The contract is the [`TaskQueue`] trait. Three strategies implement it over one shared
//! single-threaded core, and differ only in how they lock it and wake blocked threads:
//!
//! | strategy | locking | pick it for |
//! |---|---|---|
//! | [`ThreadSafeTaskQueue`] | one mutex, two condvars | the default: short critical sections, few threads |
//! | [`RwLockTaskQueue`] | read-write lock, event counts | many status / `len` / `stats` readers |
//! | [`ChannelTaskQueue`] | one mutex, a hand-off channel per blocked claimer | many idle workers: FIFO among them, no herd |
//!
//! ```
//! use std::time::Duration;
//! use taskq::{ClaimError, TaskQueue, ThreadSafeTaskQueue};
//!
//! let q = ThreadSafeTaskQueue::builder().max_attempts(3).build();
//! q.add_task("email-42", 1, "send welcome mail").unwrap();
//! q.add_task("charge-7", 10, "charge card").unwrap();
//!
//! std::thread::scope(|s| {
//!     s.spawn(|| loop {
//!         match q.get_next_task(Some(Duration::from_millis(100))) {
//!             Ok(task) => q.complete_task(&task.id).unwrap(),
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
//! Compiled with `RUSTFLAGS="--cfg taskq_loom"`, every lock, condvar and atomic comes from
//! [loom](https://docs.rs/loom), and the `loom-tests` crate explores the interleavings of each
//! strategy. Under loom a finite timeout expires at once, since loom does not model time.
#![forbid(unsafe_code)]
#![deny(missing_docs)]
#![warn(rust_2018_idioms, missing_debug_implementations)]

mod builder;
mod channel;
mod core;
#[cfg(test)]
mod core_proptest;
mod error;
mod guard;
mod heap;
#[cfg(taskq_loom)]
mod mutant;
mod mutex;
mod queue;
mod rwlock;
mod snapshot;
mod strategy;
mod sync;
mod task;
mod wait;

pub use builder::Builder;
pub use channel::ChannelTaskQueue;
pub use error::{AddError, AddTimeoutError, ClaimError, TaskError, TryAddError};
pub use guard::ClaimGuard;
#[cfg(taskq_loom)]
#[doc(hidden)]
pub use mutant::Mutant;
pub use mutex::ThreadSafeTaskQueue;
pub use queue::TaskQueue;
pub use rwlock::RwLockTaskQueue;
pub use snapshot::{FinishedTask, RestoreError, Snapshot};
pub use task::{Retention, Stats, Task, TaskStatus};

/// The README's Rust examples, compiled and run as doc tests.
#[cfg(doctest)]
#[doc = include_str!("../README.md")]
struct ReadmeDoctests;
