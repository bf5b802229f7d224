//! Retry policies: the [`Backoff`] trait, its default [`ExponentialBackoff`] (with [`Jitter`]),
//! [`FixedBackoff`], and the small generator ([`SplitMix64`]) the workers draw jitter from.

use std::fmt;
use std::time::Duration;

use super::PoolError;

/// How long a failed task waits before its next attempt.
///
/// A worker whose handler failed attempt `attempt` (1 for the first attempt) of a task that has
/// attempts left asks its pool's policy for a delay and hands the task back with
/// [`Backend::retry_after`](crate::Backend::retry_after)`(lease, delay)`: the backend, on its own
/// clock, decides when the task is ready again. `random` is a fresh uniformly distributed `u64`
/// from the worker's [`SplitMix64`] (seeded per worker from
/// [`PoolBuilder::seed`](super::PoolBuilder::seed)), so that a policy is a pure function of its
/// arguments and can be tested with fixed numbers.
///
/// Closures `Fn(u32, u64) -> Duration` are policies too. A policy that panics is caught: the task
/// is then retried at once.
///
/// ```
/// use std::time::Duration;
/// use taskq::pool::Backoff;
///
/// // Linear backoff, no jitter: 10 ms, 20 ms, 30 ms, ...
/// let linear = |attempt: u32, _random: u64| Duration::from_millis(10 * u64::from(attempt));
/// assert_eq!(linear.delay(3, 0), Duration::from_millis(30));
/// ```
pub trait Backoff: Send + Sync {
    /// The delay before the next attempt, after attempt number `attempt` (1-based) failed;
    /// `random` is uniformly distributed over all of `u64`.
    fn delay(&self, attempt: u32, random: u64) -> Duration;
}

impl<F> Backoff for F
where
    F: Fn(u32, u64) -> Duration + Send + Sync,
{
    fn delay(&self, attempt: u32, random: u64) -> Duration {
        self(attempt, random)
    }
}

/// How [`ExponentialBackoff`] spreads its delays so that tasks that failed together do not all
/// come back together. With `cap` the un-jittered delay and `r` the random fraction in `[0, 1)`
/// (see [`ExponentialBackoff`] for both):
///
/// ```
/// use std::time::Duration;
/// use taskq::pool::{Backoff, ExponentialBackoff, Jitter};
///
/// let base = ExponentialBackoff::new(Duration::from_secs(1), Duration::from_secs(60));
/// let half = 1u64 << 63; // r = 0.5
/// assert_eq!(base.with_jitter(Jitter::None).delay(3, half), Duration::from_secs(4));
/// assert_eq!(base.with_jitter(Jitter::Full).delay(3, half), Duration::from_secs(2));
/// assert_eq!(base.with_jitter(Jitter::Equal).delay(3, half), Duration::from_secs(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Jitter {
    /// `delay = cap`: deterministic.
    None,
    /// `delay = cap · r`, anywhere in `[0, cap)`: the best spread (the default).
    Full,
    /// `delay = cap/2 + cap/2 · r`, in `[cap/2, cap)`: never much shorter than planned.
    Equal,
}

/// The default retry policy: exponential growth, capped, with jitter.
///
/// For the failed attempt number `attempt` (1 for the first attempt), with `base`, `factor`
/// and `max` as configured and all arithmetic in `f64` nanoseconds:
///
/// ```text
/// cap   = min(max, base · factor^(attempt − 1))
/// r     = (random >> 11) / 2^53                   (uniform in [0, 1), from the worker's SplitMix64)
/// delay = cap                 with Jitter::None
///       = cap · r             with Jitter::Full   (the default)
///       = cap/2 + cap/2 · r   with Jitter::Equal
/// ```
///
/// truncated to whole nanoseconds (`cap` too, so integer factors give exact powers). A `cap` that
/// overflows `f64` is `max`. The defaults ([`ExponentialBackoff::default`]): `base` = 100 ms,
/// `factor` = 2, `max` = 30 s, full jitter: so the caps run 100 ms, 200 ms, 400 ms, … up to 30 s
/// from the ninth retry on, and each actual delay is drawn uniformly below its cap.
///
/// ```
/// use std::time::Duration;
/// use taskq::pool::{Backoff, ExponentialBackoff, Jitter, SplitMix64};
///
/// let policy = ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(1))
///     .with_factor(3.0)?
///     .with_jitter(Jitter::None);
/// let caps: Vec<_> = (1..=4).map(|attempt| policy.delay(attempt, 0).as_millis()).collect();
/// assert_eq!(caps, [100, 300, 900, 1000]);
///
/// // The default: full jitter, each delay below its cap, reproducible from a seed.
/// let policy = ExponentialBackoff::default();
/// let mut rng = SplitMix64::new(7);
/// let delay = policy.delay(2, rng.next_u64());
/// assert!(delay < Duration::from_millis(200));
/// assert_eq!(delay, policy.delay(2, SplitMix64::new(7).next_u64()));
/// # Ok::<(), taskq::pool::PoolError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ExponentialBackoff {
    base: Duration,
    factor: f64,
    max: Duration,
    jitter: Jitter,
}

impl ExponentialBackoff {
    /// A policy starting at `base` and capped at `max`, doubling (`factor` 2) with full jitter.
    /// A `base` above `max` makes every cap `max`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use taskq::pool::{ExponentialBackoff, Jitter};
    ///
    /// let p = ExponentialBackoff::new(Duration::from_millis(5), Duration::from_secs(2));
    /// assert_eq!((p.factor(), p.jitter()), (2.0, Jitter::Full));
    /// assert_eq!(p.cap(20), Duration::from_secs(2));
    /// ```
    pub fn new(base: Duration, max: Duration) -> Self {
        ExponentialBackoff {
            base,
            factor: 2.0,
            max,
            jitter: Jitter::Full,
        }
    }

    /// The same policy growing by `factor` per attempt. The factor must be finite and at least 1
    /// ([`PoolError::InvalidFactor`] otherwise): a policy's delays never shrink.
    ///
    /// ```
    /// use taskq::pool::{ExponentialBackoff, PoolError};
    ///
    /// assert!(ExponentialBackoff::default().with_factor(1.5).is_ok());
    /// assert!(matches!(
    ///     ExponentialBackoff::default().with_factor(0.5),
    ///     Err(PoolError::InvalidFactor(f)) if f == 0.5
    /// ));
    /// ```
    pub fn with_factor(self, factor: f64) -> Result<Self, PoolError> {
        if factor.is_finite() && factor >= 1.0 {
            Ok(ExponentialBackoff { factor, ..self })
        } else {
            Err(PoolError::InvalidFactor(factor))
        }
    }

    /// The same policy with another [`Jitter`].
    ///
    /// ```
    /// use taskq::pool::{ExponentialBackoff, Jitter};
    /// let p = ExponentialBackoff::default().with_jitter(Jitter::Equal);
    /// assert_eq!(p.jitter(), Jitter::Equal);
    /// ```
    pub fn with_jitter(self, jitter: Jitter) -> Self {
        ExponentialBackoff { jitter, ..self }
    }

    /// The first cap (attempt 1).
    ///
    /// ```
    /// let p = taskq::pool::ExponentialBackoff::default();
    /// assert_eq!(p.base(), std::time::Duration::from_millis(100));
    /// ```
    pub fn base(&self) -> Duration {
        self.base
    }

    /// The growth per attempt.
    ///
    /// ```
    /// assert_eq!(taskq::pool::ExponentialBackoff::default().factor(), 2.0);
    /// ```
    pub fn factor(&self) -> f64 {
        self.factor
    }

    /// The largest cap.
    ///
    /// ```
    /// let p = taskq::pool::ExponentialBackoff::default();
    /// assert_eq!(p.max(), std::time::Duration::from_secs(30));
    /// ```
    pub fn max(&self) -> Duration {
        self.max
    }

    /// The jitter.
    ///
    /// ```
    /// use taskq::pool::{ExponentialBackoff, Jitter};
    /// assert_eq!(ExponentialBackoff::default().jitter(), Jitter::Full);
    /// ```
    pub fn jitter(&self) -> Jitter {
        self.jitter
    }

    /// The un-jittered delay after failed attempt `attempt`:
    /// `min(max, base · factor^(attempt − 1))` (attempt 0 counts as 1).
    ///
    /// ```
    /// use std::time::Duration;
    /// let p = taskq::pool::ExponentialBackoff::default();
    /// assert_eq!(p.cap(1), Duration::from_millis(100));
    /// assert_eq!(p.cap(4), Duration::from_millis(800));
    /// assert_eq!(p.cap(u32::MAX), Duration::from_secs(30));
    /// ```
    pub fn cap(&self, attempt: u32) -> Duration {
        if self.base.is_zero() {
            return Duration::ZERO; // not 0 · ∞ = NaN for a huge attempt
        }
        let exponent = i32::try_from(attempt.saturating_sub(1)).unwrap_or(i32::MAX);
        let nanos = self.base.as_nanos() as f64 * self.factor.powi(exponent);
        if nanos.is_finite() && nanos < self.max.as_nanos() as f64 {
            nanos_to_duration(nanos)
        } else {
            self.max
        }
    }
}

impl Default for ExponentialBackoff {
    /// `base` 100 ms, `factor` 2, `max` 30 s, [`Jitter::Full`].
    fn default() -> Self {
        ExponentialBackoff::new(Duration::from_millis(100), Duration::from_secs(30))
    }
}

impl Backoff for ExponentialBackoff {
    fn delay(&self, attempt: u32, random: u64) -> Duration {
        let cap = self.cap(attempt);
        let cap_nanos = cap.as_nanos() as f64;
        let r = unit_fraction(random);
        match self.jitter {
            Jitter::None => cap,
            Jitter::Full => nanos_to_duration(cap_nanos * r),
            Jitter::Equal => nanos_to_duration(cap_nanos / 2.0 + cap_nanos / 2.0 * r),
        }
    }
}

/// The same delay after every failed attempt (`FixedBackoff(Duration::ZERO)`: retry at once).
///
/// ```
/// use std::time::Duration;
/// use taskq::pool::{Backoff, FixedBackoff};
///
/// let p = FixedBackoff(Duration::from_millis(250));
/// assert_eq!(p.delay(1, 0), p.delay(9, u64::MAX));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub struct FixedBackoff(pub Duration);

impl Backoff for FixedBackoff {
    fn delay(&self, _attempt: u32, _random: u64) -> Duration {
        self.0
    }
}

/// `random >> 11` over `2^53`: uniform in `[0, 1)`, every value exact in an `f64`.
fn unit_fraction(random: u64) -> f64 {
    (random >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// Non-negative, finite nanoseconds (at most a cap that came from a `Duration`), truncated.
fn nanos_to_duration(nanos: f64) -> Duration {
    let nanos = nanos.max(0.0);
    if nanos >= u64::MAX as f64 {
        // Only reachable with a `max` above 584 years.
        let secs = nanos / 1e9;
        return Duration::try_from_secs_f64(secs).unwrap_or(Duration::MAX);
    }
    Duration::from_nanos(nanos as u64)
}

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast, statistically good generator for
/// jitter; not for cryptography. Each pool worker owns one, seeded from
/// [`PoolBuilder::seed`](super::PoolBuilder::seed) and its index.
///
/// ```
/// use taskq::pool::SplitMix64;
///
/// let mut a = SplitMix64::new(42);
/// let mut b = SplitMix64::new(42);
/// assert_eq!(a.next_u64(), b.next_u64()); // same seed, same sequence
/// assert_ne!(a.next_u64(), SplitMix64::new(43).next_u64());
/// ```
#[derive(Clone)]
pub struct SplitMix64(u64);

impl SplitMix64 {
    /// A generator starting from `seed` (any value, zero included).
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next number, uniform over all of `u64`.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

/// Shows that it is a SplitMix64, not its state (which would predict its numbers).
impl fmt::Debug for SplitMix64 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SplitMix64").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unit_fraction_bounds() {
        assert_eq!(unit_fraction(0), 0.0);
        assert!(unit_fraction(u64::MAX) < 1.0);
        assert_eq!(unit_fraction(1 << 63), 0.5);
    }

    #[test]
    fn huge_max_does_not_panic() {
        let p = ExponentialBackoff::new(Duration::from_secs(1), Duration::MAX);
        assert_eq!(p.cap(u32::MAX), Duration::MAX);
        assert!(p.delay(200, u64::MAX) <= Duration::MAX);
        let p = p.with_jitter(Jitter::Equal);
        let _ = p.delay(100, u64::MAX);
    }

    #[test]
    fn zero_base_is_zero() {
        let p = ExponentialBackoff::new(Duration::ZERO, Duration::from_secs(1));
        assert_eq!(p.delay(5, u64::MAX), Duration::ZERO);
        assert_eq!(
            p.with_jitter(Jitter::None).delay(u32::MAX, 0),
            Duration::ZERO
        );
    }
}
