//! The status mirror of the [`RwLock`](super::strategy::RwLock) strategy: `get_status` and
//! `len()` answered from a published copy of every task's status and of the queued count, so
//! that a status read never waits for a writer's operation.
//!
//! A "left-right" pair, sharded: two copies, each of them `SHARDS` maps id → (status, due time)
//! (an id's shard is picked by its hash), each map behind a read-write lock of its own, plus the
//! copy's queued count; and `published`, the number of publications so far, whose parity names
//! the copy readers use (the *live* copy; the other is the *back* copy). A read takes one map's
//! read lock: two atomic read-modify-writes on its lock word, which are the whole cost of a read
//! when two readers share the word (they bounce it between their cores), so readers of different
//! ids are kept apart.
//!
//! Invariants:
//! - **Writers.** Only a thread holding the core's write lock publishes (`publish`, at the end of
//!   every write), so there is one writer at a time, and it alone stores `published` and the
//!   counts. It sorts the write's changes (the core's journal: changed slots, removed ids) by
//!   shard, and brings the back map of every shard that lags or that the write touched up to
//!   date, under the map's write lock if it gets it at once (`try_write`): what the map lacked
//!   since the last flip (the journal's `lag`), then the write's own changes; then it stores the
//!   back copy's queued count. If it got every lock, it *flips* (stores `published + 1`): the back
//!   copy becomes live, and the old live copy lacks the write's changes, its new lag. If a reader
//!   still holds one of those maps (preempted there, most likely: it came before the last flip),
//!   the writer neither waits nor flips: it applies the write's changes to the live copy in
//!   place, holding the write locks of all the maps the write touched at once (two-phase
//!   locking), which keeps their readers out for the update only, and stores the live copy's
//!   count before it unlocks them; the back maps' lag grows by as much. A write that changed the
//!   queued count and no status (a scheduled task fell due) stores the live copy's count. So the
//!   live copy is always current, and all the changes of one write (a batch; a completion and the
//!   retention it triggers; the queued count) become visible at one instant: the flip, or the
//!   in-place update's store of the count.
//! - **Readers never wait for a writer's operation.** A reader loads `published` (n),
//!   `try_read`s its map in copy `n & 1` (it never blocks), looks the id up, and loads
//!   `published` again before it unlocks (`len()` loads copy `n & 1`'s count between the two
//!   loads, with no lock at all). It retries only if the lock was taken (by an in-place update, or
//!   since a flip after its first load: the writer write-locks only back maps otherwise) or if the
//!   count moved: each retry is a publication made meanwhile, never a writer's operation waited
//!   for.
//! - **Reads are linearizable.** Linearize a write where its changes become visible (above; if
//!   there is none, anywhere in its critical section), and an accepted read at its second load.
//!   Copy `n & 1` was brought up to date before flip n, which the reader's first load saw
//!   (acquire: it sees those writes). It is written again only by an in-place update, which the
//!   reader's lookup precedes or follows whole (and then precedes or follows the update's store of
//!   the count), or after flip n + 1, by a later publication; had that come before the reader's
//!   read lock, the reader's second load sees n + 1 (the writer's store happens-before its write
//!   lock, whose release happens-before the reader's read lock). So an accepted read saw the
//!   statuses current at its second load, the clock included: a scheduled task reads `Queued`
//!   once its due time has passed, by the rule of `Core::status`, on the clock read inside.
//! - **Memory follows live tasks.** The copies hold the core's ids (the journal names every
//!   record created or removed, retention included); the back copy also holds the ids the last
//!   write removed, until the next flip brings it up to date (while readers hold back maps and
//!   writes go in place instead, the lag is made up as soon as it passes `LAG_LIMIT` changes and
//!   the maps are free). Each map shrinks as the core's index does. Cost: two entries (the id, a
//!   status and a due time) per known task, and two map updates per status change, in the
//!   writer's critical section.
//! - **User code may panic.** `K::clone`, `K::hash` and `K::eq` run here, in the writer. If one
//!   panics, the mirror is given up for good, *before* a half-written map is unlocked and before
//!   the core is (`BreakOnUnwind`): `published` gets its `BROKEN` bit, which a reader sees on its
//!   first or second load, and from then on every status read goes to the core under its read
//!   lock, as the other reads do. The panic is handed back to re-raise once the strategy has
//!   unlocked and woken whom it must.

use std::borrow::Borrow;
use std::collections::{HashMap, HashSet};
use std::hash::{BuildHasher, Hash};
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use crossbeam_utils::CachePadded;

use crate::memory::core::{nanos_since, status_at, Changes, Core, Journal, SharedHasher};
use crate::memory::strategy::Panic;
use crate::mutant::mutant;
use crate::sync::{self, AtomicU64, AtomicUsize, Clock, Ordering};
use crate::TaskStatus;

/// The number of shards of each copy (two under loom, to keep the models small); at most 32
/// (one bit each in a `u32`).
const SHARDS: usize = if cfg!(taskq_loom) { LOOM_SHARDS } else { 16 };
const _: () = assert!(SHARDS.is_power_of_two() && SHARDS <= 32);

/// The number of shards under loom.
const LOOM_SHARDS: usize = 2;

/// The bit of `published` that says the mirror was given up.
const BROKEN: u64 = 1 << 63;

/// A lag beyond which the writer makes it up at once, if the back copy is free, so that removed
/// ids are not kept long (a batch can leave many).
const LAG_LIMIT: usize = 64;

/// The copy readers use after `n` publications.
fn live(n: u64) -> usize {
    usize::from(n & 1 == 1)
}

/// The copy a publication prepares after `n` publications.
fn back(n: u64) -> usize {
    mutant!(MirrorWritesLiveCopy => live(n), else 1 - live(n))
}

/// One shard of one copy: each of its ids' status and, for a `Scheduled` task, its due time in
/// nanoseconds since the core's epoch (else 0).
type Statuses<K, S> = HashMap<K, (TaskStatus, u64), SharedHasher<S>>;

/// A shard: its map in each copy.
type Shard<K, S> = [CachePadded<sync::RwLock<Statuses<K, S>>>; 2];

/// The mirror was given up: read the core.
#[derive(Debug)]
pub(crate) struct GivenUp;

/// What a reader reads first and last; one cache line, written once per publication.
struct Head {
    /// Publications so far (the parity names the live copy), plus `BROKEN` once given up.
    published: AtomicU64,
    /// Each copy's queued count.
    queued: [AtomicUsize; 2],
}

/// Every task's status, published for readers; see the module comment.
pub(crate) struct Mirror<K, S> {
    shards: Box<[Shard<K, S>]>,
    head: CachePadded<Head>,
    hasher: SharedHasher<S>,
    clock: Clock,
    /// The core's epoch: time zero of the due times.
    epoch: Instant,
}

/// Sets `BROKEN` if dropped while unwinding from a panic that started after it was made (a
/// publication may run while an earlier panic unwinds: a claim guard dropped by a panicking
/// worker hands its task back). Declared after a copy's write guard, it is dropped before the
/// guard, so the bit is set before the half-written copy is unlocked.
struct BreakOnUnwind<'a> {
    published: &'a AtomicU64,
    unwinding: bool,
}

impl<'a> BreakOnUnwind<'a> {
    fn new(published: &'a AtomicU64) -> Self {
        BreakOnUnwind {
            published,
            unwinding: std::thread::panicking(),
        }
    }
}

impl Drop for BreakOnUnwind<'_> {
    fn drop(&mut self) {
        if std::thread::panicking() && !self.unwinding {
            self.published.fetch_or(BROKEN, Ordering::Release);
        }
    }
}

impl<K: Clone + Eq + Hash, S: BuildHasher> Mirror<K, S> {
    /// A mirror of `core`'s statuses, both copies equal. Turns the core's journal on.
    pub(crate) fn new<P>(core: &mut Core<K, P, S>) -> Self {
        let hasher = core.hasher().clone();
        let mut maps: Vec<Statuses<K, S>> = (0..2 * SHARDS)
            .map(|_| HashMap::with_hasher(hasher.clone()))
            .collect();
        for (id, status, due) in core.published_all() {
            let shard = shard_of(&hasher, id);
            for copy in 0..2 {
                maps[2 * shard + copy].insert(id.clone(), (status, due));
            }
        }
        let mut maps = maps
            .into_iter()
            .map(|map| CachePadded::new(sync::RwLock::new(map)));
        let mut map = || maps.next().expect("two per shard");
        let shards = (0..SHARDS).map(|_| [map(), map()]).collect();
        core.set_journal(Some(Journal::new(SHARDS)));
        let queued = core.len();
        Mirror {
            shards,
            head: CachePadded::new(Head {
                published: AtomicU64::new(0),
                queued: [AtomicUsize::new(queued), AtomicUsize::new(queued)],
            }),
            hasher,
            clock: core.clock().clone(),
            epoch: core.epoch(),
        }
    }

    /// The status of `id` as of an instant within this call, without waiting for a writer; or
    /// `GivenUp`, and the caller reads the core.
    pub(crate) fn status<Q>(&self, id: &Q) -> Result<Option<TaskStatus>, GivenUp>
    where
        K: Borrow<Q>,
        Q: Hash + Eq + ?Sized,
    {
        let shard = &self.shards[shard_of(&self.hasher, id)];
        let backoff = sync::Backoff::new();
        loop {
            let n = self.head.published.load(Ordering::Acquire);
            if n & BROKEN != 0 {
                return Err(GivenUp);
            }
            // Fails only during an in-place update, or if the writer flipped since the load.
            if let Some(copy) = shard[live(n)].try_read() {
                let status = (copy.get(id)).map(|&(status, due)| {
                    status_at(status, due, || nanos_since(self.epoch, self.clock.now()))
                });
                // Unchanged: no flip since the first load, so that copy held the current
                // statuses all along (see the module comment). Checked before unlocking (it
                // could be after): so loom also stops a reader inside its read section, where a
                // real scheduler may preempt it and the writer must go on without it.
                let current = self.head.published.load(Ordering::Acquire) == n;
                drop(copy);
                if mutant!(MirrorReadSkipsRecheck => true, else current) {
                    return Ok(status);
                }
            }
            backoff.snooze();
        }
    }

    /// Whether the mirror was given up (for tests).
    #[cfg(test)]
    pub(crate) fn given_up(&self) -> bool {
        self.head.published.load(Ordering::Acquire) & BROKEN != 0
    }

    /// The queued count as of an instant within this call, without any lock; or `GivenUp`.
    pub(crate) fn len(&self) -> Result<usize, GivenUp> {
        let backoff = sync::Backoff::new();
        loop {
            let n = self.head.published.load(Ordering::Acquire);
            if n & BROKEN != 0 {
                return Err(GivenUp);
            }
            let queued = self.head.queued[live(n)].load(Ordering::Acquire);
            if self.head.published.load(Ordering::Acquire) == n {
                return Ok(queued);
            }
            backoff.snooze();
        }
    }

    /// At the end of a write, under the core's write lock: publishes the write's status changes
    /// (the core's journal) at one instant. If `K`'s code panicked, gives the mirror up (the
    /// journal is turned off) and returns the panic, to re-raise once the strategy has unlocked
    /// the core and woken whom it must.
    pub(crate) fn publish<P>(&self, core: &mut Core<K, P, S>) -> Option<Panic> {
        if core.journal()?.current.is_empty() {
            // No status changed; the queued count may have (a scheduled task fell due).
            let queued = &self.head.queued[live(self.head.published.load(Ordering::Relaxed))];
            // Skips the store (and the cache line's transfer) when nothing changed.
            if queued.load(Ordering::Relaxed) != core.len() {
                queued.store(core.len(), Ordering::Release);
            }
            return None;
        }
        let mut journal = core.take_journal().expect("the journal is on");
        let published = catch_unwind(AssertUnwindSafe(|| {
            mutant!(MirrorSplitsBatch => { if journal.current.changed.len() > 1 { let rest = journal.current.changed.split_off(1); self.publish_changes(core, &mut journal); journal.current.changed = rest; } });
            self.publish_changes(core, &mut journal);
        }));
        match published {
            Ok(()) => {
                core.set_journal(Some(journal));
                None
            }
            Err(panic) => {
                self.head.published.fetch_or(BROKEN, Ordering::Release);
                // Nobody reads the copies any more: free them (`journal` goes too).
                for map in self.shards.iter().flatten() {
                    *map.write() = HashMap::with_hasher(self.hasher.clone());
                }
                Some(panic)
            }
        }
    }

    /// Publishes `journal.current`: a flip, or an in-place update if a reader holds a back map
    /// the flip needs (see the module comment). Leaves `current` empty and `lag` what each back
    /// map lacks.
    fn publish_changes<P>(&self, core: &Core<K, P, S>, journal: &mut Journal<K>) {
        let Journal {
            current,
            lag,
            lagging,
            sorted,
        } = journal;
        let mut touched = 0;
        for slot in current.changed.drain(..) {
            // A slot freed since is skipped: its id is among the removed ones.
            if let Some((id, ..)) = core.published(slot) {
                let shard = shard_of(&self.hasher, id);
                sorted[shard].changed.push(slot);
                touched |= 1 << shard;
            }
        }
        for id in current.removed.drain(..) {
            let shard = shard_of(&self.hasher, &id);
            sorted[shard].removed.push(id);
            touched |= 1 << shard;
        }
        // Only writers store it, under the core's write lock.
        let n = self.head.published.load(Ordering::Relaxed);
        let mut prepared = 0;
        for index in shards(touched | *lagging) {
            if let Some(mut map) = self.shards[index][back(n)].try_write() {
                self.apply(&mut map, index, core, &lag[index], &sorted[index]);
                prepared |= 1 << index;
            }
        }
        let flip = prepared == touched | *lagging;
        if flip {
            self.head.queued[back(n)].store(core.len(), Ordering::Relaxed);
            self.head.published.store(n + 1, Ordering::Release);
        } else {
            // Two-phase: every map the write touched is locked before any is changed, and
            // unlocked after the count is stored.
            let live = mutant!(MirrorInPlaceWritesBack => back(n), else 1 - back(n));
            let mut maps: [_; SHARDS] = std::array::from_fn(|index| {
                (touched & 1 << index != 0).then(|| self.shards[index][live].write())
            });
            for index in shards(touched) {
                if let Some(map) = &mut maps[index] {
                    self.apply(map, index, core, &Changes::default(), &sorted[index]);
                }
            }
            self.head.queued[live].store(core.len(), Ordering::Release);
            drop(maps);
        }
        let mut behind = 0;
        for index in shards(touched | *lagging) {
            let (lag, sorted) = (&mut lag[index], &mut sorted[index]);
            if flip {
                // The old live map lacks the write's changes only.
                std::mem::swap(lag, sorted);
                sorted.clear();
            } else if prepared & 1 << index != 0 {
                // Both maps have everything.
                lag.clear();
                sorted.clear();
            } else {
                lag.append(sorted);
            }
            behind += lag.len();
        }
        *lagging = (touched | *lagging) & !shards_with_empty(lag, touched | *lagging);
        if behind > LAG_LIMIT {
            self.make_up(core, journal);
        }
    }

    /// Brings every back map that is free up to date (not a publication: back maps are not read).
    fn make_up<P>(&self, core: &Core<K, P, S>, journal: &mut Journal<K>) {
        let n = self.head.published.load(Ordering::Relaxed);
        for index in shards(journal.lagging) {
            if let Some(mut map) = self.shards[index][1 - live(n)].try_write() {
                let lag = &mut journal.lag[index];
                self.apply(&mut map, index, core, lag, &Changes::default());
                lag.clear();
                journal.lagging &= !(1 << index);
            }
        }
    }

    /// Applies `lag`, then `new` (the current write's changes to this shard), to shard `index`
    /// of one copy, under its write lock `map`: every removal first, then every changed slot's
    /// current record (see `Changes`); for a slot noted in `lag`, only if its record is in this
    /// shard (the slot may hold another shard's task by now). A panic of `K`'s code sets `BROKEN`
    /// before the caller unlocks the map.
    fn apply<P>(
        &self,
        map: &mut Statuses<K, S>,
        index: usize,
        core: &Core<K, P, S>,
        lag: &Changes<K>,
        new: &Changes<K>,
    ) {
        // Dropped before the caller's guard of `map`.
        let _broken = BreakOnUnwind::new(&self.head.published);
        for id in lag.removed.iter().chain(&new.removed) {
            map.remove(id);
        }
        let lagging = lag.changed.iter().map(|&slot| (slot, true));
        // A slot in both lists (a task claimed by one write and completed by the next) is
        // applied once: each application writes the record's current state.
        let again = |slot| new.changed.len() <= 8 && new.changed.contains(&slot);
        for (slot, check) in lagging.chain(new.changed.iter().map(|&slot| (slot, false))) {
            if check && again(slot) {
                continue;
            }
            let Some((id, status, due)) = core.published(slot) else {
                continue;
            };
            if check && shard_of(&self.hasher, id) != index {
                continue;
            }
            match map.get_mut(id) {
                Some(entry) => *entry = (status, due),
                None => {
                    map.insert(id.clone(), (status, due));
                }
            }
        }
        // As the core's index does: shrink once three quarters are free (amortised O(1)).
        let removed = !lag.removed.is_empty() || !new.removed.is_empty();
        if removed && map.capacity() > 64 && map.len() * 4 < map.capacity() {
            map.shrink_to(map.len() * 2);
        }
    }

    /// For `check_invariants`, under the core's write lock (so no publication is under way),
    /// unless the mirror was given up: every shard of the live copy holds exactly the core's
    /// statuses of its ids (a scheduled task the core has since moved to the ready heap may still
    /// be `Scheduled` there, with a due time that has passed: it reads `Queued`); every shard of
    /// the back copy does too, but for the ids its lag names.
    pub(crate) fn check<P>(&self, core: &Core<K, P, S>) -> Result<(), String> {
        let n = self.head.published.load(Ordering::Acquire);
        let Some(journal) = core.journal() else {
            return match n & BROKEN {
                0 => Err("the mirror is in use but the core keeps no journal".into()),
                _ => Ok(()),
            };
        };
        if n & BROKEN != 0 {
            return Err("the mirror was given up but the core still keeps a journal".into());
        }
        if !journal.current.is_empty() || journal.sorted.iter().any(|c| !c.is_empty()) {
            return Err("a write's status changes were left unpublished".into());
        }
        let queued = self.head.queued[live(n)].load(Ordering::Acquire);
        if queued != core.len() {
            return Err(format!(
                "the mirror's queued count is {queued}, the core's {}",
                core.len()
            ));
        }
        let now = nanos_since(self.epoch, self.clock.now());
        for (index, shard) in self.shards.iter().enumerate() {
            let lag = &journal.lag[index];
            let lagging: HashSet<&K> = (lag.removed.iter())
                .chain(
                    lag.changed
                        .iter()
                        .filter_map(|&slot| Some(core.published(slot)?.0)),
                )
                .collect();
            for (copy, lock) in shard.iter().enumerate() {
                let map = lock.read();
                let skip = |id: &K| copy != live(n) && lagging.contains(id);
                let mut known = 0;
                let mine = (core.published_all())
                    .filter(|(id, ..)| shard_of(&self.hasher, *id) == index && !skip(id));
                for (id, status, due) in mine {
                    known += 1;
                    let agrees = match map.get(id) {
                        Some(&(s, d)) if (s, d) == (status, due) => true,
                        Some(&(TaskStatus::Scheduled, d)) => {
                            status == TaskStatus::Queued && d <= now
                        }
                        _ => false,
                    };
                    if !agrees {
                        return Err(format!(
                            "mirror shard {index} of copy {copy} (live: {}) has {:?} for a task \
                             the core has as {status} (due {due})",
                            live(n),
                            map.get(id)
                        ));
                    }
                }
                let mirrored = map.keys().filter(|id| !skip(id)).count();
                if mirrored != known {
                    return Err(format!(
                        "mirror shard {index} of copy {copy} (live: {}) has {mirrored} ids, the \
                         core {known}",
                        live(n)
                    ));
                }
            }
        }
        Ok(())
    }
}

/// The shards whose bit is set in `mask`, in order.
fn shards(mut mask: u32) -> impl Iterator<Item = usize> {
    std::iter::from_fn(move || {
        let shard = mask.trailing_zeros() as usize;
        mask &= mask.wrapping_sub(1);
        (shard < 32).then_some(shard)
    })
}

/// The shards among `mask` whose changes in `changes` are empty.
fn shards_with_empty<K>(changes: &[Changes<K>], mask: u32) -> u32 {
    shards(mask)
        .filter(|&shard| changes[shard].is_empty())
        .fold(0, |empty, shard| empty | 1 << shard)
}

/// The shard of an id: bits of its hash that the maps use for neither the bucket (low bits) nor
/// the tag (top 7 bits). Under loom, a fixed hash, so that every execution of a model takes the
/// same locks (the default hasher is seeded at random).
fn shard_of<S: BuildHasher, Q: Hash + ?Sized>(hasher: &S, id: &Q) -> usize {
    #[cfg(not(taskq_loom))]
    return shard_by(hasher.hash_one(id), SHARDS);
    #[cfg(taskq_loom)]
    {
        let _ = hasher;
        loom_shard(id)
    }
}

/// The shard of a hash, among `shards` (a power of two).
fn shard_by(hash: u64, shards: usize) -> usize {
    (hash >> 32) as usize & (shards - 1)
}

/// The shard of an id under loom: SipHash with fixed keys, the same in every execution. The
/// models rely on ids 1 and 2 falling in different shards (see the tests below).
#[cfg(any(taskq_loom, test))]
fn loom_shard<Q: Hash + ?Sized>(id: &Q) -> usize {
    let fixed = std::hash::BuildHasherDefault::<std::hash::DefaultHasher>::default();
    shard_by(fixed.hash_one(id), LOOM_SHARDS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::panic::catch_unwind;
    use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering::SeqCst};
    use std::sync::Arc;

    use crate::{RwLockTaskQueue, Task, TaskQueue};

    /// Where a [`Fickle`] id's code panics: `hash` while armed; `clone` once `clones` (the clones
    /// still allowed) reaches zero.
    #[derive(Debug)]
    struct Trap {
        hash: AtomicBool,
        clones: AtomicUsize,
    }

    /// An id whose `Hash` or `Clone` panics on demand; `Eq` compares the number.
    #[derive(Debug)]
    struct Fickle {
        n: u64,
        trap: Arc<Trap>,
    }

    impl Clone for Fickle {
        fn clone(&self) -> Self {
            let left = self.trap.clones.load(SeqCst);
            if left == 0 {
                panic!("K::clone panicked");
            }
            self.trap.clones.store(left.saturating_sub(1), SeqCst);
            Fickle {
                n: self.n,
                trap: Arc::clone(&self.trap),
            }
        }
    }

    impl PartialEq for Fickle {
        fn eq(&self, other: &Self) -> bool {
            self.n == other.n
        }
    }

    impl Eq for Fickle {}

    impl Hash for Fickle {
        fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
            if self.trap.hash.load(SeqCst) {
                panic!("K::hash panicked");
            }
            self.n.hash(state);
        }
    }

    fn fickle() -> (
        RwLockTaskQueue<Fickle, u64>,
        impl Fn(u64) -> Fickle,
        Arc<Trap>,
    ) {
        let trap = Arc::new(Trap {
            hash: AtomicBool::new(false),
            clones: AtomicUsize::new(usize::MAX),
        });
        let t = Arc::clone(&trap);
        let id = move |n| Fickle {
            n,
            trap: Arc::clone(&t),
        };
        (RwLockTaskQueue::new(), id, trap)
    }

    fn statuses(
        q: &RwLockTaskQueue<Fickle, u64>,
        id: impl Fn(u64) -> Fickle,
    ) -> Vec<Option<TaskStatus>> {
        (1..=3).map(|n| q.get_status(&id(n))).collect()
    }

    /// Runs `f`, which must panic with `message` in the mirror, which it gives up.
    fn panics_in_the_mirror<R>(
        q: &RwLockTaskQueue<Fickle, u64>,
        message: &str,
        f: impl FnOnce() -> R,
    ) {
        assert!(!q.state.mirror().given_up());
        let panic = catch_unwind(AssertUnwindSafe(f)).err().expect("it panics");
        assert_eq!(panic.downcast_ref::<&str>(), Some(&message));
        assert!(q.state.mirror().given_up(), "the mirror was given up");
    }

    /// A claim hashes its id only in the mirror (the core finds the task by the heap): if that
    /// panics, the mirror is given up, the claim is undone (the task queued again, in its
    /// place), and the panic goes on. Status reads then come from the core, and stay right.
    #[test]
    fn a_claim_whose_publication_panics_is_undone() {
        let (q, id, trap) = fickle();
        q.add_task(id(1), 5, 10).unwrap();
        q.add_task(id(2), 0, 20).unwrap();
        trap.hash.store(true, SeqCst);
        panics_in_the_mirror(&q, "K::hash panicked", || q.try_get_next_task());
        trap.hash.store(false, SeqCst);
        q.check_invariants().unwrap();
        let queued = Some(TaskStatus::Queued);
        assert_eq!(statuses(&q, &id), [queued, queued, None]);
        assert_eq!(q.len(), 2);
        let task = q.try_get_next_task().unwrap();
        assert_eq!((task.id.n, task.attempts), (1, 0), "back in its place");
        assert_eq!(q.get_status(&id(1)), Some(TaskStatus::Processing));
        q.complete_claim(&task.id, task.token()).unwrap();
        assert_eq!(
            statuses(&q, &id),
            [Some(TaskStatus::Completed), queued, None]
        );
        q.check_invariants().unwrap();
    }

    /// An add clones its id once in the core, then for the mirror: if that clone panics, the
    /// task stays added (the core's add is whole), the mirror is given up and the panic goes on.
    #[test]
    fn an_add_whose_publication_panics_is_kept() {
        let (q, id, trap) = fickle();
        q.add_task(id(1), 0, 10).unwrap();
        trap.clones.store(1, SeqCst); // the core's clone of id 2
        panics_in_the_mirror(&q, "K::clone panicked", || q.add_task(id(2), 0, 20));
        trap.clones.store(usize::MAX, SeqCst);
        q.check_invariants().unwrap();
        let queued = Some(TaskStatus::Queued);
        assert_eq!(statuses(&q, &id), [queued, queued, None]);
        assert_eq!(q.len(), 2);
        q.add_task(id(3), 9, 30).unwrap();
        assert_eq!(q.try_get_next_task().unwrap().id.n, 3);
        assert_eq!(
            statuses(&q, &id),
            [queued, queued, Some(TaskStatus::Processing)]
        );
        q.check_invariants().unwrap();
    }

    /// A batch's publication that panics half way (one map of a copy written, the next clone
    /// panics) never shows half a batch: the mirror is given up before the half-written map is
    /// unlocked, and reads come from the core, where the batch is whole.
    #[test]
    fn a_batch_whose_publication_panics_half_way_is_read_whole() {
        let (q, id, trap) = fickle();
        trap.clones.store(3 + 1, SeqCst); // the core's three clones, and one of the mirror's
        let batch = (1..=3).map(|n| Task::new(id(n), 0, n)).collect();
        panics_in_the_mirror(&q, "K::clone panicked", || q.try_add_tasks(batch));
        trap.clones.store(usize::MAX, SeqCst);
        q.check_invariants().unwrap();
        assert_eq!(statuses(&q, &id), [Some(TaskStatus::Queued); 3]);
        assert_eq!(q.len(), 3);
        let claimed = q.try_get_next_tasks(3).unwrap();
        assert_eq!(claimed.len(), 3);
        assert_eq!(statuses(&q, &id), [Some(TaskStatus::Processing); 3]);
        q.check_invariants().unwrap();
    }

    /// The loom models' batches (ids 1 and 2) span both shards, so that a batch published in
    /// two steps, or a flip of one shard without the other, can be seen.
    #[test]
    fn loom_models_span_both_shards() {
        assert_ne!(loom_shard(&1u64), loom_shard(&2u64));
    }
}
