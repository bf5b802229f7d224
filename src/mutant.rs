//! Deliberate bugs for the loom model checks, compiled only with `RUSTFLAGS="--cfg taskq_loom"`.
//!
//! Each [`Mutant`] switches on one small, realistic synchronisation mistake in one strategy, at a
//! point marked `// MUTANT:` in the source. The `loom-tests` crate builds a queue with
//! `Builder::mutant` and checks that its models catch every mutant: a model that passes on a
//! mutant proves nothing. Production builds contain none of this.

/// A deliberate bug, selected per queue with `Builder::mutant` (only under `cfg(taskq_loom)`).
#[doc(hidden)]
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Mutant {
    /// `ThreadSafeTaskQueue`: a claim picks the best task under one lock section and marks it
    /// processing under another, without re-checking that it is still queued (double claim).
    MutexSplitClaim,
    /// `ThreadSafeTaskQueue`: an add does not notify a blocked claimer (lost wake-up).
    MutexAddSkipsNotify,
    /// `ThreadSafeTaskQueue`: a claim that makes room does not notify a blocked producer
    /// (lost wake-up).
    MutexClaimSkipsProducerNotify,
    /// `ThreadSafeTaskQueue`: shutdown wakes one blocked claimer instead of all of them.
    MutexShutdownNotifiesOne,
    /// `RwLockTaskQueue`: an add wakes claimers *before* it writes the task (the wake-up
    /// announces a change that has not happened yet; lost wake-up).
    RwLockWakeBeforeWrite,
    /// `RwLockTaskQueue`: a claimer registers with the signal *after* it found the queue empty
    /// and sleeps without checking again (lost wake-up).
    RwLockRegisterAfterCheck,
    /// `RwLockTaskQueue`: a claim that makes room wakes claimers instead of producers.
    RwLockClaimWakesWrongSide,
    /// `ChannelTaskQueue`: an add does not hand its task to a waiting claimer (`settle` skipped).
    ChannelAddSkipsSettle,
    /// `ChannelTaskQueue`: a claimer that found the queue empty unlocks, then locks again to
    /// enqueue its channel: a task added in between waits while the claimer sleeps.
    ChannelEnqueueAfterUnlock,
    /// `ChannelTaskQueue`: `settle` does not tell waiting claimers that the queue shut down.
    ChannelSettleIgnoresShutdown,
    /// `ChannelTaskQueue`: a task handed to a waiting claimer does not wake a blocked producer,
    /// although it left the queue and so made room.
    ChannelHandOffSkipsProducerWake,
    /// Every strategy: cancelling a queued task makes room but wakes no blocked producer.
    CancelSkipsWake,
    /// Every strategy: a producer whose add is refused (its id became a duplicate while it
    /// waited for room) keeps the wake-up it was given for that room instead of passing it on.
    RefusedAddKeepsWake,
    /// `ThreadSafeTaskQueue` and `RwLockTaskQueue`: a failed task put back in the queue wakes no
    /// blocked claimer. (`ChannelTaskQueue` hands tasks over in `settle` after every write.)
    FailSkipsWake,
}
