//! The pool's live counters ([`PoolStats`]) and its latency histogram ([`Latency`]).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};
use std::time::Duration;

/// The pool's counters at one moment, from [`Pool::stats`](super::Pool::stats) (live) or in a
/// [`Report`](super::Report) (final).
///
/// Every lease a worker takes ends in exactly one *outcome*: `completed`, `retried`, `failed`,
/// `stale`, `handed_back`, or a refused settlement (counted in `backend_errors`); while its
/// handler runs it is `running`. The handler's own results are counted apart: every run is
/// `Ok`, an `Err` (`handler_errors`) or a panic (`panicked`). Each counter is read on its own
/// (relaxed), so a live snapshot may be a few operations out of step between counters; a report
/// made once every worker has ended (no `still_running`) is exact.
///
/// The number of queued tasks is not here: the [`Backend`](crate::Backend) contract has no way
/// to ask for it (the in-memory queue's own `len()` and `stats()` tell).
///
/// ```
/// use std::sync::Arc;
/// use std::time::Duration;
/// use taskq::pool::{FixedBackoff, Pool};
/// use taskq::{Backend, TaskQueue, ThreadSafeTaskQueue};
///
/// let queue = Arc::new(ThreadSafeTaskQueue::new());
/// for id in 0..10u64 {
///     queue.enqueue(id, 0, id).unwrap();
/// }
/// let pool = Pool::builder()
///     .workers(2)
///     .backoff(FixedBackoff(Duration::ZERO)) // retry at once
///     .spawn(Arc::clone(&queue), |task| if task.payload == 3 { Err("three") } else { Ok(()) })?;
/// queue.shutdown(); // the workers drain the queue, then stop
/// let report = pool.join();
/// let s = &report.stats;
/// assert_eq!((s.completed, s.failed, s.handler_errors), (9, 1, 3)); // 3 attempts for task 3
/// assert_eq!(s.handler_runs, s.latency.count);
/// assert!(s.latency.p50 <= s.latency.p99 && s.latency.p99 <= s.latency.max);
/// # Ok::<(), taskq::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct PoolStats {
    /// Worker threads the pool started.
    pub workers: usize,
    /// Tasks ready to be leased in the backend, if it can tell ([`Backend::queued`]).
    ///
    /// [`Backend::queued`]: crate::Backend::queued
    pub queued: Option<usize>,
    /// Handlers running now.
    pub running: usize,
    /// Handler calls so far (each attempt of each task is one).
    pub handler_runs: u64,
    /// Tasks completed (the backend accepted `complete`).
    pub completed: u64,
    /// Failed attempts handed back for another try (`retry_after` with the policy's delay).
    pub retried: u64,
    /// Tasks failed for good: out of attempts (`fail`, or the backend's own limit on
    /// `retry_after`).
    pub failed: u64,
    /// Handler calls that returned `Err`.
    pub handler_errors: u64,
    /// Handler calls that panicked (caught; each counts as a failed attempt).
    pub panicked: u64,
    /// Leases someone else had ended: the backend refused to complete, retry or fail them as
    /// stale ([`ErrorKind::Stale`](crate::ErrorKind::Stale), the claim is not current) or as
    /// [`ErrorKind::InvalidState`](crate::ErrorKind::InvalidState) (the task is no longer being
    /// processed). Never applied, never a panic.
    pub stale: u64,
    /// Leases handed back at a shutdown: leased but not started after a stop (`release`), or
    /// cancelled while running (the handler returned `Err` or panicked once cancelled: `retry`).
    pub handed_back: u64,
    /// Backend operations that failed for another reason than a stale lease (a failed lease
    /// wait or a refused settlement); the last message is in
    /// [`Report::last_backend_error`](super::Report::last_backend_error).
    pub backend_errors: u64,
    /// Time since the pool was spawned (real time).
    pub elapsed: Duration,
    /// Completed tasks per second of `elapsed` (0 before any time has passed).
    pub throughput: f64,
    /// Handler durations.
    pub latency: Latency,
}

/// Percentiles of handler durations (every run: `Ok`, `Err` or panic), from a fixed histogram.
///
/// The histogram has four buckets per power of two of nanoseconds (252 buckets, 2 KiB, no
/// allocation per run), so a percentile is the upper bound of the bucket it falls in: at most
/// 25% above the true value, and never above `max`, which is exact.
///
/// ```
/// let l = taskq::pool::Latency::default();
/// assert_eq!((l.count, l.p99), (0, std::time::Duration::ZERO));
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Latency {
    /// Handler runs measured.
    pub count: u64,
    /// The median.
    pub p50: Duration,
    /// The 90th percentile.
    pub p90: Duration,
    /// The 99th percentile.
    pub p99: Duration,
    /// The longest run.
    pub max: Duration,
}

/// The live counters, updated by the workers.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) running: AtomicUsize,
    pub(crate) handler_runs: AtomicU64,
    pub(crate) completed: AtomicU64,
    pub(crate) retried: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) handler_errors: AtomicU64,
    pub(crate) panicked: AtomicU64,
    pub(crate) stale: AtomicU64,
    pub(crate) handed_back: AtomicU64,
    pub(crate) backend_errors: AtomicU64,
}

impl Counters {
    pub(crate) fn bump(counter: &AtomicU64) {
        counter.fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(
        &self,
        workers: usize,
        elapsed: Duration,
        latency: &Histogram,
    ) -> PoolStats {
        let completed = self.completed.load(Relaxed);
        let secs = elapsed.as_secs_f64();
        PoolStats {
            workers,
            queued: None,
            running: self.running.load(Relaxed),
            handler_runs: self.handler_runs.load(Relaxed),
            completed,
            retried: self.retried.load(Relaxed),
            failed: self.failed.load(Relaxed),
            handler_errors: self.handler_errors.load(Relaxed),
            panicked: self.panicked.load(Relaxed),
            stale: self.stale.load(Relaxed),
            handed_back: self.handed_back.load(Relaxed),
            backend_errors: self.backend_errors.load(Relaxed),
            elapsed,
            throughput: if secs > 0.0 {
                completed as f64 / secs
            } else {
                0.0
            },
            latency: latency.summary(),
        }
    }
}

/// Sub-buckets per power of two (as a shift).
const SUB_BITS: u32 = 2;
const SUB: u64 = 1 << SUB_BITS;
/// Buckets: values below `SUB` have one each, then `SUB` per power of two up to `2^64`.
pub(crate) const BUCKETS: usize = ((64 - SUB_BITS + 1) * SUB as u32) as usize;

/// A fixed-bucket histogram of nanoseconds, lock-free.
#[derive(Debug)]
pub(crate) struct Histogram {
    buckets: Box<[AtomicU64]>,
    count: AtomicU64,
    max: AtomicU64,
}

impl Histogram {
    pub(crate) fn new() -> Self {
        Histogram {
            buckets: (0..BUCKETS).map(|_| AtomicU64::new(0)).collect(),
            count: AtomicU64::new(0),
            max: AtomicU64::new(0),
        }
    }

    pub(crate) fn record(&self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        self.buckets[bucket(nanos)].fetch_add(1, Relaxed);
        self.max.fetch_max(nanos, Relaxed);
        self.count.fetch_add(1, Relaxed);
    }

    pub(crate) fn summary(&self) -> Latency {
        let counts: Vec<u64> = self.buckets.iter().map(|b| b.load(Relaxed)).collect();
        let total: u64 = counts.iter().sum();
        let max = self.max.load(Relaxed);
        let at = |q: f64| -> Duration {
            if total == 0 {
                return Duration::ZERO;
            }
            // The smallest value with at least ⌈q · total⌉ runs at or below it.
            let rank = ((q * total as f64).ceil() as u64).clamp(1, total);
            let mut seen = 0;
            for (i, c) in counts.iter().enumerate() {
                seen += c;
                if seen >= rank {
                    return Duration::from_nanos(upper_bound(i).min(max));
                }
            }
            Duration::from_nanos(max)
        };
        Latency {
            count: total,
            p50: at(0.50),
            p90: at(0.90),
            p99: at(0.99),
            max: Duration::from_nanos(max),
        }
    }
}

/// The bucket of a value: itself below `SUB`; else its power of two and the next `SUB_BITS` bits.
pub(crate) fn bucket(nanos: u64) -> usize {
    if nanos < SUB {
        return nanos as usize;
    }
    let exp = 63 - nanos.leading_zeros(); // >= SUB_BITS
    let sub = (nanos >> (exp - SUB_BITS)) & (SUB - 1);
    ((exp - SUB_BITS + 1) as u64 * SUB + sub) as usize
}

/// The largest value in bucket `i`.
pub(crate) fn upper_bound(i: usize) -> u64 {
    let i = i as u64;
    if i < SUB {
        return i;
    }
    let exp = (i / SUB) as u32 + SUB_BITS - 1;
    let sub = i % SUB;
    let width = 1u64 << (exp - SUB_BITS);
    ((SUB + sub) << (exp - SUB_BITS)).wrapping_add(width - 1)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_bounded() {
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        assert_eq!(upper_bound(BUCKETS - 1), u64::MAX);
        let mut prev_upper = None;
        for i in 0..BUCKETS {
            let upper = upper_bound(i);
            assert_eq!(bucket(upper), i, "upper bound of {i}");
            if let Some(p) = prev_upper {
                assert_eq!(bucket(p + 1), i, "lower bound of {i}");
                // Relative width at most 1/SUB of the lower bound.
                assert!(upper - p <= (p + 1) / SUB + 1, "bucket {i} too wide");
            }
            prev_upper = Some(upper);
        }
    }

    #[test]
    fn percentiles() {
        let h = Histogram::new();
        assert_eq!(h.summary(), Latency::default());
        for ms in 1..=100u64 {
            h.record(Duration::from_millis(ms));
        }
        let s = h.summary();
        assert_eq!(s.count, 100);
        assert_eq!(s.max, Duration::from_millis(100));
        for (p, want) in [(s.p50, 50u64), (s.p90, 90), (s.p99, 99)] {
            let want = Duration::from_millis(want);
            assert!(p >= want && p <= want + want / 4, "{p:?} vs {want:?}");
        }
        h.record(Duration::MAX);
        assert_eq!(h.summary().max, Duration::from_nanos(u64::MAX));
    }
}
