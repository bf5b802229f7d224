//! Every strategy works with a caller-chosen hasher for its task index
//! (`Builder::build_with_hasher`, `Builder::restore_with_hasher`): same order, same statuses,
//! same duplicate detection as with the default `DefaultHashBuilder`.

use std::collections::hash_map::DefaultHasher;
use std::hash::BuildHasherDefault;

mod common;

use common::{inv, Inspect};
use taskq::{AddError, Queue, TaskQueue, TaskStatus};

/// A deterministic hasher (SipHash with fixed keys): a different `S` than the default.
type Fixed = BuildHasherDefault<DefaultHasher>;

fn exercise<Q: TaskQueue<String, u32> + Inspect>(q: &Q) {
    for (i, (id, priority)) in [("low", 1), ("high", 9), ("mid", 5), ("high2", 9)]
        .into_iter()
        .enumerate()
    {
        q.add_task(id.to_string(), priority, i as u32).unwrap();
    }
    assert_eq!(
        q.add_task("mid".to_string(), 0, 99),
        Err(AddError::Duplicate(99))
    );
    let first = q.try_get_next_task().unwrap();
    assert_eq!(first.id, "high");
    q.complete_task(&first.id).unwrap();
    assert!(q.cancel_task(&"low".to_string()));
    assert_eq!(
        q.get_status(&"high".to_string()),
        Some(TaskStatus::Completed)
    );
    assert_eq!(
        q.get_status(&"low".to_string()),
        Some(TaskStatus::Cancelled)
    );
    assert_eq!(q.len(), 2);
    inv(q);
}

fn with_hasher<W: taskq::strategy::Waiting>() {
    let q = Queue::<String, u32, W>::builder()
        .build_with_hasher(Fixed::default())
        .unwrap();
    exercise(&q);
    let restored = Queue::<String, u32, W>::builder()
        .restore_with_hasher(Fixed::default(), q.snapshot())
        .unwrap();
    let order: Vec<String> = std::iter::from_fn(|| restored.try_get_next_task().ok())
        .map(|t| t.id)
        .collect();
    assert_eq!(order, ["high2", "mid"]);
    assert_eq!(restored.get_status("low"), Some(TaskStatus::Cancelled));
    inv(&restored);
}

macro_rules! hasher_test {
    ($name:ident, $factory:ty) => {
        #[test]
        fn $name() {
            with_hasher::<<$factory as common::MemoryQueue>::W>();
        }
    };
}

common::for_each_strategy!(hasher_test);
