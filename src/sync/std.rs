//! The facade's normal build: the standard library's futex mutex and condvar, `parking_lot`'s
//! read-write lock, std atomics and `Arc`.
//!
//! The std mutex measured faster than `parking_lot::Mutex` at handing the lock over under
//! contention on 2 cores (`examples/compare`, W2 at 4 threads: 2.3 against 0.9-1.2 M tasks/s);
//! `parking_lot`'s RwLock measured better than std's for status readers (W3). Poisoning is
//! ignored: the core runs no user code while it is inconsistent (see `memory/core`), so a panic
//! inside a critical section leaves nothing half-done behind.

use std::panic::{RefUnwindSafe, UnwindSafe};
use std::time::Duration;

pub(crate) use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
pub(crate) use std::sync::{Arc, MutexGuard};

#[derive(Debug, Default)]
pub(crate) struct Mutex<T>(std::sync::Mutex<T>);

impl<T> Mutex<T> {
    pub(crate) fn new(value: T) -> Self {
        Mutex(std::sync::Mutex::new(value))
    }
    pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[derive(Debug, Default)]
pub(crate) struct RwLock<T>(parking_lot::RwLock<T>);

// Like std's RwLock (and the std Mutex the other strategies use): a panic under the lock leaves
// the core consistent, so observing it after a caught panic is sound.
impl<T> RefUnwindSafe for RwLock<T> {}
impl<T> UnwindSafe for RwLock<T> {}

impl<T> RwLock<T> {
    pub(crate) fn new(value: T) -> Self {
        RwLock(parking_lot::RwLock::new(value))
    }
    pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
        self.0.read()
    }
    /// A read lock if no writer holds or waits for the lock, at once; never blocks.
    pub(crate) fn try_read(&self) -> Option<RwLockReadGuard<'_, T>> {
        self.0.try_read()
    }
    pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
        self.0.write()
    }
    /// A write lock if nobody holds the lock, at once; never blocks.
    pub(crate) fn try_write(&self) -> Option<RwLockWriteGuard<'_, T>> {
        self.0.try_write()
    }
}

/// A retry loop's pause: spins a little longer each time, then yields the processor (a thread
/// it waits on may be the one that needs it, on a machine with fewer cores than threads).
#[derive(Debug)]
pub(crate) struct Backoff(crossbeam_utils::Backoff);

impl Backoff {
    pub(crate) fn new() -> Self {
        Backoff(crossbeam_utils::Backoff::new())
    }
    pub(crate) fn snooze(&self) {
        self.0.snooze();
    }
}

/// A condition variable bound to [`Mutex`].
#[derive(Debug, Default)]
pub(crate) struct Condvar(std::sync::Condvar);

impl Condvar {
    pub(crate) fn new() -> Self {
        Condvar(std::sync::Condvar::new())
    }
    pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        self.0
            .wait(guard)
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
    /// Waits at most `left`; whether it timed out is decided by the caller from its clock.
    pub(crate) fn wait_for<'a, T>(
        &self,
        guard: MutexGuard<'a, T>,
        left: Duration,
    ) -> MutexGuard<'a, T> {
        match self.0.wait_timeout(guard, left) {
            Ok((guard, _)) => guard,
            Err(poisoned) => poisoned.into_inner().0,
        }
    }
    pub(crate) fn notify_one(&self) {
        self.0.notify_one();
    }
    pub(crate) fn notify_all(&self) {
        self.0.notify_all();
    }
}
