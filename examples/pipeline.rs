//! `pipeline`: a staged pipeline on taskq: pre-processing → "inference" → post-processing, each
//! stage with its own workers and a bounded queue in front of it, results in input order.
//!
//! ```sh
//! cargo run --release --example pipeline                      # 2,000 items end to end
//! cargo run --release --example pipeline -- --fail-at 700     # the first error stops every stage
//! cargo run --release --example pipeline -- --help
//! ```
//!
//! Each item is a pseudo-random record made from its number and `--seed`. Pre-processing
//! decodes it into `--values` numbers; inference splits them into chunks of `--chunk` and fans
//! the chunks out to a worker pool ([`FanOut`]: the pool retries a failed chunk with backoff),
//! where each chunk is CPU-bound busy work (`--rounds` of mixing per value), then joins the
//! chunks' digests; post-processing folds them into one result. The sink gets the results in
//! input order (the library's bounded reorder buffer) and folds them into a checksum that does
//! not depend on the number of workers; the example then recomputes the same items on one
//! thread, in order, and checks that it gets the same checksum.
//!
//! The stages, the reorder buffer and the fan-out are the library's (`taskq::pipeline`); this
//! file is only the work and the command line. The report accounts for every item: done (in the
//! output), failed (with its error), cancelled (in flight when the first error stopped
//! everything) or never started. Faults to try: `--fail-at K` (a chunk of item K always
//! fails: the pool retries it, gives up, and the item fails), `--panic-at K` (post-processing
//! panics on item K: caught, the item fails), `--flaky-every M` (default 25: one chunk of every
//! M-th item fails its first attempt; the pool's retry fixes it, the output does not change).
//! Ctrl-C stops admitting items; the ones admitted finish and are delivered (a second Ctrl-C
//! exits at once).
//!
//! Exit status: 0 if the report adds up, the output is in order and its checksum matches the
//! sequential one, and every failure is one that was asked for; 1 otherwise; 2 for a bad
//! command line. With `--quiet`, or when stderr is not a terminal, no progress bars.

use std::collections::HashSet;
use std::fs::File;
use std::io::{BufWriter, IsTerminal, Write};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::Duration;

use indicatif::{MultiProgress, ProgressBar, ProgressDrawTarget, ProgressStyle};
use taskq::pipeline::{Control, FanOut, Pipeline, PipelineReport, Stage, StageContext};
use taskq::pool::{ExponentialBackoff, Pool, Report, SplitMix64};

const USAGE: &str = "\
usage: pipeline [--items N] [--seed S] [--values N] [--chunk N] [--rounds N]
                [--workers PRE,INFER,POST] [--pool N] [--capacity N] [--window N]
                [--fail-at K] [--panic-at K] [--flaky-every M] [--out FILE]
                [--quiet] [--no-verify]";

/// The run's settings (the command line).
#[derive(Debug, Clone)]
pub struct Config {
    /// Items to push through.
    pub items: u64,
    /// Seeds every item's record.
    pub seed: u64,
    /// Numbers per item after pre-processing.
    pub values: usize,
    /// Numbers per inference chunk (a pool task).
    pub chunk: usize,
    /// Mixing rounds per number: the CPU work of inference.
    pub rounds: u32,
    /// Workers of pre-processing, inference and post-processing.
    pub workers: [usize; 3],
    /// Threads of the pool the inference chunks run on.
    pub pool: usize,
    /// The bound on each stage's queue.
    pub capacity: usize,
    /// The reorder window (`None`: the library's default).
    pub window: Option<usize>,
    /// A chunk of this item always fails.
    pub fail_at: Option<u64>,
    /// Post-processing panics on this item.
    pub panic_at: Option<u64>,
    /// One chunk of every M-th item fails its first attempt.
    pub flaky_every: Option<u64>,
    /// Writes `seq result` lines here, in order.
    pub out: Option<PathBuf>,
    /// No progress bars.
    pub quiet: bool,
    /// Recompute the delivered items on one thread and compare checksums.
    pub verify: bool,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            items: 2_000,
            seed: 1,
            values: 2_048,
            chunk: 512,
            rounds: 160,
            workers: [2, 2, 1],
            pool: 2,
            capacity: 8,
            window: None,
            fail_at: None,
            panic_at: None,
            flaky_every: Some(25),
            out: None,
            quiet: false,
            verify: true,
        }
    }
}

/// Parses the command line (without the program name).
pub fn parse_args(args: &[String]) -> Result<Config, String> {
    let mut cfg = Config::default();
    let mut it = args.iter();
    fn num<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: not a number: {v:?}"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--items" => cfg.items = num(arg, it.next())?,
            "--seed" => cfg.seed = num(arg, it.next())?,
            "--values" => cfg.values = num(arg, it.next())?,
            "--chunk" => cfg.chunk = num(arg, it.next())?,
            "--rounds" => cfg.rounds = num(arg, it.next())?,
            "--pool" => cfg.pool = num(arg, it.next())?,
            "--capacity" => cfg.capacity = num(arg, it.next())?,
            "--window" => cfg.window = Some(num(arg, it.next())?),
            "--fail-at" => cfg.fail_at = Some(num(arg, it.next())?),
            "--panic-at" => cfg.panic_at = Some(num(arg, it.next())?),
            "--flaky-every" => {
                let m: u64 = num(arg, it.next())?;
                cfg.flaky_every = (m > 0).then_some(m);
            }
            "--workers" => {
                let v = it.next().ok_or("--workers needs a value")?;
                let w: Vec<usize> = v
                    .split(',')
                    .map(|s| s.trim().parse().map_err(|_| format!("--workers: {v:?}")))
                    .collect::<Result<_, _>>()?;
                cfg.workers = w
                    .try_into()
                    .map_err(|_| format!("--workers takes three counts, PRE,INFER,POST: {v:?}"))?;
            }
            "--out" => cfg.out = Some(it.next().ok_or("--out needs a file")?.into()),
            "--quiet" | "-q" => cfg.quiet = true,
            "--no-verify" => cfg.verify = false,
            "--help" | "-h" => return Err(String::new()),
            other => return Err(format!("unknown argument {other:?}")),
        }
    }
    if cfg.chunk == 0 || cfg.values == 0 {
        return Err("--values and --chunk must be at least 1".into());
    }
    Ok(cfg)
}

// ---------------------------------------------------------------------------------------------
// The work. Each function is pure, so the sequential reference computes the same results.

/// Pre-processing: "decodes" item `seq`'s record into `values` numbers.
pub fn pre_process(cfg: &Config, seq: u64) -> Vec<u32> {
    let mut rng = SplitMix64::new(cfg.seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ seq);
    (0..cfg.values)
        .map(|_| (rng.next_u64() >> 40) as u32)
        .collect()
}

/// One inference chunk: CPU-bound mixing of each number, folded into a digest.
pub fn infer_chunk(values: &[u32], rounds: u32) -> u64 {
    let mut digest = 0xCBF2_9CE4_8422_2325u64;
    for &v in values {
        let mut x = u64::from(v);
        for _ in 0..rounds {
            x = x.wrapping_mul(0xBF58_476D_1CE4_E5B9).rotate_left(27) ^ (x >> 31);
        }
        digest = (digest ^ x).wrapping_mul(0x100_0000_01B3);
    }
    digest
}

/// Post-processing: folds the chunks' digests (in chunk order) into the item's result.
pub fn post_process(seq: u64, digests: &[u64]) -> u64 {
    digests.iter().fold(seq ^ 0x5851_F42D_4C95_7F2D, |acc, d| {
        acc.rotate_left(13) ^ d
    })
}

/// The checksum of results in order: FNV-1a over each `(seq, result)` as little-endian bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Checksum(pub u64);

impl Default for Checksum {
    fn default() -> Self {
        Checksum(0xCBF2_9CE4_8422_2325)
    }
}

impl Checksum {
    /// Adds the next result.
    pub fn add(&mut self, seq: u64, result: u64) {
        for b in seq.to_le_bytes().into_iter().chain(result.to_le_bytes()) {
            self.0 = (self.0 ^ u64::from(b)).wrapping_mul(0x100_0000_01B3);
        }
    }
}

/// Items `0..n` computed on one thread, in order, without the pipeline.
pub fn reference(cfg: &Config, n: u64) -> Checksum {
    let mut sum = Checksum::default();
    for seq in 0..n {
        let values = pre_process(cfg, seq);
        let digests: Vec<u64> = values
            .chunks(cfg.chunk)
            .map(|c| infer_chunk(c, cfg.rounds))
            .collect();
        sum.add(seq, post_process(seq, &digests));
    }
    sum
}

/// An inference chunk as a pool task sees it.
struct Chunk {
    seq: u64,
    index: usize,
    values: Vec<u32>,
}

/// What a run gives back.
#[derive(Debug)]
pub struct Outcome {
    /// The pipeline's report.
    pub report: PipelineReport,
    /// The delivered `(seq, result)`s, in the order the sink got them.
    pub outputs: Vec<(u64, u64)>,
    /// Their checksum.
    pub checksum: Checksum,
    /// The fan-out pool's report.
    pub pool: Report<u64>,
}

/// Runs the pipeline. `on_start` gets its [`Control`] before it starts (for Ctrl-C and the
/// progress bars).
pub fn run(cfg: &Config, on_start: impl FnOnce(&Control)) -> Result<Outcome, String> {
    let fan = FanOut::spawn(
        Pool::builder()
            .workers(cfg.pool)
            .backoff(ExponentialBackoff::new(
                Duration::from_millis(1),
                Duration::from_millis(20),
            ))
            .poll_interval(Duration::from_millis(20)),
        3,
    )
    .map_err(|e| e.to_string())?;
    // Chunks that already failed once (for --flaky-every).
    let flaked: Arc<Mutex<HashSet<(u64, usize)>>> = Arc::default();
    let [pre, infer, post] = cfg.workers;

    let pipeline = Pipeline::new()
        .stage(
            Stage::new("pre").workers(pre).capacity(cfg.capacity),
            |seq: u64, _: &StageContext<'_>| Ok::<_, String>(pre_process(cfg, seq)),
        )
        .stage(
            Stage::new("infer").workers(infer).capacity(cfg.capacity),
            |values: Vec<u32>, ctx: &StageContext<'_>| {
                let seq = ctx.seq();
                let chunks: Vec<Chunk> = values
                    .chunks(cfg.chunk)
                    .enumerate()
                    .map(|(index, c)| Chunk {
                        seq,
                        index,
                        values: c.to_vec(),
                    })
                    .collect();
                let (rounds, fail_at, flaky_every) = (cfg.rounds, cfg.fail_at, cfg.flaky_every);
                let flaked = Arc::clone(&flaked);
                let digests = fan.run(
                    -(seq as i64), // older items' chunks first
                    chunks,
                    move |c: &Chunk| {
                        if fail_at == Some(c.seq) && c.index == 0 {
                            return Err(format!("injected failure in item {}", c.seq));
                        }
                        let flaky = flaky_every.is_some_and(|m| c.seq % m == m - 1);
                        if flaky && c.index == 1 && flaked.lock().unwrap().insert((c.seq, 1)) {
                            return Err(format!("item {} chunk 1: flaky first attempt", c.seq));
                        }
                        Ok(infer_chunk(&c.values, rounds))
                    },
                    ctx.cancel_token(),
                );
                digests.map_err(|e| e.to_string())
            },
        )
        .stage(
            Stage::new("post").workers(post).capacity(cfg.capacity),
            |digests: Vec<u64>, ctx: &StageContext<'_>| {
                if cfg.panic_at == Some(ctx.seq()) {
                    panic!("injected panic in post-processing of item {}", ctx.seq());
                }
                Ok::<_, String>(post_process(ctx.seq(), &digests))
            },
        );
    let pipeline = match cfg.window {
        Some(w) => pipeline.window(w),
        None => pipeline,
    };
    on_start(&pipeline.control());

    let mut out = match &cfg.out {
        Some(path) => Some(BufWriter::new(
            File::create(path).map_err(|e| format!("{}: {e}", path.display()))?,
        )),
        None => None,
    };
    let mut outputs = Vec::new();
    let mut checksum = Checksum::default();
    let report = pipeline
        .run(0..cfg.items, |seq, result| {
            checksum.add(seq, result);
            outputs.push((seq, result));
            if let Some(out) = &mut out {
                // An error here panics the sink: the pipeline stops and reports it.
                writeln!(out, "{seq} {result:016x}").expect("writing the output file");
            }
        })
        .map_err(|e| e.to_string())?;
    if let Some(mut out) = out {
        out.flush().map_err(|e| e.to_string())?;
    }
    let pool = fan.shutdown();
    Ok(Outcome {
        report,
        outputs,
        checksum,
        pool,
    })
}

/// One bar per stage and one for the output, fed from the pipeline's progress every 100 ms
/// until `done` is set.
fn progress_bars(control: Control, total: u64, done: Arc<AtomicBool>) -> thread::JoinHandle<()> {
    thread::spawn(move || {
        let multi = MultiProgress::with_draw_target(ProgressDrawTarget::stderr_with_hz(10));
        let style =
            ProgressStyle::with_template("{prefix:>7} [{bar:40.cyan/blue}] {pos:>6}/{len:6} {msg}")
                .expect("a valid template")
                .progress_chars("=> ");
        let bar = |name: &str| {
            let b = multi.add(ProgressBar::new(total));
            b.set_style(style.clone());
            b.set_prefix(name.to_string());
            b
        };
        let stages: Vec<ProgressBar> = control
            .progress()
            .stages
            .iter()
            .map(|s| bar(&s.name))
            .collect();
        let output = bar("output");
        loop {
            let p = control.progress();
            for (b, s) in stages.iter().zip(&p.stages) {
                b.set_position(s.done);
                b.set_message(format!(
                    "{} workers, {} queued, {} running{}",
                    s.workers,
                    s.waiting,
                    s.running,
                    if s.failed > 0 { ", FAILED" } else { "" }
                ));
            }
            output.set_position(p.emitted);
            output.set_message(if p.stopping { "stopping" } else { "in order" });
            if done.load(SeqCst) {
                break;
            }
            thread::sleep(Duration::from_millis(100));
        }
        for b in stages.iter().chain([&output]) {
            b.abandon();
        }
    })
}

/// The report a person (and CI) checks; returns whether everything adds up.
pub fn print_report(cfg: &Config, o: &Outcome) -> bool {
    let r = &o.report;
    println!(
        "pipeline: {} items, workers pre {} / infer {} (pool {}) / post {}, window {}",
        cfg.items, cfg.workers[0], cfg.workers[1], cfg.pool, cfg.workers[2], r.window
    );
    println!("{r}");
    for f in &r.failed {
        println!("failed: item {} at {}: {}", f.seq, f.stage, f.error);
    }
    if !r.cancelled.is_empty() {
        let mut seqs: Vec<String> = r
            .cancelled
            .iter()
            .take(12)
            .map(|c| c.seq.to_string())
            .collect();
        if r.cancelled.len() > 12 {
            seqs.push(format!("… ({} more)", r.cancelled.len() - 12));
        }
        println!(
            "cancelled (in flight when it stopped): items {}",
            seqs.join(", ")
        );
    }
    let s = &o.pool.stats;
    println!(
        "fan-out pool: {} chunk runs: completed {}, retried {}, failed {}, panicked {}",
        s.handler_runs, s.completed, s.retried, s.failed, s.panicked
    );
    let mut ok = true;
    let accounted = r.accounted();
    println!(
        "accounted: done {} + failed {} + cancelled {} + never started {} = {} of {} items in{}",
        r.done,
        r.failed.len(),
        r.cancelled.len(),
        r.never_started,
        accounted,
        r.items_in,
        if accounted == r.items_in {
            ""
        } else {
            "  MISMATCH"
        }
    );
    ok &= accounted == r.items_in;
    let in_order = o.outputs.iter().map(|(s, _)| *s).eq(0..r.done);
    println!(
        "output: {} results, {}; checksum {:016x}",
        o.outputs.len(),
        if in_order {
            "in input order"
        } else {
            "OUT OF ORDER"
        },
        o.checksum.0
    );
    ok &= in_order && o.outputs.len() as u64 == r.done;
    if cfg.verify {
        let want = reference(cfg, r.done);
        let matches = want == o.checksum;
        println!(
            "sequential reference for items 0..{}: {:016x} ({})",
            r.done,
            want.0,
            if matches { "match" } else { "MISMATCH" }
        );
        ok &= matches;
    }
    let asked_for = |seq: u64| cfg.fail_at == Some(seq) || cfg.panic_at == Some(seq);
    ok &= r.failed.iter().all(|f| asked_for(f.seq));
    ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let cfg = match parse_args(&args) {
        Ok(cfg) => cfg,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("pipeline: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    if cfg.panic_at.is_some() {
        // The injected panic is caught and reported; keep the default hook's message short.
        std::panic::set_hook(Box::new(|info| {
            let message = info
                .payload()
                .downcast_ref::<String>()
                .map_or("?", String::as_str);
            let at = info
                .location()
                .map(|l| format!(" at {l}"))
                .unwrap_or_default();
            eprintln!("panic{at}: {message} (caught: the item fails)");
        }));
    }
    let bars_done = Arc::new(AtomicBool::new(false));
    let mut bars = None;
    let show_bars = !cfg.quiet && std::io::stderr().is_terminal();
    let outcome = run(&cfg, |control| {
        let c = control.clone();
        let interrupted = AtomicBool::new(false);
        let _ = ctrlc::set_handler(move || {
            if interrupted.swap(true, SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting now");
                std::process::exit(130);
            }
            if !show_bars {
                // (With bars, the output bar says "stopping": a line here would garble them.)
                eprintln!("Ctrl-C: admitting no more items; the ones in flight finish (Ctrl-C again to exit now)");
            }
            c.stop();
        });
        if show_bars {
            bars = Some(progress_bars(
                control.clone(),
                cfg.items,
                Arc::clone(&bars_done),
            ));
        }
    });
    bars_done.store(true, SeqCst);
    if let Some(bars) = bars {
        let _ = bars.join();
    }
    match outcome {
        Ok(outcome) => {
            if !print_report(&cfg, &outcome) {
                std::process::exit(1);
            }
        }
        Err(e) => {
            eprintln!("pipeline: {e}");
            std::process::exit(1);
        }
    }
}
