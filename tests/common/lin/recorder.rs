//! The recorder: random plans run on real threads against a backend, and the driver that checks
//! many of them.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use taskq::{
    AddError, AddTimeoutError, Backend, ClaimError, ClaimGuard, MemoryError, Retention, Task,
    TaskError, TaskQueue, TaskStatus, ThreadSafeTaskQueue, TryAddError,
};

use super::*;
use crate::common::{Factory, Inspect, Opts, Rng};

pub const IDS: u64 = 4;
pub const PRIORITIES: u64 = 3;

/// The shape of one recorded history.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    pub seed: u64,
    pub threads: usize,
    pub ops_per_thread: usize,
    pub setup: Setup,
    /// Whether `shutdown` / `shutdown_now` may be drawn (rarely).
    pub allow_shutdown: bool,
    /// Whether claims may block (`get_next_task(None)`); the observer then shuts the queue down
    /// once every worker is done or blocked, which releases them.
    pub blocking: bool,
}

impl Plan {
    pub fn draw(seed: u64) -> Plan {
        let mut rng = Rng::new(seed ^ 0x5151_5151);
        let setup = match rng.below(4) {
            0 => Setup::DEFAULT,
            1 => Setup {
                capacity: Some(2),
                ..Setup::DEFAULT
            },
            2 => Setup {
                max_attempts: Some(2),
                ..Setup::DEFAULT
            },
            _ => Setup {
                capacity: Some(3),
                max_attempts: Some(1),
                retention: Retention::KeepNone,
            },
        };
        Plan {
            seed,
            threads: 3 + rng.below(2) as usize,
            ops_per_thread: 6 + rng.below(5) as usize,
            setup,
            allow_shutdown: rng.below(5) == 0,
            blocking: rng.below(3) == 0,
        }
    }
}

/// The last claim a thread made: its event position, the task's id, and whether the thread
/// holds it in a guard. (For a batch claim, its first task.)
pub type Claimed = Option<(usize, Id, bool)>;

/// Draws a thread's next operation; `claimed` is the last task this thread claimed, so that
/// completes and fails often hit a task in progress, and fenced and guard operations can name it
/// (it may be stale by then: someone completed it by id, say). `open` is every task this thread
/// claimed (not in a guard) and has not yet finished, for batch completes and fails to name
/// (stale ones too: a thread now and then keeps a task it finished).
pub fn draw_op(
    rng: &mut Rng,
    plan: &Plan,
    payload: Payload,
    claimed: Claimed,
    open: &[Named],
) -> Op {
    // About one operation in five is a batch operation.
    if rng.below(5) == 0 {
        return draw_batch_op(rng, plan, payload, open);
    }
    let id = rng.below(IDS) as Id;
    let mine = match claimed {
        Some((_, c, _)) if rng.below(5) != 0 => c,
        _ => id,
    };
    let priority = rng.below(PRIORITIES) as i64;
    match rng.below(100) {
        0..=26 => Op::Add {
            kind: match (plan.setup.capacity, rng.below(3)) {
                (None, 0) => AddKind::Blocking,
                (_, 1) => AddKind::ZeroTimeout,
                _ => AddKind::Try,
            },
            id,
            priority,
            payload,
        },
        27..=49 => Op::Claim(match rng.below(6) {
            0 if plan.blocking => ClaimKind::Blocking,
            0 | 1 => ClaimKind::Try,
            2 => ClaimKind::ZeroTimeout,
            3 => ClaimKind::Timed(1 + rng.below(200) as u16),
            _ => ClaimKind::Guard,
        }),
        50..=55 => Op::Complete(mine),
        56..=61 => match claimed {
            Some((claim, id, false)) => Op::CompleteClaim { id, claim },
            Some((claim, id, true)) => Op::GuardComplete { id, claim },
            None => Op::Complete(mine),
        },
        62..=69 => match claimed {
            Some((claim, id, false)) => Op::Fail { id, claim },
            Some((claim, id, true)) if rng.below(3) == 0 => Op::GuardDrop { id, claim },
            Some((claim, id, true)) => Op::GuardFail { id, claim },
            None => Op::Status(mine),
        },
        70..=76 => Op::Cancel(id),
        77..=83 => Op::UpdatePriority(id, priority),
        84..=91 => Op::Status(id),
        92..=94 => Op::Len,
        95..=97 => Op::Forget(id),
        _ if plan.allow_shutdown => {
            if rng.below(2) == 0 {
                Op::Shutdown
            } else {
                Op::ShutdownNow
            }
        }
        _ => Op::Status(mine),
    }
}

/// Draws a batch operation: `try_add_tasks` of 0 to 3 tasks (repeated ids now and then), a batch
/// claim of up to 0 to 3 tasks, or a batch complete or fail of 1 to 3 tasks from `open` (a
/// batch claim when `open` is empty).
pub fn draw_batch_op(rng: &mut Rng, plan: &Plan, payload: Payload, open: &[Named]) -> Op {
    match rng.below(8) {
        0..=2 => {
            let n = match rng.below(8) {
                0 => 0,
                1..=3 => 2,
                4 | 5 => 3,
                _ => 1,
            };
            let tasks: Vec<NewTask> = (0..n)
                .map(|j| {
                    let id = rng.below(IDS) as Id;
                    let priority = rng.below(PRIORITIES) as i64;
                    (id, priority, payload | ((j as Payload + 1) << 16))
                })
                .collect();
            Op::AddTasks(Few::new(&tasks))
        }
        5 | 6 if !open.is_empty() => {
            let n = 1 + rng.below(3) as usize;
            let named: Vec<Named> = (0..n)
                .map(|_| open[rng.below(open.len() as u64) as usize])
                .collect();
            if rng.below(2) == 0 {
                Op::CompleteClaims(Few::new(&named))
            } else {
                Op::FailTasks(Few::new(&named))
            }
        }
        _ => Op::Claims {
            kind: match rng.below(5) {
                0 if plan.blocking => ClaimKind::Blocking,
                0 | 1 => ClaimKind::Try,
                2 => ClaimKind::ZeroTimeout,
                _ => ClaimKind::Timed(1 + rng.below(200) as u16),
            },
            max: match rng.below(8) {
                0 => 0,
                1 => 1,
                2..=4 => 2,
                _ => 3,
            },
        },
    }
}

/// Runs `op` on `q` as event `at`, stamped with the logical clock before the call and after it
/// returns.
pub fn stamp<'q>(
    q: &'q Queue,
    clock: &AtomicU64,
    at: (usize, usize),
    op: Op,
    held: &mut Held,
    guards: &mut Guards<'q>,
) -> Event {
    let thread = at.0;
    let inv = clock.fetch_add(1, Ordering::SeqCst);
    let res = apply(q, op, Mode::Real, held, guards, at);
    let resp = clock.fetch_add(1, Ordering::SeqCst);
    Event::new(thread, inv, resp, op, res)
}

/// Runs `plan` on a fresh queue of backend `F` and returns its history: the workers' events,
/// the observer's `shutdown()` if claims may block, then, once every worker has joined, the
/// observer's status read of every id and `len()`.
pub fn record<F: Factory>(plan: &Plan) -> Vec<Event> {
    let q: F::Q<Id, Payload> = F::build(plan.setup.opts());
    let queue: &Queue = &q;
    let clock = AtomicU64::new(0);
    let barrier = Barrier::new(plan.threads);
    let arrived = AtomicUsize::new(0);
    // Workers that are done or inside a blocking claim.
    let idle = AtomicUsize::new(0);
    let observer = plan.threads;
    let mut history: Vec<Event> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..plan.threads)
            .map(|t| {
                let (q, clock, barrier, arrived, idle) = (queue, &clock, &barrier, &arrived, &idle);
                s.spawn(move || {
                    let mut rng = Rng::new(plan.seed.wrapping_mul(31).wrapping_add(t as u64 + 1));
                    let mut claimed: Claimed = None;
                    let mut open: Vec<Named> = Vec::new();
                    let mut held = Held::new();
                    let mut guards = Guards::new();
                    let mut events = Vec::with_capacity(plan.ops_per_thread);
                    // Start together and hot: a blocking barrier wakes threads one by one, a
                    // spinning one releases every thread that is on a core at the same instant.
                    barrier.wait();
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let mut spins = 0u32;
                    while arrived.load(Ordering::SeqCst) < plan.threads {
                        spins += 1;
                        if spins % 256 == 0 {
                            std::thread::yield_now();
                        }
                        std::hint::spin_loop();
                    }
                    for k in 0..plan.ops_per_thread {
                        let payload = ((t as Payload) << 8) | k as Payload;
                        let op = draw_op(&mut rng, plan, payload, claimed, &open);
                        for _ in 0..rng.below(16) {
                            std::hint::spin_loop();
                        }
                        let blocks = matches!(
                            op,
                            Op::Claim(ClaimKind::Blocking)
                                | Op::Claims {
                                    kind: ClaimKind::Blocking,
                                    ..
                                }
                        );
                        if blocks {
                            idle.fetch_add(1, Ordering::SeqCst);
                        }
                        let event = stamp(q, clock, (t, k), op, &mut held, &mut guards);
                        if blocks {
                            idle.fetch_sub(1, Ordering::SeqCst);
                        }
                        match (&event.op, &event.res) {
                            (Op::Claim(kind), Res::Claim(Ok(task))) => {
                                claimed = Some((k, task.id, *kind == ClaimKind::Guard));
                                if *kind != ClaimKind::Guard {
                                    open.push((task.id, k, 0));
                                }
                            }
                            (Op::Claims { .. }, Res::Claims(Ok(tasks))) if !tasks.is_empty() => {
                                claimed = Some((k, tasks[0].id, false));
                                open.extend(
                                    tasks.iter().enumerate().map(|(j, t)| (t.id, k, j as u8)),
                                );
                            }
                            // Usually done with those claims; now and then they stay, stale.
                            (Op::CompleteClaims(named) | Op::FailTasks(named), _)
                                if rng.below(10) < 7 =>
                            {
                                open.retain(|o| !named.iter().any(|n| n == o));
                                if let Some((claim, id, false)) = claimed {
                                    if named.iter().any(|n| *n == (id, claim, 0)) {
                                        claimed = None;
                                    }
                                }
                            }
                            // A guard is used up by its operation.
                            (
                                Op::GuardComplete { .. }
                                | Op::GuardFail { .. }
                                | Op::GuardDrop { .. },
                                _,
                            ) => claimed = None,
                            // Usually done with that claim; now and then it stays around, stale.
                            (Op::Fail { id, claim } | Op::CompleteClaim { id, claim }, _)
                                if rng.below(10) < 7 =>
                            {
                                open.retain(|o| *o != (*id, *claim, 0));
                                claimed = None
                            }
                            _ => {}
                        }
                        events.push(event);
                    }
                    // Guards still held are disarmed, not dropped: an unrecorded drop would fail
                    // their tasks behind the history's back.
                    for (_, guard) in guards.drain() {
                        guard.into_task();
                    }
                    idle.fetch_add(1, Ordering::SeqCst);
                    events
                })
            })
            .collect();
        let mut observed = Vec::new();
        if plan.blocking {
            while idle.load(Ordering::SeqCst) < plan.threads {
                std::thread::yield_now();
            }
            observed.push(stamp(
                queue,
                &clock,
                (observer, 0),
                Op::Shutdown,
                &mut Held::new(),
                &mut Guards::new(),
            ));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a recording thread panicked"))
            .chain(observed)
            .collect()
    });
    if let Err(e) = q.check_invariants() {
        panic!(
            "{}: invariants broken after seed {}: {e}",
            F::NAME,
            plan.seed
        );
    }
    for op in (0..IDS as Id).map(Op::Status).chain([Op::Len]) {
        history.push(stamp(
            queue,
            &clock,
            (observer, 0),
            op,
            &mut Held::new(),
            &mut Guards::new(),
        ));
    }
    history
}

/// How many histories each strategy gets; `TASKQ_LIN_HISTORIES` overrides the default.
pub fn histories_per_strategy() -> u64 {
    std::env::var("TASKQ_LIN_HISTORIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

/// Records and checks many histories on backend `F`; panics with the first non-linearizable one.
pub fn check_backend<F: Factory>(base_seed: u64) {
    // One strategy at a time: recordings that compete for the two cores overlap far less.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut waited = (0, 0);
    // Batch adds, batch claims that took several tasks, batch completes and fails.
    let mut batch_ops = (0, 0, 0);
    let n = histories_per_strategy();
    let (mut ops, mut explored, mut max_explored, mut overlapping) = (0usize, 0u64, 0u64, 0usize);
    for k in 0..n {
        let plan = Plan::draw(base_seed.wrapping_add(k));
        let history = record::<F>(&plan);
        ops += history.len();
        overlapping += history
            .iter()
            .filter(|a| {
                history
                    .iter()
                    .any(|b| a.thread != b.thread && a.inv < b.resp && b.inv < a.resp)
            })
            .count();
        for e in &history {
            match (e.op, &e.res) {
                (Op::Claim(ClaimKind::Blocking), Res::Claim(Ok(_))) => waited.0 += 1,
                (Op::Claim(ClaimKind::Blocking), _) => waited.1 += 1,
                (
                    Op::Claims {
                        kind: ClaimKind::Blocking,
                        max,
                    },
                    Res::Claims(r),
                ) if max > 0 => match r {
                    Ok(_) => waited.0 += 1,
                    Err(_) => waited.1 += 1,
                },
                _ => {}
            }
            match (e.op, &e.res) {
                (Op::AddTasks(_), _) => batch_ops.0 += 1,
                (Op::Claims { .. }, Res::Claims(Ok(tasks))) if tasks.len() > 1 => batch_ops.1 += 1,
                (Op::CompleteClaims(_) | Op::FailTasks(_), _) => batch_ops.2 += 1,
                _ => {}
            }
        }
        match check(plan.setup, &history) {
            Ok(found) => {
                explored += found.explored;
                max_explored = max_explored.max(found.explored);
            }
            Err(v) => panic!(
                "{}: history of seed {} ({:?}) is not linearizable.\n\
                 History, in invocation order ([invoked, returned] on the logical clock):\n{}\
                 Longest legal prefix found ({} of {} events, after {} tries): {:?}",
                F::NAME,
                plan.seed,
                plan.setup,
                Show(&history),
                v.longest.len(),
                history.len(),
                v.explored,
                v.longest,
            ),
        }
    }
    // The batch operations must have run, batch claims of several tasks included.
    assert!(
        n < 100 || (batch_ops.0 > 0 && batch_ops.1 > 0 && batch_ops.2 > 0),
        "{}: batch operations were not exercised: {batch_ops:?}",
        F::NAME
    );
    println!(
        "{}: {n} histories, {ops} operations ({overlapping} overlapping another thread's; \
         {} blocking claims served a task, {} released by shutdown; {} batch adds, {} batch \
         claims of several tasks, {} batch completes and fails), {explored} search steps \
         (max {max_explored} in one history), {:.2?}",
        F::NAME,
        waited.0,
        waited.1,
        batch_ops.0,
        batch_ops.1,
        batch_ops.2,
        started.elapsed()
    );
}
