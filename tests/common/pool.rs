//! The worker-pool suite: the pool's rules (retries with the policy's delays, caught panics,
//! failures kept with their last error, graceful and immediate shutdown accounting for every task,
//! stale leases counted, live stats) over a [`BackendFactory`] (so a backend that lives elsewhere runs it too), plus a stress run with random
//! failures and panics. A test file runs it for a backend with `pool_suite!(name, Factory)`.
//!
//! The backends are wrapped in a [`Spy`] that records the delays the pool asks `retry_after` for
//! and can hold a lease inside `lease` (so that a test can stop the pool while a worker holds a
//! task it has not started). No check depends on timing: the tests wait for conditions (under a
//! watchdog), never for durations.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex};
use std::thread;
use std::time::Duration;

use taskq::pool::{Context, ExponentialBackoff, FixedBackoff, Jitter, Pool, SplitMix64};
use taskq::{Backend, ManualClock, Task, TaskStatus};

use super::backend::BackendFactory;
use super::{Opts, Rng};

/// A gate that `lease` waits at once it holds a task, until the test opens it.
#[derive(Default)]
struct Gate {
    open: Mutex<bool>,
    opened: Condvar,
}

/// A backend wrapper: records every `retry_after` (id, the lease's attempts, delay) and, if
/// gated, holds each lease it got inside `lease` until [`Spy::open`].
pub struct Spy<B> {
    pub inner: B,
    retries: Mutex<Vec<(u64, u32, Duration)>>,
    gate: Option<Gate>,
    /// Leases obtained from the inner backend (counted before the gate).
    pub leased: AtomicUsize,
}

impl<B: Backend<u64, String>> Spy<B> {
    pub fn new(inner: B) -> Self {
        Spy {
            inner,
            retries: Mutex::new(Vec::new()),
            gate: None,
            leased: AtomicUsize::new(0),
        }
    }

    pub fn gated(inner: B) -> Self {
        Spy {
            gate: Some(Gate::default()),
            ..Spy::new(inner)
        }
    }

    /// Lets held and later leases through.
    pub fn open(&self) {
        if let Some(g) = &self.gate {
            *g.open.lock().unwrap() = true;
            g.opened.notify_all();
        }
    }

    /// The `retry_after` calls so far: (id, the lease's attempts, delay).
    pub fn retries(&self) -> Vec<(u64, u32, Duration)> {
        self.retries.lock().unwrap().clone()
    }
}

impl<B: Backend<u64, String>> Backend<u64, String> for Spy<B> {
    type Error = B::Error;
    fn enqueue(&self, id: u64, priority: i64, payload: String) -> Result<(), Self::Error> {
        self.inner.enqueue(id, priority, payload)
    }
    fn lease(&self, wait: Option<Duration>) -> Result<Option<Task<u64, String>>, Self::Error> {
        let lease = self.inner.lease(wait)?;
        if lease.is_some() {
            self.leased.fetch_add(1, SeqCst);
            if let Some(g) = &self.gate {
                let mut open = g.open.lock().unwrap();
                while !*open {
                    open = g.opened.wait(open).unwrap();
                }
            }
        }
        Ok(lease)
    }
    fn heartbeat(&self, lease: &Task<u64, String>) -> Result<(), Self::Error> {
        self.inner.heartbeat(lease)
    }
    fn complete(&self, lease: &Task<u64, String>) -> Result<(), Self::Error> {
        self.inner.complete(lease)
    }
    fn enqueue_after(
        &self,
        id: u64,
        priority: i64,
        payload: String,
        delay: Duration,
    ) -> Result<(), Self::Error> {
        self.inner.enqueue_after(id, priority, payload, delay)
    }
    fn retry_after(
        &self,
        lease: Task<u64, String>,
        delay: Duration,
    ) -> Result<TaskStatus, Self::Error> {
        let (id, attempts) = (lease.id, lease.attempts);
        let status = self.inner.retry_after(lease, delay);
        // Recorded once the inner backend has it: a test that saw the record sees its effect.
        self.retries.lock().unwrap().push((id, attempts, delay));
        status
    }
    fn fail(&self, lease: Task<u64, String>) -> Result<(), Self::Error> {
        self.inner.fail(lease)
    }
    fn status(&self, id: &u64) -> Result<Option<TaskStatus>, Self::Error> {
        self.inner.status(id)
    }
}

/// Waits (under the test's watchdog) until `cond` holds.
pub fn wait_until(mut cond: impl FnMut() -> bool) {
    while !cond() {
        thread::sleep(Duration::from_millis(1));
    }
}

/// Waits until `cond` holds, advancing `time` (the backend's manual clock) a minute per
/// millisecond, so that idle lease waits end and scheduled retries fall due.
pub fn advance_until(time: &ManualClock, mut cond: impl FnMut() -> bool) {
    while !cond() {
        time.advance(Duration::from_secs(60));
        thread::sleep(Duration::from_millis(1));
    }
}

const POLL: Duration = Duration::from_millis(5);
const LONG: Duration = Duration::from_secs(60);

fn status<B: Backend<u64, String>>(b: &B, id: u64) -> Option<TaskStatus> {
    b.status(&id).expect("status")
}

/// The attempts each id's handler runs saw, in order.
#[derive(Default, Clone)]
struct Runs(Arc<Mutex<HashMap<u64, Vec<u32>>>>);

impl Runs {
    fn record(&self, task: &Task<u64, String>) {
        self.0
            .lock()
            .unwrap()
            .entry(task.id)
            .or_default()
            .push(task.attempts);
    }
    fn of(&self, id: u64) -> Vec<u32> {
        self.0.lock().unwrap().get(&id).cloned().unwrap_or_default()
    }
    fn total(&self) -> usize {
        self.0.lock().unwrap().values().map(Vec::len).sum()
    }
}

/// A handler that fails its first 3 attempts and then succeeds is run 4 times, with attempts
/// 0..=3; the pool asks `retry_after` for exactly the policy's (un-jittered) delays, 1 s, 2 s,
/// 4 s; on a manual-clock backend a retry stays `Scheduled` until the test advances the clock.
pub fn retry_delays_follow_the_policy<F: BackendFactory>()
where
    F::B: 'static,
{
    let time = ManualClock::new();
    let b = Arc::new(Spy::new(F::backend(Opts::default().clock(time.clock()))));
    let runs = Runs::default();
    let seen = runs.clone();
    let pool = Pool::builder()
        .workers(1)
        .max_attempts(5)
        .backoff(
            ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(60))
                .with_jitter(Jitter::None),
        )
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), move |task| {
            seen.record(task);
            if task.attempts < 3 {
                Err(format!("attempt {} failed", task.attempts))
            } else {
                Ok(())
            }
        })
        .unwrap();
    b.enqueue(1, 0, "job".into()).unwrap();
    // Until the backend's clock moves, the first retry waits there, scheduled.
    wait_until(|| b.retries().len() == 1);
    assert_eq!(status(&*b, 1), Some(TaskStatus::Scheduled));
    assert_eq!(runs.of(1), [0]);
    advance_until(&time, || status(&*b, 1) == Some(TaskStatus::Completed));
    F::shut_down(&b.inner);
    let report = pool.join();

    assert_eq!(runs.of(1), [0, 1, 2, 3]);
    let secs = Duration::from_secs;
    assert_eq!(
        b.retries(),
        [(1, 0, secs(1)), (1, 1, secs(2)), (1, 2, secs(4))]
    );
    let s = &report.stats;
    assert_eq!((s.handler_runs, s.handler_errors, s.retried), (4, 3, 3));
    assert_eq!((s.completed, s.failed, s.panicked, s.stale), (1, 0, 0, 0));
    assert!(
        report.failures.is_empty(),
        "a task that succeeded keeps no error"
    );
}

/// With full jitter and a fixed seed, the delays the single worker asks for are those the
/// policy gives for the numbers `SplitMix64::new(seed)` draws, one per failed attempt, each below
/// its cap.
pub fn retry_delays_follow_the_seeded_jitter<F: BackendFactory>()
where
    F::B: 'static,
{
    const SEED: u64 = 0xDEC0DE;
    let time = ManualClock::new();
    let b = Arc::new(Spy::new(F::backend(Opts::default().clock(time.clock()))));
    let policy = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(1));
    let pool = Pool::builder()
        .workers(1)
        .max_attempts(6)
        .backoff(policy)
        .seed(SEED)
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), |task| {
            if task.attempts < 5 {
                Err("not yet")
            } else {
                Ok(())
            }
        })
        .unwrap();
    b.enqueue(1, 0, "job".into()).unwrap();
    advance_until(&time, || status(&*b, 1) == Some(TaskStatus::Completed));
    F::shut_down(&b.inner);
    let report = pool.join();

    let mut rng = SplitMix64::new(SEED);
    let want: Vec<_> = (0..5u32)
        .map(|attempts| {
            (
                1,
                attempts,
                policy_delay(&policy, attempts + 1, rng.next_u64()),
            )
        })
        .collect();
    assert_eq!(b.retries(), want);
    for (_, attempts, delay) in b.retries() {
        assert!(
            delay < policy.cap(attempts + 1),
            "{delay:?} not below its cap"
        );
    }
    assert_eq!((report.stats.retried, report.stats.completed), (5, 1));
}

fn policy_delay(p: &ExponentialBackoff, attempt: u32, random: u64) -> Duration {
    taskq::pool::Backoff::delay(p, attempt, random)
}

/// A task that fails every attempt is failed for good at `max_attempts` (`Failed` in the
/// backend), and its last error is kept: in `last_error`, in `failures`, in the report. A backend
/// whose own limit is lower fails it sooner, reported the same way.
pub fn fails_for_good_with_last_error<F: BackendFactory>()
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let pool = Pool::builder()
        .workers(2)
        .max_attempts(3)
        .backoff(FixedBackoff(Duration::ZERO))
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), |task| {
            Err(format!("boom {} on attempt {}", task.id, task.attempts))
        })
        .unwrap();
    b.enqueue(1, 0, "a".into()).unwrap();
    b.enqueue(2, 0, "b".into()).unwrap();
    wait_until(|| pool.failures().len() == 2);
    assert_eq!(pool.last_error(&1).as_deref(), Some("boom 1 on attempt 2"));
    assert_eq!(pool.last_error(&3), None);
    let failure = pool.failure(&2).expect("kept");
    assert_eq!(
        (failure.id, failure.attempts, failure.panicked),
        (2, 3, false)
    );
    F::shut_down(&b);
    let report = pool.join();

    for id in [1, 2] {
        assert_eq!(status(&*b, id), Some(TaskStatus::Failed));
    }
    let s = &report.stats;
    assert_eq!(
        (s.failed, s.retried, s.handler_runs, s.completed),
        (2, 4, 6, 0)
    );
    let mut kept: Vec<_> = report
        .failures
        .iter()
        .map(|f| (f.id, f.attempts, f.error.clone()))
        .collect();
    kept.sort();
    assert_eq!(
        kept,
        [
            (1, 3, "boom 1 on attempt 2".to_string()),
            (2, 3, "boom 2 on attempt 2".to_string())
        ]
    );
    assert!(report.to_string().contains("boom 2 on attempt 2"));

    // The backend's own limit (2) is below the pool's (5): its retry_after answers Failed.
    let b = Arc::new(F::backend(Opts::default().max_attempts(2)));
    let pool = Pool::builder()
        .workers(1)
        .max_attempts(5)
        .backoff(FixedBackoff(Duration::ZERO))
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), |_| Err("always"))
        .unwrap();
    b.enqueue(7, 0, "c".into()).unwrap();
    F::shut_down(&b);
    let report = pool.join();
    assert_eq!(status(&*b, 7), Some(TaskStatus::Failed));
    assert_eq!((report.stats.failed, report.stats.retried), (1, 1));
    assert_eq!(report.failures.len(), 1);
    assert_eq!(
        (
            report.failures[0].attempts,
            report.failures[0].error.as_str()
        ),
        (2, "always")
    );
}

/// Failures beyond `failure_retention` are dropped oldest first and counted.
pub fn failure_retention_bounds_memory<F: BackendFactory>()
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let pool = Pool::builder()
        .workers(1)
        .max_attempts(1)
        .failure_retention(3)
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), |task| Err(format!("no {}", task.id)))
        .unwrap();
    for id in 0..10 {
        b.enqueue(id, 0, String::new()).unwrap(); // FIFO: failed in id order by one worker
    }
    F::shut_down(&b);
    let report = pool.join();
    assert_eq!(report.stats.failed, 10);
    let kept: Vec<_> = report.failures.iter().map(|f| f.id).collect();
    assert_eq!((kept, report.failures_dropped), (vec![7, 8, 9], 7));
}

/// A panicking handler is caught: the panic counts as a failed attempt (retried, its message as
/// the error), the single worker thread lives on and runs every later task, and a task that
/// always panics is failed for good with `panicked` set.
pub fn panicking_handler_is_retried_and_pool_lives<F: BackendFactory>()
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let runs = Runs::default();
    let seen = runs.clone();
    let pool = Pool::builder()
        .workers(1)
        .max_attempts(2)
        .backoff(FixedBackoff(Duration::ZERO))
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), move |task| {
            seen.record(task);
            if (task.id == 1 && task.attempts == 0) || task.id == 9 {
                panic!("kaboom {}", task.id);
            }
            Ok::<(), String>(())
        })
        .unwrap();
    b.enqueue(1, 10, "first".into()).unwrap();
    b.enqueue(9, 5, "always".into()).unwrap();
    for id in 2..=5 {
        b.enqueue(id, 0, "later".into()).unwrap();
    }
    F::shut_down(&b);
    let report = pool.join();

    assert_eq!(runs.of(1), [0, 1]);
    assert_eq!(runs.of(9), [0, 1]);
    for id in 1..=5 {
        assert_eq!(status(&*b, id), Some(TaskStatus::Completed), "task {id}");
        assert_eq!(runs.of(id).len(), if id == 1 { 2 } else { 1 });
    }
    assert_eq!(status(&*b, 9), Some(TaskStatus::Failed));
    let s = &report.stats;
    assert_eq!((s.panicked, s.retried, s.failed, s.completed), (3, 2, 1, 5));
    assert_eq!(report.worker_panics, 0);
    assert_eq!(report.failures.len(), 1);
    let f = &report.failures[0];
    assert_eq!((f.id, f.attempts, f.panicked), (9, 2, true));
    assert_eq!(f.error, "handler panicked: kaboom 9");
}

/// Graceful shutdown with both workers busy: no new task is claimed, the two running handlers
/// finish and are completed, the rest stay queued; none lost, none run twice.
pub fn graceful_shutdown_lets_in_flight_finish<F: BackendFactory>()
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let runs = Runs::default();
    let release = Arc::new(AtomicBool::new(false));
    let (seen, released) = (runs.clone(), Arc::clone(&release));
    let pool = Pool::builder()
        .workers(2)
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), move |task| {
            seen.record(task);
            while !released.load(SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok::<(), String>(())
        })
        .unwrap();
    for id in 0..10 {
        b.enqueue(id, 0, "job".into()).unwrap();
    }
    wait_until(|| pool.stats().running == 2);
    let mut in_flight = pool.in_flight();
    in_flight.sort();
    assert_eq!(in_flight, [0, 1], "FIFO: the first two are running");
    pool.stop();
    release.store(true, SeqCst);
    let report = pool.shutdown(LONG);

    assert!(report.still_running.is_empty() && report.interrupted.is_empty());
    assert!(report.not_started.is_empty(), "both workers were busy");
    assert_eq!((report.stats.completed, report.stats.handler_runs), (2, 2));
    for id in 0..10 {
        let want = if id < 2 {
            TaskStatus::Completed
        } else {
            TaskStatus::Queued
        };
        assert_eq!(status(&*b, id), Some(want), "task {id}");
        assert!(runs.of(id).len() <= 1, "task {id} ran twice");
    }
    assert_eq!(runs.total(), 2);
}

/// A worker that got a lease just as the pool was told to stop hands it back unrun (`retry`),
/// after a graceful stop and after a cancel alike: the task is queued again, not lost.
pub fn lease_not_started_is_handed_back<F: BackendFactory>()
where
    F::B: 'static,
{
    for cancel in [false, true] {
        let b = Arc::new(Spy::gated(F::backend(Opts::default())));
        let runs = Runs::default();
        let seen = runs.clone();
        let pool = Pool::builder()
            .workers(1)
            .poll_interval(POLL)
            .spawn(Arc::clone(&b), move |task| {
                seen.record(task);
                Ok::<(), String>(())
            })
            .unwrap();
        b.enqueue(1, 0, "job".into()).unwrap();
        wait_until(|| b.leased.load(SeqCst) == 1); // the worker holds it, inside `lease`
        if cancel {
            pool.cancel();
        } else {
            pool.stop();
        }
        b.open();
        let report = pool.join();

        assert_eq!(report.not_started, [1], "cancel: {cancel}");
        assert_eq!(
            (report.stats.handed_back, report.stats.handler_runs),
            (1, 0)
        );
        assert_eq!(runs.total(), 0);
        assert_eq!(status(&*b, 1), Some(TaskStatus::Queued));
        let again = b.inner.lease(Some(Duration::ZERO)).unwrap();
        assert_eq!(again.map(|t| t.id), Some(1), "it can be leased again");
    }
}

/// A graceful shutdown whose deadline (on the pool's manual clock) passes while a handler still
/// runs raises the cancellation flag and returns, naming the task in `still_running`; the
/// detached worker then hands the cancelled task back: it ends up queued, not lost.
pub fn graceful_deadline_cancels_the_rest<F: BackendFactory>()
where
    F::B: 'static,
{
    let pool_time = ManualClock::new();
    let b = Arc::new(F::backend(Opts::default()));
    let runs = Runs::default();
    let seen = runs.clone();
    let pool = Pool::builder()
        .workers(1)
        .poll_interval(POLL)
        .clock(pool_time.clock())
        .spawn_with_context(Arc::clone(&b), move |task, ctx: &Context<'_>| {
            seen.record(task);
            while !ctx.is_cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            Err("cancelled")
        })
        .unwrap();
    b.enqueue(1, 0, "long".into()).unwrap();
    wait_until(|| pool.stats().running == 1);
    let token = pool.cancel_token();
    let shutdown = thread::spawn(move || pool.shutdown(Duration::from_secs(10)));
    while !shutdown.is_finished() {
        pool_time.advance(Duration::from_secs(11));
        thread::sleep(Duration::from_millis(1));
    }
    let report = shutdown.join().unwrap();

    assert!(token.is_cancelled());
    assert_eq!(report.still_running, [1]);
    assert_eq!(report.stats.completed, 0);
    wait_until(|| status(&*b, 1) == Some(TaskStatus::Queued));
    assert_eq!(runs.of(1), [0]);
}

/// Immediate shutdown: the cancellation flag stops the two long handlers, whose tasks are handed
/// back; every task is accounted for: completed + handed back + never started == added.
pub fn immediate_shutdown_accounts_for_every_task<F: BackendFactory>()
where
    F::B: 'static,
{
    const ADDED: u64 = 20;
    let b = Arc::new(F::backend(Opts::default()));
    let runs = Runs::default();
    let seen = runs.clone();
    let pool = Pool::builder()
        .workers(2)
        .poll_interval(POLL)
        .spawn_with_context(Arc::clone(&b), move |task, ctx: &Context<'_>| {
            seen.record(task);
            if task.id < 4 {
                return Ok(()); // quick ones
            }
            while !ctx.is_cancelled() {
                thread::sleep(Duration::from_millis(1));
            }
            Err(format!("cancelled on worker {}", ctx.worker()))
        })
        .unwrap();
    for id in 0..ADDED {
        // The quick ones first.
        b.enqueue(id, if id < 4 { 1 } else { 0 }, "job".into())
            .unwrap();
    }
    wait_until(|| {
        let s = pool.stats();
        s.completed == 4 && s.running == 2
    });
    let report = pool.shutdown_now(LONG);

    let s = &report.stats;
    assert_eq!((s.completed, s.handed_back, s.failed), (4, 2, 0));
    assert!(report.still_running.is_empty() && report.not_started.is_empty());
    let mut interrupted = report.interrupted.clone();
    interrupted.sort();
    assert_eq!(interrupted, [4, 5], "FIFO among the long ones");
    let mut completed = 0;
    let mut never_started = 0;
    for id in 0..ADDED {
        let ran = runs.of(id).len();
        assert!(ran <= 1, "task {id} ran {ran} times");
        match status(&*b, id) {
            Some(TaskStatus::Completed) => completed += 1,
            Some(TaskStatus::Queued) if interrupted.contains(&id) => assert_eq!(ran, 1),
            Some(TaskStatus::Queued) => {
                assert_eq!(ran, 0);
                never_started += 1;
            }
            other => panic!("task {id} is {other:?}"),
        }
    }
    assert_eq!(completed, s.completed);
    assert_eq!(completed + s.handed_back + never_started, ADDED);
}

/// A lease ended behind the pool's back (the handler retries its own task through the backend)
/// is refused when the worker completes or retries it (the in-memory queue says `InvalidState`:
/// the task is queued again, not yet re-claimed): counted as stale, no panic, and the task runs
/// again and completes.
pub fn stale_leases_are_counted<F: BackendFactory>()
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let backend = Arc::clone(&b);
    let runs = Runs::default();
    let seen = runs.clone();
    let pool = Pool::builder()
        .workers(1)
        .backoff(FixedBackoff(Duration::ZERO))
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), move |task: &Task<u64, String>| {
            seen.record(task);
            if task.attempts == 0 {
                // Someone else ends this claim: the pool's lease goes stale.
                backend.retry(task.clone()).expect("the claim is current");
                if task.id == 2 {
                    return Err("and fails");
                }
            }
            Ok(())
        })
        .unwrap();
    b.enqueue(1, 0, "completes a stale lease".into()).unwrap();
    b.enqueue(2, 0, "retries a stale lease".into()).unwrap();
    F::shut_down(&b);
    let report = pool.join();

    let s = &report.stats;
    assert_eq!((s.stale, s.completed, s.retried, s.failed), (2, 2, 0, 0));
    for id in [1, 2] {
        assert_eq!(runs.of(id), [0, 1]);
        assert_eq!(status(&*b, id), Some(TaskStatus::Completed));
    }
}

/// The counters are readable while the pool runs: three handlers blocked show as running, with
/// their ids in flight; afterwards the latency histogram has one sample per handler run.
pub fn live_stats_while_running<F: BackendFactory>()
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let release = Arc::new(AtomicBool::new(false));
    let released = Arc::clone(&release);
    let pool = Pool::builder()
        .workers(3)
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), move |task| {
            while task.id < 3 && !released.load(SeqCst) {
                thread::sleep(Duration::from_millis(1));
            }
            Ok::<(), String>(())
        })
        .unwrap();
    for id in 0..9 {
        b.enqueue(id, 0, "job".into()).unwrap();
    }
    wait_until(|| pool.stats().running == 3);
    let s = pool.stats();
    assert_eq!(
        (s.workers, s.running, s.handler_runs, s.completed),
        (3, 3, 3, 0)
    );
    // The backend can tell how many wait (the in-memory queue can): 6, the three running aside.
    let ready = b.queued().unwrap();
    assert!(
        s.queued == ready && ready.map_or(true, |n| n == 6),
        "{:?}",
        s.queued
    );
    let mut in_flight = pool.in_flight();
    in_flight.sort();
    assert_eq!(in_flight, [0, 1, 2]);
    release.store(true, SeqCst);
    wait_until(|| pool.stats().completed == 9);
    F::shut_down(&b);
    let report = pool.join();
    let s = &report.stats;
    assert_eq!((s.running, s.handler_runs, s.latency.count), (0, 9, 9));
    assert!(s.latency.p50 <= s.latency.p90 && s.latency.p90 <= s.latency.p99);
    assert!(s.latency.p99 <= s.latency.max && s.latency.max > Duration::ZERO);
    assert!(s.elapsed > Duration::ZERO && s.throughput > 0.0);
}

/// The verdict of the stress handler for one attempt of one task.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Verdict {
    Ok,
    Err,
    Panic,
}

fn verdict(seed: u64, id: u64, attempts: u32) -> Verdict {
    let mut rng = Rng::new(seed ^ id.wrapping_mul(0x9E37_79B9) ^ u64::from(attempts) << 48);
    match rng.below(10) {
        0..=2 => Verdict::Err,
        3 => Verdict::Panic,
        _ => Verdict::Ok,
    }
}

const STRESS_TASKS: u64 = 300;
const STRESS_MAX_ATTEMPTS: u32 = 4;
const STRESS_SEED: u64 = 0x5EED;

/// What the stress handler saw: the attempts each id ran with, and any rule it saw broken (a
/// check that panicked inside the handler would count as the task's failure, so they are kept).
#[derive(Clone)]
struct Probe {
    runs: Runs,
    held: Arc<Vec<AtomicBool>>,
    counted: Arc<Vec<AtomicU32>>,
    violations: Arc<Mutex<Vec<String>>>,
}

impl Probe {
    fn new() -> Self {
        Probe {
            runs: Runs::default(),
            held: Arc::new((0..STRESS_TASKS).map(|_| AtomicBool::new(false)).collect()),
            counted: Arc::new((0..STRESS_TASKS).map(|_| AtomicU32::new(0)).collect()),
            violations: Arc::new(Mutex::new(Vec::new())),
        }
    }

    /// The handler: checks that no other worker runs the task and that its attempts follow its
    /// earlier runs, then fails (30%), panics (10%) or succeeds, by [`verdict`].
    fn handler(&self) -> impl Fn(&Task<u64, String>) -> Result<(), String> + Send + Sync + 'static {
        let probe = self.clone();
        move |task| {
            let id = task.id as usize;
            probe.runs.record(task);
            if probe.held[id].swap(true, SeqCst) {
                probe.violation(format!("task {id} run by two workers at once"));
            }
            let before = probe.counted[id].fetch_add(1, SeqCst);
            if before != task.attempts {
                probe.violation(format!(
                    "task {id}: attempts {} on its run {}",
                    task.attempts,
                    before + 1
                ));
            }
            thread::yield_now();
            probe.held[id].store(false, SeqCst);
            match verdict(STRESS_SEED, task.id, task.attempts) {
                Verdict::Ok => Ok(()),
                Verdict::Err => Err(format!("error {id}/{}", task.attempts)),
                Verdict::Panic => panic!("panic {id}/{}", task.attempts),
            }
        }
    }

    fn violation(&self, v: String) {
        self.violations.lock().unwrap().push(v);
    }

    fn violations(&self) -> Vec<String> {
        self.violations.lock().unwrap().clone()
    }
}

fn stress_pool<F: BackendFactory>(probe: &Probe) -> (Arc<F::B>, Pool<u64>)
where
    F::B: 'static,
{
    let b = Arc::new(F::backend(Opts::default()));
    let pool = Pool::builder()
        .workers(4)
        .max_attempts(STRESS_MAX_ATTEMPTS)
        .backoff(FixedBackoff(Duration::ZERO))
        .poll_interval(POLL)
        .spawn(Arc::clone(&b), probe.handler())
        .unwrap();
    (b, pool)
}

/// Stress: 4 workers, each attempt failing (30%) or panicking (10%) at random (decided by id and
/// attempt, so the expected end of every task is known), drained. Every task ends exactly once,
/// as expected: its handler ran once per attempt, attempts in order 0, 1, …, never two at a time;
/// the counters add up.
pub fn stress_random_failures_and_panics<F: BackendFactory>()
where
    F::B: 'static,
{
    let probe = Probe::new();
    let (b, pool) = stress_pool::<F>(&probe);
    for id in 0..STRESS_TASKS {
        b.enqueue(id, (id % 3) as i64, format!("job {id}")).unwrap();
    }
    F::shut_down(&b);
    let report = pool.join();

    assert_eq!(probe.violations(), Vec::<String>::new());
    let (mut completed, mut failed, mut panics, mut errors) = (0, 0, 0, 0);
    for id in 0..STRESS_TASKS {
        let verdicts: Vec<_> = (0..STRESS_MAX_ATTEMPTS)
            .map(|a| verdict(STRESS_SEED, id, a))
            .collect();
        let ok_at = verdicts.iter().position(|v| *v == Verdict::Ok);
        let runs_needed = ok_at.map_or(STRESS_MAX_ATTEMPTS, |a| a as u32 + 1);
        let want: Vec<u32> = (0..runs_needed).collect();
        assert_eq!(probe.runs.of(id), want, "task {id}: attempts run");
        let want_status = if ok_at.is_some() {
            completed += 1;
            TaskStatus::Completed
        } else {
            failed += 1;
            TaskStatus::Failed
        };
        assert_eq!(status(&*b, id), Some(want_status), "task {id}");
        for v in &verdicts[..runs_needed as usize] {
            panics += u64::from(*v == Verdict::Panic);
            errors += u64::from(*v == Verdict::Err);
        }
    }
    assert!(
        failed > 0 && panics > 0,
        "the seed exercises failures and panics"
    );
    let s = &report.stats;
    assert_eq!((s.completed, s.failed), (completed, failed));
    assert_eq!((s.panicked, s.handler_errors), (panics, errors));
    assert_eq!(s.handler_runs, probe.runs.total() as u64);
    assert_eq!(s.retried, s.handler_runs - STRESS_TASKS);
    assert_eq!(
        (s.stale, s.handed_back, s.backend_errors, s.running),
        (0, 0, 0, 0)
    );
    assert_eq!(report.failures.len() as u64, failed);
    assert_eq!(report.worker_panics, 0);
}

/// Stress, cut short: the same random failures and panics, and `shutdown_now` once a third of
/// the tasks completed. Every task is accounted for: completed or failed as its verdicts say,
/// or back in the backend (handed back, retried, or never leased), none left `Processing`; no
/// task ran twice at once or out of attempt order; every lease ended in exactly one outcome.
pub fn stress_shutdown_now_mid_run<F: BackendFactory>()
where
    F::B: 'static,
{
    let probe = Probe::new();
    let (b, pool) = stress_pool::<F>(&probe);
    for id in 0..STRESS_TASKS {
        b.enqueue(id, (id % 3) as i64, format!("job {id}")).unwrap();
    }
    wait_until(|| pool.stats().completed >= STRESS_TASKS / 3);
    let report = pool.shutdown_now(LONG);

    assert_eq!(probe.violations(), Vec::<String>::new());
    assert!(report.still_running.is_empty());
    let s = &report.stats;
    let (mut completed, mut failed, mut waiting) = (0, 0, 0);
    for id in 0..STRESS_TASKS {
        let ran = probe.runs.of(id);
        let want: Vec<u32> = (0..ran.len() as u32).collect();
        assert_eq!(ran, want, "task {id}: attempts run");
        let verdicts: Vec<_> = ran.iter().map(|&a| verdict(STRESS_SEED, id, a)).collect();
        let all_failed = verdicts.iter().all(|v| *v != Verdict::Ok);
        match status(&*b, id) {
            Some(TaskStatus::Completed) => {
                completed += 1;
                assert_eq!(verdicts.last(), Some(&Verdict::Ok), "task {id}");
                assert!(verdicts[..verdicts.len() - 1]
                    .iter()
                    .all(|v| *v != Verdict::Ok));
            }
            Some(TaskStatus::Failed) => {
                failed += 1;
                assert!(
                    all_failed && ran.len() == STRESS_MAX_ATTEMPTS as usize,
                    "task {id}"
                );
            }
            Some(TaskStatus::Queued | TaskStatus::Scheduled) => {
                waiting += 1;
                assert!(all_failed, "task {id} succeeded but is back in the queue");
            }
            other => panic!("task {id} is {other:?}: lost"),
        }
    }
    assert_eq!((s.completed, s.failed), (completed, failed));
    assert_eq!(completed + failed + waiting, STRESS_TASKS);
    assert_eq!(
        s.completed + s.failed + s.retried + s.handed_back + s.stale + s.backend_errors,
        s.handler_runs + report.not_started.len() as u64,
        "every lease ended in exactly one outcome"
    );
    assert_eq!(
        s.handed_back,
        (report.not_started.len() + report.interrupted.len()) as u64
    );
    assert_eq!(s.handler_runs, probe.runs.total() as u64);
    assert_eq!((s.running, report.worker_panics), (0, 0));
}

/// Runs the pool suite against one backend: `pool_suite!(name, Factory)`.
macro_rules! pool_suite {
    ($name:ident, $factory:ty) => {
        mod $name {
            $crate::common::pool::pool_suite!(@tests $factory;
                retry_delays_follow_the_policy,
                retry_delays_follow_the_seeded_jitter,
                fails_for_good_with_last_error,
                failure_retention_bounds_memory,
                panicking_handler_is_retried_and_pool_lives,
                graceful_shutdown_lets_in_flight_finish,
                lease_not_started_is_handed_back,
                graceful_deadline_cancels_the_rest,
                immediate_shutdown_accounts_for_every_task,
                stale_leases_are_counted,
                live_stats_while_running,
                stress_random_failures_and_panics,
                stress_shutdown_now_mid_run);
        }
    };
    (@tests $factory:ty; $($test:ident),+) => {
        $(
            #[test]
            fn $test() {
                let _watchdog = $crate::common::watchdog!($test);
                $crate::common::pool::$test::<$factory>();
            }
        )+
    };
}
pub(crate) use pool_suite;
