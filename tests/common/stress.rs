//! Stress tests, per strategy: several producers and consumers on one bounded queue, with random
//! cancels, failures (max_attempts, so some tasks end `Failed`) and re-prioritisations. Every claim
//! is recorded; the checks: no task is claimed while another worker holds it, a claim's `attempts`
//! equals the task's earlier claims, every accepted task ends in exactly one final state (none
//! lost, none twice), the queue's statuses and stats agree with what the threads did, and the
//! invariants hold. Variants shut the queue down mid-run (`shutdown` and `shutdown_now`) and
//! account for every add attempt: completed + cancelled + failed + returned by `shutdown_now` +
//! refused at add == attempts.

use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU8, AtomicUsize, Ordering::SeqCst};
use std::thread;
use std::time::Duration;

use super::{inv, Factory, Opts, Rng};
use taskq::{AddError, ClaimError, Retention, Task, TaskError, TaskQueue, TaskStatus, TryAddError};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// Producers finish, then a graceful shutdown lets the consumers drain everything.
    Drain,
    /// `shutdown()` while producers are still adding.
    ShutdownMidRun,
    /// `shutdown_now()` while producers are still adding.
    ShutdownNowMidRun,
}

const NONE: u8 = 0;
const COMPLETED: u8 = 1;
const CANCELLED: u8 = 2;
const FAILED: u8 = 3;
const RETURNED: u8 = 4;

const MAX_ATTEMPTS: u32 = 3;

struct Shared {
    /// Set while a worker holds the task.
    held: Vec<AtomicBool>,
    /// Claims per task so far.
    claims: Vec<AtomicU32>,
    /// The final state each task reached, as observed by the thread that caused it.
    outcome: Vec<AtomicU8>,
    added: AtomicUsize,
    refused: AtomicUsize,
    finished_claims: AtomicUsize,
}

impl Shared {
    fn new(n: usize) -> Self {
        Shared {
            held: (0..n).map(|_| AtomicBool::new(false)).collect(),
            claims: (0..n).map(|_| AtomicU32::new(0)).collect(),
            outcome: (0..n).map(|_| AtomicU8::new(NONE)).collect(),
            added: AtomicUsize::new(0),
            refused: AtomicUsize::new(0),
            finished_claims: AtomicUsize::new(0),
        }
    }

    fn set_outcome(&self, id: u64, outcome: u8) {
        let prev = self.outcome[id as usize].swap(outcome, SeqCst);
        assert_eq!(
            prev, NONE,
            "task {id} reached a second final state ({outcome} after {prev})"
        );
    }
}

/// Shuts the queue down at once if its thread panics, so that a failed check ends the run (every
/// blocked thread gets `ShutDown`) instead of leaving producers blocked on a full queue.
struct StopOnPanic<'a, Q: TaskQueue<u64, u64>>(&'a Q);

impl<Q: TaskQueue<u64, u64>> Drop for StopOnPanic<'_, Q> {
    fn drop(&mut self) {
        if thread::panicking() {
            self.0.shutdown_now();
        }
    }
}

pub fn run<F: Factory>(mode: Mode, producers: u64, consumers: usize, per_producer: u64, seed: u64) {
    let total = producers * per_producer;
    let q: F::Q<u64, u64> = F::build(
        Opts::default()
            .capacity(256)
            .max_attempts(MAX_ATTEMPTS)
            .retention(Retention::KeepAll),
    );
    let sh = Shared::new(total as usize);
    let mut returned = Vec::new();

    thread::scope(|sc| {
        let (q, sh) = (&q, &sh);
        let producer_handles: Vec<_> = (0..producers)
            .map(|p| {
                sc.spawn(move || {
                    let _stop = StopOnPanic(q);
                    let mut rng = Rng::new(seed ^ ((p + 1) * 0x1234_5678));
                    let ids = p * per_producer..(p + 1) * per_producer;
                    for id in ids.clone() {
                        let priority = rng.below(16) as i64 - 8;
                        match q.add_task(id, priority, id) {
                            Ok(()) => {
                                sh.added.fetch_add(1, SeqCst);
                            }
                            Err(AddError::ShutDown(payload)) => {
                                assert_eq!(payload, id, "payload handed back");
                                assert_ne!(mode, Mode::Drain, "refused before shutdown");
                                sh.refused.fetch_add(1, SeqCst);
                                continue;
                            }
                            Err(e) => panic!("unexpected {e:?} for fresh id {id}"),
                        }
                        // Now and then, cancel or re-prioritise one of our earlier tasks.
                        let other = ids.start + rng.below(id - ids.start + 1);
                        match rng.below(16) {
                            0 if q.cancel_task(&other) => sh.set_outcome(other, CANCELLED),
                            1 | 2 => match q.update_priority(&other, rng.below(32) as i64 - 16) {
                                Ok(()) | Err(TaskError::InvalidState { .. }) => {}
                                // Refused adds are unknown; accepted ones are all retained.
                                Err(TaskError::NotFound) => {
                                    assert_eq!(sh.outcome[other as usize].load(SeqCst), NONE);
                                }
                                Err(e) => panic!("unexpected {e:?}"),
                            },
                            _ => {}
                        }
                    }
                })
            })
            .collect();

        let consumer_handles: Vec<_> = (0..consumers)
            .map(|c| {
                sc.spawn(move || {
                    let _stop = StopOnPanic(q);
                    let mut rng = Rng::new(seed ^ (c as u64 + 101));
                    loop {
                        let task = match q.get_next_task(None) {
                            Ok(t) => t,
                            Err(ClaimError::ShutDown) => return,
                            Err(e) => panic!("unexpected {e:?}"),
                        };
                        let id = task.id;
                        assert_eq!(task.payload, id);
                        assert!(
                            !sh.held[id as usize].swap(true, SeqCst),
                            "task {id} handed to two workers at once"
                        );
                        let before = sh.claims[id as usize].fetch_add(1, SeqCst);
                        assert_eq!(task.attempts, before, "attempts of task {id}");
                        assert!(task.attempts < MAX_ATTEMPTS);
                        sh.finished_claims.fetch_add(1, SeqCst);
                        sh.held[id as usize].store(false, SeqCst);
                        match rng.below(8) {
                            0 | 1 => match q.fail_task(task).unwrap() {
                                TaskStatus::Failed => sh.set_outcome(id, FAILED),
                                TaskStatus::Queued => {}
                                other => panic!("fail gave {other:?}"),
                            },
                            2..=4 => {
                                q.complete_task(&id).unwrap();
                                sh.set_outcome(id, COMPLETED);
                            }
                            _ => {
                                q.complete_claim(&id, task.token()).unwrap();
                                sh.set_outcome(id, COMPLETED);
                            }
                        }
                    }
                })
            })
            .collect();

        match mode {
            Mode::Drain => {
                for h in producer_handles {
                    h.join().unwrap();
                }
                q.shutdown();
            }
            Mode::ShutdownMidRun | Mode::ShutdownNowMidRun => {
                // Wait until about a third of the work is done (not a timing assert: just when).
                while sh.finished_claims.load(SeqCst) < (total / 3) as usize
                    && producer_handles.iter().any(|h| !h.is_finished())
                {
                    thread::sleep(Duration::from_millis(1));
                }
                if mode == Mode::ShutdownMidRun {
                    q.shutdown();
                } else {
                    returned.extend(q.shutdown_now());
                }
                for h in producer_handles {
                    h.join().unwrap();
                }
            }
        }
        for h in consumer_handles {
            h.join().unwrap();
        }
    });
    // Tasks failed by workers after shutdown_now went back to the queue: collect them.
    if mode == Mode::ShutdownNowMidRun {
        returned.extend(q.shutdown_now());
    } else {
        assert!(q.shutdown_now().is_empty(), "a drained queue is empty");
    }
    for t in &returned {
        sh.set_outcome(t.id, RETURNED);
    }

    // Accounting.
    let added = sh.added.load(SeqCst);
    let refused = sh.refused.load(SeqCst);
    assert_eq!(
        added + refused,
        total as usize,
        "every add attempt accounted"
    );
    let mut per = [0u64; 5];
    for id in 0..total {
        let outcome = sh.outcome[id as usize].load(SeqCst);
        per[outcome as usize] += 1;
        let claims = sh.claims[id as usize].load(SeqCst);
        let expected = match outcome {
            NONE => None,
            COMPLETED => {
                assert!((1..=MAX_ATTEMPTS).contains(&claims));
                Some(TaskStatus::Completed)
            }
            FAILED => {
                assert_eq!(claims, MAX_ATTEMPTS, "task {id} failed early");
                Some(TaskStatus::Failed)
            }
            CANCELLED | RETURNED => {
                assert!(claims < MAX_ATTEMPTS);
                Some(TaskStatus::Cancelled)
            }
            _ => unreachable!(),
        };
        assert_eq!(q.get_status(&id), expected, "status of task {id}");
    }
    assert_eq!(per[NONE as usize] as usize, refused, "a task was lost");
    let st = q.stats();
    assert_eq!(st.total_added, added as u64);
    assert_eq!(st.total_completed, per[COMPLETED as usize]);
    assert_eq!(
        st.total_cancelled,
        per[CANCELLED as usize] + per[RETURNED as usize]
    );
    assert_eq!(st.total_failed, per[FAILED as usize]);
    assert_eq!((st.queued, st.processing), (0, 0));
    assert_eq!(
        (st.completed, st.cancelled, st.failed),
        (
            st.total_completed as usize,
            st.total_cancelled as usize,
            st.total_failed as usize
        )
    );
    assert!(q.is_empty());
    if mode == Mode::Drain {
        assert_eq!(refused, 0);
        assert!(per[FAILED as usize] > 0 && per[CANCELLED as usize] > 0);
    }
    inv(&q);
}

/// Claimers looping on short finite timeouts (0 to 2 ms, some zero) race with producers (whose
/// adds to a small bounded queue use timeouts too) and with a shutdown: the timed-out-while-handed
/// path of every strategy runs on real threads. At the end no task is `Processing` (every claim
/// had a holder that finished it), and every accepted task ended exactly once: completed by its
/// claimer, or returned by `shutdown_now`.
pub fn timed_claims<F: Factory>(shutdown_now_midway: bool, seed: u64) {
    // Three independent rounds: one round catches a lost hand-off in the timeout path about 8
    // times in 10, three rounds nearly always.
    for round in 0..3 {
        timed_claims_round::<F>(shutdown_now_midway, seed * 10 + round);
    }
}

fn timed_claims_round<F: Factory>(shutdown_now_midway: bool, seed: u64) {
    const PRODUCERS: u64 = 2;
    const PER_PRODUCER: u64 = 10_000;
    let total = PRODUCERS * PER_PRODUCER;
    let q: F::Q<u64, u64> = F::build(Opts::default().capacity(64).retention(Retention::KeepAll));
    let sh = Shared::new(total as usize);
    let timeouts = AtomicUsize::new(0);
    let mut returned = Vec::new();
    thread::scope(|sc| {
        let (q, sh, timeouts) = (&q, &sh, &timeouts);
        let producers: Vec<_> = (0..PRODUCERS)
            .map(|p| {
                sc.spawn(move || {
                    let _stop = StopOnPanic(q);
                    let mut rng = Rng::new(seed ^ (p + 7));
                    for id in p * PER_PRODUCER..(p + 1) * PER_PRODUCER {
                        // Pauses of a few microseconds leave the queue empty often, so that
                        // claimers sleep and time out while tasks arrive.
                        for _ in 0..rng.below(4_000) {
                            std::hint::spin_loop();
                        }
                        let wait = Duration::from_micros(rng.below(500));
                        let mut payload = id;
                        loop {
                            match q.add_task_timeout(id, rng.below(8) as i64, payload, wait) {
                                Ok(()) => {
                                    sh.added.fetch_add(1, SeqCst);
                                    break;
                                }
                                Err(taskq::AddTimeoutError::Timeout(back)) => payload = back,
                                Err(taskq::AddTimeoutError::ShutDown(back)) => {
                                    assert_eq!(back, id, "payload handed back");
                                    sh.refused.fetch_add(1, SeqCst);
                                    break;
                                }
                                Err(e) => panic!("unexpected {e:?}"),
                            }
                        }
                    }
                })
            })
            .collect();
        let claimers: Vec<_> = (0..6u64)
            .map(|c| {
                sc.spawn(move || {
                    let _stop = StopOnPanic(q);
                    let mut rng = Rng::new(seed ^ (c + 101));
                    loop {
                        let wait = match rng.below(8) {
                            0 => Duration::ZERO,
                            1 => Duration::from_micros(rng.below(2_000)),
                            _ => Duration::from_micros(1 + rng.below(10)),
                        };
                        match q.get_next_task(Some(wait)) {
                            Ok(task) => {
                                let id = task.id;
                                assert_eq!(task.payload, id);
                                assert!(
                                    !sh.held[id as usize].swap(true, SeqCst),
                                    "task {id} handed to two claimers"
                                );
                                sh.claims[id as usize].fetch_add(1, SeqCst);
                                sh.finished_claims.fetch_add(1, SeqCst);
                                sh.held[id as usize].store(false, SeqCst);
                                q.complete_claim(&id, task.token()).unwrap();
                                sh.set_outcome(id, COMPLETED);
                            }
                            Err(ClaimError::Timeout) => {
                                timeouts.fetch_add(1, SeqCst);
                            }
                            Err(ClaimError::ShutDown) => return,
                            Err(e) => panic!("unexpected {e:?}"),
                        }
                    }
                })
            })
            .collect();
        if shutdown_now_midway {
            while sh.finished_claims.load(SeqCst) < (total / 2) as usize {
                thread::sleep(Duration::from_millis(1));
            }
            returned = q.shutdown_now();
        }
        for p in producers {
            p.join().unwrap();
        }
        q.shutdown();
        for c in claimers {
            c.join().unwrap();
        }
    });
    returned.extend(q.shutdown_now());
    for t in &returned {
        sh.set_outcome(t.id, RETURNED);
    }
    let st = q.stats();
    assert_eq!(st.processing, 0, "a task is Processing without a holder");
    assert_eq!(st.queued, 0);
    let added = sh.added.load(SeqCst);
    assert_eq!(
        added + sh.refused.load(SeqCst),
        total as usize,
        "every add accounted"
    );
    let mut ended = 0;
    for id in 0..total {
        match sh.outcome[id as usize].load(SeqCst) {
            NONE => assert_eq!(q.get_status(&id), None, "task {id} refused at add"),
            COMPLETED => {
                assert_eq!(
                    sh.claims[id as usize].load(SeqCst),
                    1,
                    "task {id} claimed twice"
                );
                assert_eq!(q.get_status(&id), Some(TaskStatus::Completed));
                ended += 1;
            }
            RETURNED => {
                assert_eq!(sh.claims[id as usize].load(SeqCst), 0);
                assert_eq!(q.get_status(&id), Some(TaskStatus::Cancelled));
                ended += 1;
            }
            other => panic!("task {id} ended as {other}"),
        }
    }
    assert_eq!(ended, added, "every accepted task ended exactly once");
    assert!(
        timeouts.load(SeqCst) > 0,
        "no claim timed out: the timed path was not exercised"
    );
    inv(&q);
}

/// Batch operations mixed with single ones across threads, on a small bounded queue with
/// `max_attempts`: producers add in batches with `try_add_tasks` (re-sending the tasks refused as
/// `Full`, which come back whole, and now and then a known id, which must come back `Duplicate`)
/// and with single `add_task`s; consumers claim with `get_next_tasks` / `try_get_next_tasks` of
/// random sizes and with `get_next_task`, then finish each batch with `complete_claims`,
/// `fail_tasks`, `complete_task` and `fail_task` (and try a stale claim, which must be refused).
/// The checks: no task is held by two workers at once, a claim's `attempts` equals the task's
/// earlier claims, a batch is never larger than asked and is best first among its own tasks at
/// the moment it was taken (its priorities never increase), every accepted task ends exactly once
/// (completed or failed, none lost), and the statuses, stats and invariants agree.
pub fn batch_mix<F: Factory>(producers: u64, consumers: usize, per_producer: u64, seed: u64) {
    let total = producers * per_producer;
    let q: F::Q<u64, u64> = F::build(
        Opts::default()
            .capacity(64)
            .max_attempts(MAX_ATTEMPTS)
            .retention(Retention::KeepAll),
    );
    let sh = Shared::new(total as usize);
    let (batches, stale_refused) = (AtomicUsize::new(0), AtomicUsize::new(0));
    let (unordered, first_unordered) = (AtomicUsize::new(0), std::sync::Mutex::new(String::new()));
    thread::scope(|sc| {
        let (q, sh, batches, stale_refused) = (&q, &sh, &batches, &stale_refused);
        let (unordered, first_unordered) = (&unordered, &first_unordered);
        let producer_handles: Vec<_> = (0..producers)
            .map(|p| {
                sc.spawn(move || {
                    let _stop = StopOnPanic(q);
                    let mut rng = Rng::new(seed ^ ((p + 1) * 0x9E37_79B9));
                    let priority = |id: u64| (id.wrapping_mul(0x2545_F491) >> 7) as i64 % 9;
                    let ids = p * per_producer..(p + 1) * per_producer;
                    let mut next = ids.start;
                    let mut pending: Vec<Task<u64, u64>> = Vec::new();
                    while next < ids.end || !pending.is_empty() {
                        if rng.below(8) == 0 && next < ids.end {
                            // A single blocking add.
                            q.add_task(next, priority(next), next).unwrap();
                            sh.added.fetch_add(1, SeqCst);
                            next += 1;
                            continue;
                        }
                        let fresh = rng.below(8).min(ids.end - next);
                        let mut batch = std::mem::take(&mut pending);
                        batch
                            .extend((next..next + fresh).map(|id| Task::new(id, priority(id), id)));
                        next += fresh;
                        // A known id (added earlier by this producer): always a duplicate.
                        let dup = (next > ids.start + 1 && rng.below(4) == 0)
                            .then(|| ids.start + rng.below(next - 1 - ids.start));
                        let dup = dup.filter(|d| !batch.iter().any(|t| t.id == *d));
                        if let Some(d) = dup {
                            batch.insert(
                                rng.below(batch.len() as u64 + 1) as usize,
                                Task::new(d, 99, u64::MAX),
                            );
                        }
                        let sent: Vec<u64> = batch.iter().map(|t| t.id).collect();
                        let refused = q.try_add_tasks(batch);
                        let mut back = Vec::new();
                        for e in refused {
                            match e {
                                TryAddError::Full(t) => {
                                    assert_eq!(
                                        (t.payload, t.priority, t.attempts),
                                        (t.id, priority(t.id), 0),
                                        "a refused task comes back whole"
                                    );
                                    back.push(t);
                                }
                                TryAddError::Duplicate(t) => {
                                    assert_eq!(Some(t.id), dup, "only the known id is a duplicate");
                                    assert_eq!((t.priority, t.payload), (99, u64::MAX));
                                }
                                TryAddError::ShutDown(_) => {
                                    panic!("refused as shut down before the shutdown")
                                }
                            }
                        }
                        // Refusals come back in the order the tasks were sent.
                        let order: Vec<usize> = back
                            .iter()
                            .map(|t| sent.iter().position(|&id| id == t.id).unwrap())
                            .collect();
                        assert!(
                            order.windows(2).all(|w| w[0] < w[1]),
                            "refusals out of order"
                        );
                        let accepted = sent.len() - back.len() - usize::from(dup.is_some());
                        sh.added.fetch_add(accepted, SeqCst);
                        if !back.is_empty() {
                            // Full: let the consumers make room.
                            thread::yield_now();
                        }
                        pending = back;
                    }
                })
            })
            .collect();

        let consumer_handles: Vec<_> = (0..consumers)
            .map(|c| {
                sc.spawn(move || {
                    let _stop = StopOnPanic(q);
                    let mut rng = Rng::new(seed ^ (c as u64 + 0xC0));
                    // An earlier claim of some task that this thread then failed back: completing
                    // it later must be refused, whatever became of the task.
                    let mut stale: Option<(u64, taskq::Token)> = None;
                    loop {
                        let max = 1 + rng.below(6) as usize;
                        let claimed = match rng.below(4) {
                            0 => q.get_next_task(None).map(|t| vec![t]),
                            1 => match q.try_get_next_tasks(max) {
                                Err(ClaimError::Empty) => q.get_next_tasks(max, None),
                                other => other,
                            },
                            _ => q.get_next_tasks(max, None),
                        };
                        let batch = match claimed {
                            Ok(batch) => batch,
                            Err(ClaimError::ShutDown) => return,
                            Err(e) => panic!("unexpected {e:?}"),
                        };
                        assert!(
                            !batch.is_empty() && batch.len() <= max,
                            "a batch of {} for {max}",
                            batch.len()
                        );
                        if batch.len() > 1 {
                            batches.fetch_add(1, SeqCst);
                        }
                        // Counted, and checked at the end, so that the other checks still run.
                        if batch.windows(2).any(|w| w[0].priority < w[1].priority)
                            && unordered.fetch_add(1, SeqCst) == 0
                        {
                            *first_unordered.lock().unwrap() = format!("{batch:?}");
                        }
                        for task in &batch {
                            let id = task.id;
                            assert_eq!(task.payload, id);
                            assert!(
                                !sh.held[id as usize].swap(true, SeqCst),
                                "task {id} handed to two workers at once"
                            );
                            let before = sh.claims[id as usize].fetch_add(1, SeqCst);
                            assert_eq!(task.attempts, before, "attempts of task {id}");
                            assert!(task.attempts < MAX_ATTEMPTS);
                        }
                        for task in &batch {
                            sh.finished_claims.fetch_add(1, SeqCst);
                            sh.held[task.id as usize].store(false, SeqCst);
                        }
                        if let Some((id, token)) = stale.take() {
                            let r = q.complete_claims(&[(id, token)]);
                            assert!(r[0].is_err(), "a stale claim of task {id} was completed");
                            stale_refused.fetch_add(1, SeqCst);
                        }
                        // Split the batch: completed in one call, failed in one call, and a few
                        // finished one by one.
                        let (mut done, mut failed, mut single) =
                            (Vec::new(), Vec::new(), Vec::new());
                        for task in batch {
                            match rng.below(8) {
                                0 | 1 => failed.push(task),
                                2 => single.push(task),
                                _ => done.push(task),
                            }
                        }
                        let claims: Vec<(u64, taskq::Token)> =
                            done.iter().map(|t| (t.id, t.token())).collect();
                        for (r, (id, _)) in q.complete_claims(&claims).into_iter().zip(&claims) {
                            assert_eq!(r, Ok(()), "completing claimed task {id}");
                            sh.set_outcome(*id, COMPLETED);
                        }
                        let ids: Vec<(u64, taskq::Token)> =
                            failed.iter().map(|t| (t.id, t.token())).collect();
                        for (r, (id, token)) in q.fail_tasks(failed).into_iter().zip(ids) {
                            match r {
                                Ok(TaskStatus::Failed) => sh.set_outcome(id, FAILED),
                                Ok(TaskStatus::Queued) => stale = Some((id, token)),
                                other => panic!("failing claimed task {id} gave {other:?}"),
                            }
                        }
                        for task in single {
                            let id = task.id;
                            if rng.below(2) == 0 {
                                q.complete_task(&id).unwrap();
                                sh.set_outcome(id, COMPLETED);
                            } else {
                                match q.fail_task(task).unwrap() {
                                    TaskStatus::Failed => sh.set_outcome(id, FAILED),
                                    TaskStatus::Queued => {}
                                    other => panic!("fail gave {other:?}"),
                                }
                            }
                        }
                    }
                })
            })
            .collect();
        for h in producer_handles {
            h.join().unwrap();
        }
        q.shutdown();
        for h in consumer_handles {
            h.join().unwrap();
        }
    });
    assert!(q.shutdown_now().is_empty(), "a drained queue is empty");
    assert_eq!(
        sh.added.load(SeqCst),
        total as usize,
        "every task added once"
    );
    let mut per = [0u64; 5];
    for id in 0..total {
        let outcome = sh.outcome[id as usize].load(SeqCst);
        per[outcome as usize] += 1;
        let claims = sh.claims[id as usize].load(SeqCst);
        let expected = match outcome {
            COMPLETED => {
                assert!((1..=MAX_ATTEMPTS).contains(&claims));
                TaskStatus::Completed
            }
            FAILED => {
                assert_eq!(claims, MAX_ATTEMPTS, "task {id} failed early");
                TaskStatus::Failed
            }
            _ => panic!("task {id} was lost (claimed {claims} times)"),
        };
        assert_eq!(q.get_status(&id), Some(expected), "status of task {id}");
    }
    let st = q.stats();
    assert_eq!(st.total_added, total);
    assert_eq!(st.total_completed, per[COMPLETED as usize]);
    assert_eq!(st.total_failed, per[FAILED as usize]);
    assert_eq!((st.queued, st.processing, st.total_cancelled), (0, 0, 0));
    assert!(
        per[FAILED as usize] > 0,
        "no task failed for good: the fail path was not exercised"
    );
    assert!(
        batches.load(SeqCst) > 100,
        "few batches of more than one task: {batches:?}"
    );
    assert!(stale_refused.load(SeqCst) > 0, "no stale claim was tried");
    inv(&q);
    assert_eq!(
        unordered.load(SeqCst),
        0,
        "batches not best first (of {} batches of several tasks), the first: {}",
        batches.load(SeqCst),
        first_unordered.lock().unwrap()
    );
}

/// The stress tests for one backend: `stress_suite!(name, Factory)`.
macro_rules! stress_suite {
    ($name:ident, $factory:ty) => {
        mod $name {
            use $crate::common::stress::{run, Mode};

            #[test]
            fn drain_100k_tasks_4x4() {
                let _watchdog = $crate::common::watchdog!(drain_100k_tasks_4x4);
                run::<$factory>(Mode::Drain, 4, 4, 25_000, 1);
            }

            #[test]
            fn shutdown_mid_run() {
                let _watchdog = $crate::common::watchdog!(shutdown_mid_run);
                run::<$factory>(Mode::ShutdownMidRun, 4, 4, 25_000, 2);
            }

            #[test]
            fn timed_claims_race_adds() {
                let _watchdog = $crate::common::watchdog!(timed_claims_race_adds);
                $crate::common::stress::timed_claims::<$factory>(false, 4);
            }

            #[test]
            fn timed_claims_race_shutdown_now() {
                let _watchdog = $crate::common::watchdog!(timed_claims_race_shutdown_now);
                $crate::common::stress::timed_claims::<$factory>(true, 5);
            }

            #[test]
            fn batch_ops_mixed_with_single_ops() {
                let _watchdog = $crate::common::watchdog!(batch_ops_mixed_with_single_ops);
                $crate::common::stress::batch_mix::<$factory>(2, 3, 30_000, 6);
            }

            #[test]
            fn shutdown_now_mid_run() {
                let _watchdog = $crate::common::watchdog!(shutdown_now_mid_run);
                run::<$factory>(Mode::ShutdownNowMidRun, 4, 4, 25_000, 3);
            }
        }
    };
}
pub(crate) use stress_suite;
