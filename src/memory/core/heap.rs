//! An indexed binary max-heap of task slots.
//!
//! Ordered by priority (higher first), then by sequence number (lower, i.e. older, first). Each slot's
//! position is tracked, so a slot can be removed or re-prioritised in O(log n): cancelled and
//! re-prioritised tasks leave no tombstones behind. Single-threaded; the strategies guard it.

/// One heap entry: the ordering key and the slot of the task record it stands for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    pub(crate) priority: i64,
    pub(crate) seq: u64,
    pub(crate) slot: usize,
}

impl Entry {
    /// Whether `self` must be handed out before `other`.
    #[inline]
    fn before(&self, other: &Entry) -> bool {
        self.priority > other.priority || (self.priority == other.priority && self.seq < other.seq)
    }
}

const ABSENT: usize = usize::MAX;

#[derive(Debug, Default)]
pub(crate) struct IndexedHeap {
    entries: Vec<Entry>,
    /// `pos[slot]` is the slot's index in `entries`, or `ABSENT`.
    pos: Vec<usize>,
}

impl IndexedHeap {
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    pub(crate) fn contains(&self, slot: usize) -> bool {
        self.pos.get(slot).is_some_and(|&p| p != ABSENT)
    }

    /// The entries in no particular order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        debug_assert!(!self.contains(entry.slot));
        if entry.slot >= self.pos.len() {
            self.pos.resize(entry.slot + 1, ABSENT);
        }
        self.entries.push(entry);
        let at = self.entries.len() - 1;
        self.pos[entry.slot] = at;
        self.sift_up(at);
    }

    /// The best entry, without removing it.
    pub(crate) fn peek(&self) -> Option<Entry> {
        self.entries.first().copied()
    }

    /// Checks the heap order: no entry comes before its parent.
    pub(crate) fn check_order(&self) -> Result<(), String> {
        for (at, entry) in self.entries.iter().enumerate().skip(1) {
            let parent = &self.entries[(at - 1) / 2];
            if entry.before(parent) {
                return Err(format!(
                    "heap order broken: entry {at} (slot {}) comes before its parent",
                    entry.slot
                ));
            }
        }
        for (at, entry) in self.entries.iter().enumerate() {
            if self.pos.get(entry.slot) != Some(&at) {
                return Err(format!("heap position of slot {} is stale", entry.slot));
            }
        }
        Ok(())
    }

    #[cfg(test)]
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        if self.entries.is_empty() {
            return None;
        }
        Some(self.remove_at(0))
    }

    /// Removes the slot's entry, wherever it is.
    pub(crate) fn remove(&mut self, slot: usize) -> Option<Entry> {
        let at = *self.pos.get(slot)?;
        (at != ABSENT).then(|| self.remove_at(at))
    }

    /// Changes the slot's priority and restores the heap order. Returns false if the slot is absent.
    pub(crate) fn set_priority(&mut self, slot: usize, priority: i64) -> bool {
        let Some(&at) = self.pos.get(slot) else {
            return false;
        };
        if at == ABSENT {
            return false;
        }
        let old = self.entries[at].priority;
        self.entries[at].priority = priority;
        if priority > old {
            self.sift_up(at);
        } else {
            self.sift_down(at);
        }
        true
    }

    /// Drops spare capacity once the heap has shrunk to a quarter of it, so memory follows the
    /// number of live tasks after a burst: down to twice the length. Capacities up to 64 entries
    /// are left alone.
    pub(crate) fn shrink_if_sparse(&mut self) {
        if self.entries.capacity() > 64 && self.entries.len() * 4 < self.entries.capacity() {
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }

    /// Renames every slot through `remap` (old slot → new slot) after the records were compacted.
    pub(crate) fn remap(&mut self, remap: &[usize], slots: usize) {
        self.pos = vec![ABSENT; slots];
        for (at, entry) in self.entries.iter_mut().enumerate() {
            entry.slot = remap[entry.slot];
            self.pos[entry.slot] = at;
        }
    }

    fn remove_at(&mut self, at: usize) -> Entry {
        let removed = self.entries.swap_remove(at);
        self.pos[removed.slot] = ABSENT;
        if at < self.entries.len() {
            // The entry moved into `at` may belong above or below it.
            let at = self.sift_up(at);
            self.sift_down(at);
        }
        removed
    }

    /// Moves the entry at `at` up to its place, shifting parents down into the hole; each moved
    /// entry's position is written once. Returns where it landed.
    fn sift_up(&mut self, mut at: usize) -> usize {
        let moving = self.entries[at];
        while at > 0 {
            let parent = (at - 1) / 2;
            let above = self.entries[parent];
            if !moving.before(&above) {
                break;
            }
            self.place(at, above);
            at = parent;
        }
        self.place(at, moving);
        at
    }

    /// Moves the entry at `at` down to its place, shifting the better child up into the hole.
    fn sift_down(&mut self, mut at: usize) {
        let moving = self.entries[at];
        let n = self.entries.len();
        loop {
            let left = 2 * at + 1;
            if left >= n {
                break;
            }
            let right = left + 1;
            let child = if right < n && self.entries[right].before(&self.entries[left]) {
                right
            } else {
                left
            };
            let below = self.entries[child];
            if !below.before(&moving) {
                break;
            }
            self.place(at, below);
            at = child;
        }
        self.place(at, moving);
    }

    #[inline]
    fn place(&mut self, at: usize, entry: Entry) {
        self.entries[at] = entry;
        self.pos[entry.slot] = at;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(priority: i64, seq: u64, slot: usize) -> Entry {
        Entry {
            priority,
            seq,
            slot,
        }
    }

    #[test]
    fn pops_by_priority_then_age_and_tracks_positions() {
        let mut h = IndexedHeap::default();
        let prios = [3, -1, 7, 3, i64::MAX, i64::MIN, 0, 7];
        for (i, &p) in prios.iter().enumerate() {
            h.push(e(p, i as u64, i));
        }
        assert!(h.remove(1).is_some());
        assert!(h.set_priority(6, 8));
        assert!(!h.contains(1));
        let order: Vec<usize> = std::iter::from_fn(|| h.pop().map(|x| x.slot)).collect();
        assert_eq!(order, vec![4, 6, 2, 7, 0, 3, 5]);
        assert_eq!(h.len(), 0);
        assert!(h.remove(3).is_none());
    }

    fn heap_with_capacity(capacity: usize, len: usize) -> IndexedHeap {
        let mut h = IndexedHeap {
            entries: Vec::with_capacity(capacity),
            pos: Vec::new(),
        };
        for i in 0..len {
            h.push(e(i as i64 % 7, i as u64, i));
        }
        h
    }

    #[test]
    fn shrinks_to_twice_the_length_once_a_quarter_full() {
        // Well under a quarter: shrinks to twice the length.
        let mut h = heap_with_capacity(1024, 10);
        let before = h.entries.capacity();
        h.shrink_if_sparse();
        let after = h.entries.capacity();
        assert!(
            after < before && (20..64).contains(&after),
            "{before} -> {after}"
        );
        // Exactly a quarter: left alone; one less: shrunk.
        let mut h = heap_with_capacity(1024, 256);
        let before = h.entries.capacity();
        h.shrink_if_sparse();
        assert_eq!(h.entries.capacity(), before);
        h.pop();
        h.shrink_if_sparse();
        assert!((510..before).contains(&h.entries.capacity()));
        // Small capacities are left alone.
        let mut h = heap_with_capacity(64, 5);
        let before = h.entries.capacity();
        h.shrink_if_sparse();
        assert_eq!(h.entries.capacity(), before);
        assert!(h.check_order().is_ok());
    }

    #[test]
    fn check_order_reports_a_broken_heap() {
        let mut h = heap_with_capacity(16, 10);
        assert_eq!(h.check_order(), Ok(()));
        h.entries[0].priority = i64::MIN; // the root now comes after its children
        assert!(h.check_order().unwrap_err().contains("order"));
        let mut h = heap_with_capacity(16, 10);
        h.pos[h.entries[3].slot] = 5; // a stale position
        assert!(h.check_order().unwrap_err().contains("position"));
    }
}
