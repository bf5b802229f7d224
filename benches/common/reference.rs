// The `reference` contender: the textbook design, for benchmarks only. One std mutex around a
// std `BinaryHeap` of (priority, Reverse(seq), id) and a `HashMap` of task records; one condvar
// notified on every add (whether or not anyone waits); cancelled and re-prioritised tasks are left
// in the heap as tombstones and skipped when they surface; finished tasks are never dropped.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use taskq::{
    AddError, AddTimeoutError, ClaimError, FinishedTask, Snapshot, Stats, Task, TaskError,
    TaskQueue, TaskStatus, TryAddError,
};

struct Record<P> {
    priority: i64,
    seq: u64,
    payload: Arc<P>,
    attempts: u32,
    status: TaskStatus,
}

#[derive(PartialEq, Eq)]
enum Phase {
    Open,
    Draining,
    Stopped,
}

struct Inner<K, P> {
    heap: BinaryHeap<(i64, Reverse<u64>, K)>,
    tasks: HashMap<K, Record<P>>,
    next_seq: u64,
    queued: usize,
    phase: Phase,
    totals: Stats,
}

impl<K: Ord + Hash + Clone, P> Inner<K, P> {
    fn push(&mut self, id: K, priority: i64) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        self.heap.push((priority, Reverse(seq), id));
        seq
    }

    /// Pops heap entries until one is a live queued task (the others are tombstones).
    fn pop(&mut self) -> Option<Task<K, P>> {
        while let Some((priority, Reverse(seq), id)) = self.heap.pop() {
            if let Some(r) = self.tasks.get_mut(&id) {
                if r.status == TaskStatus::Queued && r.seq == seq && r.priority == priority {
                    r.status = TaskStatus::Processing;
                    self.queued -= 1;
                    return Some(Task {
                        id,
                        priority,
                        payload: Arc::clone(&r.payload),
                        attempts: r.attempts,
                    });
                }
            }
        }
        None
    }

    fn add(&mut self, id: K, priority: i64, payload: P) -> Result<(), TryAddError<P>> {
        if self.phase != Phase::Open {
            return Err(TryAddError::ShutDown(payload));
        }
        if self.tasks.contains_key(&id) {
            return Err(TryAddError::Duplicate(payload));
        }
        let seq = self.push(id.clone(), priority);
        self.tasks.insert(
            id,
            Record {
                priority,
                seq,
                payload: Arc::new(payload),
                attempts: 0,
                status: TaskStatus::Queued,
            },
        );
        self.queued += 1;
        self.totals.total_added += 1;
        Ok(())
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
                phase: Phase::Open,
                totals: Stats::default(),
            }),
            available: Condvar::new(),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner<K, P>> {
        self.inner.lock().expect("reference queue poisoned")
    }

    fn add_inner(&self, id: K, priority: i64, payload: P) -> Result<(), TryAddError<P>> {
        let mut inner = self.lock();
        let result = inner.add(id, priority, payload);
        // The textbook way: notify on every add, under the lock, whether or not anyone waits.
        self.available.notify_one();
        result
    }
}

impl<K: Ord + Hash + Clone, P> Default for ReferenceQueue<K, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K, P> TaskQueue<K, P> for ReferenceQueue<K, P>
where
    K: Ord + Hash + Clone + Send + Sync,
    P: Send + Sync,
{
    fn add_task(&self, id: K, priority: i64, payload: P) -> Result<(), AddError<P>> {
        self.add_inner(id, priority, payload).map_err(|e| match e {
            TryAddError::Duplicate(p) => AddError::Duplicate(p),
            TryAddError::ShutDown(p) | TryAddError::Full(p) => AddError::ShutDown(p),
        })
    }

    fn try_add_task(&self, id: K, priority: i64, payload: P) -> Result<(), TryAddError<P>> {
        self.add_inner(id, priority, payload)
    }

    fn add_task_timeout(
        &self,
        id: K,
        priority: i64,
        payload: P,
        _timeout: Duration,
    ) -> Result<(), AddTimeoutError<P>> {
        self.add_inner(id, priority, payload).map_err(|e| match e {
            TryAddError::Duplicate(p) => AddTimeoutError::Duplicate(p),
            TryAddError::ShutDown(p) => AddTimeoutError::ShutDown(p),
            TryAddError::Full(p) => AddTimeoutError::Timeout(p),
        })
    }

    fn get_next_task(&self, timeout: Option<Duration>) -> Result<Task<K, P>, ClaimError> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        let mut inner = self.lock();
        loop {
            if inner.phase == Phase::Stopped {
                return Err(ClaimError::ShutDown);
            }
            if let Some(task) = inner.pop() {
                return Ok(task);
            }
            if inner.phase == Phase::Draining {
                return Err(ClaimError::ShutDown);
            }
            inner = match deadline {
                None => self.available.wait(inner).expect("poisoned"),
                Some(at) => {
                    let now = Instant::now();
                    if now >= at {
                        return Err(ClaimError::Timeout);
                    }
                    self.available
                        .wait_timeout(inner, at - now)
                        .expect("poisoned")
                        .0
                }
            };
        }
    }

    fn try_get_next_task(&self) -> Result<Task<K, P>, ClaimError> {
        let mut inner = self.lock();
        if inner.phase == Phase::Stopped {
            return Err(ClaimError::ShutDown);
        }
        match inner.pop() {
            Some(task) => Ok(task),
            None if inner.phase == Phase::Draining => Err(ClaimError::ShutDown),
            None => Err(ClaimError::Empty),
        }
    }

    fn get_status(&self, id: &K) -> Option<TaskStatus> {
        self.lock().tasks.get(id).map(|r| r.status)
    }

    fn complete_task(&self, id: &K) -> Result<(), TaskError> {
        let mut inner = self.lock();
        let r = inner.tasks.get_mut(id).ok_or(TaskError::NotFound)?;
        if r.status != TaskStatus::Processing {
            return Err(TaskError::InvalidState { current: r.status });
        }
        r.status = TaskStatus::Completed;
        inner.totals.total_completed += 1;
        Ok(())
    }

    fn fail_task(&self, id: &K) -> Result<TaskStatus, TaskError> {
        let mut inner = self.lock();
        let r = inner.tasks.get_mut(id).ok_or(TaskError::NotFound)?;
        if r.status != TaskStatus::Processing {
            return Err(TaskError::InvalidState { current: r.status });
        }
        r.attempts += 1;
        r.status = TaskStatus::Queued;
        let priority = r.priority;
        let seq = inner.push(id.clone(), priority);
        inner.tasks.get_mut(id).expect("just seen").seq = seq;
        inner.queued += 1;
        drop(inner);
        self.available.notify_one();
        Ok(TaskStatus::Queued)
    }

    fn cancel_task(&self, id: &K) -> bool {
        let mut inner = self.lock();
        match inner.tasks.get_mut(id) {
            Some(r) if r.status == TaskStatus::Queued => {
                // The heap entry stays behind as a tombstone.
                r.status = TaskStatus::Cancelled;
                inner.queued -= 1;
                inner.totals.total_cancelled += 1;
                true
            }
            _ => false,
        }
    }

    fn update_priority(&self, id: &K, priority: i64) -> Result<(), TaskError> {
        let mut inner = self.lock();
        let r = inner.tasks.get(id).ok_or(TaskError::NotFound)?;
        if r.status != TaskStatus::Queued {
            return Err(TaskError::InvalidState { current: r.status });
        }
        // A second heap entry with the new key, keeping the original order among equals; the old
        // entry is left behind as a tombstone (its priority no longer matches).
        let seq = r.seq;
        inner.heap.push((priority, Reverse(seq), id.clone()));
        inner.tasks.get_mut(id).expect("just seen").priority = priority;
        Ok(())
    }

    fn forget_task(&self, id: &K) -> Result<(), TaskError> {
        let mut inner = self.lock();
        let r = inner.tasks.get(id).ok_or(TaskError::NotFound)?;
        if !r.status.is_finished() {
            return Err(TaskError::InvalidState { current: r.status });
        }
        inner.tasks.remove(id);
        Ok(())
    }

    fn shutdown(&self) {
        let mut inner = self.lock();
        if inner.phase == Phase::Open {
            inner.phase = Phase::Draining;
        }
        self.available.notify_all();
    }

    fn shutdown_now(&self) -> Vec<Task<K, P>> {
        let mut inner = self.lock();
        let mut out = Vec::new();
        while let Some(task) = inner.pop() {
            inner.tasks.get_mut(&task.id).expect("popped").status = TaskStatus::Cancelled;
            inner.totals.total_cancelled += 1;
            out.push(task);
        }
        inner.phase = Phase::Stopped;
        self.available.notify_all();
        out
    }

    fn is_shut_down(&self) -> bool {
        self.lock().phase != Phase::Open
    }

    fn len(&self) -> usize {
        self.lock().queued
    }

    fn capacity(&self) -> Option<usize> {
        None
    }

    fn stats(&self) -> Stats {
        let inner = self.lock();
        let mut s = inner.totals;
        for r in inner.tasks.values() {
            match r.status {
                TaskStatus::Queued => s.queued += 1,
                TaskStatus::Processing => s.processing += 1,
                TaskStatus::Completed => s.completed += 1,
                TaskStatus::Cancelled => s.cancelled += 1,
                TaskStatus::Failed => s.failed += 1,
            }
        }
        s
    }

    fn snapshot(&self) -> Snapshot<K, P> {
        let inner = self.lock();
        let mut queued = Vec::new();
        let mut processing = Vec::new();
        let mut finished = Vec::new();
        for (id, r) in &inner.tasks {
            let task = || Task {
                id: id.clone(),
                priority: r.priority,
                payload: Arc::clone(&r.payload),
                attempts: r.attempts,
            };
            match r.status {
                TaskStatus::Queued => queued.push((r.priority, r.seq, task())),
                TaskStatus::Processing => processing.push((r.seq, task())),
                status => finished.push(FinishedTask {
                    id: id.clone(),
                    status,
                }),
            }
        }
        queued.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
        processing.sort_by_key(|p| p.0);
        Snapshot {
            queued: queued.into_iter().map(|q| q.2).collect(),
            processing: processing.into_iter().map(|p| p.1).collect(),
            finished,
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        let inner = self.lock();
        let queued = inner
            .tasks
            .values()
            .filter(|r| r.status == TaskStatus::Queued)
            .count();
        if queued != inner.queued {
            return Err(format!(
                "{queued} queued records, count says {}",
                inner.queued
            ));
        }
        if inner.heap.len() < queued {
            return Err("fewer heap entries than queued tasks".into());
        }
        Ok(())
    }
}
