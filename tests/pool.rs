//! The worker pool: its suite (tests/common/pool.rs) on every in-memory strategy, and the retry
//! policies and builder options on their own.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::pool::pool_suite;
use taskq::pool::{Backoff, ExponentialBackoff, FixedBackoff, Jitter, Pool, PoolError, SplitMix64};
use taskq::ThreadSafeTaskQueue;

common::for_each_strategy!(pool_suite);

const MS: fn(u64) -> Duration = Duration::from_millis;

/// Without jitter the delays are exactly `min(max, base · factor^(attempt − 1))`.
#[test]
fn exponential_delays_without_jitter_are_exact() {
    let p = ExponentialBackoff::new(MS(100), Duration::from_secs(5)).with_jitter(Jitter::None);
    let delays: Vec<_> = (1..=8).map(|a| p.delay(a, 12345)).collect();
    let want = [100, 200, 400, 800, 1_600, 3_200, 5_000, 5_000].map(MS);
    assert_eq!(delays, want);
    assert_eq!(
        p.delay(u32::MAX, 0),
        Duration::from_secs(5),
        "saturates, no overflow"
    );
    assert_eq!(p.delay(0, 0), MS(100), "attempt 0 counts as 1");

    let p = p.with_factor(1.5).unwrap();
    let delays: Vec<_> = (1..=4).map(|a| p.delay(a, 0)).collect();
    assert_eq!(
        delays,
        [100_000, 150_000, 225_000, 337_500].map(Duration::from_micros)
    );

    let flat = ExponentialBackoff::new(MS(7), MS(7))
        .with_factor(1.0)
        .unwrap();
    assert_eq!(flat.with_jitter(Jitter::None).delay(30, 0), MS(7));
}

/// Full jitter with a fixed seed: each delay is `cap · r` with `r = (x >> 11) / 2^53` for the
/// seeded generator's next `x`; all below the cap; over many draws they average about half the
/// cap (deterministic: the seed is fixed).
#[test]
fn full_jitter_with_a_fixed_seed() {
    let p = ExponentialBackoff::new(MS(100), Duration::from_secs(30));
    assert_eq!(p.jitter(), Jitter::Full, "the default jitter");
    let mut rng = SplitMix64::new(2024);
    let mut replay = SplitMix64::new(2024);
    for attempt in 1..=12 {
        let x = rng.next_u64();
        let r = (x >> 11) as f64 / (1u64 << 53) as f64;
        let cap = p.cap(attempt);
        let want = Duration::from_nanos((cap.as_nanos() as f64 * r) as u64);
        assert_eq!(p.delay(attempt, x), want, "attempt {attempt}");
        assert!(want < cap);
        assert_eq!(
            p.delay(attempt, replay.next_u64()),
            want,
            "same seed, same delays"
        );
    }
    let cap = p.cap(3).as_secs_f64();
    let n = 10_000;
    let mean: f64 = (0..n)
        .map(|_| p.delay(3, rng.next_u64()).as_secs_f64())
        .sum::<f64>()
        / n as f64;
    assert!((mean / cap - 0.5).abs() < 0.02, "mean {mean} for cap {cap}");
}

/// Equal jitter stays in `[cap/2, cap)`; the extremes of `random` give the ends.
#[test]
fn equal_jitter_bounds() {
    let p = ExponentialBackoff::new(MS(10), Duration::from_secs(1)).with_jitter(Jitter::Equal);
    let mut rng = SplitMix64::new(99);
    for attempt in 1..=10 {
        let cap = p.cap(attempt);
        for _ in 0..100 {
            let d = p.delay(attempt, rng.next_u64());
            assert!(
                d >= cap / 2 && d < cap,
                "{d:?} outside [{:?}, {cap:?})",
                cap / 2
            );
        }
        assert_eq!(p.delay(attempt, 0), cap / 2);
    }
    let full = p.with_jitter(Jitter::Full);
    assert_eq!(full.delay(4, 0), Duration::ZERO);
    assert!(full.delay(4, u64::MAX) < full.cap(4));
}

/// Closures and `FixedBackoff` are policies too.
#[test]
fn other_policies() {
    let linear = |attempt: u32, _: u64| MS(10 * u64::from(attempt));
    assert_eq!(linear.delay(3, 0), MS(30));
    assert_eq!(FixedBackoff(MS(5)).delay(100, u64::MAX), MS(5));
}

/// Invalid options are refused with an error value, never a panic.
#[test]
fn invalid_options_are_errors() {
    for factor in [0.5, 0.0, -2.0, f64::NAN, f64::INFINITY] {
        match ExponentialBackoff::default().with_factor(factor) {
            Err(PoolError::InvalidFactor(_)) => {}
            other => panic!("factor {factor}: {other:?}"),
        }
    }
    let queue = || Arc::new(ThreadSafeTaskQueue::<u64, ()>::new());
    let ok = |_: &taskq::Task<u64, ()>| Ok::<(), String>(());
    let errors = [
        Pool::builder().workers(0).spawn(queue(), ok).unwrap_err(),
        Pool::builder()
            .max_attempts(0)
            .spawn(queue(), ok)
            .unwrap_err(),
        Pool::builder()
            .poll_interval(Duration::ZERO)
            .spawn(queue(), ok)
            .unwrap_err(),
    ];
    assert!(matches!(
        errors,
        [
            PoolError::NoWorkers,
            PoolError::ZeroMaxAttempts,
            PoolError::ZeroPollInterval
        ]
    ));
    for e in &errors {
        assert!(!e.to_string().is_empty());
    }
}

/// A pool over a backend behind `dyn Backend` works: the pool depends on the contract only.
#[test]
fn dyn_backend() {
    let queue = Arc::new(ThreadSafeTaskQueue::<u64, String>::new());
    let backend: Arc<dyn taskq::Backend<u64, String, Error = taskq::MemoryError>> = queue.clone();
    let pool = Pool::builder()
        .workers(2)
        .poll_interval(MS(5))
        .spawn(backend, |task| {
            if task.payload.is_empty() {
                Err("empty")
            } else {
                Ok(())
            }
        })
        .unwrap();
    for id in 0..20 {
        taskq::Backend::enqueue(&*queue, id, 0, "x".repeat(id as usize % 3)).unwrap();
    }
    taskq::TaskQueue::shutdown(&*queue);
    let report = pool.join();
    assert_eq!(report.stats.completed + report.stats.failed, 20);
    assert_eq!(report.stats.failed, 7); // ids 0, 3, ..., 18 have empty payloads
}
