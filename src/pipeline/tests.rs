//! The pipeline's rules, each on a small run: order, backpressure (the window bounds what is in
//! flight), fail-fast with every item accounted for, panics, stop and abort, fan-out.

use super::*;
use crate::pool::{FixedBackoff, Pool, SplitMix64};
use std::collections::BTreeSet;
use std::sync::atomic::AtomicI64;

/// Aborts the test binary, naming the test, if it is still running after a minute (a lost
/// wake-up, a deadlock), so that `cargo test` fails instead of hanging until CI's timeout.
pub(super) struct Watchdog(Arc<(Mutex<bool>, Condvar)>);

pub(super) fn watchdog(name: &'static str) -> Watchdog {
    let done = Arc::new((Mutex::new(false), Condvar::new()));
    let watched = Arc::clone(&done);
    thread::spawn(move || {
        let (finished, cv) = &*watched;
        let guard = lock(finished);
        let (finished, _) = cv
            .wait_timeout_while(guard, Duration::from_secs(60), |f| !*f)
            .unwrap_or_else(PoisonError::into_inner);
        if !*finished {
            eprintln!("\nwatchdog: test `{name}` is stuck after 60 s; aborting");
            std::process::abort();
        }
    });
    Watchdog(done)
}

impl Drop for Watchdog {
    fn drop(&mut self) {
        *lock(&self.0 .0) = true;
        self.0 .1.notify_one();
    }
}

/// A few microseconds of spinning, varying per item, so items finish out of order.
fn jitter(seq: u64, salt: u64) {
    let spins = SplitMix64::new(seq ^ salt).next_u64() % 2_000;
    for _ in 0..spins {
        std::hint::spin_loop();
    }
    if spins % 7 == 0 {
        thread::yield_now();
    }
}

/// Every input in exactly one place: `0..done` delivered, the failed, the cancelled and the
/// never started (the last `never_started` inputs), with no sequence number twice.
fn assert_partition(report: &PipelineReport, delivered: &[u64]) {
    assert_eq!(report.accounted(), report.items_in, "{report}");
    assert_eq!(
        delivered,
        (0..report.done).collect::<Vec<_>>(),
        "delivered in order, from 0"
    );
    let admitted = report.items_in - report.never_started;
    let mut seen = BTreeSet::new();
    let all = delivered
        .iter()
        .copied()
        .chain(report.failed.iter().map(|f| f.seq))
        .chain(report.cancelled.iter().map(|c| c.seq))
        .chain(admitted..report.items_in);
    for seq in all {
        assert!(
            seen.insert(seq),
            "item {seq} accounted for twice: {report:#?}"
        );
    }
    assert_eq!(seen.len() as u64, report.items_in);
    assert_eq!(seen.last().copied(), report.items_in.checked_sub(1));
}

fn three_stages<'a>() -> Pipeline<'a, u64, u64> {
    Pipeline::new()
        .stage(
            Stage::new("a").workers(3).capacity(4),
            |x: u64, _: &StageContext<'_>| {
                jitter(x, 1);
                Ok::<_, String>(x + 1)
            },
        )
        .stage(
            Stage::new("b").workers(2).capacity(2),
            |x: u64, _: &StageContext<'_>| {
                jitter(x, 2);
                Ok::<_, String>(x * 3)
            },
        )
        .stage(
            Stage::new("c").workers(4).capacity(3),
            |x: u64, _: &StageContext<'_>| {
                jitter(x, 3);
                Ok::<_, String>(x - 1)
            },
        )
}

#[test]
fn results_come_out_in_input_order() {
    let _watchdog = watchdog("results_come_out_in_input_order");
    let mut out = Vec::new();
    let report = three_stages()
        .run(0..2_000u64, |seq, v| out.push((seq, v)))
        .unwrap();
    let want: Vec<(u64, u64)> = (0..2_000).map(|x| (x, (x + 1) * 3 - 1)).collect();
    assert_eq!(out, want);
    assert_eq!(
        (report.items_in, report.done, report.never_started),
        (2_000, 2_000, 0)
    );
    assert!(report.failed.is_empty() && report.cancelled.is_empty());
    assert_eq!(report.stopped, None);
    assert_eq!(report.window, 4 + 3 + 2 + 2 + 3 + 4 + 1);
    let done: Vec<u64> = report.stages.iter().map(|s| s.done).collect();
    assert_eq!(done, [2_000; 3]);
}

/// The window bounds the items between admission and the sink, whatever the stages' speeds.
#[test]
fn the_window_bounds_items_in_flight() {
    let _watchdog = watchdog("the_window_bounds_items_in_flight");
    for window in [1, 2, 5] {
        let in_flight = AtomicI64::new(0);
        let most = AtomicI64::new(0);
        let mut out = Vec::new();
        let report = Pipeline::new()
            .stage(
                Stage::new("enter").workers(2),
                |x: u64, _: &StageContext<'_>| {
                    let now = in_flight.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(now, SeqCst);
                    Ok::<_, String>(x)
                },
            )
            .stage(
                Stage::new("slow").workers(3),
                |x: u64, _: &StageContext<'_>| {
                    jitter(x, 9);
                    Ok::<_, String>(x)
                },
            )
            .window(window)
            .run(0..300u64, |_, x| {
                in_flight.fetch_sub(1, SeqCst);
                out.push(x);
            })
            .unwrap();
        assert_eq!(out, (0..300).collect::<Vec<_>>());
        assert_eq!(report.done, 300);
        let most = most.load(SeqCst);
        // The window, and the item in the sink (it left the window when the sink got it).
        assert!(
            most <= window as i64 + 1,
            "{most} in flight with a window of {window}"
        );
    }
}

/// The first error stops every stage; every item is accounted for exactly once, and what was
/// delivered is `0..done` with `done` at most the failed item.
#[test]
fn the_first_error_stops_everything() {
    let _watchdog = watchdog("the_first_error_stops_everything");
    for fail_at in [0u64, 1, 37, 499] {
        let mut out = Vec::new();
        let report = Pipeline::new()
            .stage(
                Stage::new("pre").workers(2).capacity(3),
                |x: u64, _: &StageContext<'_>| {
                    jitter(x, 4);
                    Ok::<_, String>(x)
                },
            )
            .stage(
                Stage::new("infer").workers(3).capacity(3),
                move |x: u64, _: &StageContext<'_>| {
                    jitter(x, 5);
                    if x == fail_at {
                        Err(format!("item {x} is bad"))
                    } else {
                        Ok(x)
                    }
                },
            )
            .stage(
                Stage::new("post").workers(2).capacity(3),
                |x: u64, _: &StageContext<'_>| Ok::<_, String>(x),
            )
            .run(0..500u64, |seq, _| out.push(seq))
            .unwrap();
        assert_eq!(report.items_in, 500);
        assert_eq!(report.failed.len(), 1, "{report}");
        let failure = &report.failed[0];
        assert_eq!((failure.seq, failure.stage.as_str()), (fail_at, "infer"));
        assert_eq!(failure.error, format!("item {fail_at} is bad"));
        assert_eq!(report.stopped, Some(StopCause::Failure(failure.clone())));
        assert!(report.done <= fail_at);
        assert_partition(&report, &out);
        if fail_at < 400 {
            assert!(
                report.never_started > 0,
                "the window keeps most of the input out"
            );
        }
    }
}

#[test]
fn a_panicking_stage_fails_its_item() {
    let _watchdog = watchdog("a_panicking_stage_fails_its_item");
    let mut out = Vec::new();
    let report = Pipeline::new()
        .stage(
            Stage::new("boom").workers(2),
            |x: u32, _: &StageContext<'_>| {
                if x == 5 {
                    panic!("bad input {x}");
                }
                Ok::<_, String>(x)
            },
        )
        .run(0..20u32, |seq, _| out.push(seq))
        .unwrap();
    let f = &report.failed[0];
    assert_eq!((f.seq, f.panicked), (5, true));
    assert_eq!(f.error, "panicked: bad input 5");
    assert_partition(&report, &out);
}

/// A stage that gives up when it sees the cancellation flag: its items are cancelled, not
/// failed.
#[test]
fn items_interrupted_by_a_stop_are_cancelled_not_failed() {
    let _watchdog = watchdog("items_interrupted_by_a_stop_are_cancelled_not_failed");
    // Item 3 fails only once item 0 was delivered and items 1 and 2 are running in "wait",
    // where they wait for the stop that item 3's failure brings.
    let delivered_0 = AtomicBool::new(false);
    let waiting = AtomicUsize::new(0);
    let mut out = Vec::new();
    let report = Pipeline::new()
        .stage(
            Stage::new("fail").workers(1),
            |x: u64, _: &StageContext<'_>| {
                if x == 3 {
                    while !delivered_0.load(SeqCst) || waiting.load(SeqCst) < 2 {
                        thread::yield_now();
                    }
                    return Err("three");
                }
                Ok(x)
            },
        )
        .stage(
            Stage::new("wait").workers(2),
            |x: u64, ctx: &StageContext<'_>| {
                if x == 0 {
                    return Ok(x);
                }
                waiting.fetch_add(1, SeqCst);
                while !ctx.is_cancelled() {
                    thread::yield_now();
                }
                Err("gave up")
            },
        )
        .run(0..10u64, |seq, _| {
            out.push(seq);
            delivered_0.store(true, SeqCst);
        })
        .unwrap();
    assert_eq!(out, [0]);
    assert_eq!(report.failed.len(), 1);
    assert_eq!(report.failed[0].seq, 3);
    let interrupted: Vec<u64> = report
        .cancelled
        .iter()
        .filter(|c| c.at == CancelledAt::Interrupted("wait".into()))
        .map(|c| c.seq)
        .collect();
    assert_eq!(interrupted, [1, 2]);
    assert_partition(&report, &out);
}

#[test]
fn a_panicking_sink_stops_the_pipeline() {
    let _watchdog = watchdog("a_panicking_sink_stops_the_pipeline");
    let mut out = Vec::new();
    let report = three_stages()
        .run(0..100u64, |seq, _| {
            if seq == 10 {
                panic!("disk full");
            }
            out.push(seq);
        })
        .unwrap();
    let f = &report.failed[0];
    assert_eq!((f.seq, f.stage.as_str()), (10, "output"));
    assert_eq!(f.error, "panicked: disk full");
    assert_eq!(report.done, 10);
    assert_partition(&report, &out);
}

#[test]
fn a_panicking_input_fails_the_item_it_was_making() {
    let _watchdog = watchdog("a_panicking_input_fails_the_item_it_was_making");
    let mut out = Vec::new();
    let inputs = (0..50u64).map(|x| if x == 20 { panic!("no input {x}") } else { x });
    let report = three_stages().run(inputs, |seq, _| out.push(seq)).unwrap();
    let f = &report.failed[0];
    assert_eq!((f.seq, f.stage.as_str(), f.panicked), (20, "input", true));
    assert_eq!(
        report.items_in, 21,
        "the rest is not counted: the iterator panicked"
    );
    assert_partition(&report, &out);
}

/// `stop` admits nothing more and lets every admitted item through: nothing is cancelled.
#[test]
fn stop_is_graceful() {
    let _watchdog = watchdog("stop_is_graceful");
    let pipeline = three_stages();
    let control = pipeline.control();
    let mut out = Vec::new();
    let report = pipeline
        .run(0..10_000u64, |seq, _| {
            out.push(seq);
            if seq == 100 {
                control.stop();
            }
        })
        .unwrap();
    assert_eq!(report.stopped, Some(StopCause::Stopped));
    assert!(
        report.failed.is_empty() && report.cancelled.is_empty(),
        "{report}"
    );
    assert!(report.done > 100 && report.never_started > 0);
    assert_eq!(report.items_in, 10_000);
    assert_partition(&report, &out);
    assert!(control.progress().stopping);
}

/// `abort` from another thread stops as an error does.
#[test]
fn abort_from_another_thread() {
    let _watchdog = watchdog("abort_from_another_thread");
    let pipeline = three_stages().count_unstarted(false); // the input is endless
    let control = pipeline.control();
    let mut out = Vec::new();
    let report = thread::scope(|s| {
        s.spawn(|| {
            while control.progress().emitted < 50 {
                thread::yield_now();
            }
            control.abort();
        });
        pipeline.run(0..u64::MAX, |seq, _| out.push(seq))
    })
    .unwrap();
    assert_eq!(report.stopped, Some(StopCause::Aborted));
    assert!(report.done >= 50);
    assert!(report.failed.is_empty());
    assert_partition(&report, &out);
}

#[test]
fn invalid_options_are_refused_before_starting() {
    let _watchdog = watchdog("invalid_options_are_refused_before_starting");
    let f = |x: u8, _: &StageContext<'_>| Ok::<_, String>(x);
    let err = |p: Pipeline<'_, u8, u8>| p.run([1u8], |_, _| {}).unwrap_err().to_string();
    assert_eq!(err(Pipeline::new()), "a pipeline needs at least one stage");
    assert_eq!(
        err(Pipeline::new().stage(Stage::new("x").workers(0), f)),
        "stage \"x\" needs at least 1 worker"
    );
    assert_eq!(
        err(Pipeline::new().stage(Stage::new("y").capacity(0), f)),
        "stage \"y\" needs a queue capacity of at least 1"
    );
    assert_eq!(
        err(Pipeline::new().stage(Stage::new("z"), f).window(0)),
        "the reorder window must be at least 1"
    );
}

/// A stage that fans each item out to a pool and joins: results in order; a chunk that keeps
/// failing (after the pool's retries) fails its item and stops the pipeline.
#[test]
fn a_stage_can_fan_out_to_a_pool() {
    let _watchdog = watchdog("a_stage_can_fan_out_to_a_pool");
    let fan = FanOut::spawn(
        Pool::builder()
            .workers(3)
            .backoff(FixedBackoff(Duration::ZERO))
            .poll_interval(Duration::from_millis(5)),
        2,
    )
    .unwrap();
    let run = |bad: Option<u64>| {
        let mut out = Vec::new();
        let report = Pipeline::new()
            .stage(Stage::new("split"), |x: u64, _: &StageContext<'_>| {
                Ok::<_, String>((0..4).map(|i| x * 4 + i).collect::<Vec<u64>>())
            })
            .stage(
                Stage::new("fan").workers(2),
                |chunks: Vec<u64>, ctx: &StageContext<'_>| {
                    let parts = fan.run(
                        priority(ctx.seq()),
                        chunks,
                        move |&c| {
                            if Some(c) == bad {
                                Err("bad chunk")
                            } else {
                                Ok(c * c)
                            }
                        },
                        ctx.cancel_token(),
                    )?;
                    Ok::<_, FanOutError>(parts.iter().sum::<u64>())
                },
            )
            .run(0..40u64, |seq, v| out.push((seq, v)))
            .unwrap();
        (report, out)
    };
    let (report, out) = run(None);
    let want: Vec<(u64, u64)> = (0..40)
        .map(|x| (x, (0..4).map(|i| (x * 4 + i) * (x * 4 + i)).sum()))
        .collect();
    assert_eq!(out, want);
    assert_eq!(report.done, 40);

    let (report, out) = run(Some(4 * 13 + 2)); // a chunk of item 13
    let f = &report.failed[0];
    assert_eq!((f.seq, f.stage.as_str()), (13, "fan"));
    assert_eq!(f.error, "chunk 2 failed after 2 attempts: bad chunk");
    let seqs: Vec<u64> = out.iter().map(|(s, _)| *s).collect();
    assert_partition(&report, &seqs);
    let pool = fan.shutdown();
    assert_eq!(pool.stats.failed, 1);
    assert!(pool.stats.retried >= 1);
}

#[test]
fn an_abort_before_the_run_is_reported_however_fast_the_feeder_is() {
    let _w = watchdog("an_abort_before_the_run_is_reported_however_fast_the_feeder_is");
    // Once the feeder has seen the abort and finished, nothing is live: the abort must still be
    // the recorded cause (the delivery loop once left before looking at it).
    for n in [0u64, 1, 100] {
        for _ in 0..50 {
            let pipeline = Pipeline::new()
                .stage(Stage::new("s"), |x: u64, _: &StageContext<'_>| {
                    Ok::<_, String>(x)
                });
            pipeline.control().abort();
            let report = pipeline.run(0..n, |_, _| {}).unwrap();
            assert_eq!(report.stopped, Some(StopCause::Aborted), "{n} inputs");
            assert_eq!(report.accounted(), n);
        }
    }
}
