//! [`Clock`]: where a queue reads the time, so that tests can drive it by hand ([`ManualClock`]).
//!
//! A manual clock's time is an atomic from the facade: under `--cfg taskq_loom` it is loom's, so a
//! model's timer thread that advances it is one more thread loom interleaves (see
//! [`Deadline`](super::Deadline) for how time is modelled there).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::{AtomicU64, Ordering};

/// The time source of a queue: the system's monotonic clock (the default) or a [`ManualClock`].
///
/// Every timeout a queue applies is measured on its clock. With a manual clock, time stands still
/// until the test advances it, so timeouts (and, later, scheduled tasks) can be tested without
/// sleeping and without flaky margins.
///
/// ```
/// use std::time::Duration;
/// use taskq::{ClaimError, Clock, ManualClock, TaskQueue, ThreadSafeTaskQueue};
///
/// let time = ManualClock::new();
/// let q = ThreadSafeTaskQueue::<u64, ()>::builder().clock(time.clock()).build().unwrap();
/// std::thread::scope(|s| {
///     let claimer = s.spawn(|| q.get_next_task(Some(Duration::from_secs(60))));
///     // Each advance ends a minute of the claimer's wait at once (however far it has got).
///     while !claimer.is_finished() {
///         time.advance(Duration::from_secs(61));
///         std::thread::sleep(Duration::from_millis(1));
///     }
///     assert_eq!(claimer.join().unwrap().unwrap_err(), ClaimError::Timeout);
/// });
/// ```
#[derive(Clone, Default)]
pub struct Clock(Source);

#[derive(Clone, Default)]
enum Source {
    #[default]
    System,
    Manual(Arc<Manual>),
}

struct Manual {
    start: Instant,
    /// Nanoseconds since `start` (loom's atomic under `--cfg taskq_loom`: create the clock inside
    /// the model).
    elapsed: AtomicU64,
}

impl Clock {
    /// The system's monotonic clock ([`Instant::now`]).
    ///
    /// ```
    /// let clock = taskq::Clock::system();
    /// assert!(clock.now() <= std::time::Instant::now());
    /// ```
    pub fn system() -> Self {
        Clock(Source::System)
    }

    /// The current time on this clock.
    ///
    /// ```
    /// let time = taskq::ManualClock::new();
    /// let before = time.clock().now();
    /// time.advance(std::time::Duration::from_secs(1));
    /// assert_eq!(time.clock().now() - before, std::time::Duration::from_secs(1));
    /// ```
    pub fn now(&self) -> Instant {
        match &self.0 {
            Source::System => Instant::now(),
            Source::Manual(m) => m.start + Duration::from_nanos(m.elapsed.load(Ordering::Acquire)),
        }
    }

    /// Whether this is the system clock (which loom does not model; see [`Deadline`]).
    ///
    /// [`Deadline`]: super::Deadline
    pub(crate) fn is_system(&self) -> bool {
        matches!(self.0, Source::System)
    }

    /// How long a sleeper may wait in real time before `at` is reached: `None` on a manual
    /// clock, where only [`ManualClock::advance`] moves time (sleepers then wake in short slices).
    pub(crate) fn real_time_until(&self, at: Instant) -> Option<Duration> {
        match &self.0 {
            Source::System => Some(at.saturating_duration_since(Instant::now())),
            Source::Manual(_) => None,
        }
    }
}

impl fmt::Debug for Clock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            Source::System => f.write_str("Clock::System"),
            Source::Manual(m) => write!(
                f,
                "Clock::Manual({:?})",
                Duration::from_nanos(m.elapsed.load(Ordering::Relaxed))
            ),
        }
    }
}

/// A clock that moves only when told to; hand [`clock()`](Self::clock) to a queue's builder.
///
/// ```
/// use std::time::Duration;
/// let time = taskq::ManualClock::new();
/// let clock = time.clock();
/// let t0 = clock.now();
/// time.advance(Duration::from_millis(250));
/// assert_eq!(clock.now() - t0, Duration::from_millis(250));
/// ```
#[derive(Clone)]
pub struct ManualClock(Arc<Manual>);

impl ManualClock {
    /// A manual clock standing at the current system time.
    pub fn new() -> Self {
        ManualClock(Arc::new(Manual {
            start: Instant::now(),
            elapsed: AtomicU64::new(0),
        }))
    }

    /// A [`Clock`] that reads this manual clock.
    pub fn clock(&self) -> Clock {
        Clock(Source::Manual(Arc::clone(&self.0)))
    }

    /// Moves the time forward by `by` (saturating at about 584 years).
    ///
    /// A queue's sleepers on this clock notice within about a millisecond of real time (they
    /// wait in short slices). Under loom, where waits are not timed, a model's timer thread
    /// also calls the queue's hidden `wake_sleepers` to wake them.
    pub fn advance(&self, by: Duration) {
        let nanos = u64::try_from(by.as_nanos()).unwrap_or(u64::MAX);
        #[cfg(not(taskq_loom))]
        let _ = self
            .0
            .elapsed
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |e| {
                Some(e.saturating_add(nanos))
            });
        // Under loom, one read-modify-write: loom's `fetch_update` is a load, then a CAS, and its
        // race detection then misses that the write conflicts with another thread's earlier read
        // of the clock (so it never explores that read coming after the advance). A model never
        // advances by anywhere near 584 years; the assertion says so if one does.
        #[cfg(taskq_loom)]
        {
            let before = self.0.elapsed.fetch_add(nanos, Ordering::AcqRel);
            assert!(
                before.checked_add(nanos).is_some(),
                "a manual clock wrapped in a loom model"
            );
        }
    }
}

impl Default for ManualClock {
    fn default() -> Self {
        ManualClock::new()
    }
}

impl fmt::Debug for ManualClock {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.clock(), f)
    }
}
