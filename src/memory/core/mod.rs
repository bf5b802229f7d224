//! The single-threaded core shared by every strategy: the task index, the indexed heap, the state
//! transitions, retention and counters.
//!
//! Every rule of the contract lives here and only here. The strategies add nothing but a lock
//! around a `Core` and a way to wake blocked threads; they never look inside a record.
//!
//! Invariants (checked by [`Core::check_invariants`]):
//! - `index` maps each known id to a live slot whose record has that id; every live slot is indexed.
//! - Each `Queued` record has exactly one live entry in the ready heap: the one with its current
//!   `seq` and `version`. Every other entry is stale (its task was claimed, cancelled or
//!   re-prioritised) and is dropped when it reaches the top or when the heap is compacted, so
//!   cancel is O(1) and a claim never touches a record it does not take. `queued` counts the live
//!   entries; the heap holds at most `2 × queued + 32` entries. No heap entry comes before its
//!   parent.
//! - Each `Scheduled` record has exactly one live entry in the schedule heap (keyed by due time,
//!   earliest first), under the same rules (`scheduled` counts them; at most
//!   `2 × scheduled + 32` entries). Every operation that can hand out or order tasks first moves
//!   the due ones to the ready heap (`promote_due`), each with a fresh `seq`: among equal
//!   priorities, tasks run in the order they became ready. A scheduled task is never handed out
//!   before its due time, because it is only in the ready heap after `promote_due` read the clock
//!   at or past it.
//! - `due_moved` is set whenever the earliest due time moved earlier; the strategies clear it
//!   under the lock at the end of the write and wake every sleeping claimer, so that each
//!   re-times its sleep (a sleeping claimer sleeps at most until the earliest due time it saw).
//! - A record holds its payload if and only if it is `Queued` or `Scheduled` (a claim moves the
//!   payload out to the claimer; a failed claim brings it back).
//! - A record's `claim` is the token of its latest claim; tokens are never reused, so a stale
//!   claim (its task was finished, forgotten, re-added or claimed again since) never matches.
//! - The per-status counts in `counts` match the records.
//! - When the journal is on (`RwLockTaskQueue`), every change of a record's status and every
//!   record created or removed is noted in it (`journal_slot`, `remove_finished`), except a
//!   scheduled task falling due (its due time says so): the strategy's status mirror publishes
//!   only what the journal names. `Queue::check_invariants` compares the mirror with the records.
//! - Memory follows live tasks: at most 64 slots, or at least a quarter of them live; at most
//!   `2 × finished + 16` entries in the order queue of finished tasks.
//!
//! Panic safety: user code (`K: Clone + Hash + Eq`) runs before the first mutation of an
//! operation, or where a panic leaves the records consistent, and payloads leave the core by value
//! (a cancelled or finally failed task's payload is returned to the strategy, which drops it after
//! unlocking). So a panicking `Clone`, `Hash`, `Eq` or payload `Drop` can never leave the core
//! inconsistent.

// Internal types, unnameable outside the crate; `Queue`'s `Debug` prints what users need.
#![allow(missing_debug_implementations)]

use std::borrow::Borrow;
use std::collections::{hash_map, HashMap, VecDeque};
use std::hash::{BuildHasher, Hash};
use std::time::{Duration, Instant};

mod heap;
mod journal;
#[cfg(test)]
mod tests;

use heap::{Entry, Heap};
pub(crate) use journal::{Changes, Journal, SharedHasher};

use crate::mutant::mutant;

use crate::{
    ClaimError, ClaimedTask, Clock, FinishedTask, RestoreError, Retention, ScheduledTask, Snapshot,
    Stats, Task, TaskError, TaskStatus, Token, TryAddError,
};

/// A queue's options, set through [`Builder`](crate::Builder).
#[derive(Debug, Clone, Default)]
pub(crate) struct Config {
    pub(crate) capacity: Option<usize>,
    pub(crate) max_attempts: Option<u32>,
    pub(crate) retention: Retention,
    /// Where time is read (scheduled tasks, ageing, timeouts).
    pub(crate) clock: Clock,
    /// Ageing: a queued task's priority rises by one for every this long it has waited (in
    /// nanoseconds, at least 1).
    pub(crate) ageing: Option<u64>,
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

/// A payload's place in a record. It makes the core `Sync` for any `P: Send`, so that a
/// read-write lock can share the core between readers although payloads need not be `Sync`:
/// the mutex is never locked, only reached through `&mut` (`get_mut`), so readers never touch a
/// payload and no thread ever waits on it.
struct Slot<P>(std::sync::Mutex<Option<P>>);

impl<P> Slot<P> {
    fn new(payload: Option<P>) -> Self {
        Slot(std::sync::Mutex::new(payload))
    }

    fn get(&mut self) -> &mut Option<P> {
        self.0
            .get_mut()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

struct Record<K, P> {
    id: K,
    priority: i64,
    /// Order among equal priorities; renewed when a failed task goes back in the queue. Unique
    /// across the queue's life, so it also tells a reused slot from the task that held it before.
    seq: u64,
    /// Bumped whenever an entry for this record is pushed on the heap: only the entry with the
    /// record's current `seq` and `version`, while the record is `Queued`, is live.
    version: u32,
    /// `Some` while queued; moved out to the claimer.
    payload: Slot<P>,
    attempts: u32,
    status: TaskStatus,
    /// The token of the latest claim (0: never claimed).
    claim: u64,
    /// Nanoseconds since the core's epoch: when a `Scheduled` task falls due; when a `Queued`
    /// task became ready, if the queue ages tasks (else 0).
    due: u64,
}

/// `at` in nanoseconds since `epoch` (0 for earlier instants, saturating far ahead).
pub(crate) fn nanos_since(epoch: Instant, at: Instant) -> u64 {
    u64::try_from(at.saturating_duration_since(epoch).as_nanos()).unwrap_or(u64::MAX)
}

/// The status a record with `status` and due time `due` (ns since the epoch) reads when the
/// clock reads `now()` (called only for a scheduled task): a scheduled task past its due time
/// reads `Queued`, although it moves to the ready heap only at the next write (it is claimable
/// from that instant on). The one rule, for `Core::status` and the `RwLock` strategy's mirror.
pub(crate) fn status_at(status: TaskStatus, due: u64, now: impl FnOnce() -> u64) -> TaskStatus {
    match status {
        TaskStatus::Scheduled if due <= now() => TaskStatus::Queued,
        status => status,
    }
}

/// What a failed or cancelled operation leaves for the caller to drop once the lock is released.
pub(crate) type Leftover<P> = Option<P>;

/// The whole state of a queue, without any synchronisation.
pub struct Core<K, P, S = crate::DefaultHashBuilder> {
    config: Config,
    /// Its hasher is shared with the `RwLock` strategy's status mirror (see `journal.rs`).
    index: HashMap<K, usize, SharedHasher<S>>,
    slots: Vec<Option<Record<K, P>>>,
    free: Vec<usize>,
    heap: Heap,
    /// Queued tasks: the live heap entries.
    queued: usize,
    /// Scheduled tasks, keyed by due time (the key is the negated due time: earliest first).
    schedule: Heap,
    /// Scheduled tasks: the live schedule entries.
    scheduled: usize,
    /// Set when the earliest due time moved earlier; taken by the strategy (`take_due_moved`).
    due_moved: bool,
    /// Time zero of the `due` fields.
    epoch: Instant,
    /// Finished tasks in the order they finished, for `Retention::KeepLast`: `(slot, seq)`.
    /// Entries whose record has gone (forgotten) are skipped and swept.
    finished_order: VecDeque<(usize, u64)>,
    next_seq: u64,
    /// The last claim token handed out.
    last_claim: u64,
    phase: Phase,
    counts: Stats,
    /// The status changes of the current write, for a strategy that publishes statuses outside
    /// the lock (`None`: nobody asked; see `journal.rs`).
    journal: Option<Journal<K>>,
}

impl<K, P, S> Core<K, P, S> {
    pub(crate) fn capacity(&self) -> Option<usize> {
        self.config.capacity
    }

    /// Queued tasks, O(1).
    pub(crate) fn len(&self) -> usize {
        self.queued
    }

    pub(crate) fn is_shut_down(&self) -> bool {
        self.phase != Phase::Open
    }

    /// Whether a bounded queue has no room: its capacity bounds the tasks waiting, queued or
    /// scheduled.
    /// Whether the queue is shut down (gracefully) with no task left to hand out.
    pub(crate) fn is_drained(&self) -> bool {
        self.phase == Phase::Draining && self.queued == 0 && self.scheduled == 0
    }

    pub(crate) fn is_full(&self) -> bool {
        (self.config.capacity).is_some_and(|cap| self.queued + self.scheduled >= cap)
    }

    pub(crate) fn stats(&self) -> Stats {
        Stats {
            queued: self.queued,
            scheduled: self.scheduled,
            ..self.counts
        }
    }

    /// The queue's clock.
    pub(crate) fn clock(&self) -> &Clock {
        &self.config.clock
    }

    /// Whether the earliest due time moved earlier since the last call: the strategy then wakes
    /// every sleeping claimer (under the lock, or right after releasing it).
    pub(crate) fn take_due_moved(&mut self) -> bool {
        std::mem::take(&mut self.due_moved)
    }

    /// Now, in nanoseconds since the epoch.
    fn now(&self) -> u64 {
        self.nanos(self.config.clock.now())
    }

    /// Now (ns since the epoch) if `needed`, else 0 (without reading the clock).
    fn now_if(&self, needed: bool) -> u64 {
        if needed {
            self.now()
        } else {
            0
        }
    }

    /// `at` in nanoseconds since the epoch (0 for earlier instants, saturating far ahead).
    fn nanos(&self, at: Instant) -> u64 {
        nanos_since(self.epoch, at)
    }

    /// Time zero of the due times (nanoseconds) that [`published`](Self::published) gives.
    pub(crate) fn epoch(&self) -> Instant {
        self.epoch
    }

    /// Sets (or, with `None`, turns off) the journal of status changes, for the `RwLock`
    /// strategy's status mirror.
    pub(crate) fn set_journal(&mut self, journal: Option<Journal<K>>) {
        self.journal = journal;
    }

    /// Takes the journal out (it is off until [`set_journal`](Self::set_journal) puts it
    /// back), so that the mirror can read the records while it sorts the journal's changes.
    pub(crate) fn take_journal(&mut self) -> Option<Journal<K>> {
        self.journal.take()
    }

    /// The journal, if it is on.
    pub(crate) fn journal(&self) -> Option<&Journal<K>> {
        self.journal.as_ref()
    }

    /// Notes that the record in `slot` changed status (or was created).
    fn journal_slot(&mut self, slot: usize) {
        if let Some(journal) = &mut self.journal {
            journal.current.changed.push(slot);
        }
    }

    /// The index's hasher, shared (see `journal.rs`).
    pub(crate) fn hasher(&self) -> &SharedHasher<S> {
        self.index.hasher()
    }

    /// What the status mirror keeps of the record in `slot`, if the slot is live: its id, its
    /// status, and its due time (ns since the epoch) if it is `Scheduled` (else 0).
    pub(crate) fn published(&self, slot: usize) -> Option<(&K, TaskStatus, u64)> {
        let record = self.slots.get(slot)?.as_ref()?;
        let due = match record.status {
            TaskStatus::Scheduled => record.due,
            _ => 0,
        };
        Some((&record.id, record.status, due))
    }

    /// [`published`](Self::published) for every live record.
    pub(crate) fn published_all(&self) -> impl Iterator<Item = (&K, TaskStatus, u64)> {
        (0..self.slots.len()).filter_map(|slot| self.published(slot))
    }

    /// The instant `nanos` after the epoch.
    fn instant(&self, nanos: u64) -> Instant {
        let at = self.epoch.checked_add(Duration::from_nanos(nanos));
        at.unwrap_or_else(|| self.epoch + Duration::from_secs(u64::from(u32::MAX)))
    }

    /// The heap key of a task of `priority` ready since `ready` (ns): the priority itself, or,
    /// with ageing, the priority less the ageing steps from the epoch to `ready`. Comparing
    /// `p1 - r1/step` with `p2 - r2/step` is comparing the priorities each will have reached at
    /// any common later time (`p + (now - r)/step`), so the key never changes while it waits.
    fn key(&self, priority: i64, ready: u64) -> i64 {
        match self.config.ageing {
            None => priority,
            Some(step) => {
                let steps = i64::try_from(ready / step).unwrap_or(i64::MAX);
                priority.saturating_sub(steps)
            }
        }
    }

    /// The ready time (ns) to record for a task that becomes ready now: only ageing needs it.
    fn ready_now(&self) -> u64 {
        self.now_if(self.config.ageing.is_some())
    }
}

impl<K: Clone + Eq + Hash, P, S: BuildHasher> Core<K, P, S> {
    pub(crate) fn new(config: Config, hasher: S) -> Self {
        Core {
            epoch: config.clock.now(),
            config,
            index: HashMap::with_hasher(SharedHasher::new(hasher)),
            slots: Vec::new(),
            free: Vec::new(),
            heap: Heap::default(),
            queued: 0,
            schedule: Heap::default(),
            scheduled: 0,
            due_moved: false,
            finished_order: VecDeque::new(),
            next_seq: 0,
            last_claim: 0,
            phase: Phase::Open,
            counts: Stats::default(),
            journal: None,
        }
    }

    /// Whether `add(id, ..)` would fail only for lack of room (so waiting may help).
    pub(crate) fn add_would_block(&self, id: &K) -> bool {
        !self.is_shut_down() && self.is_full() && !self.index.contains_key(id)
    }

    fn lookup<Q>(&self, id: &Q) -> Option<(usize, &Record<K, P>)>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
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
        self.next_seq += 1;
        self.next_seq
    }

    /// The task's status. A scheduled task past its due time reads `Queued`, although it moves
    /// to the ready heap only at the next write: it is claimable from that instant on.
    pub(crate) fn status<Q>(&self, id: &Q) -> Option<TaskStatus>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        self.lookup(id)
            .map(|(_, r)| status_at(r.status, r.due, || self.now()))
    }

    /// Accepts a task, ready at once or at `due`, or says why not: shut down, then duplicate
    /// id, then full. Returns the task's status (`Queued` or `Scheduled`).
    pub(crate) fn add(
        &mut self,
        id: K,
        priority: i64,
        payload: P,
        due: Option<Instant>,
    ) -> Result<TaskStatus, TryAddError<P>> {
        self.admit(id, priority, payload, due, false)
            .map_err(|(why, _)| why)
    }

    /// [`add`](Self::add) for a batch: a refused task comes back whole. For a duplicate, its id
    /// is a clone of the equal id the queue holds (the one given went into the lookup).
    pub(crate) fn add_task(
        &mut self,
        task: Task<K, P>,
    ) -> Result<TaskStatus, TryAddError<Task<K, P>>> {
        let Task {
            id,
            priority,
            payload,
            ..
        } = task;
        self.admit(id, priority, payload, None, true)
            .map_err(|(why, id)| {
                let id = id.expect("admit keeps the id when asked");
                why.map(|payload| Task::new(id, priority, payload))
            })
    }

    /// The one rule for accepting a task. A refusal hands back the payload, and the id if
    /// `keep_id` (for a duplicate, a clone of the queue's equal one: `K::clone` runs before
    /// anything changes).
    fn admit(
        &mut self,
        id: K,
        priority: i64,
        payload: P,
        due: Option<Instant>,
        keep_id: bool,
    ) -> Result<TaskStatus, (TryAddError<P>, Option<K>)> {
        if self.is_shut_down() {
            return Err((TryAddError::ShutDown(payload), Some(id)));
        }
        // Tasks that fell due are ready before this one: FIFO by the time each became ready.
        self.promote_due();
        // Reads the clock only for a task with a due time, or when the queue ages tasks.
        let later = due.map(|at| self.nanos(at)).filter(|&at| at > self.now());
        let (status, due) = match later {
            Some(at) => (TaskStatus::Scheduled, at),
            None => (TaskStatus::Queued, self.ready_now()),
        };
        // One hash of the id: the entry both detects a duplicate and takes the new slot. `Hash`,
        // `Eq` (in `entry`) and `Clone` run before anything is changed.
        let vacant = match self.index.entry(id) {
            hash_map::Entry::Occupied(held) => {
                let id = keep_id.then(|| held.key().clone());
                return Err((TryAddError::Duplicate(payload), id));
            }
            hash_map::Entry::Vacant(vacant) => vacant,
        };
        let waiting = self.queued + self.scheduled;
        if self.config.capacity.is_some_and(|cap| waiting >= cap) {
            return Err((TryAddError::Full(payload), Some(vacant.into_key())));
        }
        let id = vacant.key().clone();
        self.next_seq += 1;
        let seq = self.next_seq;
        let slot = Self::store(
            &mut self.slots,
            &mut self.free,
            Record {
                id,
                priority,
                seq,
                version: 0,
                payload: Slot::new(Some(payload)),
                attempts: 0,
                status,
                claim: 0,
                due,
            },
        );
        vacant.insert(slot);
        self.journal_slot(slot);
        self.counts.total_added += 1;
        match status {
            TaskStatus::Scheduled => self.schedule_slot(slot),
            _ => self.enqueue(slot),
        }
        Ok(status)
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

    /// The slot of the task a claim would take now, or why there is none (`Empty` while open).
    ///
    /// After `shutdown()`, scheduled tasks are still handed out as they fall due: `ShutDown` only
    /// once neither queued nor scheduled tasks are left.
    pub(crate) fn best(&mut self) -> Result<usize, ClaimError> {
        if self.phase == Phase::Stopped {
            return Err(ClaimError::ShutDown);
        }
        self.promote_due();
        match self.top() {
            Some(slot) => Ok(slot),
            None => {
                self.heap.shrink_if_sparse();
                Err(if self.phase == Phase::Draining && self.scheduled == 0 {
                    ClaimError::ShutDown
                } else {
                    ClaimError::Empty
                })
            }
        }
    }

    /// When the earliest scheduled task falls due, if any: a claimer that found no task sleeps
    /// no longer than that.
    pub(crate) fn next_due(&mut self) -> Option<Instant> {
        loop {
            let entry = self.schedule.peek()?;
            if Self::live_in(&self.slots, &entry, TaskStatus::Scheduled) {
                return Some(self.instant(Self::due_of(&entry)));
            }
            self.schedule.pop();
        }
    }

    /// The due time (ns) a schedule entry is keyed by.
    fn due_of(entry: &Entry) -> u64 {
        entry.priority().unsigned_abs()
    }

    /// Moves every scheduled task whose due time has come to the ready heap, earliest first,
    /// each with a fresh `seq` (so it queues behind the tasks that were ready before it).
    fn promote_due(&mut self) {
        if self.scheduled == 0 {
            return;
        }
        let now = self.now();
        while let Some(entry) = self.schedule.peek() {
            if !Self::live_in(&self.slots, &entry, TaskStatus::Scheduled) {
                self.schedule.pop();
                continue;
            }
            let due = Self::due_of(&entry);
            if mutant!(PromoteEarly => false, else due > now) {
                break;
            }
            self.schedule.pop();
            self.scheduled -= 1;
            let seq = self.next_seq();
            let record = self.record_mut(entry.slot());
            record.status = TaskStatus::Queued;
            record.seq = seq;
            // With ageing, it has been ready since its due time.
            record.due = due;
            self.enqueue(entry.slot());
        }
        self.schedule.shrink_if_sparse();
    }

    /// Puts the record in `slot`, which just became scheduled (its `due` set), on the schedule.
    fn schedule_slot(&mut self, slot: usize) {
        let earliest = self.next_due().map(|at| self.nanos(at));
        self.scheduled += 1;
        let record = self.slots[slot].as_mut().expect("scheduled slot is live");
        record.version = record.version.wrapping_add(1);
        let due = record.due;
        let key = i64::try_from(due).map_or(i64::MIN + 1, |due| -due);
        self.schedule
            .push(Entry::new(key, record.seq, slot, record.version));
        if earliest.map_or(true, |earliest| due < earliest) {
            mutant!(ScheduleSkipsWake => {}, else self.due_moved = true);
        }
    }

    /// The slot of the best queued task, if any. Stale entries (of cancelled or re-prioritised
    /// tasks) that reached the top are dropped on the way.
    fn top(&mut self) -> Option<usize> {
        while let Some(entry) = self.heap.peek() {
            if Self::live_in(&self.slots, &entry, TaskStatus::Queued) {
                return Some(entry.slot());
            }
            self.heap.pop();
        }
        None
    }

    /// Whether `entry` is the live entry of a record in `status` (`Queued` for the ready heap,
    /// `Scheduled` for the schedule).
    fn live_in(slots: &[Option<Record<K, P>>], entry: &Entry, status: TaskStatus) -> bool {
        matches!(slots.get(entry.slot()), Some(Some(r))
            if r.status == status && r.seq == entry.seq() && r.version == entry.version)
    }

    /// Puts the record in `slot`, which just became queued, on the heap.
    fn enqueue(&mut self, slot: usize) {
        self.queued += 1;
        self.push_entry(slot);
    }

    /// Pushes an entry for the queued record in `slot` under its current key; any older entry
    /// of it goes stale.
    fn push_entry(&mut self, slot: usize) {
        let record = self.slots[slot].as_mut().expect("enqueued slot is live");
        record.version = record.version.wrapping_add(1);
        let (priority, ready, seq, version) =
            (record.priority, record.due, record.seq, record.version);
        let entry = Entry::new(self.key(priority, ready), seq, slot, version);
        self.heap.push(entry);
    }

    /// Drops the stale entries once they outnumber the live ones (plus a little), so that the
    /// heap holds at most `2 × queued + 32` entries. O(entries), paid once per that many
    /// cancels or re-prioritisations: amortised O(1).
    fn compact_heap_if_stale(&mut self) {
        let slots = &self.slots;
        if self.heap.len() > 2 * self.queued + 32 {
            (self.heap).rebuild(|entry| Self::live_in(slots, entry, TaskStatus::Queued));
            self.heap.shrink_if_sparse();
        }
        if self.schedule.len() > 2 * self.scheduled + 32 {
            (self.schedule).rebuild(|entry| Self::live_in(slots, entry, TaskStatus::Scheduled));
            self.schedule.shrink_if_sparse();
        }
    }

    /// Claims the queued task in `slot` (from [`best`](Self::best), in the same critical
    /// section): marks it `Processing` and moves its payload out to the claimer.
    pub(crate) fn take(&mut self, slot: usize) -> Task<K, P> {
        // `K::clone` first: if it panics, nothing has changed.
        let id = self.slots[slot]
            .as_ref()
            .expect("a best slot is live")
            .id
            .clone();
        // Its entry is on top (from `best`); were it not, it would go stale all the same.
        if self.heap.peek().is_some_and(|e| e.slot() == slot) {
            self.heap.pop();
        }
        self.queued -= 1;
        self.last_claim += 1;
        let token = self.last_claim;
        self.counts.processing += 1;
        self.journal_slot(slot);
        let record = self.record_mut(slot);
        record.status = TaskStatus::Processing;
        record.claim = token;
        Task {
            id,
            priority: record.priority,
            payload: record
                .payload
                .get()
                .take()
                .expect("a queued task has its payload"),
            attempts: record.attempts,
            token: Token::new(token, slot),
        }
    }

    /// Hands out the best queued task and marks it processing.
    pub(crate) fn pop(&mut self) -> Result<Task<K, P>, ClaimError> {
        let slot = self.best()?;
        Ok(self.take(slot))
    }

    /// Takes up to `max` more of the best queued tasks into `out`, for a batch claim whose first
    /// task was just taken. If `K::clone` panics on one of them, the ones taken here go back
    /// exactly where they were and the panic is returned, for the caller to put its first task
    /// back too and to re-raise once it has unlocked.
    pub(crate) fn take_more(
        &mut self,
        out: &mut Vec<Task<K, P>>,
        max: usize,
    ) -> Result<usize, Box<dyn std::any::Any + Send>> {
        let start = out.len();
        let taken = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            while out.len() - start < max {
                let Ok(slot) = self.best() else { break };
                out.push(self.take(slot));
            }
        }));
        match taken {
            Ok(()) => Ok(out.len() - start),
            Err(panic) => {
                for task in out.drain(start..).rev() {
                    self.untake(task);
                }
                Err(panic)
            }
        }
    }

    /// Undoes [`take`](Self::take) of a task that never reached its claimer: it is queued again
    /// in its old place (same priority and sequence number), with its payload and attempts.
    pub(crate) fn untake(&mut self, task: Task<K, P>) {
        // By slot and claim number only: no user code (`Hash`, `Eq`) runs while a panic is
        // being recovered from.
        let slot = task.token.slot;
        assert_eq!(
            self.slots[slot].as_ref().map(|r| r.claim),
            Some(task.token.claim),
            "an untaken task is its slot's current claim"
        );
        self.counts.processing -= 1;
        self.journal_slot(slot);
        let record = self.record_mut(slot);
        record.status = TaskStatus::Queued;
        *record.payload.get() = Some(task.payload);
        self.enqueue(slot);
    }

    /// Checks that `id` is known and in `expected`, and returns its slot.
    fn slot_in<Q>(&self, id: &Q, expected: TaskStatus) -> Result<usize, TaskError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (slot, record) = self.lookup(id).ok_or(TaskError::NotFound)?;
        if record.status != expected {
            return Err(TaskError::InvalidState {
                current: record.status,
            });
        }
        Ok(slot)
    }

    /// The slot of the claim `token` of `id`, if that claim is still the task's current one.
    ///
    /// The token's slot hint is tried first: if the record there holds this very claim (claim
    /// numbers are unique) of this id, no hash of the id is needed. Otherwise the id is looked up,
    /// to tell a stale claim from an unknown id.
    fn claimed_slot(&self, id: &K, token: Token) -> Result<usize, TaskError> {
        if let Some(Some(record)) = self.slots.get(token.slot) {
            if token.claim != 0
                && record.claim == token.claim
                && record.status == TaskStatus::Processing
                && record.id == *id
            {
                return Ok(token.slot);
            }
        }
        let (slot, record) = self.lookup(id).ok_or(TaskError::NotFound)?;
        if mutant!(FencingIgnoresToken => false, else record.claim != token.claim) {
            return Err(TaskError::Stale);
        }
        if record.status != TaskStatus::Processing {
            return Err(TaskError::InvalidState {
                current: record.status,
            });
        }
        Ok(slot)
    }

    /// Completes a processing task by id, whoever claimed it.
    pub(crate) fn complete<Q>(&mut self, id: &Q) -> Result<(), TaskError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let slot = self.slot_in(id, TaskStatus::Processing)?;
        self.counts.processing -= 1;
        self.finish(slot, TaskStatus::Completed);
        Ok(())
    }

    /// Completes the claim `token` of `id`; refused if that claim is no longer current.
    pub(crate) fn complete_claim(&mut self, id: &K, token: Token) -> Result<(), TaskError> {
        let slot = self.claimed_slot(id, token)?;
        self.counts.processing -= 1;
        self.finish(slot, TaskStatus::Completed);
        Ok(())
    }

    /// Hands a claimed task back unrun: queued again in its old place, no attempt counted.
    /// Refused (with the payload handed back) if the claim is not current.
    pub(crate) fn release(&mut self, task: Task<K, P>) -> Result<(), (TaskError, P)> {
        // The slot found by the lookup: the token's hint is stale if the slots were compacted.
        let slot = match self.claimed_slot(&task.id, task.token) {
            Ok(slot) => slot,
            Err(e) => return Err((e, task.payload)),
        };
        self.counts.processing -= 1;
        self.journal_slot(slot);
        let record = self.record_mut(slot);
        record.status = TaskStatus::Queued;
        *record.payload.get() = Some(task.payload);
        self.enqueue(slot);
        Ok(())
    }

    /// Whether the claim `token` of `id` is still current.
    pub(crate) fn check_claim(&self, id: &K, token: Token) -> Result<(), TaskError> {
        self.claimed_slot(id, token).map(|_| ())
    }

    /// Ends a claim unsuccessfully. With `retry`, the task goes back in the queue (behind its
    /// equals, payload restored; `Scheduled` until `retry` has passed if it is not zero) unless it
    /// has used up its attempts; without, it fails for good. Returns the new status, and the
    /// payload to drop after unlocking when there is one.
    pub(crate) fn fail(
        &mut self,
        task: Task<K, P>,
        retry: Option<Duration>,
    ) -> (Result<TaskStatus, TaskError>, Leftover<P>) {
        let slot = match self.claimed_slot(&task.id, task.token) {
            Ok(slot) => slot,
            Err(e) => return (Err(e), Some(task.payload)),
        };
        self.counts.processing -= 1;
        let max = self.config.max_attempts;
        let record = self.record_mut(slot);
        record.attempts = record.attempts.saturating_add(1);
        let Some(delay) = retry.filter(|_| max.map_or(true, |max| record.attempts < max)) else {
            self.finish(slot, TaskStatus::Failed);
            return (Ok(TaskStatus::Failed), Some(task.payload));
        };
        // Tasks that fell due meanwhile are ready before this one.
        self.promote_due();
        let now = self.now_if(!delay.is_zero() || self.config.ageing.is_some());
        let seq = self.next_seq();
        self.journal_slot(slot);
        let record = self.record_mut(slot);
        record.seq = seq;
        *record.payload.get() = Some(task.payload);
        if delay.is_zero() {
            record.status = TaskStatus::Queued;
            record.due = now;
            self.enqueue(slot);
            return (Ok(TaskStatus::Queued), None);
        }
        record.status = TaskStatus::Scheduled;
        let delay = u64::try_from(delay.as_nanos()).unwrap_or(u64::MAX);
        record.due = now.saturating_add(delay);
        self.schedule_slot(slot);
        (Ok(TaskStatus::Scheduled), None)
    }

    /// Cancels a queued or scheduled task; returns its payload (to drop after unlocking) if it
    /// did.
    pub(crate) fn cancel<Q>(&mut self, id: &Q) -> Leftover<P>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (slot, record) = self.lookup(id)?;
        // Its heap entry goes stale once the record is no longer queued (or scheduled).
        match record.status {
            TaskStatus::Queued => self.queued -= 1,
            TaskStatus::Scheduled => self.scheduled -= 1,
            _ => return None,
        }
        let payload = self.record_mut(slot).payload.get().take();
        self.finish(slot, TaskStatus::Cancelled);
        self.compact_heap_if_stale();
        payload
    }

    pub(crate) fn update_priority<Q>(&mut self, id: &Q, priority: i64) -> Result<(), TaskError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (slot, record) = self.lookup(id).ok_or(TaskError::NotFound)?;
        match record.status {
            // The schedule is keyed by due time: the priority counts once it is ready.
            TaskStatus::Scheduled => self.record_mut(slot).priority = priority,
            TaskStatus::Queued if record.priority != priority => {
                // A new entry under the new key; the old one goes stale.
                self.record_mut(slot).priority = priority;
                self.push_entry(slot);
                self.compact_heap_if_stale();
            }
            TaskStatus::Queued => {}
            current => return Err(TaskError::InvalidState { current }),
        }
        Ok(())
    }

    /// Forgets a finished task, so its id can be used again.
    pub(crate) fn forget<Q>(&mut self, id: &Q) -> Result<(), TaskError>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let (slot, record) = self.lookup(id).ok_or(TaskError::NotFound)?;
        if !record.status.is_finished() {
            return Err(TaskError::InvalidState {
                current: record.status,
            });
        }
        self.remove_finished(slot);
        self.sweep_finished_order();
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

    /// Stops everything and returns the queued tasks, best first, then the scheduled ones,
    /// earliest first, all marked cancelled.
    pub(crate) fn shutdown_now(&mut self) -> Vec<Task<K, P>> {
        self.phase = Phase::Stopped;
        let mut out = Vec::with_capacity(self.queued + self.scheduled);
        while let Some(slot) = self.top() {
            // `take` clones the id before it changes anything; then the claim becomes a cancel.
            let task = self.take(slot);
            self.counts.processing -= 1;
            self.finish(slot, TaskStatus::Cancelled);
            out.push(task);
        }
        self.heap.shrink_if_sparse();
        while let Some(entry) = self.schedule.peek() {
            if !Self::live_in(&self.slots, &entry, TaskStatus::Scheduled) {
                self.schedule.pop();
                continue;
            }
            let slot = entry.slot();
            // `K::clone` first: if it panics, this task is still scheduled and consistent.
            let id = self.slots[slot].as_ref().expect("live").id.clone();
            self.schedule.pop();
            self.scheduled -= 1;
            let record = self.record_mut(slot);
            let task = Task {
                id,
                priority: record.priority,
                payload: (record.payload.get().take()).expect("a scheduled task has its payload"),
                attempts: record.attempts,
                token: Token::default(),
            };
            self.finish(slot, TaskStatus::Cancelled);
            out.push(task);
        }
        self.schedule.shrink_if_sparse();
        out
    }

    /// Moves a record that has left the heap (or processing) into a final state, and applies the
    /// retention policy. The payload is already gone.
    fn finish(&mut self, slot: usize, status: TaskStatus) {
        self.journal_slot(slot);
        let record = self.record_mut(slot);
        record.status = status;
        debug_assert!(record.payload.get().is_none());
        let generation = record.seq;
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
                // If `K::hash` panics in here, the record stays finished and consistent, only
                // no longer first in line to be trimmed.
                self.remove_finished(slot);
            }
        }
        self.sweep_finished_order();
    }

    /// Drops the stale entries (forgotten tasks) of the order queue once they outnumber the live
    /// ones, so that it stays within `2 × finished + 16` entries. O(entries), paid once per that
    /// many forgets: amortised O(1).
    fn sweep_finished_order(&mut self) {
        if self.finished_order.len() > 2 * self.finished_count() + 16 {
            let live: VecDeque<_> = std::mem::take(&mut self.finished_order)
                .into_iter()
                .filter(|&(slot, generation)| self.is_finished_generation(slot, generation))
                .collect();
            self.finished_order = live;
        }
    }

    fn is_finished_generation(&self, slot: usize, generation: u64) -> bool {
        matches!(self.slots.get(slot), Some(Some(r)) if r.seq == generation && r.status.is_finished())
    }

    fn remove_finished(&mut self, slot: usize) {
        // The index first: `K::hash` / `K::eq` may panic, and then nothing has changed.
        let id = &self.slots[slot].as_ref().expect("slot is live").id;
        self.index.remove(id);
        let record = self.slots[slot].take().expect("slot is live");
        match record.status {
            TaskStatus::Completed => self.counts.completed -= 1,
            TaskStatus::Cancelled => self.counts.cancelled -= 1,
            TaskStatus::Failed => self.counts.failed -= 1,
            _ => unreachable!("only finished tasks are removed"),
        }
        if let Some(journal) = &mut self.journal {
            journal.current.removed.push(record.id);
        }
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
        if let Some(journal) = &mut self.journal {
            journal.remap(&remap);
        }
        let slots = &self.slots;
        for (heap, status) in [
            (&mut self.heap, TaskStatus::Queued),
            (&mut self.schedule, TaskStatus::Scheduled),
        ] {
            heap.rebuild(|entry| {
                let slot = remap[entry.slot()];
                if slot == usize::MAX {
                    return false;
                }
                Heap::rename(entry, slot);
                Self::live_in(slots, entry, status)
            });
        }
        let order = std::mem::take(&mut self.finished_order);
        self.finished_order = order
            .into_iter()
            .filter_map(|(slot, generation)| {
                let slot = remap[slot];
                (slot != usize::MAX && self.is_finished_generation(slot, generation))
                    .then_some((slot, generation))
            })
            .collect();
        // Last, since it rehashes every id (`K::hash` may panic; the map stays intact then).
        self.index.shrink_to(self.slots.len() * 2);
    }

    /// Verifies the invariants listed at the top of this module; used by tests and model checks.
    pub(crate) fn check_invariants(&mut self) -> Result<(), String> {
        let mut counts = Stats::default();
        let mut live = 0;
        let mut live_entries = vec![0u32; self.slots.len()];
        let mut live_scheduled = vec![0u32; self.slots.len()];
        for e in self.heap.entries() {
            if e.slot() >= self.slots.len() {
                return Err(format!("heap entry for slot {} beyond the slots", e.slot()));
            }
            if Self::live_in(&self.slots, e, TaskStatus::Queued) {
                live_entries[e.slot()] += 1;
                let r = self.slots[e.slot()].as_ref().expect("live");
                if self.key(r.priority, r.due) != e.priority() {
                    return Err(format!("heap key of slot {} is stale", e.slot()));
                }
            }
        }
        for e in self.schedule.entries() {
            if e.slot() >= self.slots.len() {
                return Err(format!(
                    "schedule entry for slot {} beyond the slots",
                    e.slot()
                ));
            }
            if Self::live_in(&self.slots, e, TaskStatus::Scheduled) {
                live_scheduled[e.slot()] += 1;
                let r = self.slots[e.slot()].as_ref().expect("live");
                if r.due != Self::due_of(e) {
                    return Err(format!("schedule key of slot {} is stale", e.slot()));
                }
            }
        }
        if self.heap.len() > 2 * self.queued + 32 {
            return Err(format!(
                "{} heap entries for {} queued tasks: not compacted",
                self.heap.len(),
                self.queued
            ));
        }
        if self.schedule.len() > 2 * self.scheduled + 32 {
            return Err(format!(
                "{} schedule entries for {} scheduled tasks: not compacted",
                self.schedule.len(),
                self.scheduled
            ));
        }
        for (slot, record) in self.slots.iter_mut().enumerate() {
            let Some(r) = record else { continue };
            live += 1;
            if self.index.get(&r.id) != Some(&slot) {
                return Err(format!("slot {slot} is not indexed under its id"));
            }
            let entries = live_entries[slot];
            if entries != u32::from(r.status == TaskStatus::Queued) {
                return Err(format!(
                    "slot {slot} is {} with {entries} live heap entries",
                    r.status
                ));
            }
            let entries = live_scheduled[slot];
            if entries != u32::from(r.status == TaskStatus::Scheduled) {
                return Err(format!(
                    "slot {slot} is {} with {entries} live schedule entries",
                    r.status
                ));
            }
            let waiting = matches!(r.status, TaskStatus::Queued | TaskStatus::Scheduled);
            if r.payload.get().is_some() != waiting {
                return Err(format!("slot {slot} is {} with payload mismatch", r.status));
            }
            if r.claim > self.last_claim {
                return Err(format!("slot {slot} has a claim token from the future"));
            }
            match r.status {
                TaskStatus::Scheduled => counts.scheduled += 1,
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
        self.heap.check_order()?;
        self.schedule.check_order()?;
        // Memory follows live tasks: the slots are compacted once three quarters are free, and
        // the order queue of finished tasks holds few stale entries.
        if self.slots.len() > 64 && self.index.len() * 4 < self.slots.len() {
            return Err(format!(
                "{} slots for {} live tasks: not compacted",
                self.slots.len(),
                self.index.len()
            ));
        }
        if self.finished_order.len() > 2 * self.finished_count() + 16 {
            return Err(format!(
                "{} entries in the finished order for {} finished tasks: not swept",
                self.finished_order.len(),
                self.finished_count()
            ));
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

    /// Every task the queue knows: queued ones (with a copy of their payload) in the order they
    /// would be handed out, then the processing ones (their payloads are with their claimers),
    /// then the finished ones. All clones are made before the snapshot is returned; nothing changes.
    pub(crate) fn snapshot(&mut self) -> Snapshot<K, P>
    where
        P: Clone,
    {
        let slots = &self.slots;
        let mut queued: Vec<Entry> = (self.heap.entries().iter())
            .filter(|e| Self::live_in(slots, e, TaskStatus::Queued))
            .copied()
            .collect();
        queued.sort_by(|a, b| b.priority().cmp(&a.priority()).then(a.seq().cmp(&b.seq())));
        let mut snapshot = Snapshot::default();
        for e in queued {
            let r = self.slots[e.slot()].as_mut().expect("a heap slot is live");
            snapshot.queued.push(Task {
                id: r.id.clone(),
                priority: r.priority,
                payload: r
                    .payload
                    .get()
                    .clone()
                    .expect("a queued task has its payload"),
                attempts: r.attempts,
                token: Token::default(),
            });
        }
        let slots = &self.slots;
        let mut scheduled: Vec<Entry> = (self.schedule.entries().iter())
            .filter(|e| Self::live_in(slots, e, TaskStatus::Scheduled))
            .copied()
            .collect();
        scheduled.sort_by(|a, b| b.priority().cmp(&a.priority()).then(a.seq().cmp(&b.seq())));
        let now = self.now_if(!scheduled.is_empty());
        for e in scheduled {
            let r = self.slots[e.slot()]
                .as_mut()
                .expect("a schedule slot is live");
            snapshot.scheduled.push(ScheduledTask {
                task: Task {
                    id: r.id.clone(),
                    priority: r.priority,
                    payload: (r.payload.get().clone()).expect("a scheduled task has its payload"),
                    attempts: r.attempts,
                    token: Token::default(),
                },
                due_in: Duration::from_nanos(r.due.saturating_sub(now)),
            });
        }
        let mut processing: Vec<&Record<K, P>> = Vec::new();
        for r in self.slots.iter().flatten() {
            match r.status {
                TaskStatus::Processing => processing.push(r),
                status if status.is_finished() => snapshot.finished.push(FinishedTask {
                    id: r.id.clone(),
                    status,
                }),
                _ => {}
            }
        }
        processing.sort_by_key(|r| r.claim);
        snapshot.processing = processing
            .into_iter()
            .map(|r| ClaimedTask {
                id: r.id.clone(),
                priority: r.priority,
                attempts: r.attempts,
            })
            .collect();
        snapshot
    }

    /// Rebuilds a queue from a snapshot: queued tasks in their order, then the finished ones
    /// under the retention policy. A snapshot with tasks in flight is refused: their payloads
    /// were with their claimers, so the queue cannot run them again.
    pub(crate) fn restore(
        config: Config,
        hasher: S,
        snapshot: Snapshot<K, P>,
    ) -> Result<Self, RestoreError> {
        if !snapshot.processing.is_empty() {
            return Err(RestoreError::InFlight(snapshot.processing.len()));
        }
        let mut core = Core::new(config, hasher);
        let Snapshot {
            queued,
            scheduled,
            finished,
            ..
        } = snapshot;
        let now = core.now_if(!scheduled.is_empty() || core.config.ageing.is_some());
        for task in queued {
            if core.index.contains_key(&task.id) {
                return Err(RestoreError::DuplicateId);
            }
            let (id, priority, attempts) = (task.id.clone(), task.priority, task.attempts);
            let seq = core.next_seq();
            let slot = core.insert_record(Record {
                id,
                priority,
                seq,
                version: 0,
                payload: Slot::new(Some(task.payload)),
                attempts,
                status: TaskStatus::Queued,
                claim: 0,
                due: now,
            });
            core.enqueue(slot);
        }
        for ScheduledTask { task, due_in } in scheduled {
            if core.index.contains_key(&task.id) {
                return Err(RestoreError::DuplicateId);
            }
            let due_in = u64::try_from(due_in.as_nanos()).unwrap_or(u64::MAX);
            let (id, priority, attempts) = (task.id.clone(), task.priority, task.attempts);
            let seq = core.next_seq();
            let slot = core.insert_record(Record {
                id,
                priority,
                seq,
                version: 0,
                payload: Slot::new(Some(task.payload)),
                attempts,
                status: TaskStatus::Scheduled,
                claim: 0,
                due: now.saturating_add(due_in),
            });
            core.schedule_slot(slot);
        }
        core.due_moved = false;
        for FinishedTask { id, status } in finished {
            if !status.is_finished() {
                return Err(RestoreError::NotFinished(status));
            }
            if core.index.contains_key(&id) {
                return Err(RestoreError::DuplicateId);
            }
            let generation = core.next_seq();
            let slot = core.insert_record(Record {
                id,
                priority: 0,
                seq: generation,
                version: 0,
                payload: Slot::new(None),
                attempts: 0,
                status,
                claim: 0,
                due: 0,
            });
            core.finish(slot, status);
        }
        Ok(core)
    }

    fn insert_record(&mut self, record: Record<K, P>) -> usize {
        let id = record.id.clone();
        let slot = Self::store(&mut self.slots, &mut self.free, record);
        self.index.insert(id, slot);
        self.counts.total_added += 1;
        slot
    }
}
