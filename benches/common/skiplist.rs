// The `skiplist` peer: the lock-free design a Rust user would build from crates.io parts, for
// benchmarks only. Order is a `crossbeam_skiplist::SkipMap` keyed by (Reverse(priority), seq), so
// its front is the best task (highest priority, then first added) and a claim is `pop_front`;
// statuses live in a `dashmap::DashMap` (sharded locks); an `AtomicU64` hands out the sequence
// numbers. A `parking_lot` mutex and condvar are used ONLY to sleep while the map is empty: a
// claimer that finds nothing registers as a sleeper under the mutex, checks again and waits; an
// adder notifies only when there is a sleeper (see `SkipListQueue::wake` for why no wake-up
// is lost). Cancel removes the task's key from the skip map (the key is kept in the status record
// for that); whichever of a claim's `pop_front` and a cancel's `Entry::remove` takes the entry
// wins. Finished records are kept or dropped as the workload's retention asks of taskq.

use std::cmp::Reverse;
use std::sync::atomic::{fence, AtomicU64, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use crossbeam_skiplist::SkipMap;
use dashmap::mapref::entry::Entry;
use dashmap::DashMap;
use parking_lot::{Condvar, Mutex};
use taskq::{Task, TaskStatus};

use super::{BenchQueue, Claimed};

/// Where a task sits in the skip map: best first.
type Key = (Reverse<i64>, u64);

/// What the status map keeps per task.
struct Record {
    status: TaskStatus,
    /// The task's skip-map key, for cancel.
    key: Key,
}

/// A skip-list priority queue with a concurrent status map (see the top of this file).
pub struct SkipListQueue {
    /// Queued tasks in claim order: key → (id, payload).
    order: SkipMap<Key, (u64, u64)>,
    /// Every known task's record.
    tasks: DashMap<u64, Record>,
    /// The next sequence number (ties in priority run in the order added).
    seq: AtomicU64,
    /// Claimers registered to sleep (incremented under `sleep`).
    sleepers: AtomicUsize,
    /// Held only to sleep and to notify.
    sleep: Mutex<()>,
    /// Where claimers sleep while the map is empty.
    available: Condvar,
    /// Keep finished records (like `Retention::KeepAll`) or drop them (like `KeepNone`).
    keep_finished: bool,
}

impl SkipListQueue {
    /// An empty queue.
    pub fn new(keep_finished: bool) -> Self {
        SkipListQueue {
            order: SkipMap::new(),
            tasks: DashMap::new(),
            seq: AtomicU64::new(0),
            sleepers: AtomicUsize::new(0),
            sleep: Mutex::new(()),
            available: Condvar::new(),
            keep_finished,
        }
    }

    /// Inserts a task; false if its id is known. Does not wake anyone.
    fn insert(&self, id: u64, priority: i64, payload: u64) -> bool {
        let key = (Reverse(priority), self.seq.fetch_add(1, Ordering::Relaxed));
        match self.tasks.entry(id) {
            Entry::Occupied(_) => return false,
            Entry::Vacant(v) => {
                v.insert(Record {
                    status: TaskStatus::Queued,
                    key,
                });
            }
        }
        self.order.insert(key, (id, payload));
        true
    }

    /// Wakes up to `n` sleeping claimers, if there are any.
    ///
    /// No lost wake-up: the adder inserted before the fence and reads `sleepers` after it; a
    /// claimer increments `sleepers` (under the mutex) before its fence and checks the map again
    /// after it. By the two fences, either the claimer's check sees the new task or this load sees
    /// the claimer; in the second case the claimer holds the mutex from its increment until it
    /// waits, so the notify below (under the mutex) cannot come before its wait.
    fn wake(&self, n: usize) {
        fence(Ordering::SeqCst);
        if self.sleepers.load(Ordering::Relaxed) > 0 {
            let _guard = self.sleep.lock();
            if n == 1 {
                self.available.notify_one();
            } else {
                self.available.notify_all();
            }
        }
    }

    /// Takes the best queued task, if any, without waiting.
    fn try_claim(&self) -> Option<(u64, u64)> {
        let entry = self.order.pop_front()?;
        let (id, payload) = *entry.value();
        // The claim is ours: only one of pop_front and a cancel's remove takes an entry.
        if let Some(mut r) = self.tasks.get_mut(&id) {
            r.status = TaskStatus::Processing;
        }
        Some((id, payload))
    }

    /// Waits for the map to be non-empty and takes the best task (see `wake`).
    fn claim_wait(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        loop {
            if let Some(task) = self.try_claim() {
                return Some(task);
            }
            let mut guard = self.sleep.lock();
            self.sleepers.fetch_add(1, Ordering::Relaxed);
            fence(Ordering::SeqCst);
            if let Some(task) = self.try_claim() {
                self.sleepers.fetch_sub(1, Ordering::Relaxed);
                return Some(task);
            }
            let timed_out = match deadline {
                None => {
                    self.available.wait(&mut guard);
                    false
                }
                Some(at) => self.available.wait_until(&mut guard, at).timed_out(),
            };
            self.sleepers.fetch_sub(1, Ordering::Relaxed);
            drop(guard);
            if timed_out {
                return self.try_claim();
            }
        }
    }

    /// Moves a task from `from` to `to`, dropping its record if finished ones are not kept.
    fn finish(&self, id: u64, from: TaskStatus, to: TaskStatus) -> bool {
        if self.keep_finished {
            match self.tasks.get_mut(&id) {
                Some(mut r) if r.status == from => {
                    r.status = to;
                    true
                }
                _ => false,
            }
        } else {
            self.tasks.remove_if(&id, |_, r| r.status == from).is_some()
        }
    }
}

impl BenchQueue for SkipListQueue {
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        let added = self.insert(id, priority, payload);
        if added {
            self.wake(1);
        }
        added
    }

    /// Inserts them all, then wakes the sleepers once.
    fn add_batch(&self, tasks: Vec<Task<u64, u64>>) -> usize {
        let mut added = 0;
        for t in tasks {
            added += usize::from(self.insert(t.id, t.priority, t.payload));
        }
        if added > 0 {
            self.wake(added);
        }
        added
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        self.claim_wait(timeout)
    }

    /// Waits for the first task, then pops up to `max - 1` more without waiting.
    fn claim_batch(&self, max: usize, timeout: Option<Duration>) -> Vec<Claimed> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        let Some(first) = self.claim_wait(timeout) else {
            return out;
        };
        out.push(Claimed::untracked(first));
        while out.len() < max {
            match self.try_claim() {
                Some(task) => out.push(Claimed::untracked(task)),
                None => break,
            }
        }
        out
    }

    fn complete(&self, id: u64) -> bool {
        self.finish(id, TaskStatus::Processing, TaskStatus::Completed)
    }

    fn cancel(&self, id: u64) -> bool {
        let Some(key) = self.tasks.get(&id).map(|r| r.key) else {
            return false;
        };
        // Whoever removes the entry owns the task: a claim that popped it first wins. Not
        // `SkipMap::remove(&key)`: it returns the entry also when a concurrent `pop_front` marked
        // it first; `Entry::remove` says whether this call removed it.
        let Some(entry) = self.order.get(&key) else {
            return false;
        };
        if !entry.remove() {
            return false;
        }
        let done = self.finish(id, TaskStatus::Queued, TaskStatus::Cancelled);
        debug_assert!(done, "a task removed from the map was not queued");
        true
    }

    fn status(&self, id: u64) -> Option<TaskStatus> {
        self.tasks.get(&id).map(|r| r.status)
    }

    fn queued(&self) -> usize {
        self.order.len()
    }
}
