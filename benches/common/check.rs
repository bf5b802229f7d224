// Contract checks for the bench contenders (run by `tests/bench_contenders.rs` on every contender
// that claims the contract: the taskq strategies, the peers and the experiments; not `limit`,
// which is not a `BenchQueue`, nor the unordered crossbeam ceiling). The workloads' own end-state
// checks catch a task claimed twice only when its second `complete` fails, and never check the
// order; these do:
//
// - `order`: one thread; strict priority, FIFO among equal priorities, each task once, statuses,
//   cancel, double complete refused, an empty non-waiting claim.
// - `drain_concurrently`: T threads drain a pre-filled queue with non-waiting claims. In any
//   linearizable queue a thread's own claims come out in claim order (no adds run meanwhile), so
//   each thread's sequence must be strictly decreasing in (priority, FIFO) rank, and all of them
//   together must be every task exactly once.
// - `producers_consumers`: W1 in small: P producers, C consumers with waiting claims; every task
//   claimed exactly once, every completion accepted, nothing left queued.
// - `ping_pong`: one producer adds a task only after the previous one was claimed, so the
//   consumers nearly always find the queue empty and sleep: a lost wake-up hangs this check (CI
//   runs the tests under a timeout; no timed asserts here).
//
// Everything runs on scoped threads against one queue; nothing here is timed.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Barrier;
use std::time::Duration;

use taskq::TaskStatus;

use super::{BenchQueue, Dist, Rng};

/// A non-waiting claim.
const NOW: Option<Duration> = Some(Duration::ZERO);

/// Adds tasks `ids` with priorities from `rng`, payload = id; returns (priority, id) in add order.
fn fill(
    q: &dyn BenchQueue,
    ids: std::ops::Range<u64>,
    rng: &mut Rng,
    dist: Dist,
) -> Vec<(i64, u64)> {
    ids.map(|id| {
        let p = rng.priority(dist);
        assert!(q.add(id, p, id), "add {id} refused");
        (p, id)
    })
    .collect()
}

/// The claim order a correct queue gives for tasks added in `added`'s order: priority
/// descending, then first added first.
fn expected_order(added: &[(i64, u64)]) -> Vec<u64> {
    let mut v: Vec<(usize, &(i64, u64))> = added.iter().enumerate().collect();
    v.sort_by_key(|&(seq, &(p, _))| (std::cmp::Reverse(p), seq));
    v.into_iter().map(|(_, &(_, id))| id).collect()
}

/// One thread: order, statuses, cancel, double completion.
pub fn order(q: &dyn BenchQueue) {
    for dist in Dist::ALL {
        let base = if dist == Dist::Few { 0 } else { 1_000_000 };
        let mut rng = Rng::new(7);
        let added = fill(q, base..base + 500, &mut rng, dist);
        assert!(!q.add(base, 0, base), "a known id was added again");
        assert_eq!(q.queued(), 500);
        // Cancel every 7th task: it must not come out.
        let cancelled: Vec<u64> = (base..base + 500).step_by(7).collect();
        for &id in &cancelled {
            assert!(q.cancel(id), "cancel {id}");
            assert!(!q.cancel(id), "cancel {id} twice");
            assert_eq!(q.status(id), Some(TaskStatus::Cancelled));
        }
        let want: Vec<u64> = expected_order(&added)
            .into_iter()
            .filter(|id| !cancelled.contains(id))
            .collect();
        assert_eq!(q.queued(), want.len());
        let mut got = Vec::new();
        while let Some((id, payload)) = q.claim(NOW) {
            assert_eq!(payload, id, "task {id} came with payload {payload}");
            assert_eq!(q.status(id), Some(TaskStatus::Processing));
            got.push(id);
        }
        assert_eq!(
            got, want,
            "{dist:?}: not in priority order, FIFO among equals"
        );
        assert_eq!(q.queued(), 0);
        assert_eq!(q.claim(NOW), None, "an empty queue gave a task");
        for &id in &got {
            assert!(q.complete(id), "complete {id}");
            assert!(!q.complete(id), "completed {id} twice");
            assert_eq!(q.status(id), Some(TaskStatus::Completed));
        }
        assert!(!q.complete(cancelled[0]), "completed a cancelled task");
    }
    assert_eq!(q.status(u64::MAX), None);
}

/// `threads` threads drain `tasks` pre-filled tasks with non-waiting claims.
pub fn drain_concurrently(q: &dyn BenchQueue, threads: usize, tasks: u64, dist: Dist) {
    let added = fill(q, 0..tasks, &mut Rng::new(11), dist);
    let rank: HashMap<u64, usize> = expected_order(&added)
        .into_iter()
        .enumerate()
        .map(|(rank, id)| (id, rank))
        .collect();
    let barrier = Barrier::new(threads);
    let claimed: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|_| {
                s.spawn(|| {
                    barrier.wait();
                    let mut mine = Vec::new();
                    while let Some((id, payload)) = q.claim(NOW) {
                        assert_eq!(payload, id, "task {id} came with payload {payload}");
                        mine.push(id);
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    for (t, mine) in claimed.iter().enumerate() {
        for w in mine.windows(2) {
            assert!(
                rank[&w[0]] < rank[&w[1]],
                "thread {t} claimed {} (rank {}) before {} (rank {}): not in priority order",
                w[0],
                rank[&w[0]],
                w[1],
                rank[&w[1]]
            );
        }
    }
    let mut all: Vec<u64> = claimed.concat();
    all.sort_unstable();
    assert_eq!(
        all.len() as u64,
        tasks,
        "claimed {} of {tasks} tasks",
        all.len()
    );
    assert!(
        all.iter().copied().eq(0..tasks),
        "a task was claimed twice or never"
    );
    for id in all {
        assert!(q.complete(id), "complete {id}");
    }
    assert_eq!(q.queued(), 0);
}

/// W1 in small: `pairs` producers and `pairs` consumers (waiting claims), `tasks` tasks.
pub fn producers_consumers(q: &dyn BenchQueue, pairs: usize, tasks: u64) {
    let per = tasks / pairs as u64;
    let total = per * pairs as u64;
    let claims = AtomicU64::new(0);
    let barrier = Barrier::new(2 * pairs);
    let claimed: Vec<Vec<u64>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..2 * pairs)
            .map(|i| {
                let (q, claims, barrier) = (q, &claims, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let mut mine = Vec::new();
                    if i < pairs {
                        let i = i as u64;
                        fill(q, i * per..(i + 1) * per, &mut Rng::new(i), Dist::Few);
                    } else {
                        // `total` claims in all for `total` tasks: none waits forever.
                        while claims.fetch_add(1, Ordering::Relaxed) < total {
                            let (id, payload) = q.claim(None).expect("a waiting claim gave up");
                            assert_eq!(payload, id, "task {id} came with payload {payload}");
                            assert!(q.complete(id), "complete {id}: claimed twice?");
                            mine.push(id);
                        }
                    }
                    mine
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let mut all: Vec<u64> = claimed.concat();
    all.sort_unstable();
    assert!(
        all.iter().copied().eq(0..total),
        "a task was claimed twice or never ({} claims for {total} tasks)",
        all.len()
    );
    assert_eq!(q.queued(), 0, "tasks left queued");
}

/// One producer, `consumers` consumers with waiting claims; the producer adds the next task only
/// once the previous one was claimed, so consumers sleep and must be woken for each task.
pub fn ping_pong(q: &dyn BenchQueue, consumers: usize, rounds: u64) {
    let taken = AtomicU64::new(0);
    let done = AtomicUsize::new(0);
    std::thread::scope(|s| {
        for _ in 0..consumers {
            s.spawn(|| loop {
                let (id, payload) = q.claim(None).expect("a waiting claim gave up");
                assert_eq!(payload, id);
                assert!(q.complete(id), "complete {id}: claimed twice?");
                taken.fetch_add(1, Ordering::AcqRel);
                // The last `consumers` tasks are stop signals, one per consumer.
                if id >= rounds {
                    done.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            });
        }
        for id in 0..rounds + consumers as u64 {
            assert!(q.add(id, (id % 3) as i64, id), "add {id}");
            if id < rounds {
                while taken.load(Ordering::Acquire) <= id {
                    std::thread::yield_now();
                }
            }
        }
    });
    assert_eq!(done.into_inner(), consumers);
    assert_eq!(taken.into_inner(), rounds + consumers as u64);
    assert_eq!(q.queued(), 0);
}
