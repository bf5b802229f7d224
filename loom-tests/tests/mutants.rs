//! Proves the models bite: each deliberate bug of taskq's `src/mutant.rs` (compiled only under
//! `cfg(taskq_loom)`, switched on per process by `TASKQ_MUTANT`) runs in a child process with the
//! model aimed at it, which must fail. Each mutant is named by a string, as `TASKQ_MUTANT` takes
//! it; a name taskq does not know fails the child outside the model (see
//! `unknown_mutant_is_an_error`), so a typo can never pass as a catch.
#![cfg(taskq_loom)]

use taskq::{ChannelTaskQueue, RwLockTaskQueue, ThreadSafeTaskQueue};
use taskq_loom_tests::harness::{expect_caught, in_child};
use taskq_loom_tests::models;

type Mutex = ThreadSafeTaskQueue<u64, u64>;
type RwLock = RwLockTaskQueue<u64, u64>;
type Channel = ChannelTaskQueue<u64, u64>;

macro_rules! mutant {
    ($test:ident, $mutant:literal, $model:ident, $strategy:ty) => {
        #[test]
        fn $test() {
            expect_caught(stringify!($test), $mutant, models::$model::<$strategy>);
        }
    };
}

// Every strategy
mutant!(
    mutex_cancel_skips_wake,
    "CancelSkipsWake",
    producer_wakes_on_cancel,
    Mutex
);
mutant!(
    rwlock_cancel_skips_wake,
    "CancelSkipsWake",
    producer_wakes_on_cancel,
    RwLock
);
mutant!(
    channel_cancel_skips_wake,
    "CancelSkipsWake",
    producer_wakes_on_cancel,
    Channel
);

mutant!(
    mutex_refused_add_keeps_wake,
    "RefusedAddKeepsWake",
    refused_producer_passes_wake,
    Mutex
);
mutant!(
    rwlock_refused_add_keeps_wake,
    "RefusedAddKeepsWake",
    refused_producer_passes_wake,
    RwLock
);
mutant!(
    channel_refused_add_keeps_wake,
    "RefusedAddKeepsWake",
    refused_producer_passes_wake,
    Channel
);

mutant!(
    mutex_complete_claim_ignores_token,
    "CompleteClaimIgnoresToken",
    stale_guard_complete,
    Mutex
);
mutant!(
    rwlock_complete_claim_ignores_token,
    "CompleteClaimIgnoresToken",
    stale_guard_complete,
    RwLock
);
mutant!(
    channel_complete_claim_ignores_token,
    "CompleteClaimIgnoresToken",
    stale_guard_complete,
    Channel
);
mutant!(
    mutex_fencing_ignores_token,
    "FencingIgnoresToken",
    stale_guard_fail,
    Mutex
);
mutant!(
    rwlock_fencing_ignores_token,
    "FencingIgnoresToken",
    stale_guard_fail,
    RwLock
);
mutant!(
    channel_fencing_ignores_token,
    "FencingIgnoresToken",
    stale_guard_fail,
    Channel
);

// BatchAddWakesOne: a batch add wakes one blocked claimer however many tasks it queued. Caught
// on Mutex and RwLock, with two single claimers blocked (`claimers_wake_on_batch_add`) and with a
// batch claimer and a single one (`batch_claim_is_atomic`). Not on ChannelTaskQueue, where no
// model can catch it: the mutant changes the `Wake` a batch add returns, and Channel's claimers
// are served without it (the add's own critical section ends with `settle`, which hands a queued
// task to every waiting claimer; its `notify` ignores the `Wake`). Checked: the mutant survives
// `claimers_wake_on_batch_add` on Channel, which runs there on the real code.
mutant!(
    mutex_batch_add_wakes_one,
    "BatchAddWakesOne",
    claimers_wake_on_batch_add,
    Mutex
);
mutant!(
    rwlock_batch_add_wakes_one,
    "BatchAddWakesOne",
    claimers_wake_on_batch_add,
    RwLock
);
mutant!(
    mutex_batch_add_wakes_one_mixed,
    "BatchAddWakesOne",
    batch_claim_is_atomic,
    Mutex
);
mutant!(
    rwlock_batch_add_wakes_one_mixed,
    "BatchAddWakesOne",
    batch_claim_is_atomic,
    RwLock
);

// ThreadSafeTaskQueue
mutant!(
    mutex_split_claim_double_claims,
    "SplitClaim",
    no_double_claim_try,
    Mutex
);
mutant!(
    mutex_split_claim_loses_updates,
    "SplitClaim",
    no_lost_update,
    Mutex
);
mutant!(
    mutex_split_claim_batch,
    "SplitClaim",
    batch_claim_races_claim,
    Mutex
);
mutant!(
    mutex_claim_skips_producer_notify_batch,
    "ClaimSkipsProducerNotify",
    producers_wake_on_batch_claim,
    Mutex
);
mutant!(
    mutex_add_skips_notify,
    "AddSkipsNotify",
    claimer_wakes_on_add,
    Mutex
);
mutant!(
    mutex_claim_skips_producer_notify,
    "ClaimSkipsProducerNotify",
    producer_wakes_on_claim,
    Mutex
);
mutant!(
    mutex_shutdown_notifies_one,
    "MutexShutdownNotifiesOne",
    claimers_wake_on_shutdown,
    Mutex
);
mutant!(
    mutex_shutdown_notifies_one_drain,
    "MutexShutdownNotifiesOne",
    graceful_drain,
    Mutex
);
mutant!(
    mutex_fail_skips_wake,
    "FailSkipsWake",
    guard_drop_requeues,
    Mutex
);
mutant!(
    mutex_fail_skips_wake_guard_complete,
    "FailSkipsWake",
    guard_complete_races_fail,
    Mutex
);
mutant!(
    mutex_timeout_skips_recheck,
    "MutexTimeoutSkipsRecheck",
    timed_claim_races_add,
    Mutex
);

// Scheduled tasks, every strategy
mutant!(
    mutex_schedule_skips_wake,
    "ScheduleSkipsWake",
    claimer_wakes_when_task_falls_due,
    Mutex
);
mutant!(
    mutex_schedule_skips_wake_retry,
    "ScheduleSkipsWake",
    claimer_wakes_for_a_delayed_retry,
    Mutex
);
mutant!(
    mutex_sleep_ignores_due,
    "SleepIgnoresDue",
    claimer_wakes_when_task_falls_due,
    Mutex
);
mutant!(
    mutex_promote_early,
    "PromoteEarly",
    claimer_wakes_when_task_falls_due,
    Mutex
);
mutant!(
    rwlock_schedule_skips_wake,
    "ScheduleSkipsWake",
    claimer_wakes_when_task_falls_due,
    RwLock
);
mutant!(
    rwlock_schedule_skips_wake_retry,
    "ScheduleSkipsWake",
    claimer_wakes_for_a_delayed_retry,
    RwLock
);
mutant!(
    rwlock_sleep_ignores_due,
    "SleepIgnoresDue",
    claimer_wakes_when_task_falls_due,
    RwLock
);
mutant!(
    rwlock_promote_early,
    "PromoteEarly",
    claimer_wakes_when_task_falls_due,
    RwLock
);
mutant!(
    channel_schedule_skips_wake,
    "ScheduleSkipsWake",
    claimer_wakes_when_task_falls_due,
    Channel
);
mutant!(
    channel_schedule_skips_wake_retry,
    "ScheduleSkipsWake",
    claimer_wakes_for_a_delayed_retry,
    Channel
);
mutant!(
    channel_sleep_ignores_due,
    "SleepIgnoresDue",
    claimer_wakes_when_task_falls_due,
    Channel
);
mutant!(
    channel_promote_early,
    "PromoteEarly",
    claimer_wakes_when_task_falls_due,
    Channel
);

// RwLockTaskQueue
mutant!(
    rwlock_wake_before_write,
    "RwLockWakeBeforeWrite",
    claimer_wakes_on_add,
    RwLock
);
mutant!(
    rwlock_register_after_check,
    "RwLockRegisterAfterCheck",
    claimer_wakes_on_add,
    RwLock
);
mutant!(
    rwlock_claim_wakes_wrong_side,
    "RwLockClaimWakesWrongSide",
    producer_wakes_on_claim,
    RwLock
);
mutant!(
    rwlock_claim_wakes_wrong_side_batch,
    "RwLockClaimWakesWrongSide",
    producers_wake_on_batch_claim,
    RwLock
);
mutant!(
    rwlock_fail_skips_wake,
    "FailSkipsWake",
    guard_drop_requeues,
    RwLock
);
mutant!(
    rwlock_fail_skips_wake_guard_complete,
    "FailSkipsWake",
    guard_complete_races_fail,
    RwLock
);
mutant!(
    rwlock_timeout_split_check,
    "RwLockTimeoutSplitCheck",
    timed_claim_races_add,
    RwLock
);
mutant!(
    rwlock_timeout_skips_recheck,
    "RwLockTimeoutSkipsRecheck",
    timed_claim_races_add,
    RwLock
);

// ChannelTaskQueue
mutant!(
    channel_add_skips_settle,
    "ChannelAddSkipsSettle",
    claimer_wakes_on_add,
    Channel
);
mutant!(
    channel_enqueue_after_unlock,
    "ChannelEnqueueAfterUnlock",
    claimer_wakes_on_add,
    Channel
);
mutant!(
    channel_hand_off_skips_producer_wake,
    "ChannelHandOffSkipsProducerWake",
    producers_wake_on_claims,
    Channel
);
mutant!(
    channel_settle_ignores_shutdown,
    "ChannelSettleIgnoresShutdown",
    claimers_wake_on_shutdown,
    Channel
);
mutant!(
    channel_timeout_skips_recheck,
    "ChannelTimeoutSkipsRecheck",
    timed_claim_races_add,
    Channel
);

/// A `TASKQ_MUTANT` that names no mutant (a typo) is an error of the child process outside the
/// model, never a catch: taskq refuses the name before the model runs.
#[test]
fn unknown_mutant_is_an_error() {
    const TYPO: &str = "SplitClaimm";
    let run = || {
        expect_caught(
            "unknown_mutant_is_an_error",
            TYPO,
            models::no_double_claim_try::<Mutex>,
        )
    };
    if in_child() {
        // The child: taskq must refuse the name, failing this process.
        run();
        return;
    }
    let panic = std::panic::catch_unwind(run).expect_err("a misspelt mutant must not pass");
    let message = panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_default();
    assert!(
        message.contains("failed outside the model"),
        "reported as an error of the child, not a catch: {message}"
    );
    assert!(
        message.contains(&format!("unknown TASKQ_MUTANT {TYPO:?}")),
        "taskq refused the name: {message}"
    );
    assert!(
        !message.contains("loom: caught at iteration"),
        "the refusal is not marked as a catch: {message}"
    );
}

// RwLockTaskQueue's status mirror: `get_status` read without the core's lock must stay
// linearizable (`status_read_races_writes`) and see a batch whole (`status_reads_see_batches_whole`).
mutant!(
    rwlock_mirror_writes_live_copy,
    "MirrorWritesLiveCopy",
    status_read_races_writes,
    RwLock
);
mutant!(
    rwlock_mirror_read_skips_recheck,
    "MirrorReadSkipsRecheck",
    status_read_races_writes,
    RwLock
);
mutant!(
    rwlock_mirror_splits_batch,
    "MirrorSplitsBatch",
    status_reads_see_batches_whole,
    RwLock
);
mutant!(
    rwlock_mirror_in_place_writes_back,
    "MirrorInPlaceWritesBack",
    status_read_holds_back_copy,
    RwLock
);
