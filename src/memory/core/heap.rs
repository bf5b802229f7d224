//! A 4-ary max-heap of task entries with lazy removal.
//!
//! Ordered by priority (higher first), then by sequence number (lower, i.e. older, first). The
//! key is stored inline in each entry, so ordering never touches a task record, and no position
//! is tracked: a cancelled task's entry, or the old entry of a re-prioritised task, stays in the
//! heap as a stale entry until it reaches the top (where the core drops it) or until the core
//! compacts the heap, which it does once stale entries outnumber the live ones (see
//! `Core::compact_heap`), so memory stays within a constant factor of the queued tasks.
//! A 4-ary heap is half as deep as a binary one and its four children share a cache line or two,
//! which is what a claim from a deep queue pays for. Single-threaded; the strategies guard it.

/// One heap entry: the ordering key, the slot of the task record it stands for, and the
/// record's version when the entry was pushed (an entry is live while they still match).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Entry {
    priority: i64,
    seq: u64,
    slot: u32,
    pub(crate) version: u32,
}

impl Entry {
    pub(crate) fn new(priority: i64, seq: u64, slot: usize, version: u32) -> Self {
        Entry {
            priority,
            seq,
            slot: u32::try_from(slot).expect("fewer than 2^32 task records"),
            version,
        }
    }

    pub(crate) fn priority(&self) -> i64 {
        self.priority
    }

    pub(crate) fn seq(&self) -> u64 {
        self.seq
    }

    pub(crate) fn slot(&self) -> usize {
        self.slot as usize
    }

    /// Whether `self` must be handed out before `other`.
    #[inline]
    pub(crate) fn before(&self, other: &Entry) -> bool {
        self.priority > other.priority || (self.priority == other.priority && self.seq < other.seq)
    }
}

const ARITY: usize = 4;

#[derive(Debug, Default)]
pub(crate) struct Heap {
    entries: Vec<Entry>,
}

impl Heap {
    /// Entries, live and stale.
    pub(crate) fn len(&self) -> usize {
        self.entries.len()
    }

    /// The entries in no particular order.
    pub(crate) fn entries(&self) -> &[Entry] {
        &self.entries
    }

    pub(crate) fn push(&mut self, entry: Entry) {
        self.entries.push(entry);
        self.sift_up(self.entries.len() - 1);
    }

    /// The best entry, without removing it.
    #[inline]
    pub(crate) fn peek(&self) -> Option<Entry> {
        self.entries.first().copied()
    }

    /// Removes the best entry.
    pub(crate) fn pop(&mut self) -> Option<Entry> {
        let last = self.entries.pop()?;
        if self.entries.is_empty() {
            return Some(last);
        }
        let top = std::mem::replace(&mut self.entries[0], last);
        self.sift_down(0);
        Some(top)
    }

    /// Keeps only the entries `keep` says, renamed through `rename` (for slots that moved), and
    /// restores the heap order in O(n).
    pub(crate) fn rebuild(&mut self, mut keep: impl FnMut(&mut Entry) -> bool) {
        self.entries.retain_mut(|e| keep(e));
        for at in (0..self.entries.len() / ARITY + 1).rev() {
            if at < self.entries.len() {
                self.sift_down(at);
            }
        }
    }

    /// Points an entry at the slot its record moved to.
    pub(crate) fn rename(entry: &mut Entry, slot: usize) {
        entry.slot = u32::try_from(slot).expect("fewer than 2^32 task records");
    }

    /// Checks the heap order: no entry comes before its parent.
    pub(crate) fn check_order(&self) -> Result<(), String> {
        for (at, entry) in self.entries.iter().enumerate().skip(1) {
            let parent = &self.entries[(at - 1) / ARITY];
            if entry.before(parent) {
                return Err(format!(
                    "heap order broken: entry {at} (slot {}) comes before its parent",
                    entry.slot
                ));
            }
        }
        Ok(())
    }

    /// Drops spare capacity once the heap has shrunk to a quarter of it, so memory follows the
    /// number of live tasks after a burst: down to twice the length. Capacities up to 64 entries
    /// are left alone.
    pub(crate) fn shrink_if_sparse(&mut self) {
        if self.entries.capacity() > 64 && self.entries.len() * 4 < self.entries.capacity() {
            self.entries.shrink_to(self.entries.len() * 2);
        }
    }

    /// Moves the entry at `at` up to its place, shifting parents down into the hole.
    fn sift_up(&mut self, mut at: usize) {
        let moving = self.entries[at];
        while at > 0 {
            let parent = (at - 1) / ARITY;
            let above = self.entries[parent];
            if !moving.before(&above) {
                break;
            }
            self.entries[at] = above;
            at = parent;
        }
        self.entries[at] = moving;
    }

    /// Moves the entry at `at` down to its place, shifting the best child up into the hole.
    fn sift_down(&mut self, mut at: usize) {
        let moving = self.entries[at];
        let n = self.entries.len();
        loop {
            let first = ARITY * at + 1;
            if first >= n {
                break;
            }
            let mut child = first;
            for c in first + 1..(first + ARITY).min(n) {
                if self.entries[c].before(&self.entries[child]) {
                    child = c;
                }
            }
            let below = self.entries[child];
            if !below.before(&moving) {
                break;
            }
            self.entries[at] = below;
            at = child;
        }
        self.entries[at] = moving;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(priority: i64, seq: u64, slot: usize) -> Entry {
        Entry::new(priority, seq, slot, 0)
    }

    #[test]
    fn pops_by_priority_then_age() {
        let mut h = Heap::default();
        let prios = [3, -1, 7, 3, i64::MAX, i64::MIN, 0, 7, 3, 3, 3];
        for (i, &p) in prios.iter().enumerate() {
            h.push(e(p, i as u64, i));
        }
        assert_eq!(h.check_order(), Ok(()));
        let order: Vec<usize> = std::iter::from_fn(|| h.pop().map(|x| x.slot())).collect();
        assert_eq!(order, vec![4, 2, 7, 0, 3, 8, 9, 10, 6, 1, 5]);
        assert_eq!(h.len(), 0);
        assert_eq!(h.pop(), None);
    }

    #[test]
    fn rebuild_keeps_what_it_is_told_in_order() {
        let mut h = Heap::default();
        for i in 0..100u64 {
            h.push(e((i * 7919 % 13) as i64, i, i as usize));
        }
        h.rebuild(|x| {
            let keep = x.slot() % 3 != 0;
            Heap::rename(x, x.slot() + 1000);
            keep
        });
        assert_eq!(h.check_order(), Ok(()));
        assert_eq!(h.len(), 66);
        let mut last: Option<Entry> = None;
        while let Some(x) = h.pop() {
            assert!(x.slot() >= 1000 && (x.slot() - 1000) % 3 != 0);
            if let Some(l) = last {
                assert!(l.before(&x), "{l:?} then {x:?}");
            }
            last = Some(x);
        }
    }

    fn heap_with_capacity(capacity: usize, len: usize) -> Heap {
        let mut h = Heap {
            entries: Vec::with_capacity(capacity),
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
    }
}
