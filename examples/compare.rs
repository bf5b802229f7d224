// `compare`: runs the benchmark workloads (W1..W7, W1 and W2 with two priority distributions;
// benches/common, shared with the criterion benches) against every contender and measures each
// one's memory per queued task; prints a table of median throughputs with ratios to the best peer
// (`reference`, `skiplist`, `priority-queue`) and to `limit`, checks the README's performance
// targets, and writes the results as JSON and as an SVG plot that reads on its own. With
// `--experiments` it also runs the contention experiments of issue 8, item 4 (`combining`,
// `ref-*`: `Role::Experiment`, neither peers nor strategies) and prints them against
// ThreadSafeTaskQueue and `reference`.
// `cargo run --release --example compare -- --help` for the options.

#[path = "../benches/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicIsize, Ordering};

use common::{Cancels, Contender, Dist, MemProbe, Outcome, Params, Role, Workload};
use taskq::strategy;

// ---------------------------------------------------------------------------------------------
// A counting allocator, for W4's and mem's memory figures. It counts only while `COUNTING` is
// set, so that the other workloads do not pay for a shared counter on every allocation. Counts are
// signed: blocks allocated before counting started and freed during it bring `CURRENT` below
// zero, which is right for "bytes held above the level at `start`".

static COUNTING: AtomicBool = AtomicBool::new(false);
static CURRENT: AtomicIsize = AtomicIsize::new(0);
static PEAK: AtomicIsize = AtomicIsize::new(0);

struct CountingAlloc;

impl CountingAlloc {
    fn grew(bytes: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            let now = CURRENT.fetch_add(bytes as isize, Ordering::Relaxed) + bytes as isize;
            PEAK.fetch_max(now, Ordering::Relaxed);
        }
    }

    fn shrank(bytes: usize) {
        if COUNTING.load(Ordering::Relaxed) {
            CURRENT.fetch_sub(bytes as isize, Ordering::Relaxed);
        }
    }
}

// SAFETY: every method forwards to `System` with the caller's arguments unchanged, so `System`'s
// guarantees are ours; the only addition is arithmetic on atomics, which neither allocates nor
// touches the memory handed out.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        // SAFETY: the caller upholds `alloc`'s contract (non-zero size), which is `System`'s.
        let ptr = unsafe { System.alloc(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` came from `self.alloc*`, i.e. from `System`, with this `layout`.
        unsafe { System.dealloc(ptr, layout) };
        Self::shrank(layout.size());
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        // SAFETY: as in `alloc`.
        let ptr = unsafe { System.alloc_zeroed(layout) };
        if !ptr.is_null() {
            Self::grew(layout.size());
        }
        ptr
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        // SAFETY: `ptr` came from `System` with `layout`; the caller upholds `realloc`'s contract.
        let new = unsafe { System.realloc(ptr, layout, new_size) };
        if !new.is_null() {
            Self::grew(new_size);
            Self::shrank(layout.size());
        }
        new
    }
}

#[global_allocator]
static ALLOC: CountingAlloc = CountingAlloc;

fn mem_start() {
    CURRENT.store(0, Ordering::SeqCst);
    PEAK.store(0, Ordering::SeqCst);
    COUNTING.store(true, Ordering::SeqCst);
}

fn mem_held() -> usize {
    CURRENT.load(Ordering::SeqCst).max(0) as usize
}

fn mem_stop() -> usize {
    COUNTING.store(false, Ordering::SeqCst);
    PEAK.load(Ordering::SeqCst).max(0) as usize
}

const PROBE: MemProbe = MemProbe {
    start: mem_start,
    held: mem_held,
    stop: mem_stop,
};

// ---------------------------------------------------------------------------------------------
// ---------------------------------------------------------------------------------------------
// Options.

const DEFAULT_TASKS: u64 = 150_000;
const DEFAULT_REPS: usize = 5;

struct Options {
    tasks: u64,
    prefill: u64,
    threads: Vec<usize>,
    workloads: Vec<Workload>,
    dists: Vec<Dist>,
    contenders: Vec<Contender>,
    reps: usize,
    out: PathBuf,
    quick: bool,
}

fn usage() -> String {
    let shorts: Vec<&str> = Contender::ALL.iter().map(|c| c.short()).collect();
    let mut s = format!(
        "compare: taskq's strategies against peers (a textbook queue and queues built from \
         crates.io crates), a lock-free single-thread limit and crossbeam-channel\n\n\
         USAGE: cargo run --release --example compare -- [OPTIONS]\n\n\
         OPTIONS:\n  \
         --tasks N          tasks per run (N below; default 150000)\n  \
         --threads LIST     thread counts, comma-separated (default 1,2,4)\n  \
         --workloads LIST   any of w1,w6,w7,w2,w3,w4,w5,mem (default all)\n  \
         --dists LIST       priority distributions for W1 and W2: few (0..100), distinct \
         (default both)\n  \
         --contenders LIST  any of {} (default all but the experiments; ratios need the \
         peers and limit)\n  \
         --experiments      also run the experiments (role experiment below: combining, \
         spin-then-park, padding)\n  \
         --reps N           repetitions per point; the median is reported (default 5)\n  \
         --prefill N        PREFILL, the queue depth of W2..W5 (default 10000)\n  \
         --out DIR          where compare.json and compare.svg go (default compare-out/)\n  \
         --quick            tiny sizes for a CI smoke test (tasks 2000, prefill 500, threads \
         1,2, reps 1), every contender, experiments included\n  \
         -h, --help         this text\n\n\
         CONTENDERS (--contenders name: table name, what):\n",
        shorts.join(",")
    );
    for c in Contender::ALL {
        let role = if c.role() == Role::Experiment {
            " (experiment)"
        } else {
            ""
        };
        let _ = writeln!(
            s,
            "  {}: {}{role}\n      {}",
            c.short(),
            c.name(),
            c.about()
        );
    }
    s.push_str("\nWORKLOADS (K = u64 ids, payload = u64):\n");
    for w in Workload::ALL {
        let _ = writeln!(
            s,
            "  {}\n      threads: {}\n",
            w.describe(),
            w.threads_meaning()
        );
    }
    s
}

fn parse_list<T>(s: &str, f: impl Fn(&str) -> Option<T>) -> Result<Vec<T>, String> {
    s.split(',')
        .filter(|x| !x.trim().is_empty())
        .map(|x| f(x.trim()).ok_or_else(|| format!("bad list item {x:?}")))
        .collect()
}

fn parse_args() -> Result<Options, String> {
    let mut o = Options {
        tasks: DEFAULT_TASKS,
        prefill: common::DEFAULT_PREFILL,
        // 1, 2, 4: the targets are about 2 and 4; 8 threads on a 2-core machine mostly measure the
        // scheduler (and starve some peers' writers for seconds), so it is opt-in.
        threads: vec![1, 2, 4],
        workloads: Workload::ALL.to_vec(),
        dists: Dist::ALL.to_vec(),
        contenders: Contender::ALL
            .iter()
            .copied()
            .filter(|c| c.role() != Role::Experiment)
            .collect(),
        reps: DEFAULT_REPS,
        out: PathBuf::from("compare-out"),
        quick: false,
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{arg} needs a value"));
        match arg.as_str() {
            "-h" | "--help" => {
                print!("{}", usage());
                std::process::exit(0);
            }
            "--quick" => {
                o.tasks = 2_000;
                o.prefill = 500;
                o.threads = vec![1, 2];
                o.reps = 1;
                o.quick = true;
                o.contenders = Contender::ALL.to_vec();
            }
            "--experiments" => {
                for &c in Contender::ALL {
                    if c.role() == Role::Experiment && !o.contenders.contains(&c) {
                        o.contenders.push(c);
                    }
                }
            }
            "--tasks" => o.tasks = value()?.parse().map_err(|e| format!("--tasks: {e}"))?,
            "--prefill" => o.prefill = value()?.parse().map_err(|e| format!("--prefill: {e}"))?,
            "--reps" => o.reps = value()?.parse().map_err(|e| format!("--reps: {e}"))?,
            "--threads" => o.threads = parse_list(&value()?, |x| x.parse().ok())?,
            "--workloads" => o.workloads = parse_list(&value()?, Workload::parse)?,
            "--dists" => o.dists = parse_list(&value()?, Dist::parse)?,
            "--contenders" => o.contenders = parse_list(&value()?, Contender::parse)?,
            "--out" => o.out = PathBuf::from(value()?),
            other => return Err(format!("unknown option {other:?} (try --help)")),
        }
    }
    if o.tasks < 16 || o.prefill < 16 || o.reps == 0 || o.threads.contains(&0) {
        return Err("--tasks and --prefill must be >= 16, --reps and threads >= 1".into());
    }
    Ok(o)
}

// ---------------------------------------------------------------------------------------------
// Measuring.

/// One line of the table: the medians over the repetitions of one point.
struct Row {
    workload: Workload,
    dist: Dist,
    contender: Contender,
    threads: usize,
    tasks_per_s: f64,
    samples: Vec<f64>,
    reads_per_s: Option<f64>,
    ns_per_task: f64,
    peak_bytes: Option<usize>,
    bytes_per_live: Option<f64>,
    /// Against the best peer at this point (same workload, distribution and threads).
    vs_peer: Option<f64>,
    /// Which peer that was.
    best_peer: Option<Contender>,
    /// Against the textbook `reference` (JSON, and the experiments' section).
    vs_reference: Option<f64>,
    /// Against ThreadSafeTaskQueue (the mutex strategy) at this point (JSON, and the
    /// experiments' section).
    vs_mutex: Option<f64>,
    vs_limit: Option<f64>,
    /// W6 and W7: the same contender's W1 (same distribution and threads) tasks/s, and W6 / W1
    /// (or W7 / W1).
    w1_tasks_per_s: Option<f64>,
    vs_w1: Option<f64>,
    /// W4: what became of the cancels, per repetition.
    cancels: Vec<Cancels>,
}

impl Row {
    /// W4: the medians over the repetitions of (cancels landed, cancels claimed instead).
    fn cancels_median(&self) -> Option<(f64, f64)> {
        if self.cancels.is_empty() {
            return None;
        }
        let landed: Vec<f64> = self.cancels.iter().map(|c| c.landed as f64).collect();
        let lost: Vec<f64> = self
            .cancels
            .iter()
            .map(|c| c.claimed_instead as f64)
            .collect();
        Some((common::median(&landed), common::median(&lost)))
    }

    /// Its case: workload and distribution.
    fn case(&self) -> (Workload, Dist) {
        (self.workload, self.dist)
    }
}

/// The memory per queued task of one contender (`mem`).
struct MemRow {
    contender: Contender,
    /// Peak heap bytes from just before the queue was built until it held `queued` tasks
    /// (growth included: a table or vector being grown counts old and new buffers).
    peak_bytes: usize,
    /// Heap bytes still held once it held them.
    held_bytes: usize,
    queued: u64,
}

impl MemRow {
    /// Peak bytes per queued task: the figure the target is about.
    fn per_task(&self) -> f64 {
        self.peak_bytes as f64 / self.queued.max(1) as f64
    }

    /// Held bytes per queued task.
    fn held_per_task(&self) -> f64 {
        self.held_bytes as f64 / self.queued.max(1) as f64
    }
}

/// The largest bytes per queued task a taskq strategy may take with default options (u64 ids and
/// payloads).
const MEM_TARGET: f64 = 128.0;

/// One point of the plan: workload, distribution, contender, threads.
type Point = (Workload, Dist, Contender, usize);

fn measure(o: &Options) -> (Vec<Row>, Vec<MemRow>) {
    let params = |d: Dist| Params {
        tasks: o.tasks,
        prefill: o.prefill,
        dist: d,
    };
    let mut plan: Vec<Point> = Vec::new();
    for &w in &o.workloads {
        for &d in w.dists().iter().filter(|d| o.dists.contains(d)) {
            for &c in Contender::ALL {
                if c.supports(w) && o.contenders.contains(&c) {
                    plan.extend(c.threads(w, &o.threads).into_iter().map(|t| (w, d, c, t)));
                }
            }
        }
    }
    // Repetitions are interleaved: every point of a case runs once before any runs again, so
    // that load changes on a shared machine hit all contenders of a comparison alike.
    let started = std::time::Instant::now();
    let mut outs: Vec<Vec<Outcome>> = vec![Vec::new(); plan.len()];
    let mut mem: Vec<Option<(usize, f64)>> = vec![None; plan.len()];
    let mut cases: Vec<(Workload, Dist)> = plan.iter().map(|p| (p.0, p.1)).collect();
    cases.dedup();
    let mut done = 0;
    let mut memory = Vec::new();
    for (w, d) in cases {
        let points: Vec<usize> = (0..plan.len())
            .filter(|&i| (plan[i].0, plan[i].1) == (w, d))
            .collect();
        if !w.is_timed() {
            // Memory per queued task: one run per contender with the counting allocator on
            // (deterministic up to hash seeds, so not repeated).
            for &i in &points {
                let (w, d, c, t) = plan[i];
                let out = common::run(w, c, t, params(d), Some(PROBE)).expect("planned");
                done += o.reps;
                let m = MemRow {
                    contender: c,
                    peak_bytes: out.peak_bytes.unwrap_or(0),
                    held_bytes: out.held_bytes.unwrap_or(0),
                    queued: out.live,
                };
                eprintln!(
                    "[{:>3}/{}] {:>5.1}s  {:<11} {:<27} peak {:.2} MB for {} queued: {:.0} bytes \
                     per queued task",
                    done,
                    plan.len() * o.reps,
                    started.elapsed().as_secs_f64(),
                    w.label(d),
                    c.name(),
                    m.peak_bytes as f64 / 1e6,
                    m.queued,
                    m.per_task(),
                );
                memory.push(m);
            }
            continue;
        }
        for rep in 0..o.reps {
            for &i in &points {
                let (w, d, c, t) = plan[i];
                let out = common::run(w, c, t, params(d), None).expect("planned");
                done += 1;
                let extra = match out.cancels {
                    _ if w == Workload::W3 => {
                        format!(", {:.3} Mreads/s", out.reads_per_s() / 1e6)
                    }
                    Some(x) => format!(
                        ", cancels: {} landed, {} claimed instead",
                        x.landed, x.claimed_instead
                    ),
                    None => String::new(),
                };
                eprintln!(
                    "[{:>3}/{}] {:>5.1}s  {:<11} {:<27} threads={:<2} rep {}/{}: {:>8.3} \
                     Mtasks/s{}",
                    done,
                    plan.len() * o.reps,
                    started.elapsed().as_secs_f64(),
                    w.label(d),
                    c.name(),
                    t,
                    rep + 1,
                    o.reps,
                    out.tasks_per_s() / 1e6,
                    extra,
                );
                outs[i].push(out);
            }
        }
        if w == Workload::W4 {
            // Memory: one extra, untimed run per point with the counting allocator on.
            for &i in &points {
                let (w, d, c, t) = plan[i];
                let out = common::run(w, c, t, params(d), Some(PROBE)).expect("planned");
                let peak = out.peak_bytes.unwrap_or(0);
                let per_live = peak as f64 / out.live.max(1) as f64;
                eprintln!(
                    "          memory run {} threads={t}: peak {:.2} MB, {per_live:.0} bytes per \
                     live task",
                    c.name(),
                    peak as f64 / 1e6,
                );
                mem[i] = Some((peak, per_live));
            }
        }
    }
    let mut rows = Vec::new();
    for (i, &(w, d, c, t)) in plan.iter().enumerate() {
        if !w.is_timed() {
            continue;
        }
        let samples: Vec<f64> = outs[i].iter().map(Outcome::tasks_per_s).collect();
        let reads: Vec<f64> = outs[i].iter().map(Outcome::reads_per_s).collect();
        let ns: Vec<f64> = outs[i].iter().map(Outcome::ns_per_task).collect();
        rows.push(Row {
            workload: w,
            dist: d,
            contender: c,
            threads: t,
            tasks_per_s: common::median(&samples),
            samples,
            reads_per_s: (w == Workload::W3).then(|| common::median(&reads)),
            ns_per_task: common::median(&ns),
            peak_bytes: mem[i].map(|m| m.0),
            bytes_per_live: mem[i].map(|m| m.1),
            vs_peer: None,
            best_peer: None,
            vs_reference: None,
            vs_mutex: None,
            vs_limit: None,
            w1_tasks_per_s: None,
            vs_w1: None,
            cancels: outs[i].iter().filter_map(|out| out.cancels).collect(),
        });
    }
    eprintln!("done in {:.1}s", started.elapsed().as_secs_f64());
    // The best peer per point, the textbook reference per point and the limit per case.
    type Key = (Workload, Dist, usize);
    let mut best: HashMap<Key, (f64, Contender)> = HashMap::new();
    let mut reference: HashMap<Key, f64> = HashMap::new();
    let mut mutex: HashMap<Key, f64> = HashMap::new();
    let mut limit = HashMap::new();
    for r in &rows {
        let key = (r.workload, r.dist, r.threads);
        if r.contender == Contender::of::<strategy::Mutex>() {
            mutex.insert(key, r.tasks_per_s);
        }
        match r.contender.role() {
            Role::Peer => {
                let b = best.entry(key).or_insert((r.tasks_per_s, r.contender));
                if r.tasks_per_s > b.0 {
                    *b = (r.tasks_per_s, r.contender);
                }
                if r.contender.short() == "reference" {
                    reference.insert(key, r.tasks_per_s);
                }
            }
            Role::Limit => {
                limit.insert(r.case(), r.tasks_per_s);
            }
            _ => {}
        }
    }
    for r in &mut rows {
        let key = (r.workload, r.dist, r.threads);
        let b = best.get(&key);
        r.vs_peer = b.map(|b| r.tasks_per_s / b.0);
        r.best_peer = b.map(|b| b.1);
        r.vs_reference = reference.get(&key).map(|x| r.tasks_per_s / x);
        r.vs_mutex = mutex.get(&key).map(|x| r.tasks_per_s / x);
        r.vs_limit = limit.get(&r.case()).map(|x| r.tasks_per_s / x);
    }
    // W6 against the same contender's W1: what batching buys.
    let w1: HashMap<(Contender, Dist, usize), f64> = rows
        .iter()
        .filter(|r| r.workload == Workload::W1)
        .map(|r| ((r.contender, r.dist, r.threads), r.tasks_per_s))
        .collect();
    for r in (rows.iter_mut()).filter(|r| matches!(r.workload, Workload::W6 | Workload::W7)) {
        r.w1_tasks_per_s = w1.get(&(r.contender, r.dist, r.threads)).copied();
        r.vs_w1 = r.w1_tasks_per_s.map(|x| r.tasks_per_s / x);
    }
    (rows, memory)
}

// ---------------------------------------------------------------------------------------------
// Reporting.

fn ratio(x: Option<f64>) -> String {
    x.map_or_else(|| "-".into(), |x| format!("{x:.2}x"))
}

/// The cases (workload, distribution) of `rows`, in order.
fn cases(rows: &[Row]) -> Vec<(Workload, Dist)> {
    let mut out: Vec<(Workload, Dist)> = Vec::new();
    for r in rows {
        if !out.contains(&r.case()) {
            out.push(r.case());
        }
    }
    out
}

/// A column of the table: its header and how to fill a cell.
type Column = (&'static str, fn(&Row) -> String);

/// The same contender's W1 throughput, beside the variants of W1 (W6, W7).
const W1_COLUMN: Column = ("W1 Mtasks/s", |r: &Row| {
    r.w1_tasks_per_s
        .map_or_else(|| "-".into(), |x| format!("{:.3}", x / 1e6))
});

/// The columns a case shows beyond the common ones.
fn extra_columns(w: Workload) -> Vec<Column> {
    match w {
        Workload::W3 => vec![("Mreads/s", |r: &Row| {
            r.reads_per_s
                .map_or_else(|| "-".into(), |x| format!("{:.3}", x / 1e6))
        })],
        Workload::W4 => vec![
            ("B/live task", |r: &Row| {
                r.bytes_per_live
                    .map_or_else(|| "-".into(), |x| format!("{x:.0}"))
            }),
            ("cancels claimed", |r: &Row| {
                r.cancels_median().map_or_else(
                    || "-".into(),
                    |(landed, lost)| format!("{lost:.0} of {:.0}", landed + lost),
                )
            }),
        ],
        Workload::W6 => vec![W1_COLUMN, ("W6/W1", |r: &Row| ratio(r.vs_w1))],
        Workload::W7 => vec![W1_COLUMN, ("pool/by hand", |r: &Row| ratio(r.vs_w1))],
        _ => Vec::new(),
    }
}

/// The table: one section per case, with its title, the common columns and its own.
fn table(rows: &[Row], prefill: u64) -> String {
    let mut s = String::new();
    for (w, d) in cases(rows) {
        let extras = extra_columns(w);
        let _ = writeln!(
            s,
            "{}: {}. threads: {}. Higher Mtasks/s is better.",
            w.label(d),
            w.title(d, prefill),
            w.threads_meaning()
        );
        let _ = write!(
            s,
            "  {:<27} {:>7} {:>9} {:>8} {:<15} {:>8} {:>9}",
            "contender", "threads", "Mtasks/s", "vs peer", "(best peer)", "vs limit", "ns/task",
        );
        for (head, _) in &extras {
            let _ = write!(s, " {head:>16}");
        }
        s.push('\n');
        for r in rows.iter().filter(|r| r.case() == (w, d)) {
            let _ = write!(
                s,
                "  {:<27} {:>7} {:>9.3} {:>8} {:<15} {:>8} {:>9.1}",
                r.contender.name(),
                if r.contender.role() == Role::Limit && r.workload != Workload::W5 {
                    "1 (all)".to_string()
                } else {
                    r.threads.to_string()
                },
                r.tasks_per_s / 1e6,
                ratio(r.vs_peer),
                r.best_peer.map_or("-", |c| c.name()),
                ratio(r.vs_limit),
                r.ns_per_task,
            );
            for (_, cell) in &extras {
                let _ = write!(s, " {:>16}", cell(r));
            }
            s.push('\n');
        }
        s.push('\n');
    }
    s
}

/// The experiments (issue 8, item 4) against ThreadSafeTaskQueue (the mutex strategy) and the
/// `reference` they are variants of, at every point they ran; empty if none ran.
fn experiments_table(rows: &[Row]) -> String {
    let mut s = String::new();
    if !rows.iter().any(|r| r.contender.role() == Role::Experiment) {
        return s;
    }
    let mutex = Contender::of::<strategy::Mutex>();
    let _ = writeln!(
        s,
        "experiments (not peers, not strategies): medians against {} and reference at the same \
         case and threads; higher is better.",
        mutex.name()
    );
    let _ = writeln!(
        s,
        "  {:<12} {:<27} {:>7} {:>9} {:>9} {:>9}",
        "case", "contender", "threads", "Mtasks/s", "vs mutex", "vs ref"
    );
    for (w, d) in cases(rows) {
        for r in rows.iter().filter(|r| {
            r.case() == (w, d)
                && (r.contender.role() == Role::Experiment
                    || r.contender == mutex
                    || r.contender.short() == "reference")
        }) {
            let _ = writeln!(
                s,
                "  {:<12} {:<27} {:>7} {:>9.3} {:>9} {:>9}",
                w.label(d),
                r.contender.name(),
                r.threads,
                r.tasks_per_s / 1e6,
                ratio(r.vs_mutex),
                ratio(r.vs_reference),
            );
        }
    }
    s.push('\n');
    s
}

/// The memory section of the table.
fn memory_table(memory: &[MemRow], prefill: u64) -> String {
    let mut s = String::new();
    if memory.is_empty() {
        return s;
    }
    let _ = writeln!(
        s,
        "mem: {}: peak heap bytes / queued tasks (u64 ids and payloads); held = still allocated \
         once full. Lower is better; target for the taskq strategies: peak <= {MEM_TARGET:.0} \
         bytes per queued task.",
        Workload::Mem.title(Dist::Few, prefill),
    );
    let _ = writeln!(
        s,
        "  {:<27} {:>8} {:>12} {:>12} {:>12} {:>12}",
        "contender", "queued", "peak bytes", "peak B/task", "held bytes", "held B/task"
    );
    for m in memory {
        let _ = writeln!(
            s,
            "  {:<27} {:>8} {:>12} {:>12.1} {:>12} {:>12.1}",
            m.contender.name(),
            m.queued,
            m.peak_bytes,
            m.per_task(),
            m.held_bytes,
            m.held_per_task(),
        );
    }
    s.push('\n');
    s
}

fn find(rows: &[Row], w: Workload, c: Contender, t: usize) -> Option<&Row> {
    rows.iter()
        .find(|r| r.workload == w && r.dist == Dist::Few && r.contender == c && r.threads == t)
}

/// Checks the targets from the issue against this run; one line each, with the margin.
fn targets(rows: &[Row], memory: &[MemRow]) -> Vec<(String, Option<bool>)> {
    let mut out = Vec::new();
    for (w, d) in cases(rows) {
        if !matches!(w, Workload::W1 | Workload::W2) {
            continue;
        }
        for t in [2, 4] {
            let best = rows
                .iter()
                .filter(|r| r.case() == (w, d) && r.threads == t && r.contender.is_strategy())
                .max_by(|a, b| a.tasks_per_s.total_cmp(&b.tasks_per_s));
            let Some(best) = best else { continue };
            let (vp, vl) = (best.vs_peer, best.vs_limit);
            let ok = vp.zip(vl).map(|(p, l)| p >= 3.0 && l >= 1.0);
            out.push((
                format!(
                    "{} threads={t}: best strategy {} is {} the best peer ({}; target >= 3x) and \
                     {} limit (target >= 1.0x)",
                    w.label(d),
                    best.contender.name(),
                    ratio(vp),
                    best.best_peer.map_or("-", |c| c.name()),
                    ratio(vl)
                ),
                ok,
            ));
        }
    }
    let (mutex, rwlock) = (
        Contender::of::<strategy::Mutex>(),
        Contender::of::<strategy::RwLock>(),
    );
    if let (Some(rw), Some(mx)) = (
        find(rows, Workload::W3, rwlock, 2),
        find(rows, Workload::W3, mutex, 2),
    ) {
        let (a, b) = (rw.reads_per_s.unwrap_or(0.0), mx.reads_per_s.unwrap_or(0.0));
        let x = a / b;
        out.push((
            format!(
                "w3 readers=2: {} reads/s is {x:.2}x {}'s ({:.2} vs {:.2} M/s; target >= 2x)",
                rwlock.name(),
                mutex.name(),
                a / 1e6,
                b / 1e6
            ),
            Some(x >= 2.0),
        ));
    }
    let w4: Vec<&Row> = rows
        .iter()
        .filter(|r| r.workload == Workload::W4 && r.bytes_per_live.is_some())
        .collect();
    if !w4.is_empty() {
        let worst = w4
            .iter()
            .filter(|r| r.contender.is_strategy())
            .filter_map(|r| r.bytes_per_live)
            .fold(0.0, f64::max);
        let reference = w4
            .iter()
            .filter(|r| r.contender.short() == "reference")
            .filter_map(|r| r.bytes_per_live)
            .fold(0.0, f64::max);
        out.push((
            format!(
                "w4: worst strategy peak {worst:.0} bytes per live task, reference {reference:.0} \
                 (strategies bounded by live tasks; reference grows with tasks run)"
            ),
            // "Bounded": well under what reference pays; a record + index + heap entry is ~100 B.
            Some(worst > 0.0 && worst < 1024.0 && worst < reference),
        ));
    }
    let worst = memory
        .iter()
        .filter(|m| m.contender.is_strategy())
        .max_by(|a, b| a.per_task().total_cmp(&b.per_task()));
    if let Some(m) = worst {
        out.push((
            format!(
                "mem: worst strategy {} takes {:.1} bytes per queued task with default options \
                 ({} queued; target <= {MEM_TARGET:.0})",
                m.contender.name(),
                m.per_task(),
                m.queued
            ),
            Some(m.per_task() <= MEM_TARGET),
        ));
    }
    let limit = rows
        .iter()
        .find(|r| r.workload == Workload::W5 && r.contender.role() == Role::Limit);
    if let (Some(m), Some(l)) = (find(rows, Workload::W5, mutex, 1), limit) {
        let x = m.ns_per_task / l.ns_per_task;
        out.push((
            format!(
                "w5: {} {:.1} ns/task vs limit {:.1} ns/task = {x:.2}x (target <= 1.0x)",
                mutex.name(),
                m.ns_per_task,
                l.ns_per_task
            ),
            Some(x <= 1.0),
        ));
    }
    // W6 and W7 against the same strategy's W1: what batching buys (target 10x), and what the
    // worker pool costs (measured, no target).
    for (w, what, target) in [
        (Workload::W6, "in batches of 64", Some(10.0)),
        (
            Workload::W7,
            "through the worker pool (no-op handler)",
            None,
        ),
    ] {
        for c in Contender::ALL.iter().filter(|c| c.is_strategy()) {
            for t in [2, 4] {
                let (Some(v), Some(w1)) = (find(rows, w, *c, t), find(rows, Workload::W1, *c, t))
                else {
                    continue;
                };
                let x = v.tasks_per_s / w1.tasks_per_s;
                let goal =
                    target.map_or("measured, no target".into(), |g| format!("target >= {g}x"));
                out.push((
                    format!(
                        "{} threads={t}: {} {what} is {x:.2}x its own W1 throughput ({:.2} vs \
                         {:.2} M tasks/s; {goal})",
                        w.name(),
                        c.name(),
                        v.tasks_per_s / 1e6,
                        w1.tasks_per_s / 1e6
                    ),
                    target.map(|g| x >= g),
                ));
            }
        }
    }
    out
}

fn json(
    o: &Options,
    rows: &[Row],
    memory: &[MemRow],
    checks: &[(String, Option<bool>)],
) -> serde_json::Value {
    serde_json::json!({
        "machine": {
            "available_parallelism": std::thread::available_parallelism().map_or(0, |n| n.get()),
            "os": std::env::consts::OS,
            "arch": std::env::consts::ARCH,
        },
        "options": {
            "tasks": o.tasks,
            "prefill": o.prefill,
            "threads": o.threads,
            "workloads": o.workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
            "dists": o.dists.iter().map(|d| d.name()).collect::<Vec<_>>(),
            "contenders": o.contenders.iter().map(|c| c.name()).collect::<Vec<_>>(),
            "reps": o.reps,
        },
        "dists": Dist::ALL.iter().map(|d| serde_json::json!({
            "name": d.name(),
            "priorities": d.describe(),
        })).collect::<Vec<_>>(),
        "workloads": o.workloads.iter().map(|w| serde_json::json!({
            "name": w.name(),
            "definition": w.describe(),
            "threads": w.threads_meaning(),
            "dists": w.dists().iter().map(|d| d.name()).collect::<Vec<_>>(),
        })).collect::<Vec<_>>(),
        "results": rows.iter().map(|r| serde_json::json!({
            "case": r.workload.label(r.dist),
            "workload": r.workload.name(),
            "dist": r.dist.name(),
            "contender": r.contender.name(),
            "threads": r.threads,
            "tasks_per_s_median": r.tasks_per_s,
            "tasks_per_s_samples": r.samples,
            "ns_per_task_median": r.ns_per_task,
            "reads_per_s_median": r.reads_per_s,
            "peak_bytes": r.peak_bytes,
            "bytes_per_live_task": r.bytes_per_live,
            "vs_best_peer": r.vs_peer,
            "best_peer": r.best_peer.map(|c| c.name()),
            "vs_reference": r.vs_reference,
            "vs_mutex": r.vs_mutex,
            "role": format!("{:?}", r.contender.role()).to_lowercase(),
            "vs_limit": r.vs_limit,
            "w1_tasks_per_s_median": r.w1_tasks_per_s,
            "vs_w1": r.vs_w1,
            "cancels": r.cancels_median().map(|(landed, lost)| serde_json::json!({
                "landed_median": landed,
                "claimed_instead_median": lost,
                "landed_samples": r.cancels.iter().map(|c| c.landed).collect::<Vec<_>>(),
                "claimed_instead_samples":
                    r.cancels.iter().map(|c| c.claimed_instead).collect::<Vec<_>>(),
            })),
        })).collect::<Vec<_>>(),
        "memory_per_queued_task": memory.iter().map(|m| serde_json::json!({
            "contender": m.contender.name(),
            "peak_bytes": m.peak_bytes,
            "queued": m.queued,
            "bytes_per_queued_task": m.per_task(),
            "held_bytes": m.held_bytes,
            "held_bytes_per_queued_task": m.held_per_task(),
        })).collect::<Vec<_>>(),
        "targets": checks.iter().map(|(text, ok)| serde_json::json!({
            "check": text,
            "met": ok,
        })).collect::<Vec<_>>(),
    })
}

// ---------------------------------------------------------------------------------------------
// The plot: one SVG that reads without the README. A title strip, six panels (W1 and W2 with
// both distributions, W6, memory) and, below them, a legend panel that covers no line.

/// Plot colours (Tableau 10), one per contender by its place in `Contender::ALL`.
const COLORS: [(u8, u8, u8); 15] = [
    (31, 119, 180),  // blue
    (23, 190, 207),  // cyan
    (44, 160, 44),   // green
    (148, 103, 189), // purple
    (214, 39, 40),   // red
    (255, 127, 14),  // orange
    (140, 86, 75),   // brown
    (0, 0, 0),       // black
    (188, 189, 34),  // olive
    (227, 119, 194), // pink
    (127, 127, 127), // grey
    (174, 199, 232), // light blue
    (152, 223, 138), // light green
    (255, 152, 150), // light red
    (197, 176, 213), // light purple
];

/// A contender's colour: the same in every panel and in the legend.
fn color_of(c: Contender) -> plotters::style::RGBColor {
    let i = Contender::ALL.iter().position(|&x| x == c).unwrap_or(0);
    let (r, g, b) = COLORS[i % COLORS.len()];
    plotters::style::RGBColor(r, g, b)
}

/// What the legend says a contender is, after its name.
fn legend_note(c: Contender) -> &'static str {
    match c.role() {
        Role::Strategy => "taskq strategy, default options",
        Role::Variant => "taskq strategy with another option (thin line)",
        Role::Peer => "peer (dashed)",
        Role::Limit => "1 thread, no lock, same total work (flat, dotted)",
        Role::Ceiling => "unordered FIFO, no status: a ceiling, not a peer",
        Role::Experiment => "experiment (issue 8 item 4; long dashes, squares)",
    }
}

type Area<'a> =
    plotters::drawing::DrawingArea<plotters::backend::SVGBackend<'a>, plotters::coord::Shift>;

/// The ticks of a log-scale axis from `lo` to `hi`: 1, 2, 3 and 5 times powers of ten. (Drawn by
/// hand: plotters' own log-scale ticks start at the first power of ten in range, so a panel whose
/// data lie between 1 and 9 would have no label below 10.)
fn log_ticks(lo: f64, hi: f64) -> Vec<f64> {
    let mut out = Vec::new();
    let mut decade = 10f64.powf(lo.log10().floor());
    while decade <= hi {
        for m in [1.0, 2.0, 3.0, 5.0] {
            let v = m * decade;
            if (lo..=hi).contains(&v) {
                out.push(v);
            }
        }
        decade *= 10.0;
    }
    out
}

/// A tick's label: `0.5`, `2`, `30`.
fn tick_label(v: f64) -> String {
    if v >= 1.0 {
        format!("{v:.0}")
    } else {
        format!("{}", (v * 1e6).round() / 1e6)
    }
}

/// One throughput panel: Mtasks/s against threads, one line per contender.
fn line_panel(
    area: &Area<'_>,
    rows: &[Row],
    (w, d): (Workload, Dist),
    prefill: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;
    use plotters::style::text_anchor::{HPos, Pos, VPos};

    let mine: Vec<&Row> = rows.iter().filter(|r| r.case() == (w, d)).collect();
    let title = w.title(d, prefill);
    if mine.is_empty() {
        area.draw(&Text::new(
            format!("{title}: not run"),
            (20, 20),
            ("sans-serif", 16),
        ))?;
        return Ok(());
    }
    let max_t = mine.iter().map(|r| r.threads).max().unwrap_or(1).max(2) as f64;
    let ys = || mine.iter().map(|r| r.tasks_per_s / 1e6);
    let max_y = ys().fold(0.0, f64::max).max(1e-3) * 1.3;
    let min_y = ys().fold(f64::INFINITY, f64::min).max(1e-3) * 0.8;
    let x_range = (-0.2, max_t.log2() + 0.2);
    let mut chart = ChartBuilder::on(area)
        .caption(&title, ("sans-serif", 17))
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(64)
        .build_cartesian_2d(x_range.0..x_range.1, (min_y..max_y).log_scale())?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .x_desc(format!("threads: {}", w.threads_meaning()))
        .y_desc("Mtasks/s (median, log scale), higher is better")
        .x_labels(max_t.log2() as usize + 1)
        .x_label_formatter(&|x| format!("{}", 2f64.powf(x.round())))
        .y_label_formatter(&|_| String::new())
        .light_line_style(WHITE)
        .axis_desc_style(("sans-serif", 13))
        .draw()?;
    // The y grid and labels (see `log_ticks`), left of the plotting area.
    let base = area.get_base_pixel();
    let label_style =
        TextStyle::from(("sans-serif", 12).into_font()).pos(Pos::new(HPos::Right, VPos::Center));
    for v in log_ticks(min_y, max_y) {
        let grid = if v.log10().fract().abs() < 1e-9 {
            200
        } else {
            225
        };
        chart.draw_series(LineSeries::new(
            vec![(x_range.0, v), (x_range.1, v)],
            RGBColor(grid, grid, grid),
        ))?;
        let (px, py) = chart.backend_coord(&(x_range.0, v));
        area.draw(&Text::new(
            tick_label(v),
            (px - base.0 - 6, py - base.1),
            label_style.clone(),
        ))?;
    }
    for &c in Contender::ALL {
        let mut pts: Vec<(f64, f64)> = mine
            .iter()
            .filter(|r| r.contender == c)
            .map(|r| ((r.threads as f64).log2(), r.tasks_per_s / 1e6))
            .collect();
        if pts.is_empty() {
            continue;
        }
        pts.sort_by(|a, b| a.0.total_cmp(&b.0));
        let color = color_of(c);
        match c.role() {
            Role::Strategy | Role::Variant => {
                let width = if c.role() == Role::Strategy { 3 } else { 1 };
                chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(width)))?;
                chart.draw_series(pts.iter().map(|&p| Circle::new(p, 4, color.filled())))?;
            }
            Role::Peer => {
                chart.draw_series(DashedLineSeries::new(
                    pts.clone(),
                    9,
                    5,
                    color.stroke_width(2),
                ))?;
                chart.draw_series(
                    pts.iter()
                        .map(|&p| TriangleMarker::new(p, 5, color.filled())),
                )?;
            }
            Role::Limit => {
                // One thread does the same total work: drawn flat across all thread counts.
                let y = pts[0].1;
                chart.draw_series(DashedLineSeries::new(
                    vec![(-0.2, y), (max_t.log2() + 0.2, y)],
                    2,
                    4,
                    color.stroke_width(2),
                ))?;
            }
            Role::Ceiling => {
                chart.draw_series(LineSeries::new(pts.clone(), color.stroke_width(1)))?;
                chart.draw_series(pts.iter().map(|&p| Cross::new(p, 4, color.stroke_width(1))))?;
            }
            Role::Experiment => {
                chart.draw_series(DashedLineSeries::new(
                    pts.clone(),
                    12,
                    4,
                    color.stroke_width(1),
                ))?;
                chart.draw_series(pts.iter().map(|&(x, y)| {
                    EmptyElement::at((x, y)) + Rectangle::new([(-3, -3), (3, 3)], color.filled())
                }))?;
            }
        }
    }
    Ok(())
}

/// The memory panel: bytes per queued task, one bar per contender (peak light, held dark), with
/// the target.
fn memory_panel(
    area: &Area<'_>,
    memory: &[MemRow],
    prefill: u64,
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let title = format!("Memory per queued task: {prefill} queued, default options");
    if memory.is_empty() {
        area.draw(&Text::new(
            format!("{title}: not run"),
            (20, 20),
            ("sans-serif", 16),
        ))?;
        return Ok(());
    }
    let n = memory.len();
    let max_x = memory
        .iter()
        .map(MemRow::per_task)
        .fold(MEM_TARGET, f64::max)
        * 1.3;
    // The first contender at the top.
    let at = |i: usize| (n - 1 - i) as f64;
    let names: Vec<&str> = memory.iter().map(|m| m.contender.name()).collect();
    let label = move |y: &f64| {
        let i = y.round();
        if (y - i).abs() > 1e-6 || i < 0.0 || i as usize >= n {
            return String::new();
        }
        names[n - 1 - i as usize].to_string()
    };
    let mut chart = ChartBuilder::on(area)
        .caption(&title, ("sans-serif", 17))
        .margin(10)
        .x_label_area_size(42)
        .y_label_area_size(190)
        .build_cartesian_2d(0f64..max_x, -0.6f64..n as f64 - 0.05)?;
    chart
        .configure_mesh()
        .disable_y_mesh()
        .light_line_style(WHITE)
        .y_labels(2 * n + 2)
        .y_label_formatter(&label)
        .x_label_formatter(&|x| format!("{x:.0}"))
        .x_desc("bytes per queued task (see legend), lower is better")
        .axis_desc_style(("sans-serif", 13))
        .draw()?;
    for (i, m) in memory.iter().enumerate() {
        let color = color_of(m.contender);
        let y = at(i);
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.35), (m.per_task(), y + 0.35)],
            color.mix(0.35).filled(),
        )))?;
        chart.draw_series(std::iter::once(Rectangle::new(
            [(0.0, y - 0.2), (m.held_per_task(), y + 0.2)],
            color.filled(),
        )))?;
        chart.draw_series(std::iter::once(Text::new(
            format!("{:.0} B", m.per_task()),
            (m.per_task() + max_x * 0.01, y + 0.2),
            ("sans-serif", 12),
        )))?;
    }
    let red = RGBColor(214, 39, 40);
    chart.draw_series(DashedLineSeries::new(
        vec![(MEM_TARGET, -0.6), (MEM_TARGET, n as f64 - 0.05)],
        6,
        4,
        red.stroke_width(2),
    ))?;
    chart.draw_series(std::iter::once(Text::new(
        format!("target: taskq <= {MEM_TARGET:.0} B"),
        (MEM_TARGET + max_x * 0.01, n as f64 - 0.1),
        ("sans-serif", 12).into_font().color(&red),
    )))?;
    Ok(())
}

/// The legend panel: one entry per contender in the plot, drawn as in the panels.
fn legend_panel(area: &Area<'_>, shown: &[Contender]) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    area.draw(&Text::new(
        "Legend (all panels):",
        (20, 8),
        ("sans-serif", 15).into_font().style(FontStyle::Bold),
    ))?;
    let (cols, col_w, row_h) = (3, 555, 24);
    let rows = shown.len().div_ceil(cols) as i32;
    area.draw(&Text::new(
        format!(
            "Memory panel: light bar = peak heap bytes per queued task while the queue filled up \
             (what the target is about), dark bar = bytes still held once full; red dashed line \
             = the target, at most {MEM_TARGET:.0} bytes per queued task for the taskq strategies."
        ),
        (20, 36 + rows * row_h),
        ("sans-serif", 13),
    ))?;
    for (k, &c) in shown.iter().enumerate() {
        let (x, y) = (
            20 + (k % cols) as i32 * col_w,
            36 + (k / cols) as i32 * row_h,
        );
        let color = color_of(c);
        let line = vec![(x, y), (x + 40, y)];
        match c.role() {
            Role::Strategy | Role::Variant => {
                let width = if c.role() == Role::Strategy { 3 } else { 1 };
                area.draw(&PathElement::new(line, color.stroke_width(width)))?;
                area.draw(&Circle::new((x + 20, y), 4, color.filled()))?;
            }
            Role::Peer => {
                area.draw(&plotters::element::DashedPathElement::new(
                    line,
                    9,
                    5,
                    color.stroke_width(2),
                ))?;
                area.draw(&TriangleMarker::new((x + 20, y), 5, color.filled()))?;
            }
            Role::Limit => {
                area.draw(&plotters::element::DashedPathElement::new(
                    line,
                    2,
                    4,
                    color.stroke_width(2),
                ))?;
            }
            Role::Ceiling => {
                area.draw(&PathElement::new(line, color.stroke_width(1)))?;
                area.draw(&Cross::new((x + 20, y), 4, color.stroke_width(1)))?;
            }
            Role::Experiment => {
                area.draw(&plotters::element::DashedPathElement::new(
                    line,
                    12,
                    4,
                    color.stroke_width(1),
                ))?;
                area.draw(&Rectangle::new(
                    [(x + 17, y - 3), (x + 23, y + 3)],
                    color.filled(),
                ))?;
            }
        }
        area.draw(&Text::new(
            format!("{}: {}", c.name(), legend_note(c)),
            (x + 50, y - 7),
            ("sans-serif", 13),
        ))?;
    }
    Ok(())
}

fn plot(
    path: &Path,
    o: &Options,
    rows: &[Row],
    memory: &[MemRow],
) -> Result<(), Box<dyn std::error::Error>> {
    use plotters::prelude::*;

    let shown: Vec<Contender> = Contender::ALL
        .iter()
        .copied()
        .filter(|&c| {
            rows.iter()
                .any(|r| r.contender == c && PLOTTED.contains(&r.case()))
                || memory.iter().any(|m| m.contender == c)
        })
        .collect();
    let legend_h = 70 + 24 * shown.len().div_ceil(3) as u32;
    let (width, panels_h) = (1680, 2 * 430);
    let root = SVGBackend::new(path, (width, 56 + panels_h + legend_h)).into_drawing_area();
    root.fill(&WHITE)?;
    let (top, rest) = root.split_vertically(56);
    let (grid, legend) = rest.split_vertically(panels_h);
    top.draw(&Text::new(
        format!(
            "taskq compare: median of {} runs per point, N = {} tasks, PREFILL = {}, u64 ids and \
             payloads, {} CPUs",
            o.reps,
            o.tasks,
            o.prefill,
            std::thread::available_parallelism().map_or(0, |n| n.get())
        ),
        (20, 10),
        ("sans-serif", 20).into_font().style(FontStyle::Bold),
    ))?;
    top.draw(&Text::new(
        "Throughput panels: tasks per second against threads, higher is better. Memory panel: \
         bytes per queued task, lower is better.",
        (20, 34),
        ("sans-serif", 14),
    ))?;
    let panels = grid.split_evenly((2, 3));
    for (panel, case) in panels.iter().zip(PLOTTED) {
        line_panel(panel, rows, case, o.prefill)?;
    }
    memory_panel(&panels[5], memory, o.prefill)?;
    legend_panel(&legend, &shown)?;
    root.present()?;
    Ok(())
}

/// The throughput panels, in order (the sixth panel is memory).
const PLOTTED: [(Workload, Dist); 5] = [
    (Workload::W1, Dist::Few),
    (Workload::W1, Dist::Distinct),
    (Workload::W6, Dist::Few),
    (Workload::W2, Dist::Few),
    (Workload::W2, Dist::Distinct),
];

fn main() {
    let o = match parse_args() {
        Ok(o) => o,
        Err(e) => {
            eprintln!("compare: {e}");
            std::process::exit(2);
        }
    };
    eprintln!(
        "compare: tasks={} prefill={} threads={:?} reps={} workloads={:?} dists={:?} on {} CPUs",
        o.tasks,
        o.prefill,
        o.threads,
        o.reps,
        o.workloads.iter().map(|w| w.name()).collect::<Vec<_>>(),
        o.dists.iter().map(|d| d.name()).collect::<Vec<_>>(),
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    let (rows, memory) = measure(&o);
    print!("{}", table(&rows, o.prefill));
    print!("{}", experiments_table(&rows));
    print!("{}", memory_table(&memory, o.prefill));
    let checks = targets(&rows, &memory);
    if !checks.is_empty() {
        println!("targets:");
        if o.quick {
            println!("  (--quick: sizes far too small for these to mean anything)");
        }
        for (text, ok) in &checks {
            let mark = match ok {
                Some(true) => "MET   ",
                Some(false) => "MISSED",
                None => "n/a   ",
            };
            println!("  [{mark}] {text}");
        }
    }
    if let Err(e) = std::fs::create_dir_all(&o.out) {
        eprintln!("compare: cannot create {}: {e}", o.out.display());
        std::process::exit(1);
    }
    let json_path = o.out.join("compare.json");
    let text =
        serde_json::to_string_pretty(&json(&o, &rows, &memory, &checks)).expect("serializable");
    if let Err(e) = std::fs::write(&json_path, text) {
        eprintln!("compare: cannot write {}: {e}", json_path.display());
        std::process::exit(1);
    }
    let svg_path = o.out.join("compare.svg");
    if let Err(e) = plot(&svg_path, &o, &rows, &memory) {
        eprintln!("compare: cannot draw {}: {e}", svg_path.display());
        std::process::exit(1);
    }
    println!("\nwrote {} and {}", json_path.display(), svg_path.display());
}
