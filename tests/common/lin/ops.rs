//! Operations, their results, and how one is applied to a queue (the real one or the
//! specification).

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

/// How an add is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AddKind {
    /// `add_task` (only on unbounded queues, where it never blocks).
    Blocking,
    /// `try_add_task`.
    Try,
    /// `add_task_timeout(.., Duration::ZERO)`.
    ZeroTimeout,
}

/// How a claim is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimKind {
    /// `try_get_next_task`.
    Try,
    /// `get_next_task(Some(Duration::ZERO))`: never waits.
    ZeroTimeout,
    /// `get_next_task(Some(µs))`, a short positive timeout. Sequentially, a claim that timed out
    /// found the queue empty at its linearization point, so the specification runs it with a zero
    /// timeout; one that returned a task is an ordinary claim.
    Timed(u16),
    /// `claim(Some(Duration::ZERO))`: a claim inside a `ClaimGuard`, which the thread keeps and
    /// later completes, fails or drops (the `Guard*` operations). The specification runs it as a
    /// zero-timeout claim, and the guard's operations as the fenced ones the guard performs.
    Guard,
    /// `get_next_task(None)`: waits for a task or a shutdown. Sequentially it is a partial
    /// operation: it can take effect only in a state where a task is queued or the queue is shut
    /// down, so the specification runs it as `try_get_next_task` and answers [`Res::Blocks`] where
    /// that finds the queue empty.
    Blocking,
}

impl Op {
    /// The task ids the operation names (a batch names several).
    pub fn ids(&self) -> Vec<Id> {
        match *self {
            Op::Add { id, .. }
            | Op::Complete(id)
            | Op::CompleteClaim { id, .. }
            | Op::Fail { id, .. }
            | Op::GuardComplete { id, .. }
            | Op::GuardFail { id, .. }
            | Op::GuardDrop { id, .. }
            | Op::Cancel(id)
            | Op::UpdatePriority(id, _)
            | Op::Status(id)
            | Op::Forget(id) => vec![id],
            Op::AddTasks(tasks) => tasks.iter().map(|t| t.0).collect(),
            Op::CompleteClaims(named) | Op::FailTasks(named) => named.iter().map(|n| n.0).collect(),
            Op::Claim(_) | Op::Claims { .. } | Op::Len | Op::Shutdown | Op::ShutdownNow => {
                Vec::new()
            }
        }
    }
}

/// Up to [`FEW`] items by value: the operands of a batch operation, so that an [`Op`] holding
/// one stays `Copy`.
pub const FEW: usize = 4;

#[derive(Clone, Copy, PartialEq, Eq)]
pub struct Few<T: Copy + Default> {
    len: u8,
    items: [T; FEW],
}

impl<T: Copy + Default> Few<T> {
    pub fn new(items: &[T]) -> Self {
        assert!(items.len() <= FEW, "a batch of at most {FEW}");
        let mut few = Few {
            len: items.len() as u8,
            items: [T::default(); FEW],
        };
        few.items[..items.len()].copy_from_slice(items);
        few
    }

    pub fn as_slice(&self) -> &[T] {
        &self.items[..usize::from(self.len)]
    }

    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.as_slice().iter()
    }

    pub fn len(&self) -> usize {
        usize::from(self.len)
    }
}

impl<T: Copy + Default + fmt::Debug> fmt::Debug for Few<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.as_slice()).finish()
    }
}

/// A task of a batch add: id, priority, payload.
pub type NewTask = (Id, i64, Payload);

/// A task a thread claimed, as a batch complete or fail names it: its id (for display), the
/// position of the claim among the thread's events, and the task's index in that claim's batch
/// (0 for a single claim).
pub type Named = (Id, usize, u8);

/// Where an operation runs: on the queue under test, or on the sequential specification, where a
/// blocking claim must not block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    Real,
    Spec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Add {
        kind: AddKind,
        id: Id,
        priority: i64,
        payload: Payload,
    },
    Claim(ClaimKind),
    Complete(Id),
    /// `complete_claim` of the task this thread's event number `claim` claimed.
    CompleteClaim {
        id: Id,
        claim: usize,
    },
    /// `fail_task` of the task this thread's event number `claim` claimed.
    Fail {
        id: Id,
        claim: usize,
    },
    /// `complete()` of the guard this thread's event number `claim` claimed.
    GuardComplete {
        id: Id,
        claim: usize,
    },
    /// `fail()` of that guard.
    GuardFail {
        id: Id,
        claim: usize,
    },
    /// Dropping that guard unfinished (it fails the task on the claimer's behalf).
    GuardDrop {
        id: Id,
        claim: usize,
    },
    /// `try_add_tasks` of these tasks: one atomic step, each accepted or refused in order.
    AddTasks(Few<NewTask>),
    /// `get_next_tasks(max, ..)` / `try_get_next_tasks(max)` (never `ClaimKind::Guard`): one atomic
    /// step that takes the best `min(max, queued)` tasks, best first.
    Claims {
        kind: ClaimKind,
        max: u8,
    },
    /// `complete_claims` of these claimed tasks (each as `complete_claim` of its token).
    CompleteClaims(Few<Named>),
    /// `fail_tasks` of these claimed tasks.
    FailTasks(Few<Named>),
    Cancel(Id),
    UpdatePriority(Id, i64),
    Status(Id),
    Len,
    Forget(Id),
    Shutdown,
    ShutdownNow,
}

/// A task as handed out, with the payload by value so that histories compare and hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TaskView {
    pub id: Id,
    pub priority: i64,
    pub payload: Payload,
    pub attempts: u32,
}

impl From<Task<Id, Payload>> for TaskView {
    fn from(t: Task<Id, Payload>) -> Self {
        TaskView {
            id: t.id,
            priority: t.priority,
            payload: t.payload,
            attempts: t.attempts,
        }
    }
}

impl fmt::Display for TaskView {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "task(id={}, prio={}, payload={:#x}, attempts={})",
            self.id, self.priority, self.payload, self.attempts
        )
    }
}

/// Why an add was refused; the payload handed back is kept next to it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    Full,
    Duplicate,
    ShutDown,
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Res {
    Add(Result<(), (Refusal, Payload)>),
    Claim(Result<TaskView, ClaimError>),
    /// `complete_task`, `update_priority`, `forget_task`.
    Task(Result<(), TaskError>),
    Fail(Result<TaskStatus, TaskError>),
    Cancel(bool),
    Status(Option<TaskStatus>),
    Len(usize),
    Drained(Vec<TaskView>),
    /// A batch claim's tasks, best first.
    Claims(Result<Vec<TaskView>, ClaimError>),
    /// `try_add_tasks`: how many it added, and the refused tasks in order, each whole (reason,
    /// id, priority, payload).
    Refused {
        added: usize,
        refused: Vec<(Refusal, Id, i64, Payload)>,
    },
    /// `complete_claims`, one result per claim.
    Completes(Vec<Result<(), TaskError>>),
    /// `fail_tasks`, one result per task.
    Fails(Vec<Result<TaskStatus, TaskError>>),
    Unit,
    /// What the specification answers for a blocking claim in a state where it would block; no
    /// recorded operation has this result, so such a state is ruled out.
    Blocks,
}

impl Res {
    /// Whether the operation that gave this result changed the queue. The contract is that a
    /// refused operation has no effect, so the checker skips such operations when it rebuilds a
    /// state (the brute-force cross-check below replays everything and does not rely on this).
    pub fn changes_state(&self) -> bool {
        match self {
            Res::Add(r) => r.is_ok(),
            Res::Claim(r) => r.is_ok(),
            Res::Task(r) => r.is_ok(),
            Res::Fail(r) => r.is_ok(),
            Res::Cancel(done) => *done,
            Res::Status(_) | Res::Len(_) | Res::Blocks => false,
            Res::Drained(_) | Res::Unit => true,
            Res::Claims(r) => r.as_ref().is_ok_and(|tasks| !tasks.is_empty()),
            Res::Refused { added, .. } => *added > 0,
            Res::Completes(rs) => rs.iter().any(Result::is_ok),
            Res::Fails(rs) => rs.iter().any(Result::is_ok),
        }
    }
}

pub fn refusal_add(e: AddError<Payload>) -> (Refusal, Payload) {
    match e {
        AddError::Duplicate(p) => (Refusal::Duplicate, p),
        AddError::ShutDown(p) => (Refusal::ShutDown, p),
    }
}

pub fn refusal_try(e: TryAddError<Payload>) -> (Refusal, Payload) {
    match e {
        TryAddError::Full(p) => (Refusal::Full, p),
        TryAddError::Duplicate(p) => (Refusal::Duplicate, p),
        TryAddError::ShutDown(p) => (Refusal::ShutDown, p),
    }
}

pub fn refusal_timeout(e: AddTimeoutError<Payload>) -> (Refusal, Payload) {
    match e {
        AddTimeoutError::Timeout(p) => (Refusal::Timeout, p),
        AddTimeoutError::Duplicate(p) => (Refusal::Duplicate, p),
        AddTimeoutError::ShutDown(p) => (Refusal::ShutDown, p),
    }
}

/// The guards a recording thread holds, by `(thread, position of the claim)`.
pub type Guards<'q> = HashMap<(usize, usize), ClaimGuard<'q, Id, Payload>>;

/// Runs one operation; used both by the recorder (on the queue under test) and by the checker
/// (on the sequential specification). `at` is the event's `(thread, position)`; claims store
/// their task in `held` there, and fails and fenced completes take theirs from it. On the real
/// queue, guard claims keep their guard in `guards`; the specification runs a guard's operations
/// as the fenced operations it performs, on the task in `held`.
pub fn apply<'q>(
    q: &'q Queue,
    op: Op,
    mode: Mode,
    held: &mut Held,
    guards: &mut Guards<'q>,
    at: (usize, usize),
) -> Res {
    let claimed = |held: &Held, claim: usize, index: u8| {
        held.get(&(at.0, claim, index))
            .cloned()
            .expect("a fail or fenced complete names a successful claim of its thread")
    };
    let guard = |guards: &mut Guards<'q>, claim: usize| {
        guards
            .remove(&(at.0, claim))
            .expect("a guard operation names a guard its thread holds")
    };
    match (op, mode) {
        (Op::Claim(ClaimKind::Guard), Mode::Real) => {
            return Res::Claim(q.claim(Some(Duration::ZERO)).map(|g| {
                held.insert((at.0, at.1, 0), g.task().clone());
                let view = TaskView::from(g.task().clone());
                guards.insert(at, g);
                view
            }))
        }
        (Op::GuardComplete { claim, .. }, Mode::Real) => {
            return Res::Task(guard(guards, claim).complete())
        }
        (Op::GuardFail { claim, .. }, Mode::Real) => return Res::Fail(guard(guards, claim).fail()),
        (Op::GuardDrop { claim, .. }, Mode::Real) => {
            drop(guard(guards, claim));
            return Res::Unit;
        }
        (Op::GuardComplete { claim, .. }, Mode::Spec) => {
            let task = claimed(held, claim, 0);
            return Res::Task(q.complete_claim(&task.id, task.token()));
        }
        (Op::GuardFail { claim, .. }, Mode::Spec) => {
            return Res::Fail(q.fail_task(claimed(held, claim, 0)))
        }
        (Op::GuardDrop { claim, .. }, Mode::Spec) => {
            let _ = q.fail_task(claimed(held, claim, 0));
            return Res::Unit;
        }
        _ => {}
    }
    match op {
        Op::Add {
            kind,
            id,
            priority,
            payload,
        } => Res::Add(match kind {
            AddKind::Blocking => q.add_task(id, priority, payload).map_err(refusal_add),
            AddKind::Try => q.try_add_task(id, priority, payload).map_err(refusal_try),
            AddKind::ZeroTimeout => q
                .add_task_timeout(id, priority, payload, Duration::ZERO)
                .map_err(refusal_timeout),
        }),
        Op::Claim(kind) => Res::Claim(
            match kind {
                ClaimKind::Try => q.try_get_next_task(),
                ClaimKind::ZeroTimeout | ClaimKind::Guard => q.get_next_task(Some(Duration::ZERO)),
                ClaimKind::Timed(us) if mode == Mode::Real => {
                    q.get_next_task(Some(Duration::from_micros(u64::from(us))))
                }
                ClaimKind::Timed(_) => q.get_next_task(Some(Duration::ZERO)),
                ClaimKind::Blocking if mode == Mode::Real => q.get_next_task(None),
                ClaimKind::Blocking => match q.try_get_next_task() {
                    Err(ClaimError::Empty) => return Res::Blocks,
                    other => other,
                },
            }
            .map(|task| {
                held.insert((at.0, at.1, 0), task.clone());
                TaskView::from(task)
            }),
        ),
        Op::Complete(id) => Res::Task(q.complete_task(&id)),
        Op::CompleteClaim { claim, .. } => {
            let task = claimed(held, claim, 0);
            Res::Task(q.complete_claim(&task.id, task.token()))
        }
        Op::Fail { claim, .. } => Res::Fail(q.fail_task(claimed(held, claim, 0))),
        Op::GuardComplete { .. } | Op::GuardFail { .. } | Op::GuardDrop { .. } => {
            unreachable!("handled above")
        }
        Op::AddTasks(tasks) => {
            let batch = tasks
                .iter()
                .map(|&(id, p, x)| Task::new(id, p, x))
                .collect();
            let refused: Vec<_> = q
                .try_add_tasks(batch)
                .into_iter()
                .map(|e| {
                    let (why, t) = match e {
                        TryAddError::Full(t) => (Refusal::Full, t),
                        TryAddError::Duplicate(t) => (Refusal::Duplicate, t),
                        TryAddError::ShutDown(t) => (Refusal::ShutDown, t),
                    };
                    assert_eq!(t.attempts, 0, "a refused task comes back as it was given");
                    (why, t.id, t.priority, t.payload)
                })
                .collect();
            Res::Refused {
                added: tasks.len() - refused.len(),
                refused,
            }
        }
        Op::Claims { kind, max } => {
            let max = usize::from(max);
            Res::Claims(
                match kind {
                    ClaimKind::Try => q.try_get_next_tasks(max),
                    ClaimKind::ZeroTimeout => q.get_next_tasks(max, Some(Duration::ZERO)),
                    ClaimKind::Timed(us) if mode == Mode::Real => {
                        q.get_next_tasks(max, Some(Duration::from_micros(u64::from(us))))
                    }
                    ClaimKind::Timed(_) => q.get_next_tasks(max, Some(Duration::ZERO)),
                    ClaimKind::Blocking if mode == Mode::Real => q.get_next_tasks(max, None),
                    ClaimKind::Blocking => match q.try_get_next_tasks(max) {
                        Err(ClaimError::Empty) => return Res::Blocks,
                        other => other,
                    },
                    ClaimKind::Guard => unreachable!("a batch claim is never a guard"),
                }
                .map(|tasks| {
                    tasks
                        .into_iter()
                        .enumerate()
                        .map(|(j, task)| {
                            held.insert((at.0, at.1, j as u8), task.clone());
                            TaskView::from(task)
                        })
                        .collect()
                }),
            )
        }
        Op::CompleteClaims(named) => {
            let claims: Vec<(Id, taskq::Token)> = named
                .iter()
                .map(|&(_, claim, index)| {
                    let task = claimed(held, claim, index);
                    (task.id, task.token())
                })
                .collect();
            Res::Completes(q.complete_claims(&claims))
        }
        Op::FailTasks(named) => {
            let tasks = named
                .iter()
                .map(|&(_, claim, index)| claimed(held, claim, index))
                .collect();
            Res::Fails(q.fail_tasks(tasks))
        }
        Op::Cancel(id) => Res::Cancel(q.cancel_task(&id)),
        Op::UpdatePriority(id, p) => Res::Task(q.update_priority(&id, p)),
        Op::Status(id) => Res::Status(q.get_status(&id)),
        Op::Len => Res::Len(q.len()),
        Op::Forget(id) => Res::Task(q.forget_task(&id)),
        Op::Shutdown => {
            q.shutdown();
            Res::Unit
        }
        Op::ShutdownNow => Res::Drained(q.shutdown_now().into_iter().map(Into::into).collect()),
    }
}

impl fmt::Display for Op {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Op::Add {
                kind,
                id,
                priority,
                payload,
            } => {
                let name = match kind {
                    AddKind::Blocking => "add_task",
                    AddKind::Try => "try_add_task",
                    AddKind::ZeroTimeout => "add_task_timeout(0)",
                };
                write!(f, "{name}(id={id}, prio={priority}, payload={payload:#x})")
            }
            Op::Claim(ClaimKind::Try) => f.write_str("try_get_next_task()"),
            Op::Claim(ClaimKind::ZeroTimeout) => f.write_str("get_next_task(Some(0))"),
            Op::Claim(ClaimKind::Timed(us)) => write!(f, "get_next_task(Some({us} µs))"),
            Op::Claim(ClaimKind::Guard) => f.write_str("claim(Some(0))"),
            Op::GuardComplete { id, claim } => write!(f, "guard({id}, claim #{claim}).complete()"),
            Op::GuardFail { id, claim } => write!(f, "guard({id}, claim #{claim}).fail()"),
            Op::GuardDrop { id, claim } => write!(f, "drop(guard({id}, claim #{claim}))"),
            Op::Claim(ClaimKind::Blocking) => f.write_str("get_next_task(None)"),
            Op::Complete(id) => write!(f, "complete_task({id})"),
            Op::CompleteClaim { id, claim } => write!(f, "complete_claim({id}, claim #{claim})"),
            Op::Fail { id, claim } => write!(f, "fail_task({id}, claim #{claim})"),
            Op::AddTasks(tasks) => {
                f.write_str("try_add_tasks([")?;
                for (i, (id, p, x)) in tasks.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "(id={id}, prio={p}, payload={x:#x})")?;
                }
                f.write_str("])")
            }
            Op::Claims { kind, max } => match kind {
                ClaimKind::Try => write!(f, "try_get_next_tasks({max})"),
                ClaimKind::ZeroTimeout | ClaimKind::Guard => {
                    write!(f, "get_next_tasks({max}, Some(0))")
                }
                ClaimKind::Timed(us) => write!(f, "get_next_tasks({max}, Some({us} µs))"),
                ClaimKind::Blocking => write!(f, "get_next_tasks({max}, None)"),
            },
            Op::CompleteClaims(named) | Op::FailTasks(named) => {
                let name = match self {
                    Op::CompleteClaims(_) => "complete_claims",
                    _ => "fail_tasks",
                };
                write!(f, "{name}([")?;
                for (i, (id, claim, index)) in named.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{id} of claim #{claim}.{index}")?;
                }
                f.write_str("])")
            }
            Op::Cancel(id) => write!(f, "cancel_task({id})"),
            Op::UpdatePriority(id, p) => write!(f, "update_priority({id}, {p})"),
            Op::Status(id) => write!(f, "get_status({id})"),
            Op::Len => f.write_str("len()"),
            Op::Forget(id) => write!(f, "forget_task({id})"),
            Op::Shutdown => f.write_str("shutdown()"),
            Op::ShutdownNow => f.write_str("shutdown_now()"),
        }
    }
}

impl fmt::Display for Res {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Res::Add(Ok(())) | Res::Task(Ok(())) => f.write_str("Ok"),
            Res::Add(Err((why, p))) => write!(f, "Err({why:?}, payload {p:#x} back)"),
            Res::Claim(Ok(t)) => write!(f, "Ok({t})"),
            Res::Claim(Err(e)) => write!(f, "Err({e:?})"),
            Res::Task(Err(e)) => write!(f, "Err({e:?})"),
            Res::Fail(r) => write!(f, "{r:?}"),
            Res::Cancel(b) => write!(f, "{b}"),
            Res::Status(s) => write!(f, "{s:?}"),
            Res::Len(n) => write!(f, "{n}"),
            Res::Drained(ts) => {
                f.write_str("[")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("]")
            }
            Res::Claims(Ok(ts)) => {
                f.write_str("Ok([")?;
                for (i, t) in ts.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{t}")?;
                }
                f.write_str("])")
            }
            Res::Claims(Err(e)) => write!(f, "Err({e:?})"),
            Res::Refused { added, refused } => {
                write!(f, "{added} added, refused [")?;
                for (i, (why, id, p, x)) in refused.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{why:?}(id={id}, prio={p}, payload={x:#x})")?;
                }
                f.write_str("]")
            }
            Res::Completes(rs) => write!(f, "{rs:?}"),
            Res::Fails(rs) => write!(f, "{rs:?}"),
            Res::Unit => f.write_str("()"),
            Res::Blocks => f.write_str("(blocks)"),
        }
    }
}
