//! What a strategy must provide, and the one implementation of [`TaskQueue`](crate::TaskQueue) on
//! top of it.
//!
//! A strategy guards a [`Core`] and wakes blocked threads; nothing else. It supplies a read and a
//! write critical section and the two blocking loops (claim, bounded add). Which operation wakes
//! whom is decided once, here, by the [`Wake`] each write returns.

use crate::core::Core;
use crate::sync::Deadline;
use crate::{ClaimError, Task, TryAddError};

/// Who may now make progress after a write to the core.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Wake {
    /// Nothing a blocked thread waits for has changed.
    Nobody,
    /// A task became claimable: wake one blocked claimer.
    Claimer,
    /// Room appeared in a bounded queue: wake one blocked producer.
    Producer,
    /// The queue shut down: wake every blocked thread.
    Everyone,
}

impl Wake {
    /// Whom an add wakes: a claimer if it queued a task. If it was refused (a duplicate id, say)
    /// while the queue has room, the next blocked producer: this one may have been woken for that
    /// room, and must pass the wake-up on rather than leave the others asleep next to free room.
    pub(crate) fn after_add<K: Clone + Eq + std::hash::Hash, P, S: std::hash::BuildHasher, Q>(
        result: &Result<(), TryAddError<Q>>,
        core: &Core<K, P, S>,
    ) -> Wake {
        // MUTANT: RefusedAddKeepsWake drops the wake-up a refused producer was given.
        #[cfg(taskq_loom)]
        if result.is_err() && core.mutant_is(crate::Mutant::RefusedAddKeepsWake) {
            return Wake::Nobody;
        }
        match result {
            Ok(()) => Wake::Claimer,
            Err(_) if !core.is_full() => Wake::Producer,
            Err(_) => Wake::Nobody,
        }
    }
}

pub(crate) trait Strategy<K: Clone + Eq + std::hash::Hash, P, S: std::hash::BuildHasher> {
    /// Runs `f` with shared access to the core.
    fn read<R>(&self, f: impl FnOnce(&Core<K, P, S>) -> R) -> R;

    /// The number of queued tasks; a strategy may serve it without its lock.
    fn len(&self) -> usize {
        self.read(|core| core.len())
    }

    /// Runs `f` with exclusive access to the core, then wakes whom `f` says.
    fn write<R>(&self, f: impl FnOnce(&mut Core<K, P, S>) -> (R, Wake)) -> R;

    /// Adds a task, waiting for room until `deadline`; `Full` means it gave up. The payload's
    /// `Arc` is allocated by the caller, outside the lock.
    fn add_until(
        &self,
        id: K,
        priority: i64,
        payload: std::sync::Arc<P>,
        deadline: Deadline,
    ) -> Result<(), TryAddError<std::sync::Arc<P>>>;

    /// Claims a task, waiting until `deadline`; `Timeout` means it gave up (`Empty` is never
    /// returned).
    fn claim_until(&self, deadline: Deadline) -> Result<Task<K, P>, ClaimError>;
}

/// Implements [`TaskQueue`](crate::TaskQueue) for a type that implements [`Strategy`].
macro_rules! impl_task_queue {
    ($strategy:ident) => {
        impl<K, P, S> crate::TaskQueue<K, P> for $strategy<K, P, S>
        where
            K: Clone + Eq + std::hash::Hash + Send + Sync,
            P: Send + Sync,
            S: std::hash::BuildHasher + Send + Sync,
        {
            fn add_task(&self, id: K, priority: i64, payload: P) -> Result<(), crate::AddError<P>> {
                crate::strategy::Strategy::add_until(
                    self,
                    id,
                    priority,
                    std::sync::Arc::new(payload),
                    crate::sync::Deadline::Never,
                )
                .map_err(|e| e.unshare().into_untimed())
            }

            fn try_add_task(
                &self,
                id: K,
                priority: i64,
                payload: P,
            ) -> Result<(), crate::TryAddError<P>> {
                crate::strategy::Strategy::add_until(
                    self,
                    id,
                    priority,
                    std::sync::Arc::new(payload),
                    crate::sync::Deadline::Now,
                )
                .map_err(crate::TryAddError::unshare)
            }

            fn add_task_timeout(
                &self,
                id: K,
                priority: i64,
                payload: P,
                timeout: std::time::Duration,
            ) -> Result<(), crate::AddTimeoutError<P>> {
                let deadline = crate::sync::Deadline::after(Some(timeout));
                crate::strategy::Strategy::add_until(
                    self,
                    id,
                    priority,
                    std::sync::Arc::new(payload),
                    deadline,
                )
                .map_err(|e| e.unshare().into_timed())
            }

            fn get_next_task(
                &self,
                timeout: Option<std::time::Duration>,
            ) -> Result<crate::Task<K, P>, crate::ClaimError> {
                crate::strategy::Strategy::claim_until(self, crate::sync::Deadline::after(timeout))
            }

            fn try_get_next_task(&self) -> Result<crate::Task<K, P>, crate::ClaimError> {
                crate::strategy::Strategy::claim_until(self, crate::sync::Deadline::Now).map_err(
                    |e| match e {
                        crate::ClaimError::Timeout => crate::ClaimError::Empty,
                        other => other,
                    },
                )
            }

            fn get_status(&self, id: &K) -> Option<crate::TaskStatus> {
                crate::strategy::Strategy::read(self, |core| core.status(id))
            }

            fn complete_task(&self, id: &K) -> Result<(), crate::TaskError> {
                crate::strategy::Strategy::write(self, |core| {
                    (core.complete(id), crate::strategy::Wake::Nobody)
                })
            }

            fn fail_task(&self, id: &K) -> Result<crate::TaskStatus, crate::TaskError> {
                crate::strategy::Strategy::write(self, |core| {
                    let result = core.fail(id);
                    let wake = if result == Ok(crate::TaskStatus::Queued) {
                        crate::strategy::Wake::Claimer
                    } else {
                        crate::strategy::Wake::Nobody
                    };
                    // MUTANT: FailSkipsWake re-queues the task without waking a claimer.
                    #[cfg(taskq_loom)]
                    let wake = if core.mutant_is(crate::Mutant::FailSkipsWake) {
                        crate::strategy::Wake::Nobody
                    } else {
                        wake
                    };
                    (result, wake)
                })
            }

            fn cancel_task(&self, id: &K) -> bool {
                crate::strategy::Strategy::write(self, |core| {
                    let cancelled = core.cancel(id);
                    let wake = if cancelled {
                        crate::strategy::Wake::Producer
                    } else {
                        crate::strategy::Wake::Nobody
                    };
                    // MUTANT: CancelSkipsWake frees room without waking a blocked producer.
                    #[cfg(taskq_loom)]
                    let wake = if core.mutant_is(crate::Mutant::CancelSkipsWake) {
                        crate::strategy::Wake::Nobody
                    } else {
                        wake
                    };
                    (cancelled, wake)
                })
            }

            fn update_priority(&self, id: &K, priority: i64) -> Result<(), crate::TaskError> {
                crate::strategy::Strategy::write(self, |core| {
                    (
                        core.update_priority(id, priority),
                        crate::strategy::Wake::Nobody,
                    )
                })
            }

            fn forget_task(&self, id: &K) -> Result<(), crate::TaskError> {
                crate::strategy::Strategy::write(self, |core| {
                    (core.forget(id), crate::strategy::Wake::Nobody)
                })
            }

            fn shutdown(&self) {
                crate::strategy::Strategy::write(self, |core| {
                    core.shutdown();
                    ((), crate::strategy::Wake::Everyone)
                })
            }

            fn shutdown_now(&self) -> Vec<crate::Task<K, P>> {
                crate::strategy::Strategy::write(self, |core| {
                    (core.shutdown_now(), crate::strategy::Wake::Everyone)
                })
            }

            fn is_shut_down(&self) -> bool {
                crate::strategy::Strategy::read(self, |core| core.is_shut_down())
            }

            fn len(&self) -> usize {
                crate::strategy::Strategy::len(self)
            }

            fn capacity(&self) -> Option<usize> {
                crate::strategy::Strategy::read(self, |core| core.capacity())
            }

            fn stats(&self) -> crate::Stats {
                crate::strategy::Strategy::read(self, |core| core.stats())
            }

            fn snapshot(&self) -> crate::Snapshot<K, P> {
                crate::strategy::Strategy::read(self, |core| core.snapshot())
            }

            fn check_invariants(&self) -> Result<(), String> {
                crate::strategy::Strategy::read(self, |core| core.check_invariants())
            }
        }
    };
}

pub(crate) use impl_task_queue;
