//! Deliberate bugs for the loom model checks, as one-line sites in the real code.
//!
//! `mutant!(Name => bug, else real)` is `real` in every normal build; under `--cfg taskq_loom` it
//! is `bug` in a process whose `TASKQ_MUTANT` environment variable names `Name`, and `real`
//! otherwise. `mutant!(Name => { steps })` inserts steps the same way. The loom harness runs each
//! mutant's model in a child process with `TASKQ_MUTANT` set, and the model must fail: a model that
//! passes on a mutant proves nothing. An unknown name in `TASKQ_MUTANT` panics, so a typo cannot
//! silently test the real code. Nothing here is in the public API.

/// A value swapped, or steps inserted, at a named site; see the module comment.
macro_rules! mutant {
    ($name:ident => $bug:expr, else $real:expr) => {{
        #[cfg(taskq_loom)]
        let value = if $crate::mutant::active($crate::mutant::Mutant::$name) {
            $bug
        } else {
            $real
        };
        #[cfg(not(taskq_loom))]
        let value = $real;
        value
    }};
    ($name:ident => $bug:block) => {
        #[cfg(taskq_loom)]
        if $crate::mutant::active($crate::mutant::Mutant::$name) $bug
    };
}
pub(crate) use mutant;

#[cfg(taskq_loom)]
pub(crate) use imp::{active, Mutant};

#[cfg(taskq_loom)]
mod imp {
    use std::sync::OnceLock;

    macro_rules! mutants {
        ($($(#[doc = $doc:literal])* $name:ident,)+) => {
            /// The deliberate bugs; `TASKQ_MUTANT` names at most one per process.
            #[derive(Debug, Clone, Copy, PartialEq, Eq)]
            pub(crate) enum Mutant { $($(#[doc = $doc])* $name,)+ }

            const NAMES: &[(&str, Mutant)] = &[$((stringify!($name), Mutant::$name),)+];
        };
    }

    mutants! {
        /// A claim picks the best task under one lock section and takes it under another,
        /// without re-checking that it is still queued (double claim).
        SplitClaim,
        /// An add does not notify a blocked claimer (lost wake-up).
        AddSkipsNotify,
        /// A claim that makes room does not notify a blocked producer (lost wake-up).
        ClaimSkipsProducerNotify,
        /// Mutex strategy: shutdown wakes one blocked claimer instead of all of them.
        MutexShutdownNotifiesOne,
        /// RwLock strategy: an add wakes claimers before it writes the task (lost wake-up).
        RwLockWakeBeforeWrite,
        /// RwLock strategy: a claimer registers after it found the queue empty and sleeps
        /// without checking again (lost wake-up).
        RwLockRegisterAfterCheck,
        /// RwLock strategy: a claim that makes room wakes claimers instead of producers.
        RwLockClaimWakesWrongSide,
        /// Channel strategy: an add does not hand its task to a waiting claimer.
        ChannelAddSkipsSettle,
        /// Channel strategy: a claimer that found the queue empty unlocks, then locks again to
        /// enqueue its channel: a task added in between waits while the claimer sleeps.
        ChannelEnqueueAfterUnlock,
        /// Channel strategy: waiting claimers are not told that the queue shut down.
        ChannelSettleIgnoresShutdown,
        /// Channel strategy: a task handed to a waiting claimer does not wake a blocked producer.
        ChannelHandOffSkipsProducerWake,
        /// Cancelling a queued task makes room but wakes no blocked producer.
        CancelSkipsWake,
        /// A producer whose add is refused keeps the wake-up it was given for room.
        RefusedAddKeepsWake,
        /// A failed task put back in the queue wakes no blocked claimer.
        FailSkipsWake,
        /// `complete_claim` (a guard's `complete`) completes the task by id, whoever holds the
        /// current claim: a stale guard completes a later claim of the same task.
        CompleteClaimIgnoresToken,
        /// The core's fencing check ignores the token: any holder of an old claim of a task may
        /// fail (or complete) its current claim.
        FencingIgnoresToken,
        /// A batch add wakes one blocked claimer however many tasks it queued: the other
        /// claimers sleep next to queued tasks.
        BatchAddWakesOne,
        /// Mutex strategy: a woken claimer whose deadline has passed reports a timeout without
        /// looking at the queue again (a task added before the deadline is missed).
        MutexTimeoutSkipsRecheck,
        /// RwLock strategy: a woken claimer whose deadline has passed reports a timeout without
        /// looking at the queue again.
        RwLockTimeoutSkipsRecheck,
        /// RwLock strategy: a claimer reads its deadline in another critical section than the
        /// one in which it found the queue empty, so a task added in between is missed.
        RwLockTimeoutSplitCheck,
        /// Channel strategy: a claimer whose wait timed out gives up without looking in its
        /// channel again under the lock: a task handed over meanwhile is lost in the channel.
        ChannelTimeoutSkipsRecheck,
        /// Scheduling a task that falls due before every other does not wake the sleeping
        /// claimers, which sleep on until a later due time or forever (lost wake-up).
        ScheduleSkipsWake,
        /// A claimer that found no task ready sleeps until its own deadline, ignoring when the
        /// next scheduled task falls due (lost wake-up).
        SleepIgnoresDue,
        /// Scheduled tasks are moved to the ready heap before their due time.
        PromoteEarly,
    }

    /// Whether `TASKQ_MUTANT` names `mutant`. Panics on an unknown name.
    pub(crate) fn active(mutant: Mutant) -> bool {
        static ACTIVE: OnceLock<Option<Mutant>> = OnceLock::new();
        *ACTIVE.get_or_init(|| {
            let name = std::env::var("TASKQ_MUTANT").ok()?;
            let found = NAMES.iter().find(|(n, _)| *n == name).map(|&(_, m)| m);
            if found.is_none() {
                let known: Vec<&str> = NAMES.iter().map(|(n, _)| *n).collect();
                panic!("unknown TASKQ_MUTANT {name:?}; known mutants: {known:?}");
            }
            found
        }) == Some(mutant)
    }
}
