//! One worker thread: lease, run the handler (panics caught), settle the lease exactly once.
//! The rules it keeps are stated at the top of `pool/mod.rs`.

use std::any::Any;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering::Relaxed;
use std::sync::Arc;
use std::thread;
use std::time::{Duration, Instant};

use super::stats::Counters;
use super::{Backoff, Context, Shared, SplitMix64, TaskFailure};
use crate::{Backend, BackendError, ErrorKind, Task, TaskStatus};

/// The handler with its error already turned into its message.
pub(crate) type Handler<K, P> =
    dyn Fn(&Task<K, P>, &Context<'_>) -> Result<(), String> + Send + Sync;

/// What one worker thread needs.
pub(crate) struct Worker<K, P, B: ?Sized> {
    pub(crate) index: usize,
    pub(crate) shared: Arc<Shared<K>>,
    pub(crate) backend: Arc<B>,
    pub(crate) handler: Arc<Handler<K, P>>,
    pub(crate) backoff: Arc<dyn Backoff>,
    pub(crate) max_attempts: u32,
    pub(crate) poll: Duration,
    pub(crate) rng: SplitMix64,
}

/// Why a lease goes back outside the retry policy.
#[derive(Clone, Copy)]
enum HandBack {
    /// Leased after the stop request: never run.
    NotStarted,
    /// Running when the pool was cancelled, and the handler gave up (`Err` or panic).
    Interrupted,
}

/// Counts the worker out when its thread ends, however it ends (a panic outside the handler
/// included), so that a shutdown waiting for the workers is never left waiting for a dead one.
struct ExitGuard<'a, K>(&'a Shared<K>);

impl<K> Drop for ExitGuard<'_, K> {
    fn drop(&mut self) {
        let mut live = super::lock(&self.0.live);
        *live -= 1;
        self.0.exited.notify_all();
    }
}

impl<K, P, B> Worker<K, P, B>
where
    K: Clone + Send + 'static,
    P: Send + 'static,
    B: Backend<K, P> + ?Sized + 'static,
{
    pub(crate) fn run(mut self) {
        let shared = Arc::clone(&self.shared);
        let _exit = ExitGuard(&shared);
        loop {
            if shared.stopping() {
                return;
            }
            let lease = match self.backend.lease(Some(self.poll)) {
                Ok(Some(lease)) => lease,
                Ok(None) => continue, // the poll interval passed: look at the stop flag again
                Err(e) if e.kind() == ErrorKind::ShutDown => return, // shut down and drained
                Err(e) => {
                    shared.backend_error(&e);
                    thread::sleep(self.poll);
                    continue;
                }
            };
            // The stop request may have come while we waited: the lease is ours, not started.
            if shared.stopping() {
                self.hand_back(lease, HandBack::NotStarted, None);
                return;
            }
            self.process(lease);
        }
    }

    /// Runs the handler on one lease and settles the lease exactly once.
    fn process(&mut self, lease: Task<K, P>) {
        let shared = Arc::clone(&self.shared);
        let counters = &shared.counters;
        *super::lock(&shared.in_flight[self.index]) = Some(lease.id.clone());
        counters.running.fetch_add(1, Relaxed);
        Counters::bump(&counters.handler_runs);

        let ctx = Context {
            worker: self.index,
            cancel: &shared.cancel,
        };
        let started = Instant::now();
        let result = catch_unwind(AssertUnwindSafe(|| (self.handler)(&lease, &ctx)));
        shared.latency.record(started.elapsed());
        counters.running.fetch_sub(1, Relaxed);

        let failure = match result {
            Ok(Ok(())) => None,
            Ok(Err(message)) => {
                Counters::bump(&counters.handler_errors);
                Some((message, false))
            }
            Err(payload) => {
                Counters::bump(&counters.panicked);
                Some((panic_message(payload), true))
            }
        };
        match failure {
            None => match self.backend.complete(&lease) {
                Ok(()) => Counters::bump(&counters.completed),
                Err(e) => shared.settle_error(&e),
            },
            Some((message, panicked)) if shared.cancel.is_cancelled() => {
                self.hand_back(lease, HandBack::Interrupted, Some((message, panicked)));
            }
            Some((message, panicked)) => self.failed_attempt(lease, message, panicked),
        }
        *super::lock(&shared.in_flight[self.index]) = None;
    }

    /// A failed attempt: retried after the policy's delay, or failed for good at `max_attempts`.
    fn failed_attempt(&mut self, lease: Task<K, P>, message: String, panicked: bool) {
        let shared = &*self.shared;
        let attempt = lease.attempts.saturating_add(1);
        let failure = |id| TaskFailure {
            id,
            attempts: attempt,
            error: message.clone(),
            panicked,
        };
        if attempt >= self.max_attempts {
            let id = lease.id.clone();
            match self.backend.fail(lease) {
                Ok(()) => shared.failed_for_good(failure(id)),
                Err(e) => shared.settle_error(&e),
            }
            return;
        }
        let random = self.rng.next_u64();
        let backoff = &self.backoff;
        // A policy is user code: one that panics gives no delay rather than a dead worker.
        let delay = catch_unwind(AssertUnwindSafe(|| backoff.delay(attempt, random)))
            .unwrap_or(Duration::ZERO);
        let id = lease.id.clone();
        match self.backend.retry_after(lease, delay) {
            // The backend's own attempt limit may be lower than the pool's.
            Ok(TaskStatus::Failed) => shared.failed_for_good(failure(id)),
            Ok(_) => Counters::bump(&shared.counters.retried),
            Err(e) => shared.settle_error(&e),
        }
    }

    /// Hands a lease back at a shutdown, and records it: unrun with `release` (no attempt
    /// counted), or, for a handler that ran and gave up when cancelled, with `retry` (no delay).
    fn hand_back(&self, lease: Task<K, P>, why: HandBack, failure: Option<(String, bool)>) {
        let shared = &*self.shared;
        let id = lease.id.clone();
        let attempts = lease.attempts.saturating_add(1);
        let handed = match why {
            HandBack::NotStarted => self.backend.release(lease).map(|()| TaskStatus::Queued),
            HandBack::Interrupted => self.backend.retry(lease),
        };
        match handed {
            // `retry` counts an attempt: a backend with a lower limit may fail it for good.
            Ok(TaskStatus::Failed) => {
                let (error, panicked) = failure.unwrap_or_else(|| {
                    (
                        "handed back at shutdown: out of attempts".to_string(),
                        false,
                    )
                });
                shared.failed_for_good(TaskFailure {
                    id,
                    attempts,
                    error,
                    panicked,
                });
            }
            Ok(_) => {
                Counters::bump(&shared.counters.handed_back);
                let mut handed = super::lock(&shared.handed);
                match why {
                    HandBack::NotStarted => handed.not_started.push(id),
                    HandBack::Interrupted => handed.interrupted.push(id),
                }
            }
            Err(e) => shared.settle_error(&e),
        }
    }
}

/// The message of a caught panic: its `&str` or `String` payload, else a placeholder.
fn panic_message(payload: Box<dyn Any + Send>) -> String {
    let message = if let Some(s) = payload.downcast_ref::<&str>() {
        format!("handler panicked: {s}")
    } else if let Some(s) = payload.downcast_ref::<String>() {
        format!("handler panicked: {s}")
    } else {
        "handler panicked (with a payload that is not a string)".to_string()
    };
    // Dropping a payload runs user code: keep a panic there from ending the worker.
    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
    message
}

impl<K> Shared<K> {
    /// A settlement (complete, retry, fail) was refused. A lease someone else ended is counted
    /// as stale: refused as `Stale` (its claim is not current) or as `InvalidState` (the task is
    /// no longer being processed: completed, failed or queued again by someone else, which the
    /// in-memory queue reports so until the task is claimed again).
    fn settle_error<E: BackendError>(&self, e: &E) {
        if matches!(e.kind(), ErrorKind::Stale | ErrorKind::InvalidState) {
            Counters::bump(&self.counters.stale);
        } else {
            self.backend_error(e);
        }
    }

    fn backend_error<E: BackendError>(&self, e: &E) {
        Counters::bump(&self.counters.backend_errors);
        *super::lock(&self.last_backend_error) = Some(e.to_string());
    }

    fn failed_for_good(&self, failure: TaskFailure<K>) {
        Counters::bump(&self.counters.failed);
        self.record_failure(failure);
    }

    fn record_failure(&self, failure: TaskFailure<K>) {
        let mut failures = super::lock(&self.failures);
        if self.failure_retention == 0 {
            failures.dropped += 1;
            return;
        }
        if failures.kept.len() == self.failure_retention {
            failures.kept.pop_front();
            failures.dropped += 1;
        }
        failures.kept.push_back(failure);
    }
}
