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
        Res::Claims(Ok(ts)) => match (rng.below(3), ts.len()) {
            (_, 0) | (0, _) => Res::Claims(Err(ClaimError::Empty)),
            (1, n) if n > 1 => Res::Claims(Ok(ts.iter().rev().cloned().collect())),
            _ => Res::Claims(Ok(ts[..ts.len() - 1].to_vec())),
        },
        Res::Claims(Err(_)) => Res::Claims(Ok(vec![TaskView {
            id: rng.below(IDS) as Id,
            priority: rng.below(PRIORITIES) as i64,
            payload: 0,
            attempts: 0,
        }])),
        Res::Refused { added, refused } => match refused.split_first() {
            Some((_, rest)) => Res::Refused {
                added: added + 1,
                refused: rest.to_vec(),
            },
            None => Res::Refused {
                added: added.saturating_sub(1),
                refused: vec![(Refusal::Duplicate, 0, 0, 0)],
            },
        },
        Res::Completes(rs) => {
            let mut rs = rs.clone();
            match rs.first_mut() {
                Some(r) if r.is_ok() => *r = Err(TaskError::NotFound),
                Some(r) => *r = Ok(()),
                None => rs.push(Ok(())),
            }
            Res::Completes(rs)
        }
        Res::Fails(rs) => {
            let mut rs = rs.clone();
            match rs.first_mut() {
                Some(r) if r.is_ok() => *r = Err(TaskError::NotFound),
                Some(r) => *r = Ok(TaskStatus::Queued),
                None => rs.push(Ok(TaskStatus::Queued)),
            }
            Res::Fails(rs)
        }
        Res::Unit | Res::Blocks => res.clone(),
    }
}

// ---------------------------------------------------------------------------------------------
// Batch operations
// ---------------------------------------------------------------------------------------------

fn add_tasks(tasks: &[(Id, i64)]) -> Op {
    let tasks: Vec<NewTask> = tasks
        .iter()
        .map(|&(id, p)| (id, p, 100 + Payload::from(id)))
        .collect();
    Op::AddTasks(Few::new(&tasks))
}

fn added(n: usize) -> Res {
    Res::Refused {
        added: n,
        refused: Vec::new(),
    }
}

fn view(id: Id, priority: i64, attempts: u32) -> TaskView {
    TaskView {
        id,
        priority,
        payload: 100 + Payload::from(id),
        attempts,
    }
}

fn batch(tasks: &[(Id, i64)]) -> Res {
    Res::Claims(Ok(tasks.iter().map(|&(id, p)| view(id, p, 0)).collect()))
}

fn claims(max: u8) -> Op {
    Op::Claims {
        kind: ClaimKind::Try,
        max,
    }
}

const BLOCKING_CLAIMS_3: Op = Op::Claims {
    kind: ClaimKind::Blocking,
    max: 3,
};

#[test]
fn accepts_a_batch_claim_of_the_best_tasks() {
    let base = [
        ev(0, 0, 1, add(1, 1), OK),
        ev(0, 2, 3, add(2, 5), OK),
        ev(0, 4, 5, add(3, 3), OK),
    ];
    let mut h = base.to_vec();
    h.push(ev(1, 6, 7, claims(2), batch(&[(2, 5), (3, 3)])));
    h.push(ev(1, 8, 9, CLAIM, task(1, 1, 0)));
    assert!(linearizable(&h));
    // max 0: an empty batch, nothing claimed.
    let mut h = base.to_vec();
    h.push(ev(1, 6, 7, claims(0), batch(&[])));
    h.push(ev(1, 8, 9, Op::Len, Res::Len(3)));
    assert!(linearizable(&h));
    // Fewer queued than max: all of them; then Empty.
    let mut h = base.to_vec();
    h.push(ev(1, 6, 7, claims(3), batch(&[(2, 5), (3, 3), (1, 1)])));
    h.push(ev(1, 8, 9, claims(3), Res::Claims(Err(ClaimError::Empty))));
    assert!(linearizable(&h));
}

#[test]
fn rejects_a_batch_claim_that_is_not_the_best_in_order() {
    let base = [
        ev(0, 0, 1, add(1, 1), OK),
        ev(0, 2, 3, add(2, 5), OK),
        ev(0, 4, 5, add(3, 3), OK),
    ];
    // A worse task while a better one was queued throughout.
    let mut h = base.to_vec();
    h.push(ev(1, 6, 7, claims(2), batch(&[(2, 5), (1, 1)])));
    assert!(!linearizable(&h));
    // The best tasks, but not best first.
    let mut h = base.to_vec();
    h.push(ev(1, 6, 7, claims(2), batch(&[(3, 3), (2, 5)])));
    assert!(!linearizable(&h));
    // Fewer than max while more were queued.
    let mut h = base.to_vec();
    h.push(ev(1, 6, 7, claims(3), batch(&[(2, 5), (3, 3)])));
    assert!(!linearizable(&h));
    // Two batch claims sharing a task.
    let mut h = base.to_vec();
    h.push(ev(1, 6, 9, claims(2), batch(&[(2, 5), (3, 3)])));
    h.push(ev(2, 7, 8, claims(2), batch(&[(3, 3), (1, 1)])));
    assert!(!linearizable(&h));
}

#[test]
fn accepts_overlapping_batch_claims_in_either_order() {
    // Thread 1 is invoked first but takes effect second: it gets the tasks thread 2 left.
    let mut h = vec![
        ev(
            0,
            0,
            1,
            add_tasks(&[(1, 0), (2, 0), (3, 0), (4, 0)]),
            added(4),
        ),
        ev(1, 2, 7, claims(2), batch(&[(3, 0), (4, 0)])),
        ev(2, 3, 6, claims(2), batch(&[(1, 0), (2, 0)])),
    ];
    assert!(linearizable(&h));
    // Had thread 2 asked for up to 3, it would have taken 3 too, in either order.
    h[2].op = claims(3);
    assert!(!linearizable(&h));
}

/// The shape of a batch claim served in two steps: a batch claimer (up to 3) and a single
/// claimer wait; a batch add of 1, 2, 3; the batch claim returns 1 and 3, the single claim 2.
/// No order of the two claims gives that: the checker must reject it. The two atomic outcomes
/// are accepted.
#[test]
fn rejects_a_batch_claim_split_around_another_claim() {
    const WAIT: Op = Op::Claim(ClaimKind::Blocking);
    let split = [
        ev(0, 0, 9, BLOCKING_CLAIMS_3, batch(&[(1, 0), (3, 0)])),
        ev(1, 1, 8, WAIT, task(2, 0, 0)),
        ev(2, 2, 3, add_tasks(&[(1, 0), (2, 0), (3, 0)]), added(3)),
    ];
    assert!(!linearizable(&split));
    // The single claim first, then the batch.
    let mut single_first = split.to_vec();
    single_first[0].res = batch(&[(2, 0), (3, 0)]);
    single_first[1].res = task(1, 0, 0);
    assert!(linearizable(&single_first));
    // The batch first, taking all three; the single claim is released by a shutdown.
    let mut batch_first = split.to_vec();
    batch_first[0].res = batch(&[(1, 0), (2, 0), (3, 0)]);
    batch_first[1].res = Res::Claim(Err(ClaimError::ShutDown));
    batch_first.push(ev(2, 4, 5, Op::Shutdown, Res::Unit));
    assert!(linearizable(&batch_first));
    // The same split with a try claim that ran between the batch's two halves.
    let split = [
        ev(0, 0, 9, BLOCKING_CLAIMS_3, batch(&[(1, 0), (3, 0)])),
        ev(2, 1, 2, add_tasks(&[(1, 0), (2, 0), (3, 0)]), added(3)),
        ev(2, 3, 4, CLAIM, task(2, 0, 0)),
    ];
    assert!(!linearizable(&split));
}

/// A batch add is one step: nobody sees part of it.
#[test]
fn rejects_seeing_half_a_batch_add() {
    // A claim overlapping a batch add of 1 (priority 0) and 2 (priority 5) gets 1: only possible
    // if 2 was not there yet.
    let h = [
        ev(0, 0, 3, add_tasks(&[(1, 0), (2, 5)]), added(2)),
        ev(1, 1, 2, CLAIM, task(1, 0, 0)),
    ];
    assert!(!linearizable(&h));
    // A length of 1 during a batch add of 2 to an empty queue.
    let h = [
        ev(0, 0, 3, add_tasks(&[(1, 0), (2, 0)]), added(2)),
        ev(1, 1, 2, Op::Len, Res::Len(1)),
    ];
    assert!(!linearizable(&h));
    // A status read that sees the second task but not the first.
    let h = [
        ev(0, 0, 5, add_tasks(&[(1, 0), (2, 0)]), added(2)),
        ev(
            1,
            1,
            2,
            Op::Status(2),
            Res::Status(Some(TaskStatus::Queued)),
        ),
        ev(1, 3, 4, Op::Status(1), Res::Status(None)),
    ];
    assert!(!linearizable(&h));
    // Before or after it all: fine.
    let h = [
        ev(0, 0, 5, add_tasks(&[(1, 0), (2, 5)]), added(2)),
        ev(1, 1, 2, Op::Len, Res::Len(0)),
        ev(1, 3, 4, CLAIM, task(2, 5, 0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn batch_add_refusals_in_order() {
    let bounded = Setup {
        capacity: Some(2),
        ..Setup::DEFAULT
    };
    let op = add_tasks(&[(1, 0), (1, 3), (2, 1), (3, 2)]);
    let refused = |list: Vec<(Refusal, Id, i64)>| Res::Refused {
        added: 4 - list.len(),
        refused: list
            .into_iter()
            .map(|(why, id, p)| (why, id, p, 100 + Payload::from(id)))
            .collect(),
    };
    let right = refused(vec![(Refusal::Duplicate, 1, 3), (Refusal::Full, 3, 2)]);
    assert!(linearizable_with(
        bounded,
        &[ev(0, 0, 1, op, right.clone())]
    ));
    // Unbounded, the last one fits.
    assert!(!linearizable(&[ev(0, 0, 1, op, right)]));
    assert!(linearizable(&[ev(
        0,
        0,
        1,
        op,
        refused(vec![(Refusal::Duplicate, 1, 3)])
    )]));
    // Refusals out of order, or with the wrong task, are wrong.
    let swapped = refused(vec![(Refusal::Full, 3, 2), (Refusal::Duplicate, 1, 3)]);
    assert!(!linearizable_with(bounded, &[ev(0, 0, 1, op, swapped)]));
    let first_refused = refused(vec![(Refusal::Duplicate, 1, 0), (Refusal::Full, 3, 2)]);
    assert!(!linearizable_with(
        bounded,
        &[ev(0, 0, 1, op, first_refused)]
    ));
    // After a shutdown, all of them.
    let h = [
        ev(1, 0, 1, Op::Shutdown, Res::Unit),
        ev(
            0,
            2,
            3,
            op,
            refused(vec![
                (Refusal::ShutDown, 1, 0),
                (Refusal::ShutDown, 1, 3),
                (Refusal::ShutDown, 2, 1),
                (Refusal::ShutDown, 3, 2),
            ]),
        ),
    ];
    assert!(linearizable(&h));
}

#[test]
fn batch_completes_and_fails_per_item() {
    let once = Setup {
        max_attempts: Some(2),
        ..Setup::DEFAULT
    };
    // Thread 1 claims 1 and 2 in one batch (event #0 of thread 1), fails both, claims 1 again
    // (event #2), and completes: 1 by its current claim, 2 by its old one (now queued), 1 again.
    let named = |list: &[(Id, usize, u8)]| Few::new(list);
    let h = [
        ev(0, 0, 1, add_tasks(&[(1, 0), (2, 0)]), added(2)),
        ev(1, 2, 3, claims(2), batch(&[(1, 0), (2, 0)])),
        ev(
            1,
            4,
            5,
            Op::FailTasks(named(&[(1, 0, 0), (2, 0, 1), (2, 0, 1)])),
            Res::Fails(vec![
                Ok(TaskStatus::Queued),
                Ok(TaskStatus::Queued),
                Err(TaskError::InvalidState {
                    current: TaskStatus::Queued,
                }),
            ]),
        ),
        ev(1, 6, 7, CLAIM, task(1, 0, 1)),
        ev(
            1,
            8,
            9,
            Op::CompleteClaims(named(&[(1, 2, 0), (2, 0, 1), (1, 0, 0), (1, 2, 0)])),
            Res::Completes(vec![
                Ok(()),
                Err(TaskError::InvalidState {
                    current: TaskStatus::Queued,
                }),
                Err(TaskError::Stale),
                Err(TaskError::InvalidState {
                    current: TaskStatus::Completed,
                }),
            ]),
        ),
    ];
    assert!(linearizable_with(once, &h));
    // Any one result changed is wrong.
    for (i, k) in [(2, 0), (2, 2), (4, 1), (4, 2)] {
        let mut bad = h.to_vec();
        match &mut bad[i].res {
            Res::Fails(rs) => rs[k] = Err(TaskError::NotFound),
            Res::Completes(rs) => rs[k] = Ok(()),
            _ => unreachable!(),
        }
        assert!(!linearizable_with(once, &bad), "event {i}, item {k}");
    }
    // With max_attempts 1 the fails end the tasks instead.
    let mut h1 = h[..3].to_vec();
    h1[2].res = Res::Fails(vec![
        Ok(TaskStatus::Failed),
        Ok(TaskStatus::Failed),
        Err(TaskError::InvalidState {
            current: TaskStatus::Failed,
        }),
    ]);
    let one = Setup {
        max_attempts: Some(1),
        ..Setup::DEFAULT
    };
    assert!(linearizable_with(one, &h1));
    assert!(!linearizable_with(once, &h1));
}

#[test]
fn a_blocking_batch_claim_takes_effect_only_once_it_can() {
    // Invoked before the batch add, it returns the best of it.
    let h = [
        ev(0, 0, 5, BLOCKING_CLAIMS_3, batch(&[(2, 5), (1, 0)])),
        ev(1, 1, 4, add_tasks(&[(1, 0), (2, 5)]), added(2)),
    ];
    assert!(linearizable(&h));
    // It never takes effect on an empty queue and says so.
    let h = [ev(
        0,
        0,
        1,
        BLOCKING_CLAIMS_3,
        Res::Claims(Err(ClaimError::Empty)),
    )];
    assert!(!linearizable(&h));
    // Released by a shutdown, but not while a task added before it is still queued.
    let h = [
        ev(1, 0, 1, add(1, 0), OK),
        ev(
            0,
            2,
            7,
            BLOCKING_CLAIMS_3,
            Res::Claims(Err(ClaimError::ShutDown)),
        ),
        ev(1, 3, 4, Op::Shutdown, Res::Unit),
    ];
    assert!(!linearizable(&h));
}
