// The `reference` contender: the textbook design, for benchmarks only. One std mutex around a
// std `BinaryHeap` of (priority, Reverse(seq), id) and a `HashMap` of task records; one condvar
// notified on every add (whether or not anyone waits); cancelled tasks are left in the heap as
// tombstones and skipped when they surface; finished task records are never dropped. A claim
// moves the payload out to the claimer, as taskq's does. It has only the operations the workloads
// use (`BenchQueue`, in `mod.rs`).

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use taskq::TaskStatus;

use super::BenchQueue;

struct Record<P> {
    seq: u64,
    /// Present while queued; the claimer takes it.
    payload: Option<P>,
    status: TaskStatus,
}

struct Inner<K, P> {
    heap: BinaryHeap<(i64, Reverse<u64>, K)>,
    tasks: HashMap<K, Record<P>>,
    next_seq: u64,
    queued: usize,
}

impl<K: Ord + Hash + Clone, P> Inner<K, P> {
    /// Pops heap entries until one is a live queued task (the others are tombstones).
    fn pop(&mut self) -> Option<(K, P)> {
        while let Some((_, Reverse(seq), id)) = self.heap.pop() {
            if let Some(r) = self.tasks.get_mut(&id) {
                if r.status == TaskStatus::Queued && r.seq == seq {
                    r.status = TaskStatus::Processing;
                    self.queued -= 1;
                    let payload = r.payload.take().expect("a queued task has its payload");
                    return Some((id, payload));
                }
            }
        }
        None
    }
}

/// The textbook queue (see the top of this file).
pub struct ReferenceQueue<K, P> {
    inner: Mutex<Inner<K, P>>,
    available: Condvar,
}

impl<K: Ord + Hash + Clone, P> ReferenceQueue<K, P> {
    /// An empty, unbounded queue.
    pub fn new() -> Self {
        ReferenceQueue {
            inner: Mutex::new(Inner {
                heap: BinaryHeap::new(),
                tasks: HashMap::new(),
                next_seq: 0,
                queued: 0,
            }),
            available: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, Inner<K, P>> {
        self.inner.lock().expect("reference queue poisoned")
    }

    /// Adds a task; false if the id is known.
    pub fn add(&self, id: K, priority: i64, payload: P) -> bool {
        let mut inner = self.lock();
        let added = !inner.tasks.contains_key(&id);
        if added {
            let seq = inner.next_seq;
            inner.next_seq += 1;
            inner.heap.push((priority, Reverse(seq), id.clone()));
            inner.tasks.insert(
                id,
                Record {
                    seq,
                    payload: Some(payload),
                    status: TaskStatus::Queued,
                },
            );
            inner.queued += 1;
        }
        // The textbook way: notify on every add, under the lock, whether or not anyone waits.
        self.available.notify_one();
        added
    }

    /// Claims the best queued task, waiting up to `timeout` (`None`: until one arrives).
    pub fn claim(&self, timeout: Option<Duration>) -> Option<(K, P)> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut inner = self.lock();
        loop {
            if let Some(task) = inner.pop() {
                return Some(task);
            }
            inner = match deadline {
                None => self.available.wait(inner).expect("poisoned"),
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        return None;
                    }
                    self.available
                        .wait_timeout(inner, at - now)
                        .expect("poisoned")
                        .0
                }
            };
        }
    }

    fn finish(&self, id: &K, from: TaskStatus, to: TaskStatus) -> bool {
        let mut inner = self.lock();
        match inner.tasks.get_mut(id) {
            Some(r) if r.status == from => {
                // The record stays (its heap entry too, if queued: a tombstone).
                r.status = to;
                r.payload = None;
                if from == TaskStatus::Queued {
                    inner.queued -= 1;
                }
                true
            }
            _ => false,
        }
    }

    /// Marks a processing task completed.
    pub fn complete(&self, id: &K) -> bool {
        self.finish(id, TaskStatus::Processing, TaskStatus::Completed)
    }

    /// Cancels a queued task.
    pub fn cancel(&self, id: &K) -> bool {
        self.finish(id, TaskStatus::Queued, TaskStatus::Cancelled)
    }

    /// The task's status.
    pub fn status(&self, id: &K) -> Option<TaskStatus> {
        self.lock().tasks.get(id).map(|r| r.status)
    }

    /// Queued tasks.
    pub fn queued(&self) -> usize {
        self.lock().queued
    }
}

impl<K: Ord + Hash + Clone, P> Default for ReferenceQueue<K, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl BenchQueue for ReferenceQueue<u64, u64> {
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        ReferenceQueue::add(self, id, priority, payload)
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        ReferenceQueue::claim(self, timeout)
    }

    fn complete(&self, id: u64) -> bool {
        ReferenceQueue::complete(self, &id)
    }

    fn cancel(&self, id: u64) -> bool {
        ReferenceQueue::cancel(self, &id)
    }

    fn status(&self, id: u64) -> Option<TaskStatus> {
        ReferenceQueue::status(self, &id)
    }

    fn queued(&self) -> usize {
        ReferenceQueue::queued(self)
    }
}
