//! Runs every loom model on every strategy, on the real code (no mutant): each must pass in every
//! interleaving loom explores (within `LOOM_MAX_PREEMPTIONS`, default 2). Each model runs in a
//! child process of its own (`harness::expect_pass`), so that a deadlock, which aborts the process
//! loom runs in, fails that model's test only and the others still run.
#![cfg(taskq_loom)]

use taskq_loom_tests::harness::expect_pass;
use taskq_loom_tests::models;

/// The test's name as the test harness filters on it: its path without the crate.
fn test_name(path: &'static str) -> &'static str {
    path.split_once("::").map_or(path, |(_, test)| test)
}

/// One test per model, on the strategy `Q` of the enclosing module.
macro_rules! model_tests {
    ($($model:ident),+ $(,)?) => {
        $(
            #[test]
            fn $model() {
                let test = test_name(concat!(module_path!(), "::", stringify!($model)));
                expect_pass(test, models::$model::<Q>);
            }
        )+
    };
}

/// Every model: the one list of them.
macro_rules! every_model {
    () => {
        model_tests!(
            no_double_claim_try,
            no_double_claim_blocking,
            no_lost_update,
            claimer_wakes_on_add,
            claimers_wake_on_adds,
            producer_wakes_on_cancel,
            producers_wake_on_claims,
            refused_producer_passes_wake,
            claimers_wake_on_shutdown,
            producer_wakes_on_claim,
            priority_order,
            graceful_drain,
            shutdown_now_race,
            guard_drop_requeues,
            guard_complete_races_fail,
            stale_guard_complete,
            stale_guard_fail,
            timed_claim_races_add,
            timed_add_races_claim,
            claimers_wake_on_batch_add,
            batch_claim_is_atomic,
            batch_claim_races_claim,
            producers_wake_on_batch_claim,
            claimers_wake_on_fail_tasks,
            claimer_wakes_when_task_falls_due,
            claimer_wakes_for_a_delayed_retry,
            status_read_races_writes,
            status_reads_see_batches_whole,
            status_read_holds_back_copy,
        );
    };
}

/// Every strategy, the one list of them: a module of every model per strategy.
macro_rules! for_each_strategy {
    ($($module:ident => $waiting:ty),+ $(,)?) => {
        $(
            mod $module {
                use super::*;
                type Q = taskq::Queue<u64, u64, $waiting>;
                every_model!();
            }
        )+
    };
}

for_each_strategy!(
    thread_safe => taskq::strategy::Mutex,
    rwlock => taskq::strategy::RwLock,
    channel => taskq::strategy::Channel,
);

/// The harness itself must be able to fail: a model with a plain race is caught.
#[test]
fn harness_catches_a_race() {
    use loom::sync::atomic::{AtomicUsize, Ordering};
    use loom::sync::Arc;
    let explored = taskq_loom_tests::harness::explore("harness_catches_a_race", || {
        let n = Arc::new(AtomicUsize::new(0));
        let n2 = Arc::clone(&n);
        let t = loom::thread::spawn(move || {
            let v = n2.load(Ordering::SeqCst);
            n2.store(v + 1, Ordering::SeqCst);
        });
        let v = n.load(Ordering::SeqCst);
        n.store(v + 1, Ordering::SeqCst);
        t.join().unwrap();
        assert_eq!(n.load(Ordering::SeqCst), 2, "lost increment");
    });
    assert!(explored.failure.is_some(), "loom missed a lost increment");
}
