//! The two systems taskq exists for, `examples/log_ingest.rs` and `examples/pipeline.rs`, run
//! in-process on small generated inputs: the examples' own engine functions, compiled into this
//! test as modules, with their outputs checked (not only that they ran). `main` (the command
//! line, Ctrl-C, progress display) is what the CI's smoke runs of the examples cover. Each test
//! runs under the test kit's watchdog: a hang fails it within a minute.

use std::collections::BTreeSet;
use std::fs;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering::Relaxed, Ordering::SeqCst};
use std::sync::Arc;
use std::thread;
use std::time::Duration;

mod common;

#[allow(dead_code)]
#[path = "../examples/log_ingest.rs"]
mod log_ingest;

#[allow(dead_code)]
#[path = "../examples/pipeline.rs"]
mod pipeline;

use log_ingest::{Counters, IngestConfig};

/// A fresh directory under the system's temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("taskq-test-{name}-{}", std::process::id()));
        let _ = fs::remove_dir_all(&dir);
        fs::create_dir_all(&dir).unwrap();
        TempDir(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = fs::remove_dir_all(&self.0);
    }
}

/// Settings for fast runs: short backoff and polls; the output next to the logs.
fn ingest_config(dir: &TempDir, workers: usize, once: bool) -> IngestConfig {
    let mut cfg = IngestConfig::new(dir.0.join("logs"));
    cfg.out = dir.0.join("counts.tsv");
    cfg.workers = workers;
    cfg.once = once;
    cfg.poll = Duration::from_millis(10);
    cfg.backoff = Duration::from_millis(1);
    cfg.queue = 4;
    cfg.chunk = 333; // small chunks: lines cross chunk boundaries
    cfg
}

fn ingest_once(cfg: &IngestConfig) -> log_ingest::Summary {
    let summary = log_ingest::ingest(cfg, &AtomicBool::new(false), &Arc::default()).unwrap();
    assert!(
        log_ingest::print_summary(cfg, &summary),
        "the summary adds up"
    );
    summary
}

/// Every file done or failed; the failed ones are exactly the generator's malformed files,
/// with the errors it planted; the per-level counts are the generator's; the output's counts
/// equal the lines of the done files counted again; a second run processes nothing twice.
#[test]
fn log_ingest_counts_add_up_and_only_malformed_files_fail() {
    let _watchdog = common::watchdog!(log_ingest_counts_add_up_and_only_malformed_files_fail);
    let dir = TempDir::new("ingest-counts");
    let cfg = ingest_config(&dir, 3, true);
    let generated = log_ingest::generate(&cfg.dir, 60, 11).unwrap();
    assert!(
        !generated.malformed.is_empty(),
        "the seed makes some malformed files"
    );

    let s = ingest_once(&cfg);
    assert!(log_ingest::check_against(&generated, &s));
    assert_eq!(s.found, 60);
    assert_eq!(s.done.len() + s.failed.len(), 60);
    assert!(s.not_processed.is_empty() && s.skipped.is_empty() && !s.stopped);
    let failed: BTreeSet<&String> = s.failed.keys().collect();
    assert_eq!(failed, generated.malformed.keys().collect());
    for (file, (attempts, error)) in &s.failed {
        assert_eq!(*attempts, cfg.attempts, "{file}: retried, then failed");
        let kind = generated.malformed[file];
        let expected = match kind {
            "unknown level" => "unknown level \"WARNING\"",
            "truncated line" => "missing service",
            "bad timestamp" => "bad timestamp",
            "not UTF-8" => "not UTF-8",
            _ => "handler panicked: parser bug",
        };
        assert!(error.contains(expected), "{file} ({kind}): {error}");
    }
    let (per_level, _) = log_ingest::totals(s.done.values());
    assert_eq!(per_level, generated.per_level);
    assert_eq!(per_level.iter().sum::<u64>(), generated.good_lines);
    assert_eq!(s.recounted, Some(generated.good_lines));
    // The pool: every malformed file took every attempt.
    let p = &s.pool.stats;
    assert_eq!(p.completed, s.done.len() as u64);
    assert_eq!(p.failed, s.failed.len() as u64);
    assert_eq!(
        p.retried,
        s.failed.len() as u64 * u64::from(cfg.attempts - 1)
    );

    // The output: one record per file, nothing twice.
    let text = fs::read_to_string(&cfg.out).unwrap();
    let names: Vec<&str> = text
        .lines()
        .map(|l| l.split('\t').nth(1).unwrap())
        .collect();
    assert_eq!(names.len(), 60);
    assert_eq!(names.iter().collect::<BTreeSet<_>>().len(), 60);
    assert!(names.windows(2).all(|w| w[0] < w[1]), "sorted by file name");

    // A second run finds every file in the output and processes none.
    let again = ingest_once(&cfg);
    assert_eq!(again.skipped.len(), 60);
    assert!(again.done.is_empty() && again.failed.is_empty());
    assert_eq!(again.pool.stats.handler_runs, 0);
    assert_eq!(fs::read_to_string(&cfg.out).unwrap(), text);
}

/// The output's content depends on the input files only, not on the number of workers.
#[test]
fn log_ingest_output_does_not_depend_on_the_workers() {
    let _watchdog = common::watchdog!(log_ingest_output_does_not_depend_on_the_workers);
    let outputs: Vec<String> = [1, 4]
        .into_iter()
        .map(|workers| {
            let dir = TempDir::new(&format!("ingest-workers-{workers}"));
            let cfg = ingest_config(&dir, workers, true);
            log_ingest::generate(&cfg.dir, 30, 5).unwrap();
            ingest_once(&cfg);
            fs::read_to_string(&cfg.out).unwrap()
        })
        .collect();
    assert_eq!(outputs[0], outputs[1]);
}

/// Stopped mid-run (as Ctrl-C does), the engine accounts for every file it found; a re-run
/// picks up exactly the ones not processed; the output ends up identical to an uninterrupted
/// run's.
#[test]
fn log_ingest_stop_then_rerun_loses_nothing() {
    let _watchdog = common::watchdog!(log_ingest_stop_then_rerun_loses_nothing);
    let clean = {
        let dir = TempDir::new("ingest-clean");
        let cfg = ingest_config(&dir, 2, true);
        log_ingest::generate(&cfg.dir, 80, 23).unwrap();
        ingest_once(&cfg);
        fs::read_to_string(&cfg.out).unwrap()
    };

    let dir = TempDir::new("ingest-stopped");
    let cfg = ingest_config(&dir, 1, false); // watching, until stopped
    log_ingest::generate(&cfg.dir, 80, 23).unwrap();
    let stop = AtomicBool::new(false);
    let counters = Arc::new(Counters::default());
    let first = thread::scope(|s| {
        s.spawn(|| {
            while counters.done.load(Relaxed) < 5 {
                thread::yield_now();
            }
            stop.store(true, SeqCst);
        });
        log_ingest::ingest(&cfg, &stop, &counters).unwrap()
    });
    assert!(first.stopped);
    assert!(log_ingest::print_summary(&cfg, &first));
    assert_eq!(first.found, 80);
    let processed: BTreeSet<&String> = first.done.keys().chain(first.failed.keys()).collect();
    assert!(processed.len() >= 5);
    assert!(
        processed.iter().all(|f| !first.not_processed.contains(*f)),
        "a file is processed or not, never both"
    );
    assert_eq!(processed.len() + first.not_processed.len(), 80);
    // What the output holds is exactly what this run processed.
    let in_output: BTreeSet<&String> = first.output.keys().collect();
    assert_eq!(in_output, processed);

    let mut rerun_cfg = cfg.clone();
    rerun_cfg.once = true;
    let second = ingest_once(&rerun_cfg);
    let skipped: BTreeSet<&String> = second.skipped.iter().collect();
    assert_eq!(
        skipped, processed,
        "the first run's files are not processed again"
    );
    let picked_up: BTreeSet<&String> = second.done.keys().chain(second.failed.keys()).collect();
    assert_eq!(picked_up, first.not_processed.iter().collect());
    assert_eq!(fs::read_to_string(&cfg.out).unwrap(), clean);
}

/// A record cut short (a crash in mid-write) is dropped at start, and its file is processed
/// again; whole records are kept.
#[test]
fn log_ingest_a_torn_record_is_redone() {
    let _watchdog = common::watchdog!(log_ingest_a_torn_record_is_redone);
    let dir = TempDir::new("ingest-torn");
    let cfg = ingest_config(&dir, 2, true);
    log_ingest::generate(&cfg.dir, 12, 3).unwrap();
    ingest_once(&cfg);
    let full = fs::read_to_string(&cfg.out).unwrap();
    // Keep the first three records whole and half of the fourth.
    let keep: usize = full.lines().take(3).map(|l| l.len() + 1).sum();
    let fourth = full.lines().nth(3).unwrap();
    fs::write(&cfg.out, &full[..keep + fourth.len() / 2]).unwrap();
    let s = ingest_once(&cfg);
    assert_eq!(s.skipped.len(), 3);
    assert_eq!(s.done.len() + s.failed.len(), 9);
    assert_eq!(fs::read_to_string(&cfg.out).unwrap(), full);
}

#[test]
fn log_ingest_command_line() {
    let _watchdog = common::watchdog!(log_ingest_command_line);
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    match log_ingest::parse_args(&args("--generate logs 50 --seed 9")).unwrap() {
        log_ingest::Command::Generate { dir, files, seed } => {
            assert_eq!((dir, files, seed), (PathBuf::from("logs"), 50, 9));
        }
        other => panic!("{other:?}"),
    }
    match log_ingest::parse_args(&args("--generate --files 20")).unwrap() {
        log_ingest::Command::EndToEnd { cfg, files, .. } => assert!(cfg.once && files == 20),
        other => panic!("{other:?}"),
    }
    match log_ingest::parse_args(&args("logs --workers 3 --once --out c.tsv")).unwrap() {
        log_ingest::Command::Ingest(cfg) => {
            assert_eq!((cfg.workers, cfg.once), (3, true));
            assert_eq!(
                (cfg.dir, cfg.out),
                (PathBuf::from("logs"), PathBuf::from("c.tsv"))
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(log_ingest::parse_args(&args("--workers 0 logs")).is_err());
    assert!(log_ingest::parse_args(&args("")).is_err());
}

#[test]
fn log_ingest_parses_the_format() {
    let _watchdog = common::watchdog!(log_ingest_parses_the_format);
    let ok = b"2024-05-01T12:00:00.123Z ERROR auth login failed for user 7";
    assert_eq!(log_ingest::parse_line(ok), Ok(("auth", 3)));
    let err = |l: &[u8]| log_ingest::parse_line(l).unwrap_err();
    assert_eq!(err(b"2024-05-01T12:00:00.123Z ERROR"), "missing service");
    assert_eq!(
        err(b"2024-05-01T12:00:00.123Z ERROR auth"),
        "missing message"
    );
    assert_eq!(
        err(b"2024-05-01T12:00:00.123Z NOTICE auth x"),
        "unknown level \"NOTICE\""
    );
    assert_eq!(
        err(b"2024-00-01T12:00:00.123Z INFO auth x"),
        "bad timestamp \"2024-00-01T12:00:00.123Z\""
    );
    assert_eq!(
        err(b"2024-05-01T12:00:00.123Z INFO Auth x"),
        "bad service name \"Auth\""
    );
    assert_eq!(
        err(b"2024-05-01T12:00:00.123Z INFO auth caf\xC3("),
        "not UTF-8"
    );
}

// ---------------------------------------------------------------------------------------------
// The pipeline.

fn small_pipeline() -> pipeline::Config {
    pipeline::Config {
        items: 300,
        values: 64,
        chunk: 16,
        rounds: 2,
        workers: [2, 2, 1],
        pool: 2,
        capacity: 3,
        flaky_every: Some(7),
        quiet: true,
        ..pipeline::Config::default()
    }
}

/// Every item comes out, in input order, with the results a single thread computes in order.
#[test]
fn pipeline_output_is_complete_and_in_order() {
    let _watchdog = common::watchdog!(pipeline_output_is_complete_and_in_order);
    let cfg = small_pipeline();
    let o = pipeline::run(&cfg, |_| {}).unwrap();
    let seqs: Vec<u64> = o.outputs.iter().map(|(s, _)| *s).collect();
    assert_eq!(seqs, (0..300).collect::<Vec<_>>());
    assert_eq!(o.checksum, pipeline::reference(&cfg, 300));
    let r = &o.report;
    assert_eq!((r.items_in, r.done, r.never_started), (300, 300, 0));
    assert!(r.failed.is_empty() && r.cancelled.is_empty() && r.stopped.is_none());
    // One chunk of every 7th item failed once and was retried by the pool.
    assert_eq!(o.pool.stats.retried, 300 / 7);
    assert_eq!(o.pool.stats.completed, 300 * 4);
    assert!(pipeline::print_report(&cfg, &o));
}

/// With a failure injected at item K: K fails (after the pool's retries), the output is items
/// `0..done` with `done <= K` and matches the sequential results, and every item is done,
/// failed, cancelled or never started, exactly once.
#[test]
fn pipeline_fail_at_accounts_for_every_item() {
    let _watchdog = common::watchdog!(pipeline_fail_at_accounts_for_every_item);
    for k in [0, 150, 299] {
        let cfg = pipeline::Config {
            fail_at: Some(k),
            ..small_pipeline()
        };
        let o = pipeline::run(&cfg, |_| {}).unwrap();
        let r = &o.report;
        assert_eq!(r.items_in, 300);
        assert_eq!(r.failed.len(), 1);
        assert_eq!((r.failed[0].seq, r.failed[0].stage.as_str()), (k, "infer"));
        assert_eq!(
            r.failed[0].error,
            format!("chunk 0 failed after 3 attempts: injected failure in item {k}")
        );
        assert!(r.done <= k);
        let seqs: Vec<u64> = o.outputs.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, (0..r.done).collect::<Vec<_>>());
        assert_eq!(o.checksum, pipeline::reference(&cfg, r.done));
        assert_eq!(
            r.done + r.failed.len() as u64 + r.cancelled.len() as u64 + r.never_started,
            300
        );
        let mut all: Vec<u64> = seqs.clone();
        all.extend(r.failed.iter().map(|f| f.seq));
        all.extend(r.cancelled.iter().map(|c| c.seq));
        all.extend(r.items_in - r.never_started..r.items_in);
        all.sort_unstable();
        assert_eq!(all, (0..300).collect::<Vec<_>>(), "each item exactly once");
        assert!(
            pipeline::print_report(&cfg, &o),
            "an asked-for failure passes"
        );
    }
}

/// A panic in post-processing is caught: the item fails, the pipeline stops, all accounted.
#[test]
fn pipeline_panic_at_is_caught() {
    let _watchdog = common::watchdog!(pipeline_panic_at_is_caught);
    let cfg = pipeline::Config {
        panic_at: Some(40),
        ..small_pipeline()
    };
    let o = pipeline::run(&cfg, |_| {}).unwrap();
    let f = &o.report.failed[0];
    assert_eq!((f.seq, f.stage.as_str(), f.panicked), (40, "post", true));
    assert_eq!(
        f.error,
        "panicked: injected panic in post-processing of item 40"
    );
    assert_eq!(o.report.accounted(), 300);
    assert!(pipeline::print_report(&cfg, &o));
}

#[test]
fn pipeline_command_line() {
    let _watchdog = common::watchdog!(pipeline_command_line);
    let args = |s: &str| s.split_whitespace().map(String::from).collect::<Vec<_>>();
    let cfg =
        pipeline::parse_args(&args("--items 10 --fail-at 3 --workers 1,2,3 --quiet")).unwrap();
    assert_eq!(
        (cfg.items, cfg.fail_at, cfg.workers),
        (10, Some(3), [1, 2, 3])
    );
    assert!(cfg.quiet);
    assert!(pipeline::parse_args(&args("--workers 1,2")).is_err());
    assert!(pipeline::parse_args(&args("--bogus")).is_err());
}
