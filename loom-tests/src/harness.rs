//! Running a loom model: the preemption bound, counting the interleavings explored, building a
//! queue of any strategy, running a model on a deliberate bug (in a child process whose
//! `TASKQ_MUTANT` names it), and the end-state checks.
#![cfg(taskq_loom)]

use std::collections::BTreeSet;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;

use taskq::strategy::Waiting;
use taskq::{TaskQueue, TaskStatus};

/// The preemption bound used when `LOOM_MAX_PREEMPTIONS` is not set: loom's default (no bound)
/// does not finish in reasonable time on these models.
pub const DEFAULT_PREEMPTIONS: usize = 2;

/// The environment variable that taskq (built with `--cfg taskq_loom`) reads once per process to
/// pick the deliberate bug to switch on. Only ever set on a child process of [`expect_caught`].
pub const MUTANT_VAR: &str = "TASKQ_MUTANT";

/// The start of taskq's panic message for a `TASKQ_MUTANT` that names no mutant.
const UNKNOWN_MUTANT: &str = "unknown TASKQ_MUTANT";

/// How a model wants its queue built.
#[derive(Debug, Clone, Copy, Default)]
pub struct Cfg {
    /// `Builder::capacity`.
    pub capacity: Option<usize>,
    /// `Builder::max_attempts`.
    pub max_attempts: Option<u32>,
}

/// A strategy the models can build: [`taskq::Queue`] over any waiting strategy, with `u64` ids
/// and payloads.
pub trait LoomQueue: TaskQueue<u64, u64> + Sized + 'static {
    /// The strategy's name, for reports (`Waiting::NAME`: "mutex", "rwlock", "channel").
    const NAME: &'static str;
    /// Builds an empty queue as `cfg` says.
    fn build(cfg: Cfg) -> Self;
    /// The queue's internal invariants: the inherent `Queue::check_invariants` (named apart from
    /// it, so that this can never resolve to itself).
    fn invariants(&self) -> Result<(), String>;
}

impl<W: Waiting> LoomQueue for taskq::Queue<u64, u64, W>
where
    Self: TaskQueue<u64, u64>,
{
    const NAME: &'static str = W::NAME;

    fn build(cfg: Cfg) -> Self {
        let mut builder = Self::builder();
        if let Some(capacity) = cfg.capacity {
            builder = builder.capacity(capacity);
        }
        if let Some(max_attempts) = cfg.max_attempts {
            builder = builder.max_attempts(max_attempts);
        }
        builder.build().expect("the models build valid queues")
    }

    fn invariants(&self) -> Result<(), String> {
        self.check_invariants()
    }
}

/// The iteration the current model is in; meaningful only in a process that runs one model (the
/// child process of [`expect_caught`]).
static ITERATION: AtomicUsize = AtomicUsize::new(0);

/// Set in the child process that [`expect_caught`] runs a mutant's model in.
const CHILD: &str = "TASKQ_LOOM_MUTANT_CHILD";

/// Marks the line the child process prints when a model fails.
const CAUGHT: &str = "loom: caught at iteration ";

/// Marks the line the child process prints when it fails outside the model: before the model
/// started, or because taskq refused its `TASKQ_MUTANT`.
const OUTSIDE: &str = "loom: child failed outside the model: ";

/// Whether this process is the child process of [`expect_caught`] (running one mutant's model).
pub fn in_child() -> bool {
    std::env::var_os(CHILD).is_some()
}

/// The outcome of exploring one model.
#[derive(Debug)]
pub struct Explored {
    /// Interleavings (loom iterations) run, including a failing one.
    pub iterations: usize,
    /// The panic message if some interleaving failed (assertion, deadlock, leak).
    pub failure: Option<String>,
}

/// A panic's message, if it has one (`panic!` gives a `String` or a `&str`).
fn message_of(panic: &(dyn std::any::Any + Send)) -> Option<&str> {
    panic
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| panic.downcast_ref::<&str>().copied())
}

/// Explores every interleaving of `model` (within the preemption bound) and reports how many it
/// ran and whether one failed. Prints one line per model to stderr.
///
/// Outside the child process of [`expect_caught`], `TASKQ_MUTANT` must not be set: the models
/// run on the real code there.
pub fn explore<F>(name: &str, model: F) -> Explored
where
    F: Fn() + Send + Sync + 'static,
{
    explore_capped(name, usize::MAX, model)
}

/// [`explore`] with the preemption bound capped at `cap`, for a model with four threads whose
/// state space at the suite's bound would take minutes.
pub fn explore_capped<F>(name: &str, cap: usize, model: F) -> Explored
where
    F: Fn() + Send + Sync + 'static,
{
    if !in_child() {
        if let Some(mutant) = std::env::var_os(MUTANT_VAR) {
            panic!(
                "{MUTANT_VAR}={mutant:?} is set: the models run on the real code; unset it \
                 (the mutant tests set it on their child processes only)"
            );
        }
    }
    let counter = std::sync::Arc::new(AtomicUsize::new(0));
    let mut builder = loom::model::Builder::new();
    let bound = builder.preemption_bound.unwrap_or(DEFAULT_PREEMPTIONS);
    builder.preemption_bound = Some(bound.min(cap));
    let bound = builder.preemption_bound;
    let start = Instant::now();
    let count = std::sync::Arc::clone(&counter);
    let result = catch_unwind(AssertUnwindSafe(|| {
        builder.check(move || {
            let n = count.fetch_add(1, Ordering::Relaxed) + 1;
            ITERATION.store(n, Ordering::Relaxed);
            model();
        })
    }));
    let explored = Explored {
        iterations: counter.load(Ordering::Relaxed),
        failure: result.err().map(|panic| {
            message_of(&*panic)
                .unwrap_or("non-string panic")
                .to_string()
        }),
    };
    eprintln!(
        "loom: {name}: {} in {} iterations, {:.2?} (preemption bound {bound:?})",
        if explored.failure.is_some() {
            "FAILED"
        } else {
            "ok"
        },
        explored.iterations,
        start.elapsed(),
    );
    explored
}

/// Runs a model that must pass: panics with loom's message if any interleaving fails.
pub fn check<F>(name: &str, model: F)
where
    F: Fn() + Send + Sync + 'static,
{
    if let Some(failure) = explore(name, model).failure {
        panic!("model {name} failed: {failure}");
    }
}

/// Makes taskq read `TASKQ_MUTANT` outside the model under test: one add on a fresh queue, in a
/// one-thread loom run, reaches a mutant site (every write does). An unknown name panics here,
/// before the model under test starts, so it fails the child outside the model.
fn resolve_mutant() {
    loom::model(|| {
        let q = taskq::ThreadSafeTaskQueue::<u64, u64>::builder()
            .build()
            .unwrap();
        q.add_task(0, 0, 0).unwrap();
    });
}

/// Runs a model on the mutant named `mutant` (a name from taskq's `src/mutant.rs`), which it must
/// catch, and fails if every interleaving passes.
///
/// The mutant is chosen per process by `TASKQ_MUTANT`, and loom reports a deadlock by panicking
/// (the unwinding then panics again inside loom, which aborts the process); so the model runs in
/// a child process (this test binary, running only the test `test`) with `TASKQ_MUTANT=mutant` in
/// its environment only, and the mutant counts as caught when the child failed *in the model*: a
/// panic hook marks the first failure with the iteration it happened in. A child that failed
/// otherwise (before the model started, or because taskq refused the name, wherever it read it)
/// is an error, never a catch.
pub fn expect_caught(test: &str, mutant: &str, run: impl FnOnce() -> Explored) {
    if in_child() {
        assert_eq!(
            std::env::var(MUTANT_VAR).as_deref(),
            Ok(mutant),
            "the child process runs with {MUTANT_VAR} set to its mutant"
        );
        // Installed before loom first runs: loom's coroutines (the `generator` crate) then wrap
        // it, once per process, in a hook that hides their control-flow panics from it.
        std::panic::set_hook(Box::new(|info| {
            // Those control-flow panics carry no message; no failure of a model is one of them.
            let Some(message) = message_of(info.payload()) else {
                return;
            };
            let iteration = ITERATION.load(Ordering::Relaxed);
            if iteration == 0 || message.starts_with(UNKNOWN_MUTANT) {
                eprintln!("{OUTSIDE}{message}");
            } else {
                let first = message.lines().next().unwrap_or("");
                eprintln!("{CAUGHT}{iteration}: {first}");
            }
        }));
        resolve_mutant();
        let explored = run();
        let _ = std::panic::take_hook();
        if let Some(failure) = explored.failure {
            panic!("caught: {failure}");
        }
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, "1")
        .env(MUTANT_VAR, mutant)
        .output()
        .expect("run the model in a child process");
    let stderr = String::from_utf8_lossy(&output.stderr);
    let outside = stderr.lines().any(|l| l.starts_with(OUTSIDE));
    let caught = stderr.lines().find(|l| l.starts_with(CAUGHT));
    match (output.status.success(), caught) {
        (false, Some(line)) if !outside => eprintln!(
            "loom: mutant {mutant} ({test}) caught at iteration {}",
            &line[CAUGHT.len()..]
        ),
        (true, _) => {
            panic!("mutant {mutant} survived ({test}): the model does not bite\n{stderr}")
        }
        (false, _) => panic!(
            "the child process for {test} (mutant {mutant}) failed outside the model:\n{stderr}"
        ),
    }
}

/// The end-state checks every model ends with: the invariants hold, every id in `ids` is in
/// exactly one state (`get_status`, the snapshot and the counts agree), and `len()` is the number
/// of queued ids. Returns each id's status.
pub fn assert_consistent<Q: LoomQueue>(q: &Q, ids: &[u64]) -> Vec<TaskStatus> {
    if let Err(e) = q.invariants() {
        panic!("invariants broken: {e}");
    }
    let snapshot = q.snapshot();
    let queued: Vec<u64> = snapshot.queued.iter().map(|t| t.id).collect();
    let processing: Vec<u64> = snapshot.processing.iter().map(|t| t.id).collect();
    let statuses: Vec<TaskStatus> = ids
        .iter()
        .map(|id| {
            let status = q
                .get_status(id)
                .unwrap_or_else(|| panic!("task {id} was lost"));
            let in_queued = queued.iter().filter(|&&x| x == *id).count();
            let in_processing = processing.iter().filter(|&&x| x == *id).count();
            let finished: Vec<TaskStatus> = snapshot
                .finished
                .iter()
                .filter(|f| f.id == *id)
                .map(|f| f.status)
                .collect();
            assert_eq!(
                in_queued + in_processing + finished.len(),
                1,
                "task {id} is in the snapshot {} times",
                in_queued + in_processing + finished.len()
            );
            match status {
                TaskStatus::Queued => assert_eq!(in_queued, 1, "task {id} queued"),
                TaskStatus::Processing => assert_eq!(in_processing, 1, "task {id} processing"),
                s => assert_eq!(finished, [s], "task {id} finished"),
            }
            status
        })
        .collect();
    let queued_ids: BTreeSet<u64> = ids
        .iter()
        .zip(&statuses)
        .filter(|(_, s)| **s == TaskStatus::Queued)
        .map(|(id, _)| *id)
        .collect();
    assert_eq!(q.len(), queued_ids.len(), "len() is not the queued count");
    assert_eq!(
        queued.iter().copied().collect::<BTreeSet<_>>(),
        queued_ids,
        "the snapshot's queued ids are not the Queued ids"
    );
    let stats = q.stats();
    let count = |s: TaskStatus| statuses.iter().filter(|&&x| x == s).count();
    assert_eq!(stats.queued, count(TaskStatus::Queued));
    assert_eq!(stats.processing, count(TaskStatus::Processing));
    assert_eq!(stats.completed, count(TaskStatus::Completed));
    assert_eq!(stats.cancelled, count(TaskStatus::Cancelled));
    assert_eq!(stats.failed, count(TaskStatus::Failed));
    statuses
}
