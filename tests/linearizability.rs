//! Linearizability of every in-memory strategy (the checker in tests/common/lin, run by
//! `lin_suite!`), and the checker's own tests: it accepts linearizable histories that need
//! reordering, rejects planted violations, and agrees with a memo-free brute-force search on
//! mutated real histories.

mod common;

use common::lin::*;
use common::Rng;
use taskq::{ClaimError, TaskError, TaskStatus};

common::for_each_strategy!(lin_suite);

fn ev(thread: usize, inv: u64, resp: u64, op: Op, res: Res) -> Event {
    Event::new(thread, inv, resp, op, res)
}

fn add(id: Id, priority: i64) -> Op {
    Op::Add {
        kind: AddKind::Try,
        id,
        priority,
        payload: 100 + Payload::from(id),
    }
}

fn task(id: Id, priority: i64, attempts: u32) -> Res {
    Res::Claim(Ok(TaskView {
        id,
        priority,
        payload: 100 + Payload::from(id),
        attempts,
    }))
}

const CLAIM: Op = Op::Claim(ClaimKind::Try);
const OK: Res = Res::Add(Ok(()));

fn linearizable(h: &[Event]) -> bool {
    linearizable_with(Setup::DEFAULT, h)
}

/// Runs both checkers and insists that they agree.
fn linearizable_with(setup: Setup, h: &[Event]) -> bool {
    let fast = check(setup, h);
    let slow = brute_force(setup, h);
    assert_eq!(fast.is_ok(), slow, "the checkers disagree on\n{}", Show(h));
    if let Ok(found) = &fast {
        assert_eq!(found.order.len(), h.len());
    }
    slow
}

#[test]
fn accepts_a_sequential_history() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 3, CLAIM, task(1, 0, 0)),
        ev(
            0,
            4,
            5,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Processing)),
        ),
        ev(0, 6, 7, Op::Complete(1), Res::Task(Ok(()))),
        ev(
            0,
            8,
            9,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Completed)),
        ),
        ev(0, 10, 11, Op::Len, Res::Len(0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_a_claim_that_overlaps_the_add_it_returns() {
    // The claim is invoked first, but may take effect after the add.
    let h = [
        ev(0, 0, 3, CLAIM, task(1, 0, 0)),
        ev(1, 1, 2, add(1, 0), OK),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_overlapping_claims_served_out_of_invocation_order() {
    let h = [
        ev(0, 0, 1, add(1, 1), OK),
        ev(0, 2, 3, add(2, 5), OK),
        // Thread 0 is invoked first yet gets the worse task: thread 1 went first.
        ev(0, 4, 9, CLAIM, task(1, 1, 0)),
        ev(1, 5, 8, CLAIM, task(2, 5, 0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_reads_that_overlap_the_change_they_miss() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 7, CLAIM, task(1, 0, 0)),
        ev(
            1,
            3,
            4,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Queued)),
        ),
        ev(2, 5, 6, Op::Len, Res::Len(1)),
        ev(1, 8, 9, Op::Len, Res::Len(0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_an_empty_claim_that_overlaps_the_add() {
    let h = [
        ev(0, 0, 3, add(1, 0), OK),
        ev(1, 1, 2, CLAIM, Res::Claim(Err(ClaimError::Empty))),
        ev(1, 4, 5, CLAIM, task(1, 0, 0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_a_dense_four_thread_history() {
    // The four first operations all overlap; one order works: the add, thread 0's claim, the
    // status read, thread 0's fail of its claim, thread 2's claim (which sees the second attempt).
    let h = [
        ev(0, 0, 20, CLAIM, task(3, 2, 0)),
        ev(1, 1, 19, add(3, 2), OK),
        ev(2, 2, 23, CLAIM, task(3, 2, 1)),
        ev(
            3,
            3,
            24,
            Op::Status(3),
            Res::Status(Some(TaskStatus::Processing)),
        ),
        ev(
            0,
            21,
            22,
            Op::Fail { id: 3, claim: 0 },
            Res::Fail(Ok(TaskStatus::Queued)),
        ),
    ];
    assert!(linearizable(&h));
}

#[test]
fn rejects_two_claimers_getting_the_same_task() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 5, CLAIM, task(1, 0, 0)),
        ev(1, 3, 4, CLAIM, task(1, 0, 0)),
    ];
    assert!(!linearizable(&h));
}

#[test]
fn rejects_a_lower_priority_claim_when_a_higher_was_added_before() {
    let mut h = vec![
        ev(0, 0, 1, add(1, 1), OK),
        ev(1, 2, 3, add(2, 5), OK),
        ev(0, 4, 5, CLAIM, task(1, 1, 0)),
    ];
    assert!(!linearizable(&h));
    // The same, with the second add still running when the claim returns, is fine.
    h[1].resp = 6;
    assert!(linearizable(&h));
}

#[test]
fn rejects_an_empty_claim_after_a_completed_add() {
    let mut h = vec![
        ev(0, 0, 1, add(1, 0), OK),
        ev(1, 2, 3, CLAIM, Res::Claim(Err(ClaimError::Empty))),
    ];
    assert!(!linearizable(&h));
    h[1].res = Res::Claim(Err(ClaimError::Timeout));
    h[1].op = Op::Claim(ClaimKind::ZeroTimeout);
    assert!(!linearizable(&h));
    h[1].inv = 0;
    h[0].inv = 1;
    h[0].resp = 2;
    h[1].resp = 3;
    assert!(linearizable(&h));
}

#[test]
fn rejects_a_status_read_showing_queued_after_a_completed_claim() {
    let mut h = vec![
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 3, CLAIM, task(1, 0, 0)),
        ev(
            1,
            4,
            5,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Queued)),
        ),
    ];
    assert!(!linearizable(&h));
    h[1].resp = 6;
    assert!(linearizable(&h));
}

#[test]
fn rejects_breaking_fifo_among_equal_priorities() {
    let h = [
        ev(0, 0, 1, add(1, 3), OK),
        ev(0, 2, 3, add(2, 3), OK),
        ev(1, 4, 5, CLAIM, task(2, 3, 0)),
    ];
    assert!(!linearizable(&h));
}

#[test]
fn update_priority_keeps_add_order_and_failed_tasks_go_behind() {
    // 1 (prio 1) is added before 2 (prio 2); lowering 2 to 1 puts it behind 1 again.
    let base = [
        ev(0, 0, 1, add(1, 1), OK),
        ev(0, 2, 3, add(2, 2), OK),
        ev(0, 4, 5, Op::UpdatePriority(2, 1), Res::Task(Ok(()))),
    ];
    let mut good = base.to_vec();
    good.push(ev(1, 6, 7, CLAIM, task(1, 1, 0)));
    assert!(linearizable(&good));
    let mut bad = base.to_vec();
    bad.push(ev(1, 6, 7, CLAIM, task(2, 1, 0)));
    assert!(!linearizable(&bad));
    // A failed task re-queued goes behind its equals: 1 fails, then 2 comes first.
    good.push(ev(
        1,
        8,
        9,
        Op::Fail { id: 1, claim: 0 },
        Res::Fail(Ok(TaskStatus::Queued)),
    ));
    let mut after = good.clone();
    after.push(ev(1, 10, 11, CLAIM, task(2, 1, 0)));
    assert!(linearizable(&after));
    good.push(ev(1, 10, 11, CLAIM, task(1, 1, 1)));
    assert!(!linearizable(&good));
}

#[test]
fn rejects_wrong_payloads_attempts_and_duplicate_adds() {
    let base = [ev(0, 0, 1, add(1, 0), OK)];
    let mut wrong_payload = base.to_vec();
    wrong_payload.push(ev(
        1,
        2,
        3,
        CLAIM,
        Res::Claim(Ok(TaskView {
            id: 1,
            priority: 0,
            payload: 7,
            attempts: 0,
        })),
    ));
    assert!(!linearizable(&wrong_payload));
    let mut wrong_attempts = base.to_vec();
    wrong_attempts.push(ev(1, 2, 3, CLAIM, task(1, 0, 1)));
    assert!(!linearizable(&wrong_attempts));
    let mut twice = base.to_vec();
    twice.push(ev(1, 2, 3, add(1, 0), OK));
    assert!(!linearizable(&twice));
    let mut refused = base.to_vec();
    refused.push(ev(
        1,
        2,
        3,
        add(1, 0),
        Res::Add(Err((Refusal::Duplicate, 101))),
    ));
    assert!(linearizable(&refused));
}

#[test]
fn respects_the_setup_bounded_queue_and_max_attempts() {
    let bounded = Setup {
        capacity: Some(1),
        ..Setup::DEFAULT
    };
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(1, 2, 3, add(2, 0), Res::Add(Err((Refusal::Full, 102)))),
    ];
    assert!(linearizable_with(bounded, &h));
    assert!(!linearizable_with(Setup::DEFAULT, &h));
    let once = Setup {
        max_attempts: Some(1),
        ..Setup::DEFAULT
    };
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 3, CLAIM, task(1, 0, 0)),
        ev(
            0,
            4,
            5,
            Op::Fail { id: 1, claim: 1 },
            Res::Fail(Ok(TaskStatus::Failed)),
        ),
    ];
    assert!(linearizable_with(once, &h));
    assert!(!linearizable_with(Setup::DEFAULT, &h));
}

#[test]
fn shutdown_drains_then_refuses() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(1, 2, 3, Op::Shutdown, Res::Unit),
        ev(0, 4, 5, CLAIM, task(1, 0, 0)),
        ev(0, 6, 7, CLAIM, Res::Claim(Err(ClaimError::ShutDown))),
    ];
    assert!(linearizable(&h));
    let mut early = h.to_vec();
    early[3].res = Res::Claim(Err(ClaimError::Empty));
    assert!(!linearizable(&early));
}

#[test]
fn a_blocking_claim_takes_effect_only_once_it_can() {
    const WAIT: Op = Op::Claim(ClaimKind::Blocking);
    // Invoked before the add, it returns the task the add brings.
    let h = [ev(0, 0, 5, WAIT, task(1, 0, 0)), ev(1, 1, 4, add(1, 0), OK)];
    assert!(linearizable(&h));
    // Released by a shutdown on an empty queue.
    let h = [
        ev(0, 0, 5, WAIT, Res::Claim(Err(ClaimError::ShutDown))),
        ev(1, 1, 2, Op::Shutdown, Res::Unit),
    ];
    assert!(linearizable(&h));
    // But not while a task added before it is still queued.
    let h = [
        ev(1, 0, 1, add(1, 0), OK),
        ev(0, 2, 7, WAIT, Res::Claim(Err(ClaimError::ShutDown))),
        ev(1, 3, 4, Op::Shutdown, Res::Unit),
    ];
    assert!(!linearizable(&h));
    // A blocking claim can never be the first to take effect on an empty queue and say so.
    let h = [ev(0, 0, 1, WAIT, Res::Claim(Err(ClaimError::Empty)))];
    assert!(!linearizable(&h));
}

/// Records small real histories, then plants one wrong result in each, and checks that the
/// memoized checker, the memo-free run of it and the brute-force search agree on every one.
#[test]
fn memoized_checker_agrees_with_brute_force_on_mutated_histories() {
    let (mut accepted, mut rejected) = (0, 0);
    for seed in 0..120u64 {
        let mut plan = Plan::draw(0x7000_0000 + seed);
        plan.threads = 3;
        plan.ops_per_thread = 2;
        let mut history = record::<common::Memory<taskq::strategy::Mutex>>(&plan);
        history.truncate(plan.threads * plan.ops_per_thread + 1);
        let mut rng = Rng::new(seed);
        if seed % 3 != 0 {
            let i = rng.below(history.len() as u64) as usize;
            history[i].res = perturb(&history[i].res, &mut rng);
        }
        let fast = check(plan.setup, &history).is_ok();
        let no_memo = check_with(plan.setup, &history, false).is_ok();
        let slow = brute_force(plan.setup, &history);
        assert_eq!(
            (fast, no_memo),
            (slow, slow),
            "the checkers disagree on seed {seed}:\n{}",
            Show(&history)
        );
        if slow {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    // Both verdicts must have been exercised for the comparison to mean anything.
    assert!(accepted > 10 && rejected > 10, "{accepted} / {rejected}");
}

/// A plausible but different result of the same kind.
fn perturb(res: &Res, rng: &mut Rng) -> Res {
    let status = |rng: &mut Rng| match rng.below(5) {
        0 => TaskStatus::Queued,
        1 => TaskStatus::Processing,
        2 => TaskStatus::Completed,
        3 => TaskStatus::Cancelled,
        _ => TaskStatus::Failed,
    };
    match res {
        Res::Add(Ok(())) => Res::Add(Err((Refusal::Duplicate, 0))),
        Res::Add(Err(_)) => Res::Add(Ok(())),
        Res::Claim(Ok(t)) => match rng.below(3) {
            0 => Res::Claim(Err(ClaimError::Empty)),
            1 => Res::Claim(Ok(TaskView {
                id: (t.id + 1) % IDS as Id,
                ..t.clone()
            })),
            _ => Res::Claim(Ok(TaskView {
                attempts: t.attempts + 1,
                ..t.clone()
            })),
        },
        Res::Claim(Err(_)) => Res::Claim(Ok(TaskView {
            id: rng.below(IDS) as Id,
            priority: rng.below(PRIORITIES) as i64,
            payload: 0,
            attempts: 0,
        })),
        Res::Task(Ok(())) => Res::Task(Err(TaskError::NotFound)),
        Res::Task(Err(_)) => Res::Task(Ok(())),
        Res::Fail(Ok(_)) => Res::Fail(Err(TaskError::NotFound)),
        Res::Fail(Err(_)) => Res::Fail(Ok(TaskStatus::Queued)),
        Res::Cancel(b) => Res::Cancel(!b),
        Res::Status(Some(s)) => {
            let other = status(rng);
            Res::Status(if other == *s { None } else { Some(other) })
        }
        Res::Status(None) => Res::Status(Some(status(rng))),
        Res::Len(n) => Res::Len(n + 1),
        Res::Drained(ts) => Res::Drained(ts.iter().skip(1).cloned().collect()),
        Res::Unit | Res::Blocks => res.clone(),
    }
}
