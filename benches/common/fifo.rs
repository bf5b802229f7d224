// The `crossbeam` contender: an unbounded crossbeam-channel of tasks behind `TaskQueue`, as an
// UNORDERED FIFO ceiling. It ignores priority and keeps no status, so it only runs the workloads
// that need neither (W1, W2, W5): add = send, claim = recv, complete = nothing.

use std::sync::Arc;
use std::time::Duration;

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TryRecvError};
use taskq::{
    AddError, AddTimeoutError, ClaimError, Snapshot, Stats, Task, TaskError, TaskQueue, TaskStatus,
    TryAddError,
};

/// A crossbeam channel dressed up as a task queue (see the top of this file).
pub struct CrossbeamFifo<K, P> {
    tx: Sender<Task<K, P>>,
    rx: Receiver<Task<K, P>>,
}

impl<K, P> CrossbeamFifo<K, P> {
    /// An empty, unbounded channel.
    pub fn new() -> Self {
        let (tx, rx) = crossbeam_channel::unbounded();
        CrossbeamFifo { tx, rx }
    }

    fn send(&self, id: K, priority: i64, payload: P) {
        let task = Task {
            id,
            priority,
            payload: Arc::new(payload),
            attempts: 0,
        };
        // Both ends live in `self`, so the channel cannot be disconnected.
        self.tx.send(task).expect("receiver alive");
    }
}

impl<K, P> Default for CrossbeamFifo<K, P> {
    fn default() -> Self {
        Self::new()
    }
}

impl<K: Send + Sync, P: Send + Sync> TaskQueue<K, P> for CrossbeamFifo<K, P> {
    fn add_task(&self, id: K, priority: i64, payload: P) -> Result<(), AddError<P>> {
        self.send(id, priority, payload);
        Ok(())
    }

    fn try_add_task(&self, id: K, priority: i64, payload: P) -> Result<(), TryAddError<P>> {
        self.send(id, priority, payload);
        Ok(())
    }

    fn add_task_timeout(
        &self,
        id: K,
        priority: i64,
        payload: P,
        _timeout: Duration,
    ) -> Result<(), AddTimeoutError<P>> {
        self.send(id, priority, payload);
        Ok(())
    }

    fn get_next_task(&self, timeout: Option<Duration>) -> Result<Task<K, P>, ClaimError> {
        match timeout {
            None => self.rx.recv().map_err(|_| ClaimError::ShutDown),
            Some(t) => self.rx.recv_timeout(t).map_err(|e| match e {
                RecvTimeoutError::Timeout => ClaimError::Timeout,
                RecvTimeoutError::Disconnected => ClaimError::ShutDown,
            }),
        }
    }

    fn try_get_next_task(&self) -> Result<Task<K, P>, ClaimError> {
        self.rx.try_recv().map_err(|e| match e {
            TryRecvError::Empty => ClaimError::Empty,
            TryRecvError::Disconnected => ClaimError::ShutDown,
        })
    }

    /// Not tracked: a channel forgets a task once it is sent.
    fn get_status(&self, _id: &K) -> Option<TaskStatus> {
        None
    }

    /// Nothing to record.
    fn complete_task(&self, _id: &K) -> Result<(), TaskError> {
        Ok(())
    }

    /// Not supported: the channel no longer holds the task.
    fn fail_task(&self, _id: &K) -> Result<TaskStatus, TaskError> {
        Err(TaskError::NotFound)
    }

    /// Not supported.
    fn cancel_task(&self, _id: &K) -> bool {
        false
    }

    /// Not supported: a FIFO has no priorities.
    fn update_priority(&self, _id: &K, _priority: i64) -> Result<(), TaskError> {
        Err(TaskError::NotFound)
    }

    fn forget_task(&self, _id: &K) -> Result<(), TaskError> {
        Err(TaskError::NotFound)
    }

    /// Not supported (a channel closes when its sender is dropped).
    fn shutdown(&self) {}

    fn shutdown_now(&self) -> Vec<Task<K, P>> {
        self.rx.try_iter().collect()
    }

    fn is_shut_down(&self) -> bool {
        false
    }

    fn len(&self) -> usize {
        self.rx.len()
    }

    fn capacity(&self) -> Option<usize> {
        None
    }

    fn stats(&self) -> Stats {
        Stats {
            queued: self.rx.len(),
            ..Stats::default()
        }
    }

    fn snapshot(&self) -> Snapshot<K, P> {
        Snapshot {
            queued: Vec::new(),
            processing: Vec::new(),
            finished: Vec::new(),
        }
    }

    fn check_invariants(&self) -> Result<(), String> {
        Ok(())
    }
}
