//! The single-threaded core shared by every strategy: the task index, the indexed heap, the state
//! transitions, retention and counters.
//!
//! Every rule of the contract lives here and only here. The strategies add nothing but a lock around a
//! `Core` and a way to wake blocked threads; they never look inside a record.
//!
//! Invariants (checked by [`Core::check_invariants`]):
//! - `index` maps each known id to a live slot whose record has that id; every live slot is indexed.
//! - A slot is in the heap if and only if its record is `Queued`; so `len()` is the heap's length.
//! - A record holds its payload if and only if it is `Queued` or `Processing`.
//! - The per-status counts in `counts` match the records.

use std::collections::hash_map::RandomState;
use std::collections::{hash_map, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

use crate::heap::{Entry, IndexedHeap};
use crate::{ClaimError, Retention, Stats, Task, TaskError, TaskStatus, TryAddError};

/// A queue's options, set through [`Builder`](crate::Builder).
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    pub(crate) capacity: Option<usize>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) retention: Retention,
    /// A deliberate bug for the model checks (see `mutant.rs`); `None` in every real queue.
    #[cfg(taskq_loom)]
    pub(crate) mutant: Option<crate::Mutant>,
}

/// Where the queue is in its shutdown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    /// `shutdown()`: no adds; queued tasks are still handed out.
    Draining,
    /// `shutdown_now()`: no adds, no claims.
    Stopped,
}

#[derive(Debug)]
struct Record<K, P> {
    id: K,
    priority: i64,
    /// Order among equal priorities; renewed when a failed task goes back in the queue.
    seq: u64,
    /// Unique per accepted task; tells a reused slot from the task that held it before.
    generation: u64,
    /// `Some` while queued or processing; dropped as soon as the task finishes.
    payload: Option<Arc<P>>,
    attempts: u32,
    status: TaskStatus,
}

impl<K: Clone, P> Record<K, P> {
    fn to_task(&self) -> Option<Task<K, P>> {
        Some(Task {
            id: self.id.clone(),
            priority: self.priority,
            payload: self.payload.clone()?,
            attempts: self.attempts,
        })
    }
}

/// The whole state of a queue, without any synchronisation.
#[derive(Debug)]
pub(crate) struct Core<K, P, S = RandomState> {
    config: Config,
    index: HashMap<K, usize, S>,
    slots: Vec<Option<Record<K, P>>>,
    free: Vec<usize>,
    heap: IndexedHeap,
    /// Finished tasks in the order they finished, for `Retention::KeepLast`: `(slot, generation)`.
    /// Entries whose record has gone (forgotten) are skipped and swept.
    finished_order: VecDeque<(usize, u64)>,
    next_seq: u64,
    phase: Phase,
    counts: Stats,
}

impl<K: Clone + Eq + Hash, P, S: BuildHasher> Core<K, P, S> {
    pub(crate) fn new(config: Config, hasher: S) -> Self {
        Core {
            config,
            index: HashMap::with_hasher(hasher),
            slots: Vec::new(),
            free: Vec::new(),
            heap: IndexedHeap::default(),
            finished_order: VecDeque::new(),
            next_seq: 0,
            phase: Phase::Open,
            counts: Stats::default(),
        }
    }

    pub(crate) fn capacity(&self) -> Option<usize> {
        self.config.capacity
    }

    /// Queued tasks, O(1).
    pub(crate) fn len(&self) -> usize {
        self.heap.len()
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.phase != Phase::Open
    }

    pub(crate) fn is_full(&self) -> bool {
        self.config
            .capacity
            .is_some_and(|cap| self.heap.len() >= cap)
    }

    /// Whether `add(id, ..)` would fail only for lack of room (so waiting may help).
    pub(crate) fn add_would_block(&self, id: &K) -> bool {
        !self.is_shut_down() && !self.index.contains_key(id) && self.is_full()
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            queued: self.heap.len(),
            ..self.counts
        }
    }

    fn record(&self, id: &K) -> Option<(usize, &Record<K, P>)> {
        let slot = *self.index.get(id)?;
        Some((
            slot,
            self.slots[slot].as_ref().expect("indexed slot is live"),
        ))
    }

    fn record_mut(&mut self, slot: usize) -> &mut Record<K, P> {
        self.slots[slot].as_mut().expect("indexed slot is live")
    }

    fn next_seq(&mut self) -> u64 {
        let seq = self.next_seq;
        self.next_seq += 1;
        seq
    }

    pub(crate) fn status(&self, id: &K) -> Option<TaskStatus> {
        self.record(id).map(|(_, r)| r.status)
    }

    /// Accepts a task, or says why not: shut down, then duplicate id, then full. The payload comes
    /// already in its `Arc`, allocated before the caller took its lock.
    pub(crate) fn add(
        &mut self,
        id: K,
        priority: i64,
        payload: Arc<P>,
    ) -> Result<(), TryAddError<Arc<P>>> {
        if self.is_shut_down() {
            return Err(TryAddError::ShutDown(payload));
        }
        // One hash of the id: the entry both detects a duplicate and takes the new slot.
        let vacant = match self.index.entry(id) {
            hash_map::Entry::Occupied(_) => return Err(TryAddError::Duplicate(payload)),
            hash_map::Entry::Vacant(vacant) => vacant,
        };
        if self
            .config
            .capacity
            .is_some_and(|cap| self.heap.len() >= cap)
        {
            return Err(TryAddError::Full(payload));
        }
        let seq = self.next_seq;
        self.next_seq += 1;
        let record = Record {
            id: vacant.key().clone(),
            priority,
            seq,
            generation: seq,
            payload: Some(payload),
            attempts: 0,
            status: TaskStatus::Queued,
        };
        let slot = Self::store(&mut self.slots, &mut self.free, record);
        vacant.insert(slot);
        self.counts.total_added += 1;
        self.heap.push(Entry {
            priority,
            seq,
            slot,
        });
        Ok(())
    }

    /// Puts a record in a free slot (or a new one) and returns the slot.
    fn store(
        slots: &mut Vec<Option<Record<K, P>>>,
        free: &mut Vec<usize>,
        record: Record<K, P>,
    ) -> usize {
        match free.pop() {
            Some(slot) => {
                slots[slot] = Some(record);
                slot
            }
            None => {
                slots.push(Some(record));
                slots.len() - 1
            }
        }
    }

    fn insert_record(&mut self, record: Record<K, P>) -> usize {
        let id = record.id.clone();
        let slot = Self::store(&mut self.slots, &mut self.free, record);
        self.index.insert(id, slot);
        self.counts.total_added += 1;
        slot
    }

    fn insert_queued(&mut self, id: K, priority: i64, payload: Arc<P>, attempts: u32) {
        let seq = self.next_seq();
        let slot = self.insert_record(Record {
            id,
            priority,
            seq,
            generation: seq,
            payload: Some(payload),
            attempts,
            status: TaskStatus::Queued,
        });
        self.heap.push(Entry {
            priority,
            seq,
            slot,
        });
    }

    /// Hands out the best queued task and marks it processing.
    pub(crate) fn pop(&mut self) -> Result<Task<K, P>, ClaimError> {
        if self.phase == Phase::Stopped {
            return Err(ClaimError::ShutDown);
        }
        let Some(entry) = self.heap.pop() else {
            self.heap.shrink_if_sparse();
            return Err(if self.phase == Phase::Draining {
                ClaimError::ShutDown
            } else {
                ClaimError::Empty
            });
        };
        self.counts.processing += 1;
        let record = self.record_mut(entry.slot);
        record.status = TaskStatus::Processing;
        Ok(record.to_task().expect("a queued task has its payload"))
    }

    /// Checks that `id` is known and in `expected`, and returns its slot.
    fn slot_in(&self, id: &K, expected: TaskStatus) -> Result<usize, TaskError> {
        let (slot, record) = self.record(id).ok_or(TaskError::NotFound)?;
        if record.status != expected {
            return Err(TaskError::InvalidState {
                current: record.status,
            });
        }
        Ok(slot)
    }

    pub(crate) fn complete(&mut self, id: &K) -> Result<(), TaskError> {
        let slot = self.slot_in(id, TaskStatus::Processing)?;
        self.counts.processing -= 1;
        self.finish(slot, TaskStatus::Completed);
        Ok(())
    }

    /// Puts a processing task back in the queue, or fails it for good once it has used up its
    /// attempts. Returns the new status.
    pub(crate) fn fail(&mut self, id: &K) -> Result<TaskStatus, TaskError> {
        let slot = self.slot_in(id, TaskStatus::Processing)?;
        self.counts.processing -= 1;
        let max = self.config.max_attempts;
        let seq = self.next_seq();
        let record = self.record_mut(slot);
        record.attempts = record.attempts.saturating_add(1);
        if max.is_some_and(|max| record.attempts >= max) {
            self.finish(slot, TaskStatus::Failed);
            return Ok(TaskStatus::Failed);
        }
        record.status = TaskStatus::Queued;
        record.seq = seq;
        let priority = record.priority;
        self.heap.push(Entry {
            priority,
            seq,
            slot,
        });
        Ok(TaskStatus::Queued)
    }

    /// Cancels a queued task; returns whether it did.
    pub(crate) fn cancel(&mut self, id: &K) -> bool {
        let Ok(slot) = self.slot_in(id, TaskStatus::Queued) else {
            return false;
        };
        self.heap.remove(slot);
        self.heap.shrink_if_sparse();
        self.finish(slot, TaskStatus::Cancelled);
        true
    }

    pub(crate) fn update_priority(&mut self, id: &K, priority: i64) -> Result<(), TaskError> {
        let slot = self.slot_in(id, TaskStatus::Queued)?;
        self.record_mut(slot).priority = priority;
        self.heap.set_priority(slot, priority);
        Ok(())
    }

    /// Forgets a finished task, so its id can be used again.
    pub(crate) fn forget(&mut self, id: &K) -> Result<(), TaskError> {
        let (slot, record) = self.record(id).ok_or(TaskError::NotFound)?;
        if !record.status.is_finished() {
            return Err(TaskError::InvalidState {
                current: record.status,
            });
        }
        self.remove_finished(slot);
        Ok(())
    }

    /// Stops accepting tasks; queued ones are still handed out. Returns false if already shut down.
    pub(crate) fn shutdown(&mut self) -> bool {
        let was_open = self.phase == Phase::Open;
        if was_open {
            self.phase = Phase::Draining;
        }
        was_open
    }

    /// Stops everything and returns the queued tasks, best first, marked cancelled.
    pub(crate) fn shutdown_now(&mut self) -> Vec<Task<K, P>> {
        self.phase = Phase::Stopped;
        let mut out = Vec::with_capacity(self.heap.len());
        while let Some(entry) = self.heap.pop() {
            let task = self.slots[entry.slot]
                .as_ref()
                .and_then(Record::to_task)
                .expect("a queued task has its payload");
            self.finish(entry.slot, TaskStatus::Cancelled);
            out.push(task);
        }
        self.heap.shrink_if_sparse();
        out
    }

    /// Moves a record that has left the heap (or processing) into a final state, drops its
    /// payload, and applies the retention policy.
    fn finish(&mut self, slot: usize, status: TaskStatus) {
        let record = self.record_mut(slot);
        record.status = status;
        record.payload = None;
        let generation = record.generation;
        let (now, total) = match status {
            TaskStatus::Completed => (&mut self.counts.completed, &mut self.counts.total_completed),
            TaskStatus::Cancelled => (&mut self.counts.cancelled, &mut self.counts.total_cancelled),
            TaskStatus::Failed => (&mut self.counts.failed, &mut self.counts.total_failed),
            _ => unreachable!("finish() takes a final status"),
        };
        *now += 1;
        *total += 1;
        match self.config.retention {
            Retention::KeepAll => {}
            Retention::KeepNone => self.remove_finished(slot),
            Retention::KeepLast(keep) => {
                self.finished_order.push_back((slot, generation));
                self.trim_finished(keep);
            }
        }
    }

    fn finished_count(&self) -> usize {
        self.counts.completed + self.counts.cancelled + self.counts.failed
    }

    /// Drops the oldest finished tasks beyond `keep`, and sweeps stale entries (forgotten tasks)
    /// out of the order queue once they outnumber the live ones.
    fn trim_finished(&mut self, keep: usize) {
        while self.finished_count() > keep {
            let Some((slot, generation)) = self.finished_order.pop_front() else {
                break;
            };
            if self.is_finished_generation(slot, generation) {
                self.remove_finished(slot);
            }
        }
        if self.finished_order.len() > 2 * self.finished_count() + 16 {
            let live: VecDeque<_> = std::mem::take(&mut self.finished_order)
                .into_iter()
                .filter(|&(slot, generation)| self.is_finished_generation(slot, generation))
                .collect();
            self.finished_order = live;
        }
    }

    fn is_finished_generation(&self, slot: usize, generation: u64) -> bool {
        matches!(self.slots.get(slot), Some(Some(r)) if r.generation == generation && r.status.is_finished())
    }

    fn remove_finished(&mut self, slot: usize) {
        let record = self.slots[slot].take().expect("slot is live");
        match record.status {
            TaskStatus::Completed => self.counts.completed -= 1,
            TaskStatus::Cancelled => self.counts.cancelled -= 1,
            TaskStatus::Failed => self.counts.failed -= 1,
            _ => unreachable!("only finished tasks are removed"),
        }
        self.index.remove(&record.id);
        self.free.push(slot);
        self.shrink_if_sparse();
    }

    /// Compacts the slots once three quarters of them are free, so that memory follows the number
    /// of live tasks after a burst. O(slots), paid once per that many removals: amortised O(1).
    fn shrink_if_sparse(&mut self) {
        if self.slots.len() <= 64 || self.index.len() * 4 >= self.slots.len() {
            return;
        }
        let mut remap = vec![usize::MAX; self.slots.len()];
        let mut slots = Vec::with_capacity(self.index.len() * 2);
        for (old, record) in std::mem::take(&mut self.slots).into_iter().enumerate() {
            if let Some(record) = record {
                remap[old] = slots.len();
                slots.push(Some(record));
            }
        }
        self.slots = slots;
        self.free = Vec::new();
        for slot in self.index.values_mut() {
            *slot = remap[*slot];
        }
        self.index.shrink_to(self.slots.len() * 2);
        self.heap.remap(&remap, self.slots.len());
        let order = std::mem::take(&mut self.finished_order);
        self.finished_order = order
            .into_iter()
            .filter_map(|(slot, generation)| {
                let slot = remap[slot];
                (slot != usize::MAX && self.is_finished_generation(slot, generation))
                    .then_some((slot, generation))
            })
            .collect();
    }

    /// Verifies the invariants listed at the top of this module; used by tests and model checks.
    pub(crate) fn check_invariants(&self) -> Result<(), String> {
        let mut counts = Stats::default();
        let mut live = 0;
        for (slot, record) in self.slots.iter().enumerate() {
            let Some(r) = record else { continue };
            live += 1;
            if self.index.get(&r.id) != Some(&slot) {
                return Err(format!("slot {slot} is not indexed under its id"));
            }
            if self.heap.contains(slot) != (r.status == TaskStatus::Queued) {
                return Err(format!(
                    "slot {slot} is {} but heap membership disagrees",
                    r.status
                ));
            }
            if r.payload.is_some() == r.status.is_finished() {
                return Err(format!("slot {slot} is {} with payload mismatch", r.status));
            }
            match r.status {
                TaskStatus::Queued => counts.queued += 1,
                TaskStatus::Processing => counts.processing += 1,
                TaskStatus::Completed => counts.completed += 1,
                TaskStatus::Cancelled => counts.cancelled += 1,
                TaskStatus::Failed => counts.failed += 1,
            }
        }
        if live != self.index.len() {
            return Err(format!(
                "{live} live slots but {} indexed ids",
                self.index.len()
            ));
        }
        for e in self.heap.entries() {
            let r = self.slots[e.slot]
                .as_ref()
                .ok_or("heap entry for a free slot")?;
            if (r.priority, r.seq) != (e.priority, e.seq) {
                return Err(format!("heap key of slot {} is stale", e.slot));
            }
        }
        let mine = self.stats();
        let expected = Stats {
            total_added: mine.total_added,
            total_completed: mine.total_completed,
            total_cancelled: mine.total_cancelled,
            total_failed: mine.total_failed,
            ..counts
        };
        if mine != expected {
            return Err(format!("counts {mine:?} but records say {expected:?}"));
        }
        Ok(())
    }

    /// Every task the queue knows: queued ones in the order they would be handed out, then the
    /// processing ones, then the finished ones (id and status).
    pub(crate) fn snapshot(&self) -> crate::Snapshot<K, P> {
        let mut queued: Vec<&Entry> = self.heap.entries().iter().collect();
        queued.sort_by(|a, b| b.priority.cmp(&a.priority).then(a.seq.cmp(&b.seq)));
        let task = |slot: usize| {
            self.slots[slot]
                .as_ref()
                .and_then(Record::to_task)
                .expect("a live task has its payload")
        };
        let mut snapshot = crate::Snapshot {
            queued: queued.into_iter().map(|e| task(e.slot)).collect(),
            processing: Vec::new(),
            finished: Vec::new(),
        };
        let mut processing: Vec<&Record<K, P>> = Vec::new();
        for record in self.slots.iter().flatten() {
            match record.status {
                TaskStatus::Processing => processing.push(record),
                status if status.is_finished() => snapshot.finished.push(crate::FinishedTask {
                    id: record.id.clone(),
                    status,
                }),
                _ => {}
            }
        }
        processing.sort_by_key(|r| r.seq);
        snapshot.processing = processing
            .into_iter()
            .map(|r| r.to_task().expect("a processing task has its payload"))
            .collect();
        snapshot
    }

    /// Rebuilds a queue from a snapshot: queued tasks in their order, then the tasks that were
    /// processing (back in the queue), then the finished ones under the retention policy.
    pub(crate) fn restore(
        config: Config,
        hasher: S,
        snapshot: crate::Snapshot<K, P>,
    ) -> Result<Self, crate::RestoreError> {
        let mut core = Core::new(config, hasher);
        let crate::Snapshot {
            queued,
            processing,
            finished,
        } = snapshot;
        for task in queued.into_iter().chain(processing) {
            if core.index.contains_key(&task.id) {
                return Err(crate::RestoreError::DuplicateId);
            }
            core.insert_queued(task.id, task.priority, task.payload, task.attempts);
        }
        for FinishedTask { id, status } in finished {
            if !status.is_finished() {
                return Err(crate::RestoreError::NotFinished(status));
            }
            if core.index.contains_key(&id) {
                return Err(crate::RestoreError::DuplicateId);
            }
            let generation = core.next_seq();
            let slot = core.insert_record(Record {
                id,
                priority: 0,
                seq: generation,
                generation,
                payload: None,
                attempts: 0,
                status,
            });
            core.finish(slot, status);
        }
        Ok(core)
    }
}

use crate::FinishedTask;

/// Helpers for the deliberate bugs of the model checks (see `mutant.rs`); loom builds only.
#[cfg(taskq_loom)]
impl<K, P, S> Core<K, P, S> {
    /// Whether this queue was built with `mutant`.
    pub(crate) fn mutant_is(&self, mutant: crate::Mutant) -> bool {
        self.config.mutant == Some(mutant)
    }
}

#[cfg(taskq_loom)]
impl<K: Clone + Eq + Hash, P, S: BuildHasher> Core<K, P, S> {
    /// The id of the task `pop` would hand out, without taking it.
    pub(crate) fn peek_id(&self) -> Option<K> {
        if self.phase == Phase::Stopped {
            return None;
        }
        let best = self
            .heap
            .entries()
            .iter()
            .max_by(|a, b| a.priority.cmp(&b.priority).then(b.seq.cmp(&a.seq)))?;
        self.slots[best.slot].as_ref().map(|r| r.id.clone())
    }

    /// MUTANT: marks `id` processing if it is queued, and hands it out *even if it is already
    /// processing*: the missing re-check of a claim split over two lock sections.
    pub(crate) fn take_unchecked(&mut self, id: &K) -> Option<Task<K, P>> {
        let (slot, record) = self.record(id)?;
        if record.status == TaskStatus::Queued {
            self.heap.remove(slot);
            self.counts.processing += 1;
            self.record_mut(slot).status = TaskStatus::Processing;
        }
        self.record_mut(slot).to_task()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_last_trims_oldest_and_survives_forget() {
        let mut core: Core<u32, ()> = Core::new(
            Config {
                retention: Retention::KeepLast(2),
                ..Config::default()
            },
            RandomState::new(),
        );
        for id in 0..5 {
            core.add(id, 0, Arc::new(())).unwrap();
        }
        for _ in 0..5 {
            let t = core.pop().unwrap();
            if t.id == 1 {
                core.complete(&t.id).unwrap();
                core.forget(&1).unwrap();
            } else {
                core.complete(&t.id).unwrap();
            }
            core.check_invariants().unwrap();
        }
        assert_eq!(core.status(&0), None);
        assert_eq!(core.status(&2), None);
        assert_eq!(core.status(&3), Some(TaskStatus::Completed));
        assert_eq!(core.status(&4), Some(TaskStatus::Completed));
        assert_eq!(core.stats().completed, 2);
    }
}
