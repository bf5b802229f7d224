//! The contract suite: every rule of the `TaskQueue` trait (order, adds, claims, transitions,
//! failures, shutdown, retention, counts, `ClaimGuard`, fencing, snapshots, bad input, panicking
//! user code, blocking and wake-ups), written once generically over a [`Factory`]. A test file
//! runs it for a backend with `contract_suite!(name, Factory)`.

use std::sync::mpsc;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::{inv, Factory, Opts, Rng};
use taskq::{
    AddError, AddTimeoutError, ClaimError, ClaimGuard, FinishedTask, RestoreError, Retention,
    Snapshot, Stats, Task, TaskError, TaskQueue, TaskStatus, TryAddError,
};

type Q<F> = <F as Factory>::Q<u64, String>;

/// A default (unbounded, unlimited attempts, keep all) queue of `u64` ids and `String` payloads.
pub fn new_q<F: Factory>() -> Q<F> {
    F::build(Opts::default())
}

pub fn with<F: Factory>(opts: Opts) -> Q<F> {
    F::build(opts)
}

fn s(x: impl ToString) -> String {
    x.to_string()
}

/// Claims every queued task without waiting, returning their ids in claim order.
fn drain<K: Clone, P>(q: &impl TaskQueue<K, P>) -> Vec<K> {
    let mut out = Vec::new();
    loop {
        match q.try_get_next_task() {
            Ok(t) => out.push(t.id),
            Err(ClaimError::Empty) | Err(ClaimError::ShutDown) => return out,
            Err(e) => panic!("unexpected {e:?}"),
        }
    }
}

/// Gives a spawned thread time to reach its blocking call. Correctness never depends on it.
fn let_block() {
    thread::sleep(Duration::from_millis(50));
}

/// Claims the task with this id (it must be the best one).
pub fn claim_id<F: Factory>(q: &Q<F>, id: u64) -> Task<u64, String> {
    let t = q.try_get_next_task().expect("a task is queued");
    assert_eq!(t.id, id, "claimed the wrong task");
    t
}

fn invalid(current: TaskStatus) -> TaskError {
    TaskError::InvalidState { current }
}

// ---------------------------------------------------------------------------------------------
// 1. Order
// ---------------------------------------------------------------------------------------------

pub fn order_priority_then_fifo<F: Factory>() {
    let q = new_q::<F>();
    let prios = [
        0,
        5,
        i64::MIN,
        -1,
        i64::MAX,
        5,
        0,
        i64::MIN,
        i64::MAX,
        -1,
        1,
    ];
    for (id, &p) in prios.iter().enumerate() {
        q.add_task(id as u64, p, s(id)).unwrap();
    }
    inv(&q);
    // Stable sort by priority, descending: equal priorities stay in add order.
    let mut expected: Vec<u64> = (0..prios.len() as u64).collect();
    expected.sort_by_key(|&id| std::cmp::Reverse(prios[id as usize]));
    assert_eq!(expected, vec![4, 8, 1, 5, 10, 0, 6, 3, 9, 2, 7]);
    let mut got = Vec::new();
    while let Ok(t) = q.try_get_next_task() {
        assert_eq!(t.priority, prios[t.id as usize]);
        assert_eq!(t.payload, s(t.id));
        got.push(t.id);
        inv(&q);
    }
    assert_eq!(got, expected);
}

pub fn order_random_many<F: Factory>() {
    let q = new_q::<F>();
    let mut rng = Rng::new(7);
    let mut prios = Vec::new();
    for id in 0..2_000u64 {
        // A small priority range, so that many ties test FIFO.
        let p = rng.below(16) as i64 - 8;
        prios.push(p);
        q.add_task(id, p, String::new()).unwrap();
    }
    let mut expected: Vec<u64> = (0..prios.len() as u64).collect();
    expected.sort_by_key(|&id| std::cmp::Reverse(prios[id as usize]));
    assert_eq!(drain(&q), expected);
    inv(&q);
}

pub fn update_priority_reorders<F: Factory>() {
    let q = new_q::<F>();
    for id in 0..5u64 {
        q.add_task(id, 1, s(id)).unwrap();
    }
    // Up: 3 jumps ahead of everybody.
    q.update_priority(&3, 10).unwrap();
    // Down: 0 goes behind everybody.
    q.update_priority(&0, -10).unwrap();
    // Up and back down: 1 keeps its original place among the priority-1 tasks.
    q.update_priority(&1, i64::MAX).unwrap();
    q.update_priority(&1, 1).unwrap();
    // 4 moves to a priority where 3 already is: 4 was added later, so it goes behind 3.
    q.update_priority(&4, 10).unwrap();
    // 2 moves up to 10 as well: added before 3 and 4, so it goes ahead of them.
    q.update_priority(&2, 10).unwrap();
    inv(&q);
    let snap: Vec<(u64, i64)> = q
        .snapshot()
        .queued
        .iter()
        .map(|t| (t.id, t.priority))
        .collect();
    assert_eq!(snap, vec![(2, 10), (3, 10), (4, 10), (1, 1), (0, -10)]);
    assert_eq!(drain(&q), vec![2, 3, 4, 1, 0]);
    assert_eq!(q.len(), 0);
}

pub fn update_priority_random_many<F: Factory>() {
    let q = new_q::<F>();
    let mut rng = Rng::new(11);
    let n = 1_000u64;
    let mut prios = vec![0i64; n as usize];
    for id in 0..n {
        prios[id as usize] = rng.below(8) as i64;
        q.add_task(id, prios[id as usize], String::new()).unwrap();
    }
    for _ in 0..5_000 {
        let id = rng.below(n);
        let p = match rng.below(10) {
            0 => i64::MAX,
            1 => i64::MIN,
            _ => rng.below(8) as i64,
        };
        prios[id as usize] = p;
        q.update_priority(&id, p).unwrap();
    }
    inv(&q);
    assert_eq!(q.len(), n as usize);
    let mut expected: Vec<u64> = (0..n).collect();
    expected.sort_by_key(|&id| std::cmp::Reverse(prios[id as usize]));
    assert_eq!(drain(&q), expected);
}

pub fn fail_requeues_behind_equals<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 1, s(1)).unwrap();
    q.add_task(2, 1, s(2)).unwrap();
    q.add_task(3, 0, s(3)).unwrap();
    let t = claim_id::<F>(&q, 1);
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Queued));
    inv(&q);
    // Behind its equal (2), still ahead of lower priority (3).
    let order: Vec<(u64, u32)> = std::iter::from_fn(|| q.try_get_next_task().ok())
        .map(|t| (t.id, t.attempts))
        .collect();
    assert_eq!(order, vec![(2, 0), (1, 1), (3, 0)]);
    // A failed high-priority task stays ahead of lower ones.
    let q = new_q::<F>();
    q.add_task(1, 5, s(1)).unwrap();
    q.add_task(2, 1, s(2)).unwrap();
    let t = claim_id::<F>(&q, 1);
    q.fail_task(t).unwrap();
    assert_eq!(drain(&q), vec![1, 2]);
}

// ---------------------------------------------------------------------------------------------
// 2. add_task
// ---------------------------------------------------------------------------------------------

pub fn duplicate_ids_are_refused_with_payload<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    // Queued.
    assert_eq!(q.add_task(1, 9, s("b")), Err(AddError::Duplicate(s("b"))));
    assert_eq!(
        q.try_add_task(1, 9, s("c")),
        Err(TryAddError::Duplicate(s("c")))
    );
    assert_eq!(
        q.add_task_timeout(1, 9, s("d"), Duration::from_millis(1)),
        Err(AddTimeoutError::Duplicate(s("d")))
    );
    // Processing.
    claim_id::<F>(&q, 1);
    assert_eq!(q.add_task(1, 0, s("e")).unwrap_err().into_payload(), s("e"));
    // Completed (retained).
    q.complete_task(&1).unwrap();
    assert_eq!(q.add_task(1, 0, s("f")), Err(AddError::Duplicate(s("f"))));
    // Cancelled (retained).
    q.add_task(2, 0, s("x")).unwrap();
    assert!(q.cancel_task(&2));
    assert_eq!(q.add_task(2, 0, s("g")), Err(AddError::Duplicate(s("g"))));
    // Failed (retained).
    let q2 = with::<F>(Opts::default().max_attempts(1));
    q2.add_task(3, 0, s("x")).unwrap();
    let t = q2.try_get_next_task().unwrap();
    assert_eq!(q2.fail_task(t), Ok(TaskStatus::Failed));
    assert_eq!(q2.add_task(3, 0, s("h")), Err(AddError::Duplicate(s("h"))));
    // The refused adds changed nothing.
    assert_eq!(q.stats().total_added, 2);
    assert_eq!(q.get_status(&1), Some(TaskStatus::Completed));
    inv(&q);
    inv(&q2);
}

pub fn readd_after_forget_or_retention<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    claim_id::<F>(&q, 1);
    q.complete_task(&1).unwrap();
    q.forget_task(&1).unwrap();
    assert_eq!(q.get_status(&1), None);
    q.add_task(1, 0, s("again")).unwrap();
    let t = q.try_get_next_task().unwrap();
    assert_eq!((t.id, t.attempts, t.payload.as_str()), (1, 0, "again"));
    inv(&q);

    let q = with::<F>(Opts::default().retention(Retention::KeepNone));
    q.add_task(1, 0, s("a")).unwrap();
    q.cancel_task(&1);
    q.add_task(1, 0, s("b")).unwrap();
    assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    inv(&q);

    let q = with::<F>(Opts::default().retention(Retention::KeepLast(1)));
    q.add_task(1, 0, s("a")).unwrap();
    q.add_task(2, 0, s("b")).unwrap();
    assert!(q.cancel_task(&1));
    assert_eq!(q.add_task(1, 0, s("c")), Err(AddError::Duplicate(s("c"))));
    assert!(q.cancel_task(&2)); // pushes 1 out of the retained window
    q.add_task(1, 0, s("d")).unwrap();
    assert_eq!(q.add_task(2, 0, s("e")), Err(AddError::Duplicate(s("e"))));
    inv(&q);
}

pub fn add_after_shutdown_is_refused<F: Factory>() {
    for now in [false, true] {
        let q = new_q::<F>();
        q.add_task(1, 0, s("a")).unwrap();
        if now {
            q.shutdown_now();
        } else {
            q.shutdown();
        }
        assert!(q.is_shut_down());
        assert_eq!(q.add_task(2, 0, s("b")), Err(AddError::ShutDown(s("b"))));
        assert_eq!(
            q.try_add_task(3, 0, s("c")),
            Err(TryAddError::ShutDown(s("c")))
        );
        assert_eq!(
            q.add_task_timeout(4, 0, s("d"), Duration::from_secs(1)),
            Err(AddTimeoutError::ShutDown(s("d")))
        );
        // Shut down wins over duplicate.
        assert_eq!(q.add_task(1, 0, s("e")), Err(AddError::ShutDown(s("e"))));
        assert_eq!(q.stats().total_added, 1);
        assert_eq!(q.get_status(&2), None);
        inv(&q);
    }
}

pub fn capacity_full_and_timeout<F: Factory>() {
    let q = with::<F>(Opts::default().capacity(2));
    assert_eq!(q.capacity(), Some(2));
    assert_eq!(new_q::<F>().capacity(), None);
    q.add_task(1, 0, s("a")).unwrap();
    q.try_add_task(2, 0, s("b")).unwrap();
    assert_eq!(q.try_add_task(3, 0, s("c")), Err(TryAddError::Full(s("c"))));
    let d = Duration::from_millis(30);
    let start = Instant::now();
    assert_eq!(
        q.add_task_timeout(3, 0, s("d"), d),
        Err(AddTimeoutError::Timeout(s("d")))
    );
    assert!(start.elapsed() >= d, "gave up before the timeout");
    assert_eq!(
        q.add_task_timeout(3, 0, s("z"), Duration::ZERO),
        Err(AddTimeoutError::Timeout(s("z")))
    );
    // A duplicate on a full queue is a duplicate, at once.
    assert_eq!(
        q.add_task_timeout(1, 0, s("e"), Duration::from_secs(3600)),
        Err(AddTimeoutError::Duplicate(s("e")))
    );
    assert_eq!(q.add_task(2, 0, s("f")), Err(AddError::Duplicate(s("f"))));
    assert_eq!(q.get_status(&3), None);
    assert_eq!(q.len(), 2);
    // Capacity bounds queued tasks only: a processing task frees its place.
    q.try_get_next_task().unwrap();
    q.try_add_task(3, 0, s("g")).unwrap();
    assert_eq!(q.try_add_task(4, 0, s("h")), Err(TryAddError::Full(s("h"))));
    // So does a cancel.
    assert!(q.cancel_task(&3));
    q.add_task_timeout(4, 0, s("i"), Duration::ZERO).unwrap();
    assert_eq!(q.len(), 2);
    assert_eq!(q.stats().processing, 1);
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 3. get_next_task
// ---------------------------------------------------------------------------------------------

pub fn claim_marks_processing<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 3, s("payload")).unwrap();
    assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    let t = q.get_next_task(None).unwrap();
    assert_eq!(t.id, 1);
    assert_eq!(t.priority, 3);
    assert_eq!(t.attempts, 0);
    assert_eq!(t.payload, "payload");
    assert_eq!(q.get_status(&1), Some(TaskStatus::Processing));
    assert_eq!(q.len(), 0);
    assert!(q.is_empty());
    assert_eq!(q.stats().processing, 1);
    inv(&q);
}

pub fn try_get_on_empty<F: Factory>() {
    let q = new_q::<F>();
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    q.add_task(1, 0, s("a")).unwrap();
    q.try_get_next_task().unwrap();
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    q.shutdown();
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::ShutDown);
}

pub fn claim_timeout_waits_at_least<F: Factory>() {
    let q = new_q::<F>();
    for ms in [1u64, 40] {
        let d = Duration::from_millis(ms);
        let start = Instant::now();
        assert_eq!(q.get_next_task(Some(d)).unwrap_err(), ClaimError::Timeout);
        assert!(start.elapsed() >= d, "returned before the timeout");
    }
    // Zero timeout: empty queue times out, a ready task is returned.
    assert_eq!(
        q.get_next_task(Some(Duration::ZERO)).unwrap_err(),
        ClaimError::Timeout
    );
    q.add_task(1, 0, s("a")).unwrap();
    assert_eq!(q.get_next_task(Some(Duration::ZERO)).unwrap().id, 1);
    inv(&q);
}

pub fn huge_timeouts_do_not_panic<F: Factory>() {
    let q = new_q::<F>();
    let huge = [
        Duration::MAX,
        Duration::from_secs(u64::MAX),
        Duration::from_secs(u64::MAX / 2),
        Duration::from_secs(1 << 40),
    ];
    for (i, &d) in huge.iter().enumerate() {
        q.add_task_timeout(i as u64, 0, s(i), d).unwrap();
        assert_eq!(q.get_next_task(Some(d)).unwrap().id, i as u64);
    }
    // Blocking with a huge timeout, ended by a task from another thread.
    thread::scope(|sc| {
        let h = sc.spawn(|| q.get_next_task(Some(Duration::MAX)));
        let_block();
        q.add_task(100, 0, s("x")).unwrap();
        assert_eq!(h.join().unwrap().unwrap().id, 100);
    });
    // ... and by a shutdown.
    thread::scope(|sc| {
        let q = &q;
        let hs: Vec<_> = huge
            .iter()
            .map(|&d| sc.spawn(move || q.get_next_task(Some(d))))
            .collect();
        let_block();
        q.shutdown();
        for h in hs {
            assert_eq!(h.join().unwrap().unwrap_err(), ClaimError::ShutDown);
        }
    });
    inv(&q);
    // A producer blocked with a huge timeout on a full queue.
    let q = with::<F>(Opts::default().capacity(1));
    q.add_task(1, 0, s("a")).unwrap();
    thread::scope(|sc| {
        let h = sc.spawn(|| q.add_task_timeout(2, 0, s("b"), Duration::MAX));
        let_block();
        q.try_get_next_task().unwrap();
        h.join().unwrap().unwrap();
        let h = sc.spawn(|| q.add_task_timeout(3, 0, s("c"), Duration::MAX));
        let_block();
        q.shutdown();
        assert_eq!(h.join().unwrap(), Err(AddTimeoutError::ShutDown(s("c"))));
    });
    inv(&q);
}

pub fn none_blocks_until_add<F: Factory>() {
    let q = new_q::<F>();
    thread::scope(|sc| {
        let h = sc.spawn(|| q.get_next_task(None));
        let_block();
        q.add_task(7, 0, s("wake")).unwrap();
        let t = h.join().unwrap().unwrap();
        assert_eq!((t.id, t.payload.as_str()), (7, "wake"));
    });
    assert_eq!(q.get_status(&7), Some(TaskStatus::Processing));
    // Several blocked claimers, several adds: each gets exactly one task.
    thread::scope(|sc| {
        let hs: Vec<_> = (0..4).map(|_| sc.spawn(|| q.get_next_task(None))).collect();
        let_block();
        for id in 10..14 {
            q.add_task(id, 0, s(id)).unwrap();
        }
        let mut ids: Vec<u64> = hs
            .into_iter()
            .map(|h| h.join().unwrap().unwrap().id)
            .collect();
        ids.sort_unstable();
        assert_eq!(ids, vec![10, 11, 12, 13]);
    });
    inv(&q);
}

pub fn blocked_claimer_wakes_on_fail<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    let t = q.try_get_next_task().unwrap();
    thread::scope(|sc| {
        let h = sc.spawn(|| q.get_next_task(None));
        let_block();
        assert_eq!(q.fail_task(t), Ok(TaskStatus::Queued));
        let t = h.join().unwrap().unwrap();
        assert_eq!((t.id, t.attempts), (1, 1));
    });
    inv(&q);
}

pub fn blocked_claimers_wake_on_shutdown<F: Factory>() {
    for now in [false, true] {
        let q = new_q::<F>();
        thread::scope(|sc| {
            let hs: Vec<_> = (0..3)
                .map(|i| {
                    let q = &q;
                    sc.spawn(move || {
                        if i == 0 {
                            q.get_next_task(None)
                        } else {
                            q.get_next_task(Some(Duration::from_secs(3600)))
                        }
                    })
                })
                .collect();
            let_block();
            if now {
                assert!(q.shutdown_now().is_empty());
            } else {
                q.shutdown();
            }
            for h in hs {
                assert_eq!(h.join().unwrap().unwrap_err(), ClaimError::ShutDown);
            }
        });
        assert_eq!(q.get_next_task(None).unwrap_err(), ClaimError::ShutDown);
        inv(&q);
    }
}

pub fn no_task_handed_to_two_claimers<F: Factory>() {
    let q = new_q::<F>();
    let n = 2_000u64;
    let claimed: Vec<Vec<u64>> = thread::scope(|sc| {
        let hs: Vec<_> = (0..4)
            .map(|_| {
                sc.spawn(|| {
                    let mut mine = Vec::new();
                    loop {
                        match q.get_next_task(None) {
                            Ok(t) => {
                                assert_eq!(q.get_status(&t.id), Some(TaskStatus::Processing));
                                mine.push(t.id);
                                q.complete_task(&t.id).unwrap();
                            }
                            Err(ClaimError::ShutDown) => return mine,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        for id in 0..n {
            q.add_task(id, (id % 3) as i64, String::new()).unwrap();
        }
        q.shutdown();
        hs.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = claimed.into_iter().flatten().collect();
    all.sort_unstable();
    assert_eq!(all, (0..n).collect::<Vec<_>>());
    assert_eq!(q.stats().total_completed, n);
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 4. Transitions
// ---------------------------------------------------------------------------------------------

pub fn illegal_transitions_report_current_state<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("queued")).unwrap();
    // Queued: only cancel / update_priority apply. (A claim failed back is queued again: failing
    // it twice finds it queued.)
    let t = claim_id::<F>(&q, 1);
    q.fail_task(t.clone()).unwrap();
    assert_eq!(q.complete_task(&1), Err(invalid(TaskStatus::Queued)));
    assert_eq!(q.fail_task(t), Err(invalid(TaskStatus::Queued)));
    assert_eq!(q.forget_task(&1), Err(invalid(TaskStatus::Queued)));
    // Processing.
    let t = claim_id::<F>(&q, 1);
    assert!(!q.cancel_task(&1));
    assert_eq!(q.get_status(&1), Some(TaskStatus::Processing));
    assert_eq!(
        q.update_priority(&1, 5),
        Err(invalid(TaskStatus::Processing))
    );
    assert_eq!(q.forget_task(&1), Err(invalid(TaskStatus::Processing)));
    // Completed.
    q.complete_task(&1).unwrap();
    assert_eq!(q.complete_task(&1), Err(invalid(TaskStatus::Completed)));
    assert_eq!(q.fail_task(t), Err(invalid(TaskStatus::Completed)));
    assert!(!q.cancel_task(&1));
    assert_eq!(
        q.update_priority(&1, 5),
        Err(invalid(TaskStatus::Completed))
    );
    // Cancelled.
    q.add_task(2, 0, s("c")).unwrap();
    assert!(q.cancel_task(&2));
    assert!(!q.cancel_task(&2));
    assert_eq!(q.complete_task(&2), Err(invalid(TaskStatus::Cancelled)));
    assert_eq!(
        q.update_priority(&2, 1),
        Err(invalid(TaskStatus::Cancelled))
    );
    // Failed.
    let qf = with::<F>(Opts::default().max_attempts(1));
    qf.add_task(3, 0, s("f")).unwrap();
    let t = qf.try_get_next_task().unwrap();
    assert_eq!(qf.fail_task(t.clone()), Ok(TaskStatus::Failed));
    assert_eq!(qf.complete_task(&3), Err(invalid(TaskStatus::Failed)));
    assert_eq!(qf.fail_task(t), Err(invalid(TaskStatus::Failed)));
    assert!(!qf.cancel_task(&3));
    assert_eq!(qf.update_priority(&3, 1), Err(invalid(TaskStatus::Failed)));
    // Statuses unchanged by the refused operations.
    assert_eq!(q.get_status(&1), Some(TaskStatus::Completed));
    assert_eq!(q.get_status(&2), Some(TaskStatus::Cancelled));
    assert_eq!(qf.get_status(&3), Some(TaskStatus::Failed));
    let st = q.stats();
    assert_eq!(
        (st.completed, st.cancelled, st.queued, st.processing),
        (1, 1, 0, 0)
    );
    inv(&q);
    inv(&qf);
}

pub fn unknown_ids_are_not_found<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    for id in [0u64, 2, u64::MAX] {
        assert_eq!(q.get_status(&id), None);
        assert_eq!(q.complete_task(&id), Err(TaskError::NotFound));
        assert!(!q.cancel_task(&id));
        assert_eq!(q.update_priority(&id, 1), Err(TaskError::NotFound));
        assert_eq!(q.forget_task(&id), Err(TaskError::NotFound));
    }
    // Forgotten is unknown again, to a claim of it too.
    let t = q.try_get_next_task().unwrap();
    q.complete_task(&1).unwrap();
    q.forget_task(&1).unwrap();
    assert_eq!(q.forget_task(&1), Err(TaskError::NotFound));
    assert_eq!(q.complete_task(&1), Err(TaskError::NotFound));
    assert_eq!(q.complete_claim(&1, t.token()), Err(TaskError::NotFound));
    assert_eq!(q.fail_task(t), Err(TaskError::NotFound));
    assert_eq!(q.get_status(&1), None);
    inv(&q);
}

pub fn cancel_only_queued<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    q.add_task(2, 0, s("b")).unwrap();
    assert!(q.cancel_task(&1));
    assert_eq!(q.get_status(&1), Some(TaskStatus::Cancelled));
    assert_eq!(q.len(), 1);
    // The cancelled task is never handed out.
    assert_eq!(drain(&q), vec![2]);
    q.complete_task(&2).unwrap();
    assert_eq!(q.stats().total_cancelled, 1);
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 5. fail_task and max_attempts
// ---------------------------------------------------------------------------------------------

pub fn fail_counts_attempts_until_failed<F: Factory>() {
    let q = with::<F>(Opts::default().max_attempts(3));
    q.add_task(1, 0, s("a")).unwrap();
    for attempt in 0..3u32 {
        let t = q.get_next_task(Some(Duration::ZERO)).unwrap();
        assert_eq!(t.attempts, attempt);
        let expected = if attempt < 2 {
            TaskStatus::Queued
        } else {
            TaskStatus::Failed
        };
        assert_eq!(q.fail_task(t), Ok(expected));
        assert_eq!(q.get_status(&1), Some(expected));
        inv(&q);
    }
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    let st = q.stats();
    assert_eq!((st.failed, st.total_failed, st.queued), (1, 1, 0));

    // Without max_attempts a task always goes back.
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    for attempt in 0..50u32 {
        let t = q.try_get_next_task().unwrap();
        assert_eq!(t.attempts, attempt);
        assert_eq!(q.fail_task(t), Ok(TaskStatus::Queued));
    }
    assert_eq!(q.stats().total_failed, 0);
    inv(&q);

    // max_attempts(1): the first failure is final.
    let q = with::<F>(Opts::default().max_attempts(1));
    q.add_task(1, 0, s("a")).unwrap();
    let t = q.try_get_next_task().unwrap();
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Failed));
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 6. Shutdown
// ---------------------------------------------------------------------------------------------

pub fn graceful_shutdown_drains<F: Factory>() {
    let q = new_q::<F>();
    for id in 0..5u64 {
        q.add_task(id, id as i64 % 2, s(id)).unwrap();
    }
    assert!(!q.is_shut_down());
    q.shutdown();
    q.shutdown(); // idempotent
    assert!(q.is_shut_down());
    // Every queued task is still handed out, best first, then ShutDown (without blocking).
    let mut got = Vec::new();
    loop {
        match q.get_next_task(None) {
            Ok(t) => {
                got.push(t.id);
                q.complete_task(&t.id).unwrap();
            }
            Err(e) => {
                assert_eq!(e, ClaimError::ShutDown);
                break;
            }
        }
    }
    assert_eq!(got, vec![1, 3, 0, 2, 4]);
    assert_eq!(
        q.get_next_task(Some(Duration::from_secs(3600)))
            .unwrap_err(),
        ClaimError::ShutDown
    );
    // A task failed after shutdown goes back and is handed out again.
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    let t = q.try_get_next_task().unwrap();
    q.shutdown();
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Queued));
    assert_eq!(q.get_next_task(None).unwrap().attempts, 1);
    // shutdown_now after shutdown returns what is still queued.
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    q.add_task(2, 0, s("b")).unwrap();
    q.shutdown();
    claim_id::<F>(&q, 1);
    let rest: Vec<u64> = q.shutdown_now().into_iter().map(|t| t.id).collect();
    assert_eq!(rest, vec![2]);
    assert_eq!(q.stats().total_cancelled, 1);
    inv(&q);
}

pub fn shutdown_now_returns_queued_best_first<F: Factory>() {
    let q = new_q::<F>();
    let prios = [0, 3, i64::MIN, 3, i64::MAX, 0];
    for (id, &p) in prios.iter().enumerate() {
        q.add_task(id as u64, p, s(id)).unwrap();
    }
    let processing = claim_id::<F>(&q, 4);
    let returned = q.shutdown_now();
    assert!(q.is_shut_down());
    let ids: Vec<u64> = returned.iter().map(|t| t.id).collect();
    assert_eq!(ids, vec![1, 3, 0, 5, 2]);
    for t in &returned {
        assert_eq!(t.payload, s(t.id));
        assert_eq!(t.priority, prios[t.id as usize]);
        assert_eq!(q.get_status(&t.id), Some(TaskStatus::Cancelled));
    }
    assert_eq!(q.len(), 0);
    // Claims return ShutDown at once, even with None.
    assert_eq!(q.get_next_task(None).unwrap_err(), ClaimError::ShutDown);
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::ShutDown);
    // The processing task stays processing; failed, it comes back in the next shutdown_now.
    assert_eq!(q.get_status(&4), Some(TaskStatus::Processing));
    assert_eq!(q.fail_task(processing), Ok(TaskStatus::Queued));
    assert_eq!(q.len(), 1);
    assert_eq!(q.get_next_task(None).unwrap_err(), ClaimError::ShutDown);
    let again = q.shutdown_now();
    assert_eq!(again.len(), 1);
    assert_eq!((again[0].id, again[0].attempts), (4, 1));
    assert_eq!(q.get_status(&4), Some(TaskStatus::Cancelled));
    assert!(q.shutdown_now().is_empty());
    // Nothing silently dropped: everything added is accounted for.
    let st = q.stats();
    assert_eq!(st.total_added, 6);
    assert_eq!(st.total_cancelled, 6);
    assert_eq!((st.queued, st.processing, st.cancelled), (0, 0, 6));
    inv(&q);
}

pub fn completing_after_shutdown_now<F: Factory>() {
    let q = with::<F>(Opts::default().max_attempts(1));
    q.add_task(1, 0, s("a")).unwrap();
    q.add_task(2, 0, s("b")).unwrap();
    q.try_get_next_task().unwrap();
    let t = q.try_get_next_task().unwrap();
    assert!(q.shutdown_now().is_empty());
    q.complete_task(&1).unwrap();
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Failed));
    assert!(q.shutdown_now().is_empty());
    let st = q.stats();
    assert_eq!((st.total_completed, st.total_failed), (1, 1));
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 7. Memory and retention
// ---------------------------------------------------------------------------------------------

/// Finishes task `id` (queued, best) with the given final status.
pub fn finish_one<F: Factory>(q: &Q<F>, id: u64, how: TaskStatus) {
    match how {
        TaskStatus::Completed => {
            claim_id::<F>(q, id);
            q.complete_task(&id).unwrap();
        }
        TaskStatus::Cancelled => assert!(q.cancel_task(&id)),
        TaskStatus::Failed => {
            let t = claim_id::<F>(q, id);
            assert_eq!(q.fail_task(t), Ok(TaskStatus::Failed));
        }
        _ => unreachable!(),
    }
}

const FINALS: [TaskStatus; 3] = [
    TaskStatus::Completed,
    TaskStatus::Cancelled,
    TaskStatus::Failed,
];

pub fn retention_keep_all<F: Factory>() {
    let q = with::<F>(Opts::default().max_attempts(1));
    for id in 0..30u64 {
        q.add_task(id, 0, s(id)).unwrap();
        finish_one::<F>(&q, id, FINALS[id as usize % 3]);
    }
    for id in 0..30u64 {
        assert_eq!(q.get_status(&id), Some(FINALS[id as usize % 3]));
    }
    let st = q.stats();
    assert_eq!((st.completed, st.cancelled, st.failed), (10, 10, 10));
    assert_eq!(q.snapshot().finished.len(), 30);
    inv(&q);
}

pub fn retention_keep_last<F: Factory>() {
    let q = with::<F>(
        Opts::default()
            .max_attempts(1)
            .retention(Retention::KeepLast(4)),
    );
    for id in 0..30u64 {
        q.add_task(id, 0, s(id)).unwrap();
        finish_one::<F>(&q, id, FINALS[id as usize % 3]);
        inv(&q);
        let st = q.stats();
        assert_eq!(
            st.completed + st.cancelled + st.failed,
            (id as usize + 1).min(4)
        );
    }
    for id in 0..26u64 {
        assert_eq!(q.get_status(&id), None, "task {id} should be dropped");
    }
    for id in 26..30u64 {
        assert_eq!(q.get_status(&id), Some(FINALS[id as usize % 3]));
    }
    let st = q.stats();
    assert_eq!(
        (st.total_completed, st.total_cancelled, st.total_failed),
        (10, 10, 10)
    );
    // A forget inside the window leaves the others in place.
    q.forget_task(&28).unwrap();
    assert_eq!(q.get_status(&27), Some(FINALS[0]));
    q.add_task(100, 0, s("x")).unwrap();
    finish_one::<F>(&q, 100, TaskStatus::Completed);
    assert_eq!(q.get_status(&26), Some(FINALS[2]));
    assert_eq!(q.get_status(&100), Some(TaskStatus::Completed));
    inv(&q);
    // KeepLast(0) keeps nothing.
    let q = with::<F>(Opts::default().retention(Retention::KeepLast(0)));
    q.add_task(1, 0, s("a")).unwrap();
    q.cancel_task(&1);
    assert_eq!(q.get_status(&1), None);
    inv(&q);
}

pub fn retention_keep_none<F: Factory>() {
    let q = with::<F>(
        Opts::default()
            .max_attempts(1)
            .retention(Retention::KeepNone),
    );
    for id in 0..30u64 {
        q.add_task(id, 0, s(id)).unwrap();
        finish_one::<F>(&q, id, FINALS[id as usize % 3]);
        assert_eq!(q.get_status(&id), None);
        inv(&q);
    }
    let st = q.stats();
    assert_eq!((st.completed, st.cancelled, st.failed), (0, 0, 0));
    assert_eq!(
        (
            st.total_added,
            st.total_completed,
            st.total_cancelled,
            st.total_failed
        ),
        (30, 10, 10, 10)
    );
    assert!(q.snapshot().finished.is_empty());
    // Cancelled by shutdown_now: not retained either.
    q.add_task(50, 0, s("x")).unwrap();
    assert_eq!(q.shutdown_now().len(), 1);
    assert_eq!(q.get_status(&50), None);
    inv(&q);
}

pub fn forget_frees_finished<F: Factory>() {
    let q = new_q::<F>();
    for id in 0..3u64 {
        q.add_task(id, 0, s(id)).unwrap();
    }
    finish_one::<F>(&q, 0, TaskStatus::Completed);
    finish_one::<F>(&q, 2, TaskStatus::Cancelled);
    q.forget_task(&0).unwrap();
    q.forget_task(&2).unwrap();
    let st = q.stats();
    assert_eq!((st.completed, st.cancelled, st.queued), (0, 0, 1));
    assert_eq!((st.total_completed, st.total_cancelled), (1, 1));
    assert!(q.snapshot().finished.is_empty());
    inv(&q);
}

pub fn churn_leaves_no_garbage<F: Factory>() {
    // Add / cancel cycles with KeepNone: nothing accumulates.
    let q = with::<F>(Opts::default().retention(Retention::KeepNone));
    q.add_task(u64::MAX, 0, s("stays")).unwrap();
    for round in 0..200u64 {
        for i in 0..50u64 {
            q.add_task(round * 50 + i, (i % 7) as i64, String::new())
                .unwrap();
        }
        for i in 0..50u64 {
            assert!(q.cancel_task(&(round * 50 + i)));
        }
        assert_eq!(q.len(), 1);
        if round % 20 == 0 {
            inv(&q);
        }
    }
    let st = q.stats();
    let mut want = Stats::default();
    (want.queued, want.total_added, want.total_cancelled) = (1, 10_001, 10_000);
    assert_eq!(st, want);
    assert_eq!(drain(&q), vec![u64::MAX]);
    inv(&q);

    // Bursts with KeepAll and forget: the same.
    let q = new_q::<F>();
    for round in 0..20u64 {
        for i in 0..500u64 {
            q.add_task(i, (i % 5) as i64, String::new()).unwrap();
        }
        // Re-prioritise many times: no tombstones, len unchanged.
        for i in 0..500u64 {
            q.update_priority(&i, (round as i64) - (i as i64)).unwrap();
        }
        assert_eq!(q.len(), 500);
        inv(&q);
        for i in 0..500u64 {
            assert!(q.cancel_task(&i));
            q.forget_task(&i).unwrap();
        }
        assert_eq!(q.len(), 0);
        let st = q.stats();
        assert_eq!((st.queued, st.cancelled, st.processing), (0, 0, 0));
        inv(&q);
    }
    let snap = q.snapshot();
    assert!(snap.queued.is_empty() && snap.processing.is_empty() && snap.finished.is_empty());
}

// ---------------------------------------------------------------------------------------------
// 8. Counts
// ---------------------------------------------------------------------------------------------

pub fn len_and_stats_count_every_status<F: Factory>() {
    let q = with::<F>(Opts::default().max_attempts(2));
    assert!(q.is_empty());
    assert_eq!(q.stats(), Stats::default());
    for id in 0..10u64 {
        q.add_task(id, -(id as i64), s(id)).unwrap();
    }
    assert_eq!(q.len(), 10);
    assert!(!q.is_empty());
    // 0,1 completed; 2 failed for good; 3 processing; 4 queued again after a failure;
    // 5,6 cancelled; 7..9 queued.
    for id in 0..2 {
        claim_id::<F>(&q, id);
        q.complete_task(&id).unwrap();
    }
    let t = claim_id::<F>(&q, 2);
    q.fail_task(t).unwrap();
    let t = claim_id::<F>(&q, 2);
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Failed));
    claim_id::<F>(&q, 3);
    let t = claim_id::<F>(&q, 4);
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Queued));
    assert!(q.cancel_task(&5));
    assert!(q.cancel_task(&6));
    let st = q.stats();
    let mut want = Stats::default();
    (
        want.queued,
        want.processing,
        want.completed,
        want.cancelled,
        want.failed,
    ) = (4, 1, 2, 2, 1);
    (want.total_added, want.total_completed) = (10, 2);
    (want.total_cancelled, want.total_failed) = (2, 1);
    assert_eq!(st, want);
    assert_eq!(q.len(), st.queued);
    let known = st.queued + st.processing + st.completed + st.cancelled + st.failed;
    assert_eq!(known as u64, st.total_added);
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 9. ClaimGuard
// ---------------------------------------------------------------------------------------------

pub fn claim_guard_complete_fail_drop<F: Factory>() {
    let q = with::<F>(Opts::default().max_attempts(3));
    q.add_task(1, 0, s("a")).unwrap();
    q.add_task(2, 0, s("b")).unwrap();
    q.add_task(3, 0, s("c")).unwrap();
    let g = q.claim(None).unwrap();
    assert_eq!((g.id, g.payload.as_str()), (1, "a"));
    let shown = format!("{g:?}");
    assert!(
        shown.starts_with("ClaimGuard") && shown.contains("id: 1"),
        "{shown}"
    );
    assert_eq!(g.task().attempts, 0);
    assert_eq!(q.get_status(&1), Some(TaskStatus::Processing));
    g.complete().unwrap();
    assert_eq!(q.get_status(&1), Some(TaskStatus::Completed));

    let g = q.claim(Some(Duration::ZERO)).unwrap();
    assert_eq!(g.id, 2);
    assert_eq!(g.fail(), Ok(TaskStatus::Queued));
    assert_eq!(q.get_status(&2), Some(TaskStatus::Queued));

    {
        let g = q.claim(None).unwrap();
        assert_eq!(g.id, 3);
    } // dropped unfinished
    assert_eq!(q.get_status(&3), Some(TaskStatus::Queued));
    let order: Vec<(u64, u32)> = std::iter::from_fn(|| q.claim(Some(Duration::ZERO)).ok())
        .map(|g| {
            let r = (g.id, g.attempts);
            g.complete().unwrap();
            r
        })
        .collect();
    assert_eq!(order, vec![(2, 1), (3, 1)]);
    // A guard whose task was completed by id meanwhile: dropping it changes nothing.
    q.add_task(4, 0, s("d")).unwrap();
    let g = q.claim(None).unwrap();
    q.complete_task(&4).unwrap();
    drop(g);
    assert_eq!(q.get_status(&4), Some(TaskStatus::Completed));
    assert_eq!(
        q.claim(Some(Duration::ZERO)).unwrap_err(),
        ClaimError::Timeout
    );
    // Dropped on its last attempt: Failed.
    q.add_task(5, 0, s("e")).unwrap();
    for _ in 0..3 {
        drop(q.claim(None).unwrap());
    }
    assert_eq!(q.get_status(&5), Some(TaskStatus::Failed));
    inv(&q);
}

pub fn claim_guard_put_back_on_panic<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("boom")).unwrap();
    thread::scope(|sc| {
        let h = sc.spawn(|| {
            let g = q.claim(None).unwrap();
            assert_eq!(q.get_status(&g.id), Some(TaskStatus::Processing));
            panic!("worker dies while processing task {}", g.id);
        });
        assert!(h.join().is_err(), "the worker should have panicked");
    });
    assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    let t = q.try_get_next_task().unwrap();
    assert_eq!((t.id, t.attempts), (1, 1));
    assert_eq!(t.payload, "boom");
    inv(&q);
}

// ---------------------------------------------------------------------------------------------
// 10. Snapshot and restore
// ---------------------------------------------------------------------------------------------

pub fn snapshot_and_restore<F: Factory>() {
    let q = with::<F>(Opts::default().max_attempts(5));
    let prios = [1, 5, 1, 9, 5, 0, 1];
    for (id, &p) in prios.iter().enumerate() {
        q.add_task(id as u64, p, s(id)).unwrap();
    }
    claim_id::<F>(&q, 3); // processing
    let t = claim_id::<F>(&q, 1);
    q.fail_task(t).unwrap(); // queued again, attempts 1, behind 4
    claim_id::<F>(&q, 4); // processing
    claim_id::<F>(&q, 1);
    q.complete_task(&1).unwrap();
    assert!(q.cancel_task(&5));
    q.update_priority(&6, 5).unwrap();
    // queued: 6 (5), 0 (1), 2 (1)
    let mut snap = q.snapshot();
    let ids = |v: &[Task<u64, String>]| v.iter().map(|t| t.id).collect::<Vec<_>>();
    assert_eq!(ids(&snap.queued), vec![6, 0, 2]);
    let processing: Vec<(u64, i64, u32)> = snap
        .processing
        .iter()
        .map(|t| (t.id, t.priority, t.attempts))
        .collect();
    assert_eq!(processing, vec![(3, 9, 0), (4, 5, 0)]);
    let mut finished: Vec<(u64, TaskStatus)> =
        snap.finished.iter().map(|f| (f.id, f.status)).collect();
    finished.sort_unstable_by_key(|f| f.0);
    assert_eq!(
        finished,
        vec![(1, TaskStatus::Completed), (5, TaskStatus::Cancelled)]
    );
    assert_eq!(snap.queued[0].priority, 5);
    assert_eq!(snap.queued[1].payload, "0");
    // The snapshot did not change the queue.
    assert_eq!(q.len(), 3);
    inv(&q);

    // Tasks in flight cannot be restored (their payloads are with their workers): refused,
    // unless the caller drops them from the snapshot on purpose.
    assert_eq!(
        F::restore(Opts::default(), snap.clone()).err(),
        Some(RestoreError::InFlight(2))
    );
    snap.processing.clear();
    let r = F::restore(Opts::default(), snap.clone()).unwrap();
    inv(&r);
    assert_eq!(r.len(), 3);
    assert_eq!(r.get_status(&3), None);
    // Restored tasks count as added (3 queued, 2 finished).
    assert_eq!(r.stats().total_added, 5);
    assert_eq!(r.get_status(&1), Some(TaskStatus::Completed));
    assert_eq!(r.get_status(&5), Some(TaskStatus::Cancelled));
    assert_eq!(
        r.add_task(1, 0, s("dup")),
        Err(AddError::Duplicate(s("dup")))
    );
    let st = r.stats();
    assert_eq!(
        (st.queued, st.processing, st.completed, st.cancelled),
        (3, 0, 1, 1)
    );
    // Claim order: by priority; among equals, in their queued order.
    let order: Vec<(u64, u32, String)> = std::iter::from_fn(|| r.try_get_next_task().ok())
        .map(|t| (t.id, t.attempts, t.payload))
        .collect();
    assert_eq!(order, vec![(6, 0, s(6)), (0, 0, s(0)), (2, 0, s(2))]);
    // Restoring under another policy applies it.
    let r = F::restore(Opts::default().retention(Retention::KeepNone), snap).unwrap();
    assert_eq!(r.get_status(&1), None);
    assert_eq!(r.len(), 3);
    inv(&r);
}

pub fn restore_keeps_attempts_and_rejects_bad_snapshots<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    let t = q.try_get_next_task().unwrap();
    q.fail_task(t).unwrap(); // queued, attempts 1
    let r = F::restore(Opts::default(), q.snapshot()).unwrap();
    assert_eq!(r.try_get_next_task().unwrap().attempts, 1);

    let task = |id: u64| Task::new(id, 0, s(id));
    let snapshot = |queued, finished| {
        let mut s = Snapshot::default();
        s.queued = queued;
        s.finished = finished;
        s
    };
    let dup_queued = snapshot(vec![task(1), task(1)], vec![]);
    let dup_finished = snapshot(
        vec![task(1)],
        vec![FinishedTask {
            id: 1,
            status: TaskStatus::Completed,
        }],
    );
    for bad in [dup_queued, dup_finished] {
        assert_eq!(
            F::restore(Opts::default(), bad).err(),
            Some(RestoreError::DuplicateId)
        );
    }
    for status in [TaskStatus::Queued, TaskStatus::Processing] {
        let bad = snapshot(vec![], vec![FinishedTask { id: 1u64, status }]);
        assert_eq!(
            F::restore::<u64, String>(Opts::default(), bad).err(),
            Some(RestoreError::NotFinished(status))
        );
    }
    let empty: Snapshot<u64, String> = Snapshot::default();
    let r = F::restore(Opts::default().capacity(3), empty).unwrap();
    assert_eq!(r.capacity(), Some(3));
    assert!(r.is_empty());
    inv(&r);
}

// ---------------------------------------------------------------------------------------------
// Bad input, key types, dyn usage
// ---------------------------------------------------------------------------------------------

pub fn string_ids_empty_and_huge<F: Factory>() {
    let q: F::Q<String, Vec<u8>> = F::build(Opts::default());
    let huge = "x".repeat(1 << 20);
    let huge2 = format!("{}y", &huge[1..]); // same length, different content
    q.add_task(String::new(), 0, vec![0]).unwrap();
    q.add_task(huge.clone(), 1, vec![1]).unwrap();
    q.add_task(huge2.clone(), 1, vec![2]).unwrap();
    assert_eq!(
        q.add_task(String::new(), 0, vec![3]),
        Err(AddError::Duplicate(vec![3]))
    );
    assert_eq!(
        q.add_task(huge.clone(), 0, vec![4]),
        Err(AddError::Duplicate(vec![4]))
    );
    assert_eq!(q.get_status(&String::new()), Some(TaskStatus::Queued));
    assert_eq!(q.get_status(&"y".to_string()), None);
    let t = q.try_get_next_task().unwrap();
    assert_eq!(t.id.len(), 1 << 20);
    assert_eq!(t.id, huge);
    q.complete_task(&huge).unwrap();
    q.update_priority(&String::new(), i64::MAX).unwrap();
    let t = q.try_get_next_task().unwrap();
    assert_eq!(t.id, "");
    assert_eq!(q.fail_task(t), Ok(TaskStatus::Queued));
    assert!(q.cancel_task(&String::new()));
    assert!(q.cancel_task(&huge2));
    q.forget_task(&huge).unwrap();
    assert_eq!(q.get_status(&huge), None);
    assert_eq!(q.complete_task(&huge), Err(TaskError::NotFound));
    inv(&q);
}

pub fn u64_ids_full_range<F: Factory>() {
    let q: F::Q<u64, ()> = F::build(Opts::default());
    for id in [0u64, u64::MAX, 1, u64::MAX - 1] {
        q.add_task(id, 0, ()).unwrap();
    }
    assert_eq!(q.add_task(u64::MAX, 0, ()), Err(AddError::Duplicate(())));
    assert_eq!(drain(&q), vec![0, u64::MAX, 1, u64::MAX - 1]);
    for id in [0u64, u64::MAX, 1, u64::MAX - 1] {
        q.complete_task(&id).unwrap();
    }
    assert_eq!(q.stats().completed, 4);
    inv(&q);
}

pub fn extreme_priorities_with_updates<F: Factory>() {
    let q = new_q::<F>();
    q.add_task(1, i64::MIN, s(1)).unwrap();
    q.add_task(2, i64::MAX, s(2)).unwrap();
    q.add_task(3, i64::MIN, s(3)).unwrap();
    q.add_task(4, i64::MAX, s(4)).unwrap();
    q.update_priority(&1, i64::MAX).unwrap();
    q.update_priority(&4, i64::MIN).unwrap();
    assert_eq!(drain(&q), vec![1, 2, 3, 4]);
    inv(&q);
}

pub fn dyn_trait_object_works<F: Factory>()
where
    Q<F>: 'static,
{
    let q = with::<F>(Opts::default().capacity(4));
    let d: &dyn TaskQueue<u64, String> = &q;
    d.add_task(1, 1, s("a")).unwrap();
    d.try_add_task(2, 2, s("b")).unwrap();
    d.add_task_timeout(3, 0, s("c"), Duration::ZERO).unwrap();
    assert_eq!(d.len(), 3);
    assert!(!d.is_empty());
    assert_eq!(d.capacity(), Some(4));
    let g = ClaimGuard::claim(d, None).unwrap();
    assert_eq!(g.id, 2);
    g.complete().unwrap();
    let t = d.get_next_task(Some(Duration::ZERO)).unwrap();
    assert_eq!(d.fail_task(t), Ok(TaskStatus::Queued));
    d.update_priority(&1, -5).unwrap();
    assert!(d.cancel_task(&3));
    d.forget_task(&3).unwrap();
    assert_eq!(d.get_status(&2), Some(TaskStatus::Completed));
    assert_eq!(d.stats().total_added, 3);
    assert_eq!(d.snapshot().queued.len(), 1);
    d.shutdown();
    assert!(d.is_shut_down());
    assert_eq!(d.shutdown_now().len(), 1);
    // Boxed trait objects, shared across threads.
    let boxed: Arc<dyn TaskQueue<u64, String>> = Arc::new(new_q::<F>());
    let b2 = Arc::clone(&boxed);
    let h = thread::spawn(move || b2.get_next_task(None).map(|t| t.id));
    boxed.add_task(9, 0, s("z")).unwrap();
    assert_eq!(h.join().unwrap(), Ok(9));
}

// ---------------------------------------------------------------------------------------------
// Blocking producers
// ---------------------------------------------------------------------------------------------

pub fn blocked_producer_wakes_on_claim_and_cancel<F: Factory>() {
    let q = with::<F>(Opts::default().capacity(1));
    q.add_task(1, 0, s("a")).unwrap();
    thread::scope(|sc| {
        let h = sc.spawn(|| q.add_task(2, 0, s("b")));
        let_block();
        // A full queue never accepts it meanwhile.
        assert_eq!(q.get_status(&2), None);
        assert_eq!(q.try_get_next_task().unwrap().id, 1);
        h.join().unwrap().unwrap();
    });
    assert_eq!(q.get_status(&2), Some(TaskStatus::Queued));
    thread::scope(|sc| {
        let h = sc.spawn(|| q.add_task_timeout(3, 0, s("c"), Duration::from_secs(3600)));
        let_block();
        assert_eq!(q.get_status(&3), None);
        assert!(q.cancel_task(&2));
        h.join().unwrap().unwrap();
    });
    assert_eq!(q.get_status(&3), Some(TaskStatus::Queued));
    assert_eq!(q.len(), 1);
    // Several blocked producers, freed one place at a time.
    thread::scope(|sc| {
        let hs: Vec<_> = (10..13u64)
            .map(|id| {
                let q = &q;
                sc.spawn(move || q.add_task(id, 0, s(id)))
            })
            .collect();
        let mut claimed = Vec::new();
        while claimed.len() < 4 {
            claimed.push(q.get_next_task(None).unwrap().id);
        }
        for h in hs {
            h.join().unwrap().unwrap();
        }
        claimed.sort_unstable();
        assert_eq!(claimed, vec![3, 10, 11, 12]);
    });
    inv(&q);
}

pub fn blocked_producer_gets_shutdown<F: Factory>() {
    for now in [false, true] {
        let q = with::<F>(Opts::default().capacity(1));
        q.add_task(1, 0, s("a")).unwrap();
        thread::scope(|sc| {
            let h1 = sc.spawn(|| q.add_task(2, 0, s("b")));
            let h2 = sc.spawn(|| q.add_task_timeout(3, 0, s("c"), Duration::from_secs(3600)));
            let_block();
            if now {
                assert_eq!(q.shutdown_now().len(), 1);
            } else {
                q.shutdown();
            }
            assert_eq!(h1.join().unwrap(), Err(AddError::ShutDown(s("b"))));
            assert_eq!(h2.join().unwrap(), Err(AddTimeoutError::ShutDown(s("c"))));
        });
        assert_eq!(q.stats().total_added, 1);
        inv(&q);
    }
}

// ---------------------------------------------------------------------------------------------
// Instantiation: one module per strategy.
// ---------------------------------------------------------------------------------------------

/// Heap order after removals from the middle: hundreds of tasks with many distinct priorities;
/// a random third is cancelled or re-prioritised (most from deep inside the heap), some tasks are
/// claimed and failed back in between, and the queue then drains in exactly the order a plain
/// model gives (priority, then time of entering the queue).
pub fn heap_order_after_removals_from_the_middle<F: Factory>() {
    for seed in 0..4u64 {
        let q = new_q::<F>();
        let mut rng = Rng::new(seed + 0x4EA9);
        let n = 300 + rng.below(300);
        // (priority, entered) per id: `entered` orders equal priorities.
        let mut model: Vec<Option<(i64, u64)>> = Vec::new();
        let mut clock = 0u64;
        let priority = |rng: &mut Rng| match rng.below(10) {
            0 => i64::MAX - rng.below(3) as i64,
            1 => i64::MIN + rng.below(3) as i64,
            2..=4 => rng.below(8) as i64,
            _ => rng.next_u64() as i64 >> 20,
        };
        for id in 0..n {
            let p = priority(&mut rng);
            q.add_task(id, p, s(id)).unwrap();
            model.push(Some((p, clock)));
            clock += 1;
        }
        for _ in 0..n / 3 {
            let id = rng.below(n);
            match (model[id as usize], rng.below(3)) {
                (None, _) => {}
                (Some(_), 0) => {
                    assert!(q.cancel_task(&id));
                    model[id as usize] = None;
                }
                (Some((_, entered)), _) => {
                    let p = priority(&mut rng);
                    q.update_priority(&id, p).unwrap();
                    model[id as usize] = Some((p, entered));
                }
            }
            if rng.below(8) == 0 {
                // Claim the best and fail it back: it re-enters behind its equals.
                let t = q.try_get_next_task().unwrap();
                let (p, _) = model[t.id as usize].expect("claimed a live task");
                assert_eq!(
                    t.priority,
                    model.iter().flatten().map(|&(p, _)| p).max().unwrap(),
                    "claimed a task that is not the best"
                );
                model[t.id as usize] = Some((p, clock));
                clock += 1;
                q.fail_task(t).unwrap();
            }
        }
        inv(&q);
        let mut expected: Vec<(u64, i64, u64)> = model
            .iter()
            .enumerate()
            .filter_map(|(id, m)| m.map(|(p, e)| (id as u64, p, e)))
            .collect();
        expected.sort_by_key(|&(_, p, e)| (std::cmp::Reverse(p), e));
        let expected: Vec<u64> = expected.into_iter().map(|(id, ..)| id).collect();
        assert_eq!(drain(&q), expected, "seed {seed}");
    }
}

/// `KeepLast(n)` when forgotten tasks' places are reused by new tasks: exactly the last `n`
/// finished tasks stay known, never a newer task that took an older one's place.
pub fn retention_with_reused_slots<F: Factory>() {
    let q = with::<F>(Opts::default().retention(Retention::KeepLast(3)));
    let finish = |id: u64| {
        q.add_task(id, 0, s(id)).unwrap();
        let t = q.try_get_next_task().unwrap();
        q.complete_claim(&t.id, t.token()).unwrap();
    };
    for id in 1..=3 {
        finish(id);
    }
    q.forget_task(&2).unwrap(); // its place is free, and reused by 4
    finish(4);
    finish(5); // evicts 1
    finish(6); // evicts 3, not 4 (which took 2's place)
    let known: Vec<u64> = (1..=6).filter(|id| q.get_status(id).is_some()).collect();
    assert_eq!(known, [4, 5, 6]);
    inv(&q);
    // Random churn against a model: finish, forget, cancel, with places reused all the time.
    for keep in [1usize, 2, 5] {
        let q = with::<F>(Opts::default().retention(Retention::KeepLast(keep)));
        let mut rng = Rng::new(keep as u64);
        let mut retained: std::collections::VecDeque<u64> = Default::default();
        let mut next = 0u64;
        for _ in 0..2_000 {
            match rng.below(4) {
                0 if !retained.is_empty() => {
                    let at = rng.below(retained.len() as u64) as usize;
                    let id = retained.remove(at).unwrap();
                    q.forget_task(&id).unwrap();
                }
                1 => {
                    q.add_task(next, 0, s(next)).unwrap();
                    assert!(q.cancel_task(&next));
                    retained.push_back(next);
                    next += 1;
                }
                _ => {
                    q.add_task(next, 0, s(next)).unwrap();
                    let t = q.try_get_next_task().unwrap();
                    q.complete_claim(&t.id, t.token()).unwrap();
                    retained.push_back(next);
                    next += 1;
                }
            }
            while retained.len() > keep {
                retained.pop_front();
            }
        }
        let known: Vec<u64> = (0..next).filter(|id| q.get_status(id).is_some()).collect();
        assert_eq!(known, Vec::from(retained), "KeepLast({keep})");
        inv(&q);
    }
}

// ---------------------------------------------------------------------------------------------
// Defects found by trying the crate as a new user (one test each)
// ---------------------------------------------------------------------------------------------

/// Defect 1: a stale guard must never touch a later claim of the same id. With `KeepNone`, claim
/// "r7" (guard A), complete it by id, add "r7" again and claim it (worker B), then drop guard A:
/// B's claim stays `Processing` and is not handed out a third time.
pub fn stale_guard_cannot_touch_a_later_claim<F: Factory>() {
    let q = F::build::<String, u32>(Opts::default().retention(Retention::KeepNone));
    q.add_task("r7".to_string(), 0, 1).unwrap();
    let guard_a = q.claim(None).unwrap();
    q.complete_task(&"r7".to_string()).unwrap();
    q.add_task("r7".to_string(), 0, 2).unwrap();
    let b = q.try_get_next_task().unwrap();
    assert_eq!(b.payload, 2);
    drop(guard_a); // fenced: refused, changes nothing
    assert_eq!(
        q.get_status(&"r7".to_string()),
        Some(TaskStatus::Processing)
    );
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    assert_eq!(q.stats().processing, 1);
    // The same for a stale guard finished explicitly, and for a stale token.
    let q2 = F::build::<String, u32>(Opts::default().retention(Retention::KeepNone));
    q2.add_task("x".to_string(), 0, 1).unwrap();
    let old = q2.claim(None).unwrap();
    q2.complete_task(&"x".to_string()).unwrap();
    q2.add_task("x".to_string(), 0, 2).unwrap();
    let new = q2.claim(None).unwrap();
    let stale_token = old.token();
    assert_eq!(old.fail(), Err(TaskError::Stale));
    assert_eq!(
        q2.complete_claim(&"x".to_string(), stale_token),
        Err(TaskError::Stale)
    );
    assert_eq!(
        q2.get_status(&"x".to_string()),
        Some(TaskStatus::Processing)
    );
    assert_eq!(new.complete(), Ok(()));
    inv(&q);
    inv(&q2);
}

/// A payload whose `Drop` panics once it is armed.
struct Bomb(bool);

impl Drop for Bomb {
    fn drop(&mut self) {
        if self.0 && !thread::panicking() {
            panic!("payload drop panicked");
        }
    }
}

/// An id whose `Clone` panics on demand, and whose `Hash` panics on demand for id 1 only (`Eq`
/// compares the number).
#[derive(Debug)]
struct Touchy {
    n: u64,
    panic_clone: Arc<std::sync::atomic::AtomicBool>,
    panic_hash: Arc<std::sync::atomic::AtomicBool>,
}

impl Clone for Touchy {
    fn clone(&self) -> Self {
        if self.panic_clone.load(std::sync::atomic::Ordering::SeqCst) {
            panic!("K::clone panicked");
        }
        Touchy {
            n: self.n,
            panic_clone: Arc::clone(&self.panic_clone),
            panic_hash: Arc::clone(&self.panic_hash),
        }
    }
}

impl PartialEq for Touchy {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n
    }
}

impl Eq for Touchy {}

impl std::hash::Hash for Touchy {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        if self.n == 1 && self.panic_hash.load(std::sync::atomic::Ordering::SeqCst) {
            panic!("K::hash panicked");
        }
        self.n.hash(state);
    }
}

/// Defect 2: user code that panics (a payload's `Drop`, `K::clone`, `K::hash`) never leaves the
/// queue inconsistent: the counters stay right and the invariants hold after each caught panic.
pub fn panicking_user_code_leaves_the_queue_consistent<F: Factory>() {
    use std::panic::{catch_unwind, AssertUnwindSafe};
    use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
    // Payload drop, on cancel, on a final failure, on shutdown_now's tasks, and on a stale fail.
    let q = F::build::<u64, Bomb>(Opts::default().max_attempts(1));
    for id in 0..4 {
        q.add_task(id, 0, Bomb(true)).unwrap();
    }
    assert!(catch_unwind(AssertUnwindSafe(|| q.cancel_task(&0))).is_err());
    inv(&q);
    assert_eq!(q.get_status(&0), Some(TaskStatus::Cancelled));
    let t = q.try_get_next_task().unwrap();
    assert!(catch_unwind(AssertUnwindSafe(|| q.fail_task(t))).is_err());
    inv(&q);
    assert_eq!(q.get_status(&1), Some(TaskStatus::Failed));
    let st = q.stats();
    assert_eq!(
        (st.cancelled, st.failed, st.queued, st.processing),
        (1, 1, 2, 0)
    );
    assert_eq!(q.forget_task(&0), Ok(()));
    assert_eq!(q.forget_task(&1), Ok(()));
    assert_eq!((q.stats().cancelled, q.stats().failed), (0, 0));
    let drained = q.shutdown_now();
    assert_eq!(drained.len(), 2);
    inv(&q);
    assert!(catch_unwind(AssertUnwindSafe(move || drop(drained))).is_err());
    inv(&q);
    assert_eq!(q.stats().cancelled, 2);

    // K::clone panicking inside add (the id is cloned for the record) and claim (for the task).
    let clone = Arc::new(AtomicBool::new(false));
    let hash = Arc::new(AtomicBool::new(false));
    let id = |n| Touchy {
        n,
        panic_clone: Arc::clone(&clone),
        panic_hash: Arc::clone(&hash),
    };
    let q = F::build::<Touchy, u32>(Opts::default().retention(Retention::KeepLast(1)));
    q.add_task(id(1), 0, 10).unwrap();
    clone.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| q.add_task(id(2), 0, 20))).is_err());
    assert!(catch_unwind(AssertUnwindSafe(|| q.try_get_next_task())).is_err());
    clone.store(false, SeqCst);
    inv(&q);
    assert_eq!(q.get_status(&id(2)), None);
    assert_eq!(q.get_status(&id(1)), Some(TaskStatus::Queued));
    assert_eq!((q.len(), q.stats().processing), (1, 0));
    // K::hash panicking in a lookup changes nothing (complete_task looks the id up; a claim's
    // token finds its task without hashing).
    let t = q.try_get_next_task().unwrap();
    assert_eq!(t.id.n, 1);
    hash.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| q.complete_task(&t.id))).is_err());
    hash.store(false, SeqCst);
    inv(&q);
    assert_eq!(q.get_status(&id(1)), Some(TaskStatus::Processing));
    q.complete_claim(&t.id, t.token()).unwrap();
    // K::hash panicking when retention removes the older record (KeepLast(1): completing 3
    // evicts 1): task 3 is completed, task 1 stays retained, the counts agree.
    q.add_task(id(3), 0, 30).unwrap();
    let t3 = q.try_get_next_task().unwrap();
    hash.store(true, SeqCst);
    assert!(catch_unwind(AssertUnwindSafe(|| q.complete_claim(&t3.id, t3.token()))).is_err());
    hash.store(false, SeqCst);
    inv(&q);
    assert_eq!(q.get_status(&id(3)), Some(TaskStatus::Completed));
    assert_eq!(q.get_status(&id(1)), Some(TaskStatus::Completed));
    let st = q.stats();
    assert_eq!((st.completed, st.total_completed, st.processing), (2, 2, 0));
    // Everything still works afterwards, retention included.
    assert_eq!(
        q.complete_claim(&t3.id, t3.token()),
        Err(TaskError::InvalidState {
            current: TaskStatus::Completed
        })
    );
    q.add_task(id(4), 0, 40).unwrap();
    assert!(q.cancel_task(&id(4)));
    inv(&q);
    assert_eq!(
        q.stats().completed + q.stats().cancelled,
        1,
        "KeepLast(1) again"
    );
}

/// Defect 3: the default retention is bounded, so memory follows live tasks: finishing many
/// tasks with the default options keeps a bounded number of records.
pub fn default_retention_is_bounded<F: Factory>() {
    let q = new_q::<F>();
    let n = 30_000u64;
    for id in 0..n {
        q.add_task(id, 0, String::new()).unwrap();
        let t = q.try_get_next_task().unwrap();
        q.complete_claim(&t.id, t.token()).unwrap();
    }
    let st = q.stats();
    assert_eq!(st.total_completed, n);
    assert_eq!(
        st.completed, 10_000,
        "the default retention keeps the last 10,000 finished tasks"
    );
    assert_eq!(q.get_status(&0), None);
    assert_eq!(q.get_status(&(n - 1)), Some(TaskStatus::Completed));
    assert_eq!(q.snapshot().finished.len(), 10_000);
    inv(&q);
}

/// Defect 5: the API a new user reaches for works on every strategy: `claim` on a `dyn
/// TaskQueue`, an owned guard moved into a `'static` thread, lookups by a borrowed id (on the
/// concrete type; see `borrowed_lookups` in tests/api.rs), payloads that are `Send` but not
/// `Sync` (a boxed `FnOnce` job), every strategy `RefUnwindSafe`, and zero capacity or attempts
/// refused with a clear error.
pub fn new_user_api<F: Factory>() {
    // claim on a trait object.
    let q = new_q::<F>();
    q.add_task(1, 0, s("a")).unwrap();
    let d: &dyn TaskQueue<u64, String> = &q;
    let guard = d.claim(None).unwrap();
    assert_eq!(guard.payload, "a");
    guard.complete().unwrap();
    // An owned guard in a 'static thread.
    let shared: Arc<dyn TaskQueue<u64, String>> = Arc::new(new_q::<F>());
    shared.add_task(2, 0, s("b")).unwrap();
    let guard = taskq::OwnedClaimGuard::claim(Arc::clone(&shared), None).unwrap();
    let done = thread::spawn(move || guard.complete()).join().unwrap();
    assert_eq!(done, Ok(()));
    assert_eq!(shared.get_status(&2), Some(TaskStatus::Completed));
    // Send-only payloads: boxed FnOnce jobs, run by the worker that claimed them.
    type Job = Box<dyn FnOnce() -> u64 + Send>;
    let jobs: Arc<F::Q<u64, Job>> = Arc::new(F::build(Opts::default()));
    for i in 0..10u64 {
        jobs.add_task(i, i as i64, Box::new(move || i * i)).unwrap();
    }
    jobs.shutdown();
    let j2 = Arc::clone(&jobs);
    let sum = thread::spawn(move || {
        let mut sum = 0;
        while let Ok(task) = j2.get_next_task(None) {
            let token = task.token();
            sum += (task.payload)();
            j2.complete_claim(&task.id, token).unwrap();
        }
        sum
    })
    .join()
    .unwrap();
    assert_eq!(sum, (0..10).map(|i| i * i).sum::<u64>());
    // A Send-only payload handed back by a failed claim is kept for the retry.
    let cells = F::build::<u64, std::cell::Cell<u32>>(Opts::default());
    cells.add_task(1, 0, std::cell::Cell::new(5)).unwrap();
    let t = cells.try_get_next_task().unwrap();
    t.payload.set(6);
    cells.fail_task(t).unwrap();
    assert_eq!(cells.try_get_next_task().unwrap().payload.get(), 6);
    // RefUnwindSafe: a queue can be used inside catch_unwind by reference.
    fn ref_unwind_safe<T: std::panic::RefUnwindSafe>(_: &T) {}
    ref_unwind_safe(&q);
    let caught = std::panic::catch_unwind(|| q.len());
    assert_eq!(caught.ok(), Some(0));
    // Zero capacity and zero attempts are refused when the queue is built.
    assert_eq!(
        F::try_build::<u64, String>(Opts::default().capacity(0)).err(),
        Some(taskq::BuildError::ZeroCapacity)
    );
    assert_eq!(
        F::try_build::<u64, String>(Opts::default().max_attempts(0)).err(),
        Some(taskq::BuildError::ZeroMaxAttempts)
    );
    assert!(F::try_build::<u64, String>(Opts::default().capacity(1).max_attempts(1)).is_ok());
}

// ---------------------------------------------------------------------------------------------
// Batch operations: get_next_tasks / try_get_next_tasks, try_add_tasks, complete_claims,
// fail_tasks
// ---------------------------------------------------------------------------------------------

/// How long threads woken by the step under test may take to report back before the test calls
/// a wake-up lost (and fails by name, instead of leaving it to the watchdog).
const WOKEN_WITHIN: Duration = Duration::from_secs(10);

/// Receives `n` results from threads that the step under test must have woken. If some never
/// come (a lost wake-up), it shuts `q` down, so that the blocked threads return and the scope can
/// end, and fails, saying what was lost.
fn woken<K, P, T>(
    q: &impl TaskQueue<K, P>,
    rx: &mpsc::Receiver<T>,
    n: usize,
    what: &str,
) -> Vec<T> {
    let deadline = Instant::now() + WOKEN_WITHIN;
    let mut got = Vec::with_capacity(n);
    while got.len() < n {
        match rx.recv_timeout(deadline.saturating_duration_since(Instant::now())) {
            Ok(x) => got.push(x),
            Err(_) => {
                q.shutdown();
                panic!(
                    "{what}: only {} of {n} blocked threads returned within {WOKEN_WITHIN:?} \
                     (lost wake-up)",
                    got.len()
                );
            }
        }
    }
    got
}

fn ids_of<K: Clone, P>(tasks: &[Task<K, P>]) -> Vec<K> {
    tasks.iter().map(|t| t.id.clone()).collect()
}

/// A task as the tests compare it: everything but the token.
fn whole<P: Clone>(t: &Task<u64, P>) -> (u64, i64, P, u32) {
    (t.id, t.priority, t.payload.clone(), t.attempts)
}

/// A refusal of `try_add_tasks` as the tests compare it: the reason and the whole task.
fn refusal(e: &TryAddError<Task<u64, String>>) -> (&'static str, (u64, i64, String, u32)) {
    match e {
        TryAddError::Full(t) => ("full", whole(t)),
        TryAddError::Duplicate(t) => ("duplicate", whole(t)),
        TryAddError::ShutDown(t) => ("shut down", whole(t)),
    }
}

/// The same refusal as `try_add_task` gives it (its payload, with the id and priority it was
/// given), for comparing a batch with single adds.
fn single_refusal(
    id: u64,
    priority: i64,
    e: TryAddError<String>,
) -> (&'static str, (u64, i64, String, u32)) {
    let why = match &e {
        TryAddError::Full(_) => "full",
        TryAddError::Duplicate(_) => "duplicate",
        TryAddError::ShutDown(_) => "shut down",
    };
    (why, (id, priority, e.into_payload(), 0))
}

/// A batch claim hands out exactly what as many single claims would, in the same order (priority,
/// then FIFO, failed tasks behind their equals), whichever call makes it: batches of random sizes
/// on one queue against single claims on a twin queue given the same adds and fails.
pub fn batch_claim_takes_the_best_in_order<F: Factory>() {
    // A fixed example first: priorities 1, 3, 3, 0, 2 for ids 0..5.
    let q = new_q::<F>();
    for (id, p) in [1, 3, 3, 0, 2].into_iter().enumerate() {
        q.add_task(id as u64, p, s(id)).unwrap();
    }
    let batch = q.try_get_next_tasks(3).unwrap();
    assert_eq!(ids_of(&batch), [1, 2, 4]);
    for t in &batch {
        assert_eq!(t.payload, s(t.id));
        assert_eq!(q.get_status(&t.id), Some(TaskStatus::Processing));
    }
    let tokens: std::collections::HashSet<u64> = batch.iter().map(|t| t.token().get()).collect();
    assert_eq!(
        tokens.len(),
        3,
        "each task of a batch has a claim of its own"
    );
    assert_eq!((q.len(), q.stats().processing), (2, 3));
    // Fewer queued than asked: all of them, and no wait.
    assert_eq!(ids_of(&q.get_next_tasks(10, None).unwrap()), [0, 3]);
    assert_eq!(q.try_get_next_tasks(1).unwrap_err(), ClaimError::Empty);
    inv(&q);

    for seed in 0..4u64 {
        let q = new_q::<F>();
        let twin = new_q::<F>();
        let mut rng = Rng::new(seed + 0xBA7C);
        let n = 300u64;
        for id in 0..n {
            // Few priorities: many ties test FIFO.
            let p = rng.below(5) as i64 - 2;
            q.add_task(id, p, s(id)).unwrap();
            twin.add_task(id, p, s(id)).unwrap();
        }
        let mut claimed = 0;
        while !twin.is_empty() {
            let max = 1 + rng.below(6) as usize;
            let batch = match rng.below(3) {
                0 => q.try_get_next_tasks(max),
                1 => q.get_next_tasks(max, Some(Duration::ZERO)),
                _ => q.get_next_tasks(max, None),
            }
            .unwrap();
            let singles: Vec<Task<u64, String>> = (0..max)
                .map_while(|_| twin.try_get_next_task().ok())
                .collect();
            assert_eq!(
                batch.iter().map(whole).collect::<Vec<_>>(),
                singles.iter().map(whole).collect::<Vec<_>>(),
                "seed {seed}: a batch of up to {max} is not what single claims give"
            );
            assert_eq!((q.len(), q.stats()), (twin.len(), twin.stats()));
            // Now and then the batch goes back: failed tasks requeue behind their equals, in
            // the batch's order, as single fails do.
            if rng.below(4) == 0 {
                let back = q.fail_tasks(batch);
                let single: Vec<_> = singles.into_iter().map(|t| twin.fail_task(t)).collect();
                assert_eq!(back, single, "seed {seed}");
                assert!(back.iter().all(|r| *r == Ok(TaskStatus::Queued)));
            } else {
                claimed += batch.len();
            }
        }
        assert!(claimed > 0);
        assert_eq!(q.try_get_next_tasks(3).unwrap_err(), ClaimError::Empty);
        assert_eq!(q.stats(), twin.stats());
        inv(&q);
    }
}

/// `max == 0` gives an empty batch at once and claims nothing; otherwise a batch claim fails like
/// the single claims: `Empty` (try), `Timeout` (after waiting at least its timeout), and after a
/// shutdown the queued tasks still go out, in batches, then `ShutDown`, at once.
pub fn batch_claim_max_zero_and_errors<F: Factory>() {
    let q = new_q::<F>();
    // An empty queue and no timeout: still at once (the watchdog would catch a wait).
    assert!(q.get_next_tasks(0, None).unwrap().is_empty());
    assert!(q.try_get_next_tasks(0).unwrap().is_empty());
    q.add_task(1, 0, s(1)).unwrap();
    assert!(q
        .get_next_tasks(0, Some(Duration::ZERO))
        .unwrap()
        .is_empty());
    assert!(q.get_next_tasks(0, None).unwrap().is_empty());
    assert!(q.try_get_next_tasks(0).unwrap().is_empty());
    assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    assert_eq!((q.len(), q.stats().processing), (1, 0));
    // Empty and Timeout.
    assert_eq!(ids_of(&q.try_get_next_tasks(5).unwrap()), [1]);
    assert_eq!(q.try_get_next_tasks(5).unwrap_err(), ClaimError::Empty);
    assert_eq!(
        q.get_next_tasks(5, Some(Duration::ZERO)).unwrap_err(),
        ClaimError::Timeout
    );
    let d = Duration::from_millis(40);
    let start = Instant::now();
    assert_eq!(
        q.get_next_tasks(5, Some(d)).unwrap_err(),
        ClaimError::Timeout
    );
    assert!(start.elapsed() >= d, "returned before the timeout");
    // Graceful shutdown: the queued tasks still go out, best first, then ShutDown at once.
    for id in 2..=4 {
        q.add_task(id, id as i64, s(id)).unwrap();
    }
    q.shutdown();
    assert_eq!(ids_of(&q.get_next_tasks(2, None).unwrap()), [4, 3]);
    let last = q
        .get_next_tasks(5, Some(Duration::from_secs(3600)))
        .unwrap();
    assert_eq!(ids_of(&last), [2]);
    assert_eq!(q.get_next_tasks(5, None).unwrap_err(), ClaimError::ShutDown);
    assert_eq!(
        q.get_next_tasks(5, Some(Duration::from_secs(3600)))
            .unwrap_err(),
        ClaimError::ShutDown
    );
    assert_eq!(q.try_get_next_tasks(5).unwrap_err(), ClaimError::ShutDown);
    // max == 0 is an empty batch even then.
    assert!(q.get_next_tasks(0, None).unwrap().is_empty());
    // A task failed back after the shutdown goes out again, in a batch.
    assert_eq!(q.fail_tasks(last), [Ok(TaskStatus::Queued)]);
    let again = q.get_next_tasks(5, None).unwrap();
    assert_eq!(
        again.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(),
        [(2, 1)]
    );
    // shutdown_now: ShutDown at once, even with a task queued (failed back after it).
    q.shutdown_now();
    assert_eq!(q.fail_tasks(again), [Ok(TaskStatus::Queued)]);
    assert_eq!(q.len(), 1);
    assert_eq!(q.get_next_tasks(5, None).unwrap_err(), ClaimError::ShutDown);
    assert_eq!(q.try_get_next_tasks(5).unwrap_err(), ClaimError::ShutDown);
    inv(&q);
}

/// A claimer blocked in `get_next_tasks` wakes on a single add (and takes it: one task was
/// queued), on a batch add (and takes the best `max` of it), on a fail that requeues a task, and
/// on a shutdown; with and without a timeout.
pub fn blocked_batch_claim_wakes_on_adds<F: Factory>() {
    let q = new_q::<F>();
    thread::scope(|sc| {
        let h = sc.spawn(|| q.get_next_tasks(3, None));
        let_block();
        q.add_task(7, 0, s("wake")).unwrap();
        let batch = h.join().unwrap().unwrap();
        assert_eq!(
            batch
                .iter()
                .map(|t| (t.id, t.payload.as_str()))
                .collect::<Vec<_>>(),
            [(7, "wake")]
        );
    });
    for (base, timeout) in [(10, None), (20, Some(Duration::from_secs(3600)))] {
        thread::scope(|sc| {
            let h = sc.spawn(|| q.get_next_tasks(3, timeout));
            let_block();
            let refused = q.try_add_tasks(
                [1, 5, 3, 5]
                    .into_iter()
                    .enumerate()
                    .map(|(i, p)| Task::new(base + i as u64, p, s(base + i as u64)))
                    .collect(),
            );
            assert!(refused.is_empty());
            let batch = h.join().unwrap().unwrap();
            let want = [base + 1, base + 3, base + 2];
            assert_eq!(ids_of(&batch), want, "the best three, best first");
        });
        assert_eq!(ids_of(&q.try_get_next_tasks(9).unwrap()), [base]);
    }
    // A fail that puts a task back wakes it too.
    q.add_task(30, 0, s(30)).unwrap();
    let t = q.try_get_next_task().unwrap();
    thread::scope(|sc| {
        let h = sc.spawn(|| q.get_next_tasks(2, None));
        let_block();
        assert_eq!(q.fail_tasks(vec![t]), [Ok(TaskStatus::Queued)]);
        let batch = h.join().unwrap().unwrap();
        assert_eq!(
            batch.iter().map(|t| (t.id, t.attempts)).collect::<Vec<_>>(),
            [(30, 1)]
        );
    });
    // And a shutdown releases it.
    thread::scope(|sc| {
        let h = sc.spawn(|| q.get_next_tasks(2, None));
        let h2 = sc.spawn(|| q.get_next_tasks(2, Some(Duration::from_secs(3600))));
        let_block();
        q.shutdown();
        assert_eq!(h.join().unwrap().unwrap_err(), ClaimError::ShutDown);
        assert_eq!(h2.join().unwrap().unwrap_err(), ClaimError::ShutDown);
    });
    inv(&q);
}

/// A batch of several tasks wakes every blocked claimer it can serve, single and batch claimers
/// alike (waking one would leave the others asleep next to queued tasks); so does `fail_tasks`
/// putting several tasks back.
pub fn batch_add_wakes_every_blocked_claimer<F: Factory>() {
    // Three single claimers, a batch of three.
    let q = new_q::<F>();
    thread::scope(|sc| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let (q, tx) = (&q, tx.clone());
            sc.spawn(move || tx.send(q.get_next_task(None).map(|t| t.id)));
        }
        let_block();
        let tasks = (1..=3).map(|id| Task::new(id, 0, s(id))).collect();
        assert!(q.try_add_tasks(tasks).is_empty());
        let mut got: Vec<u64> = woken(&q, &rx, 3, "a batch add of 3 tasks, 3 single claimers")
            .into_iter()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2, 3]);
    });
    // Two single claimers and a batch claimer of up to 2, a batch of four: whoever runs first,
    // the singles get one each and the batch claimer two.
    let q = new_q::<F>();
    thread::scope(|sc| {
        let (tx, rx) = mpsc::channel();
        for max in [1, 1, 2] {
            let (q, tx) = (&q, tx.clone());
            sc.spawn(move || tx.send((max, q.get_next_tasks(max, None).map(|b| ids_of(&b)))));
        }
        let_block();
        let tasks = (1..=4).map(|id| Task::new(id, 0, s(id))).collect();
        assert!(q.try_add_tasks(tasks).is_empty());
        let mut all = Vec::new();
        for (max, got) in woken(&q, &rx, 3, "a batch add of 4 tasks, claimers of 1, 1 and 2") {
            let got = got.unwrap();
            assert_eq!(got.len(), max, "claimer of up to {max} got {got:?}");
            all.extend(got);
        }
        all.sort_unstable();
        assert_eq!(all, [1, 2, 3, 4]);
    });
    inv(&q);
    // fail_tasks putting three tasks back wakes three blocked claimers.
    let q = new_q::<F>();
    let tasks = (1..=3).map(|id| Task::new(id, 0, s(id))).collect();
    assert!(q.try_add_tasks(tasks).is_empty());
    let batch = q.try_get_next_tasks(3).unwrap();
    thread::scope(|sc| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..3 {
            let (q, tx) = (&q, tx.clone());
            sc.spawn(move || tx.send(q.get_next_task(None).map(|t| (t.id, t.attempts))));
        }
        let_block();
        assert_eq!(q.fail_tasks(batch), [Ok(TaskStatus::Queued); 3]);
        let mut got: Vec<(u64, u32)> = woken(&q, &rx, 3, "fail_tasks requeueing 3 tasks")
            .into_iter()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, [(1, 1), (2, 1), (3, 1)]);
    });
    inv(&q);
}

/// A batch claim is one atomic step: it takes the best `max` tasks queued at one instant. A
/// batch claimer (up to 3) blocks first, then a single claimer; a batch of three tasks arrives.
/// Either the batch claimer went first and took all three (the single claimer then waits until
/// the shutdown), or the single claimer went first and took task 1, and the batch claimer 2 and
/// 3. A batch of 1 and 3 with 2 to the single claimer is no order of the two claims: the batch
/// claim was served in two steps with the other claim in between.
pub fn batch_claim_is_atomic_among_blocked_claimers<F: Factory>() {
    let q = new_q::<F>();
    thread::scope(|sc| {
        let batch = sc.spawn(|| q.get_next_tasks(3, None));
        let_block();
        let single = sc.spawn(|| q.get_next_task(None));
        let_block();
        let tasks = (1..=3).map(|id| Task::new(id, 0, s(id))).collect();
        assert!(q.try_add_tasks(tasks).is_empty());
        let batch = ids_of(&batch.join().unwrap().unwrap());
        // If the batch took everything, the single claimer still waits: release it.
        q.shutdown();
        let single = single.join().unwrap().map(|t| t.id);
        match (&batch[..], single) {
            ([1, 2, 3], Err(ClaimError::ShutDown)) | ([2, 3], Ok(1)) => {}
            _ => panic!(
                "{}: a batch claim of up to 3 got {batch:?} while a single claim got {single:?}: \
                 not the best tasks at one instant (the batch was split around the other claim)",
                F::NAME
            ),
        }
    });
    inv(&q);
}

/// `try_add_tasks` accepts or refuses each task in order exactly as `try_add_task` would: a
/// duplicate within the batch, a duplicate of a known id (queued, processing, finished), `Full`
/// once a bounded queue is full (a duplicate is still a duplicate then), `ShutDown` for all after
/// a shutdown; each refused task comes back whole (id, priority, payload), in order. Checked
/// against single adds on a twin queue.
pub fn try_add_tasks_refuses_each_as_try_add_would<F: Factory>() {
    let setup = || {
        let q = with::<F>(Opts::default().capacity(4));
        // 0 queued, 8 completed, 9 processing.
        q.add_task(8, 0, s("eight")).unwrap();
        claim_id::<F>(&q, 8);
        q.complete_task(&8).unwrap();
        q.add_task(9, 0, s("nine")).unwrap();
        claim_id::<F>(&q, 9);
        q.add_task(0, 0, s("zero")).unwrap();
        q
    };
    let batch = [
        (1, 5, "a"),
        (1, 6, "a again"),
        (0, 7, "dup of a queued id"),
        (9, 1, "dup of a processing id"),
        (2, 1, "b"),
        (8, 1, "dup of a completed id"),
        (3, 2, "c"), // fills the queue: 0, 1, 2, 3
        (4, 3, "no room"),
        (1, 0, "dup when full"),
        (5, 0, "no room either"),
    ];
    let tasks = || {
        batch
            .iter()
            .map(|&(id, p, x)| Task::new(id, p, s(x)))
            .collect::<Vec<_>>()
    };
    let q = setup();
    let refused: Vec<_> = q.try_add_tasks(tasks()).iter().map(refusal).collect();
    let r = |why, id, p, x: &str| (why, (id, p, s(x), 0));
    assert_eq!(
        refused,
        [
            r("duplicate", 1, 6, "a again"),
            r("duplicate", 0, 7, "dup of a queued id"),
            r("duplicate", 9, 1, "dup of a processing id"),
            r("duplicate", 8, 1, "dup of a completed id"),
            r("full", 4, 3, "no room"),
            r("duplicate", 1, 0, "dup when full"),
            r("full", 5, 0, "no room either"),
        ]
    );
    // The same as single adds, in the same order.
    let twin = setup();
    let single: Vec<_> = batch
        .iter()
        .filter_map(|&(id, p, x)| {
            twin.try_add_task(id, p, s(x))
                .err()
                .map(|e| single_refusal(id, p, e))
        })
        .collect();
    assert_eq!(refused, single);
    assert_eq!(q.stats(), twin.stats());
    assert_eq!(q.stats().total_added, 3 + 3);
    for id in [4, 5] {
        assert_eq!(q.get_status(&id), None);
    }
    inv(&q);
    // The accepted tasks are queued with their own priority and payload, in batch order among
    // equals.
    let got: Vec<_> = q
        .try_get_next_tasks(10)
        .unwrap()
        .iter()
        .map(whole)
        .collect();
    assert_eq!(
        got,
        [
            (1, 5, s("a"), 0),
            (3, 2, s("c"), 0),
            (2, 1, s("b"), 0),
            (0, 0, s("zero"), 0)
        ]
    );
    // An empty batch changes nothing.
    assert!(q.try_add_tasks(Vec::new()).is_empty());
    assert_eq!(q.stats().total_added, 6);
    // After a shutdown every task is refused, a duplicate too, each whole and in order.
    q.shutdown();
    let refused: Vec<_> = q
        .try_add_tasks(vec![
            Task::new(20, 1, s("x")),
            Task::new(1, 2, s("dup")),
            Task::new(21, 3, s("y")),
        ])
        .iter()
        .map(refusal)
        .collect();
    assert_eq!(
        refused,
        [
            r("shut down", 20, 1, "x"),
            r("shut down", 1, 2, "dup"),
            r("shut down", 21, 3, "y")
        ]
    );
    assert_eq!(q.stats().total_added, 6);
    assert_eq!(q.get_status(&20), None);
    inv(&q);
    // Many random tasks with repeated ids on an unbounded queue: the same as single adds.
    let (q, twin) = (new_q::<F>(), new_q::<F>());
    let mut rng = Rng::new(0xADD5);
    for _ in 0..20 {
        let batch: Vec<(u64, i64)> = (0..rng.below(60))
            .map(|_| (rng.below(400), rng.below(7) as i64))
            .collect();
        let refused: Vec<_> = q
            .try_add_tasks(
                batch
                    .iter()
                    .map(|&(id, p)| Task::new(id, p, s(p)))
                    .collect(),
            )
            .iter()
            .map(refusal)
            .collect();
        let single: Vec<_> = batch
            .iter()
            .filter_map(|&(id, p)| {
                twin.try_add_task(id, p, s(p))
                    .err()
                    .map(|e| single_refusal(id, p, e))
            })
            .collect();
        assert_eq!(refused, single);
    }
    assert_eq!(q.stats(), twin.stats());
    assert_eq!(drain(&q), drain(&twin));
    inv(&q);
}

/// `complete_claims` completes each claim as `complete_claim` would, in order, one result each:
/// `Ok`, `Stale` for an earlier claim of a task claimed again, `NotFound` for an unknown id,
/// `InvalidState` for a task no longer (or not yet) processing, a claim completed twice in one
/// batch included. Checked against single completes on a twin queue.
pub fn complete_claims_per_item_results<F: Factory>() {
    let run = |batched: bool| {
        let q = new_q::<F>();
        for id in 1..=4 {
            q.add_task(id, 1, s(id)).unwrap();
        }
        for id in 5..=6 {
            q.add_task(id, 0, s(id)).unwrap();
        }
        let batch = q.try_get_next_tasks(4).unwrap();
        assert_eq!(ids_of(&batch), [1, 2, 3, 4]);
        // 2 goes back and is claimed again: its first token is stale.
        let old2 = batch[1].token();
        assert_eq!(q.fail_task(batch[1].clone()), Ok(TaskStatus::Queued));
        let new2 = q.try_get_next_task().unwrap();
        assert_eq!((new2.id, new2.attempts), (2, 1));
        let claims = [
            (1, batch[0].token()),
            (2, old2),
            (3, batch[2].token()),
            (99, batch[0].token()),
            (1, batch[0].token()),
            (5, taskq::Token::default()),
            (2, new2.token()),
            (4, batch[3].token()),
        ];
        let results = if batched {
            q.complete_claims(&claims)
        } else {
            claims
                .iter()
                .map(|(id, t)| q.complete_claim(id, *t))
                .collect()
        };
        (q, results)
    };
    let (q, results) = run(true);
    assert_eq!(
        results,
        [
            Ok(()),
            Err(TaskError::Stale),
            Ok(()),
            Err(TaskError::NotFound),
            Err(invalid(TaskStatus::Completed)),
            Err(invalid(TaskStatus::Queued)),
            Ok(()),
            Ok(()),
        ]
    );
    let (twin, single) = run(false);
    assert_eq!(results, single);
    assert_eq!(q.stats(), twin.stats());
    for id in 1..=4 {
        assert_eq!(q.get_status(&id), Some(TaskStatus::Completed));
    }
    assert_eq!(q.get_status(&5), Some(TaskStatus::Queued));
    let st = q.stats();
    assert_eq!((st.total_completed, st.processing, st.queued), (4, 0, 2));
    // An empty batch: no results, no change.
    assert!(q.complete_claims(&[]).is_empty());
    assert_eq!(q.stats(), st);
    inv(&q);
}

/// `fail_tasks` hands each task back as `fail_task` would, in order, one result each: `Queued`
/// (with its payload, for the next attempt), `Failed` on the last attempt, `Stale` for an earlier
/// claim, `InvalidState` for a task already handed back (in the same batch too) or finished,
/// `NotFound` for an unknown id. Checked against single fails on a twin queue.
pub fn fail_tasks_per_item_results<F: Factory>() {
    let run = |batched: bool| {
        let q = with::<F>(Opts::default().max_attempts(2));
        for id in 1..=5 {
            q.add_task(id, 0, s(id)).unwrap();
        }
        let first = q.try_get_next_tasks(3).unwrap();
        assert_eq!(ids_of(&first), [1, 2, 3]);
        let back = if batched {
            q.fail_tasks(first.clone())
        } else {
            first.iter().map(|t| q.fail_task(t.clone())).collect()
        };
        assert_eq!(back, [Ok(TaskStatus::Queued); 3]);
        // Behind 4 and 5, in their order; attempts 1.
        let second = q.try_get_next_tasks(5).unwrap();
        assert_eq!(
            second
                .iter()
                .map(|t| (t.id, t.attempts))
                .collect::<Vec<_>>(),
            [(4, 0), (5, 0), (1, 1), (2, 1), (3, 1)]
        );
        let tasks = vec![
            second[2].clone(),           // 1, its last attempt: Failed
            first[1].clone(),            // 2's first claim: Stale
            second[0].clone(),           // 4: Queued
            second[0].clone(),           // 4 again, now queued
            Task::new(99, 0, s("who?")), // unknown
            second[2].clone(),           // 1 again, now failed
            second[3].clone(),           // 2, its last attempt: Failed
        ];
        let results = if batched {
            q.fail_tasks(tasks)
        } else {
            tasks.into_iter().map(|t| q.fail_task(t)).collect()
        };
        (q, results)
    };
    let (q, results) = run(true);
    assert_eq!(
        results,
        [
            Ok(TaskStatus::Failed),
            Err(TaskError::Stale),
            Ok(TaskStatus::Queued),
            Err(invalid(TaskStatus::Queued)),
            Err(TaskError::NotFound),
            Err(invalid(TaskStatus::Failed)),
            Ok(TaskStatus::Failed),
        ]
    );
    let (twin, single) = run(false);
    assert_eq!(results, single);
    assert_eq!(q.stats(), twin.stats());
    let statuses: Vec<_> = (1..=5).map(|id| q.get_status(&id).unwrap()).collect();
    use TaskStatus::*;
    assert_eq!(statuses, [Failed, Failed, Processing, Queued, Processing]);
    // 4 went back with its payload, for its second attempt.
    let t = q.try_get_next_task().unwrap();
    assert_eq!((t.id, t.payload.as_str(), t.attempts), (4, "4", 1));
    assert_eq!(q.stats().total_failed, 2);
    assert!(q.fail_tasks(Vec::new()).is_empty());
    inv(&q);
}

/// Producers blocked on a full bounded queue all get in after one batch claim takes as many
/// tasks (waking one would leave the others asleep next to free room), through either call.
pub fn blocked_producers_wake_after_batch_claim<F: Factory>() {
    let q = with::<F>(Opts::default().capacity(3));
    for id in 1..=3 {
        q.add_task(id, 0, s(id)).unwrap();
    }
    for (round, ids) in [(0, 10..13u64), (1, 20..23)] {
        thread::scope(|sc| {
            let (tx, rx) = mpsc::channel();
            for id in ids.clone() {
                let (q, tx) = (&q, tx.clone());
                // Half of them wait without a timeout, half with a long one.
                sc.spawn(move || {
                    let added = if id % 2 == 0 {
                        q.add_task(id, 0, s(id)).map_err(|e| e.to_string())
                    } else {
                        let long = Duration::from_secs(3600);
                        q.add_task_timeout(id, 0, s(id), long)
                            .map_err(|e| e.to_string())
                    };
                    tx.send(added)
                });
            }
            let_block();
            assert!(rx.try_recv().is_err(), "a producer got into a full queue");
            let batch = if round == 0 {
                q.try_get_next_tasks(3).unwrap()
            } else {
                q.get_next_tasks(3, None).unwrap()
            };
            assert_eq!(batch.len(), 3);
            for r in woken(
                &q,
                &rx,
                3,
                "3 producers blocked on a full queue, a batch claim of 3",
            ) {
                r.unwrap();
            }
        });
        assert_eq!(q.len(), 3);
        let queued: Vec<u64> = q.snapshot().queued.iter().map(|t| t.id).collect();
        let mut sorted = queued.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, ids.collect::<Vec<_>>());
    }
    inv(&q);
}

/// The thread name on which [`Picky`] ids refuse to be cloned.
const PICKY: &str = "picky";

/// An id whose `Clone` panics for one chosen number, and only on a thread named [`PICKY`]: the
/// same id clones fine for the add on another thread, and a claim (or add) on that thread
/// panics when it reaches it. `Eq` and `Hash` use the number.
#[derive(Debug)]
struct Picky {
    n: u64,
    bad: Arc<std::sync::atomic::AtomicU64>,
}

impl Clone for Picky {
    fn clone(&self) -> Self {
        let bad = self.bad.load(std::sync::atomic::Ordering::SeqCst);
        if self.n == bad && thread::current().name() == Some(PICKY) {
            panic!("K::clone panicked for id {}", self.n);
        }
        Picky {
            n: self.n,
            bad: Arc::clone(&self.bad),
        }
    }
}

impl PartialEq for Picky {
    fn eq(&self, other: &Self) -> bool {
        self.n == other.n
    }
}

impl Eq for Picky {}

impl std::hash::Hash for Picky {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.n.hash(state);
    }
}

/// Runs `f` on a thread named [`PICKY`], and says whether it panicked.
fn on_picky_thread<R: Send>(f: impl FnOnce() -> R + Send) -> thread::Result<R> {
    thread::scope(|sc| {
        thread::Builder::new()
            .name(PICKY.into())
            .spawn_scoped(sc, f)
            .unwrap()
            .join()
    })
}

/// `K::clone` panicking in a batch claim (on the first task, a middle one or the last) puts the
/// whole batch back: every task queued again in its old place, with its payload and attempts, the
/// counts and invariants intact; a claimer handed its first task while asleep puts that one back
/// too. Every claim call, and the queue works on afterwards.
pub fn batch_claim_clone_panic_puts_the_batch_back<F: Factory>() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let bad = Arc::new(AtomicU64::new(u64::MAX));
    let id = |n| Picky {
        n,
        bad: Arc::clone(&bad),
    };
    let q = F::build::<Picky, u64>(Opts::default().max_attempts(5));
    // Claim order: 2, 3, 5, 1, 4; 3 has been failed back once (attempts 1).
    for (n, p) in [(1, 2), (2, 5), (3, 5), (4, 1), (5, 3)] {
        q.add_task(id(n), p, n * 10).unwrap();
    }
    let t = q.try_get_next_task().unwrap();
    assert_eq!(t.id.n, 2);
    q.fail_task(t).unwrap();
    let order = |q: &F::Q<Picky, u64>| -> Vec<(u64, u32)> {
        q.snapshot()
            .queued
            .iter()
            .map(|t| (t.id.n, t.attempts))
            .collect()
    };
    let before = order(&q);
    assert_eq!(before, [(3, 0), (2, 1), (5, 0), (1, 0), (4, 0)]);
    type Call<'a> = &'a (dyn Fn() -> Result<Vec<Task<Picky, u64>>, ClaimError> + Sync);
    let calls: [(&str, Call<'_>); 4] = [
        ("try_get_next_tasks", &|| q.try_get_next_tasks(4)),
        ("get_next_tasks(zero)", &|| {
            q.get_next_tasks(4, Some(Duration::ZERO))
        }),
        ("get_next_tasks(none)", &|| q.get_next_tasks(4, None)),
        ("get_next_tasks(hour)", &|| {
            q.get_next_tasks(5, Some(Duration::from_secs(3600)))
        }),
    ];
    for (name, call) in calls {
        // The first task, the third, the last of the batch.
        for n in [3, 5, 1] {
            bad.store(n, SeqCst);
            assert!(
                on_picky_thread(call).is_err(),
                "{name}: K::clone of {n} should panic"
            );
            bad.store(u64::MAX, SeqCst);
            inv(&q);
            assert_eq!(
                order(&q),
                before,
                "{name}, panic on {n}: the batch is not back in place"
            );
            let st = q.stats();
            assert_eq!(
                (st.queued, st.processing, q.len()),
                (5, 0, 5),
                "{name}, panic on {n}"
            );
            for n in 1..=5 {
                assert_eq!(q.get_status(&id(n)), Some(TaskStatus::Queued));
            }
        }
    }
    // A batch that stops before the bad id does not touch it.
    bad.store(4, SeqCst);
    let batch = on_picky_thread(|| q.try_get_next_tasks(3))
        .unwrap()
        .unwrap();
    bad.store(u64::MAX, SeqCst);
    assert_eq!(
        batch
            .iter()
            .map(|t| (t.id.n, t.payload))
            .collect::<Vec<_>>(),
        [(3, 30), (2, 20), (5, 50)]
    );
    assert_eq!(q.fail_tasks(batch), [Ok(TaskStatus::Queued); 3]);
    inv(&q);

    // A claimer asleep in get_next_tasks is handed (or wakes to) the best of a batch add; the
    // clone of the second one panics on its thread: everything goes back.
    let q = F::build::<Picky, u64>(Opts::default());
    bad.store(12, SeqCst);
    thread::scope(|sc| {
        let claimer = thread::Builder::new()
            .name(PICKY.into())
            .spawn_scoped(sc, || q.get_next_tasks(3, None))
            .unwrap();
        let_block();
        let refused = q.try_add_tasks(vec![
            Task::new(id(11), 3, 110),
            Task::new(id(12), 2, 120),
            Task::new(id(13), 1, 130),
        ]);
        assert!(refused.is_empty());
        assert!(
            claimer.join().is_err(),
            "K::clone of 12 should panic in the claimer"
        );
    });
    bad.store(u64::MAX, SeqCst);
    inv(&q);
    let st = q.stats();
    assert_eq!((st.queued, st.processing, q.len()), (3, 0, 3));
    let got: Vec<_> = q
        .try_get_next_tasks(5)
        .unwrap()
        .iter()
        .map(|t| (t.id.n, t.payload, t.attempts))
        .collect();
    assert_eq!(got, [(11, 110, 0), (12, 120, 0), (13, 130, 0)]);
    inv(&q);
}

/// A claimer asleep in `get_next_tasks` is handed the best task of a batch add; before it wakes,
/// another thread completes that task by id (it is `Processing`: legal); then `K::clone` panics on
/// the rest of the batch in the claimer. Putting the batch back must not resurrect the completed
/// task: it stays `Completed`, the counts and invariants hold, and the panic that comes out of
/// the claim is the user's. (Rounds until the completion came first at least once; on strategies
/// that claim the whole batch in one critical section it never can, and there is nothing to
/// check.)
pub fn batch_claim_panic_after_hand_off_keeps_a_completed_task<F: Factory>() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let bad = Arc::new(AtomicU64::new(2));
    let id = |n| Picky {
        n,
        bad: Arc::clone(&bad),
    };
    let mut raced = 0;
    for _ in 0..20 {
        let q = F::build::<Picky, u64>(Opts::default());
        let (completed, claim) = thread::scope(|sc| {
            let claimer = thread::Builder::new()
                .name(PICKY.into())
                .spawn_scoped(sc, || q.get_next_tasks(2, None))
                .unwrap();
            let_block();
            let refused = q.try_add_tasks(vec![Task::new(id(1), 1, 10), Task::new(id(2), 0, 20)]);
            assert!(refused.is_empty());
            let completed = q.complete_task(&id(1));
            (completed, claimer.join())
        });
        let panic = claim.expect_err("K::clone of 2 panics in the claimer");
        inv(&q);
        if completed.is_err() {
            // The claim (and its rollback) came first: 1 is queued again.
            assert_eq!(completed, Err(invalid(TaskStatus::Queued)));
            assert_eq!(q.get_status(&id(1)), Some(TaskStatus::Queued));
            continue;
        }
        raced += 1;
        let message = panic
            .downcast_ref::<String>()
            .cloned()
            .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
            .unwrap_or_default();
        assert!(
            message.starts_with("K::clone panicked"),
            "the claim raised {message:?}, not the user's panic"
        );
        assert_eq!(q.get_status(&id(1)), Some(TaskStatus::Completed));
        assert_eq!(q.get_status(&id(2)), Some(TaskStatus::Queued));
        let st = q.stats();
        assert_eq!((st.queued, st.processing, st.completed), (1, 0, 1));
        if raced >= 3 {
            break;
        }
    }
    eprintln!("{}: the completion came first in {raced} round(s)", F::NAME);
}

/// `K::clone` panicking inside `try_add_tasks` leaves the tasks before it added (the rest are not
/// added), the invariants intact, and still wakes the claimers those tasks are for.
pub fn batch_add_panic_keeps_earlier_tasks_and_wakes<F: Factory>() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    let bad = Arc::new(AtomicU64::new(3));
    let id = |n| Picky {
        n,
        bad: Arc::clone(&bad),
    };
    let q = F::build::<Picky, u64>(Opts::default());
    thread::scope(|sc| {
        let (tx, rx) = mpsc::channel();
        for _ in 0..2 {
            let (q, tx) = (&q, tx.clone());
            sc.spawn(move || tx.send(q.get_next_task(None).map(|t| t.id.n)));
        }
        let_block();
        let tasks = (1..=4).map(|n| Task::new(id(n), 0, n * 10)).collect();
        assert!(
            on_picky_thread(|| q.try_add_tasks(tasks)).is_err(),
            "K::clone of 3 should panic"
        );
        let mut got: Vec<u64> = woken(&q, &rx, 2, "a batch add that added 2 tasks, then panicked")
            .into_iter()
            .map(Result::unwrap)
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2]);
    });
    bad.store(u64::MAX, SeqCst);
    inv(&q);
    assert_eq!(q.get_status(&id(3)), None);
    assert_eq!(q.get_status(&id(4)), None);
    let st = q.stats();
    assert_eq!((st.total_added, st.processing, st.queued), (2, 2, 0));
    // Ids 3 and 4 can be added now.
    assert!(q
        .try_add_tasks(vec![Task::new(id(3), 0, 30), Task::new(id(4), 0, 40)])
        .is_empty());
    assert_eq!(q.len(), 2);
    inv(&q);
}

/// Runs the whole contract suite against one backend: `contract_suite!(name, Factory)` makes a
/// module `name` with one `#[test]` per rule.
macro_rules! contract_suite {
    ($name:ident, $factory:ty) => {
        mod $name {
            $crate::common::contract::contract_suite!(@tests $factory; order_priority_then_fifo, heap_order_after_removals_from_the_middle, retention_with_reused_slots, order_random_many, update_priority_reorders, update_priority_random_many, fail_requeues_behind_equals, duplicate_ids_are_refused_with_payload, readd_after_forget_or_retention, add_after_shutdown_is_refused, capacity_full_and_timeout, claim_marks_processing, try_get_on_empty, claim_timeout_waits_at_least, huge_timeouts_do_not_panic, none_blocks_until_add, blocked_claimer_wakes_on_fail, blocked_claimers_wake_on_shutdown, no_task_handed_to_two_claimers, illegal_transitions_report_current_state, unknown_ids_are_not_found, cancel_only_queued, fail_counts_attempts_until_failed, graceful_shutdown_drains, shutdown_now_returns_queued_best_first, completing_after_shutdown_now, retention_keep_all, retention_keep_last, retention_keep_none, forget_frees_finished, churn_leaves_no_garbage, len_and_stats_count_every_status, claim_guard_complete_fail_drop, claim_guard_put_back_on_panic, snapshot_and_restore, restore_keeps_attempts_and_rejects_bad_snapshots, string_ids_empty_and_huge, u64_ids_full_range, extreme_priorities_with_updates, dyn_trait_object_works, blocked_producer_wakes_on_claim_and_cancel, blocked_producer_gets_shutdown, stale_guard_cannot_touch_a_later_claim, panicking_user_code_leaves_the_queue_consistent, default_retention_is_bounded, new_user_api, batch_claim_takes_the_best_in_order, batch_claim_max_zero_and_errors, blocked_batch_claim_wakes_on_adds, batch_add_wakes_every_blocked_claimer, batch_claim_is_atomic_among_blocked_claimers, try_add_tasks_refuses_each_as_try_add_would, complete_claims_per_item_results, fail_tasks_per_item_results, blocked_producers_wake_after_batch_claim, batch_claim_clone_panic_puts_the_batch_back, batch_add_panic_keeps_earlier_tasks_and_wakes, batch_claim_panic_after_hand_off_keeps_a_completed_task);
        }
    };
    (@tests $factory:ty; $($test:ident),+) => {
        $(
            #[test]
            fn $test() {
                let _watchdog = $crate::common::watchdog!($test);
                $crate::common::contract::$test::<$factory>();
            }
        )+
    };
}
pub(crate) use contract_suite;
