//! A staged pipeline over taskq queues: inputs go through stages (each with its own worker
//! threads and a bounded queue in front of it), and results come out in input order.
//!
//! - [`Pipeline`] wires the stages: `Pipeline::new().stage(..).stage(..).run(inputs, sink)`.
//!   Each stage is a function `Fn(In, &StageContext) -> Result<Out, E>`, typed: one stage's
//!   output is the next one's input.
//! - [`ReorderBuffer`] puts results that finish out of order back in input order; the pipeline
//!   bounds it (its *window*), and with it every item in flight.
//! - [`FanOut`] lets one stage split an item into chunks that run on a worker
//!   [`Pool`](crate::pool::Pool) (with retries and backoff) and join their results.
//! - [`Control`] watches a running pipeline (progress per stage) and stops it from another thread.
//!
//! # Rules
//!
//! - **Backpressure.** Each stage's input is a [`ThreadSafeTaskQueue`] bounded by
//!   [`Stage::capacity`]: a stage whose next stage is behind blocks in `add_task`, and the
//!   feeder blocks when the first stage is full. Besides, the feeder admits input `n` only once
//!   the output has reached `n - window` ([`Pipeline::window`]), so the items in flight (queued,
//!   running, or finished and waiting for their turn in the reorder buffer) are never more than
//!   the window, plus the one the sink is handling.
//! - **In order.** Items are numbered as they are taken from the input (0, 1, 2, …) and the sink
//!   gets them in that order. Each stage's queue hands out the oldest item first (priority
//!   `-seq`), so the item the output waits for is never behind younger ones.
//! - **The first error stops every stage.** A stage function's `Err` or panic (caught) fails its
//!   item and stops the pipeline: nothing more is admitted, the items waiting in any stage's
//!   queue are cancelled ([`TaskQueue::shutdown_now`]), running stage functions see
//!   [`StageContext::is_cancelled`] (what they return goes no further than the next stage's
//!   closed queue, except from the last stage), and the results that reach the end are still
//!   delivered in order up to the first gap. [`Control::abort`] does the same
//!   from outside; [`Control::stop`] only stops admitting inputs, and everything admitted
//!   finishes.
//! - **Every item is accounted for.** The [`PipelineReport`] puts each input in exactly one of:
//!   `done` (delivered to the sink), `failed` (its stage function failed), `cancelled` (in flight
//!   when the pipeline stopped: queued, interrupted, or finished but held behind an item that
//!   never finished), `never_started` (not admitted). [`PipelineReport::accounted`] is their sum,
//!   and equals `items_in`.
//!
//! # Example
//!
//! ```
//! use taskq::pipeline::{Pipeline, Stage, StageContext};
//!
//! let mut out = Vec::new();
//! let report = Pipeline::new()
//!     .stage(Stage::new("parse").workers(2), |s: &str, _: &StageContext<'_>| {
//!         s.parse::<u64>().map_err(|e| format!("{s:?}: {e}"))
//!     })
//!     .stage(Stage::new("square").workers(3).capacity(4), |n: u64, _: &StageContext<'_>| {
//!         Ok::<_, String>(n * n)
//!     })
//!     .run(["1", "2", "3", "4"], |_seq, n| out.push(n))?;
//! assert_eq!(out, [1, 4, 9, 16]);
//! assert_eq!((report.items_in, report.done), (4, 4));
//!
//! // The first error stops everything; every item is accounted for.
//! let report = Pipeline::new()
//!     .stage(Stage::new("parse"), |s: &str, _: &StageContext<'_>| s.parse::<u64>())
//!     .run(["1", "x", "3"], |_, _| {})?;
//! assert_eq!(report.failed[0].seq, 1);
//! assert_eq!(report.failed[0].error, "invalid digit found in string");
//! assert_eq!(report.accounted(), report.items_in);
//! # Ok::<(), taskq::pipeline::PipelineError>(())
//! ```

mod fanout;
mod reorder;

pub use self::fanout::{FanOut, FanOutError};
pub use self::reorder::{ReorderBuffer, ReorderError};

use std::any::Any;
use std::error::Error;
use std::fmt;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, PoisonError};
use std::thread;
use std::time::{Duration, Instant};

use self::fanout::panic_message;
use crate::pool::CancelToken;
use crate::{Retention, Task, TaskQueue, ThreadSafeTaskQueue};

/// An item between stages, its type erased (the builder's types guarantee what it is).
type AnyItem = Box<dyn Any + Send>;
/// A stage function, its types erased.
type StageFn<'a> = dyn Fn(AnyItem, &StageContext<'_>) -> Result<AnyItem, String> + Send + Sync + 'a;

/// How often the thread running [`Pipeline::run`] looks at the [`Control`]'s requests while it
/// has nothing to deliver.
const CONTROL_POLL: Duration = Duration::from_millis(20);

/// Locks, ignoring poison: no critical section here leaves its data inconsistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A stage's options: its name (in reports and progress), its worker threads and the bound on
/// the queue in front of it. The function is given with it to [`Pipeline::stage`].
///
/// ```
/// use taskq::pipeline::Stage;
///
/// let stage = Stage::new("inference").workers(4).capacity(32);
/// assert_eq!((stage.name(), stage.worker_count(), stage.queue_capacity()), ("inference", 4, 32));
/// ```
#[derive(Debug, Clone)]
pub struct Stage {
    name: String,
    workers: usize,
    capacity: usize,
}

impl Stage {
    /// A stage with one worker and room for 16 queued items.
    ///
    /// ```
    /// let stage = taskq::pipeline::Stage::new("decode");
    /// assert_eq!((stage.worker_count(), stage.queue_capacity()), (1, 16));
    /// ```
    pub fn new(name: impl Into<String>) -> Self {
        Stage {
            name: name.into(),
            workers: 1,
            capacity: 16,
        }
    }

    /// How many threads run this stage's function (at least 1: [`PipelineError::NoWorkers`]).
    ///
    /// ```
    /// assert_eq!(taskq::pipeline::Stage::new("s").workers(3).worker_count(), 3);
    /// ```
    pub fn workers(mut self, workers: usize) -> Self {
        self.workers = workers;
        self
    }

    /// How many items may wait in the queue in front of this stage (at least 1:
    /// [`PipelineError::ZeroCapacity`]); the stage before it blocks while it is full.
    ///
    /// ```
    /// assert_eq!(taskq::pipeline::Stage::new("s").capacity(8).queue_capacity(), 8);
    /// ```
    pub fn capacity(mut self, capacity: usize) -> Self {
        self.capacity = capacity;
        self
    }

    /// The stage's name.
    ///
    /// ```
    /// assert_eq!(taskq::pipeline::Stage::new("post").name(), "post");
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Its worker threads.
    ///
    /// ```
    /// assert_eq!(taskq::pipeline::Stage::new("s").worker_count(), 1);
    /// ```
    pub fn worker_count(&self) -> usize {
        self.workers
    }

    /// The bound on its queue.
    ///
    /// ```
    /// assert_eq!(taskq::pipeline::Stage::new("s").queue_capacity(), 16);
    /// ```
    pub fn queue_capacity(&self) -> usize {
        self.capacity
    }
}

/// What a stage function gets besides its item: where it runs, and the pipeline's cancellation
/// flag (raised when the pipeline stops early), for long functions to check and to pass on (to
/// [`FanOut::run`], for instance).
///
/// ```
/// use taskq::pipeline::StageContext;
/// use taskq::pool::CancelToken;
///
/// // Stage functions are plain functions: test them with a context of your own.
/// fn double(x: u32, ctx: &StageContext<'_>) -> Result<u32, String> {
///     if ctx.is_cancelled() { Err("cancelled".into()) } else { Ok(2 * x) }
/// }
/// let token = CancelToken::new();
/// assert_eq!(double(4, &StageContext::new("double", 0, 0, 7, &token)), Ok(8));
/// ```
#[derive(Debug, Clone, Copy)]
pub struct StageContext<'a> {
    stage: &'a str,
    index: usize,
    worker: usize,
    seq: u64,
    cancel: &'a CancelToken,
}

impl<'a> StageContext<'a> {
    /// A context for stage `stage` (number `index`, from 0), worker `worker`, item `seq`, with
    /// the flag `cancel` (for calling stage functions outside a pipeline, in tests).
    ///
    /// ```
    /// use taskq::{pipeline::StageContext, pool::CancelToken};
    ///
    /// let token = CancelToken::new();
    /// let ctx = StageContext::new("post", 2, 1, 41, &token);
    /// assert_eq!((ctx.stage(), ctx.stage_index(), ctx.worker(), ctx.seq()), ("post", 2, 1, 41));
    /// ```
    pub fn new(
        stage: &'a str,
        index: usize,
        worker: usize,
        seq: u64,
        cancel: &'a CancelToken,
    ) -> Self {
        StageContext {
            stage,
            index,
            worker,
            seq,
            cancel,
        }
    }

    /// The stage's name.
    ///
    /// ```
    /// # let token = taskq::pool::CancelToken::new();
    /// let ctx = taskq::pipeline::StageContext::new("decode", 0, 0, 0, &token);
    /// assert_eq!(ctx.stage(), "decode");
    /// ```
    pub fn stage(&self) -> &str {
        self.stage
    }

    /// The stage's position in the pipeline, from 0.
    ///
    /// ```
    /// # let token = taskq::pool::CancelToken::new();
    /// let ctx = taskq::pipeline::StageContext::new("post", 2, 0, 0, &token);
    /// assert_eq!(ctx.stage_index(), 2);
    /// ```
    pub fn stage_index(&self) -> usize {
        self.index
    }

    /// The worker running the function (`0..workers` of this stage).
    ///
    /// ```
    /// # let token = taskq::pool::CancelToken::new();
    /// let ctx = taskq::pipeline::StageContext::new("s", 0, 3, 0, &token);
    /// assert_eq!(ctx.worker(), 3);
    /// ```
    pub fn worker(&self) -> usize {
        self.worker
    }

    /// The item's sequence number: its position in the input, from 0.
    ///
    /// ```
    /// # let token = taskq::pool::CancelToken::new();
    /// let ctx = taskq::pipeline::StageContext::new("s", 0, 0, 17, &token);
    /// assert_eq!(ctx.seq(), 17);
    /// ```
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Whether the pipeline is stopping early (an error, or [`Control::abort`]): the item's
    /// result will almost surely be dropped (only the last stage's results can still be
    /// delivered, in order up to the first gap), so a long function may give up (return `Err`;
    /// it is then counted as cancelled, not failed).
    ///
    /// ```
    /// let token = taskq::pool::CancelToken::new();
    /// let ctx = taskq::pipeline::StageContext::new("s", 0, 0, 0, &token);
    /// assert!(!ctx.is_cancelled());
    /// token.cancel(); // what the pipeline does when it stops early
    /// assert!(ctx.is_cancelled());
    /// ```
    pub fn is_cancelled(&self) -> bool {
        self.cancel.is_cancelled()
    }

    /// The flag itself, to hand to work the function starts (e.g. [`FanOut::run`]).
    ///
    /// ```
    /// let token = taskq::pool::CancelToken::new();
    /// let ctx = taskq::pipeline::StageContext::new("s", 0, 0, 0, &token);
    /// let for_helpers = ctx.cancel_token().clone();
    /// token.cancel();
    /// assert!(for_helpers.is_cancelled());
    /// ```
    pub fn cancel_token(&self) -> &CancelToken {
        self.cancel
    }
}

/// A pipeline being put together: its stages so far take `In` and give `Out`. Made by
/// [`Pipeline::new`], extended by [`stage`](Self::stage), started by [`run`](Self::run).
/// See the [module documentation](self) for its rules.
///
/// `'a` is the lifetime of what the stage functions borrow: the stages run on scoped threads, so
/// they may borrow from the caller (a [`FanOut`], a configuration).
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext};
///
/// let scale = 10; // borrowed by a stage
/// let mut out = Vec::new();
/// Pipeline::new()
///     .stage(Stage::new("scale").workers(2), |x: u32, _: &StageContext<'_>| Ok::<_, String>(x * scale))
///     .stage(Stage::new("show"), |x: u32, _: &StageContext<'_>| Ok::<_, String>(x.to_string()))
///     .run(1..=3, |_, s| out.push(s))?;
/// assert_eq!(out, ["10", "20", "30"]);
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
pub struct Pipeline<'a, In, Out> {
    stages: Vec<StageSpec<'a>>,
    window: Option<usize>,
    count_unstarted: bool,
    control: Control,
    _types: PhantomData<fn(In) -> Out>,
}

struct StageSpec<'a> {
    stage: Stage,
    f: Box<StageFn<'a>>,
    counters: Arc<StageCounters>,
}

impl<'a, In: Send + 'static> Pipeline<'a, In, In> {
    /// A pipeline with no stages yet.
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let mut out = Vec::new();
    /// Pipeline::new()
    ///     .stage(Stage::new("upper"), |s: String, _: &StageContext<'_>| Ok::<_, String>(s.to_uppercase()))
    ///     .run(vec!["a".to_string(), "b".to_string()], |_, s| out.push(s))?;
    /// assert_eq!(out, ["A", "B"]);
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    #[allow(clippy::new_without_default)]
    pub fn new() -> Self {
        Pipeline {
            stages: Vec::new(),
            window: None,
            count_unstarted: true,
            control: Control::default(),
            _types: PhantomData,
        }
    }
}

impl<'a, In: Send + 'static, Out: Send + 'static> Pipeline<'a, In, Out> {
    /// Adds a stage that runs `f` on each item, on `stage`'s worker threads. `f`'s `Err` (any
    /// `Display` type: its message is kept) or panic fails the item and stops the pipeline.
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let mut total = 0;
    /// let report = Pipeline::new()
    ///     .stage(Stage::new("len").workers(2), |s: &str, _: &StageContext<'_>| Ok::<_, String>(s.len()))
    ///     .run(["ab", "cde"], |_, n| total += n)?;
    /// assert_eq!((total, report.done), (5, 2));
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn stage<Next, E, F>(mut self, stage: Stage, f: F) -> Pipeline<'a, In, Next>
    where
        Next: Send + 'static,
        E: fmt::Display,
        F: Fn(Out, &StageContext<'_>) -> Result<Next, E> + Send + Sync + 'a,
    {
        let erased = move |item: AnyItem, ctx: &StageContext<'_>| -> Result<AnyItem, String> {
            let item = *item
                .downcast::<Out>()
                .expect("each stage gets the type the one before it gives");
            match f(item, ctx) {
                Ok(next) => Ok(Box::new(next)),
                Err(e) => Err(e.to_string()),
            }
        };
        let counters = Arc::new(StageCounters {
            name: stage.name.clone(),
            workers: stage.workers,
            ..StageCounters::default()
        });
        lock(&self.control.shared.stages).push(Arc::clone(&counters));
        self.stages.push(StageSpec {
            stage,
            f: Box::new(erased),
            counters,
        });
        Pipeline {
            stages: self.stages,
            window: self.window,
            count_unstarted: self.count_unstarted,
            control: self.control,
            _types: PhantomData,
        }
    }

    /// The reorder window: at most this many items are in flight at once (at least 1:
    /// [`PipelineError::ZeroWindow`]). Default: every stage's capacity plus its workers, plus one,
    /// which never holds back an item that some stage has room for.
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let mut out = Vec::new();
    /// Pipeline::new()
    ///     .stage(Stage::new("id").workers(4), |x: u32, _: &StageContext<'_>| Ok::<_, String>(x))
    ///     .window(2) // at most two items in flight
    ///     .run(0..10, |_, x| out.push(x))?;
    /// assert_eq!(out, (0..10).collect::<Vec<_>>());
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn window(mut self, window: usize) -> Self {
        self.window = Some(window);
        self
    }

    /// Whether, after an early stop, the inputs not admitted are counted by running the input
    /// iterator to its end (without processing them), so that
    /// [`never_started`](PipelineReport::never_started) and
    /// [`items_in`](PipelineReport::items_in) cover the whole input. Default `true`; set it to
    /// `false` for an endless input (they then count only the input taken when it stopped).
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let report = Pipeline::new()
    ///     .stage(Stage::new("check"), |x: u64, _: &StageContext<'_>| if x < 3 { Ok(x) } else { Err("too big") })
    ///     .window(1)
    ///     .count_unstarted(false)
    ///     .run(0.., |_, _| {})?; // endless input: only what was taken is counted
    /// assert_eq!(report.failed[0].seq, 3);
    /// assert_eq!(report.accounted(), report.items_in);
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn count_unstarted(mut self, count: bool) -> Self {
        self.count_unstarted = count;
        self
    }

    /// A handle to watch this pipeline's progress and stop it from another thread (clone it
    /// into the thread; take it before [`run`](Self::run), which blocks).
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let pipeline = Pipeline::new()
    ///     .stage(Stage::new("a").workers(2), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x));
    /// let control = pipeline.control();
    /// assert_eq!(control.progress().stages[0].name, "a");
    /// pipeline.run(0..3u8, |_, _| {})?;
    /// assert_eq!(control.progress().emitted, 3);
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn control(&self) -> Control {
        self.control.clone()
    }

    /// Runs the pipeline: takes the inputs one by one (on a thread of its own), pushes them
    /// through the stages, and calls `sink` with each result, in input order, on the calling
    /// thread; returns when every input is accounted for. A panic in `sink` stops the pipeline
    /// like a stage error (the item is failed at stage `"output"`). Invalid options are refused
    /// before anything starts.
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, PipelineError, Stage, StageContext};
    ///
    /// let err = Pipeline::new()
    ///     .stage(Stage::new("s").workers(0), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x))
    ///     .run([1], |_, _| {})
    ///     .unwrap_err();
    /// assert!(matches!(err, PipelineError::NoWorkers { stage } if stage == "s"));
    /// ```
    pub fn run<I, S>(self, inputs: I, sink: S) -> Result<PipelineReport, PipelineError>
    where
        I: IntoIterator<Item = In>,
        I::IntoIter: Send,
        S: FnMut(u64, Out),
    {
        if self.stages.is_empty() {
            return Err(PipelineError::NoStages);
        }
        for spec in &self.stages {
            if spec.stage.workers == 0 {
                return Err(PipelineError::NoWorkers {
                    stage: spec.stage.name.clone(),
                });
            }
            if spec.stage.capacity == 0 {
                return Err(PipelineError::ZeroCapacity {
                    stage: spec.stage.name.clone(),
                });
            }
        }
        let window = self.window.unwrap_or_else(|| {
            self.stages
                .iter()
                .map(|s| s.stage.capacity.saturating_add(s.stage.workers))
                .fold(1usize, usize::saturating_add)
        });
        if window == 0 {
            return Err(PipelineError::ZeroWindow);
        }
        let run = Run::new(self.stages, window, self.control.shared);
        run.run(inputs.into_iter(), self.count_unstarted, sink)
    }
}

impl<In, Out> fmt::Debug for Pipeline<'_, In, Out> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Pipeline")
            .field(
                "stages",
                &self.stages.iter().map(|s| &s.stage).collect::<Vec<_>>(),
            )
            .field("window", &self.window)
            .finish_non_exhaustive()
    }
}

/// Watches a pipeline and stops it from another thread; from [`Pipeline::control`]. Clones
/// share the pipeline.
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext, StopCause};
///
/// let pipeline = Pipeline::new()
///     .stage(Stage::new("slow"), |x: u64, _: &StageContext<'_>| Ok::<_, String>(x));
/// let control = pipeline.control();
/// let mut seen = 0;
/// let report = pipeline.count_unstarted(false).run(0..u64::MAX, |_, _| {
///     seen += 1;
///     if seen == 5 {
///         control.stop(); // no more inputs; the ones admitted finish
///     }
/// })?;
/// assert_eq!(report.stopped, Some(StopCause::Stopped));
/// assert!(report.done >= 5 && report.failed.is_empty() && report.cancelled.is_empty());
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, Default)]
pub struct Control {
    shared: Arc<ControlShared>,
}

#[derive(Debug, Default)]
struct ControlShared {
    stages: Mutex<Vec<Arc<StageCounters>>>,
    admitted: AtomicU64,
    emitted: AtomicU64,
    stop: AtomicBool,
    abort: AtomicBool,
    /// The run stopped early (an error or an abort): raised for the stage functions to see.
    cancel: CancelToken,
}

#[derive(Debug, Default)]
struct StageCounters {
    name: String,
    workers: usize,
    waiting: AtomicUsize,
    running: AtomicUsize,
    done: AtomicU64,
    failed: AtomicU64,
    busy_nanos: AtomicU64,
}

impl Control {
    /// Stops admitting inputs; everything already admitted goes through to the sink (a
    /// graceful stop: nothing in flight is lost). The inputs not admitted are reported as
    /// [`never_started`](PipelineReport::never_started). Seen within about 20 ms.
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext, StopCause};
    ///
    /// let pipeline = Pipeline::new()
    ///     .stage(Stage::new("s"), |x: u64, _: &StageContext<'_>| Ok::<_, String>(x));
    /// let control = pipeline.control();
    /// control.stop(); // before it starts: nothing is admitted
    /// let report = pipeline.run(0..100, |_, _| {})?;
    /// assert_eq!(report.stopped, Some(StopCause::Stopped));
    /// assert_eq!((report.done, report.never_started), (0, 100));
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn stop(&self) {
        self.shared.stop.store(true, SeqCst);
    }

    /// Stops as the first error does: nothing more is admitted, queued items are cancelled,
    /// running stage functions see the cancellation flag. Seen within about 20 ms.
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext, StopCause};
    ///
    /// let pipeline = Pipeline::new()
    ///     .stage(Stage::new("s"), |x: u64, _: &StageContext<'_>| Ok::<_, String>(x));
    /// let control = pipeline.control();
    /// control.abort(); // before it even starts
    /// let report = pipeline.run(0..100, |_, _| {})?;
    /// assert_eq!(report.stopped, Some(StopCause::Aborted));
    /// assert_eq!(report.accounted(), 100);
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn abort(&self) {
        self.shared.abort.store(true, SeqCst);
    }

    /// The live counts (each read on its own, so they may be a few items out of step).
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let pipeline = Pipeline::new()
    ///     .stage(Stage::new("a").workers(2), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x))
    ///     .stage(Stage::new("b"), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x));
    /// let control = pipeline.control();
    /// pipeline.run(0..10u8, |_, _| {})?;
    /// let p = control.progress();
    /// assert_eq!((p.admitted, p.emitted), (10, 10));
    /// assert_eq!(p.stages.iter().map(|s| (s.name.as_str(), s.done)).collect::<Vec<_>>(), [("a", 10), ("b", 10)]);
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn progress(&self) -> Progress {
        let s = &*self.shared;
        Progress {
            admitted: s.admitted.load(Relaxed),
            emitted: s.emitted.load(Relaxed),
            stopping: s.stop.load(Relaxed) || s.abort.load(Relaxed) || s.cancel.is_cancelled(),
            stages: lock(&s.stages)
                .iter()
                .map(|c| StageProgress {
                    name: c.name.clone(),
                    workers: c.workers,
                    waiting: c.waiting.load(Relaxed),
                    running: c.running.load(Relaxed),
                    done: c.done.load(Relaxed),
                    failed: c.failed.load(Relaxed),
                })
                .collect(),
        }
    }
}

/// A running pipeline's counts, from [`Control::progress`].
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext};
///
/// let pipeline = Pipeline::new()
///     .stage(Stage::new("only").workers(3), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x));
/// let p = pipeline.control().progress(); // before it runs
/// assert_eq!((p.admitted, p.emitted, p.stopping), (0, 0, false));
/// assert_eq!((p.stages[0].workers, p.stages[0].waiting, p.stages[0].running), (3, 0, 0));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct Progress {
    /// Inputs admitted into the first stage so far.
    pub admitted: u64,
    /// Results delivered to the sink so far.
    pub emitted: u64,
    /// Whether a stop or an abort was asked for, or an error stopped it.
    pub stopping: bool,
    /// Per stage, in order.
    pub stages: Vec<StageProgress>,
}

/// One stage's counts in a [`Progress`].
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext};
///
/// let pipeline = Pipeline::new()
///     .stage(Stage::new("odd").workers(2), |x: u8, _: &StageContext<'_>| if x % 2 == 1 { Ok(x) } else { Err("even") });
/// let control = pipeline.control();
/// pipeline.run([1, 3, 4], |_, _| {})?;
/// let s = &control.progress().stages[0];
/// assert_eq!((s.name.as_str(), s.failed), ("odd", 1));
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageProgress {
    /// The stage's name.
    pub name: String,
    /// Its worker threads.
    pub workers: usize,
    /// Items in its queue.
    pub waiting: usize,
    /// Items its workers are running now.
    pub running: usize,
    /// Items it finished (`Ok`).
    pub done: u64,
    /// Items it failed.
    pub failed: u64,
}

/// An item whose stage function failed.
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext};
///
/// let report = Pipeline::new()
///     .stage(Stage::new("parse"), |s: &str, _: &StageContext<'_>| s.parse::<i32>())
///     .run(["12", "twelve"], |_, _| {})?;
/// let f = &report.failed[0];
/// assert_eq!((f.seq, f.stage.as_str(), f.panicked), (1, "parse", false));
/// assert_eq!(f.error, "invalid digit found in string");
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct ItemFailure {
    /// The item's position in the input.
    pub seq: u64,
    /// The stage that failed it (`"input"` if the input iterator panicked, `"output"` if the
    /// sink did).
    pub stage: String,
    /// Its `Err`, `Display`ed, or `panicked: <message>`.
    pub error: String,
    /// Whether it panicked.
    pub panicked: bool,
}

/// An item that was in flight when the pipeline stopped early, and where it was.
///
/// ```
/// use taskq::pipeline::{CancelledAt, Pipeline, Stage, StageContext};
///
/// // Item 1 waits in "slow" until item 2's failure stops everything: cancelled there.
/// let report = Pipeline::new()
///     .stage(Stage::new("slow").workers(2), |x: u8, ctx: &StageContext<'_>| {
///         while x == 1 && !ctx.is_cancelled() {
///             std::thread::yield_now();
///         }
///         match x {
///             2 => Err("two"),
///             _ if ctx.is_cancelled() => Err("gave up"), // counted as cancelled
///             _ => Ok(x),
///         }
///     })
///     .run(1..=2u8, |_, _| {})?;
/// assert_eq!(report.cancelled[0].seq, 0); // (item 1 is input 0)
/// assert_eq!(report.cancelled[0].at, CancelledAt::Interrupted("slow".into()));
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct CancelledItem {
    /// The item's position in the input.
    pub seq: u64,
    /// Where it was.
    pub at: CancelledAt,
}

/// Where a [`CancelledItem`] was.
///
/// ```
/// use taskq::pipeline::CancelledAt;
///
/// let at = CancelledAt::Queued("post".into());
/// assert_ne!(at, CancelledAt::Held);
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CancelledAt {
    /// Waiting in this stage's queue (or being handed to it).
    Queued(String),
    /// Running in this stage, which gave up when it saw the cancellation flag (or failed after
    /// the pipeline had stopped).
    Interrupted(String),
    /// Through every stage, but held in the reorder buffer behind an item that never finished.
    Held,
}

/// Why a pipeline stopped before its input ran out.
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext, StopCause};
///
/// let report = Pipeline::new()
///     .stage(Stage::new("s"), |x: u8, _: &StageContext<'_>| if x < 5 { Ok(x) } else { Err("big") })
///     .run(0..10u8, |_, _| {})?;
/// assert!(matches!(&report.stopped, Some(StopCause::Failure(f)) if f.seq == 5));
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum StopCause {
    /// The first item failure (the others, if several failed at once, are in
    /// [`PipelineReport::failed`] too).
    Failure(ItemFailure),
    /// [`Control::abort`].
    Aborted,
    /// [`Control::stop`]: no more inputs were admitted; nothing was cancelled.
    Stopped,
}

/// One stage's totals in a [`PipelineReport`].
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext};
///
/// let report = Pipeline::new()
///     .stage(Stage::new("a").workers(2), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x))
///     .run(0..4u8, |_, _| {})?;
/// let a = &report.stages[0];
/// assert_eq!((a.name.as_str(), a.workers, a.done, a.failed), ("a", 2, 4, 0));
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct StageReport {
    /// The stage's name.
    pub name: String,
    /// Its worker threads.
    pub workers: usize,
    /// Items it finished.
    pub done: u64,
    /// Items it failed.
    pub failed: u64,
    /// Time its workers spent in its function, added up.
    pub busy: Duration,
}

/// What a pipeline did, from [`Pipeline::run`]: every input is in exactly one of `done`,
/// `failed`, `cancelled` and `never_started`.
///
/// ```
/// use taskq::pipeline::{Pipeline, Stage, StageContext};
///
/// let report = Pipeline::new()
///     .stage(Stage::new("check"), |x: u32, _: &StageContext<'_>| if x == 2 { Err("two") } else { Ok(x) })
///     .run(0..5, |_, _| {})?;
/// assert_eq!(report.items_in, 5);
/// assert_eq!(report.failed.len(), 1);
/// assert_eq!(report.done + report.failed.len() as u64 + report.cancelled.len() as u64
///     + report.never_started, 5);
/// println!("{report}"); // items in 5: done .., failed 1 (item 2 at check: two), ...
/// # Ok::<(), taskq::pipeline::PipelineError>(())
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct PipelineReport {
    /// Inputs taken from the iterator (all of them, unless
    /// [`count_unstarted(false)`](Pipeline::count_unstarted) and it stopped early).
    pub items_in: u64,
    /// Results delivered to the sink: items `0..done`, in order.
    pub done: u64,
    /// Items whose stage function failed, in the order they failed.
    pub failed: Vec<ItemFailure>,
    /// Items in flight when the pipeline stopped early, by sequence number.
    pub cancelled: Vec<CancelledItem>,
    /// Inputs never admitted (after an early stop).
    pub never_started: u64,
    /// Why it stopped early, if it did.
    pub stopped: Option<StopCause>,
    /// Per stage, in order.
    pub stages: Vec<StageReport>,
    /// The reorder window it ran with.
    pub window: usize,
    /// From start to the last result.
    pub elapsed: Duration,
}

impl PipelineReport {
    /// `done + failed + cancelled + never_started`: equals [`items_in`](Self::items_in).
    ///
    /// ```
    /// use taskq::pipeline::{Pipeline, Stage, StageContext};
    ///
    /// let r = Pipeline::new()
    ///     .stage(Stage::new("s"), |x: u8, _: &StageContext<'_>| Ok::<_, String>(x))
    ///     .run(0..9u8, |_, _| {})?;
    /// assert_eq!((r.accounted(), r.items_in, r.done), (9, 9, 9));
    /// # Ok::<(), taskq::pipeline::PipelineError>(())
    /// ```
    pub fn accounted(&self) -> u64 {
        self.done + self.failed.len() as u64 + self.cancelled.len() as u64 + self.never_started
    }
}

/// One line of totals, the first failure if any, then one line per stage.
impl fmt::Display for PipelineReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "items in {}: done {}, failed {}, cancelled {}, never started {}",
            self.items_in,
            self.done,
            self.failed.len(),
            self.cancelled.len(),
            self.never_started
        )?;
        match &self.stopped {
            None => {}
            Some(StopCause::Failure(e)) => write!(
                f,
                "\nstopped by the first failure: item {} at {}: {}",
                e.seq, e.stage, e.error
            )?,
            Some(StopCause::Aborted) => f.write_str("\nstopped: aborted")?,
            Some(StopCause::Stopped) => f.write_str("\nstopped: no more inputs admitted")?,
        }
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        for s in &self.stages {
            write!(
                f,
                "\n  {:<12} {:>2} workers: done {:>6}, failed {}, busy {:>5.1}%",
                s.name,
                s.workers,
                s.done,
                s.failed,
                100.0 * s.busy.as_secs_f64() / (secs * s.workers as f64),
            )?;
        }
        Ok(())
    }
}

/// Why [`Pipeline::run`] refused to start.
///
/// ```
/// use taskq::pipeline::{Pipeline, PipelineError};
///
/// let err = Pipeline::<u8, u8>::new().run([1], |_, _| {}).unwrap_err();
/// assert!(matches!(err, PipelineError::NoStages));
/// assert_eq!(err.to_string(), "a pipeline needs at least one stage");
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum PipelineError {
    /// No stage was added.
    NoStages,
    /// A stage with `workers(0)`.
    NoWorkers {
        /// The stage's name.
        stage: String,
    },
    /// A stage with `capacity(0)`.
    ZeroCapacity {
        /// The stage's name.
        stage: String,
    },
    /// `window(0)`.
    ZeroWindow,
    /// The operating system refused to start a thread (the pipeline was aborted and wound
    /// down before this was returned).
    Spawn(std::io::Error),
}

impl fmt::Display for PipelineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PipelineError::NoStages => f.write_str("a pipeline needs at least one stage"),
            PipelineError::NoWorkers { stage } => {
                write!(f, "stage {stage:?} needs at least 1 worker")
            }
            PipelineError::ZeroCapacity { stage } => {
                write!(f, "stage {stage:?} needs a queue capacity of at least 1")
            }
            PipelineError::ZeroWindow => f.write_str("the reorder window must be at least 1"),
            PipelineError::Spawn(e) => write!(f, "could not start a pipeline thread: {e}"),
        }
    }
}

impl Error for PipelineError {
    fn source(&self) -> Option<&(dyn Error + 'static)> {
        match self {
            PipelineError::Spawn(e) => Some(e),
            _ => None,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The run.

/// One run's shared state.
struct Run<'a> {
    stages: Vec<StageSpec<'a>>,
    /// `queues[i]` is stage `i`'s input.
    queues: Vec<ThreadSafeTaskQueue<u64, AnyItem>>,
    control: Arc<ControlShared>,
    state: Mutex<State>,
    /// Signalled when an item reaches the reorder buffer, a worker or the feeder ends, or the
    /// run stops: the output thread waits on it.
    ready: Condvar,
    /// Signalled when the output moves on (the window with it) or the run stops: the feeder
    /// waits on it.
    room: Condvar,
}

struct State {
    reorder: ReorderBuffer<AnyItem>,
    /// Live workers per stage.
    live: Vec<usize>,
    live_total: usize,
    feeder_done: bool,
    /// The input iterator ran out (rather than the feeder stopping early).
    exhausted: bool,
    /// Inputs taken from the iterator, and of them admitted.
    taken: u64,
    admitted: u64,
    done: u64,
    failed: Vec<ItemFailure>,
    cancelled: Vec<CancelledItem>,
    stopped: Option<StopCause>,
    spawn_error: Option<std::io::Error>,
}

/// The priority of item `seq` in a stage queue: the oldest first.
fn priority(seq: u64) -> i64 {
    i64::try_from(seq).map_or(i64::MIN, |s| -s)
}

impl<'a> Run<'a> {
    fn new(stages: Vec<StageSpec<'a>>, window: usize, control: Arc<ControlShared>) -> Self {
        let queues = stages
            .iter()
            .map(|s| {
                ThreadSafeTaskQueue::builder()
                    .capacity(s.stage.capacity)
                    .retention(Retention::KeepNone)
                    .build()
                    .expect("capacity checked")
            })
            .collect();
        let live: Vec<usize> = stages.iter().map(|s| s.stage.workers).collect();
        let live_total = live.iter().sum();
        Run {
            stages,
            queues,
            control,
            state: Mutex::new(State {
                reorder: ReorderBuffer::new(window),
                live,
                live_total,
                feeder_done: false,
                exhausted: false,
                taken: 0,
                admitted: 0,
                done: 0,
                failed: Vec::new(),
                cancelled: Vec::new(),
                stopped: None,
                spawn_error: None,
            }),
            ready: Condvar::new(),
            room: Condvar::new(),
        }
    }

    fn aborted(&self) -> bool {
        self.control.cancel.is_cancelled()
    }

    /// Admission stops: after an abort or failure, or a graceful stop.
    fn admitting(&self) -> bool {
        !self.aborted() && !self.control.stop.load(SeqCst) && !self.control.abort.load(SeqCst)
    }

    fn run<S, Out: 'static>(
        self,
        inputs: impl Iterator<Item = impl Send + 'static> + Send,
        count_unstarted: bool,
        mut sink: S,
    ) -> Result<PipelineReport, PipelineError>
    where
        S: FnMut(u64, Out),
    {
        let started = Instant::now();
        thread::scope(|s| {
            let this = &self;
            if let Err(e) = thread::Builder::new()
                .name("taskq-pipeline-feed".into())
                .spawn_scoped(s, move || this.feed(inputs, count_unstarted))
            {
                let mut state = lock(&self.state);
                state.feeder_done = true;
                state.spawn_error.get_or_insert(e);
                drop(state);
                self.abort(StopCause::Aborted);
            }
            for (index, spec) in self.stages.iter().enumerate() {
                for worker in 0..spec.stage.workers {
                    let spawned = thread::Builder::new()
                        .name(format!("taskq-pipeline-{}-{worker}", spec.stage.name))
                        .spawn_scoped(s, move || this.work(index, worker));
                    if let Err(e) = spawned {
                        lock(&self.state).spawn_error.get_or_insert(e);
                        // This worker never ran: count it out as it would have.
                        self.worker_exit(index);
                        self.abort(StopCause::Aborted);
                    }
                }
            }
            self.deliver_in_order(&mut sink);
        });
        let mut state = lock(&self.state);
        if let Some(e) = state.spawn_error.take() {
            return Err(PipelineError::Spawn(e));
        }
        let State {
            taken,
            admitted,
            done,
            exhausted,
            ref mut failed,
            ref mut cancelled,
            ref mut stopped,
            ..
        } = *state;
        let mut cancelled = std::mem::take(cancelled);
        cancelled.sort_by_key(|c| c.seq);
        let mut stopped = stopped.take();
        if stopped.is_none() && !exhausted {
            // Admission ended early with no cause recorded: an abort asked for (the delivery
            // loop may have found nothing live before it looked), or a graceful stop.
            stopped = Some(if self.control.abort.load(SeqCst) {
                StopCause::Aborted
            } else {
                StopCause::Stopped
            });
        }
        Ok(PipelineReport {
            items_in: taken,
            done,
            failed: std::mem::take(failed),
            cancelled,
            never_started: taken - admitted,
            stopped,
            stages: self
                .stages
                .iter()
                .map(|s| StageReport {
                    name: s.stage.name.clone(),
                    workers: s.stage.workers,
                    done: s.counters.done.load(Relaxed),
                    failed: s.counters.failed.load(Relaxed),
                    busy: Duration::from_nanos(s.counters.busy_nanos.load(Relaxed)),
                })
                .collect(),
            window: state.reorder.window(),
            elapsed: started.elapsed(),
        })
    }

    /// The feeder: numbers the inputs and admits each into the first stage once the window has
    /// room for it. A panicking input iterator fails the item it was producing.
    fn feed<In: Send + 'static>(&self, inputs: impl Iterator<Item = In>, count_unstarted: bool) {
        struct Done<'r, 'a>(&'r Run<'a>);
        impl Drop for Done<'_, '_> {
            fn drop(&mut self) {
                // However the feeder ends (a panic included): the first stage drains and ends.
                TaskQueue::shutdown(&self.0.queues[0]);
                lock(&self.0.state).feeder_done = true;
                self.0.ready.notify_all();
            }
        }
        let _done = Done(self);
        let mut inputs = inputs;
        let mut seq = 0u64;
        let fed = catch_unwind(AssertUnwindSafe(|| {
            while self.admitting() {
                let Some(item) = inputs.next() else {
                    lock(&self.state).exhausted = true;
                    return;
                };
                lock(&self.state).taken += 1;
                if !self.admit(seq, item) {
                    return;
                }
                seq += 1;
            }
        }));
        if let Err(payload) = fed {
            // The iterator panicked producing input `seq`: it counts as taken and failed.
            let failure = ItemFailure {
                seq,
                stage: "input".into(),
                error: panic_message(&*payload),
                panicked: true,
            };
            let mut state = lock(&self.state);
            // Taken, and failed rather than never started.
            state.taken += 1;
            state.admitted += 1;
            state.failed.push(failure.clone());
            drop(state);
            self.abort(StopCause::Failure(failure));
            return;
        }
        if count_unstarted && !self.admitting() {
            // Count the rest; a panic there only ends the counting.
            let rest = catch_unwind(AssertUnwindSafe(|| inputs.count())).unwrap_or(0);
            lock(&self.state).taken += rest as u64;
        }
    }

    /// Waits for room in the window, then adds input `seq` to the first stage. False if the run
    /// stopped meanwhile (the input is then not admitted).
    fn admit<In: Send + 'static>(&self, seq: u64, item: In) -> bool {
        let mut state = lock(&self.state);
        while !state.reorder.accepts(seq) {
            if !self.admitting() {
                return false;
            }
            state = match self.room.wait_timeout(state, CONTROL_POLL) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        if !self.admitting() {
            return false;
        }
        drop(state);
        let counters = &self.stages[0].counters;
        counters.waiting.fetch_add(1, Relaxed);
        match self.queues[0].add_task(seq, priority(seq), Box::new(item)) {
            Ok(()) => {
                lock(&self.state).admitted += 1;
                self.control.admitted.fetch_add(1, Relaxed);
                true
            }
            Err(_) => {
                // Shut down by an abort while we waited for room in the queue.
                counters.waiting.fetch_sub(1, Relaxed);
                false
            }
        }
    }

    /// A worker of stage `index`: claims items oldest first, runs the stage function, passes
    /// the result on; ends when its queue is shut down and drained (or shut down at once).
    fn work(&self, index: usize, worker: usize) {
        struct Exit<'r, 'a>(&'r Run<'a>, usize);
        impl Drop for Exit<'_, '_> {
            fn drop(&mut self) {
                self.0.worker_exit(self.1);
            }
        }
        let _exit = Exit(self, index);
        let spec = &self.stages[index];
        let counters = &spec.counters;
        let queue = &self.queues[index];
        while let Ok(task) = queue.get_next_task(None) {
            let token = task.token();
            let Task {
                id: seq, payload, ..
            } = task;
            counters.waiting.fetch_sub(1, Relaxed);
            // A claim ends here, whatever happens to the item next (the queue forgets it).
            let _ = queue.complete_claim(&seq, token);
            if self.aborted() {
                self.cancel_item(seq, CancelledAt::Queued(spec.stage.name.clone()));
                continue;
            }
            counters.running.fetch_add(1, Relaxed);
            let ctx = StageContext {
                stage: &spec.stage.name,
                index,
                worker,
                seq,
                cancel: &self.control.cancel,
            };
            let started = Instant::now();
            let result = catch_unwind(AssertUnwindSafe(|| (spec.f)(payload, &ctx)));
            let busy = u64::try_from(started.elapsed().as_nanos()).unwrap_or(u64::MAX);
            counters.busy_nanos.fetch_add(busy, Relaxed);
            counters.running.fetch_sub(1, Relaxed);
            let failure = match result {
                Ok(Ok(out)) => {
                    counters.done.fetch_add(1, Relaxed);
                    self.pass_on(index, seq, out);
                    continue;
                }
                Ok(Err(error)) => (error, false),
                Err(payload) => {
                    let message = panic_message(&*payload);
                    // Dropping a panic payload runs user code: keep a panic there from
                    // ending the worker.
                    let _ = catch_unwind(AssertUnwindSafe(move || drop(payload)));
                    (message, true)
                }
            };
            if self.aborted() {
                // It gave up (or failed) after the run had stopped: cancelled, not failed.
                self.cancel_item(seq, CancelledAt::Interrupted(spec.stage.name.clone()));
                continue;
            }
            counters.failed.fetch_add(1, Relaxed);
            let failure = ItemFailure {
                seq,
                stage: spec.stage.name.clone(),
                error: failure.0,
                panicked: failure.1,
            };
            lock(&self.state).failed.push(failure.clone());
            self.abort(StopCause::Failure(failure));
        }
    }

    /// Hands stage `index`'s result for item `seq` to the next stage, or to the reorder buffer
    /// after the last.
    fn pass_on(&self, index: usize, seq: u64, out: AnyItem) {
        let next = index + 1;
        if next == self.stages.len() {
            let mut state = lock(&self.state);
            // The feeder admitted `seq` only inside the window, and the window only moves
            // when `seq`'s turn has come: the insert cannot be refused.
            let inserted = state.reorder.insert(seq, out);
            drop(state);
            if inserted.is_err() {
                self.cancel_item(seq, CancelledAt::Held);
            }
            self.ready.notify_all();
            return;
        }
        let counters = &self.stages[next].counters;
        counters.waiting.fetch_add(1, Relaxed);
        if self.queues[next].add_task(seq, priority(seq), out).is_err() {
            // The next stage's queue was shut down at once: the run is stopping.
            counters.waiting.fetch_sub(1, Relaxed);
            self.cancel_item(
                seq,
                CancelledAt::Queued(self.stages[next].stage.name.clone()),
            );
        }
    }

    /// A worker of stage `index` ended: the last one of a stage lets the next stage drain and
    /// end; the last one of all wakes the output thread.
    fn worker_exit(&self, index: usize) {
        let mut state = lock(&self.state);
        state.live[index] -= 1;
        state.live_total -= 1;
        let stage_done = state.live[index] == 0;
        drop(state);
        if stage_done {
            if let Some(next) = self.queues.get(index + 1) {
                // Nothing more will come: the next stage hands out what it has, then ends.
                TaskQueue::shutdown(next);
            }
        }
        self.ready.notify_all();
    }

    fn cancel_item(&self, seq: u64, at: CancelledAt) {
        lock(&self.state).cancelled.push(CancelledItem { seq, at });
    }

    /// Stops everything, as the first failure does. Idempotent; the first cause is kept.
    fn abort(&self, cause: StopCause) {
        {
            let mut state = lock(&self.state);
            if state.stopped.is_none() {
                state.stopped = Some(cause);
            }
        }
        self.control.cancel.cancel();
        for (index, queue) in self.queues.iter().enumerate() {
            let name = &self.stages[index].stage.name;
            for task in queue.shutdown_now() {
                self.stages[index].counters.waiting.fetch_sub(1, Relaxed);
                self.cancel_item(task.id, CancelledAt::Queued(name.clone()));
            }
        }
        self.room.notify_all();
        self.ready.notify_all();
    }

    /// The calling thread: delivers results in order until every worker and the feeder have
    /// ended; watches the control's requests meanwhile. What is left in the reorder buffer then
    /// is cancelled (held behind an item that never finished).
    fn deliver_in_order<S, Out: 'static>(&self, sink: &mut S)
    where
        S: FnMut(u64, Out),
    {
        let mut sink_failed = false;
        let mut state = lock(&self.state);
        loop {
            if let Some((seq, item)) = state.reorder.pop() {
                drop(state);
                self.room.notify_all();
                if sink_failed {
                    self.cancel_item(seq, CancelledAt::Held);
                } else {
                    let item = *item
                        .downcast::<Out>()
                        .expect("the last stage gives the sink's type");
                    match catch_unwind(AssertUnwindSafe(|| sink(seq, item))) {
                        Ok(()) => {
                            lock(&self.state).done += 1;
                            self.control.emitted.fetch_add(1, Relaxed);
                        }
                        Err(payload) => {
                            sink_failed = true;
                            let failure = ItemFailure {
                                seq,
                                stage: "output".into(),
                                error: panic_message(&*payload),
                                panicked: true,
                            };
                            lock(&self.state).failed.push(failure.clone());
                            self.abort(StopCause::Failure(failure));
                        }
                    }
                }
                state = lock(&self.state);
                continue;
            }
            // An abort first: one asked for before anything was admitted ends a run that has
            // nothing live, and must still be reported as the cause.
            if self.control.abort.load(SeqCst) && !self.aborted() {
                drop(state);
                self.abort(StopCause::Aborted);
                state = lock(&self.state);
                continue;
            }
            if state.live_total == 0 && state.feeder_done {
                break;
            }
            if self.control.stop.load(SeqCst) {
                self.room.notify_all();
            }
            state = match self.ready.wait_timeout(state, CONTROL_POLL) {
                Ok((guard, _)) => guard,
                Err(poisoned) => poisoned.into_inner().0,
            };
        }
        let held = state.reorder.take_held();
        drop(state);
        // (The items are dropped outside the lock: their `Drop` is user code.)
        for (seq, _) in held {
            self.cancel_item(seq, CancelledAt::Held);
        }
    }
}

#[cfg(test)]
mod tests;
