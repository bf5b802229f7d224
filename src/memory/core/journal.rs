//! What the core tells a strategy that publishes statuses outside its lock (the `RwLock`
//! strategy's status mirror, `memory/mirror.rs`): which records changed status in the current
//! write, and which ids were dropped; and the index's hasher, shared so that the mirror hashes ids
//! as the index does (a queue built with SipHash against hash flooding keeps it everywhere).
//!
//! The journal is off (`None` in the core) for the other strategies, which pay one branch per
//! status change for it. While on, every place the core sets a record's status or removes a
//! record notes it here (`Core::journal_slot`, `Core::remove_finished`), and slot compaction
//! renames the slots noted; the mirror reads it under the same lock, at the end of the write.
//! A scheduled task falling due needs no entry: the mirror keeps the due time and reads the
//! clock, as `Core::status` does.

use std::hash::BuildHasher;
use std::sync::Arc;

/// Status changes: records that changed status (by slot) and ids that were removed.
#[derive(Debug)]
pub(crate) struct Changes<K> {
    /// Slots whose record changed status (or was created). A slot may appear more than once, or
    /// be free by the time it is applied (its record was then removed, and its id is in
    /// `removed`), or hold another task's record by then; the mirror applies the record each
    /// slot holds *then*, after the removals.
    pub(crate) changed: Vec<usize>,
    /// The ids of records removed (forgotten, or dropped by retention), moved out of the record:
    /// no clone. An id removed and added again is in both lists.
    pub(crate) removed: Vec<K>,
}

impl<K> Default for Changes<K> {
    fn default() -> Self {
        Changes {
            changed: Vec::new(),
            removed: Vec::new(),
        }
    }
}

impl<K> Changes<K> {
    pub(crate) fn is_empty(&self) -> bool {
        self.changed.is_empty() && self.removed.is_empty()
    }

    pub(crate) fn len(&self) -> usize {
        self.changed.len() + self.removed.len()
    }

    pub(crate) fn clear(&mut self) {
        self.changed.clear();
        self.removed.clear();
    }

    /// Moves `other`'s changes to the end of these.
    pub(crate) fn append(&mut self, other: &mut Changes<K>) {
        self.changed.append(&mut other.changed);
        self.removed.append(&mut other.removed);
    }

    /// The slots were compacted: `remap[old]` is the new slot, `usize::MAX` for a removed
    /// record, whose id is in the journal's `current.removed` already.
    fn remap(&mut self, remap: &[usize]) {
        self.changed.retain_mut(|slot| {
            *slot = remap[*slot];
            *slot != usize::MAX
        });
    }
}

/// What the `RwLock` strategy's status mirror (`memory/mirror.rs`) still has to apply: this
/// write's changes, and per shard of the mirror the changes its back copy lacks.
#[derive(Debug)]
pub(crate) struct Journal<K> {
    /// The changes of the current write.
    pub(crate) current: Changes<K>,
    /// Per shard: the changes its back copy lacks (made up when it is next written).
    pub(crate) lag: Vec<Changes<K>>,
    /// The shards whose `lag` may not be empty, one bit each.
    pub(crate) lagging: u32,
    /// Per shard: room to sort the current write's changes into (empty between writes).
    pub(crate) sorted: Vec<Changes<K>>,
}

impl<K> Journal<K> {
    pub(crate) fn new(shards: usize) -> Self {
        Journal {
            current: Changes::default(),
            lag: (0..shards).map(|_| Changes::default()).collect(),
            lagging: 0,
            sorted: (0..shards).map(|_| Changes::default()).collect(),
        }
    }

    /// The slots were compacted (see [`Changes::remap`]).
    pub(crate) fn remap(&mut self, remap: &[usize]) {
        self.current.remap(remap);
        for changes in self.lag.iter_mut().chain(&mut self.sorted) {
            changes.remap(remap);
        }
    }
}

/// The core's `BuildHasher`, behind an `Arc` so that the status mirror can hash with the very
/// same one (a `BuildHasher` need not be `Clone`). Immutable once built, so a plain `Arc`.
#[derive(Debug)]
pub(crate) struct SharedHasher<S>(Arc<S>);

impl<S> SharedHasher<S> {
    pub(crate) fn new(hasher: S) -> Self {
        SharedHasher(Arc::new(hasher))
    }
}

impl<S> Clone for SharedHasher<S> {
    fn clone(&self) -> Self {
        SharedHasher(Arc::clone(&self.0))
    }
}

impl<S: BuildHasher> BuildHasher for SharedHasher<S> {
    type Hasher = S::Hasher;

    #[inline]
    fn build_hasher(&self) -> S::Hasher {
        self.0.build_hasher()
    }
}
