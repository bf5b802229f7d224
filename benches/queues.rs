// Criterion benchmarks of the workloads (W1..W6, defined in benches/README.md and in
// benches/common/mod.rs), one group per case (workload and priority distribution: `w1-few`,
// `w1-distinct`, ..., `w3`), one BenchmarkId per contender and thread count.
// Throughput is in tasks; W3's reads/s, W4's memory and the memory per queued task (`mem`) are
// reported by `examples/compare.rs`.
// Sizes are small and measurement times short so that `cargo bench` ends in a few minutes.

mod common;

use std::time::Duration;

use common::{Contender, Dist, Params, Role, Workload};
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};

const PARAMS: Params = Params {
    tasks: 20_000,
    prefill: common::DEFAULT_PREFILL,
    dist: Dist::Few,
};

/// As `compare`'s default thread counts.
const THREADS: [usize; 3] = [1, 2, 4];

fn bench_case(c: &mut Criterion, w: Workload, dist: Dist) {
    let params = Params { dist, ..PARAMS };
    let mut group = c.benchmark_group(w.label(dist));
    for &contender in Contender::ALL {
        // The contention experiments (issue 8, item 4) run in `compare --experiments` only.
        if !contender.supports(w) || contender.role() == Role::Experiment {
            continue;
        }
        for t in contender.threads(w, &THREADS) {
            let tasks = common::tasks_per_run(w, contender, t, params);
            group.throughput(Throughput::Elements(tasks));
            group.bench_with_input(BenchmarkId::new(contender.name(), t), &t, |b, &t| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        total += common::run(w, contender, t, params, None)
                            .expect("supported")
                            .elapsed;
                    }
                    total
                });
            });
        }
    }
    group.finish();
}

fn workloads(c: &mut Criterion) {
    // `Mem` is a memory measurement, not a throughput: `compare` reports it.
    for w in Workload::ALL.into_iter().filter(|w| w.is_timed()) {
        for &dist in w.dists() {
            bench_case(c, w, dist);
        }
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_millis(200))
        .measurement_time(Duration::from_millis(800));
    targets = workloads
}
criterion_main!(benches);
