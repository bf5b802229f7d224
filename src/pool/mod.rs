//! A worker pool over the [`Backend`] contract: N threads lease tasks, run a handler on each,
//! and complete, retry (with backoff) or fail them.
//!
//! # Invariants
//!
//! The pool depends on the [`Backend`] trait only, so it runs on every in-memory strategy and on
//! any store that implements the contract; it keeps these rules (the worker loop is in
//! `worker.rs`):
//!
//! - **Who owns a lease.** A lease is the backend's until `lease` returns it to one worker. From
//!   then on it is a local value of that worker's thread, never shared: the handler only borrows
//!   it for the length of one call, and nothing else (not the pool handle, not a shutdown) can
//!   reach it. The worker gives it up exactly once, by passing it to exactly one of `complete`,
//!   `retry_after` (a failed attempt with attempts left), `fail` (out of attempts) or `retry` (a
//!   hand-back at shutdown), and only then leases again. A call the backend refuses (a stale
//!   lease, an unreachable store) still ends the worker's ownership: the claim is the backend's
//!   to resolve (a stale lease was already ended by someone else; a store whose leases expire
//!   takes back one it could not settle).
//! - **No task runs twice.** A worker runs only a lease it holds, once, and settles it before it
//!   leases again; the backend hands a claim to one caller and fences every later operation on it
//!   by its token, so a task that comes back (retried) is a new lease with a new token, run once
//!   more as a new attempt. (A store whose leases expire could hand a slow task to a second
//!   worker; the first worker's settlement is then refused as stale and counted, never applied.
//!   The pool does not heartbeat: in-memory leases never expire.)
//! - **None lost at shutdown.** A stop request only sets flags; each worker reads them between
//!   leases. A worker that was waiting in `lease` when the stop came and got a task hands it back
//!   at once with `release`, unrun, no attempt counted (`Report::not_started`); a running handler
//!   finishes (graceful),
//!   or sees the cancellation flag and may give up, in which case its task is handed back with
//!   `retry` too (`Report::interrupted`). Tasks no worker leased stay in the backend. A worker
//!   still running when a shutdown's deadline passes keeps its lease and settles it when its
//!   handler returns (`Report::still_running` names them); the pool never drops a lease.
//! - **Stop requests are seen within the poll interval.** An idle worker blocks in
//!   `lease(Some(poll_interval))` (measured on the backend's clock) and reads the flags whenever
//!   it returns; a busy worker reads them when its handler returns.
//!
//! The pool uses the standard library's locks, atomics and threads directly, not the crate's
//! `sync` facade: it is a client of the contract, outside what the loom models check.
//!
//! # Example
//!
//! ```
//! use std::sync::Arc;
//! use std::time::Duration;
//! use taskq::pool::{ExponentialBackoff, Pool};
//! use taskq::{Backend, TaskQueue, ThreadSafeTaskQueue};
//!
//! let queue = Arc::new(ThreadSafeTaskQueue::new());
//! let pool = Pool::builder()
//!     .workers(4)
//!     .max_attempts(3)
//!     .backoff(ExponentialBackoff::new(Duration::from_millis(1), Duration::from_millis(50)))
//!     .poll_interval(Duration::from_millis(20))
//!     .spawn(Arc::clone(&queue), |task| match task.payload {
//!         "bad" => Err(format!("cannot resize {}", task.id)),
//!         _ => Ok(()),
//!     })?;
//! queue.enqueue("a.png", 0, "good")?;
//! queue.enqueue("b.png", 0, "bad")?;
//!
//! queue.shutdown(); // no more tasks: the workers drain the queue and stop
//! let report = pool.join();
//! assert_eq!((report.stats.completed, report.stats.failed), (1, 1));
//! assert_eq!(report.failures[0].id, "b.png");
//! assert_eq!(report.failures[0].error, "cannot resize b.png");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::borrow::Borrow;
use std::collections::VecDeque;
use std::error::Error;
use std::fmt;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

mod backoff;
mod stats;
mod worker;

pub use self::backoff::{Backoff, ExponentialBackoff, FixedBackoff, Jitter, SplitMix64};
pub use self::stats::{Latency, PoolStats};

use self::stats::{Counters, Histogram};
use self::worker::{Handler, Worker};
use crate::{Backend, Clock, Task};

/// A running pool of worker threads; see the [module documentation](self) for its rules.
///
/// Made by [`Pool::builder`]`()…`[`spawn`](PoolBuilder::spawn). Ends with [`join`](Self::join)
/// (wait for the workers to stop by themselves: after [`stop`](Self::stop) or once the backend
/// is shut down and drained), [`shutdown`](Self::shutdown) (graceful, with a deadline) or
/// [`shutdown_now`](Self::shutdown_now) (cancel, with a deadline), each returning the final
/// [`Report`]. Dropping a pool without them only [`stop`](Self::stop)s it: its threads finish
/// their tasks and end on their own, detached.
///
/// `K` is the backends's id type: failures are kept by id.
pub struct Pool<K> {
    shared: Arc<Shared<K>>,
    workers: Vec<JoinHandle<()>>,
    clock: Clock,
}

/// State shared by the pool handle and its workers.
pub(crate) struct Shared<K> {
    /// No more leases (graceful stop, or implied by `cancel`).
    stop: AtomicBool,
    /// The cooperative cancellation flag handlers read.
    cancel: CancelToken,
    counters: Counters,
    latency: Histogram,
    started: Instant,
    workers: usize,
    /// The id each worker is running (or settling), by worker index.
    in_flight: Box<[Mutex<Option<K>>]>,
    failures: Mutex<Failures<K>>,
    failure_retention: usize,
    handed: Mutex<HandedBack<K>>,
    last_backend_error: Mutex<Option<String>>,
    /// Worker threads not yet ended, and the condvar a shutdown waits on for them.
    live: Mutex<usize>,
    exited: Condvar,
    /// Asks the backend how many tasks are ready (`Backend::queued`).
    queued: Box<dyn Fn() -> Option<usize> + Send + Sync>,
}

struct Failures<K> {
    kept: VecDeque<TaskFailure<K>>,
    dropped: u64,
}

struct HandedBack<K> {
    not_started: Vec<K>,
    interrupted: Vec<K>,
}

/// Locks, ignoring poison: every critical section here leaves its data consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

impl<K> Shared<K> {
    fn stopping(&self) -> bool {
        self.stop.load(SeqCst) || self.cancel.is_cancelled()
    }

    fn stats(&self) -> PoolStats {
        let stats = (self.counters).snapshot(self.workers, self.started.elapsed(), &self.latency);
        PoolStats {
            queued: (self.queued)(),
            ..stats
        }
    }
}

impl Pool<()> {
    /// A [`PoolBuilder`] with the default options. (It is defined on `Pool<()>` only so that
    /// `Pool::builder()` needs no type annotation; the pool it spawns has its backend's id type.)
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder().workers(2).spawn(queue, |_task| Ok::<(), String>(()))?;
    /// assert_eq!(pool.stats().workers, 2);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn builder() -> PoolBuilder {
        PoolBuilder::default()
    }
}

impl<K: Clone + Send + 'static> Pool<K> {
    /// The live counters (see [`PoolStats`]); cheap, lock-free.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, Backend, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder().spawn(Arc::clone(&queue), |_| Ok::<(), String>(()))?;
    /// queue.enqueue(1u64, 0, ())?;
    /// while pool.stats().completed < 1 {
    ///     std::thread::yield_now();
    /// }
    /// assert_eq!(pool.stats().running, 0);
    /// # pool.shutdown_now(std::time::Duration::from_secs(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.shared.stats()
    }

    /// The last error of a task this pool failed for good, if it is still kept (the
    /// [`failure_retention`](PoolBuilder::failure_retention) most recent failures are). Errors of
    /// attempts that were retried, and of tasks that later succeeded, are not kept. Linear in the
    /// number of kept failures.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, Backend, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder()
    ///     .max_attempts(1)
    ///     .spawn(Arc::clone(&queue), |task| Err(format!("no such user: {}", task.payload)))?;
    /// queue.enqueue("welcome-mail".to_string(), 0, "bob")?;
    /// while pool.last_error("welcome-mail").is_none() {
    ///     std::thread::yield_now(); // (a `&str` looks up a `String` id, as in a `HashMap`)
    /// }
    /// assert_eq!(pool.last_error("welcome-mail").unwrap(), "no such user: bob");
    /// assert_eq!(pool.last_error("other"), None);
    /// # pool.shutdown_now(std::time::Duration::from_secs(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    ///
    pub fn last_error<Q>(&self, id: &Q) -> Option<String>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        self.failure(id).map(|f| f.error)
    }

    /// The kept failure record of a task this pool failed for good (see
    /// [`last_error`](Self::last_error)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, Backend, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder()
    ///     .max_attempts(2)
    ///     .backoff(taskq::pool::FixedBackoff(std::time::Duration::ZERO))
    ///     .spawn(Arc::clone(&queue), |_: &taskq::Task<u64, ()>| -> Result<(), &str> {
    ///         panic!("corrupt input")
    ///     })?;
    /// queue.enqueue(7, 0, ())?;
    /// while pool.failure(&7).is_none() {
    ///     std::thread::yield_now();
    /// }
    /// let failure = pool.failure(&7).unwrap();
    /// assert_eq!((failure.attempts, failure.panicked), (2, true));
    /// assert_eq!(pool.last_error(&7).unwrap(), "handler panicked: corrupt input");
    /// # pool.shutdown_now(std::time::Duration::from_secs(10));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn failure<Q>(&self, id: &Q) -> Option<TaskFailure<K>>
    where
        K: Borrow<Q>,
        Q: PartialEq + ?Sized,
    {
        let failures = lock(&self.shared.failures);
        failures
            .kept
            .iter()
            .rev()
            .find(|f| f.id.borrow() == id)
            .cloned()
    }

    /// The kept failures, oldest first.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder().spawn(queue, |_| Ok::<(), String>(()))?;
    /// assert!(pool.failures().is_empty());
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn failures(&self) -> Vec<TaskFailure<K>> {
        lock(&self.shared.failures).kept.iter().cloned().collect()
    }

    /// The ids of the tasks whose handlers are running now (or being settled), by worker.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder().spawn(queue, |_| Ok::<(), String>(()))?;
    /// assert!(pool.in_flight().is_empty());
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn in_flight(&self) -> Vec<K> {
        self.shared
            .in_flight
            .iter()
            .filter_map(|slot| lock(slot).clone())
            .collect()
    }

    /// The pool's cancellation flag (the one handlers see in their [`Context`]): raised by
    /// [`cancel`](Self::cancel), [`shutdown_now`](Self::shutdown_now) and a
    /// [`shutdown`](Self::shutdown) whose deadline passed. Raising it yourself is `cancel()`.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder().spawn(queue, |_| Ok::<(), String>(()))?;
    /// let token = pool.cancel_token();
    /// assert!(!token.is_cancelled());
    /// pool.cancel();
    /// assert!(token.is_cancelled() && pool.is_stopping());
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn cancel_token(&self) -> CancelToken {
        self.shared.cancel.clone()
    }

    /// Whether the pool was told to stop (by [`stop`](Self::stop), [`cancel`](Self::cancel) or a
    /// shutdown).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder().spawn(queue, |_| Ok::<(), String>(()))?;
    /// assert!(!pool.is_stopping());
    /// pool.stop();
    /// assert!(pool.is_stopping());
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn is_stopping(&self) -> bool {
        self.shared.stopping()
    }

    /// Stops claiming, without waiting: idle workers end within the poll interval, busy ones
    /// when their handler returns; a task leased as the request came is handed back unrun. The
    /// handlers are not cancelled. Follow with [`join`](Self::join) for the report.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder()
    ///     .poll_interval(Duration::from_millis(10))
    ///     .spawn(queue, |_| Ok::<(), String>(()))?;
    /// pool.stop();
    /// let report = pool.join(); // within about 10 ms
    /// assert_eq!(report.stats.handler_runs, 0);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn stop(&self) {
        self.shared.stop.store(true, SeqCst);
    }

    /// Stops claiming and raises the cancellation flag, without waiting: running handlers that
    /// check their [`Context`] can give up (return `Err`), and their tasks are handed back with
    /// `retry`. Follow with [`join`](Self::join) for the report.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    /// let pool = Pool::builder().spawn(queue, |_| Ok::<(), String>(()))?;
    /// pool.cancel();
    /// assert!(pool.cancel_token().is_cancelled());
    /// assert_eq!(pool.join().stats.handler_runs, 0);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn cancel(&self) {
        self.shared.stop.store(true, SeqCst);
        self.shared.cancel.cancel();
    }

    /// Waits for every worker to end by itself, then reports. Workers end after
    /// [`stop`](Self::stop) or [`cancel`](Self::cancel), or once the backend reports
    /// [`ErrorKind::ShutDown`](crate::ErrorKind::ShutDown) (shut down and drained): with neither,
    /// `join` waits for ever.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, Backend, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder().workers(3).spawn(Arc::clone(&queue), |_| Ok::<(), String>(()))?;
    /// for id in 0..100u64 {
    ///     queue.enqueue(id, 0, ())?;
    /// }
    /// queue.shutdown();
    /// let report = pool.join();
    /// assert_eq!(report.stats.completed, 100);
    /// assert!(report.still_running.is_empty() && report.not_started.is_empty());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn join(self) -> Report<K> {
        self.wait_and_report(None)
    }

    /// Graceful shutdown: stops claiming (as [`stop`](Self::stop)), lets running handlers
    /// finish, and waits at most `deadline` (on the pool's [`clock`](PoolBuilder::clock)) for
    /// the workers to end. If some are still running then, it raises the cancellation flag and
    /// returns at once: the report lists their tasks in
    /// [`still_running`](Report::still_running), and those workers, detached, settle their
    /// leases when their handlers return (a cancelled `Err` is handed back with `retry`).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskq::{pool::Pool, Backend, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let (started, release) = (Arc::new(std::sync::Barrier::new(2)), Arc::new(std::sync::Barrier::new(2)));
    /// let (s, r) = (Arc::clone(&started), Arc::clone(&release));
    /// let pool = Pool::builder().workers(1).spawn(Arc::clone(&queue), move |_| {
    ///     s.wait(); // running
    ///     r.wait(); // the test lets it finish
    ///     Ok::<(), String>(())
    /// })?;
    /// queue.enqueue(1u64, 0, ())?;
    /// queue.enqueue(2u64, 0, ())?;
    /// started.wait(); // task 1 is running
    /// pool.stop(); // (shutdown stops too; stopping first makes the example deterministic)
    /// release.wait();
    /// let report = pool.shutdown(Duration::from_secs(60));
    /// assert_eq!(report.stats.completed, 1); // task 1 finished; task 2 was never started
    /// assert_eq!(queue.status(&2)?, Some(TaskStatus::Queued));
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown(self, deadline: Duration) -> Report<K> {
        self.stop();
        self.wait_and_report(Some(deadline))
    }

    /// Immediate shutdown: stops claiming and raises the cancellation flag (as
    /// [`cancel`](Self::cancel)), then waits at most `deadline` for the workers to end, as
    /// [`shutdown`](Self::shutdown) does. Every task is accounted for: completed or failed ones in
    /// the counters, leased-but-unstarted ones in [`not_started`](Report::not_started) and
    /// cancelled ones in [`interrupted`](Report::interrupted) (both handed back with `retry`),
    /// those whose handlers ignored the flag past the deadline in
    /// [`still_running`](Report::still_running); the rest were never leased.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::time::Duration;
    /// use taskq::pool::{Context, Pool};
    /// use taskq::{Backend, TaskStatus, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder().workers(1).spawn_with_context(
    ///     Arc::clone(&queue),
    ///     |_task, ctx: &Context<'_>| {
    ///         while !ctx.is_cancelled() {
    ///             std::thread::sleep(Duration::from_millis(1)); // a long job, in steps
    ///         }
    ///         Err("cancelled")
    ///     },
    /// )?;
    /// queue.enqueue(1u64, 0, ())?;
    /// while pool.stats().running == 0 {
    ///     std::thread::yield_now();
    /// }
    /// let report = pool.shutdown_now(Duration::from_secs(60));
    /// assert_eq!(report.interrupted, [1]);
    /// assert_eq!(queue.status(&1)?, Some(TaskStatus::Queued)); // handed back, not lost
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn shutdown_now(self, deadline: Duration) -> Report<K> {
        self.cancel();
        self.wait_and_report(Some(deadline))
    }

    /// Waits for the workers (at most `deadline` on the pool's clock), then builds the report;
    /// workers still running then are cancelled and detached.
    fn wait_and_report(mut self, deadline: Option<Duration>) -> Report<K> {
        let at = deadline.and_then(|d| self.clock.now().checked_add(d));
        let all_ended = {
            let exited = &self.shared.exited;
            let mut live = lock(&self.shared.live);
            loop {
                if *live == 0 {
                    break true;
                }
                let Some(at) = at else {
                    live = exited.wait(live).unwrap_or_else(PoisonError::into_inner);
                    continue;
                };
                if self.clock.now() >= at {
                    break false;
                }
                // A manual clock moves only when a test advances it: look in 1 ms slices.
                let slice = (self.clock.real_time_until(at)).unwrap_or(Duration::from_millis(1));
                live = match exited.wait_timeout(live, slice) {
                    Ok((guard, _)) => guard,
                    Err(poisoned) => poisoned.into_inner().0,
                };
            }
        };
        if !all_ended {
            self.cancel();
        }
        let still_running = if all_ended {
            Vec::new()
        } else {
            self.in_flight()
        };
        let mut worker_panics = 0;
        for handle in std::mem::take(&mut self.workers) {
            // An ended worker's thread is joined (it is past its last statement); a running one
            // is left to finish, detached.
            if all_ended || handle.is_finished() {
                worker_panics += usize::from(handle.join().is_err());
            }
        }
        let shared = &*self.shared;
        let (failures, failures_dropped) = {
            let f = lock(&shared.failures);
            (f.kept.iter().cloned().collect(), f.dropped)
        };
        let (not_started, interrupted) = {
            let h = lock(&shared.handed);
            (h.not_started.clone(), h.interrupted.clone())
        };
        Report {
            stats: shared.stats(),
            failures,
            failures_dropped,
            not_started,
            interrupted,
            still_running,
            last_backend_error: lock(&shared.last_backend_error).clone(),
            worker_panics,
        }
    }
}

/// A pool dropped without `join` or a shutdown is stopped (no cancellation); its threads end on
/// their own, detached.
impl<K> Drop for Pool<K> {
    fn drop(&mut self) {
        if !self.workers.is_empty() {
            self.shared.stop.store(true, SeqCst);
        }
    }
}

impl<K> fmt::Debug for Pool<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pool")
            .field("workers", &self.shared.workers)
            .field("stopping", &self.shared.stopping())
            .field("cancelled", &self.shared.cancel.is_cancelled())
            .finish_non_exhaustive()
    }
}

/// The options of a [`Pool`]; [`spawn`](Self::spawn) starts it.
///
/// | option | default |
/// |---|---|
/// | [`workers`](Self::workers) | the machine's available parallelism |
/// | [`max_attempts`](Self::max_attempts) | 3 |
/// | [`backoff`](Self::backoff) | [`ExponentialBackoff::default`]: 100 ms doubling to 30 s, full jitter |
/// | [`poll_interval`](Self::poll_interval) | 100 ms |
/// | [`clock`](Self::clock) | [`Clock::system`] |
/// | [`seed`](Self::seed) | random |
/// | [`failure_retention`](Self::failure_retention) | 1,000 |
///
/// Invalid options are refused by `spawn` with a [`PoolError`], never by a panic.
///
/// ```
/// use std::sync::Arc;
/// use taskq::{pool::{Pool, PoolError}, ThreadSafeTaskQueue};
///
/// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
/// let err = Pool::builder().workers(0).spawn(queue, |_| Ok::<(), String>(())).unwrap_err();
/// assert!(matches!(err, PoolError::NoWorkers));
/// ```
pub struct PoolBuilder {
    workers: usize,
    max_attempts: u32,
    backoff: Arc<dyn Backoff>,
    poll_interval: Duration,
    clock: Clock,
    seed: Option<u64>,
    failure_retention: usize,
}

impl Default for PoolBuilder {
    fn default() -> Self {
        PoolBuilder {
            workers: thread::available_parallelism().map_or(1, |n| n.get()),
            max_attempts: 3,
            backoff: Arc::new(ExponentialBackoff::default()),
            poll_interval: Duration::from_millis(100),
            clock: Clock::system(),
            seed: None,
            failure_retention: 1_000,
        }
    }
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("workers", &self.workers)
            .field("max_attempts", &self.max_attempts)
            .field("poll_interval", &self.poll_interval)
            .field("clock", &self.clock)
            .field("seed", &self.seed)
            .field("failure_retention", &self.failure_retention)
            .finish_non_exhaustive()
    }
}

impl PoolBuilder {
    /// How many worker threads (at least 1: [`PoolError::NoWorkers`]). Each claims one task at a
    /// time.
    ///
    /// ```
    /// let b = taskq::pool::Pool::builder().workers(8);
    /// # let _ = b;
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// How many attempts a task gets from this pool (at least 1:
    /// [`PoolError::ZeroMaxAttempts`]): after its `max_attempts`-th failed attempt (counting the
    /// backend's [`Task::attempts`] from earlier leases) it is failed for good with
    /// [`Backend::fail`]. A backend with a lower limit of its own fails it sooner (its
    /// `retry_after` answers `Failed`), which the pool reports the same way.
    ///
    /// ```
    /// let b = taskq::pool::Pool::builder().max_attempts(5);
    /// # let _ = b;
    /// ```
    pub fn max_attempts(mut self, max_attempts: u32) -> Self {
        self.max_attempts = max_attempts;
        self
    }

    /// The retry policy: the delay passed to [`Backend::retry_after`] after a failed attempt.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::pool::{ExponentialBackoff, Jitter, Pool};
    ///
    /// let b = Pool::builder().backoff(
    ///     ExponentialBackoff::new(Duration::from_millis(50), Duration::from_secs(10))
    ///         .with_jitter(Jitter::Equal),
    /// );
    /// # let _ = b;
    /// ```
    pub fn backoff(mut self, policy: impl Backoff + 'static) -> Self {
        self.backoff = Arc::new(policy);
        self
    }

    /// How long an idle worker waits in one [`Backend::lease`] call (not zero:
    /// [`PoolError::ZeroPollInterval`]). It bounds how long a stop request goes unseen by an idle
    /// worker, at the cost of one empty lease call per interval per idle worker. The wait is
    /// measured on the backend's clock: with a manual clock, advance it to end idle waits.
    ///
    /// ```
    /// let b = taskq::pool::Pool::builder().poll_interval(std::time::Duration::from_millis(20));
    /// # let _ = b;
    /// ```
    pub fn poll_interval(mut self, interval: Duration) -> Self {
        self.poll_interval = interval;
        self
    }

    /// The clock shutdown deadlines are measured on: the system's by default, a
    /// [`ManualClock`](crate::ManualClock)'s in tests. (Backoff delays are measured by the
    /// backend, on its own clock; latencies and throughput in real time.)
    ///
    /// ```
    /// let time = taskq::ManualClock::new();
    /// let b = taskq::pool::Pool::builder().clock(time.clock());
    /// # let _ = b;
    /// ```
    pub fn clock(mut self, clock: Clock) -> Self {
        self.clock = clock;
        self
    }

    /// Seeds the jitter: worker `i` draws from `SplitMix64::new(seed.wrapping_add(i))`, so a run
    /// with one worker asks for reproducible delays. Default: a random seed per pool.
    ///
    /// ```
    /// let b = taskq::pool::Pool::builder().seed(42);
    /// # let _ = b;
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        self.seed = Some(seed);
        self
    }

    /// How many failures (id, attempts, last error) the pool keeps for
    /// [`Pool::last_error`] and the [`Report`]: the most recent `n`; older ones are dropped and
    /// counted in [`Report::failures_dropped`]. Only tasks failed for good are kept, so memory is
    /// bounded by `n` whatever the number of tasks. Zero keeps none.
    ///
    /// ```
    /// let b = taskq::pool::Pool::builder().failure_retention(10_000);
    /// # let _ = b;
    /// ```
    pub fn failure_retention(mut self, n: usize) -> Self {
        self.failure_retention = n;
        self
    }

    /// Starts the workers on `backend`, running `handler` on each leased task. The handler's
    /// `Err` (any `Display` type; its message is kept) or panic is a failed attempt.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::{pool::Pool, Backend, Task, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder()
    ///     .workers(2)
    ///     .spawn(Arc::clone(&queue), |task: &Task<u64, String>| {
    ///         let n: u32 = task.payload.parse().map_err(|e| format!("bad number: {e}"))?;
    ///         assert!(n > 0);
    ///         Ok::<(), String>(())
    ///     })?;
    /// queue.enqueue(1u64, 0, "12".to_string())?;
    /// queue.shutdown();
    /// assert_eq!(pool.join().stats.completed, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn<K, P, B, F, E>(self, backend: Arc<B>, handler: F) -> Result<Pool<K>, PoolError>
    where
        K: Clone + Send + 'static,
        P: Send + 'static,
        B: Backend<K, P> + ?Sized + 'static,
        F: Fn(&Task<K, P>) -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        self.start(
            backend,
            Arc::new(move |task: &Task<K, P>, _: &Context<'_>| {
                handler(task).map_err(|e| e.to_string())
            }),
        )
    }

    /// As [`spawn`](Self::spawn), with a handler that also gets a [`Context`]: its worker and
    /// the cooperative cancellation flag, for long handlers to check.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use taskq::pool::{Context, Pool};
    /// use taskq::{Backend, TaskQueue, ThreadSafeTaskQueue};
    ///
    /// let queue = Arc::new(ThreadSafeTaskQueue::new());
    /// let pool = Pool::builder().spawn_with_context(
    ///     Arc::clone(&queue),
    ///     |task: &taskq::Task<u64, Vec<u32>>, ctx: &Context<'_>| {
    ///         for _chunk in &task.payload {
    ///             if ctx.is_cancelled() {
    ///                 return Err("cancelled");
    ///             }
    ///             // ... one step of work ...
    ///         }
    ///         Ok(())
    ///     },
    /// )?;
    /// queue.enqueue(1, 0, vec![1, 2, 3])?;
    /// queue.shutdown();
    /// assert_eq!(pool.join().stats.completed, 1);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn_with_context<K, P, B, F, E>(
        self,
        backend: Arc<B>,
        handler: F,
    ) -> Result<Pool<K>, PoolError>
    where
        K: Clone + Send + 'static,
        P: Send + 'static,
        B: Backend<K, P> + ?Sized + 'static,
        F: Fn(&Task<K, P>, &Context<'_>) -> Result<(), E> + Send + Sync + 'static,
        E: fmt::Display,
    {
        self.start(
            backend,
            Arc::new(move |task: &Task<K, P>, ctx: &Context<'_>| {
                handler(task, ctx).map_err(|e| e.to_string())
            }),
        )
    }

    fn validate(&self) -> Result<(), PoolError> {
        if self.workers == 0 {
            return Err(PoolError::NoWorkers);
        }
        if self.max_attempts == 0 {
            return Err(PoolError::ZeroMaxAttempts);
        }
        if self.poll_interval.is_zero() {
            return Err(PoolError::ZeroPollInterval);
        }
        Ok(())
    }

    fn start<K, P, B>(
        self,
        backend: Arc<B>,
        handler: Arc<Handler<K, P>>,
    ) -> Result<Pool<K>, PoolError>
    where
        K: Clone + Send + 'static,
        P: Send + 'static,
        B: Backend<K, P> + ?Sized + 'static,
    {
        self.validate()?;
        let seed = self.seed.unwrap_or_else(random_seed);
        let shared = Arc::new(Shared {
            stop: AtomicBool::new(false),
            cancel: CancelToken::new(),
            counters: Counters::default(),
            latency: Histogram::new(),
            started: Instant::now(),
            workers: self.workers,
            in_flight: (0..self.workers).map(|_| Mutex::new(None)).collect(),
            failures: Mutex::new(Failures {
                kept: VecDeque::new(),
                dropped: 0,
            }),
            failure_retention: self.failure_retention,
            handed: Mutex::new(HandedBack {
                not_started: Vec::new(),
                interrupted: Vec::new(),
            }),
            last_backend_error: Mutex::new(None),
            live: Mutex::new(0),
            exited: Condvar::new(),
            queued: {
                let backend = Arc::clone(&backend);
                Box::new(move || backend.queued().ok().flatten())
            },
        });
        let mut pool = Pool {
            shared: Arc::clone(&shared),
            workers: Vec::with_capacity(self.workers),
            clock: self.clock,
        };
        for index in 0..self.workers {
            let worker = Worker {
                index,
                shared: Arc::clone(&shared),
                backend: Arc::clone(&backend),
                handler: Arc::clone(&handler),
                backoff: Arc::clone(&self.backoff),
                max_attempts: self.max_attempts,
                poll: self.poll_interval,
                rng: SplitMix64::new(seed.wrapping_add(index as u64)),
            };
            *lock(&shared.live) += 1;
            let spawned = thread::Builder::new()
                .name(format!("taskq-pool-{index}"))
                .spawn(move || worker.run());
            match spawned {
                Ok(handle) => pool.workers.push(handle),
                Err(e) => {
                    *lock(&shared.live) -= 1;
                    // Stop the workers already started; they hold no lease yet that they would
                    // not settle before ending.
                    let _ = pool.shutdown(Duration::MAX);
                    return Err(PoolError::Spawn(e));
                }
            }
        }
        Ok(pool)
    }
}

/// A seed from the standard library's per-process random hasher keys (no dependency).
fn random_seed() -> u64 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(Instant::now().elapsed().as_nanos());
    h.finish()
}

/// Why a [`PoolBuilder`] (or an [`ExponentialBackoff`] option) refused its options.
///
/// ```
/// use std::sync::Arc;
/// use taskq::{pool::{Pool, PoolError}, ThreadSafeTaskQueue};
///
/// let queue = Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
/// let err = Pool::builder().max_attempts(0).spawn(queue, |_| Ok::<(), String>(())).unwrap_err();
/// assert!(matches!(err, PoolError::ZeroMaxAttempts));
/// assert_eq!(err.to_string(), "max_attempts must be at least 1");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PoolError {
    /// `workers(0)`: a pool needs at least one worker.
    NoWorkers,
    /// `max_attempts(0)`: a task must be allowed at least one attempt.
    ZeroMaxAttempts,
    /// `poll_interval(Duration::ZERO)`: idle workers would spin.
    ZeroPollInterval,
    /// [`ExponentialBackoff::with_factor`] with a factor that is not finite or below 1.
    InvalidFactor(f64),
    /// The operating system refused to start a worker thread (the workers already started were
    /// stopped).
    Spawn(std::io::Error),
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::NoWorkers => f.write_str("a pool needs at least 1 worker"),
            PoolError::ZeroMaxAttempts => f.write_str("max_attempts must be at least 1"),
            PoolError::ZeroPollInterval => f.write_str("the poll interval must not be zero"),
            PoolError::InvalidFactor(x) => {
                write!(f, "a backoff factor must be finite and at least 1, not {x}")
            }
            PoolError::Spawn(e) => write!(f, "could not start a worker thread: {e}"),
        }
    }
}

impl Error for PoolError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PoolError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

/// A cooperative cancellation flag: the pool raises it on [`Pool::cancel`],
/// [`Pool::shutdown_now`] and a [`Pool::shutdown`] past its deadline; handlers read it through
/// their [`Context`]. Clones share the flag, so a handler may pass one to threads of its own.
///
/// ```
/// use taskq::pool::CancelToken;
///
/// let token = CancelToken::new();
/// let seen_by_helper = token.clone();
/// token.cancel();
/// assert!(seen_by_helper.is_cancelled());
/// ```
#[derive(Debug, Clone, Default)]
pub struct CancelToken(Arc<AtomicBool>);

impl CancelToken {
    /// A flag not raised.
    pub fn new() -> Self {
        CancelToken::default()
    }

    /// Raises the flag (for good). Raising a pool's token is [`Pool::cancel`].
    pub fn cancel(&self) {
        self.0.store(true, SeqCst);
    }

    /// Whether the flag was raised.
    pub fn is_cancelled(&self) -> bool {
        self.0.load(SeqCst)
    }
}

/// What a handler started with [`PoolBuilder::spawn_with_context`] gets besides its task.
///
/// ```
/// use taskq::pool::{CancelToken, Context};
///
/// // Handlers are plain functions: test them with a context of your own.
/// fn handler(task: &taskq::Task<u64, ()>, ctx: &Context<'_>) -> Result<(), String> {
///     if ctx.is_cancelled() { Err("cancelled".into()) } else { Ok(()) }
/// }
/// let token = CancelToken::new();
/// let task = taskq::Task::new(1, 0, ());
/// assert!(handler(&task, &Context::new(0, &token)).is_ok());
/// token.cancel();
/// assert!(handler(&task, &Context::new(0, &token)).is_err());
/// ```
#[derive(Debug, Clone, Copy)]
pub struct Context<'a> {
    worker: usize,
    cancel: &'a CancelToken,
}

impl<'a> Context<'a> {
    /// A context for worker `worker` with the flag `cancel` (for calling handlers outside a
    /// pool, in tests).
    pub fn new(worker: usize, cancel: &'a CancelToken) -> Self {
        Context { worker, cancel }
    }

    /// The index of the worker running the handler (`0..workers`).
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// Whether the pool was cancelled: a long handler should stop soon and return `Err` (its
    /// task is then handed back with `retry`), or finish and return `Ok`.
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The flag itself, to hand to threads the handler starts.
    pub fn cancel_token(&self) -> CancelToken {
        self.cancel.clone()
    }
}

/// A task the pool failed for good, with its last error.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct TaskFailure<K> {
    /// The task's id.
    pub id: K,
    /// Attempts made, this pool's and earlier ones (the failing lease's `attempts + 1`).
    pub attempts: u32,
    /// The last attempt's error: the handler's `Err` as `Display`ed, or
    /// `handler panicked: <message>`.
    pub error: String,
    /// Whether the last attempt panicked.
    pub panicked: bool,
}

/// What a pool did, from [`Pool::join`], [`Pool::shutdown`] or [`Pool::shutdown_now`].
///
/// Accounting: every lease ends in one of the outcome counters of [`stats`](Self::stats) (see
/// [`PoolStats`]); the tasks handed back at shutdown are named in `not_started` and
/// `interrupted`, those still running at the deadline in `still_running`. So after a shutdown,
/// every task added to the backend is completed, failed, handed back, still running, or was
/// never leased (still in the backend).
///
/// ```
/// use std::sync::Arc;
/// use taskq::{pool::Pool, Backend, TaskQueue, ThreadSafeTaskQueue};
///
/// let queue = Arc::new(ThreadSafeTaskQueue::new());
/// let pool = Pool::builder().max_attempts(1).spawn(Arc::clone(&queue), |task| {
///     if task.id % 2 == 0 { Ok(()) } else { Err("odd") }
/// })?;
/// for id in 0..4u64 {
///     queue.enqueue(id, 0, ())?;
/// }
/// queue.shutdown();
/// let report = pool.join();
/// assert_eq!((report.stats.completed, report.stats.failed), (2, 2));
/// println!("{report}"); // completed 2, retried 0, failed 2, ... and each failure
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Report<K> {
    /// The counters when the report was made.
    pub stats: PoolStats,
    /// The kept failures, oldest first (see [`PoolBuilder::failure_retention`]).
    pub failures: Vec<TaskFailure<K>>,
    /// Failures no longer kept.
    pub failures_dropped: u64,
    /// Tasks leased after the stop request and handed back unrun (`Backend::release`: no attempt
    /// counted).
    pub not_started: Vec<K>,
    /// Tasks whose handlers gave up after the cancellation flag was raised, handed back
    /// (`retry`).
    pub interrupted: Vec<K>,
    /// Tasks still running when a shutdown's deadline passed; their detached workers settle
    /// them when the handlers return.
    pub still_running: Vec<K>,
    /// The last backend error other than a stale lease, if any.
    pub last_backend_error: Option<String>,
    /// Worker threads that ended in a panic outside the handler (a backend that panicked).
    pub worker_panics: usize,
}

/// One line of counts, then one line per kept failure.
impl<K: fmt::Debug> fmt::Display for Report<K> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let s = &self.stats;
        write!(
            f,
            "completed {}, retried {}, failed {}, panicked {}, stale {}, handed back {} \
             ({} not started, {} interrupted), still running {}, backend errors {}; \
             {} handler runs in {:?} ({:.1}/s; p50 {:?}, p99 {:?})",
            s.completed,
            s.retried,
            s.failed,
            s.panicked,
            s.stale,
            s.handed_back,
            self.not_started.len(),
            self.interrupted.len(),
            self.still_running.len(),
            s.backend_errors,
            s.handler_runs,
            s.elapsed,
            s.throughput,
            s.latency.p50,
            s.latency.p99,
        )?;
        for failure in &self.failures {
            write!(
                f,
                "\nfailed {:?} after {} attempts: {}",
                failure.id, failure.attempts, failure.error
            )?;
        }
        if self.failures_dropped > 0 {
            write!(f, "\n(and {} older failures)", self.failures_dropped)?;
        }
        Ok(())
    }
}
