//! The backend-contract suite: every rule of [`taskq::Backend`] (leases, fencing, retry and
//! final failure, errors by kind), written once over a [`BackendFactory`]. A test file runs it for
//! a backend with `backend_suite!(name, Factory)`; a backend that lives elsewhere (PostgreSQL)
//! provides its own factory and runs the same suite.

use std::time::Duration;

use taskq::{Backend, BackendError, ErrorKind, TaskStatus};

use super::{Factory, Opts};

/// Builds a backend with `u64` ids and `String` payloads.
pub trait BackendFactory {
    /// The backend.
    type B: Backend<u64, String>;
    /// A fresh, empty backend with these options.
    fn backend(opts: Opts) -> Self::B;
    /// Shuts the backend down (no more enqueues; leases drain what is left).
    fn shut_down(b: &Self::B);
}

impl<F: Factory> BackendFactory for F
where
    F::Q<u64, String>: Backend<u64, String>,
{
    type B = F::Q<u64, String>;
    fn backend(opts: Opts) -> Self::B {
        F::build(opts)
    }
    fn shut_down(b: &Self::B) {
        taskq::TaskQueue::shutdown(b);
    }
}

fn kind<T: std::fmt::Debug, E: BackendError>(r: Result<T, E>) -> ErrorKind {
    r.expect_err("the operation must be refused").kind()
}

const NOW: Option<Duration> = Some(Duration::ZERO);

/// Leases come best first, FIFO among equals; a completed lease is `Completed`; `Ok(None)` when
/// nothing is ready; a duplicate id is refused by kind.
pub fn lease_order_and_complete<F: BackendFactory>() {
    let b = F::backend(Opts::default());
    b.enqueue(1, 1, "low".into()).unwrap();
    b.enqueue(2, 5, "high".into()).unwrap();
    b.enqueue(3, 5, "high2".into()).unwrap();
    assert_eq!(kind(b.enqueue(1, 0, "dup".into())), ErrorKind::Duplicate);
    let order: Vec<u64> = std::iter::from_fn(|| {
        let lease = b.lease(NOW).unwrap()?;
        b.complete(&lease).unwrap();
        Some(lease.id)
    })
    .collect();
    assert_eq!(order, [2, 3, 1]);
    assert!(b.lease(NOW).unwrap().is_none());
    for id in [1, 2, 3] {
        assert_eq!(b.status(&id).unwrap(), Some(TaskStatus::Completed));
    }
    assert_eq!(b.status(&9).unwrap(), None);
}

/// `retry` puts the task back with one more attempt until `max_attempts`, then it is `Failed`;
/// `fail` fails it for good at once; the payload comes back with the retried task.
pub fn retry_until_attempts_then_failed<F: BackendFactory>() {
    let b = F::backend(Opts::default().max_attempts(3));
    b.enqueue(1, 0, "job".into()).unwrap();
    for attempt in 0..3 {
        let lease = b.lease(NOW).unwrap().expect("queued");
        assert_eq!((lease.attempts, lease.payload.as_str()), (attempt, "job"));
        let want = if attempt < 2 {
            TaskStatus::Queued
        } else {
            TaskStatus::Failed
        };
        assert_eq!(b.retry(lease).unwrap(), want);
    }
    assert_eq!(b.status(&1).unwrap(), Some(TaskStatus::Failed));
    b.enqueue(2, 0, "hopeless".into()).unwrap();
    let lease = b.lease(NOW).unwrap().unwrap();
    b.fail(lease).unwrap();
    assert_eq!(b.status(&2).unwrap(), Some(TaskStatus::Failed));
}

/// A stale lease (its task was retried and leased again) cannot complete, retry, fail or
/// heartbeat; the current lease can, once.
pub fn stale_lease_is_refused<F: BackendFactory>() {
    let b = F::backend(Opts::default());
    b.enqueue(1, 0, "job".into()).unwrap();
    let first = b.lease(NOW).unwrap().unwrap();
    b.heartbeat(&first).unwrap();
    assert_eq!(b.retry(first.clone()).unwrap(), TaskStatus::Queued);
    let second = b.lease(NOW).unwrap().unwrap();
    assert_ne!(first.token(), second.token());
    assert_eq!(kind(b.heartbeat(&first)), ErrorKind::Stale);
    assert_eq!(kind(b.complete(&first)), ErrorKind::Stale);
    assert_eq!(kind(b.retry(first.clone())), ErrorKind::Stale);
    assert_eq!(kind(b.fail(first)), ErrorKind::Stale);
    assert_eq!(b.status(&1).unwrap(), Some(TaskStatus::Processing));
    b.heartbeat(&second).unwrap();
    b.complete(&second).unwrap();
    // A lease whose claim has ended is stale too, for every operation on it.
    assert_eq!(kind(b.complete(&second)), ErrorKind::Stale);
    assert_eq!(kind(b.heartbeat(&second)), ErrorKind::Stale);
    assert_eq!(kind(b.retry(second.clone())), ErrorKind::Stale);
    assert_eq!(kind(b.release(second.clone())), ErrorKind::Stale);
    assert_eq!(kind(b.fail(second)), ErrorKind::Stale);
    assert_eq!(b.status(&1).unwrap(), Some(TaskStatus::Completed));
}

/// `release` hands a lease back unrun: queued again in its place (first in line again), no
/// attempt counted; the lease is stale afterwards. `queued` counts the ready tasks (if the
/// backend can tell).
pub fn release_hands_back_without_an_attempt<F: BackendFactory>() {
    let b = F::backend(Opts::default().max_attempts(1));
    b.enqueue(1, 5, "first".into()).unwrap();
    b.enqueue(2, 5, "second".into()).unwrap();
    let counted = b.queued().unwrap();
    assert!(counted.is_none() || counted == Some(2), "{counted:?}");
    let lease = b.lease(NOW).unwrap().unwrap();
    assert_eq!(lease.id, 1);
    b.release(lease.clone()).unwrap();
    assert_eq!(kind(b.complete(&lease)), ErrorKind::Stale);
    assert_eq!(b.status(&1).unwrap(), Some(TaskStatus::Queued));
    // With one attempt allowed, a counted attempt would have failed it: it is leased again,
    // still at attempt 0, and still ahead of task 2.
    let again = b.lease(NOW).unwrap().unwrap();
    assert_eq!(
        (again.id, again.attempts, again.payload.as_str()),
        (1, 0, "first")
    );
    b.complete(&again).unwrap();
}

/// After shutdown, leases drain what is queued, then report `ShutDown` by kind; enqueues are
/// refused by kind.
pub fn shutdown_drains_then_reports_shutdown<F: BackendFactory>() {
    let b = F::backend(Opts::default());
    b.enqueue(1, 0, "a".into()).unwrap();
    F::shut_down(&b);
    assert_eq!(kind(b.enqueue(2, 0, "b".into())), ErrorKind::ShutDown);
    let lease = b.lease(None).unwrap().expect("queued before the shutdown");
    b.complete(&lease).unwrap();
    assert_eq!(kind(b.lease(None)), ErrorKind::ShutDown);
    assert_eq!(kind(b.lease(NOW)), ErrorKind::ShutDown);
}

/// Runs the backend-contract suite against one backend: `backend_suite!(name, Factory)`.
macro_rules! backend_suite {
    ($name:ident, $factory:ty) => {
        mod $name {
            $crate::common::backend::backend_suite!(@tests $factory;
                lease_order_and_complete,
                retry_until_attempts_then_failed,
                stale_lease_is_refused,
                release_hands_back_without_an_attempt,
                shutdown_drains_then_reports_shutdown);
        }
    };
    (@tests $factory:ty; $($test:ident),+) => {
        $(
            #[test]
            fn $test() {
                let _watchdog = $crate::common::watchdog!($test);
                $crate::common::backend::$test::<$factory>();
            }
        )+
    };
}
pub(crate) use backend_suite;
