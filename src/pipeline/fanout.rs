//! [`FanOut`]: split a piece of work into sub-tasks, run them on a worker [`Pool`] (with its
//! retries, backoff and caught panics), and wait for all their results.

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use crate::pool::{CancelToken, Pool, PoolBuilder, PoolError, PoolStats, Report};
use crate::{Backend, Retention, Task, TaskQueue, ThreadSafeTaskQueue};

/// One sub-task as the pool sees it: called with the attempts already made.
type SubTask = Arc<dyn Fn(u32) -> Result<(), String> + Send + Sync>;

/// How often a waiting [`FanOut::run`] looks at its cancellation flag.
const CANCEL_POLL: Duration = Duration::from_millis(10);

/// A worker [`Pool`] that runs the sub-tasks of many callers: [`run`](Self::run) splits a piece
/// of work into chunks, adds one task per chunk to the pool's queue, and blocks until every
/// chunk has a result, returned in chunk order.
///
/// The pool's rules apply to each chunk: a chunk whose function returns `Err` or panics is
/// retried with the pool's backoff, up to `max_attempts` attempts, and then fails the whole
/// `run` with its last error ([`FanOutError::Failed`]); the chunks of that `run` still queued are
/// cancelled (those already running finish, and their results are dropped). Several threads may
/// call `run` at once (share the `FanOut` by reference or `Arc`): their chunks interleave in the
/// pool's queue by priority, first come first served among equals.
///
/// ```
/// use std::time::Duration;
/// use taskq::pipeline::{FanOut, FanOutError};
/// use taskq::pool::{CancelToken, FixedBackoff, Pool};
///
/// let fan = FanOut::spawn(
///     Pool::builder().workers(3).backoff(FixedBackoff(Duration::from_millis(1))),
///     2, // attempts per chunk
/// )?;
/// let never = CancelToken::new();
/// let sums = fan.run(0, vec![vec![1, 2], vec![3, 4], vec![5]], |c: &Vec<u32>| {
///     Ok::<u32, String>(c.iter().sum())
/// }, &never);
/// assert_eq!(sums.unwrap(), [3, 7, 5]);
///
/// let err = fan.run(0, vec![1u32, 0, 3], |&x| if x == 0 { Err("zero") } else { Ok(10 / x) }, &never);
/// assert!(matches!(err, Err(FanOutError::Failed { index: 1, attempts: 2, .. })));
/// let report = fan.shutdown();
/// assert_eq!((report.stats.completed, report.stats.failed, report.stats.retried), (5, 1, 1));
/// # Ok::<(), taskq::pool::PoolError>(())
/// ```
pub struct FanOut {
    queue: Arc<ThreadSafeTaskQueue<u64, SubTask>>,
    /// `None` once shut down.
    pool: Option<Pool<u64>>,
    next_id: AtomicU64,
    max_attempts: u32,
}

impl FanOut {
    /// Starts a pool with the options of `pool` (workers, backoff, poll interval, seed, …) over
    /// a queue of its own, giving each chunk `max_attempts` attempts (this overrides the
    /// builder's [`max_attempts`](PoolBuilder::max_attempts); at least 1:
    /// [`PoolError::ZeroMaxAttempts`]).
    ///
    /// ```
    /// use taskq::{pipeline::FanOut, pool::Pool};
    ///
    /// let fan = FanOut::spawn(Pool::builder().workers(2), 3)?;
    /// assert_eq!(fan.stats().workers, 2);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn spawn(pool: PoolBuilder, max_attempts: u32) -> Result<FanOut, PoolError> {
        let queue = Arc::new(
            ThreadSafeTaskQueue::builder()
                .retention(Retention::KeepNone)
                .build()
                .expect("default options are valid"),
        );
        let pool = pool
            .max_attempts(max_attempts)
            .spawn(Arc::clone(&queue), |task: &Task<u64, SubTask>| {
                (task.payload)(task.attempts)
            })?;
        Ok(FanOut {
            queue,
            pool: Some(pool),
            next_id: AtomicU64::new(0),
            max_attempts,
        })
    }

    /// Runs `f` on every chunk on the pool and returns the results in chunk order, or the first
    /// chunk failure (out of attempts: [`FanOutError::Failed`]). Blocks the caller meanwhile;
    /// if `cancel` is raised while it waits (it looks every 10 ms or so), the chunks still
    /// queued are cancelled and it returns [`FanOutError::Cancelled`]. `priority` orders these
    /// chunks against other callers' (higher first). No chunks: `Ok(vec![])` at once.
    ///
    /// ```
    /// use taskq::{pipeline::FanOut, pool::{CancelToken, Pool}};
    ///
    /// let fan = FanOut::spawn(Pool::builder().workers(2), 1)?;
    /// let words = vec!["fan", "out", "and", "join"];
    /// let lengths = fan.run(5, words, |w: &&str| Ok::<_, String>(w.len()), &CancelToken::new());
    /// assert_eq!(lengths.unwrap(), [3, 3, 3, 4]);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn run<C, R, E, F>(
        &self,
        priority: i64,
        chunks: Vec<C>,
        f: F,
        cancel: &CancelToken,
    ) -> Result<Vec<R>, FanOutError>
    where
        C: Send + Sync + 'static,
        R: Send + 'static,
        E: fmt::Display,
        F: Fn(&C) -> Result<R, E> + Send + Sync + 'static,
    {
        if chunks.is_empty() {
            return Ok(Vec::new());
        }
        let join = Arc::new(Join::new(chunks.len()));
        let f = Arc::new(f);
        let mut ids = Vec::with_capacity(chunks.len());
        for (index, chunk) in chunks.into_iter().enumerate() {
            let id = self.next_id.fetch_add(1, Relaxed);
            let task = sub_task(
                index,
                chunk,
                Arc::clone(&f),
                Arc::clone(&join),
                self.max_attempts,
            );
            if self.queue.enqueue(id, priority, task).is_err() {
                // Shut down (only `shutdown`, which takes `self`, or a dropped pool does that).
                self.abandon(&join, &ids);
                return Err(FanOutError::ShutDown);
            }
            ids.push(id);
        }
        let mut state = join.lock();
        loop {
            if let Some(failure) = state.failure.take() {
                drop(state);
                self.abandon(&join, &ids);
                return Err(failure);
            }
            if state.remaining == 0 {
                let results = std::mem::take(&mut state.results);
                return Ok(results
                    .into_iter()
                    .map(|r| r.expect("every chunk settled"))
                    .collect());
            }
            if cancel.is_cancelled() {
                drop(state);
                self.abandon(&join, &ids);
                return Err(FanOutError::Cancelled);
            }
            state = match join.settled.wait_timeout(state, CANCEL_POLL) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
    }

    /// The pool's live counters (each chunk attempt is one handler run).
    ///
    /// ```
    /// use taskq::{pipeline::FanOut, pool::{CancelToken, Pool}};
    ///
    /// let fan = FanOut::spawn(Pool::builder().workers(1), 1)?;
    /// fan.run(0, vec![(); 4], |_| Ok::<(), String>(()), &CancelToken::new()).unwrap();
    /// // (`run` returns once each chunk has its result: the pool may still be settling the
    /// // last one with its queue, so `completed` can lag for a moment; `handler_runs` cannot.)
    /// assert_eq!(fan.stats().handler_runs, 4);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn stats(&self) -> PoolStats {
        self.pool.as_ref().expect("running until shutdown").stats()
    }

    /// Stops the pool gracefully once its queue is drained (nothing is queued unless another
    /// thread is inside [`run`](Self::run), which `&self` rules out here) and returns its final
    /// [`Report`]: chunk attempts, retries, failures with their last errors, latencies.
    ///
    /// ```
    /// use taskq::{pipeline::FanOut, pool::Pool};
    ///
    /// let fan = FanOut::spawn(Pool::builder().workers(2), 1)?;
    /// assert_eq!(fan.shutdown().stats.handler_runs, 0);
    /// # Ok::<(), taskq::pool::PoolError>(())
    /// ```
    pub fn shutdown(mut self) -> Report<u64> {
        self.queue.shutdown();
        self.pool.take().expect("running until shutdown").join()
    }

    /// Marks a `run` given up on, and cancels its chunks still queued or waiting for a retry.
    fn abandon<R>(&self, join: &Join<R>, ids: &[u64]) {
        join.lock().abandoned = true;
        for id in ids {
            TaskQueue::cancel_task(&*self.queue, id);
        }
    }
}

/// A dropped `FanOut` cancels what is queued and stops its pool without waiting (its workers
/// finish the chunks they are running, detached).
impl Drop for FanOut {
    fn drop(&mut self) {
        if let Some(pool) = self.pool.take() {
            TaskQueue::shutdown_now(&*self.queue);
            pool.stop();
        }
    }
}

impl fmt::Debug for FanOut {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FanOut")
            .field("pool", &self.pool)
            .field("max_attempts", &self.max_attempts)
            .finish_non_exhaustive()
    }
}

/// The pool task for chunk `index`: runs `f` on it (panics caught, to record their message, and
/// resumed so that the pool counts them), and settles the chunk in `join` on success or on its
/// last attempt.
fn sub_task<C, R, E, F>(
    index: usize,
    chunk: C,
    f: Arc<F>,
    join: Arc<Join<R>>,
    max_attempts: u32,
) -> SubTask
where
    C: Send + Sync + 'static,
    R: Send + 'static,
    E: fmt::Display,
    F: Fn(&C) -> Result<R, E> + Send + Sync + 'static,
{
    Arc::new(move |attempts: u32| {
        if join.lock().abandoned {
            return Ok(()); // its `run` gave up: nothing to compute for
        }
        let attempt = attempts.saturating_add(1);
        let last = attempt >= max_attempts;
        match catch_unwind(AssertUnwindSafe(|| f(&chunk))) {
            Ok(Ok(result)) => {
                join.settle(index, result);
                Ok(())
            }
            Ok(Err(e)) => {
                let error = e.to_string();
                if last {
                    join.fail(index, attempt, error.clone(), false);
                }
                Err(error)
            }
            Err(payload) => {
                if last {
                    join.fail(index, attempt, panic_message(&*payload), true);
                }
                resume_unwind(payload)
            }
        }
    })
}

/// The results of one `run`, filled in by the pool's workers.
struct Join<R> {
    state: Mutex<JoinState<R>>,
    settled: Condvar,
}

struct JoinState<R> {
    results: Vec<Option<R>>,
    remaining: usize,
    failure: Option<FanOutError>,
    /// The caller returned (failed or cancelled): later results are dropped.
    abandoned: bool,
}

impl<R> Join<R> {
    fn new(chunks: usize) -> Self {
        Join {
            state: Mutex::new(JoinState {
                results: (0..chunks).map(|_| None).collect(),
                remaining: chunks,
                failure: None,
                abandoned: false,
            }),
            settled: Condvar::new(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, JoinState<R>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn settle(&self, index: usize, result: R) {
        let mut state = self.lock();
        if state.abandoned || state.results[index].is_some() {
            return;
        }
        state.results[index] = Some(result);
        state.remaining -= 1;
        drop(state);
        self.settled.notify_all();
    }

    fn fail(&self, index: usize, attempts: u32, error: String, panicked: bool) {
        let mut state = self.lock();
        if state.abandoned || state.failure.is_some() {
            return;
        }
        state.failure = Some(FanOutError::Failed {
            index,
            attempts,
            error,
            panicked,
        });
        drop(state);
        self.settled.notify_all();
    }
}

/// The message of a caught panic.
pub(super) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        format!("panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("panicked: {s}")
    } else {
        "panicked (with a payload that is not a string)".to_string()
    }
}

/// Why a [`FanOut::run`] returned no results.
///
/// ```
/// let e = taskq::pipeline::FanOutError::Failed {
///     index: 2,
///     attempts: 3,
///     error: "bad chunk".into(),
///     panicked: false,
/// };
/// assert_eq!(e.to_string(), "chunk 2 failed after 3 attempts: bad chunk");
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum FanOutError {
    /// A chunk used up its attempts; its last error.
    Failed {
        /// The chunk's index in the `run`'s input.
        index: usize,
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error (`Display`ed), or `panicked: <message>`.
        error: String,
        /// Whether the last attempt panicked.
        panicked: bool,
    },
    /// The caller's cancellation flag was raised while it waited.
    Cancelled,
    /// The pool's queue was shut down.
    ShutDown,
}

impl fmt::Display for FanOutError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FanOutError::Failed {
                index,
                attempts,
                error,
                ..
            } => write!(f, "chunk {index} failed after {attempts} attempts: {error}"),
            FanOutError::Cancelled => f.write_str("cancelled while waiting for the chunks"),
            FanOutError::ShutDown => f.write_str("the fan-out pool is shut down"),
        }
    }
}

impl Error for FanOutError {}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::pool::FixedBackoff;
    use std::sync::atomic::AtomicUsize;

    fn fan(workers: usize, attempts: u32) -> FanOut {
        FanOut::spawn(
            Pool::builder()
                .workers(workers)
                .backoff(FixedBackoff(Duration::ZERO))
                .poll_interval(Duration::from_millis(5)),
            attempts,
        )
        .unwrap()
    }

    #[test]
    fn results_come_back_in_chunk_order() {
        let _watchdog = crate::pipeline::tests::watchdog("results_come_back_in_chunk_order");
        let fan = fan(3, 1);
        let never = CancelToken::new();
        let chunks: Vec<u64> = (0..50).collect();
        let out = fan
            .run(0, chunks, |&x| Ok::<_, String>(x * x), &never)
            .unwrap();
        assert_eq!(out, (0..50).map(|x| x * x).collect::<Vec<_>>());
        assert_eq!(
            fan.run(0, Vec::<u8>::new(), |_| Ok::<(), String>(()), &never),
            Ok(vec![])
        );
        assert_eq!(fan.shutdown().stats.completed, 50);
    }

    /// A chunk that fails once is retried by the pool and the run succeeds; one that always
    /// panics fails the run after its attempts with the panic's message.
    #[test]
    fn retries_then_failure_with_the_last_error() {
        let _watchdog =
            crate::pipeline::tests::watchdog("retries_then_failure_with_the_last_error");
        let fan = fan(2, 3);
        let never = CancelToken::new();
        let tries = Arc::new(AtomicUsize::new(0));
        let t = Arc::clone(&tries);
        let out = fan.run(
            0,
            vec![1u32, 2, 3],
            move |&x| {
                if x == 2 && t.fetch_add(1, Relaxed) == 0 {
                    Err("flaky")
                } else {
                    Ok(x)
                }
            },
            &never,
        );
        assert_eq!(out.unwrap(), [1, 2, 3]);
        assert_eq!(tries.load(Relaxed), 2);

        let err = fan
            .run(
                0,
                vec![1u32, 2],
                |&x| -> Result<u32, String> {
                    if x == 2 {
                        panic!("chunk {x} is poison")
                    }
                    Ok(x)
                },
                &never,
            )
            .unwrap_err();
        assert_eq!(
            err,
            FanOutError::Failed {
                index: 1,
                attempts: 3,
                error: "panicked: chunk 2 is poison".into(),
                panicked: true
            }
        );
        let report = fan.shutdown();
        assert_eq!(report.stats.panicked, 3);
        assert_eq!(report.stats.failed, 1);
        assert_eq!(
            report.failures[0].error,
            "handler panicked: chunk 2 is poison"
        );
    }

    /// A cancelled run returns `Cancelled`, its queued chunks are cancelled unrun, and the pool
    /// goes on serving other runs.
    #[test]
    fn cancel_while_waiting() {
        let _watchdog = crate::pipeline::tests::watchdog("cancel_while_waiting");
        let fan = fan(1, 1);
        let gate = Arc::new((Mutex::new(false), Condvar::new()));
        let cancel = CancelToken::new();
        let ran = Arc::new(AtomicUsize::new(0));
        std::thread::scope(|s| {
            let (g, r) = (Arc::clone(&gate), Arc::clone(&ran));
            let waiter = s.spawn(|| {
                fan.run(
                    0,
                    vec![0u8; 5],
                    move |_| {
                        r.fetch_add(1, Relaxed);
                        // The first chunk holds the only worker until the gate opens.
                        let (open, cv) = &*g;
                        let mut open = open.lock().unwrap();
                        while !*open {
                            open = cv.wait(open).unwrap();
                        }
                        Ok::<(), String>(())
                    },
                    &cancel,
                )
            });
            while ran.load(Relaxed) == 0 {
                std::thread::yield_now();
            }
            cancel.cancel();
            assert_eq!(waiter.join().unwrap(), Err(FanOutError::Cancelled));
            *gate.0.lock().unwrap() = true;
            gate.1.notify_all();
        });
        let out = fan.run(0, vec![7u8], |&x| Ok::<_, String>(x), &CancelToken::new());
        assert_eq!(out.unwrap(), [7]);
        let report = fan.shutdown();
        assert_eq!(
            ran.load(Relaxed),
            1,
            "the queued chunks were cancelled, not run"
        );
        assert_eq!(report.stats.completed, 2);
    }
}
