//! serde support (feature `serde`): `Task`, `TaskStatus`, `Stats` and `Retention` serialize to
//! JSON and back; a whole-queue snapshot round-trips through JSON and rebuilds, for every
//! strategy, a queue with the same order and the finished tasks with their status (tasks in
//! flight are listed, and refused by `restore` until the caller drops them).
#![cfg(feature = "serde")]

mod common;

use common::{inv, Factory, Opts};
use taskq::{RestoreError, Retention, Snapshot, Stats, Task, TaskQueue, TaskStatus};

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
struct Job {
    name: String,
    tries: Vec<u8>,
}

fn job(n: u64) -> Job {
    Job {
        name: format!("job-{n}"),
        tries: vec![n as u8; (n % 4) as usize],
    }
}

#[test]
fn values_round_trip() {
    let mut task = Task::new("a\"b\n".to_string(), i64::MIN, job(3));
    task.attempts = u32::MAX;
    let json = serde_json::to_string(&task).unwrap();
    let back: Task<String, Job> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, task);

    for status in [
        TaskStatus::Queued,
        TaskStatus::Processing,
        TaskStatus::Completed,
        TaskStatus::Cancelled,
        TaskStatus::Failed,
    ] {
        let json = serde_json::to_string(&status).unwrap();
        assert_eq!(serde_json::from_str::<TaskStatus>(&json).unwrap(), status);
    }
    let mut stats = Stats::default();
    (stats.queued, stats.processing, stats.completed) = (1, 2, 3);
    (stats.cancelled, stats.failed, stats.total_added) = (4, 5, u64::MAX);
    (
        stats.total_completed,
        stats.total_cancelled,
        stats.total_failed,
    ) = (7, 8, 9);
    let json = serde_json::to_string(&stats).unwrap();
    assert_eq!(serde_json::from_str::<Stats>(&json).unwrap(), stats);
    let value: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(value["total_added"], serde_json::json!(u64::MAX));
    assert_eq!(value["failed"], serde_json::json!(5));

    for r in [
        Retention::KeepAll,
        Retention::KeepLast(7),
        Retention::KeepNone,
    ] {
        let json = serde_json::to_string(&r).unwrap();
        assert_eq!(serde_json::from_str::<Retention>(&json).unwrap(), r);
    }
    assert!(serde_json::from_str::<TaskStatus>("\"Lost\"").is_err());
}

pub fn snapshot_round_trip<F: Factory>() {
    let q: F::Q<u64, Job> = F::build(Opts::default().max_attempts(4));
    let prios = [0, 7, i64::MAX, -3, 7, i64::MIN, 0, 2];
    for (id, &p) in prios.iter().enumerate() {
        q.add_task(id as u64, p, job(id as u64)).unwrap();
    }
    let a = q.try_get_next_task().unwrap(); // 2: processing
    let b = q.try_get_next_task().unwrap(); // 1
    q.fail_task(b.clone()).unwrap(); // 1 back, attempts 1, behind 4
    let c = q.try_get_next_task().unwrap(); // 4: completed
    q.complete_task(&c.id).unwrap();
    assert!(q.cancel_task(&5));
    let d = q.try_get_next_task().unwrap(); // 1 again: processing, attempts 1
    assert_eq!((a.id, b.id, c.id, d.id, d.attempts), (2, 1, 4, 1, 1));

    let snap = q.snapshot();
    let json = serde_json::to_string_pretty(&snap).unwrap();
    let back: Snapshot<u64, Job> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);

    let in_flight: Vec<(u64, u32)> = back.processing.iter().map(|t| (t.id, t.attempts)).collect();
    assert_eq!(in_flight, vec![(2, 0), (1, 1)]);
    assert_eq!(
        F::restore(Opts::default().max_attempts(4), back.clone()).err(),
        Some(RestoreError::InFlight(2))
    );
    let mut back = back;
    back.processing.clear();
    let r = F::restore(Opts::default().max_attempts(4), back).unwrap();
    inv(&r);
    assert_eq!(r.get_status(&4), Some(TaskStatus::Completed));
    assert_eq!(r.get_status(&5), Some(TaskStatus::Cancelled));
    assert_eq!(r.get_status(&2), None);
    assert_eq!(r.len(), q.len());
    // Same order, payloads and attempts as the original queue.
    let view = |t: Task<u64, Job>| (t.id, t.priority, t.payload, t.attempts);
    let expected: Vec<_> = snap.queued.iter().cloned().map(view).collect();
    let got: Vec<_> = std::iter::from_fn(|| r.try_get_next_task().ok())
        .map(view)
        .collect();
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().map(|t| t.0).collect::<Vec<_>>(),
        vec![7, 0, 6, 3]
    );
    assert_eq!(got[0].2, job(7));
    // The original is untouched.
    let orig: Vec<u64> = std::iter::from_fn(|| q.try_get_next_task().ok())
        .map(|t| t.id)
        .collect();
    assert_eq!(orig, vec![7, 0, 6, 3]);
}

macro_rules! round_trip {
    ($name:ident, $factory:ty) => {
        #[test]
        fn $name() {
            snapshot_round_trip::<$factory>();
        }
    };
}

common::for_each_strategy!(round_trip);
