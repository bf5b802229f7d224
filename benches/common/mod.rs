// Shared by `benches/queues.rs` (criterion) and `examples/compare.rs`: the contenders and the five
// workloads, written once. Every workload checks its own end state (task counts), so a broken
// contender fails loudly instead of producing a fast number.
#![allow(dead_code)]

pub mod fifo;
pub mod fxhash;
pub mod plain;
pub mod reference;

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use taskq::{
    ChannelTaskQueue, Retention, RwLockTaskQueue, TaskQueue, TaskStatus, ThreadSafeTaskQueue,
};

use fifo::CrossbeamFifo;
use fxhash::FxBuildHasher;
use plain::PlainQueue;
use reference::ReferenceQueue;

/// Default number of tasks pre-filled into the queue for W2, W3, W4 and W5.
pub const DEFAULT_PREFILL: u64 = 10_000;

/// Priorities are drawn uniformly from `0..PRIORITIES`.
pub const PRIORITIES: u64 = 100;

/// A tiny deterministic generator (splitmix64), one per thread, so every contender sees the same
/// priorities and ids.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for stream `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A priority in `0..PRIORITIES`.
    pub fn priority(&mut self) -> i64 {
        (self.next_u64() % PRIORITIES) as i64
    }
}

/// The five workloads; see `benches/README.md` for their exact definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// P producers add N tasks, C = P consumers claim and complete them all.
    W1,
    /// Pre-filled queue; T workers loop claim, complete, add.
    W2,
    /// W2 with one worker, plus R readers calling `get_status` and `len`.
    W3,
    /// Pre-filled queue; T workers loop add two, cancel one, claim, complete.
    W4,
    /// One thread: add, claim, complete at a constant depth.
    W5,
}

impl Workload {
    /// All of them, in order.
    pub const ALL: [Workload; 5] = [
        Workload::W1,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
    ];

    /// Its short name (`w1`..`w5`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W5 => "w5",
        }
    }

    /// Parses `w1`..`w5`.
    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(s.trim()))
    }

    /// What the `threads` parameter means for it.
    pub fn threads_meaning(self) -> &'static str {
        match self {
            Workload::W1 => "P = C = threads (2 x threads threads in all)",
            Workload::W2 | Workload::W4 => "worker threads",
            Workload::W3 => "reader threads (plus 1 worker)",
            Workload::W5 => "always 1",
        }
    }

    /// The exact definition, for `--help` and the README.
    pub fn describe(self) -> &'static str {
        match self {
            Workload::W1 => {
                "W1 producers/consumers: P producers each add N/P tasks (ids unique, priorities \
                 uniform in 0..100) while C = P consumers loop get_next_task(None) + complete_task \
                 until all N are done. Empty queue at start; Retention::KeepAll. tasks/s = N / wall \
                 time from a start barrier to the last join. threads = P = C."
            }
            Workload::W2 => {
                "W2 steady workers: queue pre-filled with PREFILL tasks (default 10k, priorities \
                 0..100, not timed); T threads each loop N/T times: get_next_task(None), \
                 complete_task, add_task(new id, priority 0..100). Depth stays at PREFILL. \
                 Retention::KeepAll. tasks/s = N / wall time."
            }
            Workload::W3 => {
                "W3 status-heavy: W2 with ONE worker doing N/4 iterations, plus R reader threads \
                 looping get_status(random known id) then len() until the worker is done. \
                 Retention::KeepAll (every id stays known). tasks/s = the worker's N/4 / wall \
                 time; reads/s = (get_status + len calls) / wall time. threads = R."
            }
            Workload::W4 => {
                "W4 cancel-heavy: queue pre-filled with PREFILL tasks; T threads each loop N/(2T) \
                 times: add a, add b (new ids, priorities 0..100), cancel_task(b) (b is still \
                 queued, so half of all added tasks are cancelled while queued), \
                 get_next_task(None), complete_task. Live tasks stay at ~PREFILL. taskq strategies \
                 use Retention::KeepNone (memory follows live tasks); reference keeps everything by \
                 design. tasks/s = N (added, all finished) / wall time. Memory: peak heap bytes \
                 (counting allocator, in compare only, one extra untimed run) from just before \
                 the queue is built, divided by PREFILL live tasks."
            }
            Workload::W5 => {
                "W5 single thread: queue pre-filled with PREFILL tasks; one thread loops N times: \
                 add_task(new id, priority 0..100), get_next_task, complete_task. \
                 Retention::KeepAll. Reported as tasks/s and ns per task (= wall time / N)."
            }
        }
    }
}

/// Who competes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Contender {
    /// `taskq::ThreadSafeTaskQueue`.
    Mutex,
    /// `taskq::ThreadSafeTaskQueue` with a fast, non-keyed hasher for its task index
    /// (`Builder::build_with_hasher`; `fxhash.rs`).
    MutexFx,
    /// `taskq::RwLockTaskQueue`.
    RwLock,
    /// `taskq::ChannelTaskQueue`.
    Channel,
    /// The textbook design (`reference.rs`).
    Reference,
    /// One thread, no lock (`plain.rs`).
    Limit,
    /// crossbeam-channel, an unordered FIFO ceiling (`fifo.rs`).
    Crossbeam,
}

impl Contender {
    /// All of them, in table order.
    pub const ALL: [Contender; 7] = [
        Contender::Mutex,
        Contender::MutexFx,
        Contender::RwLock,
        Contender::Channel,
        Contender::Reference,
        Contender::Limit,
        Contender::Crossbeam,
    ];

    /// The name used in tables, JSON and benchmark ids.
    pub fn name(self) -> &'static str {
        match self {
            Contender::Mutex => "ThreadSafeTaskQueue",
            Contender::MutexFx => "ThreadSafeTaskQueue+fxhash",
            Contender::RwLock => "RwLockTaskQueue",
            Contender::Channel => "ChannelTaskQueue",
            Contender::Reference => "reference",
            Contender::Limit => "limit",
            Contender::Crossbeam => "crossbeam-FIFO-unordered",
        }
    }

    /// Its short name, for `--contenders`.
    pub fn short(self) -> &'static str {
        match self {
            Contender::Mutex => "mutex",
            Contender::MutexFx => "mutex-fx",
            Contender::RwLock => "rwlock",
            Contender::Channel => "channel",
            Contender::Reference => "reference",
            Contender::Limit => "limit",
            Contender::Crossbeam => "crossbeam",
        }
    }

    /// Parses a short name.
    pub fn parse(s: &str) -> Option<Contender> {
        Contender::ALL
            .into_iter()
            .find(|c| c.short().eq_ignore_ascii_case(s.trim()))
    }

    /// One of the three taskq strategies with default options (the targets are about
    /// these; `mutex-fx` is reported beside them).
    pub fn is_strategy(self) -> bool {
        matches!(
            self,
            Contender::Mutex | Contender::RwLock | Contender::Channel
        )
    }

    /// Whether it runs workload `w`. `limit` runs single-threaded and once per workload (its
    /// `threads` is 1): for multi-thread workloads it does the same total work on one thread.
    /// crossbeam has no status and no cancel.
    pub fn supports(self, w: Workload) -> bool {
        match self {
            Contender::Crossbeam => matches!(w, Workload::W1 | Workload::W2 | Workload::W5),
            Contender::Limit => w != Workload::W3,
            _ => true,
        }
    }
}

/// Sizes shared by all workloads.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// N: tasks per run (see each workload).
    pub tasks: u64,
    /// Queue depth before the timed part of W2..W5.
    pub prefill: u64,
}

/// Hooks into a counting allocator, supplied by `compare` (benches pass none).
#[derive(Debug, Clone, Copy)]
pub struct MemProbe {
    /// Starts counting from zero (current = peak = 0).
    pub start: fn(),
    /// Stops counting and returns the peak bytes since `start`.
    pub stop: fn() -> usize,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Wall time of the timed part.
    pub elapsed: Duration,
    /// Tasks processed in it.
    pub tasks: u64,
    /// Read calls made in it (W3).
    pub reads: u64,
    /// Peak heap bytes (when a probe was given).
    pub peak_bytes: Option<usize>,
    /// Live tasks the memory is divided by.
    pub live: u64,
}

impl Outcome {
    /// Tasks per second.
    pub fn tasks_per_s(&self) -> f64 {
        self.tasks as f64 / self.elapsed.as_secs_f64()
    }

    /// Reads per second.
    pub fn reads_per_s(&self) -> f64 {
        self.reads as f64 / self.elapsed.as_secs_f64()
    }

    /// Nanoseconds per task.
    pub fn ns_per_task(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.tasks as f64
    }
}

/// Builds contender `$c` as `$q` and evaluates `$body` with it (monomorphised per type, so no
/// dynamic dispatch). `limit` yields `None`: it has no `TaskQueue`.
macro_rules! with_queue {
    ($c:expr, $retention:expr, |$q:ident| $body:expr) => {
        match $c {
            Contender::Mutex => {
                let $q = ThreadSafeTaskQueue::<u64, u64>::builder()
                    .retention($retention)
                    .build();
                Some($body)
            }
            Contender::MutexFx => {
                let $q = ThreadSafeTaskQueue::<u64, u64>::builder()
                    .retention($retention)
                    .build_with_hasher(FxBuildHasher::default());
                Some($body)
            }
            Contender::RwLock => {
                let $q = RwLockTaskQueue::<u64, u64>::builder()
                    .retention($retention)
                    .build();
                Some($body)
            }
            Contender::Channel => {
                let $q = ChannelTaskQueue::<u64, u64>::builder()
                    .retention($retention)
                    .build();
                Some($body)
            }
            Contender::Reference => {
                let $q = ReferenceQueue::<u64, u64>::new();
                Some($body)
            }
            Contender::Crossbeam => {
                let $q = CrossbeamFifo::<u64, u64>::new();
                Some($body)
            }
            Contender::Limit => None,
        }
    };
}

/// Runs workload `w` once for contender `c`; `None` if `c` does not run `w`.
pub fn run(
    w: Workload,
    c: Contender,
    threads: usize,
    p: Params,
    mem: Option<MemProbe>,
) -> Option<Outcome> {
    if !c.supports(w) {
        return None;
    }
    let threads = threads.max(1);
    if let Some(m) = mem {
        (m.start)();
    }
    let mut out = match (w, c) {
        (_, Contender::Limit) => run_limit(w, p),
        (Workload::W1, _) => with_queue!(c, Retention::KeepAll, |q| w1(&q, threads, p.tasks)),
        (Workload::W2, _) => with_queue!(c, Retention::KeepAll, |q| w2(&q, threads, p)),
        (Workload::W3, _) => with_queue!(c, Retention::KeepAll, |q| w3(&q, threads, p)),
        (Workload::W4, _) => with_queue!(c, Retention::KeepNone, |q| w4(&q, threads, p, mem)),
        (Workload::W5, _) => with_queue!(c, Retention::KeepAll, |q| w5(&q, p)),
    }?;
    if let (Some(m), None) = (mem, out.peak_bytes) {
        out.peak_bytes = Some((m.stop)());
    }
    Some(out)
}

/// How many tasks one run of `w` processes (what `Outcome::tasks` will say).
pub fn tasks_per_run(w: Workload, c: Contender, threads: usize, p: Params) -> u64 {
    let t = if c == Contender::Limit {
        1
    } else {
        threads.max(1) as u64
    };
    match w {
        Workload::W1 | Workload::W2 => p.tasks / t * t,
        Workload::W3 => (p.tasks / 4).max(1),
        Workload::W4 => (p.tasks / 2 / t).max(1) * 2 * t,
        Workload::W5 => p.tasks,
    }
}

/// Adds `count` tasks with ids `first..first + count`, priorities from `rng`.
fn prefill<Q: TaskQueue<u64, u64>>(q: &Q, first: u64, count: u64, rng: &mut Rng) {
    for id in first..first + count {
        q.add_task(id, rng.priority(), id).expect("prefill add");
    }
}

fn outcome(elapsed: Duration, tasks: u64, reads: u64, live: u64) -> Outcome {
    Outcome {
        elapsed,
        tasks,
        reads,
        peak_bytes: None,
        live,
    }
}

/// Runs `f(0)..f(n - 1)` on `n` scoped threads that start together, and returns the time from
/// the first thread's start to the last thread's end (each thread times itself after the start
/// barrier, so thread creation and the main thread's scheduling are not counted).
fn run_threads<F: Fn(usize) + Sync>(n: usize, f: F) -> Duration {
    let barrier = Barrier::new(n);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    f(i);
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a workload thread panicked"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("n >= 1");
    let end = spans.iter().map(|s| s.1).max().expect("n >= 1");
    end - start
}

/// W1: P producers, C = P consumers, N tasks through an initially empty queue.
pub fn w1<Q: TaskQueue<u64, u64>>(q: &Q, pairs: usize, n: u64) -> Outcome {
    let per = n / pairs as u64;
    let total = per * pairs as u64;
    let claims = AtomicU64::new(0);
    let elapsed = run_threads(2 * pairs, |i| {
        if i < pairs {
            let p = i as u64;
            let mut rng = Rng::new(p);
            for id in p * per..(p + 1) * per {
                q.add_task(id, rng.priority(), id).expect("add");
            }
        } else {
            // Exactly `total` claims are made in all, and `total` tasks arrive: none blocks
            // forever.
            while claims.fetch_add(1, Ordering::Relaxed) < total {
                let task = q.get_next_task(None).expect("claim");
                q.complete_task(&task.id).expect("complete");
            }
        }
    });
    assert_eq!(q.len(), 0, "W1 left tasks queued");
    outcome(elapsed, total, 0, 0)
}

/// The W2 loop body for one worker: `iters` times claim, complete, add a new id.
fn steady_loop<Q: TaskQueue<u64, u64>>(q: &Q, first_id: u64, iters: u64, rng: &mut Rng) {
    for id in first_id..first_id + iters {
        let task = q.get_next_task(None).expect("claim");
        q.complete_task(&task.id).expect("complete");
        q.add_task(id, rng.priority(), id).expect("add");
    }
}

/// W2: pre-filled queue, T workers each loop claim, complete, add.
pub fn w2<Q: TaskQueue<u64, u64>>(q: &Q, threads: usize, p: Params) -> Outcome {
    prefill(q, 0, p.prefill, &mut Rng::new(1000));
    let per = p.tasks / threads as u64;
    let elapsed = run_threads(threads, |t| {
        let t = t as u64;
        steady_loop(q, p.prefill + t * per, per, &mut Rng::new(t));
    });
    assert_eq!(q.len() as u64, p.prefill, "W2 changed the queue depth");
    outcome(elapsed, per * threads as u64, 0, p.prefill)
}

/// W3: W2 with one worker (N/4 iterations) and R readers.
pub fn w3<Q: TaskQueue<u64, u64>>(q: &Q, readers: usize, p: Params) -> Outcome {
    prefill(q, 0, p.prefill, &mut Rng::new(1000));
    let iters = (p.tasks / 4).max(1);
    let known = AtomicU64::new(p.prefill);
    let done = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let elapsed = run_threads(readers + 1, |i| {
        if i == 0 {
            let mut rng = Rng::new(0);
            let mut id = p.prefill;
            while id < p.prefill + iters {
                let chunk = (p.prefill + iters - id).min(256);
                steady_loop(q, id, chunk, &mut rng);
                id += chunk;
                known.store(id, Ordering::Relaxed);
            }
            done.store(true, Ordering::Relaxed);
        } else {
            let mut rng = Rng::new(100 + i as u64);
            let (mut n, mut seen) = (0u64, 0u64);
            while !done.load(Ordering::Relaxed) {
                let id = rng.next_u64() % known.load(Ordering::Relaxed);
                seen += u64::from(q.get_status(&id).is_some());
                black_box(q.len());
                n += 2;
            }
            assert_eq!(seen * 2, n, "W3: a known id was unknown");
            reads.fetch_add(n, Ordering::Relaxed);
        }
    });
    assert_eq!(q.len() as u64, p.prefill, "W3 changed the queue depth");
    outcome(elapsed, iters, reads.into_inner(), p.prefill)
}

/// W4: pre-filled queue; T workers loop add two, cancel one, claim, complete.
pub fn w4<Q: TaskQueue<u64, u64>>(
    q: &Q,
    threads: usize,
    p: Params,
    mem: Option<MemProbe>,
) -> Outcome {
    prefill(q, 0, p.prefill, &mut Rng::new(1000));
    let per = (p.tasks / 2 / threads as u64).max(1);
    let cancelled = AtomicU64::new(0);
    let elapsed = run_threads(threads, |t| {
        let t = t as u64;
        let mut rng = Rng::new(t);
        let mut n = 0;
        let first = p.prefill + 2 * t * per;
        for i in 0..per {
            let (a, b) = (first + 2 * i, first + 2 * i + 1);
            q.add_task(a, rng.priority(), a).expect("add");
            q.add_task(b, rng.priority(), b).expect("add");
            n += u64::from(q.cancel_task(&b));
            let task = q.get_next_task(None).expect("claim");
            q.complete_task(&task.id).expect("complete");
        }
        cancelled.fetch_add(n, Ordering::Relaxed);
    });
    let peak = mem.map(|m| (m.stop)());
    let cancelled = cancelled.into_inner();
    let tasks = 2 * per * threads as u64;
    // A cancel can lose the race to another worker's claim; then one more task stays queued.
    let claimed_instead = tasks / 2 - cancelled;
    assert!(
        claimed_instead * 100 <= tasks,
        "W4: only {cancelled} of {} cancels landed",
        tasks / 2
    );
    assert_eq!(q.len() as u64, p.prefill + claimed_instead, "W4 depth");
    let mut o = outcome(elapsed, tasks, 0, p.prefill);
    o.peak_bytes = peak;
    o
}

/// W5: one thread, add, claim, complete at depth PREFILL.
pub fn w5<Q: TaskQueue<u64, u64>>(q: &Q, p: Params) -> Outcome {
    prefill(q, 0, p.prefill, &mut Rng::new(1000));
    let mut rng = Rng::new(0);
    let start = Instant::now();
    for id in p.prefill..p.prefill + p.tasks {
        q.add_task(id, rng.priority(), id).expect("add");
        let task = q.get_next_task(None).expect("claim");
        q.complete_task(&task.id).expect("complete");
    }
    let elapsed = start.elapsed();
    assert_eq!(q.len() as u64, p.prefill, "W5 changed the queue depth");
    outcome(elapsed, p.tasks, 0, p.prefill)
}

/// `limit`: the same total work as workload `w`, on one thread, without a lock.
pub fn run_limit(w: Workload, p: Params) -> Option<Outcome> {
    let mut q = PlainQueue::new(w != Workload::W4);
    let prefill = |q: &mut PlainQueue| {
        let mut rng = Rng::new(1000);
        for id in 0..p.prefill {
            assert!(q.add(id, rng.priority(), id));
        }
    };
    let mut rng = Rng::new(0);
    let (start, tasks, live) = match w {
        Workload::W1 => {
            let start = Instant::now();
            for id in 0..p.tasks {
                assert!(q.add(id, rng.priority(), id));
            }
            for _ in 0..p.tasks {
                let task = q.claim().expect("claim");
                assert!(q.complete(task.id));
            }
            (start, p.tasks, 0)
        }
        Workload::W2 => {
            prefill(&mut q);
            let start = Instant::now();
            for id in p.prefill..p.prefill + p.tasks {
                let task = q.claim().expect("claim");
                assert!(q.complete(task.id));
                assert!(q.add(id, rng.priority(), id));
            }
            (start, p.tasks, p.prefill)
        }
        Workload::W4 => {
            prefill(&mut q);
            let per = p.tasks / 2;
            let start = Instant::now();
            for i in 0..per {
                let (a, b) = (p.prefill + 2 * i, p.prefill + 2 * i + 1);
                assert!(q.add(a, rng.priority(), a));
                assert!(q.add(b, rng.priority(), b));
                assert!(q.cancel(b));
                let task = q.claim().expect("claim");
                assert!(q.complete(task.id));
            }
            (start, 2 * per, p.prefill)
        }
        Workload::W5 => {
            prefill(&mut q);
            let start = Instant::now();
            for id in p.prefill..p.prefill + p.tasks {
                assert!(q.add(id, rng.priority(), id));
                let task = q.claim().expect("claim");
                assert!(q.complete(task.id));
            }
            (start, p.tasks, p.prefill)
        }
        Workload::W3 => return None,
    };
    let elapsed = start.elapsed();
    assert_eq!(q.len() as u64, live, "limit left the wrong depth");
    black_box(q.status(0) == Some(TaskStatus::Queued));
    Some(outcome(elapsed, tasks, 0, live))
}

/// Median of a non-empty slice.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
