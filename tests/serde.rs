//! serde support (feature `serde`): `Task`, `TaskStatus`, `Stats` and `Retention` serialize to
//! JSON and back; a whole-queue snapshot round-trips through JSON and rebuilds, for every
//! strategy, a queue with the same order, the processing tasks back in the queue and the finished
//! ones with their status.
#![cfg(feature = "serde")]

mod common;

use std::sync::Arc;

use common::{inv, Factory, Opts};
use taskq::{Retention, Snapshot, Stats, Task, TaskQueue, TaskStatus};

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
    let task = Task {
        id: "a\"b\n".to_string(),
        priority: i64::MIN,
        payload: Arc::new(job(3)),
        attempts: u32::MAX,
    };
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
    let stats = Stats {
        queued: 1,
        processing: 2,
        completed: 3,
        cancelled: 4,
        failed: 5,
        total_added: u64::MAX,
        total_completed: 7,
        total_cancelled: 8,
        total_failed: 9,
    };
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

fn snapshot_round_trip<F: Factory>() {
    let q: F::Q<u64, Job> = F::build(Opts::default().max_attempts(4));
    let prios = [0, 7, i64::MAX, -3, 7, i64::MIN, 0, 2];
    for (id, &p) in prios.iter().enumerate() {
        q.add_task(id as u64, p, job(id as u64)).unwrap();
    }
    let a = q.try_get_next_task().unwrap(); // 2: processing
    let b = q.try_get_next_task().unwrap(); // 1
    q.fail_task(&b.id).unwrap(); // 1 back, attempts 1, behind 4
    let c = q.try_get_next_task().unwrap(); // 4: completed
    q.complete_task(&c.id).unwrap();
    assert!(q.cancel_task(&5));
    let d = q.try_get_next_task().unwrap(); // 1 again: processing, attempts 1
    assert_eq!((a.id, b.id, c.id, d.id, d.attempts), (2, 1, 4, 1, 1));

    let snap = q.snapshot();
    let json = serde_json::to_string_pretty(&snap).unwrap();
    let back: Snapshot<u64, Job> = serde_json::from_str(&json).unwrap();
    assert_eq!(back, snap);

    let r = F::restore(Opts::default().max_attempts(4), back).unwrap();
    inv(&r);
    assert_eq!(r.get_status(&4), Some(TaskStatus::Completed));
    assert_eq!(r.get_status(&5), Some(TaskStatus::Cancelled));
    assert_eq!(r.get_status(&2), Some(TaskStatus::Queued));
    assert_eq!(r.get_status(&1), Some(TaskStatus::Queued));
    assert_eq!(r.len(), q.len() + 2);
    // Same order as the original queue, with the processing tasks back in it by priority
    // (after the queued ones of equal priority).
    let mut expected: Vec<Task<u64, Job>> = snap.queued.clone();
    expected.extend(snap.processing.iter().cloned());
    expected.sort_by_key(|t| std::cmp::Reverse(t.priority)); // stable
    let got: Vec<Task<u64, Job>> = std::iter::from_fn(|| r.try_get_next_task().ok()).collect();
    assert_eq!(got, expected);
    assert_eq!(
        got.iter().map(|t| t.id).collect::<Vec<_>>(),
        vec![2, 1, 7, 0, 6, 3]
    );
    assert_eq!(got[1].attempts, 1);
    assert_eq!(*got[0].payload, job(2));
    // The original is untouched.
    let orig: Vec<u64> = std::iter::from_fn(|| q.try_get_next_task().ok())
        .map(|t| t.id)
        .collect();
    assert_eq!(orig, vec![7, 0, 6, 3]);
}

#[test]
fn snapshot_round_trip_mutex() {
    snapshot_round_trip::<common::Mutex>();
}

#[test]
fn snapshot_round_trip_rwlock() {
    snapshot_round_trip::<common::RwLock>();
}

#[test]
fn snapshot_round_trip_channel() {
    snapshot_round_trip::<common::Channel>();
}
