//! Running a loom model: the preemption bound, counting the interleavings explored, building a
//! queue of any strategy, running a model in a child process of its own (on the real code, or on
//! a deliberate bug that the child's `TASKQ_MUTANT` names), and the end-state checks.
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
#[derive(Debug, Clone, Default)]
pub struct Cfg {
    /// `Builder::capacity`.
    pub capacity: Option<usize>,
    /// `Builder::max_attempts`.
    pub max_attempts: Option<u32>,
    /// `Builder::clock`: a [`ManualClock`](taskq::ManualClock)'s, created inside the model (its
    /// time is a loom atomic), for a model with a timer thread. Default: the system clock, on
    /// which a finite timeout expires at once under loom.
    pub clock: Option<taskq::Clock>,
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
    /// The timer thread's second step, after it advanced the queue's manual clock: the inherent
    /// `Queue::wake_sleepers` (every sleeper re-checks its deadline).
    fn time_moved(&self);
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
        if let Some(clock) = cfg.clock {
            builder = builder.clock(clock);
        }
        builder.build().expect("the models build valid queues")
    }

    fn invariants(&self) -> Result<(), String> {
        self.check_invariants()
    }

    fn time_moved(&self) {
        taskq::Queue::wake_sleepers(self);
    }
}

/// The iteration the current model is in; meaningful only in a process that runs one model (the
/// child process of [`expect_pass`] or [`expect_caught`]).
static ITERATION: AtomicUsize = AtomicUsize::new(0);

/// Set in the child process that [`expect_caught`] runs a mutant's model in.
const CHILD: &str = "TASKQ_LOOM_MUTANT_CHILD";

/// Set in the child process that [`expect_pass`] runs a model in.
const MODEL_CHILD: &str = "TASKQ_LOOM_MODEL_CHILD";

/// Marks the line the child process prints when a model fails.
const CAUGHT: &str = "loom: caught at iteration ";

/// Marks the line the child process of [`expect_pass`] prints when its model fails.
const FAILED: &str = "loom: failed at iteration ";

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

/// Runs a model that must pass, in a child process of its own (this test binary, running only
/// the test `test`), and fails with the child's output if the child failed.
///
/// loom reports a deadlock by panicking, and the unwinding then panics again inside loom, which
/// aborts the process: run in the test binary's own process, one deadlocked model would take every
/// test after it down with it. In a child, it fails its own test only, which names the model and
/// the iteration; the other tests run on. The child's `loom:` lines (the interleavings explored)
/// are passed on to this process's stderr.
pub fn expect_pass(test: &str, run: impl FnOnce() -> Explored) {
    if std::env::var_os(MODEL_CHILD).is_some() {
        // Installed before loom first runs, as in `expect_caught`: it marks each failure with the
        // iteration it happened in and prints the whole message, before a deadlock's second
        // panic aborts the process.
        std::panic::set_hook(Box::new(|info| {
            let Some(message) = message_of(info.payload()) else {
                return;
            };
            let at = info
                .location()
                .map(|l| format!(" (at {}:{})", l.file(), l.line()))
                .unwrap_or_default();
            let iteration = ITERATION.load(Ordering::Relaxed);
            eprintln!("{FAILED}{iteration}{at}: {message}");
        }));
        let explored = run();
        let _ = std::panic::take_hook();
        if let Some(failure) = explored.failure {
            panic!(
                "model failed after {} iterations: {failure}",
                explored.iterations
            );
        }
        assert!(explored.iterations > 0, "loom explored nothing");
        return;
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let output = std::process::Command::new(exe)
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(MODEL_CHILD, "1")
        .output()
        .expect("run the model in a child process");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    // `--exact` with a name that matches no test runs nothing and passes: make sure it ran.
    let ran = stdout.contains("test result: ok. 1 passed");
    if output.status.success() && ran {
        for line in stderr.lines().filter(|l| l.starts_with("loom: ")) {
            eprintln!("{line}");
        }
        return;
    }
    let why = if output.status.success() {
        "the child process ran no test of that name".to_string()
    } else {
        stderr
            .lines()
            .find(|l| l.starts_with(FAILED))
            .map(str::to_string)
            .unwrap_or_else(|| format!("the child process failed ({})", output.status))
    };
    panic!("model {test}: {why}\n--- the child's stderr:\n{stderr}--- its stdout:\n{stdout}");
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
