//! Runs every loom model on every strategy, without mutants: each must pass in every
//! interleaving loom explores (within `LOOM_MAX_PREEMPTIONS`, default 2).
#![cfg(taskq_loom)]

use taskq_loom_tests::harness::Queue;
use taskq_loom_tests::models;

fn pass<Q: Queue>(model: fn(Option<taskq::Mutant>) -> taskq_loom_tests::harness::Explored) {
    let explored = model(None);
    if let Some(failure) = explored.failure {
        panic!(
            "{}: a model failed after {} iterations: {failure}",
            Q::NAME,
            explored.iterations
        );
    }
    assert!(explored.iterations > 0, "loom explored nothing");
}

macro_rules! all_models {
    ($module:ident, $strategy:ty) => {
        mod $module {
            use super::*;
            type Q = $strategy;

            #[test]
            fn no_double_claim_try() {
                pass::<Q>(models::no_double_claim_try::<Q>);
            }
            #[test]
            fn no_double_claim_blocking() {
                pass::<Q>(models::no_double_claim_blocking::<Q>);
            }
            #[test]
            fn no_lost_update() {
                pass::<Q>(models::no_lost_update::<Q>);
            }
            #[test]
            fn claimer_wakes_on_add() {
                pass::<Q>(models::claimer_wakes_on_add::<Q>);
            }
            #[test]
            fn claimers_wake_on_adds() {
                pass::<Q>(models::claimers_wake_on_adds::<Q>);
            }
            #[test]
            fn producer_wakes_on_cancel() {
                pass::<Q>(models::producer_wakes_on_cancel::<Q>);
            }
            #[test]
            fn producers_wake_on_claims() {
                pass::<Q>(models::producers_wake_on_claims::<Q>);
            }
            #[test]
            fn refused_producer_passes_wake() {
                pass::<Q>(models::refused_producer_passes_wake::<Q>);
            }
            #[test]
            fn claimers_wake_on_shutdown() {
                pass::<Q>(models::claimers_wake_on_shutdown::<Q>);
            }
            #[test]
            fn producer_wakes_on_claim() {
                pass::<Q>(models::producer_wakes_on_claim::<Q>);
            }
            #[test]
            fn priority_order() {
                pass::<Q>(models::priority_order::<Q>);
            }
            #[test]
            fn graceful_drain() {
                pass::<Q>(models::graceful_drain::<Q>);
            }
            #[test]
            fn shutdown_now_race() {
                pass::<Q>(models::shutdown_now_race::<Q>);
            }
            #[test]
            fn guard_drop_requeues() {
                pass::<Q>(models::guard_drop_requeues::<Q>);
            }
        }
    };
}

all_models!(thread_safe, taskq::ThreadSafeTaskQueue<u64, u64>);
all_models!(rwlock, taskq::RwLockTaskQueue<u64, u64>);
all_models!(channel, taskq::ChannelTaskQueue<u64, u64>);

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
