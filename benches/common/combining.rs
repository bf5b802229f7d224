// The `combining` experiment (issue 8, item 4): a flat-combining queue, for benchmarks only. The
// data structure is the `limit`'s and the `reference`'s (`PlainQueue`: a std `BinaryHeap` of
// (priority, Reverse(seq), id) + a `HashMap` of records, tombstones for cancel, finished records
// kept), behind one std `Mutex` with one `Condvar` for claimers that found it empty.
//
// How an operation runs. A thread first tries the lock (`try_lock`): if it is free, it combines
// (below), applies its own operation directly and releases it (the uncontended fast path).
// Otherwise it takes a free slot of the publication array (`SLOTS` slots, each in its own cache
// line with `CachePadded`, or packed two to a line in the `-unpadded` variant; it starts at a
// per-thread hint, so each thread nearly always gets the same slot), writes its operation's
// arguments into it and publishes it (`state` = the operation, Release). Then it loops: if its
// slot says DONE it reads the result and frees the slot; otherwise it tries the lock and, if it
// gets it, COMBINES: applies every published operation of every slot (its own included) to the
// queue, writing each result back and marking that slot DONE (Release), then releases the lock.
// A thread that gets neither spins (crossbeam `Backoff`), and once the backoff is spent it waits
// for the lock with a blocking `lock()` and combines. Every path that holds the lock combines
// before releasing it. `status` takes the lock (and combines too); if no slot is free, the
// operation is applied directly under the lock.
//
// Waiting when empty is taskq's spin-then-park: a claim that came back empty spins once
// (`Backoff`) on `queued`, a cache-padded copy of the queued count, then claims again through
// the combiner; if that is empty too it sleeps on the condvar as the reference does (below).
//
// Invariants:
// - The mutex guards the `PlainQueue`, `sleepers` (claimers asleep or about to be, on
//   `available`) and `added` (tasks added in the current lock hold, not yet notified for).
//   `queued` is a copy of the queue's count, stored before every lock hold ends and read without
//   the lock: a hint for the spin and for `queued()`; every claim is decided under the lock.
// - A slot's `state` moves FREE -> WRITING (its owner, by CAS: one owner at a time) -> an
//   operation (its owner, Release, after writing the arguments) -> DONE (a combiner, under the
//   lock, after writing the result, Release) -> FREE (its owner, after reading the result). Only
//   a lock holder moves an operation to DONE, so the lock orders all applications.
// - Each published operation is applied exactly once: a combiner applies a slot only if it reads
//   an operation state (Acquire, so it sees the arguments), and stores DONE before it releases the
//   lock; the next combiner acquires the lock after that store, so it reads DONE (or a later,
//   new operation), never the old operation again. The owner does not republish until it has read
//   DONE. So no add is lost or doubled, and no claim runs twice.
// - No task is claimed twice: claims are `PlainQueue::claim` under the lock, which marks the
//   record Processing and pops its heap entry; each claim's result goes to exactly one slot (or
//   to the sleeping claimer holding the lock). Since every operation takes effect under the lock
//   between its publication and its DONE, the queue is linearizable: strict priority, FIFO among
//   equal priorities (the seq is taken when the add is applied).
// - No wake-up is lost: a claimer whose claim came back empty (after the spin) takes the lock
//   (blocking), combines, claims again itself, and only if that is empty too increments
//   `sleepers` and waits on `available`, all in one lock hold (the wait releases the lock
//   atomically). Every add is applied under the lock and counted in `added`; before any lock
//   hold ends (release, or a sleeper's wait: `end_hold`), `min(added, sleepers)` claimers are
//   notified, under the lock. An add applied after a sleeper's empty check is applied in a later
//   hold, which sees `sleepers > 0` and notifies; the sleeper is already waiting then (it
//   released the lock only by waiting). This is the textbook "notify on every add" (the
//   `reference`), less the notifies that cannot wake anyone (no sleeper).
// - No operation waits forever: a publisher waits only for its slot's DONE or for the lock, never
//   while holding the lock, and whoever holds the lock applies every published operation it
//   finds. `pending` (publishers count +1 after publishing, combiners -n after applying n) only
//   lets a lock holder skip the scan when it reads <= 0; an operation it skips that way is
//   applied by the next lock holder that reads > 0, at the latest by its own publisher, who
//   keeps trying the lock.

use std::ops::Deref;
use std::sync::atomic::{AtomicIsize, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Condvar, Mutex, MutexGuard, TryLockError};
use std::time::{Duration, Instant};

use crossbeam_utils::{Backoff, CachePadded};
use taskq::TaskStatus;

use super::plain::PlainQueue;
use super::BenchQueue;

/// Slots in the publication array: more than the threads of any workload at 4 threads (W1: 8).
pub const SLOTS: usize = 16;

// Slot states.
const FREE: u64 = 0;
const WRITING: u64 = 1;
const ADD: u64 = 2;
const CLAIM: u64 = 3;
const COMPLETE: u64 = 4;
const CANCEL: u64 = 5;
/// Applied; the operation returned false / nothing.
const DONE_NO: u64 = 6;
/// Applied; the operation returned true / a task (its id and payload are in the slot).
const DONE_YES: u64 = 7;

/// One thread's published operation: its state and arguments (results are written back into
/// `id` and `payload`). Atomics throughout, so neither side needs `unsafe`; the ordering is
/// carried by `state` (Release on publish and on DONE, Acquire on reading them).
#[derive(Debug, Default)]
pub struct Slot {
    state: AtomicU64,
    id: AtomicU64,
    priority: AtomicU64,
    payload: AtomicU64,
}

/// A slot with no padding: two to a 64-byte line (the `combining-unpadded` variant).
#[derive(Debug, Default)]
pub struct Unpadded<T>(T);

impl<T> Deref for Unpadded<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

/// A slot in its own cache line (`combining`).
pub type Padded = CachePadded<Slot>;

/// What the mutex guards.
struct State {
    q: PlainQueue,
    /// Claimers asleep on `available` (or woken and not yet back under the lock).
    sleepers: usize,
    /// Tasks added in this lock hold that no notify has been issued for yet.
    added: usize,
    /// What happened, for `COMBINING_STATS` (counted under the lock: no shared counter).
    stats: Stats,
}

/// Counts kept under the lock and printed on drop when the environment variable
/// `COMBINING_STATS` is set: how much combining actually happens.
#[derive(Debug, Default)]
struct Stats {
    /// Operations applied by their own thread under the lock (the `try_lock` fast path, or no
    /// free slot).
    direct: u64,
    /// Operations applied from a slot (by another thread, or by their publisher once it got the
    /// lock).
    combined: u64,
    /// Scans of the slots that applied at least one operation.
    passes: u64,
    /// Publishers that spent their backoff and blocked on the lock.
    blocked: u64,
    /// Times a claimer went to sleep on the condvar.
    sleeps: u64,
}

/// The result of an operation: whether it succeeded, and for a claim the task.
type Outcome = (bool, u64, u64);

/// A flat-combining queue over `PlainQueue` (see the top of this file). `C` is the slot's
/// wrapper: `Padded` or `Unpadded<Slot>`.
pub struct CombiningQueue<C> {
    slots: Box<[C]>,
    state: Mutex<State>,
    available: Condvar,
    queued: CachePadded<AtomicUsize>,
    /// Operations published and not yet applied, as far as the publishers' increments and the
    /// combiners' decrements have got (it can dip below zero for a moment): a hint that spares a
    /// lock holder the scan of every slot when nothing is published.
    pending: CachePadded<AtomicIsize>,
}

static NEXT_HINT: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// Where this thread starts looking for a free slot: consecutive threads get consecutive
    /// slots.
    static HINT: usize = NEXT_HINT.fetch_add(1, Ordering::Relaxed);
}

impl<C: Deref<Target = Slot> + Default + Sync> CombiningQueue<C> {
    /// An empty queue.
    pub fn new() -> Self {
        CombiningQueue {
            slots: (0..SLOTS).map(|_| C::default()).collect(),
            state: Mutex::new(State {
                // Finished records are kept, as the reference keeps them.
                q: PlainQueue::new(true),
                sleepers: 0,
                added: 0,
                stats: Stats::default(),
            }),
            available: Condvar::new(),
            queued: CachePadded::new(AtomicUsize::new(0)),
            pending: CachePadded::new(AtomicIsize::new(0)),
        }
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().expect("combining queue poisoned")
    }

    /// Applies one operation to the queue (under the lock).
    fn apply(st: &mut State, op: u64, id: u64, priority: i64, payload: u64) -> Outcome {
        match op {
            ADD => {
                let ok = st.q.add(id, priority, payload);
                st.added += usize::from(ok);
                (ok, 0, 0)
            }
            CLAIM => match st.q.claim() {
                Some((id, payload)) => (true, id, payload),
                None => (false, 0, 0),
            },
            COMPLETE => (st.q.complete(id), 0, 0),
            CANCEL => (st.q.cancel(id), 0, 0),
            _ => unreachable!("not an operation: {op}"),
        }
    }

    /// Applies every published operation, writing results back (under the lock).
    fn combine(&self, st: &mut State) {
        if self.pending.load(Ordering::Relaxed) <= 0 {
            // Nothing published (or its publisher has not counted it yet: it will keep trying the
            // lock itself).
            return;
        }
        let mut applied = 0;
        for slot in self.slots.iter() {
            let op = slot.state.load(Ordering::Acquire);
            if !(ADD..=CANCEL).contains(&op) {
                continue;
            }
            let id = slot.id.load(Ordering::Relaxed);
            let priority = slot.priority.load(Ordering::Relaxed) as i64;
            let payload = slot.payload.load(Ordering::Relaxed);
            let (ok, id, payload) = Self::apply(st, op, id, priority, payload);
            slot.id.store(id, Ordering::Relaxed);
            slot.payload.store(payload, Ordering::Relaxed);
            slot.state
                .store(if ok { DONE_YES } else { DONE_NO }, Ordering::Release);
            applied += 1;
        }
        self.pending.fetch_sub(applied, Ordering::Relaxed);
        if applied > 0 {
            st.stats.passes += 1;
            st.stats.combined += applied as u64;
        }
    }

    /// Before a lock hold ends (release or wait): publishes the queued count and notifies a
    /// claimer per task added in this hold, as long as someone sleeps (under the lock).
    fn end_hold(&self, st: &mut State) {
        self.queued.store(st.q.queued(), Ordering::Release);
        for _ in 0..st.added.min(st.sleepers) {
            self.available.notify_one();
        }
        st.added = 0;
    }

    /// Ends a lock hold and unlocks.
    fn release(&self, mut st: MutexGuard<'_, State>) {
        self.end_hold(&mut st);
    }

    /// Spins until the count says a task is queued or the backoff is spent; whether one is.
    fn spin_until_queued(&self) -> bool {
        let backoff = Backoff::new();
        while !backoff.is_completed() {
            if self.queued.load(Ordering::Acquire) > 0 {
                return true;
            }
            backoff.snooze();
        }
        self.queued.load(Ordering::Acquire) > 0
    }

    /// Takes a free slot, starting at this thread's hint; `None` if all are taken.
    fn take_slot(&self) -> Option<&Slot> {
        let start = HINT.with(|h| *h);
        (0..SLOTS)
            .map(|k| &*self.slots[(start + k) % SLOTS])
            .find(|s| {
                s.state
                    .compare_exchange(FREE, WRITING, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            })
    }

    /// Runs one operation: publishes it and waits for a combiner (maybe itself) to apply it.
    fn run(&self, op: u64, id: u64, priority: i64, payload: u64) -> Outcome {
        let direct = |mut st: MutexGuard<'_, State>| {
            // Holding the lock: combine the others' operations and apply ours directly.
            self.combine(&mut st);
            let out = Self::apply(&mut st, op, id, priority, payload);
            st.stats.direct += 1;
            self.release(st);
            out
        };
        match self.state.try_lock() {
            Ok(st) => return direct(st),
            Err(TryLockError::WouldBlock) => {}
            Err(TryLockError::Poisoned(_)) => panic!("combining queue poisoned"),
        }
        let Some(slot) = self.take_slot() else {
            // Every slot is taken: wait for the lock.
            return direct(self.lock());
        };
        slot.id.store(id, Ordering::Relaxed);
        slot.priority.store(priority as u64, Ordering::Relaxed);
        slot.payload.store(payload, Ordering::Relaxed);
        slot.state.store(op, Ordering::Release);
        self.pending.fetch_add(1, Ordering::Relaxed);
        let backoff = Backoff::new();
        loop {
            let state = slot.state.load(Ordering::Acquire);
            if state == DONE_NO || state == DONE_YES {
                let out = (
                    state == DONE_YES,
                    slot.id.load(Ordering::Relaxed),
                    slot.payload.load(Ordering::Relaxed),
                );
                slot.state.store(FREE, Ordering::Release);
                return out;
            }
            let guard = match self.state.try_lock() {
                Ok(guard) => Some(guard),
                Err(TryLockError::WouldBlock) if backoff.is_completed() => {
                    let mut st = self.lock();
                    st.stats.blocked += 1;
                    Some(st)
                }
                Err(TryLockError::WouldBlock) => None,
                Err(TryLockError::Poisoned(_)) => panic!("combining queue poisoned"),
            };
            match guard {
                // Our own operation is among those combined: the next look finds it DONE.
                Some(mut st) => {
                    self.combine(&mut st);
                    self.release(st);
                }
                None => backoff.snooze(),
            }
        }
    }

    /// Adds a task; false if the id is known.
    pub fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        self.run(ADD, id, priority, payload).0
    }

    /// Claims the best queued task, waiting up to `timeout` (`None`: until one arrives).
    pub fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
        if let (true, id, payload) = self.run(CLAIM, 0, 0, 0) {
            return Some((id, payload));
        }
        if timeout == Some(Duration::ZERO) {
            return None;
        }
        // Spin-then-park: look again before sleeping.
        if self.spin_until_queued() {
            if let (true, id, payload) = self.run(CLAIM, 0, 0, 0) {
                return Some((id, payload));
            }
        }
        // Empty: sleep as the reference does, checking again under the lock first.
        let mut st = self.lock();
        loop {
            self.combine(&mut st);
            if let Some(task) = st.q.claim() {
                self.release(st);
                return Some(task);
            }
            let left = match deadline {
                None => None,
                Some(at) => match at.checked_duration_since(Instant::now()) {
                    Some(left) if !left.is_zero() => Some(left),
                    _ => {
                        self.release(st);
                        return None;
                    }
                },
            };
            // Notify for what this hold added before sleeping (and before counting ourselves).
            self.end_hold(&mut st);
            st.sleepers += 1;
            st.stats.sleeps += 1;
            st = match left {
                None => self.available.wait(st).expect("poisoned"),
                Some(left) => self.available.wait_timeout(st, left).expect("poisoned").0,
            };
            st.sleepers -= 1;
        }
    }

    /// Completes a processing task.
    pub fn complete(&self, id: u64) -> bool {
        self.run(COMPLETE, id, 0, 0).0
    }

    /// Cancels a queued task.
    pub fn cancel(&self, id: u64) -> bool {
        self.run(CANCEL, id, 0, 0).0
    }

    /// Operations applied from a slot so far (see `Stats::combined`): whether the combining path
    /// ran at all, for the tests.
    pub fn combined(&self) -> u64 {
        self.lock().stats.combined
    }

    /// Runs `f` under the lock, combining first.
    fn with_lock<T>(&self, f: impl FnOnce(&PlainQueue) -> T) -> T {
        let mut st = self.lock();
        self.combine(&mut st);
        let out = f(&st.q);
        self.release(st);
        out
    }
}

impl<C> Drop for CombiningQueue<C> {
    fn drop(&mut self) {
        if std::env::var_os("COMBINING_STATS").is_some() {
            let s = &self.state.get_mut().expect("poisoned").stats;
            eprintln!(
                "combining stats: {} direct, {} combined in {} passes ({:.2} per pass), {} \
                 blocked on the lock, {} sleeps",
                s.direct,
                s.combined,
                s.passes,
                s.combined as f64 / s.passes.max(1) as f64,
                s.blocked,
                s.sleeps
            );
        }
    }
}

impl<C: Deref<Target = Slot> + Default + Sync> Default for CombiningQueue<C> {
    fn default() -> Self {
        Self::new()
    }
}

impl<C: Deref<Target = Slot> + Default + Sync> BenchQueue for CombiningQueue<C> {
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        CombiningQueue::add(self, id, priority, payload)
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        CombiningQueue::claim(self, timeout)
    }

    fn complete(&self, id: u64) -> bool {
        CombiningQueue::complete(self, id)
    }

    fn cancel(&self, id: u64) -> bool {
        CombiningQueue::cancel(self, id)
    }

    fn status(&self, id: u64) -> Option<TaskStatus> {
        self.with_lock(|q| q.status(id))
    }

    fn queued(&self) -> usize {
        self.queued.load(Ordering::Acquire)
    }
}
