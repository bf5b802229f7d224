//! `log_ingest`: a log-ingestion engine on taskq. A watcher thread polls a directory and adds
//! each new `*.log` file to a bounded queue once; a worker pool reads each file in chunks,
//! parses its lines and appends the file's per-service, per-level counts to one output file.
//!
//! ```sh
//! cargo run --release --example log_ingest -- --generate                  # one command: sample files in a temp dir, ingested, checked
//! cargo run --release --example log_ingest -- --generate logs 200 --seed 7 # write 200 sample files into logs/ and exit
//! cargo run --release --example log_ingest -- logs --workers 4 --once      # ingest what is there, then exit
//! cargo run --release --example log_ingest -- logs                         # keep watching (Ctrl-C stops)
//! ```
//!
//! **Log format** (what `--generate` writes): one entry per line,
//! `TIMESTAMP LEVEL SERVICE MESSAGE`, separated by single spaces: `TIMESTAMP` is
//! `YYYY-MM-DDTHH:MM:SS.mmmZ`, `LEVEL` one of `DEBUG INFO WARN ERROR FATAL`, `SERVICE` a lower-case
//! name (`[a-z][a-z0-9-]*`, at most 32 characters), `MESSAGE` any non-empty UTF-8 text. A line
//! that does not parse makes the whole file fail ("line 17: unknown level \"WARNING\""). The
//! generator makes about one file in eight malformed (an unknown level, a truncated line, a bad
//! timestamp, bytes that are not UTF-8), and in some a *poison* line (service `chaos-monkey`,
//! message `panic`) on which the parser panics, standing for a parser bug. Generated files are
//! written under a temporary name and renamed, so the watcher never sees half a file.
//!
//! **Priority.** The watcher scans the first 16 lines of each new file (quickly, tolerating
//! anything) and gives the file the priority of the worst level it saw (`FATAL` first,
//! `DEBUG` last); files of equal priority go first found, first served (names in order within one
//! poll).
//!
//! **Backpressure.** The queue holds at most `--queue` files (default 16): when the workers are
//! behind, the watcher blocks on adding the next file and stops scanning.
//!
//! **Output** (`--out`, default `DIR/counts.tsv`): one line per file, tab-separated, so that a
//! file's counts are appended in one write under a lock:
//! `done FILE LINES SERVICE/LEVEL=COUNT,...` or `failed FILE ATTEMPTS ERROR`. The output is also
//! the engine's memory: a file already in it is skipped (a failed one too: delete its line to
//! retry it). At start and at the end the engine rewrites it sorted by file name (via a temporary
//! file and a rename), dropping a line cut short by a crash, so its content depends only on the
//! input files, never on the number of workers or the order they finished in.
//!
//! **Failures.** A file whose parse fails (an `Err` or a panic, which the pool catches) is
//! retried by the pool with exponential backoff (`--attempts`, default 3) and then recorded as
//! failed with its last error; the engine goes on.
//!
//! **Stopping.** `--once` ingests what is in the directory and exits when every file is done or
//! failed. Otherwise it watches until Ctrl-C, which stops it gracefully: the watcher stops, the
//! files being parsed finish and are written, and the files still queued (or waiting for a
//! retry, or found but not yet queued) are reported as not processed; they are not in the
//! output, so a re-run picks them up. A second Ctrl-C exits at once: a file cut off then is not
//! in the output either (its line is written in one piece or not at all) and is picked up by the
//! next run.
//!
//! The summary at the end: files found, done, failed (with their errors), not processed and
//! skipped, which must add up; lines per level and per service; and a check that the lines
//! counted in the output equal the lines of the done files on disk, counted again.

use std::collections::{BTreeMap, BTreeSet, HashSet};
use std::fmt::Write as _;
use std::fs::{self, File, OpenOptions};
use std::io::{self, BufRead, BufReader, IsTerminal, Read, Write};
use std::panic::{catch_unwind, resume_unwind, AssertUnwindSafe};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::thread;
use std::time::{Duration, Instant};

use taskq::pool::{Context, ExponentialBackoff, Pool, Report, SplitMix64};
use taskq::{Backend, Retention, Task, TaskQueue, ThreadSafeTaskQueue};

const USAGE: &str = "\
usage: log_ingest --generate [DIR N] [--seed S] [--keep]
       log_ingest DIR [--workers N] [--out FILE] [--once] [--queue N] [--attempts N]
                      [--poll-ms N] [--backoff-ms N] [--quiet]

  --generate DIR N   write N sample log files (some malformed) into DIR and exit
  --generate         no DIR: sample files (--files N, default 200) in a temporary
                     directory, ingested with --once and checked against the generator;
                     the directory is removed at the end unless --keep";

/// The levels, least to most severe; a level's index is its priority.
pub const LEVELS: [&str; 5] = ["DEBUG", "INFO", "WARN", "ERROR", "FATAL"];

// ---------------------------------------------------------------------------------------------
// The log format.

/// Parses one line: its service and level index. A poison line panics (a simulated parser
/// bug).
pub fn parse_line(line: &[u8]) -> Result<(&str, usize), String> {
    let line = std::str::from_utf8(line).map_err(|_| "not UTF-8".to_string())?;
    let mut fields = line.splitn(4, ' ');
    let timestamp = fields.next().unwrap_or_default();
    check_timestamp(timestamp)?;
    let level = fields.next().ok_or("missing level")?;
    let level = LEVELS
        .iter()
        .position(|l| *l == level)
        .ok_or_else(|| format!("unknown level {level:?}"))?;
    let service = fields.next().ok_or("missing service")?;
    let valid = service.len() <= 32
        && service.starts_with(|c: char| c.is_ascii_lowercase())
        && service
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-');
    if !valid {
        return Err(format!("bad service name {service:?}"));
    }
    let message = fields.next().unwrap_or_default();
    if message.is_empty() {
        return Err("missing message".into());
    }
    if service == "chaos-monkey" && message == "panic" {
        panic!("parser bug: cannot handle a chaos-monkey line");
    }
    Ok((service, level))
}

/// `YYYY-MM-DDTHH:MM:SS.mmmZ`, with the fields in range.
fn check_timestamp(t: &str) -> Result<(), String> {
    let bad = || format!("bad timestamp {t:?}");
    let b = t.as_bytes();
    let shape = b.len() == 24
        && b.iter().enumerate().all(|(i, c)| match i {
            4 | 7 => *c == b'-',
            10 => *c == b'T',
            13 | 16 => *c == b':',
            19 => *c == b'.',
            23 => *c == b'Z',
            _ => c.is_ascii_digit(),
        });
    if !shape {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| t[r].parse::<u32>().unwrap_or(u32::MAX);
    let ok = (1..=12).contains(&num(5..7))
        && (1..=31).contains(&num(8..10))
        && num(11..13) < 24
        && num(14..16) < 60
        && num(17..19) < 60;
    if ok {
        Ok(())
    } else {
        Err(bad())
    }
}

/// The level of a line for the watcher's quick scan: the second field, if it is a level.
fn quick_level(line: &[u8]) -> Option<usize> {
    let field = line.split(|b| *b == b' ').nth(1)?;
    LEVELS.iter().position(|l| l.as_bytes() == field)
}

// ---------------------------------------------------------------------------------------------
// The generator.

/// What `generate` wrote: the expectations a run is checked against.
#[derive(Debug, Clone, Default)]
pub struct Generated {
    /// Every file, in name order.
    pub files: Vec<String>,
    /// The malformed files, with what is wrong in each.
    pub malformed: BTreeMap<String, &'static str>,
    /// Lines in the well-formed files.
    pub good_lines: u64,
    /// Lines per level in the well-formed files.
    pub per_level: [u64; 5],
}

const SERVICES: [&str; 6] = ["auth", "billing", "search", "checkout", "gateway", "mailer"];
const WORDS: [&str; 10] = [
    "request", "served", "in", "ms", "user", "cache", "miss", "retry", "timeout", "ok",
];

/// Writes `n` sample files `app-0000.log`… into `dir` (created if missing), deterministic for a
/// `seed`: 20 to 400 lines each; about one file in eight has one bad line.
pub fn generate(dir: &Path, n: usize, seed: u64) -> io::Result<Generated> {
    fs::create_dir_all(dir)?;
    let mut rng = SplitMix64::new(seed);
    let mut gen = Generated::default();
    for i in 0..n {
        let name = format!("app-{i:04}.log");
        let lines = 20 + (rng.next_u64() % 381) as usize;
        let bad: Option<(usize, &'static str)> = (rng.next_u64() % 8 == 0).then(|| {
            let kinds = [
                "unknown level",
                "truncated line",
                "bad timestamp",
                "not UTF-8",
                "poison line (parser panics)",
            ];
            let at = (rng.next_u64() % lines as u64) as usize;
            (at, kinds[(rng.next_u64() % kinds.len() as u64) as usize])
        });
        let mut text: Vec<u8> = Vec::new();
        let mut per_level = [0u64; 5];
        for j in 0..lines {
            let day = 1 + i % 28;
            let secs = (j * 7 + i * 13) % 86_400;
            let ts = format!(
                "2024-05-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
                secs / 3600,
                secs / 60 % 60,
                secs % 60,
                (j * 37) % 1000
            );
            let level = match rng.next_u64() % 100 {
                0 => 4,
                1..=7 => 3,
                8..=19 => 2,
                20..=69 => 1,
                _ => 0,
            };
            let service = SERVICES[(rng.next_u64() % SERVICES.len() as u64) as usize];
            let words = 1 + rng.next_u64() % 6;
            let mut message = String::new();
            for w in 0..words {
                if w > 0 {
                    message.push(' ');
                }
                message.push_str(WORDS[(rng.next_u64() % WORDS.len() as u64) as usize]);
            }
            match bad {
                Some((at, kind)) if at == j => match kind {
                    "unknown level" => {
                        text.extend(format!("{ts} WARNING {service} {message}\n").bytes())
                    }
                    "truncated line" => text.extend(format!("{ts} {}\n", LEVELS[level]).bytes()),
                    "bad timestamp" => text.extend(
                        format!("2024-13-45T25:61:00.000Z INFO {service} {message}\n").bytes(),
                    ),
                    "not UTF-8" => {
                        text.extend(format!("{ts} INFO {service} caf").bytes());
                        text.extend([0xC3, 0x28, b'\n']);
                    }
                    _ => text.extend(format!("{ts} ERROR chaos-monkey panic\n").bytes()),
                },
                _ => {
                    text.extend(format!("{ts} {} {service} {message}\n", LEVELS[level]).bytes());
                    per_level[level] += 1;
                }
            }
        }
        match bad {
            Some((_, kind)) => {
                gen.malformed.insert(name.clone(), kind);
            }
            None => {
                gen.good_lines += lines as u64;
                for (total, n) in gen.per_level.iter_mut().zip(per_level) {
                    *total += n;
                }
            }
        }
        // Written under a name the watcher ignores, then renamed: never seen half-written.
        let tmp = dir.join(format!(".{name}.tmp"));
        fs::write(&tmp, &text)?;
        fs::rename(&tmp, dir.join(&name))?;
        gen.files.push(name);
    }
    Ok(gen)
}

// ---------------------------------------------------------------------------------------------
// The output file: one record per file.

/// One line of the output file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    /// A file ingested: its lines, and its counts by (service, level index).
    Done {
        /// Lines in the file.
        lines: u64,
        /// Counts by (service, level index); they add up to `lines`.
        counts: BTreeMap<(String, usize), u64>,
    },
    /// A file that failed every attempt.
    Failed {
        /// Attempts made.
        attempts: u32,
        /// The last attempt's error.
        error: String,
    },
}

fn format_record(file: &str, record: &Record) -> String {
    match record {
        Record::Done { lines, counts } => {
            let mut line = format!("done\t{file}\t{lines}\t");
            for (i, ((service, level), n)) in counts.iter().enumerate() {
                let sep = if i == 0 { "" } else { "," };
                let _ = write!(line, "{sep}{service}/{}={n}", LEVELS[*level]);
            }
            line.push('\n');
            line
        }
        Record::Failed { attempts, error } => {
            // An error is one line, without tabs.
            let error = error.replace(['\t', '\n', '\r'], " ");
            format!("failed\t{file}\t{attempts}\t{error}\n")
        }
    }
}

/// Parses one output line; `None` for anything that is not a whole, consistent record (a line
/// cut short by a crash: its counts do not add up to its line count, or a field is missing).
fn parse_record(line: &str) -> Option<(String, Record)> {
    let mut f = line.split('\t');
    let (kind, file, third, fourth) = (f.next()?, f.next()?, f.next()?, f.next()?);
    if f.next().is_some() || file.is_empty() {
        return None;
    }
    match kind {
        "done" => {
            let lines: u64 = third.parse().ok()?;
            let mut counts = BTreeMap::new();
            for pair in fourth.split(',').filter(|p| !p.is_empty()) {
                let (key, n) = pair.split_once('=')?;
                let (service, level) = key.split_once('/')?;
                let level = LEVELS.iter().position(|l| *l == level)?;
                counts.insert((service.to_string(), level), n.parse().ok()?);
            }
            (counts.values().sum::<u64>() == lines)
                .then(|| (file.to_string(), Record::Done { lines, counts }))
        }
        "failed" => Some((
            file.to_string(),
            Record::Failed {
                attempts: third.parse().ok()?,
                error: fourth.to_string(),
            },
        )),
        _ => None,
    }
}

/// The records of an output file (a missing file has none); the first record of a file wins.
pub fn load_output(path: &Path) -> io::Result<BTreeMap<String, Record>> {
    let text = match fs::read(path) {
        Ok(bytes) => bytes,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(BTreeMap::new()),
        Err(e) => return Err(e),
    };
    let mut records = BTreeMap::new();
    for line in text.split(|b| *b == b'\n') {
        let Ok(line) = std::str::from_utf8(line) else {
            continue;
        };
        if let Some((file, record)) = parse_record(line) {
            records.entry(file).or_insert(record);
        }
    }
    Ok(records)
}

/// Rewrites the output file sorted by file name, one record per file, dropping anything else
/// (via a temporary file and a rename: a crash leaves the old file or the new one).
fn compact_output(path: &Path) -> io::Result<BTreeMap<String, Record>> {
    let records = load_output(path)?;
    let mut text = String::new();
    for (file, record) in &records {
        text.push_str(&format_record(file, record));
    }
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, text)?;
    fs::rename(&tmp, path)?;
    Ok(records)
}

/// Lines in a file, counted on their own: newlines, plus a last line without one.
pub fn count_lines(path: &Path) -> io::Result<u64> {
    let bytes = fs::read(path)?;
    let newlines = bytes.iter().filter(|b| **b == b'\n').count() as u64;
    Ok(newlines + u64::from(bytes.last().is_some_and(|b| *b != b'\n')))
}

// ---------------------------------------------------------------------------------------------
// The engine.

/// The engine's settings (the command line).
#[derive(Debug, Clone)]
pub struct IngestConfig {
    /// The directory watched.
    pub dir: PathBuf,
    /// The output file.
    pub out: PathBuf,
    /// Pool workers.
    pub workers: usize,
    /// Ingest what is there, then exit.
    pub once: bool,
    /// How often the watcher lists the directory.
    pub poll: Duration,
    /// The bound on queued files.
    pub queue: usize,
    /// Attempts per file.
    pub attempts: u32,
    /// The first retry delay (doubling, at most 2 s, full jitter).
    pub backoff: Duration,
    /// Bytes read per chunk.
    pub chunk: usize,
    /// Lines the watcher scans for a file's priority.
    pub scan_lines: usize,
    /// A `\r` progress line on stderr.
    pub progress: bool,
}

impl IngestConfig {
    /// The defaults for a directory.
    pub fn new(dir: impl Into<PathBuf>) -> Self {
        let dir = dir.into();
        IngestConfig {
            out: dir.join("counts.tsv"),
            dir,
            workers: 2,
            once: false,
            poll: Duration::from_millis(200),
            queue: 16,
            attempts: 3,
            backoff: Duration::from_millis(50),
            chunk: 64 * 1024,
            scan_lines: 16,
            progress: false,
        }
    }
}

/// Live counts, for the progress line (and tests).
#[derive(Debug, Default)]
pub struct Counters {
    /// Files the watcher found.
    pub found: AtomicU64,
    /// Files added to the queue.
    pub queued: AtomicU64,
    /// Files done.
    pub done: AtomicU64,
    /// Files failed for good.
    pub failed: AtomicU64,
    /// Lines counted in done files.
    pub lines: AtomicU64,
}

/// What one run did.
#[derive(Debug)]
pub struct Summary {
    /// Files found in the directory this run.
    pub found: u64,
    /// Found but already in the output: not processed again.
    pub skipped: Vec<String>,
    /// Ingested this run, with their records.
    pub done: BTreeMap<String, Record>,
    /// Failed for good this run: attempts and last error.
    pub failed: BTreeMap<String, (u32, String)>,
    /// Found but not processed (stopped first): not in the output, picked up by a re-run.
    pub not_processed: BTreeSet<String>,
    /// Whether it was stopped (Ctrl-C) rather than finishing (`--once`).
    pub stopped: bool,
    /// The pool's report.
    pub pool: Report<String>,
    /// The output file's records after the run (this run's and earlier ones').
    pub output: BTreeMap<String, Record>,
    /// Lines of the output's done files on disk, counted again (`None` if one is gone).
    pub recounted: Option<u64>,
    /// How long it ran.
    pub elapsed: Duration,
}

/// This run's results, filled in by the workers.
#[derive(Default)]
struct Results {
    done: BTreeMap<String, Record>,
    failed: BTreeMap<String, (u32, String)>,
}

/// Reads a file in chunks and counts its lines by service and level; fails on the first line
/// that does not parse, and gives up between chunks if the pool is cancelled.
fn ingest_file(path: &Path, chunk: usize, ctx: &Context<'_>) -> Result<Record, String> {
    let mut file = File::open(path).map_err(|e| format!("cannot open: {e}"))?;
    let mut counts: BTreeMap<(String, usize), u64> = BTreeMap::new();
    let mut lines = 0u64;
    let mut count = |line: &[u8], lines: &mut u64| -> Result<(), String> {
        *lines += 1;
        let (service, level) = parse_line(line).map_err(|e| format!("line {lines}: {e}"))?;
        *counts.entry((service.to_string(), level)).or_default() += 1;
        Ok(())
    };
    let mut buf = vec![0u8; chunk.max(1)];
    let mut carry: Vec<u8> = Vec::new(); // a line split across chunks
    loop {
        if ctx.is_cancelled() {
            return Err("cancelled".into());
        }
        let n = match file.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(format!("read error: {e}")),
        };
        let mut rest = &buf[..n];
        while let Some(end) = rest.iter().position(|b| *b == b'\n') {
            if carry.is_empty() {
                count(&rest[..end], &mut lines)?;
            } else {
                carry.extend_from_slice(&rest[..end]);
                count(&carry, &mut lines)?;
                carry.clear();
            }
            rest = &rest[end + 1..];
        }
        carry.extend_from_slice(rest);
    }
    if !carry.is_empty() {
        count(&carry, &mut lines)?;
    }
    Ok(Record::Done { lines, counts })
}

/// The priority of a file: the worst level among its first `scan_lines` lines (0 if none).
fn scan_priority(path: &Path, scan_lines: usize) -> i64 {
    let Ok(file) = File::open(path) else { return 0 };
    BufReader::new(file)
        .split(b'\n')
        .take(scan_lines)
        .map_while(Result::ok)
        .filter_map(|line| quick_level(&line))
        .max()
        .map_or(0, |l| l as i64)
}

/// The `*.log` files in `dir` (not dot files), by name.
fn list_logs(dir: &Path) -> io::Result<Vec<String>> {
    let mut names: Vec<String> = fs::read_dir(dir)?
        .filter_map(Result::ok)
        .filter(|e| e.file_type().is_ok_and(|t| t.is_file()))
        .filter_map(|e| e.file_name().into_string().ok())
        .filter(|n| n.ends_with(".log") && !n.starts_with('.'))
        .collect();
    names.sort();
    Ok(names)
}

type FileQueue = ThreadSafeTaskQueue<String, PathBuf>;

/// What the watcher found.
#[derive(Default)]
struct Watched {
    found: u64,
    skipped: Vec<String>,
    /// Found, but the engine stopped before they were queued.
    not_queued: Vec<String>,
    error: Option<io::Error>,
}

/// The watcher: lists the directory every `poll`, scans and queues each new file once (blocking
/// while the queue is full); one pass with `once`.
fn watch(
    cfg: &IngestConfig,
    queue: &FileQueue,
    known: &BTreeMap<String, Record>,
    stop: &AtomicBool,
    counters: &Counters,
) -> Watched {
    let mut w = Watched::default();
    let mut seen = HashSet::new();
    loop {
        let names = match list_logs(&cfg.dir) {
            Ok(names) => names,
            Err(e) => {
                w.error = Some(e);
                return w;
            }
        };
        for name in names {
            if !seen.insert(name.clone()) {
                continue;
            }
            w.found += 1;
            counters.found.fetch_add(1, Relaxed);
            if known.contains_key(&name) {
                w.skipped.push(name);
                continue;
            }
            if stop.load(SeqCst) {
                w.not_queued.push(name);
                continue;
            }
            let path = cfg.dir.join(&name);
            let priority = scan_priority(&path, cfg.scan_lines);
            // Blocks while the queue is full; refused once the engine is stopping.
            match queue.enqueue(name.clone(), priority, path) {
                Ok(()) => {
                    counters.queued.fetch_add(1, Relaxed);
                }
                Err(_) => w.not_queued.push(name),
            }
        }
        if cfg.once {
            return w;
        }
        let next = Instant::now() + cfg.poll;
        while Instant::now() < next {
            if stop.load(SeqCst) {
                return w;
            }
            thread::sleep(Duration::from_millis(20).min(cfg.poll));
        }
    }
}

/// Runs the engine until `--once` is done or `stop` is raised (Ctrl-C).
pub fn ingest(
    cfg: &IngestConfig,
    stop: &AtomicBool,
    counters: &Arc<Counters>,
) -> io::Result<Summary> {
    let started = Instant::now();
    if !cfg.dir.is_dir() {
        return Err(io::Error::new(
            io::ErrorKind::NotFound,
            format!("{} is not a directory", cfg.dir.display()),
        ));
    }
    // Sorted, and rid of a line a crash may have cut short.
    let known = compact_output(&cfg.out)?;
    let output = Arc::new(Mutex::new(OpenOptions::new().append(true).open(&cfg.out)?));
    let results: Arc<Mutex<Results>> = Arc::default();
    let queue: Arc<FileQueue> = Arc::new(
        ThreadSafeTaskQueue::builder()
            .capacity(cfg.queue.max(1))
            // Every file id stays known: a second add of the same file is refused.
            .retention(Retention::KeepAll)
            .build()
            .map_err(|e| io::Error::other(e.to_string()))?,
    );
    let handler = {
        let (output, results, counters) = (
            Arc::clone(&output),
            Arc::clone(&results),
            Arc::clone(counters),
        );
        let (chunk, attempts) = (cfg.chunk, cfg.attempts);
        move |task: &Task<String, PathBuf>, ctx: &Context<'_>| -> Result<(), String> {
            let last_attempt = task.attempts + 1 >= attempts;
            let outcome = catch_unwind(AssertUnwindSafe(|| ingest_file(&task.payload, chunk, ctx)));
            let error = match outcome {
                Ok(Ok(record)) => {
                    let line = format_record(&task.id, &record);
                    // One write per file, under the lock: a record is whole or absent.
                    let mut out = output.lock().unwrap_or_else(|e| e.into_inner());
                    out.write_all(line.as_bytes())
                        .map_err(|e| format!("cannot write the output: {e}"))?;
                    drop(out);
                    if let Record::Done { lines, .. } = &record {
                        counters.lines.fetch_add(*lines, Relaxed);
                    }
                    counters.done.fetch_add(1, Relaxed);
                    results.lock().unwrap().done.insert(task.id.clone(), record);
                    return Ok(());
                }
                Ok(Err(error)) => Err(error),
                Err(panic) => Ok(panic),
            };
            // A cancelled attempt is handed back by the pool, not failed: record nothing.
            if !last_attempt || ctx.is_cancelled() {
                return match error {
                    Err(error) => Err(error),
                    Ok(panic) => resume_unwind(panic),
                };
            }
            let message = match &error {
                Err(e) => e.clone(),
                Ok(panic) => format!("handler panicked: {}", panic_text(&**panic)),
            };
            let record = Record::Failed {
                attempts: task.attempts + 1,
                error: message.clone(),
            };
            let mut out = output.lock().unwrap_or_else(|e| e.into_inner());
            let _ = out.write_all(format_record(&task.id, &record).as_bytes());
            drop(out);
            counters.failed.fetch_add(1, Relaxed);
            results
                .lock()
                .unwrap()
                .failed
                .insert(task.id.clone(), (task.attempts + 1, message));
            match error {
                Err(error) => Err(error),
                Ok(panic) => resume_unwind(panic), // the pool counts it as a panic
            }
        }
    };
    let pool = Pool::builder()
        .workers(cfg.workers.max(1))
        .max_attempts(cfg.attempts.max(1))
        .backoff(ExponentialBackoff::new(cfg.backoff, Duration::from_secs(2)))
        .poll_interval(Duration::from_millis(50))
        .failure_retention(100_000)
        .spawn_with_context(Arc::clone(&queue), handler)
        .map_err(|e| io::Error::other(e.to_string()))?;

    let (watched, report, left) = thread::scope(|s| {
        let watcher = s.spawn(|| watch(cfg, &queue, &known, stop, counters));
        let progress = cfg.progress && io::stderr().is_terminal();
        loop {
            if progress {
                let st = queue.stats();
                eprint!(
                    "\r{} found | {} queued, {} waiting to retry | {} running | {} done, {} failed | {} lines   ",
                    counters.found.load(Relaxed),
                    st.queued,
                    st.scheduled,
                    st.processing,
                    counters.done.load(Relaxed),
                    counters.failed.load(Relaxed),
                    counters.lines.load(Relaxed),
                );
            }
            if stop.load(SeqCst) {
                break;
            }
            if cfg.once && watcher.is_finished() {
                let st = queue.stats();
                if st.queued + st.scheduled + st.processing == 0 {
                    break;
                }
            }
            thread::sleep(Duration::from_millis(50));
        }
        if progress {
            eprintln!();
        }
        // Graceful: no more leases; the files being parsed finish (and are written).
        let report = pool.shutdown(Duration::from_secs(60));
        // What is still queued or waiting for a retry is not processed; this also wakes a
        // watcher blocked on a full queue (its add is refused).
        let left = queue.shutdown_now();
        let watched = watcher.join().expect("the watcher does not panic");
        (watched, report, left)
    });
    if let Some(e) = watched.error {
        return Err(e);
    }
    let Results { done, failed } = std::mem::take(&mut *results.lock().unwrap());
    let mut not_processed: BTreeSet<String> = left.into_iter().map(|t| t.id).collect();
    not_processed.extend(watched.not_queued);
    // Files whose handler outlived the deadline (their workers are detached): not in `done`
    // or `failed`; reported as not processed, since their record may be missing.
    not_processed.extend(report.still_running.iter().cloned());
    drop(output);
    let output = compact_output(&cfg.out)?;
    let mut recounted = Some(0u64);
    for (file, record) in &output {
        if let Record::Done { .. } = record {
            recounted = match (recounted, count_lines(&cfg.dir.join(file))) {
                (Some(total), Ok(n)) => Some(total + n),
                _ => None,
            };
        }
    }
    Ok(Summary {
        found: watched.found,
        skipped: watched.skipped,
        done,
        failed,
        not_processed,
        stopped: stop.load(SeqCst),
        pool: report,
        output,
        recounted,
        elapsed: started.elapsed(),
    })
}

fn panic_text(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        s.to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "(not a string)".into()
    }
}

/// Totals of some done records: lines per level and per service.
pub fn totals<'a>(
    records: impl IntoIterator<Item = &'a Record>,
) -> ([u64; 5], BTreeMap<String, u64>) {
    let mut per_level = [0u64; 5];
    let mut per_service = BTreeMap::new();
    for record in records {
        if let Record::Done { counts, .. } = record {
            for ((service, level), n) in counts {
                per_level[*level] += n;
                *per_service.entry(service.clone()).or_default() += n;
            }
        }
    }
    (per_level, per_service)
}

/// Prints the summary; returns whether everything adds up.
pub fn print_summary(cfg: &IngestConfig, s: &Summary) -> bool {
    let mut ok = true;
    println!(
        "log_ingest: {} -> {} ({} workers, queue {}, {} attempts per file), {:.2} s{}",
        cfg.dir.display(),
        cfg.out.display(),
        cfg.workers,
        cfg.queue,
        cfg.attempts,
        s.elapsed.as_secs_f64(),
        if s.stopped { ", stopped by Ctrl-C" } else { "" }
    );
    let accounted = s.done.len() + s.failed.len() + s.not_processed.len() + s.skipped.len();
    let adds_up = accounted as u64 == s.found;
    ok &= adds_up;
    println!(
        "files: {} found = {} done + {} failed + {} not processed + {} skipped (already in the output){}",
        s.found,
        s.done.len(),
        s.failed.len(),
        s.not_processed.len(),
        s.skipped.len(),
        if adds_up { "" } else { "  MISMATCH" }
    );
    for (file, (attempts, error)) in &s.failed {
        println!("  failed  {file} after {attempts} attempts: {error}");
    }
    if !s.not_processed.is_empty() {
        let mut names: Vec<&str> = s.not_processed.iter().take(8).map(String::as_str).collect();
        let more = s.not_processed.len().saturating_sub(8);
        let tail = if more > 0 {
            format!(" … ({more} more)")
        } else {
            String::new()
        };
        names.sort();
        println!(
            "  not processed (not in the output; a re-run picks them up): {}{tail}",
            names.join(" ")
        );
    }
    let (per_level, per_service) = totals(s.done.values());
    let lines: u64 = s
        .done
        .values()
        .map(|r| match r {
            Record::Done { lines, .. } => *lines,
            Record::Failed { .. } => 0,
        })
        .sum();
    let mut by_level = String::new();
    for (name, n) in LEVELS.iter().zip(per_level) {
        let _ = write!(by_level, "{name} {n}  ");
    }
    println!(
        "lines this run, per level: {by_level}= {}",
        per_level.iter().sum::<u64>()
    );
    let mut by_service = String::new();
    for (name, n) in &per_service {
        let _ = write!(by_service, "{name} {n}  ");
    }
    println!(
        "lines this run, per service: {by_service}= {}",
        per_service.values().sum::<u64>()
    );
    let level_sum = per_level.iter().sum::<u64>();
    ok &= level_sum == lines && per_service.values().sum::<u64>() == lines;

    let done_files = s
        .output
        .values()
        .filter(|r| matches!(r, Record::Done { .. }))
        .count();
    let (out_levels, _) = totals(s.output.values());
    let counted: u64 = out_levels.iter().sum();
    println!(
        "output file: {} done files, {} failed, sorted by file name",
        done_files,
        s.output.len() - done_files
    );
    match s.recounted {
        Some(on_disk) => {
            let agree = on_disk == counted;
            ok &= agree;
            println!(
                "check: {counted} lines counted in the output = {on_disk} lines in its {done_files} done files on disk{}",
                if agree { " (ok)" } else { "  MISMATCH" }
            );
        }
        None => println!("check: skipped (a done file is no longer on disk)"),
    }
    let p = &s.pool.stats;
    println!(
        "pool: completed {}, retried {}, failed {}, panicked {} (caught), handed back {}; handler p50 {:?}, p99 {:?}",
        p.completed, p.retried, p.failed, p.panicked, p.handed_back, p.latency.p50, p.latency.p99
    );
    ok &= p.completed == s.done.len() as u64 && p.failed == s.failed.len() as u64;
    ok
}

// ---------------------------------------------------------------------------------------------
// The command line.

/// What the command line asks for.
#[derive(Debug)]
pub enum Command {
    /// `--generate DIR N`: write sample files and exit.
    Generate {
        /// Where.
        dir: PathBuf,
        /// How many.
        files: usize,
        /// The generator's seed.
        seed: u64,
    },
    /// `--generate` with no DIR: generate in a temporary directory, ingest once, check.
    EndToEnd {
        /// The engine's settings (its directory is made up).
        cfg: IngestConfig,
        /// How many files.
        files: usize,
        /// The generator's seed.
        seed: u64,
        /// Keep the temporary directory.
        keep: bool,
    },
    /// `DIR ...`: ingest.
    Ingest(IngestConfig),
}

/// Parses the command line (without the program name). `Err("")` asks for the usage.
pub fn parse_args(args: &[String]) -> Result<Command, String> {
    let mut cfg = IngestConfig::new("");
    let (mut dir, mut out, mut generate, mut gen_dir, mut gen_files) =
        (None, None, false, None, None);
    let (mut seed, mut files, mut keep, mut quiet) = (1u64, 200usize, false, false);
    let mut it = args.iter().peekable();
    fn num<T: std::str::FromStr>(flag: &str, v: Option<&String>) -> Result<T, String> {
        let v = v.ok_or_else(|| format!("{flag} needs a value"))?;
        v.parse()
            .map_err(|_| format!("{flag}: not a number: {v:?}"))
    }
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--generate" => {
                generate = true;
                if let Some(d) = it.next_if(|a| !a.starts_with("--")) {
                    gen_dir = Some(PathBuf::from(d));
                    gen_files = Some(num::<usize>("--generate DIR N", it.next())?);
                }
            }
            "--seed" => seed = num(arg, it.next())?,
            "--files" => files = num(arg, it.next())?,
            "--keep" => keep = true,
            "--workers" => cfg.workers = num(arg, it.next())?,
            "--queue" => cfg.queue = num(arg, it.next())?,
            "--attempts" => cfg.attempts = num(arg, it.next())?,
            "--poll-ms" => cfg.poll = Duration::from_millis(num(arg, it.next())?),
            "--backoff-ms" => cfg.backoff = Duration::from_millis(num(arg, it.next())?),
            "--out" => out = Some(PathBuf::from(it.next().ok_or("--out needs a file")?)),
            "--once" => cfg.once = true,
            "--quiet" | "-q" => quiet = true,
            "--help" | "-h" => return Err(String::new()),
            a if a.starts_with("--") => return Err(format!("unknown option {a:?}")),
            a if dir.is_none() => dir = Some(PathBuf::from(a)),
            a => return Err(format!("unexpected argument {a:?}")),
        }
    }
    if cfg.workers == 0 || cfg.queue == 0 || cfg.attempts == 0 {
        return Err("--workers, --queue and --attempts must be at least 1".into());
    }
    cfg.progress = !quiet;
    let finish = |mut cfg: IngestConfig, dir: PathBuf| {
        cfg.out = out.clone().unwrap_or_else(|| dir.join("counts.tsv"));
        cfg.dir = dir;
        cfg
    };
    match (generate, gen_dir, dir) {
        (true, Some(dir), None) => Ok(Command::Generate {
            dir,
            files: gen_files.unwrap_or(files),
            seed,
        }),
        (true, Some(_), Some(_)) => Err("--generate DIR N takes no other directory".into()),
        (true, None, Some(_)) => Err("--generate with a directory is --generate DIR N".into()),
        (true, None, None) => {
            let tmp = std::env::temp_dir().join(format!("taskq-log-ingest-{}", std::process::id()));
            let mut cfg = finish(cfg, tmp);
            cfg.once = true;
            Ok(Command::EndToEnd {
                cfg,
                files,
                seed,
                keep,
            })
        }
        (false, _, Some(dir)) => Ok(Command::Ingest(finish(cfg, dir))),
        (false, _, None) => Err("which directory? (or --generate)".into()),
    }
}

/// Compares an end-to-end run with what the generator made; prints and returns whether they
/// agree.
pub fn check_against(generated: &Generated, s: &Summary) -> bool {
    let failed: BTreeSet<&String> = s.failed.keys().collect();
    let malformed: BTreeSet<&String> = generated.malformed.keys().collect();
    let (per_level, _) = totals(s.done.values());
    let files_ok = failed == malformed && s.done.len() + s.failed.len() == generated.files.len();
    let lines_ok = per_level == generated.per_level;
    println!(
        "generator check: failed files = the {} malformed ones{}; lines per level = the generator's {:?}{}",
        malformed.len(),
        if files_ok { " (ok)" } else { "  MISMATCH" },
        generated.per_level,
        if lines_ok { " (ok)" } else { "  MISMATCH" }
    );
    files_ok && lines_ok
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let command = match parse_args(&args) {
        Ok(c) => c,
        Err(e) if e.is_empty() => {
            println!("{USAGE}");
            return;
        }
        Err(e) => {
            eprintln!("log_ingest: {e}\n{USAGE}");
            std::process::exit(2);
        }
    };
    // Poison lines make workers panic; the pool catches each panic and the summary counts them.
    // Say so once, on one line, rather than print every one.
    static SHOWN: AtomicBool = AtomicBool::new(false);
    std::panic::set_hook(Box::new(|info| {
        let worker = thread::current()
            .name()
            .is_some_and(|n| n.starts_with("taskq-pool"));
        if worker && SHOWN.swap(true, SeqCst) {
            return;
        }
        let location = info
            .location()
            .map(|l| format!(" at {l}"))
            .unwrap_or_default();
        let note = if worker {
            " (caught by the pool: the attempt failed; further panics are counted in the summary)"
        } else {
            ""
        };
        // Over the progress line, if there is one.
        let clear = if io::stderr().is_terminal() {
            "\r\x1b[K"
        } else {
            ""
        };
        eprintln!(
            "{clear}panic in {}{location}: {}{note}",
            thread::current().name().unwrap_or("?"),
            panic_text(info.payload())
        );
    }));
    let stop = Arc::new(AtomicBool::new(false));
    {
        let stop = Arc::clone(&stop);
        let result = ctrlc::set_handler(move || {
            if stop.swap(true, SeqCst) {
                eprintln!("\nsecond Ctrl-C: exiting now (files cut off are not in the output; a re-run picks them up)");
                std::process::exit(130);
            }
            eprintln!(
                "\r\x1b[KCtrl-C: stopping; the files being parsed finish (Ctrl-C again to exit now)"
            );
        });
        if let Err(e) = result {
            eprintln!("log_ingest: no Ctrl-C handler ({e}); Ctrl-C will end it at once");
        }
    }
    let counters = Arc::new(Counters::default());
    let ok = match command {
        Command::Generate { dir, files, seed } => match generate(&dir, files, seed) {
            Ok(g) => {
                println!(
                    "generated {} files in {} (seed {seed}): {} malformed, {} lines in the good ones, per level {:?}",
                    g.files.len(),
                    dir.display(),
                    g.malformed.len(),
                    g.good_lines,
                    g.per_level
                );
                for (file, kind) in &g.malformed {
                    println!("  malformed {file}: {kind}");
                }
                true
            }
            Err(e) => {
                eprintln!("log_ingest: {}: {e}", dir.display());
                false
            }
        },
        Command::EndToEnd {
            cfg,
            files,
            seed,
            keep,
        } => {
            let _ = fs::remove_dir_all(&cfg.dir);
            let generated = generate(&cfg.dir, files, seed).and_then(|g| {
                println!(
                    "generated {} files in {} (seed {seed}), {} malformed",
                    g.files.len(),
                    cfg.dir.display(),
                    g.malformed.len()
                );
                Ok((g, ingest(&cfg, &stop, &counters)?))
            });
            let ok = match generated {
                Ok((g, summary)) => {
                    let ok = print_summary(&cfg, &summary);
                    // A stopped run cannot match the generator; its summary says so.
                    ok && (summary.stopped || check_against(&g, &summary))
                }
                Err(e) => {
                    eprintln!("log_ingest: {e}");
                    false
                }
            };
            if keep {
                println!("kept {}", cfg.dir.display());
            } else {
                let _ = fs::remove_dir_all(&cfg.dir);
            }
            ok
        }
        Command::Ingest(cfg) => match ingest(&cfg, &stop, &counters) {
            Ok(summary) => print_summary(&cfg, &summary),
            Err(e) => {
                eprintln!("log_ingest: {e}");
                false
            }
        },
    };
    if !ok {
        std::process::exit(1);
    }
}
