// The `ref-*` experiments (issue 8, item 4): the `reference` design with one waiting policy or
// layout changed at a time, for benchmarks only. The data structure is the reference's
// (`PlainQueue`: a std `BinaryHeap` of (priority, Reverse(seq), id) + a `HashMap` of records,
// tombstones for cancel, finished records kept) behind one std `Mutex`, with one `Condvar` for
// claimers that found it empty. The steps, each on top of the one before:
//
// - `ref-sleepers`: an adder notifies only when a claimer sleeps (the reference notifies on
//   every add, and std's futex condvar makes a system call for each notify, waiter or not).
// - `ref-spin` (spin-then-park): a claimer that finds the queue empty releases the lock and spins
//   (crossbeam `Backoff`, spin then yield, as taskq's `spin_until_queued`) on an atomic copy of
//   the queued count, once per claim, before it takes the lock again and, if still empty, sleeps.
//   The count sits next to the lock word (`Packed`, `repr(C)`: same cache line), so spinners read
//   the line the lock holder writes.
// - `ref-spin-pad`: the same with the count, the mutex and the condvar each in its own cache line
//   (`Padded`, crossbeam `CachePadded`), as taskq's own `QueuedCount` is.
//
// Invariants:
// - The mutex guards the `PlainQueue` and `sleepers` (claimers asleep on `available`, or woken and
//   not yet back under the lock). `queued` is a copy of the queue's count, stored under the lock
//   after every change and read without it; it is only a hint (for the spin and for `queued()`):
//   every claim decides under the lock.
// - No task is claimed twice: claims are `PlainQueue::claim` under the lock (it marks the record
//   Processing and pops its heap entry).
// - No wake-up is lost: a claimer sleeps only after finding the queue empty and incrementing
//   `sleepers` in the same lock hold, and the wait releases the lock atomically; an adder adds and
//   reads `sleepers` in one lock hold and notifies (under the lock) if it is positive. An add after
//   the claimer's check comes in a later hold, sees `sleepers > 0` and notifies a claimer that is
//   already waiting. This is the textbook "notify on every add" less the notifies that cannot wake
//   anyone. The spin changes nothing here: it happens outside the lock, before the check.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crossbeam_utils::{Backoff, CachePadded};
use taskq::TaskStatus;

use super::plain::PlainQueue;
use super::BenchQueue;

/// What the mutex guards.
pub struct State {
    q: PlainQueue,
    /// Claimers asleep on the condvar (or woken and not yet back under the lock).
    sleepers: usize,
}

impl Default for State {
    fn default() -> Self {
        State {
            // Finished records are kept, as the reference keeps them.
            q: PlainQueue::new(true),
            sleepers: 0,
        }
    }
}

/// Where the lock, the count and the condvar live.
pub trait Layout: Default + Sync {
    /// The lock and what it guards.
    fn state(&self) -> &Mutex<State>;
    /// The queued count, read without the lock.
    fn queued(&self) -> &AtomicUsize;
    /// Where claimers sleep.
    fn available(&self) -> &Condvar;
}

/// The count first, then the mutex (whose lock word comes first in std's `Mutex`): the count and
/// the lock word share a cache line.
#[derive(Default)]
#[repr(C)]
pub struct Packed {
    queued: AtomicUsize,
    state: Mutex<State>,
    available: Condvar,
}

impl Layout for Packed {
    fn state(&self) -> &Mutex<State> {
        &self.state
    }

    fn queued(&self) -> &AtomicUsize {
        &self.queued
    }

    fn available(&self) -> &Condvar {
        &self.available
    }
}

/// Each in its own cache line.
#[derive(Default)]
pub struct Padded {
    queued: CachePadded<AtomicUsize>,
    state: CachePadded<Mutex<State>>,
    available: CachePadded<Condvar>,
}

impl Layout for Padded {
    fn state(&self) -> &Mutex<State> {
        &self.state
    }

    fn queued(&self) -> &AtomicUsize {
        &self.queued
    }

    fn available(&self) -> &Condvar {
        &self.available
    }
}

/// The reference design with a sleeper count, an optional spin before sleeping (`SPIN`) and the
/// layout `L` (see the top of this file).
#[derive(Default)]
pub struct TunedReference<L, const SPIN: bool> {
    parts: L,
}

impl<L: Layout, const SPIN: bool> TunedReference<L, SPIN> {
    /// An empty queue.
    pub fn new() -> Self {
        TunedReference {
            parts: L::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.parts.state().lock().expect("poisoned")
    }

    /// Publishes the queued count (under the lock).
    fn publish(&self, st: &State) {
        self.parts.queued().store(st.q.queued(), Ordering::Release);
    }

    /// Spins until the count says a task is queued or the backoff is spent; whether one is.
    fn spin_until_queued(&self) -> bool {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            if self.parts.queued().load(Ordering::Acquire) > 0 {
                return true;
            }
            backoff.snooze();
        }
        self.parts.queued().load(Ordering::Acquire) > 0
    }

    /// Adds a task; false if the id is known.
    pub fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        let mut st = self.lock();
        let added = st.q.add(id, priority, payload);
        if added {
            self.publish(&st);
            if st.sleepers > 0 {
                self.parts.available().notify_one();
            }
        }
        added
    }

    /// Claims the best queued task, waiting up to `timeout` (`None`: until one arrives).
    pub fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut st = self.lock();
        let mut spun = !SPIN;
        loop {
            if let Some(task) = st.q.claim() {
                self.publish(&st);
                return Some(task);
            }
            let left = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => return None,
                },
            };
            if !spun {
                // Spin-then-park: look again, outside the lock, before sleeping.
                spun = true;
                drop(st);
                self.spin_until_queued();
                st = self.lock();
                continue;
            }
            st.sleepers += 1;
            let cv = self.parts.available();
            st = match left {
                None => cv.wait(st).expect("poisoned"),
                Some(left) => cv.wait_timeout(st, left).expect("poisoned").0,
            };
            st.sleepers -= 1;
        }
    }

    fn finish(&self, id: u64, f: fn(&mut PlainQueue, u64) -> bool) -> bool {
        let mut st = self.lock();
        let done = f(&mut st.q, id);
        self.publish(&st);
        done
    }
}

impl<L: Layout, const SPIN: bool> BenchQueue for TunedReference<L, SPIN> {
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        TunedReference::add(self, id, priority, payload)
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        TunedReference::claim(self, timeout)
    }

    fn complete(&self, id: u64) -> bool {
        // A completion does not change the queued count.
        self.lock().q.complete(id)
    }

    fn cancel(&self, id: u64) -> bool {
        self.finish(id, PlainQueue::cancel)
    }

    fn status(&self, id: u64) -> Option<TaskStatus> {
        self.lock().q.status(id)
    }

    fn queued(&self) -> usize {
        self.parts.queued().load(Ordering::Acquire)
    }
}
