//! Worker threads claiming prioritised tasks, with retries and a graceful shutdown.
//!
//! A producer feeds jobs of three priorities into a bounded queue; four workers claim them through
//! a `ClaimGuard`, fail some of them (they are retried, up to three attempts), and stop when the
//! queue is shut down and drained. Run with `cargo run --release --example workers`.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread;
use std::time::Duration;

use taskq::{ClaimError, Retention, TaskQueue, TaskStatus, ThreadSafeTaskQueue};

#[derive(Debug)]
struct Job {
    name: String,
}

fn main() {
    let queue: ThreadSafeTaskQueue<u64, Job> = ThreadSafeTaskQueue::builder()
        .capacity(64)
        .max_attempts(3)
        .retention(Retention::KeepLast(1_000))
        .build()
        .expect("valid options");
    let by_priority = [
        AtomicUsize::new(0),
        AtomicUsize::new(0),
        AtomicUsize::new(0),
    ];
    let retried = AtomicUsize::new(0);

    thread::scope(|s| {
        for worker in 0..4 {
            let (queue, by_priority, retried) = (&queue, &by_priority, &retried);
            s.spawn(move || loop {
                // The guard owns the task (and its payload); dropped unfinished, it would hand
                // the task back as a failed attempt.
                let guard = match queue.claim(Some(Duration::from_millis(200))) {
                    Ok(guard) => guard,
                    Err(ClaimError::Timeout) => continue,
                    Err(_) => return, // shut down and drained
                };
                // Pretend to work; every 7th job fails on its first attempt and is retried.
                if guard.id % 7 == 0 && guard.attempts == 0 {
                    let status = guard.fail().expect("the claim is ours");
                    assert_eq!(status, TaskStatus::Queued, "two attempts are left");
                    retried.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                by_priority[guard.priority as usize].fetch_add(1, Ordering::Relaxed);
                if guard.id % 250 == 0 {
                    println!(
                        "worker {worker}: {} (priority {}, attempt {})",
                        guard.payload.name,
                        guard.priority,
                        guard.attempts + 1
                    );
                }
                guard.complete().expect("the claim is ours");
            });
        }

        for id in 0..1_000u64 {
            let priority = (id % 3) as i64; // 0 = bulk, 1 = normal, 2 = urgent
            let job = Job {
                name: format!("job-{id}"),
            };
            queue
                .add_task(id, priority, job)
                .expect("the queue is open");
        }
        queue.shutdown();
    });

    let stats = queue.stats();
    println!(
        "done: {} completed ({} urgent, {} normal, {} bulk), {} retried, {} failed, {} still queued",
        stats.total_completed,
        by_priority[2].load(Ordering::Relaxed),
        by_priority[1].load(Ordering::Relaxed),
        by_priority[0].load(Ordering::Relaxed),
        retried.load(Ordering::Relaxed),
        stats.total_failed,
        queue.len(),
    );
    assert_eq!(stats.total_completed, 1_000);
    assert_eq!(retried.load(Ordering::Relaxed), 1_000 / 7 + 1);
    assert_eq!(queue.get_status(&999), Some(TaskStatus::Completed));
}
