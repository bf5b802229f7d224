//! The scheduling suite: tasks added for later (`add_task_at`, `add_task_after`), failed with a
//! delay (`fail_task_after`, `Backend::retry_after`), and ageing, on a manual clock so that no
//! test sleeps for the time it checks. Written once over a [`Factory`]; a test file runs it with
//! `schedule_suite!(name, Factory)`.

use std::thread;
use std::time::Duration;

use super::{inv, Factory, Opts};
use taskq::{ClaimError, ManualClock, Retention, TaskError, TaskQueue, TaskStatus, TryAddError};

type Q<F> = <F as Factory>::Q<u64, String>;

fn s(x: impl ToString) -> String {
    x.to_string()
}

const SEC: Duration = Duration::from_secs(1);

/// A queue on a fresh manual clock (keep all finished tasks).
fn manual<F: Factory>(opts: Opts) -> (Q<F>, ManualClock) {
    let time = ManualClock::new();
    let opts = Opts {
        retention: opts.retention.or(Some(Retention::KeepAll)),
        ..opts
    }
    .clock(time.clock());
    (F::build(opts), time)
}

/// Claims every ready task without waiting; their ids in claim order.
fn drain<F: Factory>(q: &Q<F>) -> Vec<u64> {
    let mut out = Vec::new();
    while let Ok(t) = q.try_get_next_task() {
        q.complete_claim(&t.id, t.token()).unwrap();
        out.push(t.id);
    }
    out
}

/// Gives a spawned thread time to reach its blocking call. Correctness never depends on it.
fn let_block() {
    thread::sleep(Duration::from_millis(50));
}

pub fn scheduled_task_waits_for_its_time<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    q.add_task_after(1, 0, s("later"), 10 * SEC).unwrap();
    assert_eq!(q.get_status(&1), Some(TaskStatus::Scheduled));
    assert_eq!(q.len(), 0, "a scheduled task is not queued");
    assert_eq!(q.stats().scheduled, 1);
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    time.advance(9 * SEC);
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    assert_eq!(q.get_status(&1), Some(TaskStatus::Scheduled));
    time.advance(SEC);
    // Due now: it reads `Queued` at once, and the next claim takes it.
    assert_eq!(q.get_status(&1), Some(TaskStatus::Queued));
    let t = q.try_get_next_task().unwrap();
    assert_eq!((t.id, t.payload.as_str(), t.attempts), (1, "later", 0));
    assert_eq!(q.stats().scheduled, 0);
    // A time in the past queues it at once; so does a zero delay.
    q.add_task_at(2, 0, s("past"), q_now::<F>(&time) - SEC)
        .unwrap();
    q.add_task_after(3, 0, s("now"), Duration::ZERO).unwrap();
    assert_eq!(q.get_status(&2), Some(TaskStatus::Queued));
    assert_eq!(q.len(), 2);
    assert_eq!(drain::<F>(&q), [2, 3]);
    inv(&q);
}

fn q_now<F: Factory>(time: &ManualClock) -> std::time::Instant {
    time.clock().now()
}

pub fn due_tasks_run_by_priority_then_ready_time<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    q.add_task_after(1, 0, s("a"), 30 * SEC).unwrap();
    q.add_task_after(2, 0, s("b"), 10 * SEC).unwrap();
    q.add_task_after(3, 9, s("c"), 20 * SEC).unwrap();
    q.add_task(4, 1, s("d")).unwrap();
    q.add_task(5, 0, s("e")).unwrap();
    time.advance(30 * SEC);
    // Priority first; among equals, the order they became ready: 5 (at 0), 2 (10), 1 (30).
    assert_eq!(drain::<F>(&q), [3, 4, 5, 2, 1]);
    inv(&q);
}

pub fn fifo_among_equals_counts_from_the_due_time<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    q.add_task_after(1, 0, s("due at 5"), 5 * SEC).unwrap();
    q.add_task(2, 0, s("ready at 0")).unwrap();
    time.advance(10 * SEC);
    q.add_task(3, 0, s("ready at 10")).unwrap();
    q.add_task_after(4, 0, s("due at 12"), 2 * SEC).unwrap();
    time.advance(5 * SEC);
    assert_eq!(drain::<F>(&q), [2, 1, 3, 4]);
}

pub fn cancel_and_reprioritise_while_scheduled<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    q.add_task_after(1, 0, s("x"), 10 * SEC).unwrap();
    q.add_task_after(2, 0, s("y"), 10 * SEC).unwrap();
    q.add_task_after(3, 0, s("z"), 10 * SEC).unwrap();
    q.update_priority(&3, 7).unwrap();
    assert!(q.cancel_task(&1));
    assert_eq!(q.get_status(&1), Some(TaskStatus::Cancelled));
    assert!(!q.cancel_task(&1));
    assert_eq!(q.stats().scheduled, 2);
    inv(&q);
    time.advance(10 * SEC);
    let t = q.try_get_next_task().unwrap();
    assert_eq!((t.id, t.priority), (3, 7));
    assert_eq!(q.try_get_next_task().unwrap().id, 2);
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    assert_eq!(
        q.update_priority(&2, 1),
        Err(TaskError::InvalidState {
            current: TaskStatus::Processing
        })
    );
    inv(&q);
}

pub fn blocked_claimer_wakes_when_a_task_falls_due<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    thread::scope(|sc| {
        // Blocked with nothing scheduled: the scheduled add must re-time its sleep.
        let claimer = sc.spawn(|| q.get_next_task(None));
        let_block();
        q.add_task_after(1, 0, s("due"), 10 * SEC).unwrap();
        let_block();
        assert!(!claimer.is_finished(), "claimed before the task was due");
        time.advance(10 * SEC);
        let t = claimer.join().unwrap().unwrap();
        assert_eq!(t.id, 1);
    });
    // And an earlier task scheduled while a claimer sleeps until a later one.
    q.add_task_after(2, 0, s("late"), 100 * SEC).unwrap();
    thread::scope(|sc| {
        let claimer = sc.spawn(|| q.get_next_task(None));
        let_block();
        q.add_task_after(3, 0, s("early"), 5 * SEC).unwrap();
        time.advance(5 * SEC);
        assert_eq!(claimer.join().unwrap().unwrap().id, 3);
    });
    inv(&q);
}

pub fn blocked_claimer_wakes_on_the_system_clock<F: Factory>() {
    let q = F::build::<u64, String>(Opts::default());
    thread::scope(|sc| {
        let claimer = sc.spawn(|| q.get_next_task(Some(Duration::from_secs(30))));
        let_block();
        q.add_task_after(1, 0, s("soon"), Duration::from_millis(30))
            .unwrap();
        // Were the wake-up lost, this would time out (after 30 s) instead.
        assert_eq!(claimer.join().unwrap().map(|t| t.id), Ok(1));
    });
    // A claimer with a deadline before the due time times out, and the task stays.
    q.add_task_after(2, 0, s("later"), Duration::from_secs(3600))
        .unwrap();
    let got = q.get_next_task(Some(Duration::from_millis(20)));
    assert_eq!(got.unwrap_err(), ClaimError::Timeout);
    assert_eq!(q.get_status(&2), Some(TaskStatus::Scheduled));
}

pub fn fail_task_after_brings_it_back_later<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default().max_attempts(3));
    q.add_task(1, 0, s("flaky")).unwrap();
    let t = q.try_get_next_task().unwrap();
    assert_eq!(q.fail_task_after(t, 5 * SEC), Ok(TaskStatus::Scheduled));
    assert_eq!(q.get_status(&1), Some(TaskStatus::Scheduled));
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    time.advance(5 * SEC);
    let t = q.try_get_next_task().unwrap();
    assert_eq!(t.attempts, 1);
    // A stale claim is refused and changes nothing.
    let stale = t.clone();
    assert_eq!(q.fail_task_after(t, SEC), Ok(TaskStatus::Scheduled));
    let current = TaskStatus::Scheduled;
    assert_eq!(
        q.fail_task_after(stale, SEC),
        Err(TaskError::InvalidState { current })
    );
    time.advance(SEC);
    let t = q.try_get_next_task().unwrap();
    assert_eq!(t.attempts, 2);
    // The last attempt fails for good, whatever the delay.
    assert_eq!(q.fail_task_after(t, SEC), Ok(TaskStatus::Failed));
    assert_eq!(q.stats().scheduled, 0);
    inv(&q);
}

pub fn shutdown_with_scheduled_tasks<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    q.add_task_after(1, 0, s("a"), 10 * SEC).unwrap();
    q.add_task_after(2, 0, s("b"), 20 * SEC).unwrap();
    q.add_task(3, 0, s("c")).unwrap();
    q.shutdown();
    assert_eq!(q.try_get_next_task().unwrap().id, 3);
    // Scheduled tasks are still to be handed out: not `ShutDown` yet.
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::Empty);
    time.advance(10 * SEC);
    assert_eq!(q.try_get_next_task().unwrap().id, 1);
    // shutdown_now returns the scheduled ones too, cancelled.
    let rest = q.shutdown_now();
    assert_eq!(rest.iter().map(|t| t.id).collect::<Vec<_>>(), [2]);
    assert_eq!(rest[0].payload, "b");
    assert_eq!(q.get_status(&2), Some(TaskStatus::Cancelled));
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::ShutDown);
    time.advance(100 * SEC);
    assert_eq!(q.try_get_next_task().unwrap_err(), ClaimError::ShutDown);
    inv(&q);
}

pub fn cancelling_the_last_scheduled_task_ends_the_drain<F: Factory>() {
    // The system clock: a claimer sleeping until the due time an hour away must be woken.
    let q = F::build::<u64, String>(Opts::default());
    q.add_task_after(1, 0, s("in an hour"), Duration::from_secs(3600))
        .unwrap();
    q.shutdown();
    thread::scope(|sc| {
        let claimer = sc.spawn(|| q.get_next_task(None));
        let_block();
        assert!(q.cancel_task(&1));
        assert_eq!(claimer.join().unwrap().unwrap_err(), ClaimError::ShutDown);
    });
}

pub fn shutdown_now_returns_queued_then_scheduled<F: Factory>() {
    let (q, _time) = manual::<F>(Opts::default());
    q.add_task_after(1, 9, s("late"), 20 * SEC).unwrap();
    q.add_task_after(2, 0, s("soon"), 10 * SEC).unwrap();
    q.add_task(3, 0, s("ready")).unwrap();
    let ids: Vec<u64> = q.shutdown_now().into_iter().map(|t| t.id).collect();
    assert_eq!(ids, [3, 2, 1]);
    assert_eq!(q.stats().cancelled, 3);
}

pub fn capacity_counts_scheduled_tasks<F: Factory>() {
    let (q, _time) = manual::<F>(Opts::default().capacity(1));
    q.add_task_after(1, 0, s("later"), 10 * SEC).unwrap();
    assert!(matches!(
        q.try_add_task(2, 0, s("no room")),
        Err(TryAddError::Full(_))
    ));
    assert!(q.cancel_task(&1));
    q.try_add_task(2, 0, s("room")).unwrap();
}

pub fn blocked_producer_wakes_when_a_scheduled_task_is_cancelled<F: Factory>() {
    let (q, _time) = manual::<F>(Opts::default().capacity(1));
    q.add_task_after(1, 0, s("later"), 10 * SEC).unwrap();
    thread::scope(|sc| {
        let producer = sc.spawn(|| q.add_task(2, 0, s("waits")));
        let_block();
        assert!(q.cancel_task(&1));
        producer.join().unwrap().unwrap();
    });
    assert_eq!(q.get_status(&2), Some(TaskStatus::Queued));
}

pub fn snapshot_keeps_scheduled_tasks<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default());
    q.add_task_after(1, 0, s("a"), 30 * SEC).unwrap();
    q.add_task_after(2, 5, s("b"), 10 * SEC).unwrap();
    q.add_task(3, 0, s("c")).unwrap();
    time.advance(4 * SEC);
    let snap = q.snapshot();
    let scheduled: Vec<(u64, Duration)> = snap
        .scheduled
        .iter()
        .map(|s| (s.task.id, s.due_in))
        .collect();
    assert_eq!(scheduled, [(2, 6 * SEC), (1, 26 * SEC)]);
    assert_eq!(snap.queued.len(), 1);
    let r = F::restore(Opts::default().clock(time.clock()), snap).unwrap();
    assert_eq!(r.get_status(&1), Some(TaskStatus::Scheduled));
    assert_eq!(r.stats().scheduled, 2);
    time.advance(6 * SEC);
    assert_eq!(drain::<F>(&r), [2, 3]);
    time.advance(20 * SEC);
    assert_eq!(drain::<F>(&r), [1]);
    inv(&r);
}

pub fn ageing_lets_old_low_priorities_through<F: Factory>() {
    let (q, time) = manual::<F>(Opts::default().ageing(SEC));
    q.add_task(1, 0, s("low, old")).unwrap();
    q.add_task(2, 0, s("low, old, second")).unwrap();
    // A steady stream of priority-5 tasks, one per second.
    let mut order = Vec::new();
    for i in 0..10u64 {
        time.advance(SEC);
        q.add_task(100 + i, 5, s("high")).unwrap();
        order.push(q.try_get_next_task().unwrap().id);
    }
    // Without ageing, 1 and 2 would wait forever behind the stream. With +1 per second, they
    // overtake fresh priority-5 tasks once they have waited more than 5 s, oldest first.
    let first_low = order.iter().position(|&id| id == 1).expect("1 ran");
    let second_low = order.iter().position(|&id| id == 2).expect("2 ran");
    assert!(first_low < second_low, "FIFO among equals: {order:?}");
    assert!(first_low >= 4, "ran before it had aged enough: {order:?}");
    // Equal priorities and equal waits stay FIFO.
    let (q, _time) = manual::<F>(Opts::default().ageing(SEC));
    for id in 0..5 {
        q.add_task(id, 3, s(id)).unwrap();
    }
    assert_eq!(drain::<F>(&q), [0, 1, 2, 3, 4]);
    assert!(F::try_build::<u64, ()>(Opts::default().ageing(Duration::ZERO)).is_err());
}

pub fn backend_retry_after_and_enqueue_after<F: Factory>()
where
    Q<F>: taskq::Backend<u64, String>,
{
    use taskq::Backend;
    let (q, time) = manual::<F>(Opts::default());
    q.enqueue_after(1, 0, s("later"), 5 * SEC).unwrap();
    assert_eq!(
        Backend::status(&q, &1).ok(),
        Some(Some(TaskStatus::Scheduled))
    );
    assert_eq!(q.lease(Some(Duration::ZERO)).unwrap().map(|t| t.id), None);
    time.advance(5 * SEC);
    let lease = q.lease(Some(Duration::ZERO)).unwrap().unwrap();
    assert_eq!(
        q.retry_after(lease, 3 * SEC).ok(),
        Some(TaskStatus::Scheduled)
    );
    time.advance(3 * SEC);
    let lease = q.lease(Some(Duration::ZERO)).unwrap().unwrap();
    assert_eq!(lease.attempts, 1);
    q.complete(&lease).unwrap();
}

/// Many threads on the system clock: producers add tasks for now or a few hundred microseconds
/// ahead, consumers claim with short timeouts and fail a third of their claims with a short delay
/// (up to three attempts). Every task ends exactly once (completed or failed), no claim comes
/// before the task's due time, and no claim is lost.
pub fn stress_scheduled_tasks_each_end_once<F: Factory>() {
    use std::sync::atomic::{AtomicU64, Ordering::SeqCst};
    use std::sync::Mutex;
    const PRODUCERS: u64 = 2;
    const PER: u64 = 400;
    let q = F::build::<u64, String>(Opts::default().max_attempts(3));
    let total = PRODUCERS * PER;
    let ended = AtomicU64::new(0);
    // Per id: when it may first be claimed (after `add_task_after` returned that is a lower bound).
    let due: Vec<Mutex<Option<std::time::Instant>>> =
        (0..total).map(|_| Mutex::new(None)).collect();
    let ends: Vec<AtomicU64> = (0..total).map(|_| AtomicU64::new(0)).collect();
    let clock = taskq::Clock::system();
    thread::scope(|sc| {
        for pr in 0..PRODUCERS {
            let (q, due, clock) = (&q, &due, &clock);
            sc.spawn(move || {
                let mut rng = super::Rng::new(pr);
                for id in pr * PER..(pr + 1) * PER {
                    let delay = Duration::from_micros(rng.below(400));
                    // The due time is at least now + delay, read before the add.
                    *due[id as usize].lock().unwrap() = Some(clock.now() + delay);
                    q.add_task_after(id, rng.below(3) as i64, s(id), delay)
                        .unwrap();
                }
            });
        }
        for c in 0..3u64 {
            let (q, due, ends, ended, clock) = (&q, &due, &ends, &ended, &clock);
            sc.spawn(move || {
                let mut rng = super::Rng::new(100 + c);
                while ended.load(SeqCst) < total {
                    let Ok(t) = q.get_next_task(Some(Duration::from_millis(5))) else {
                        continue;
                    };
                    let now = clock.now();
                    let at = due[t.id as usize].lock().unwrap().expect("added");
                    assert!(now >= at, "task {} claimed before it was due", t.id);
                    assert_eq!(t.payload, s(t.id));
                    let id = t.id as usize;
                    if rng.below(3) == 0 {
                        let delay = Duration::from_micros(rng.below(300));
                        *due[id].lock().unwrap() = Some(clock.now() + delay);
                        if q.fail_task_after(t, delay).unwrap() == TaskStatus::Failed {
                            ends[id].fetch_add(1, SeqCst);
                            ended.fetch_add(1, SeqCst);
                        }
                    } else {
                        q.complete_claim(&t.id, t.token()).unwrap();
                        ends[id].fetch_add(1, SeqCst);
                        ended.fetch_add(1, SeqCst);
                    }
                }
            });
        }
    });
    for (id, n) in ends.iter().enumerate() {
        assert_eq!(
            n.load(SeqCst),
            1,
            "task {id} ended {} times",
            n.load(SeqCst)
        );
    }
    let st = q.stats();
    assert_eq!(st.completed + st.failed, total as usize);
    assert_eq!((st.queued, st.scheduled, st.processing), (0, 0, 0));
    inv(&q);
}

/// Runs the scheduling suite against one backend.
macro_rules! schedule_suite {
    ($name:ident, $factory:ty) => {
        mod $name {
            $crate::common::schedule::schedule_suite!(@tests $factory; scheduled_task_waits_for_its_time, due_tasks_run_by_priority_then_ready_time, fifo_among_equals_counts_from_the_due_time, cancel_and_reprioritise_while_scheduled, blocked_claimer_wakes_when_a_task_falls_due, blocked_claimer_wakes_on_the_system_clock, fail_task_after_brings_it_back_later, shutdown_with_scheduled_tasks, cancelling_the_last_scheduled_task_ends_the_drain, shutdown_now_returns_queued_then_scheduled, capacity_counts_scheduled_tasks, blocked_producer_wakes_when_a_scheduled_task_is_cancelled, snapshot_keeps_scheduled_tasks, ageing_lets_old_low_priorities_through, backend_retry_after_and_enqueue_after, stress_scheduled_tasks_each_end_once);
        }
    };
    (@tests $factory:ty; $($test:ident),+) => {
        $(
            #[test]
            fn $test() {
                let _watchdog = $crate::common::watchdog!($test);
                $crate::common::schedule::$test::<$factory>();
            }
        )+
    };
}
pub(crate) use schedule_suite;
