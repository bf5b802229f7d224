//! Proves the models bite: each deliberate bug of `taskq::Mutant` (compiled only under
//! `cfg(taskq_loom)`) is switched on in its strategy and the model aimed at it must fail.
#![cfg(taskq_loom)]

use taskq::{ChannelTaskQueue, Mutant, RwLockTaskQueue, ThreadSafeTaskQueue};
use taskq_loom_tests::harness::expect_caught;
use taskq_loom_tests::models;

type Mutex = ThreadSafeTaskQueue<u64, u64>;
type RwLock = RwLockTaskQueue<u64, u64>;
type Channel = ChannelTaskQueue<u64, u64>;

macro_rules! mutant {
    ($test:ident, $mutant:ident, $model:ident, $strategy:ty) => {
        #[test]
        fn $test() {
            expect_caught(stringify!($test), Mutant::$mutant, || {
                models::$model::<$strategy>(Some(Mutant::$mutant))
            });
        }
    };
}

// Every strategy
mutant!(
    mutex_cancel_skips_wake,
    CancelSkipsWake,
    producer_wakes_on_cancel,
    Mutex
);
mutant!(
    rwlock_cancel_skips_wake,
    CancelSkipsWake,
    producer_wakes_on_cancel,
    RwLock
);
mutant!(
    channel_cancel_skips_wake,
    CancelSkipsWake,
    producer_wakes_on_cancel,
    Channel
);

mutant!(
    mutex_refused_add_keeps_wake,
    RefusedAddKeepsWake,
    refused_producer_passes_wake,
    Mutex
);
mutant!(
    rwlock_refused_add_keeps_wake,
    RefusedAddKeepsWake,
    refused_producer_passes_wake,
    RwLock
);
mutant!(
    channel_refused_add_keeps_wake,
    RefusedAddKeepsWake,
    refused_producer_passes_wake,
    Channel
);

// ThreadSafeTaskQueue
mutant!(
    mutex_split_claim_double_claims,
    MutexSplitClaim,
    no_double_claim_try,
    Mutex
);
mutant!(
    mutex_split_claim_loses_updates,
    MutexSplitClaim,
    no_lost_update,
    Mutex
);
mutant!(
    mutex_add_skips_notify,
    MutexAddSkipsNotify,
    claimer_wakes_on_add,
    Mutex
);
mutant!(
    mutex_claim_skips_producer_notify,
    MutexClaimSkipsProducerNotify,
    producer_wakes_on_claim,
    Mutex
);
mutant!(
    mutex_shutdown_notifies_one,
    MutexShutdownNotifiesOne,
    claimers_wake_on_shutdown,
    Mutex
);
mutant!(
    mutex_shutdown_notifies_one_drain,
    MutexShutdownNotifiesOne,
    graceful_drain,
    Mutex
);
mutant!(
    mutex_fail_skips_wake,
    FailSkipsWake,
    guard_drop_requeues,
    Mutex
);

// RwLockTaskQueue
mutant!(
    rwlock_wake_before_write,
    RwLockWakeBeforeWrite,
    claimer_wakes_on_add,
    RwLock
);
mutant!(
    rwlock_register_after_check,
    RwLockRegisterAfterCheck,
    claimer_wakes_on_add,
    RwLock
);
mutant!(
    rwlock_claim_wakes_wrong_side,
    RwLockClaimWakesWrongSide,
    producer_wakes_on_claim,
    RwLock
);
mutant!(
    rwlock_fail_skips_wake,
    FailSkipsWake,
    guard_drop_requeues,
    RwLock
);

// ChannelTaskQueue
mutant!(
    channel_add_skips_settle,
    ChannelAddSkipsSettle,
    claimer_wakes_on_add,
    Channel
);
mutant!(
    channel_enqueue_after_unlock,
    ChannelEnqueueAfterUnlock,
    claimer_wakes_on_add,
    Channel
);
mutant!(
    channel_hand_off_skips_producer_wake,
    ChannelHandOffSkipsProducerWake,
    producers_wake_on_claims,
    Channel
);
mutant!(
    channel_settle_ignores_shutdown,
    ChannelSettleIgnoresShutdown,
    claimers_wake_on_shutdown,
    Channel
);
