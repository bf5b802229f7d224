//! The API points of defect 5 that do not compile on the old design (a48eeb7), per strategy:
//! `claim` on a trait object, an owned guard moved into a `'static` thread, lookups by a borrowed
//! id, a `Send`-only boxed job as payload, and `RefUnwindSafe` alike on every strategy.

mod common;

use std::sync::Arc;

use common::MemoryQueue;
use taskq::strategy::Waiting;
use taskq::{Queue, TaskQueue, TaskStatus};

fn dyn_claim<W: Waiting>() {
    let q = Queue::<u64, String, W>::new();
    q.add_task(1, 0, "a".into()).unwrap();
    let d: &dyn TaskQueue<u64, String> = &q;
    let guard = d.claim(None).unwrap();
    assert_eq!(guard.id, 1);
    guard.complete().unwrap();
    assert_eq!(q.get_status(&1), Some(TaskStatus::Completed));
}

fn owned_guard<W: Waiting>() {
    let q = Arc::new(Queue::<u64, String, W>::new());
    q.add_task(1, 0, String::new()).unwrap();
    let g = q.claim_owned(None).unwrap();
    std::thread::spawn(move || drop(g)).join().unwrap();
    assert_eq!(
        q.get_status(&1),
        Some(TaskStatus::Queued),
        "dropped: handed back"
    );
}

fn borrowed_lookups<W: Waiting>() {
    let q = Queue::<String, (), W>::new();
    q.add_task("x".to_string(), 0, ()).unwrap();
    assert_eq!(q.get_status("x"), Some(TaskStatus::Queued));
    q.update_priority("x", 3).unwrap();
    assert!(q.cancel_task("x"));
    q.forget_task("x").unwrap();
    assert_eq!(q.get_status("x"), None);
    q.add_task("y".to_string(), 0, ()).unwrap();
    q.try_get_next_task().unwrap();
    q.complete_task("y").unwrap();
}

fn send_only_payload<W: Waiting>() {
    let q = Queue::<u64, Box<dyn FnOnce() -> u8 + Send>, W>::new();
    q.add_task(1, 0, Box::new(|| 7)).unwrap();
    let task = q.try_get_next_task().unwrap();
    assert_eq!((task.payload)(), 7);
}

fn ref_unwind_safe<W: Waiting>() {
    fn check<T: std::panic::RefUnwindSafe + std::panic::UnwindSafe>(_: &T) {}
    let q = Queue::<u64, (), W>::new();
    check(&q);
    check(&&q);
}

macro_rules! api_tests {
    ($name:ident, $factory:ty) => {
        mod $name {
            use super::*;
            type W = <$factory as MemoryQueue>::W;
            #[test]
            fn dyn_claim() {
                super::dyn_claim::<W>();
            }
            #[test]
            fn owned_guard() {
                super::owned_guard::<W>();
            }
            #[test]
            fn borrowed_lookups() {
                super::borrowed_lookups::<W>();
            }
            #[test]
            fn send_only_payload() {
                super::send_only_payload::<W>();
            }
            #[test]
            fn ref_unwind_safe() {
                super::ref_unwind_safe::<W>();
            }
        }
    };
}

common::for_each_strategy!(api_tests);
