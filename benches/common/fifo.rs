// The `crossbeam` contender: an unbounded crossbeam-channel of (id, payload) pairs, as an
// UNORDERED FIFO ceiling. It ignores priority and keeps no status, so it only runs the workloads
// that need neither (W1, W2, W5): add = send, claim = recv, complete = nothing.

use std::time::Duration;

use crossbeam_channel::{Receiver, Sender};
use taskq::TaskStatus;

use super::BenchQueue;

/// A crossbeam channel dressed up as a task queue (see the top of this file).
pub struct CrossbeamFifo<K, P> {
    tx: Sender<(K, P)>,
    rx: Receiver<(K, P)>,
}

impl<K, P> CrossbeamFifo<K, P> {
    /// An empty, unbounded channel.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        CrossbeamFifo { tx, rx }
    }
}

impl<K, P> Default for CrossbeamFifo<K, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl BenchQueue for CrossbeamFifo<u64, u64> {
    fn add(&self, id: u64, _priority: i64, payload: u64) -> bool {
        // Both ends live in `self`, so the channel cannot be disconnected.
        self.tx.send((id, payload)).is_ok()
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        match timeout {
            None => self.rx.recv().ok(),
            Some(t) => self.rx.recv_timeout(t).ok(),
        }
    }

    /// Nothing to record.
    fn complete(&self, _id: u64) -> bool {
        true
    }

    /// Not supported: the channel cannot take a task back.
    fn cancel(&self, _id: u64) -> bool {
        false
    }

    /// Not tracked: a channel forgets a task once it is sent.
    fn status(&self, _id: u64) -> Option<TaskStatus> {
        None
    }

    fn queued(&self) -> usize {
        self.rx.len()
    }
}
