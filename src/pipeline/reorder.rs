//! [`ReorderBuffer`]: items numbered 0, 1, 2, … arrive in any order and leave in order, with a
//! bound on how far ahead of the next one to leave an item may be.

use std::collections::VecDeque;
use std::error::Error;
use std::fmt;

/// A bounded reorder buffer: results numbered by sequence (0, 1, 2, …) are
/// [`insert`](Self::insert)ed in whatever order they finish and [`pop`](Self::pop)ped in sequence
/// order.
///
/// The buffer accepts only sequence numbers in its *window*, `next_seq() .. next_seq() + window`,
/// so it never holds more than `window` items: a producer that numbers its inputs and admits
/// input `s` only once [`accepts`](Self::accepts)`(s)` (as the [`Pipeline`](super::Pipeline)'s
/// feeder does) bounds the whole reordering memory. A sequence number that will never have an
/// item (an input filtered out, or failed) is [`skip`](Self::skip)ped so that the ones after it can
/// leave. Single-threaded: share it behind a lock.
///
/// ```
/// use taskq::pipeline::ReorderBuffer;
///
/// let mut buf = ReorderBuffer::new(4);
/// buf.insert(2, "c").unwrap();
/// buf.insert(0, "a").unwrap();
/// assert_eq!(buf.pop(), Some((0, "a")));
/// assert_eq!(buf.pop(), None); // 1 has not arrived: 2 waits
/// buf.skip(1).unwrap(); // 1 will never come
/// assert_eq!(buf.pop(), Some((2, "c")));
/// assert_eq!(buf.next_seq(), 3);
/// assert!(buf.insert(9, "too far ahead").is_err()); // outside 3..7
/// ```
#[derive(Debug, Clone)]
pub struct ReorderBuffer<T> {
    /// The sequence number of `slots[0]`: the next one to leave.
    next: u64,
    window: usize,
    /// `slots[i]` is sequence `next + i`; never longer than `window`.
    slots: VecDeque<Slot<T>>,
    /// Items held (`Slot::Item`s in `slots`).
    held: usize,
}

#[derive(Debug, Clone)]
enum Slot<T> {
    Empty,
    Item(T),
    Skipped,
}

impl<T> ReorderBuffer<T> {
    /// An empty buffer whose window is `window` sequence numbers, starting at 0.
    ///
    /// # Panics
    /// If `window` is 0 (nothing could ever be inserted).
    ///
    /// ```
    /// let buf = taskq::pipeline::ReorderBuffer::<String>::new(64);
    /// assert_eq!((buf.next_seq(), buf.window(), buf.len()), (0, 64, 0));
    /// ```
    pub fn new(window: usize) -> Self {
        assert!(window > 0, "a reorder buffer's window must be at least 1");
        ReorderBuffer {
            next: 0,
            window,
            slots: VecDeque::new(),
            held: 0,
        }
    }

    /// The window: how many sequence numbers, from [`next_seq`](Self::next_seq) on, are accepted.
    ///
    /// ```
    /// assert_eq!(taskq::pipeline::ReorderBuffer::<()>::new(8).window(), 8);
    /// ```
    pub fn window(&self) -> usize {
        self.window
    }

    /// The sequence number that leaves next: every one below it has left (or was skipped).
    ///
    /// ```
    /// let mut buf = taskq::pipeline::ReorderBuffer::new(8);
    /// buf.insert(0, 'a').unwrap();
    /// buf.pop();
    /// assert_eq!(buf.next_seq(), 1);
    /// ```
    pub fn next_seq(&self) -> u64 {
        self.next
    }

    /// Whether `seq` is inside the window and has no item or skip yet: whether
    /// [`insert`](Self::insert)`(seq, _)` would succeed.
    ///
    /// ```
    /// let mut buf = taskq::pipeline::ReorderBuffer::new(2);
    /// assert!(buf.accepts(0) && buf.accepts(1) && !buf.accepts(2));
    /// buf.insert(1, ()).unwrap();
    /// assert!(!buf.accepts(1)); // taken
    /// ```
    pub fn accepts(&self, seq: u64) -> bool {
        match self.offset(seq) {
            Ok(i) => matches!(self.slots.get(i), None | Some(Slot::Empty)),
            Err(_) => false,
        }
    }

    /// Items held, waiting for an earlier sequence number.
    ///
    /// ```
    /// let mut buf = taskq::pipeline::ReorderBuffer::new(8);
    /// buf.insert(3, ()).unwrap();
    /// assert_eq!(buf.len(), 1);
    /// ```
    pub fn len(&self) -> usize {
        self.held
    }

    /// Whether no item is held.
    ///
    /// ```
    /// assert!(taskq::pipeline::ReorderBuffer::<u8>::new(1).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.held == 0
    }

    /// Stores the item of sequence number `seq`, to leave in its turn. Refused, with the item
    /// handed back, if `seq` already left ([`ReorderError::Released`]), is past the window
    /// ([`ReorderError::OutOfWindow`]) or already has an item or a skip
    /// ([`ReorderError::Duplicate`]).
    ///
    /// ```
    /// use taskq::pipeline::{ReorderBuffer, ReorderError};
    ///
    /// let mut buf = ReorderBuffer::new(2);
    /// buf.insert(0, "a").unwrap();
    /// assert_eq!(buf.insert(0, "again"), Err(ReorderError::Duplicate("again")));
    /// assert_eq!(buf.insert(2, "far"), Err(ReorderError::OutOfWindow("far")));
    /// buf.pop();
    /// assert_eq!(buf.insert(0, "late").unwrap_err().into_inner(), "late");
    /// ```
    pub fn insert(&mut self, seq: u64, item: T) -> Result<(), ReorderError<T>> {
        let i = match self.free_slot(seq) {
            Ok(i) => i,
            Err(e) => return Err(e.map(|()| item)),
        };
        self.slots[i] = Slot::Item(item);
        self.held += 1;
        Ok(())
    }

    /// Marks sequence number `seq` as one that will have no item, so that later ones can leave
    /// past it. Refused as [`insert`](Self::insert) would be.
    ///
    /// ```
    /// let mut buf = taskq::pipeline::ReorderBuffer::new(4);
    /// buf.skip(0).unwrap();
    /// buf.insert(1, 'b').unwrap();
    /// assert_eq!(buf.pop(), Some((1, 'b')));
    /// assert!(buf.skip(0).is_err()); // already passed
    /// ```
    pub fn skip(&mut self, seq: u64) -> Result<(), ReorderError<()>> {
        let i = self.free_slot(seq)?;
        self.slots[i] = Slot::Skipped;
        Ok(())
    }

    /// The item of [`next_seq`](Self::next_seq), with its sequence number, if it has arrived
    /// (skipped sequence numbers are passed over); `None` if it has not.
    ///
    /// ```
    /// let mut buf = taskq::pipeline::ReorderBuffer::new(4);
    /// buf.insert(1, 'b').unwrap();
    /// assert_eq!(buf.pop(), None);
    /// buf.insert(0, 'a').unwrap();
    /// assert_eq!(buf.pop(), Some((0, 'a')));
    /// assert_eq!(buf.pop(), Some((1, 'b')));
    /// ```
    pub fn pop(&mut self) -> Option<(u64, T)> {
        loop {
            match self.slots.front()? {
                Slot::Empty => return None,
                Slot::Skipped => {
                    self.slots.pop_front();
                    self.next += 1;
                }
                Slot::Item(_) => {
                    let Some(Slot::Item(item)) = self.slots.pop_front() else {
                        unreachable!("just looked")
                    };
                    let seq = self.next;
                    self.next += 1;
                    self.held -= 1;
                    return Some((seq, item));
                }
            }
        }
    }

    /// Takes every held item out, in sequence order, leaving the buffer empty (skips are
    /// forgotten too); `next_seq` does not move, so a sequence number taken this way can be
    /// inserted again. For accounting for the items that can no longer leave when a run is
    /// abandoned.
    ///
    /// ```
    /// let mut buf = taskq::pipeline::ReorderBuffer::new(8);
    /// buf.insert(5, 'f').unwrap();
    /// buf.insert(2, 'c').unwrap();
    /// assert_eq!(buf.take_held(), [(2, 'c'), (5, 'f')]);
    /// assert!(buf.is_empty());
    /// ```
    pub fn take_held(&mut self) -> Vec<(u64, T)> {
        let next = self.next;
        let held = std::mem::take(&mut self.slots)
            .into_iter()
            .enumerate()
            .filter_map(|(i, slot)| match slot {
                Slot::Item(item) => Some((next + i as u64, item)),
                _ => None,
            })
            .collect();
        self.held = 0;
        held
    }

    /// The index in `slots` of `seq`, an empty slot inside the window (the deque grown to reach
    /// it), or why `seq` cannot be filled.
    fn free_slot(&mut self, seq: u64) -> Result<usize, ReorderError<()>> {
        let i = match self.offset(seq) {
            Ok(i) => i,
            Err(Where::Behind) => return Err(ReorderError::Released(())),
            Err(Where::Ahead) => return Err(ReorderError::OutOfWindow(())),
        };
        if i >= self.slots.len() {
            self.slots.resize_with(i + 1, || Slot::Empty);
        }
        match self.slots[i] {
            Slot::Empty => Ok(i),
            _ => Err(ReorderError::Duplicate(())),
        }
    }

    /// Where `seq` falls: its offset from `next`, or which side of the window it is on.
    fn offset(&self, seq: u64) -> Result<usize, Where> {
        if seq < self.next {
            return Err(Where::Behind);
        }
        match usize::try_from(seq - self.next) {
            Ok(i) if i < self.window => Ok(i),
            _ => Err(Where::Ahead),
        }
    }
}

enum Where {
    Behind,
    Ahead,
}

/// Why a [`ReorderBuffer`] refused an [`insert`](ReorderBuffer::insert) or
/// [`skip`](ReorderBuffer::skip); the item comes back.
///
/// ```
/// use taskq::pipeline::{ReorderBuffer, ReorderError};
///
/// let mut buf = ReorderBuffer::new(1);
/// let err = buf.insert(1, "b").unwrap_err();
/// assert_eq!(err, ReorderError::OutOfWindow("b"));
/// assert_eq!(err.to_string(), "the sequence number is past the reorder window");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReorderError<T> {
    /// The sequence number already left the buffer (or was skipped past).
    Released(T),
    /// The sequence number is at or past `next_seq() + window()`.
    OutOfWindow(T),
    /// The sequence number already has an item or a skip.
    Duplicate(T),
}

impl<T> ReorderError<T> {
    /// Takes back the item that was refused.
    ///
    /// ```
    /// let e = taskq::pipeline::ReorderError::Duplicate(7);
    /// assert_eq!(e.into_inner(), 7);
    /// ```
    pub fn into_inner(self) -> T {
        match self {
            ReorderError::Released(t)
            | ReorderError::OutOfWindow(t)
            | ReorderError::Duplicate(t) => t,
        }
    }
}

impl<T> ReorderError<T> {
    /// The same reason with the item mapped by `f`.
    ///
    /// ```
    /// let e = taskq::pipeline::ReorderError::Released(());
    /// assert_eq!(e.map(|()| "item"), taskq::pipeline::ReorderError::Released("item"));
    /// ```
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> ReorderError<U> {
        match self {
            ReorderError::Released(t) => ReorderError::Released(f(t)),
            ReorderError::OutOfWindow(t) => ReorderError::OutOfWindow(f(t)),
            ReorderError::Duplicate(t) => ReorderError::Duplicate(f(t)),
        }
    }
}

impl<T> fmt::Display for ReorderError<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ReorderError::Released(_) => "the sequence number already left the reorder buffer",
            ReorderError::OutOfWindow(_) => "the sequence number is past the reorder window",
            ReorderError::Duplicate(_) => "the sequence number already has an item",
        })
    }
}

impl<T: fmt::Debug> Error for ReorderError<T> {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::SplitMix64;

    /// Random arrival orders, with some sequence numbers skipped: everything leaves exactly once,
    /// in order, and the buffer never holds more than its window.
    #[test]
    fn random_orders_leave_in_order() {
        let mut rng = SplitMix64::new(7);
        for round in 0..200 {
            let n = 1 + (rng.next_u64() % 64) as usize;
            let window = 1 + (rng.next_u64() % 8) as usize;
            let skipped: Vec<bool> = (0..n).map(|_| rng.next_u64() % 5 == 0).collect();
            let mut buf = ReorderBuffer::new(window);
            let mut pending: Vec<u64> = Vec::new(); // admitted, not yet inserted
            let mut admitted = 0u64;
            let mut out = Vec::new();
            while (admitted as usize) < n || !pending.is_empty() {
                // Admit what the window allows, as the pipeline's feeder does.
                while (admitted as usize) < n && buf.accepts(admitted) && pending.len() < window {
                    pending.push(admitted);
                    admitted += 1;
                }
                // Finish one admitted sequence number at random.
                let k = (rng.next_u64() % pending.len() as u64) as usize;
                let seq = pending.swap_remove(k);
                if skipped[seq as usize] {
                    buf.skip(seq).unwrap();
                } else {
                    buf.insert(seq, seq * 10).unwrap();
                }
                assert!(buf.len() <= window, "round {round}");
                while let Some((s, v)) = buf.pop() {
                    assert_eq!(v, s * 10);
                    out.push(s);
                }
            }
            let want: Vec<u64> = (0..n as u64).filter(|s| !skipped[*s as usize]).collect();
            assert_eq!(out, want, "round {round}");
            assert!(buf.is_empty());
            assert_eq!(buf.next_seq(), n as u64);
        }
    }

    #[test]
    fn refusals_hand_the_item_back() {
        let mut buf = ReorderBuffer::new(3);
        buf.insert(1, "b").unwrap();
        assert_eq!(buf.skip(1), Err(ReorderError::Duplicate(())));
        assert_eq!(buf.insert(3, "d"), Err(ReorderError::OutOfWindow("d")));
        assert_eq!(
            buf.insert(u64::MAX, "z"),
            Err(ReorderError::OutOfWindow("z"))
        );
        buf.skip(0).unwrap();
        assert_eq!(buf.pop(), Some((1, "b")));
        assert_eq!(buf.insert(1, "b2"), Err(ReorderError::Released("b2")));
        assert_eq!(buf.skip(0), Err(ReorderError::Released(())));
        buf.insert(4, "e").unwrap(); // the window moved to 2..5
        assert_eq!(buf.take_held(), [(4, "e")]);
        buf.insert(4, "e again").unwrap(); // taken out: free again
        assert_eq!(buf.next_seq(), 2);
    }

    #[test]
    #[should_panic(expected = "at least 1")]
    fn a_zero_window_is_refused() {
        let _ = ReorderBuffer::<()>::new(0);
    }
}
