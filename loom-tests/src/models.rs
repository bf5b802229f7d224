//! The models, each written once and generic over the strategy. Each returns what loom explored;
//! which deliberate bug (if any) is switched on is the process's business (`TASKQ_MUTANT`, set
//! only on the child processes of `harness::expect_caught`).
//!
//! Under loom a finite timeout on the system clock (the default) expires at once, so
//! `get_next_task(Some(_))` tries once; only `None` blocks, and a thread blocked for good is
//! reported by loom as a deadlock. The timed models build their queue on a `ManualClock` instead:
//! a timeout then lasts until a timer thread of the model advances the clock and wakes the
//! sleepers, so loom interleaves the timeout with the other threads' operations.
#![cfg(taskq_loom)]

use std::collections::BTreeSet;
use std::time::Duration;

use loom::sync::atomic::{AtomicBool, Ordering};
use loom::sync::Arc;
use loom::thread;
use taskq::{AddTimeoutError, ClaimError, ManualClock, TaskError, TaskStatus};

use crate::harness::{assert_consistent, explore, explore_capped, Cfg, Explored, LoomQueue};

fn name<Q: LoomQueue>(model: &str) -> String {
    format!("{}::{model}", Q::NAME)
}

fn queue<Q: LoomQueue>(cfg: Cfg) -> Arc<Q> {
    Arc::new(Q::build(cfg))
}

fn ids(claimed: &[u64]) -> BTreeSet<u64> {
    claimed.iter().copied().collect()
}

/// No double claim, non-blocking: one queued task, one claimer with `try_get_next_task` and one
/// with a finite timeout. Exactly one gets the task; the other sees `Empty` / `Timeout`.
pub fn no_double_claim_try<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("no_double_claim_try"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        let q2 = Arc::clone(&q);
        let timed =
            thread::spawn(move || q2.get_next_task(Some(std::time::Duration::from_secs(1))));
        let tried = q.try_get_next_task();
        let timed = timed.join().unwrap();
        match (&tried, &timed) {
            (Ok(t), Err(ClaimError::Timeout)) | (Err(ClaimError::Empty), Ok(t)) => {
                assert_eq!((t.id, t.payload), (1, 10));
            }
            _ => panic!("double or lost claim: try {tried:?}, timed {timed:?}"),
        }
        assert_eq!(
            assert_consistent(&*q, &[1]),
            [TaskStatus::Processing],
            "the claimed task is processing"
        );
    })
}

/// No double claim, blocking: two claimers blocked in `get_next_task(None)`, one task added, then
/// a graceful shutdown. Exactly one claimer gets the task, the other `ShutDown`.
pub fn no_double_claim_blocking<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("no_double_claim_blocking"), move || {
        let q = queue::<Q>(Cfg::default());
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get_next_task(None))
            })
            .collect();
        q.add_task(1, 0, 10).unwrap();
        q.shutdown();
        let results: Vec<_> = claimers.into_iter().map(|c| c.join().unwrap()).collect();
        let got: Vec<u64> = results
            .iter()
            .filter_map(|r| r.as_ref().ok())
            .map(|t| t.id)
            .collect();
        assert_eq!(got, [1], "exactly one claimer gets the task: {results:?}");
        assert!(
            results
                .iter()
                .any(|r| matches!(r, Err(ClaimError::ShutDown))),
            "the other claimer sees ShutDown: {results:?}"
        );
        assert_consistent(&*q, &[1]);
    })
}

/// No lost update: two tasks; one thread claims and completes, one claims, fails (the task goes
/// back) and re-prioritises it, the main thread cancels task 1 and adds task 3. At the end every
/// id is in exactly one state, agreeing with what each operation returned.
pub fn no_lost_update<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("no_lost_update"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 1, 10).unwrap();
        q.add_task(2, 0, 20).unwrap();
        let qa = Arc::clone(&q);
        let completer = thread::spawn(move || {
            let task = qa.try_get_next_task().ok()?;
            qa.complete_task(&task.id)
                .expect("a claimed task completes");
            Some(task.id)
        });
        let qb = Arc::clone(&q);
        let failer = thread::spawn(move || {
            let task = qb.try_get_next_task().ok()?;
            let id = task.id;
            let status = qb.fail_task(task).expect("a claimed task fails");
            assert_eq!(
                status,
                TaskStatus::Queued,
                "no max_attempts: back in the queue"
            );
            let reprioritised = qb.update_priority(&id, 9).is_ok();
            Some((id, reprioritised))
        });
        let cancelled = q.cancel_task(&1);
        q.add_task(3, 5, 30).unwrap();
        let completed = completer.join().unwrap();
        let failed = failer.join().unwrap();

        let statuses = assert_consistent(&*q, &[1, 2, 3]);
        let stats = q.stats();
        assert_eq!(stats.total_added, 3);
        assert_eq!(stats.total_completed, u64::from(completed.is_some()));
        assert_eq!(stats.total_cancelled, u64::from(cancelled));
        // Every claimed task was completed or failed back, so nothing is left processing; each id
        // ends as the operations that succeeded on it say.
        for (id, status) in (1..=3).zip(&statuses) {
            let want = if completed == Some(id) {
                assert!(
                    !(cancelled && id == 1),
                    "task 1 both completed and cancelled"
                );
                TaskStatus::Completed
            } else if cancelled && id == 1 {
                TaskStatus::Cancelled
            } else {
                TaskStatus::Queued
            };
            assert_eq!(
                *status, want,
                "task {id}: completed {completed:?}, failed {failed:?}"
            );
        }
        if let Some((id, reprioritised)) = failed {
            if statuses[id as usize - 1] == TaskStatus::Queued {
                // Still queued, so nobody touched it after the failure: the update applied.
                assert!(reprioritised, "update_priority of queued task {id} failed");
                let snapshot = q.snapshot();
                let task = snapshot.queued.iter().find(|t| t.id == id).unwrap();
                assert_eq!((task.priority, task.attempts), (9, 1), "task {id}");
            }
        }
    })
}

/// No lost wake-up on add: a claimer blocked in `get_next_task(None)` wakes when a task is added
/// (else loom reports a deadlock).
pub fn claimer_wakes_on_add<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimer_wakes_on_add"), move || {
        let q = queue::<Q>(Cfg::default());
        let q2 = Arc::clone(&q);
        let claimer = thread::spawn(move || q2.get_next_task(None));
        q.add_task(1, 0, 10).unwrap();
        let task = claimer.join().unwrap().expect("the claimer gets the task");
        assert_eq!(task.id, 1);
        assert_consistent(&*q, &[1]);
    })
}

/// No lost wake-up, two of each: two claimers blocked in `get_next_task(None)`, two adds. Each
/// add wakes a claimer (a notification is not swallowed by a thread already awake), and the two
/// claimers get different tasks.
pub fn claimers_wake_on_adds<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimers_wake_on_adds"), move || {
        let q = queue::<Q>(Cfg::default());
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get_next_task(None).map(|t| t.id))
            })
            .collect();
        q.add_task(1, 0, 10).unwrap();
        q.add_task(2, 0, 20).unwrap();
        let mut got: Vec<u64> = claimers
            .into_iter()
            .map(|c| c.join().unwrap().expect("each claimer gets a task"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2], "each task to exactly one claimer");
        assert_consistent(&*q, &[1, 2]);
    })
}

/// No lost wake-up for producers on cancel: with capacity 1 and one task queued, a producer
/// blocked in `add_task` wakes when the queued task is cancelled.
pub fn producer_wakes_on_cancel<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("producer_wakes_on_cancel"), move || {
        let q = queue::<Q>(Cfg {
            capacity: Some(1),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let q2 = Arc::clone(&q);
        let producer = thread::spawn(move || q2.add_task(2, 0, 20));
        assert!(q.cancel_task(&1), "task 1 is queued until cancelled");
        producer
            .join()
            .unwrap()
            .expect("the producer adds once room appears");
        let statuses = assert_consistent(&*q, &[1, 2]);
        assert_eq!(statuses, [TaskStatus::Cancelled, TaskStatus::Queued]);
    })
}

/// No lost wake-up for producers, two of each: capacity 1, one task queued, two producers
/// blocked in `add_task`; the main thread claims twice. Both producers get in.
pub fn producers_wake_on_claims<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("producers_wake_on_claims"), move || {
        let q = queue::<Q>(Cfg {
            capacity: Some(1),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let producers: Vec<_> = [2, 3]
            .into_iter()
            .map(|id| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.add_task(id, 0, id * 10))
            })
            .collect();
        assert_eq!(q.get_next_task(None).unwrap().id, 1);
        let second = q.get_next_task(None).unwrap().id;
        assert!(second == 2 || second == 3, "claimed {second}");
        for producer in producers {
            producer.join().unwrap().expect("each producer gets in");
        }
        let statuses = assert_consistent(&*q, &[1, 2, 3]);
        let queued = statuses
            .iter()
            .filter(|&&s| s == TaskStatus::Queued)
            .count();
        assert_eq!(queued, 1, "the last task added waits: {statuses:?}");
    })
}

/// No lost wake-up when a woken producer is refused: capacity 1, task 1 queued; producers A
/// and B both add id 5, producer C adds id 6, all blocked on the full queue. The main thread
/// claims three times (1, 5 and 6), making room each time. Whichever of A and B comes second
/// finds 5 already known and returns `Duplicate` (a producer that waits for room while its id
/// becomes known may wait until room appears: `add_task` blocks while the queue is full); if it
/// was the one woken for the room, it must pass the wake-up on, or C sleeps next to free room
/// while the main thread waits for task 6 (loom reports the deadlock).
pub fn refused_producer_passes_wake<Q: LoomQueue>() -> Explored {
    // Four threads: bound 2 already explores ~10^5 interleavings and catches the mutant.
    explore_capped(&name::<Q>("refused_producer_passes_wake"), 2, move || {
        let q = queue::<Q>(Cfg {
            capacity: Some(1),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let producers: Vec<_> = [5, 5, 6]
            .into_iter()
            .map(|id| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.add_task(id, 0, id * 10).is_ok())
            })
            .collect();
        assert_eq!(q.get_next_task(None).unwrap().id, 1);
        let mut later = [
            q.get_next_task(None).unwrap().id,
            q.get_next_task(None).unwrap().id,
        ];
        later.sort_unstable();
        assert_eq!(later, [5, 6], "both ids get in once room appears");
        let added: Vec<bool> = producers.into_iter().map(|p| p.join().unwrap()).collect();
        assert!(
            added[0] != added[1],
            "exactly one add of id 5 succeeds: {added:?}"
        );
        assert!(added[2], "the add of id 6 succeeds");
        let statuses = assert_consistent(&*q, &[1, 5, 6]);
        assert_eq!(statuses, [TaskStatus::Processing; 3]);
    })
}

/// No lost wake-up on shutdown: two claimers blocked in `get_next_task(None)` both wake with
/// `ShutDown` when the queue shuts down.
pub fn claimers_wake_on_shutdown<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimers_wake_on_shutdown"), move || {
        let q = queue::<Q>(Cfg::default());
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get_next_task(None))
            })
            .collect();
        q.shutdown();
        for claimer in claimers {
            assert_eq!(claimer.join().unwrap().unwrap_err(), ClaimError::ShutDown);
        }
        assert!(q.is_shut_down());
    })
}

/// No lost wake-up for producers: with capacity 1 and one task queued, a producer blocked in
/// `add_task` wakes when the task is claimed.
pub fn producer_wakes_on_claim<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("producer_wakes_on_claim"), move || {
        let q = queue::<Q>(Cfg {
            capacity: Some(1),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let q2 = Arc::clone(&q);
        let producer = thread::spawn(move || q2.add_task(2, 0, 20));
        let task = q.get_next_task(None).unwrap();
        assert_eq!(task.id, 1, "task 2 cannot be queued before task 1 leaves");
        producer
            .join()
            .unwrap()
            .expect("the producer adds once room appears");
        let statuses = assert_consistent(&*q, &[1, 2]);
        assert_eq!(statuses, [TaskStatus::Processing, TaskStatus::Queued]);
    })
}

/// Priority order: adds that completed (were joined) before a claim began decide it. Tasks 1
/// (priority 1) and 2 (priority 5) are added by two threads; after both are joined, a claimer
/// races with the add of task 3 (priority 9): it gets 2 or 3, never 1; the rest drain in order.
pub fn priority_order<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("priority_order"), move || {
        let q = queue::<Q>(Cfg::default());
        let q2 = Arc::clone(&q);
        let producer = thread::spawn(move || q2.add_task(2, 5, 20));
        q.add_task(1, 1, 10).unwrap();
        producer.join().unwrap().unwrap();
        let q3 = Arc::clone(&q);
        let claimer = thread::spawn(move || q3.try_get_next_task().map(|t| t.id));
        q.add_task(3, 9, 30).unwrap();
        let first = claimer.join().unwrap().expect("two tasks were queued");
        assert!(
            first == 2 || first == 3,
            "claimed {first} before a higher priority"
        );
        let mut rest = Vec::new();
        while let Ok(task) = q.try_get_next_task() {
            rest.push(task.id);
        }
        let expected: Vec<u64> = [3, 2, 1].into_iter().filter(|&id| id != first).collect();
        assert_eq!(rest, expected, "the rest drain best first");
        assert_consistent(&*q, &[1, 2, 3]);
    })
}

/// Graceful shutdown: two claimers loop on `get_next_task(None)` while the main thread adds a
/// second task and shuts down. Every task is handed out exactly once, then both see `ShutDown`.
pub fn graceful_drain<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("graceful_drain"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || {
                    let mut got = Vec::new();
                    loop {
                        match q.get_next_task(None) {
                            Ok(task) => got.push(task.id),
                            Err(ClaimError::ShutDown) => return got,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        q.add_task(2, 0, 20).unwrap();
        q.shutdown();
        let mut all = Vec::new();
        for claimer in claimers {
            all.extend(claimer.join().unwrap());
        }
        all.sort_unstable();
        assert_eq!(all, [1, 2], "each task handed out exactly once");
        assert_eq!(q.get_next_task(None).unwrap_err(), ClaimError::ShutDown);
        assert_consistent(&*q, &[1, 2]);
    })
}

/// `shutdown_now` racing with a claimer: the claimed tasks and the returned ones together are
/// all the queued tasks, with none in both; the returned ones are best first and `Cancelled`.
pub fn shutdown_now_race<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("shutdown_now_race"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 1, 10).unwrap();
        q.add_task(2, 2, 20).unwrap();
        let q2 = Arc::clone(&q);
        let claimer = thread::spawn(move || {
            let mut got = Vec::new();
            loop {
                match q2.get_next_task(None) {
                    Ok(task) => got.push(task.id),
                    Err(ClaimError::ShutDown) => return got,
                    Err(e) => panic!("unexpected {e:?}"),
                }
            }
        });
        let returned: Vec<u64> = q.shutdown_now().into_iter().map(|t| t.id).collect();
        let claimed = claimer.join().unwrap();
        let expected_order: Vec<u64> = [2, 1]
            .into_iter()
            .filter(|id| returned.contains(id))
            .collect();
        assert_eq!(returned, expected_order, "returned best first");
        assert!(
            ids(&claimed).is_disjoint(&ids(&returned)),
            "claimed {claimed:?} and returned {returned:?}"
        );
        assert_eq!(
            claimed.len() + returned.len(),
            2,
            "a task was lost or duplicated"
        );
        let statuses = assert_consistent(&*q, &[1, 2]);
        for (id, status) in [1, 2].iter().zip(statuses) {
            let want = if returned.contains(id) {
                TaskStatus::Cancelled
            } else {
                TaskStatus::Processing
            };
            assert_eq!(status, want, "task {id}");
        }
    })
}

/// The claim guard: two threads each claim with `claim(None)` and drop the guard unfinished. The
/// task goes back exactly once per drop: the claims see attempts 0 and 1, and with
/// `max_attempts(2)` the task ends `Failed`. A drop that did not put it back leaves the other
/// claimer blocked (a deadlock).
pub fn guard_drop_requeues<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("guard_drop_requeues"), move || {
        let q = queue::<Q>(Cfg {
            max_attempts: Some(2),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let q2 = Arc::clone(&q);
        let other = thread::spawn(move || {
            let guard = q2.claim(None).unwrap();
            guard.attempts
        });
        let mine = {
            let guard = q.claim(None).unwrap();
            guard.attempts
        };
        let theirs = other.join().unwrap();
        let mut seen = [mine, theirs];
        seen.sort_unstable();
        assert_eq!(seen, [0, 1], "each drop puts the task back once");
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Failed]);
        assert_eq!(q.stats().total_failed, 1);
    })
}

/// The timeout of the timed models; their timer moves the clock past it.
const TIMEOUT: Duration = Duration::from_secs(1);

/// A manual clock for a timed model, and a queue built on it.
fn timed_queue<Q: LoomQueue>(cfg: Cfg) -> (ManualClock, Arc<Q>) {
    let time = ManualClock::new();
    let q = queue::<Q>(Cfg {
        clock: Some(time.clock()),
        ..cfg
    });
    (time, q)
}

/// The timer thread of a timed model: notes whether `done` was already set (the racing
/// operation had returned), then moves the clock past every deadline of the model and wakes the
/// sleepers. Returns what it noted.
fn timer<Q: LoomQueue>(
    q: &Arc<Q>,
    time: ManualClock,
    done: &Arc<AtomicBool>,
) -> thread::JoinHandle<bool> {
    let q = Arc::clone(q);
    let done = Arc::clone(done);
    thread::spawn(move || {
        let before = done.load(Ordering::SeqCst);
        time.advance(2 * TIMEOUT);
        q.time_moved();
        before
    })
}

/// A timeout racing with a hand-off: a claimer waits in `get_next_task(Some(_))` on an empty
/// queue (manual clock) while the main thread adds a task and a timer thread moves the clock past
/// the deadline and wakes the sleepers. The claimer gets the task (then `Processing`), or times
/// out and the task is still `Queued` (and claimable): never a timeout while the task sits
/// `Processing` with no holder (handed to a claimer that left). And a claimer that sleeps while
/// the task arrives before its deadline passes gets it: it times out only if the add returned
/// after the clock moved (a timeout means that, at some instant, the deadline had passed and the
/// queue was empty).
pub fn timed_claim_races_add<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("timed_claim_races_add"), move || {
        let (time, q) = timed_queue::<Q>(Cfg::default());
        let added = Arc::new(AtomicBool::new(false));
        let q2 = Arc::clone(&q);
        let claimer = thread::spawn(move || q2.get_next_task(Some(TIMEOUT)).map(|t| t.id));
        let timer = timer(&q, time, &added);
        q.add_task(1, 0, 10).unwrap();
        added.store(true, Ordering::SeqCst);
        let claimed = claimer.join().unwrap();
        let added_first = timer.join().unwrap();
        match claimed {
            Ok(id) => {
                assert_eq!(id, 1);
                assert_eq!(q.get_status(&1), Some(TaskStatus::Processing));
            }
            Err(ClaimError::Timeout) => {
                assert_eq!(
                    q.get_status(&1),
                    Some(TaskStatus::Queued),
                    "the claimer timed out, but the task is not queued (lost in a hand-off)"
                );
                assert!(
                    !added_first,
                    "the claimer timed out although the task was queued before the deadline passed"
                );
                assert_eq!(q.try_get_next_task().map(|t| t.id), Ok(1));
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Processing]);
    })
}

/// A timeout racing with room: capacity 1, task 1 queued; a producer waits in
/// `add_task_timeout` (manual clock) while the main thread claims task 1 and a timer thread moves
/// the clock past the deadline and wakes the sleepers. The add gets in, or times out with the
/// payload handed back and task 2 unknown (then there is room for it); it times out only if the
/// claim returned after the clock moved.
pub fn timed_add_races_claim<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("timed_add_races_claim"), move || {
        let (time, q) = timed_queue::<Q>(Cfg {
            capacity: Some(1),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let claimed = Arc::new(AtomicBool::new(false));
        let q2 = Arc::clone(&q);
        let producer = thread::spawn(move || q2.add_task_timeout(2, 0, 20, TIMEOUT));
        let timer = timer(&q, time, &claimed);
        assert_eq!(q.try_get_next_task().map(|t| t.id), Ok(1));
        claimed.store(true, Ordering::SeqCst);
        let added = producer.join().unwrap();
        let claimed_first = timer.join().unwrap();
        match added {
            Ok(()) => assert_eq!(q.get_status(&2), Some(TaskStatus::Queued)),
            Err(AddTimeoutError::Timeout(payload)) => {
                assert_eq!(payload, 20);
                assert_eq!(
                    q.get_status(&2),
                    None,
                    "a timed-out add left its task behind"
                );
                assert!(
                    !claimed_first,
                    "the add timed out although room appeared before the deadline passed"
                );
                q.try_add_task(2, 0, 20).expect("there is room");
            }
            Err(e) => panic!("unexpected {e:?}"),
        }
        let statuses = assert_consistent(&*q, &[1, 2]);
        assert_eq!(statuses, [TaskStatus::Processing, TaskStatus::Queued]);
    })
}

/// A guard's `complete()` racing with another claimer's `fail()`: `max_attempts(2)`, one task;
/// a thread claims with `claim(None)` and fails it through its guard (if it gets the task before
/// the queue shuts down), the main thread claims with `claim(None)` and completes it, then shuts
/// the queue down. The claims see distinct attempts (the failer's 0 before the completer's 1),
/// each guard's operation succeeds on its own claim, and the task ends `Completed`. A fail that
/// does not wake the blocked completer leaves it asleep (a deadlock).
pub fn guard_complete_races_fail<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("guard_complete_races_fail"), move || {
        let q = queue::<Q>(Cfg {
            max_attempts: Some(2),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        let q2 = Arc::clone(&q);
        let failer = thread::spawn(move || match q2.claim(None) {
            Ok(guard) => {
                let attempts = guard.attempts;
                Some((attempts, guard.fail()))
            }
            Err(ClaimError::ShutDown) => None,
            Err(e) => panic!("unexpected {e:?}"),
        });
        let (mine, completed) = {
            let guard = q.claim(None).unwrap();
            (guard.attempts, guard.complete())
        };
        q.shutdown();
        let failed = failer.join().unwrap();
        assert_eq!(completed, Ok(()), "the completer's own claim");
        match failed {
            None => assert_eq!(mine, 0, "the completer claimed first"),
            Some((theirs, status)) => {
                assert_eq!(
                    (theirs, mine),
                    (0, 1),
                    "distinct attempts, the failer's first"
                );
                assert_eq!(
                    status,
                    Ok(TaskStatus::Queued),
                    "the failer's own claim, 1 of 2 attempts"
                );
            }
        }
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Completed]);
        let stats = q.stats();
        assert_eq!((stats.total_completed, stats.total_failed), (1, 0));
    })
}

/// A stale guard is fenced: the main thread claims the task (through a guard), and while it
/// finishes it (`complete()` or `fail()`), a watchdog hands the same claim back with
/// `fail_task` from its copy of the task, and another thread claims with `claim(None)` and
/// completes whatever it gets (the queue shuts down once the watchdog is done, so it gets the
/// task back or `ShutDown`). Exactly one of the guard and the watchdog ends the claim; the other
/// is refused (`Stale`, or `InvalidState` before anyone claimed again), and the other claimer's
/// claim (attempts 1) is its own to complete: a guard never touches a claim that is not its own.
fn stale_guard<Q: LoomQueue>(model: &str, fail: bool) -> Explored {
    explore(&name::<Q>(model), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        let guard = q.claim(None).unwrap();
        let copy = guard.task().clone();
        let q2 = Arc::clone(&q);
        let watchdog = thread::spawn(move || q2.fail_task(copy));
        let q3 = Arc::clone(&q);
        let other = thread::spawn(move || match q3.claim(None) {
            Ok(guard) => {
                let attempts = guard.attempts;
                Some((attempts, guard.complete()))
            }
            Err(ClaimError::ShutDown) => None,
            Err(e) => panic!("unexpected {e:?}"),
        });
        let mine = if fail {
            guard.fail().map(Some)
        } else {
            guard.complete().map(|()| None)
        };
        let handed_back = watchdog.join().unwrap();
        q.shutdown();
        let theirs = other.join().unwrap();
        let refused =
            |e: &TaskError| matches!(e, TaskError::Stale | TaskError::InvalidState { .. });
        match (&mine, &handed_back) {
            (Ok(status), Err(e)) if refused(e) => {
                let want = if fail { Some(TaskStatus::Queued) } else { None };
                assert_eq!(*status, want, "the guard ended its claim");
            }
            (Err(e), Ok(TaskStatus::Queued)) if refused(e) => {}
            _ => panic!(
                "exactly one of the guard ({mine:?}) and the watchdog ({handed_back:?}) ends the claim"
            ),
        }
        // The task went back (by the guard's fail or the watchdog's) unless the guard completed it.
        let requeued = fail || handed_back.is_ok();
        if requeued {
            assert_eq!(
                theirs,
                Some((1, Ok(()))),
                "the other claimer completes its own claim"
            );
        } else {
            assert_eq!(theirs, None, "nothing went back to claim");
        }
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Completed]);
        assert_eq!(q.stats().total_completed, 1);
    })
}

/// [`stale_guard`] finishing with `complete()`.
pub fn stale_guard_complete<Q: LoomQueue>() -> Explored {
    stale_guard::<Q>("stale_guard_complete", false)
}

/// [`stale_guard`] finishing with `fail()`.
pub fn stale_guard_fail<Q: LoomQueue>() -> Explored {
    stale_guard::<Q>("stale_guard_fail", true)
}

/// The ids of a batch, in the order it came.
fn batch_ids(batch: &[taskq::Task<u64, u64>]) -> Vec<u64> {
    batch.iter().map(|t| t.id).collect()
}

/// No lost wake-up on a batch add: two claimers blocked in `get_next_task(None)`, one
/// `try_add_tasks` of two tasks. It must wake both (waking one leaves the other asleep next to a
/// queued task: loom reports the deadlock), and each gets a different task.
pub fn claimers_wake_on_batch_add<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimers_wake_on_batch_add"), move || {
        let q = queue::<Q>(Cfg::default());
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get_next_task(None).map(|t| t.id))
            })
            .collect();
        let refused = q.try_add_tasks(vec![taskq::Task::new(1, 0, 10), taskq::Task::new(2, 0, 20)]);
        assert!(refused.is_empty(), "an empty unbounded queue takes both");
        let mut got: Vec<u64> = claimers
            .into_iter()
            .map(|c| c.join().unwrap().expect("each claimer gets a task"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [1, 2], "each task to exactly one claimer");
        assert_eq!(assert_consistent(&*q, &[1, 2]), [TaskStatus::Processing; 2]);
    })
}

/// A batch claim is one atomic step, and a batch add wakes batch and single claimers alike: a
/// batch claimer (up to 2) and a single claimer block in `get_next_tasks(2, None)` /
/// `get_next_task(None)`; one `try_add_tasks` of tasks 1 (priority 0), 2 (priority 2) and 3
/// (priority 1), best first 2, 3, 1. Either the batch claimer went first and took [2, 3], the
/// single claimer then 1; or the single claimer took 2 and the batch claimer [3, 1]. A batch of
/// [2, 1] with 3 to the single claimer is no order of the two claims (the batch was taken in two
/// steps with the other claim in between); a claimer left asleep is a lost wake-up (deadlock).
pub fn batch_claim_is_atomic<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("batch_claim_is_atomic"), move || {
        let q = queue::<Q>(Cfg::default());
        let qb = Arc::clone(&q);
        let batch = thread::spawn(move || qb.get_next_tasks(2, None).map(|b| batch_ids(&b)));
        let qs = Arc::clone(&q);
        let single = thread::spawn(move || qs.get_next_task(None).map(|t| t.id));
        let refused = q.try_add_tasks(vec![
            taskq::Task::new(1, 0, 10),
            taskq::Task::new(2, 2, 20),
            taskq::Task::new(3, 1, 30),
        ]);
        assert!(refused.is_empty());
        let batch = batch.join().unwrap().expect("the batch claimer gets tasks");
        let single = single
            .join()
            .unwrap()
            .expect("the single claimer gets a task");
        match (&batch[..], single) {
            ([2, 3], 1) | ([3, 1], 2) => {}
            _ => panic!(
                "batch claim of up to 2 got {batch:?} while a single claim got {single}: not the \
                 best tasks at one instant"
            ),
        }
        assert_eq!(
            assert_consistent(&*q, &[1, 2, 3]),
            [TaskStatus::Processing; 3]
        );
    })
}

/// A batch claim racing a single claim: three tasks queued (best first 2, 3, 1); a thread takes
/// up to 2 with `try_get_next_tasks`, the main thread one with `try_get_next_task`. No task is
/// claimed twice, none is lost, and the outcome is one of the two orders: [2, 3] then 1, or 2
/// then [3, 1].
pub fn batch_claim_races_claim<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("batch_claim_races_claim"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        q.add_task(2, 2, 20).unwrap();
        q.add_task(3, 1, 30).unwrap();
        let q2 = Arc::clone(&q);
        let batch = thread::spawn(move || q2.try_get_next_tasks(2).map(|b| batch_ids(&b)));
        let single = q.try_get_next_task().map(|t| t.id);
        let batch = batch.join().unwrap();
        match (batch.as_deref(), single) {
            (Ok([2, 3]), Ok(1)) | (Ok([3, 1]), Ok(2)) => {}
            _ => panic!("double, lost or out-of-order claim: batch {batch:?}, single {single:?}"),
        }
        assert_eq!(
            assert_consistent(&*q, &[1, 2, 3]),
            [TaskStatus::Processing; 3]
        );
    })
}

/// No lost wake-up for producers on a batch claim: capacity 2, two tasks queued, two producers
/// blocked in `add_task`; the main thread claims both tasks with one `get_next_tasks(2, None)`.
/// It must wake both producers (the room is for two).
pub fn producers_wake_on_batch_claim<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("producers_wake_on_batch_claim"), move || {
        let q = queue::<Q>(Cfg {
            capacity: Some(2),
            ..Cfg::default()
        });
        q.add_task(1, 0, 10).unwrap();
        q.add_task(2, 0, 20).unwrap();
        let producers: Vec<_> = [3, 4]
            .into_iter()
            .map(|id| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.add_task(id, 0, id * 10))
            })
            .collect();
        let batch = q.get_next_tasks(2, None).unwrap();
        assert_eq!(
            batch_ids(&batch),
            [1, 2],
            "3 and 4 wait until 1 and 2 leave"
        );
        for producer in producers {
            producer.join().unwrap().expect("each producer gets in");
        }
        let statuses = assert_consistent(&*q, &[1, 2, 3, 4]);
        assert_eq!(
            statuses,
            [
                TaskStatus::Processing,
                TaskStatus::Processing,
                TaskStatus::Queued,
                TaskStatus::Queued
            ]
        );
    })
}

/// No lost wake-up on `fail_tasks`: the main thread claims two tasks in one batch, two claimers
/// block in `get_next_task(None)`, and the main thread hands both tasks back with one
/// `fail_tasks`. It must wake both claimers; each gets a different task, on its second attempt.
pub fn claimers_wake_on_fail_tasks<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimers_wake_on_fail_tasks"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        q.add_task(2, 0, 20).unwrap();
        let batch = q.try_get_next_tasks(2).unwrap();
        let claimers: Vec<_> = (0..2)
            .map(|_| {
                let q = Arc::clone(&q);
                thread::spawn(move || q.get_next_task(None).map(|t| (t.id, t.attempts)))
            })
            .collect();
        assert_eq!(q.fail_tasks(batch), [Ok(TaskStatus::Queued); 2]);
        let mut got: Vec<(u64, u32)> = claimers
            .into_iter()
            .map(|c| c.join().unwrap().expect("each claimer gets a task"))
            .collect();
        got.sort_unstable();
        assert_eq!(got, [(1, 1), (2, 1)]);
        assert_eq!(assert_consistent(&*q, &[1, 2]), [TaskStatus::Processing; 2]);
    })
}

/// The due time of the scheduling models' task; their timer moves the clock past it.
const DUE: Duration = Duration::from_secs(1);

/// A claimer going to sleep racing a task falling due: a claimer blocks in
/// `get_next_task(None)` on an empty queue (manual clock) while the main thread schedules a task
/// for `DUE` from now and a timer thread moves the clock past it and wakes the timed sleepers
/// (as a real clock's timers would: an untimed sleeper is left asleep). Whatever the order, the
/// claimer gets the task, and not before it was due: it slept no longer than the due time it saw
/// (or was told to look again when the task was scheduled), and the claim moved the task to the
/// ready heap only once the clock had reached it. A lost wake-up is a deadlock.
pub fn claimer_wakes_when_task_falls_due<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimer_wakes_when_task_falls_due"), move || {
        let (time, q) = timed_queue::<Q>(Cfg::default());
        let due = time.clock().now() + DUE;
        let q2 = Arc::clone(&q);
        let clock = time.clock();
        let claimer = thread::spawn(move || {
            let task = q2.get_next_task(None);
            (task.map(|t| t.id), clock.now())
        });
        let scheduled = Arc::new(AtomicBool::new(false));
        let timer = timer(&q, time, &scheduled);
        q.add_task_at(1, 0, 10, due).unwrap();
        scheduled.store(true, Ordering::SeqCst);
        let (claimed, at) = claimer.join().unwrap();
        timer.join().unwrap();
        assert_eq!(claimed, Ok(1));
        assert!(at >= due, "handed out before it was due");
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Processing]);
    })
}

/// A retry with backoff racing a blocked claimer: task 1 is claimed by the main thread, which
/// fails it with `fail_task_after(DUE)` while another claimer blocks in `get_next_task(None)`
/// and a timer thread moves the clock on and wakes the timed sleepers. The retry time counts
/// from the fail, which may come after the timer's move: so the main thread then moves the clock
/// past it too (time goes on). The claimer gets the task again (one more attempt), never before
/// its retry time.
pub fn claimer_wakes_for_a_delayed_retry<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("claimer_wakes_for_a_delayed_retry"), move || {
        let (time, q) = timed_queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        let first = q.try_get_next_task().unwrap();
        let q2 = Arc::clone(&q);
        let clock = time.clock();
        let claimer = thread::spawn(move || {
            let task = q2.get_next_task(None);
            (task.map(|t| (t.id, t.attempts)), clock.now())
        });
        let retry_at = time.clock().now() + DUE;
        let failed = Arc::new(AtomicBool::new(false));
        let timer = timer(&q, time.clone(), &failed);
        assert_eq!(q.fail_task_after(first, DUE), Ok(TaskStatus::Scheduled));
        failed.store(true, Ordering::SeqCst);
        time.advance(2 * DUE);
        q.time_moved();
        let (claimed, at) = claimer.join().unwrap();
        timer.join().unwrap();
        assert_eq!(claimed, Ok((1, 1)));
        assert!(at >= retry_at, "handed out before its retry time");
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Processing]);
    })
}

/// The order of a task's statuses over its life, as the status-read models see them.
fn status_rank(status: Option<TaskStatus>) -> usize {
    match status {
        None => 0,
        Some(TaskStatus::Queued) => 1,
        Some(TaskStatus::Processing) => 2,
        Some(TaskStatus::Completed) => 3,
        Some(other) => panic!("a status this model never makes: {other}"),
    }
}

/// Status reads racing writes: a worker adds task 1, claims it and completes it, announcing each
/// write once it has returned; the reader reads task 1's status twice. Each read returns a status
/// current at some instant of the read (linearizable): never older than a write that returned
/// before the read began, never older than the previous read. On `RwLockTaskQueue` the reads come
/// from the status mirror without taking the core's lock: a publication prepared in the copy
/// readers use, or a reader that takes a copy without checking it was not replaced meanwhile,
/// shows a status and then an older one.
pub fn status_read_races_writes<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("status_read_races_writes"), move || {
        let q = queue::<Q>(Cfg::default());
        let returned = Arc::new(loom::sync::atomic::AtomicUsize::new(0));
        let (q2, returned2) = (Arc::clone(&q), Arc::clone(&returned));
        let worker = thread::spawn(move || {
            q2.add_task(1, 0, 10).unwrap();
            returned2.store(1, Ordering::SeqCst);
            let task = q2.try_get_next_task().unwrap();
            returned2.store(2, Ordering::SeqCst);
            q2.complete_claim(&task.id, task.token()).unwrap();
            returned2.store(3, Ordering::SeqCst);
        });
        let mut last = 0;
        for read in 0..2 {
            let before = returned.load(Ordering::SeqCst);
            let seen = status_rank(q.get_status(&1));
            assert!(
                seen >= before,
                "read {read} saw status rank {seen} although write {before} had returned"
            );
            assert!(
                seen >= last,
                "read {read} went back in time: rank {last}, then {seen}"
            );
            last = seen;
        }
        worker.join().unwrap();
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Completed]);
    })
}

/// Status reads see a batch whole: a worker adds tasks 1 and 2 in one `try_add_tasks`, then
/// completes both in one `complete_claims`; the reader reads task 1's status, then task 2's. A
/// batch is one atomic step, so once the first read sees the batch's effect on task 1, the
/// second, which begins after it, must see its effect on task 2. On `RwLockTaskQueue` the two ids
/// fall in different shards of the status mirror (under loom), so a batch must reach both at one
/// instant; a batch published in two steps is caught.
pub fn status_reads_see_batches_whole<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("status_reads_see_batches_whole"), move || {
        let q = queue::<Q>(Cfg::default());
        let q2 = Arc::clone(&q);
        let worker = thread::spawn(move || {
            let batch = vec![taskq::Task::new(1, 0, 10), taskq::Task::new(2, 0, 20)];
            assert!(q2.try_add_tasks(batch).is_empty(), "both added");
            let claimed = q2.try_get_next_tasks(2).unwrap();
            let claims: Vec<_> = claimed.iter().map(|t| (t.id, t.token())).collect();
            let done = q2.complete_claims(&claims);
            assert!(done.iter().all(Result::is_ok), "both completed: {done:?}");
        });
        let first = status_rank(q.get_status(&1));
        let second = status_rank(q.get_status(&2));
        // Task 2 moves with task 1 in each batch, and the claim takes both at once too.
        assert!(
            second >= first,
            "half a batch: task 1 at status rank {first}, then task 2 at {second}"
        );
        worker.join().unwrap();
        assert_eq!(assert_consistent(&*q, &[1, 2]), [TaskStatus::Completed; 2]);
    })
}

/// A reader in the back copy does not hold the writer up: task 1 is added, then a reader thread
/// reads its status while the main thread claims and completes it. A reader that loaded the
/// publication count before the claim's flip takes the copy that has just become the back copy,
/// and may still hold it when the completion publishes: the writer then updates the live copy in
/// place, and every read stays linearizable (never older than a write that returned before it
/// began), the completion visible as soon as it returned.
pub fn status_read_holds_back_copy<Q: LoomQueue>() -> Explored {
    explore(&name::<Q>("status_read_holds_back_copy"), move || {
        let q = queue::<Q>(Cfg::default());
        q.add_task(1, 0, 10).unwrap();
        let returned = Arc::new(loom::sync::atomic::AtomicUsize::new(1));
        let (q2, returned2) = (Arc::clone(&q), Arc::clone(&returned));
        let reader = thread::spawn(move || {
            let before = returned2.load(Ordering::SeqCst);
            let seen = status_rank(q2.get_status(&1));
            assert!(
                seen >= before,
                "the read saw status rank {seen} although write {before} had returned"
            );
        });
        let task = q.try_get_next_task().unwrap();
        returned.store(2, Ordering::SeqCst);
        q.complete_claim(&task.id, task.token()).unwrap();
        returned.store(3, Ordering::SeqCst);
        assert_eq!(
            q.get_status(&1),
            Some(TaskStatus::Completed),
            "read after it returned"
        );
        reader.join().unwrap();
        assert_eq!(assert_consistent(&*q, &[1]), [TaskStatus::Completed]);
    })
}
