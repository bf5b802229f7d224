//! Histories: events on a logical clock, the setup a history ran with, and the specification.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use taskq::{
    AddError, AddTimeoutError, Backend, ClaimError, ClaimGuard, MemoryError, Retention, Task,
    TaskError, TaskQueue, TaskStatus, ThreadSafeTaskQueue, TryAddError,
};

use super::*;
use crate::common::{Factory, Inspect, Opts, Rng};

/// One completed operation: who ran it, when it was invoked and when it returned (logical clock),
/// what it was and what it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Event {
    pub thread: usize,
    pub inv: u64,
    pub resp: u64,
    pub op: Op,
    pub res: Res,
}

impl Event {
    /// Operation `op` of `thread`, invoked at `inv` and returned `res` at `resp`.
    pub fn new(thread: usize, inv: u64, resp: u64, op: Op, res: Res) -> Self {
        Event {
            thread,
            inv,
            resp,
            op,
            res,
        }
    }
}

/// The options a history's queue was built with; the specification is built with the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Setup {
    pub capacity: Option<usize>,
    pub max_attempts: Option<u32>,
    pub retention: Retention,
}

impl Setup {
    pub const DEFAULT: Setup = Setup {
        capacity: None,
        max_attempts: None,
        retention: Retention::KeepAll,
    };

    pub fn opts(self) -> Opts {
        Opts {
            capacity: self.capacity,
            max_attempts: self.max_attempts,
            retention: Some(self.retention),
            ..Opts::default()
        }
    }

    /// The sequential specification: the crate's core behind an uncontended lock.
    pub fn spec(self) -> Spec {
        self.opts()
            .apply(ThreadSafeTaskQueue::builder())
            .build()
            .expect("valid setup")
    }
}

/// The specification's queue type.
pub type Spec = ThreadSafeTaskQueue<Id, Payload>;

/// Prints a history one operation a line, in invocation order.
pub struct Show<'a>(pub &'a [Event]);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut order: Vec<usize> = (0..self.0.len()).collect();
        order.sort_by_key(|&i| self.0[i].inv);
        for i in order {
            let e = &self.0[i];
            writeln!(
                f,
                "  #{i:<3} thread {} [{:>3}, {:>3}]  {} -> {}",
                e.thread, e.inv, e.resp, e.op, e.res
            )?;
        }
        Ok(())
    }
}
