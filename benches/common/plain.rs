// The `limit` contender: the same operations done by ONE thread on a plain std `BinaryHeap` and
// `HashMap`, with no lock, no atomics and no wake-ups. It hands out the payload (moved out, as the
// queues do) and keeps the same statuses, so it is the ceiling for the data-structure work itself;
// cancelled tasks are skipped lazily (tombstones), the cheapest way.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};

use taskq::TaskStatus;

struct Record {
    seq: u64,
    /// Present while queued; the claimer takes it.
    payload: Option<u64>,
    status: TaskStatus,
}

/// A single-threaded priority queue with a status map (see the top of this file).
pub struct PlainQueue {
    heap: BinaryHeap<(i64, Reverse<u64>, u64)>,
    tasks: HashMap<u64, Record>,
    next_seq: u64,
    queued: usize,
    /// Remember finished tasks (like `Retention::KeepAll`) or drop them (like `KeepNone`).
    keep_finished: bool,
}

impl PlainQueue {
    /// An empty queue.
    pub fn new(keep_finished: bool) -> Self {
        PlainQueue {
            heap: BinaryHeap::new(),
            tasks: HashMap::new(),
            next_seq: 0,
            queued: 0,
            keep_finished,
        }
    }

    /// Adds a task; false if the id is known.
    pub fn add(&mut self, id: u64, priority: i64, payload: u64) -> bool {
        if self.tasks.contains_key(&id) {
            return false;
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push((priority, Reverse(seq), id));
        self.tasks.insert(
            id,
            Record {
                seq,
                payload: Some(payload),
                status: TaskStatus::Queued,
            },
        );
        self.queued += 1;
        true
    }

    /// Claims the best queued task: its id and payload.
    pub fn claim(&mut self) -> Option<(u64, u64)> {
        while let Some((_, Reverse(seq), id)) = self.heap.pop() {
            let Some(r) = self.tasks.get_mut(&id) else {
                continue;
            };
            if r.status == TaskStatus::Queued && r.seq == seq {
                r.status = TaskStatus::Processing;
                self.queued -= 1;
                let payload = r.payload.take().expect("a queued task has its payload");
                return Some((id, payload));
            }
        }
        None
    }

    fn finish(&mut self, id: u64, from: TaskStatus, to: TaskStatus) -> bool {
        match self.tasks.get_mut(&id) {
            Some(r) if r.status == from => {
                if self.keep_finished {
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

    /// Completes a processing task.
    pub fn complete(&mut self, id: u64) -> bool {
        self.finish(id, TaskStatus::Processing, TaskStatus::Completed)
    }

    /// Cancels a queued task (its heap entry becomes a tombstone).
    pub fn cancel(&mut self, id: u64) -> bool {
        let done = self.finish(id, TaskStatus::Queued, TaskStatus::Cancelled);
        if done {
            self.queued -= 1;
        }
        done
    }

    /// The task's status.
    pub fn status(&self, id: u64) -> Option<TaskStatus> {
        self.tasks.get(&id).map(|r| r.status)
    }

    /// Queued tasks.
    pub fn queued(&self) -> usize {
        self.queued
    }
}
