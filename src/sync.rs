//! Private synchronisation facade.
//!
//! Every strategy takes its locks, condition variables and atomics from here and from nowhere else.
//! Normally the mutex and condvar are the standard library's and the read-write lock is
//! `parking_lot`'s, whichever measured faster here (poisoning is ignored); compiled with
//! `RUSTFLAGS="--cfg taskq_loom"` they are `loom`'s, so that the model checks in `loom-tests/` explore
//! every interleaving of the very code users run.
//!
//! The facade's API is the intersection of the two: guards are passed to `Condvar::wait*` by value and
//! handed back, as loom requires. loom does not model time: under loom a finite timeout expires at once
//! (see [`Deadline::expired`]), so a timed operation tries once and returns, and only `None` blocks.

use std::time::Instant;

#[cfg(not(taskq_loom))]
mod imp {
    pub(crate) use parking_lot::{RwLockReadGuard, RwLockWriteGuard};
    pub(crate) use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    pub(crate) use std::sync::MutexGuard;

    /// The standard library's futex mutex. Measured against `parking_lot::Mutex` with
    /// `examples/compare` on 2 cores, it handed the lock over faster under contention (W2 at
    /// 4 threads: 2.3 against 0.9-1.2 M tasks/s). A panic inside a critical section is an
    /// internal bug; the lock is not treated as poisoned, as with `parking_lot`.
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

    /// `parking_lot`'s reader-writer lock (it measured better than the standard library's for
    /// status readers in W3).
    #[derive(Debug, Default)]
    pub(crate) struct RwLock<T>(parking_lot::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(parking_lot::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read()
        }
        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write()
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
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            deadline: std::time::Instant,
        ) -> MutexGuard<'a, T> {
            // Whether it timed out is decided by the caller from the clock and the state.
            let left = deadline.saturating_duration_since(std::time::Instant::now());
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
}

#[cfg(taskq_loom)]
mod imp {
    pub(crate) use loom::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
    pub(crate) use loom::sync::{MutexGuard, RwLockReadGuard, RwLockWriteGuard};

    /// loom's mutex; a poisoned lock means a model already failed, so unwrapping is right.
    #[derive(Debug)]
    pub(crate) struct Mutex<T>(loom::sync::Mutex<T>);

    impl<T> Mutex<T> {
        pub(crate) fn new(value: T) -> Self {
            Mutex(loom::sync::Mutex::new(value))
        }
        pub(crate) fn lock(&self) -> MutexGuard<'_, T> {
            self.0.lock().unwrap()
        }
    }

    #[derive(Debug)]
    pub(crate) struct RwLock<T>(loom::sync::RwLock<T>);

    impl<T> RwLock<T> {
        pub(crate) fn new(value: T) -> Self {
            RwLock(loom::sync::RwLock::new(value))
        }
        pub(crate) fn read(&self) -> RwLockReadGuard<'_, T> {
            self.0.read().unwrap()
        }
        pub(crate) fn write(&self) -> RwLockWriteGuard<'_, T> {
            self.0.write().unwrap()
        }
    }

    #[derive(Debug)]
    pub(crate) struct Condvar(loom::sync::Condvar);

    impl Condvar {
        pub(crate) fn new() -> Self {
            Condvar(loom::sync::Condvar::new())
        }
        pub(crate) fn wait<'a, T>(&self, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap()
        }
        /// loom does not model time: a timed wait is an untimed one.
        pub(crate) fn wait_until<'a, T>(
            &self,
            guard: MutexGuard<'a, T>,
            _deadline: std::time::Instant,
        ) -> MutexGuard<'a, T> {
            self.0.wait(guard).unwrap()
        }
        pub(crate) fn notify_one(&self) {
            self.0.notify_one();
        }
        pub(crate) fn notify_all(&self) {
            self.0.notify_all();
        }
    }
}

pub(crate) use imp::*;

/// When a blocking operation gives up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Deadline {
    /// Do not wait at all (the `try_*` operations).
    Now,
    /// Wait as long as it takes.
    Never,
    /// Give up at this instant.
    At(Instant),
}

impl Deadline {
    /// `None` waits forever; a timeout too large to add to the clock (`Duration::MAX`) does too.
    pub(crate) fn after(timeout: Option<std::time::Duration>) -> Self {
        match timeout.and_then(|d| Instant::now().checked_add(d)) {
            Some(at) => Deadline::At(at),
            None => Deadline::Never,
        }
    }

    /// Whether the deadline has passed. Under loom, where time is not modelled, a finite deadline
    /// counts as passed as soon as it is asked: a timed operation tries once and never sleeps,
    /// which is one legal schedule of a real timeout and keeps models free of false deadlocks.
    pub(crate) fn expired(self) -> bool {
        match self {
            Deadline::Now => true,
            Deadline::Never => false,
            #[cfg(not(taskq_loom))]
            Deadline::At(at) => Instant::now() >= at,
            #[cfg(taskq_loom)]
            Deadline::At(_) => true,
        }
    }

    /// [`wait`](Self::wait), counted in the field of the guarded state that `waiters` picks out,
    /// so that a notifier (which reads it under the same lock) knows someone sleeps.
    pub(crate) fn wait_counted<'a, T>(
        self,
        cv: &Condvar,
        mut guard: MutexGuard<'a, T>,
        waiters: fn(&mut T) -> &mut usize,
    ) -> MutexGuard<'a, T> {
        *waiters(&mut guard) += 1;
        let mut guard = self.wait(cv, guard);
        *waiters(&mut guard) -= 1;
        guard
    }

    /// Waits on `cv` until notified or until the deadline.
    pub(crate) fn wait<'a, T>(self, cv: &Condvar, guard: MutexGuard<'a, T>) -> MutexGuard<'a, T> {
        match self {
            Deadline::Never => cv.wait(guard),
            Deadline::At(at) => cv.wait_until(guard, at),
            Deadline::Now => guard,
        }
    }
}
