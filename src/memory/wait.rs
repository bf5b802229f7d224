//! Blocking primitives built on the sync facade, so loom models them too.
//!
//! - [`Signal`]: an event count for threads that wait on a condition guarded by some *other* lock
//!   (the read-write lock, which has no condvar).
//! - [`Oneshot`]: a single-value rendezvous channel, one per blocked claimer.
//! - [`QueuedCount`]: the queued count, published by writers, read without the lock (`len()`, and
//!   the brief spin of a claimer that found the queue empty).
//!
//! Why a [`Signal`] cannot lose a wake-up: a waiter registers (`waiters += 1`, SeqCst) and reads
//! the epoch *before* it checks the guarded condition; a notifier changes the condition *before*
//! it reads `waiters` (SeqCst). If the waiter's check missed the change, the notifier's change came
//! after the check, hence after the registration, so the notifier sees the waiter, bumps the epoch
//! under the mutex and notifies. The waiter sleeps only while the epoch is still the one it read,
//! under the mutex the bump is made under, so it either sees the bump or is asleep when the notify comes.

use crossbeam_utils::CachePadded;

use crate::sync::{AtomicU64, AtomicUsize, Condvar, Deadline, Mutex, Ordering};

/// An event count: "something changed since you last looked".
#[derive(Debug)]
pub struct Signal {
    /// Changed only under `lock`; read without it by `prepare`.
    epoch: AtomicU64,
    /// Guards the sleep (and counts the waiters in a timed wait).
    lock: Mutex<usize>,
    cv: Condvar,
    waiters: AtomicUsize,
}

/// Proof of registration with a [`Signal`]: the epoch seen before checking the condition.
#[derive(Debug)]
#[must_use = "a ticket must be waited on or cancelled"]
pub struct Ticket(u64);

impl Signal {
    pub(crate) fn new() -> Self {
        Signal {
            epoch: AtomicU64::new(0),
            lock: Mutex::new(0),
            cv: Condvar::new(),
            waiters: AtomicUsize::new(0),
        }
    }

    /// Registers as a waiter; call before checking the condition.
    pub(crate) fn prepare(&self) -> Ticket {
        self.waiters.fetch_add(1, Ordering::SeqCst);
        Ticket(self.epoch.load(Ordering::SeqCst))
    }

    /// Unregisters without sleeping (the condition held after all).
    pub(crate) fn cancel(&self, ticket: Ticket) {
        let _ = ticket;
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Sleeps until the epoch moves past the ticket or the deadline passes, then unregisters.
    /// The caller re-checks its condition either way.
    pub(crate) fn wait(&self, ticket: Ticket, deadline: Deadline<'_>) {
        let mut guard = self.lock.lock();
        let timed = usize::from(deadline.is_timed());
        *guard += timed;
        while self.epoch.load(Ordering::SeqCst) == ticket.0 && !deadline.expired() {
            guard = deadline.wait(&self.cv, guard);
        }
        *guard -= timed;
        drop(guard);
        self.waiters.fetch_sub(1, Ordering::SeqCst);
    }

    /// Wakes one waiter, if any is registered. Call after changing the condition.
    pub(crate) fn notify_one(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.bump();
            self.cv.notify_one();
        }
    }

    /// Wakes every registered waiter.
    pub(crate) fn notify_all(&self) {
        if self.waiters.load(Ordering::SeqCst) > 0 {
            self.bump();
            self.cv.notify_all();
        }
    }

    /// Wakes every waiter, registered or not yet (time moved: each re-checks its deadline). The
    /// bump is made whatever the count of waiters: a waiter checks its deadline under the lock the
    /// bump takes, so it either sees the new time or is asleep when the notification comes.
    pub(crate) fn wake_all(&self) {
        self.bump();
        self.cv.notify_all();
    }

    /// [`wake_all`](Self::wake_all) for the waiters in a timed wait only (time moved; an
    /// untimed waiter is left asleep, as a real clock would leave it). A waiter not yet asleep
    /// checks its deadline under the lock this takes, so it sees the new time.
    pub(crate) fn wake_timed(&self) {
        let timed = self.lock.lock();
        if *timed > 0 {
            self.epoch.fetch_add(1, Ordering::SeqCst);
            drop(timed);
            self.cv.notify_all();
        }
    }

    /// Moves the epoch on under the lock, so that no waiter is between its check and its sleep.
    fn bump(&self) {
        let _guard = self.lock.lock();
        self.epoch.fetch_add(1, Ordering::SeqCst);
    }
}

/// A channel that carries one value from whoever holds the queue's lock to one sleeping thread.
#[derive(Debug)]
pub struct Oneshot<T> {
    slot: Mutex<Option<T>>,
    cv: Condvar,
}

impl<T> Oneshot<T> {
    pub(crate) fn new() -> Self {
        Oneshot {
            slot: Mutex::new(None),
            cv: Condvar::new(),
        }
    }

    /// Delivers the value and wakes the receiver.
    pub(crate) fn send(&self, value: T) {
        let mut slot = self.slot.lock();
        debug_assert!(slot.is_none(), "a oneshot is sent to once");
        *slot = Some(value);
        drop(slot);
        self.cv.notify_one();
    }

    /// Waits for the value until the deadline; `None` if it has not come.
    pub(crate) fn recv(&self, deadline: Deadline<'_>) -> Option<T> {
        let mut slot = self.slot.lock();
        loop {
            if let Some(value) = slot.take() {
                return Some(value);
            }
            if deadline.expired() {
                return None;
            }
            slot = deadline.wait(&self.cv, slot);
        }
    }

    /// Wakes the receiver without sending anything (time moved: it re-checks its deadline). The
    /// receiver checks its deadline under the lock taken here, so it either sees the new time or
    /// is asleep when the notification comes.
    pub(crate) fn wake(&self) {
        drop(self.slot.lock());
        self.cv.notify_all();
    }

    /// Takes the value if it has come.
    pub(crate) fn try_recv(&self) -> Option<T> {
        self.slot.lock().take()
    }
}

/// `Core::len()` as of the last write, stored by each writer before it unlocks. It is only a hint
/// for spinning and an O(1) lock-free `len()`: every decision about a task is made under the lock.
#[derive(Debug)]
pub struct QueuedCount(CachePadded<AtomicUsize>);

impl QueuedCount {
    pub(crate) fn new(queued: usize) -> Self {
        QueuedCount(CachePadded::new(AtomicUsize::new(queued)))
    }

    /// Call with the lock held, after the write.
    pub(crate) fn publish(&self, queued: usize) {
        // Skip the store (and the cache-line transfer) when nothing changed.
        if self.0.load(Ordering::Relaxed) != queued {
            self.0.store(queued, Ordering::Release);
        }
    }

    pub(crate) fn get(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Spins briefly, then yields a few times, until a task is queued; returns whether one is.
    /// A claimer that found the queue empty calls it before it goes to sleep, so a task added
    /// microseconds later is taken without a sleep and a wake-up (two system calls). Under loom it
    /// only looks once: spinning would add nothing to the model but interleavings.
    pub(crate) fn spin_until_queued(&self) -> bool {
        #[cfg(not(taskq_loom))]
        {
            let backoff = crossbeam_utils::Backoff::new();
            while !backoff.is_completed() {
                if self.get() > 0 {
                    return true;
                }
                backoff.snooze();
            }
        }
        self.get() > 0
    }
}
