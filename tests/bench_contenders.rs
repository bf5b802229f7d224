// The bench contenders obey the queue contract: every contender of `benches/common` that claims
// it (`Contender::contract_queue`: the taskq strategies, the peers and the experiments) hands out
// tasks in strict priority order, FIFO among equal priorities, each exactly once, and wakes its
// sleeping claimers (the checks are in `benches/common/check.rs`). The workloads' own end-state
// checks do not look at the order, so without these a wrong peer or experiment would only give a
// wrong number. Nothing here is timed; a lost wake-up hangs `ping_pong` (CI runs the tests under
// a timeout).

#[path = "../benches/common/mod.rs"]
mod bench;

use bench::combining::{CombiningQueue, Padded, Slot, Unpadded};
use bench::{check, Contender, Dist, Role};

/// Every contender with a contract, by name.
fn contract_contenders() -> Vec<Contender> {
    Contender::ALL
        .iter()
        .copied()
        .filter(|c| c.contract_queue().is_some())
        .collect()
}

/// Runs `f` on a fresh queue of every contender with a contract, naming it on failure.
fn each(f: impl Fn(&dyn bench::BenchQueue)) {
    for c in contract_contenders() {
        let q = c.contract_queue().expect("filtered");
        eprintln!("{}", c.name());
        f(&*q);
    }
}

#[test]
fn every_ordered_contender_has_a_contract_check() {
    for &c in Contender::ALL {
        let expected = !matches!(c.role(), Role::Limit | Role::Ceiling);
        assert_eq!(
            c.contract_queue().is_some(),
            expected,
            "{}: every strategy, variant, peer and experiment must be checked",
            c.name()
        );
    }
    assert!(contract_contenders()
        .iter()
        .any(|c| c.role() == Role::Experiment));
}

#[test]
fn order_fifo_statuses_one_thread() {
    each(check::order);
}

#[test]
fn concurrent_drains_keep_priority_order() {
    for threads in [2, 4] {
        for dist in Dist::ALL {
            each(|q| check::drain_concurrently(q, threads, 3_000, dist));
        }
    }
}

#[test]
fn producers_consumers_claim_each_task_once() {
    for pairs in [1, 2, 4] {
        each(|q| check::producers_consumers(q, pairs, 6_000));
    }
}

#[test]
fn sleeping_claimers_are_woken() {
    for consumers in [1, 3] {
        each(|q| check::ping_pong(q, consumers, 300));
    }
}

/// The combiner itself (not just the uncontended `try_lock` fast path) must run under these
/// checks: they are repeated on the combining queues until enough operations were applied from
/// slots (bounded by a number of rounds, not by time). A combiner that hands a result back wrongly
/// then fails the checks above.
fn combining_is_exercised<C>()
where
    C: std::ops::Deref<Target = Slot> + Default + Sync,
{
    let mut combined = 0;
    for _ in 0..100 {
        let q = CombiningQueue::<C>::new();
        check::drain_concurrently(&q, 4, 4_000, Dist::Few);
        combined += q.combined();
        let q = CombiningQueue::<C>::new();
        check::producers_consumers(&q, 4, 4_000);
        combined += q.combined();
        if combined >= 5_000 {
            break;
        }
    }
    assert!(
        combined > 0,
        "no operation was ever applied by a combiner: the checks did not cover it"
    );
}

#[test]
fn combining_queue_is_checked_through_its_combiner() {
    combining_is_exercised::<Padded>();
    combining_is_exercised::<Unpadded<Slot>>();
}
