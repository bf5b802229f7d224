// The `priority-queue` peer: the keyed heap from the `priority-queue` crate, for benchmarks only.
// A `PriorityQueue<id, (priority, Reverse(seq))>` gives the order (highest priority first, then
// first added) and, being keyed, removes a cancelled task outright (`remove`; it also has
// `change_priority`), so there are no tombstones; a `HashMap` keeps each task's record (status,
// payload while queued). Both sit behind one `parking_lot` mutex, with one condvar that an adder
// notifies only when a claimer is asleep (the count of sleepers is kept under the mutex). Its
// batch operations take the lock once per batch. Finished records are kept or dropped as the
// workload's retention asks of taskq.

use std::cmp::Reverse;
use std::collections::HashMap;
use std::time::{Duration, Instant};

use parking_lot::{Condvar, Mutex, MutexGuard};
use priority_queue::PriorityQueue;
use taskq::{Task, TaskStatus};

use super::{BenchQueue, Claimed};

/// What the map keeps per task.
struct Record {
    status: TaskStatus,
    /// Present while queued; the claimer takes it.
    payload: Option<u64>,
}

struct Inner {
    order: PriorityQueue<u64, (i64, Reverse<u64>)>,
    tasks: HashMap<u64, Record>,
    next_seq: u64,
    /// Claimers waiting on the condvar.
    sleepers: usize,
}

impl Inner {
    /// Adds a task; false if its id is known.
    fn add(&mut self, id: u64, priority: i64, payload: u64) -> bool {
        if self.tasks.contains_key(&id) {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.order.push(id, (priority, Reverse(seq)));
        self.tasks.insert(
            id,
            Record {
                status: TaskStatus::Queued,
                payload: Some(payload),
            },
        );
        true
    }

    /// Takes the best queued task.
    fn pop(&mut self) -> Option<(u64, u64)> {
        let (id, _) = self.order.pop()?;
        let r = self.tasks.get_mut(&id).expect("a queued task has a record");
        r.status = TaskStatus::Processing;
        let payload = r.payload.take().expect("a queued task has its payload");
        Some((id, payload))
    }

    fn finish(&mut self, id: u64, from: TaskStatus, to: TaskStatus, keep: bool) -> bool {
        match self.tasks.get_mut(&id) {
            Some(r) if r.status == from => {
                if keep {
                    r.status = to;
                    r.payload = None;
                } else {
                    self.tasks.remove(&id);
                }
                true
            }
            _ => false,
        }
    }
}

/// The `priority-queue` crate's keyed heap behind one lock (see the top of this file).
pub struct PriorityQueueQueue {
    inner: Mutex<Inner>,
    available: Condvar,
    /// Keep finished records (like `Retention::KeepAll`) or drop them (like `KeepNone`).
    keep_finished: bool,
}

impl PriorityQueueQueue {
    /// An empty queue.
    pub fn new(keep_finished: bool) -> Self {
        PriorityQueueQueue {
            inner: Mutex::new(Inner {
                order: PriorityQueue::new(),
                tasks: HashMap::new(),
                next_seq: 0,
                sleepers: 0,
            }),
            available: Condvar::new(),
            keep_finished,
        }
    }

    /// Waits until a task is queued (or the deadline passes) and returns the guard.
    fn wait_for_task(&self, timeout: Option<Duration>) -> Option<MutexGuard<'_, Inner>> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut inner = self.inner.lock();
        while inner.order.is_empty() {
            inner.sleepers += 1;
            let timed_out = match deadline {
                None => {
                    self.available.wait(&mut inner);
                    false
                }
                Some(at) => self.available.wait_until(&mut inner, at).timed_out(),
            };
            inner.sleepers -= 1;
            if timed_out && inner.order.is_empty() {
                return None;
            }
        }
        Some(inner)
    }

    /// Wakes up to `n` claimers if any sleeps (the caller holds the lock).
    fn wake(&self, inner: &Inner, n: usize) {
        match inner.sleepers {
            0 => {}
            _ if n == 1 => {
                self.available.notify_one();
            }
            _ => {
                self.available.notify_all();
            }
        }
    }
}

impl BenchQueue for PriorityQueueQueue {
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        let mut inner = self.inner.lock();
        let added = inner.add(id, priority, payload);
        if added {
            self.wake(&inner, 1);
        }
        added
    }

    /// One lock for the whole batch, one wake-up.
    fn add_batch(&self, tasks: Vec<Task<u64, u64>>) -> usize {
        let mut inner = self.inner.lock();
        let mut added = 0;
        for t in tasks {
            added += usize::from(inner.add(t.id, t.priority, t.payload));
        }
        if added > 0 {
            self.wake(&inner, added);
        }
        added
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        self.wait_for_task(timeout)?.pop()
    }

    /// Waits for the first task, then takes up to `max` under the same lock.
    fn claim_batch(&self, max: usize, timeout: Option<Duration>) -> Vec<Claimed> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        let Some(mut inner) = self.wait_for_task(timeout) else {
            return out;
        };
        while out.len() < max {
            match inner.pop() {
                Some(task) => out.push(Claimed::untracked(task)),
                None => break,
            }
        }
        out
    }

    fn complete(&self, id: u64) -> bool {
        let keep = self.keep_finished;
        self.inner
            .lock()
            .finish(id, TaskStatus::Processing, TaskStatus::Completed, keep)
    }

    /// One lock for the whole batch.
    fn complete_batch(&self, claims: &[Claimed]) -> usize {
        let keep = self.keep_finished;
        let mut inner = self.inner.lock();
        claims
            .iter()
            .filter(|c| inner.finish(c.id, TaskStatus::Processing, TaskStatus::Completed, keep))
            .count()
    }

    fn cancel(&self, id: u64) -> bool {
        let keep = self.keep_finished;
        let mut inner = self.inner.lock();
        // Keyed: the entry leaves the heap at once, no tombstone.
        if inner.order.remove(&id).is_none() {
            return false;
        }
        inner.finish(id, TaskStatus::Queued, TaskStatus::Cancelled, keep)
    }

    fn status(&self, id: u64) -> Option<TaskStatus> {
        self.inner.lock().tasks.get(&id).map(|r| r.status)
    }

    fn queued(&self) -> usize {
        self.inner.lock().order.len()
    }
}
