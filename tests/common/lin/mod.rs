//! The linearizability checker, for any backend: `lin_suite!(name, Factory)` checks one.
//!
//! A recorder runs short random histories (a few threads, a handful of operations each, a small id
//! space) against each strategy, stamping every operation with a global logical clock before the
//! call and after it returns. A Wing-Gong search with Lowe's memoization then looks for a
//! sequential order that respects real time and in which every result is the one the sequential
//! specification gives; the specification is the crate itself, a single-threaded
//! `ThreadSafeTaskQueue` on which each candidate order is replayed. The checker is exact: unit tests
//! below show that it accepts linearizable histories that need reordering, rejects planted
//! violations, and agrees with a memo-free brute-force search on mutated real histories.

#![allow(unused_imports)]

mod checker;
mod history;
mod ops;
mod recorder;

pub use checker::*;
pub use history::*;
pub use ops::*;
pub use recorder::*;

use std::collections::HashMap;

use taskq::{Task, TaskQueue};

pub type Id = u8;
pub type Payload = u32;
pub type Queue = dyn TaskQueue<Id, Payload>;

/// The tasks a history's claims handed out, by `(thread, position of the claim among the
/// thread's events, index of the task in the claim's batch)` (index 0 for a single claim): what a
/// later fail or fenced complete of that claim hands back.
pub type Held = HashMap<HeldAt, Task<Id, Payload>>;

/// Checks a backend's linearizability: `lin_suite!(name, Factory)` makes a module `name` with one
/// test that records and checks `TASKQ_LIN_HISTORIES` (default 1000) histories.
macro_rules! lin_suite {
    ($name:ident, $factory:ty) => {
        mod $name {
            #[test]
            fn is_linearizable() {
                let _watchdog = $crate::common::watchdog!(is_linearizable);
                let seed = stringify!($name)
                    .bytes()
                    .fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
                        (h ^ u64::from(b)).wrapping_mul(0x100_0000_01b3)
                    });
                $crate::common::lin::check_backend::<$factory>(seed);
            }
        }
    };
}
pub(crate) use lin_suite;
