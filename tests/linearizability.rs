//! Linearizability of every strategy, checked on real-thread histories.
//!
//! A recorder runs short random histories (a few threads, a handful of operations each, a small id
//! space) against each strategy, stamping every operation with a global logical clock before the
//! call and after it returns. A Wing-Gong search with Lowe's memoization then looks for a
//! sequential order that respects real time and in which every result is the one the sequential
//! specification gives; the specification is the crate itself, a single-threaded
//! `ThreadSafeTaskQueue` on which each candidate order is replayed. The checker is exact: unit tests
//! below show that it accepts linearizable histories that need reordering, rejects planted
//! violations, and agrees with a memo-free brute-force search on mutated real histories.

use std::collections::{HashMap, HashSet};
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Barrier, Mutex};
use std::time::{Duration, Instant};

use taskq::{
    AddError, AddTimeoutError, Builder, ChannelTaskQueue, ClaimError, Retention, RwLockTaskQueue,
    Task, TaskError, TaskQueue, TaskStatus, ThreadSafeTaskQueue, TryAddError,
};

type Id = u8;
type Payload = u32;
type Queue = dyn TaskQueue<Id, Payload>;

// ---------------------------------------------------------------------------------------------
// Operations and their results
// ---------------------------------------------------------------------------------------------

/// How an add is issued.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum AddKind {
    /// `add_task` (only on unbounded queues, where it never blocks).
    Blocking,
    /// `try_add_task`.
    Try,
    /// `add_task_timeout(.., Duration::ZERO)`.
    ZeroTimeout,
}

/// How a claim is issued. None has a finite timeout, so no result depends on real time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum ClaimKind {
    /// `try_get_next_task`.
    Try,
    /// `get_next_task(Some(Duration::ZERO))`: never waits.
    ZeroTimeout,
    /// `get_next_task(None)`: waits for a task or a shutdown. Sequentially it is a partial
    /// operation: it can take effect only in a state where a task is queued or the queue is shut
    /// down, so the specification runs it as `try_get_next_task` and answers [`Res::Blocks`] where
    /// that finds the queue empty.
    Blocking,
}

/// Where an operation runs: on the queue under test, or on the sequential specification, where a
/// blocking claim must not block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Mode {
    Real,
    Spec,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Op {
    Add {
        kind: AddKind,
        id: Id,
        priority: i64,
        payload: Payload,
    },
    Claim(ClaimKind),
    Complete(Id),
    Fail(Id),
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
struct TaskView {
    id: Id,
    priority: i64,
    payload: Payload,
    attempts: u32,
}

impl From<Task<Id, Payload>> for TaskView {
    fn from(t: Task<Id, Payload>) -> Self {
        TaskView {
            id: t.id,
            priority: t.priority,
            payload: *t.payload,
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
enum Refusal {
    Full,
    Duplicate,
    ShutDown,
    Timeout,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum Res {
    Add(Result<(), (Refusal, Payload)>),
    Claim(Result<TaskView, ClaimError>),
    /// `complete_task`, `update_priority`, `forget_task`.
    Task(Result<(), TaskError>),
    Fail(Result<TaskStatus, TaskError>),
    Cancel(bool),
    Status(Option<TaskStatus>),
    Len(usize),
    Drained(Vec<TaskView>),
    Unit,
    /// What the specification answers for a blocking claim in a state where it would block; no
    /// recorded operation has this result, so such a state is ruled out.
    Blocks,
}

impl Res {
    /// Whether the operation that gave this result changed the queue. The contract is that a
    /// refused operation has no effect, so the checker skips such operations when it rebuilds a
    /// state (the brute-force cross-check below replays everything and does not rely on this).
    fn changes_state(&self) -> bool {
        match self {
            Res::Add(r) => r.is_ok(),
            Res::Claim(r) => r.is_ok(),
            Res::Task(r) => r.is_ok(),
            Res::Fail(r) => r.is_ok(),
            Res::Cancel(done) => *done,
            Res::Status(_) | Res::Len(_) | Res::Blocks => false,
            Res::Drained(_) | Res::Unit => true,
        }
    }
}

fn refusal_add(e: AddError<Payload>) -> (Refusal, Payload) {
    match e {
        AddError::Duplicate(p) => (Refusal::Duplicate, p),
        AddError::ShutDown(p) => (Refusal::ShutDown, p),
    }
}

fn refusal_try(e: TryAddError<Payload>) -> (Refusal, Payload) {
    match e {
        TryAddError::Full(p) => (Refusal::Full, p),
        TryAddError::Duplicate(p) => (Refusal::Duplicate, p),
        TryAddError::ShutDown(p) => (Refusal::ShutDown, p),
    }
}

fn refusal_timeout(e: AddTimeoutError<Payload>) -> (Refusal, Payload) {
    match e {
        AddTimeoutError::Timeout(p) => (Refusal::Timeout, p),
        AddTimeoutError::Duplicate(p) => (Refusal::Duplicate, p),
        AddTimeoutError::ShutDown(p) => (Refusal::ShutDown, p),
    }
}

/// Runs one operation; used both by the recorder (on the queue under test) and by the checker
/// (on the sequential specification).
fn apply(q: &Queue, op: Op, mode: Mode) -> Res {
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
                ClaimKind::ZeroTimeout => q.get_next_task(Some(Duration::ZERO)),
                ClaimKind::Blocking if mode == Mode::Real => q.get_next_task(None),
                ClaimKind::Blocking => match q.try_get_next_task() {
                    Err(ClaimError::Empty) => return Res::Blocks,
                    other => other,
                },
            }
            .map(TaskView::from),
        ),
        Op::Complete(id) => Res::Task(q.complete_task(&id)),
        Op::Fail(id) => Res::Fail(q.fail_task(&id)),
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
            Op::Claim(ClaimKind::Blocking) => f.write_str("get_next_task(None)"),
            Op::Complete(id) => write!(f, "complete_task({id})"),
            Op::Fail(id) => write!(f, "fail_task({id})"),
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
            Res::Unit => f.write_str("()"),
            Res::Blocks => f.write_str("(blocks)"),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Histories
// ---------------------------------------------------------------------------------------------

/// One completed operation: who ran it, when it was invoked and when it returned (logical clock),
/// what it was and what it gave.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Event {
    thread: usize,
    inv: u64,
    resp: u64,
    op: Op,
    res: Res,
}

/// The options a history's queue was built with; the specification is built with the same.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Setup {
    capacity: Option<usize>,
    max_attempts: Option<u32>,
    retention: Retention,
}

impl Setup {
    const DEFAULT: Setup = Setup {
        capacity: None,
        max_attempts: None,
        retention: Retention::KeepAll,
    };

    fn configure<Q>(self, mut b: Builder<Q>) -> Builder<Q> {
        if let Some(c) = self.capacity {
            b = b.capacity(c);
        }
        if let Some(m) = self.max_attempts {
            b = b.max_attempts(m);
        }
        b.retention(self.retention)
    }

    /// The sequential specification: the core behind an uncontended lock.
    fn spec(self) -> Box<Queue> {
        Box::new(self.configure(ThreadSafeTaskQueue::builder()).build())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Strat {
    Mutex,
    RwLock,
    Channel,
}

impl Strat {
    fn build(self, setup: Setup) -> Box<Queue> {
        match self {
            Strat::Mutex => Box::new(setup.configure(ThreadSafeTaskQueue::builder()).build()),
            Strat::RwLock => Box::new(setup.configure(RwLockTaskQueue::builder()).build()),
            Strat::Channel => Box::new(setup.configure(ChannelTaskQueue::builder()).build()),
        }
    }
}

/// Prints a history one operation a line, in invocation order.
struct Show<'a>(&'a [Event]);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut order: Vec<usize> = (0..self.0.len()).collect();
        order.sort_by_key(|&i| self.0[i].inv);
        for i in order {
            let e = &self.0[i];
            writeln!(
                f,
                "  #{i:<3} thread {} [{:>3}, {:>3}]  {} -> {}",
                e.thread, e.inv, e.resp, e.op, e.res
            )?;
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------------------------
// The checker
// ---------------------------------------------------------------------------------------------

/// The canonical form of a specification state, for memoization. Two states with the same key
/// answer every future operation alike: queued tasks are listed in the order they entered the queue
/// (which, with their priorities, fixes the hand-out order now and after any `update_priority`),
/// processing and finished tasks by id, plus the shutdown phase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
struct StateKey {
    phase: u8,
    queued: Vec<TaskView>,
    processing: Vec<TaskView>,
    finished: Vec<(Id, TaskStatus)>,
}

/// Why a history is not linearizable.
#[derive(Debug)]
struct Violation {
    /// The longest prefix of a legal sequential order the search found (event indices).
    longest: Vec<usize>,
    explored: u64,
}

/// What a successful check found.
#[derive(Debug)]
struct Linearization {
    order: Vec<usize>,
    explored: u64,
}

struct Checker<'a> {
    setup: Setup,
    history: &'a [Event],
    /// Each thread's events, in program order.
    threads: Vec<Vec<usize>>,
    /// The replay queue and the state-changing events applied to it, in order.
    spec: Box<Queue>,
    applied: Vec<usize>,
    /// The current candidate order, and its state-changing events.
    path: Vec<usize>,
    effective: Vec<usize>,
    /// How many events of each thread `path` holds.
    done: Vec<usize>,
    memo: HashSet<(Vec<usize>, StateKey)>,
    longest: Vec<usize>,
    explored: u64,
    use_memo: bool,
}

/// Looks for a linearization of `history` against the specification built from `setup`.
fn check(setup: Setup, history: &[Event]) -> Result<Linearization, Violation> {
    check_with(setup, history, true)
}

fn check_with(setup: Setup, history: &[Event], use_memo: bool) -> Result<Linearization, Violation> {
    let nthreads = history.iter().map(|e| e.thread + 1).max().unwrap_or(0);
    let mut threads = vec![Vec::new(); nthreads];
    for (i, e) in history.iter().enumerate() {
        assert!(e.inv < e.resp, "event #{i} responds before it is invoked");
        threads[e.thread].push(i);
    }
    for t in &mut threads {
        t.sort_by_key(|&i| history[i].inv);
        for w in t.windows(2) {
            assert!(
                history[w[0]].resp < history[w[1]].inv,
                "a thread's operations overlap"
            );
        }
    }
    let mut c = Checker {
        setup,
        history,
        threads,
        spec: setup.spec(),
        applied: Vec::new(),
        path: Vec::new(),
        effective: Vec::new(),
        done: vec![0; nthreads],
        memo: HashSet::new(),
        longest: Vec::new(),
        explored: 0,
        use_memo,
    };
    if c.search() {
        Ok(Linearization {
            order: c.path,
            explored: c.explored,
        })
    } else {
        Err(Violation {
            longest: c.longest,
            explored: c.explored,
        })
    }
}

impl Checker<'_> {
    /// Brings the replay queue to the state after `effective`: appends what is missing when the
    /// queue is on the way there, or starts over from an empty queue.
    fn sync(&mut self) {
        let on_the_way = self.applied.len() <= self.effective.len()
            && self.applied[..] == self.effective[..self.applied.len()];
        if !on_the_way {
            self.spec = self.setup.spec();
            self.applied.clear();
        }
        for k in self.applied.len()..self.effective.len() {
            let e = &self.history[self.effective[k]];
            let res = apply(&*self.spec, e.op, Mode::Spec);
            assert_eq!(res, e.res, "the specification is deterministic");
            self.applied.push(self.effective[k]);
        }
    }

    /// The canonical key of the replay queue's state (which must be in sync).
    fn state_key(&self) -> StateKey {
        let mut entered: HashMap<Id, usize> = HashMap::new();
        let mut phase = 0;
        for (k, &i) in self.effective.iter().enumerate() {
            let e = &self.history[i];
            match (e.op, &e.res) {
                (Op::Add { id, .. }, Res::Add(Ok(()))) => {
                    entered.insert(id, k);
                }
                (Op::Fail(id), Res::Fail(Ok(TaskStatus::Queued))) => {
                    entered.insert(id, k);
                }
                (Op::Shutdown, _) => phase = phase.max(1),
                (Op::ShutdownNow, _) => phase = 2,
                _ => {}
            }
        }
        let snap = self.spec.snapshot();
        let mut queued: Vec<TaskView> = snap.queued.into_iter().map(Into::into).collect();
        queued.sort_by_key(|t| entered[&t.id]);
        let mut processing: Vec<TaskView> = snap.processing.into_iter().map(Into::into).collect();
        processing.sort_by_key(|t| t.id);
        let mut finished: Vec<(Id, TaskStatus)> = snap
            .finished
            .into_iter()
            .map(|f| (f.id, f.status))
            .collect();
        finished.sort_by_key(|f| f.0);
        StateKey {
            phase,
            queued,
            processing,
            finished,
        }
    }

    fn search(&mut self) -> bool {
        if self.path.len() > self.longest.len() {
            self.longest = self.path.clone();
        }
        if self.path.len() == self.history.len() {
            return true;
        }
        // The pending operation that responded first must be linearized before anything invoked
        // after that response; per thread, the next pending operation responds first.
        let next: Vec<Option<usize>> = (0..self.threads.len())
            .map(|t| self.threads[t].get(self.done[t]).copied())
            .collect();
        let first_resp = next
            .iter()
            .flatten()
            .map(|&i| self.history[i].resp)
            .min()
            .expect("some operation is pending");
        for (t, slot) in next.into_iter().enumerate() {
            let Some(i) = slot else { continue };
            let e = &self.history[i];
            if e.inv > first_resp {
                continue;
            }
            self.explored += 1;
            self.sync();
            let res = apply(&*self.spec, e.op, Mode::Spec);
            let changes = res.changes_state();
            if changes {
                self.applied.push(i);
            }
            if res != e.res {
                continue;
            }
            self.path.push(i);
            if changes {
                self.effective.push(i);
            }
            self.done[t] += 1;
            let fresh = !self.use_memo || {
                let key = (self.done.clone(), self.state_key());
                self.memo.insert(key)
            };
            if fresh && self.search() {
                return true;
            }
            self.done[t] -= 1;
            if changes {
                self.effective.pop();
            }
            self.path.pop();
        }
        false
    }
}

/// An independent, memo-free, exhaustive search that replays every candidate prefix from scratch,
/// every operation included; exponential, for cross-checking `check` on small histories.
fn brute_force(setup: Setup, history: &[Event]) -> bool {
    fn go(setup: Setup, history: &[Event], path: &mut Vec<usize>, used: &mut [bool]) -> bool {
        if path.len() == history.len() {
            return true;
        }
        for i in 0..history.len() {
            if used[i] {
                continue;
            }
            // `i` may come next only if no other pending operation returned before it was invoked.
            let blocked =
                (0..history.len()).any(|j| j != i && !used[j] && history[j].resp < history[i].inv);
            if blocked {
                continue;
            }
            let q = setup.spec();
            for &p in path.iter() {
                apply(&*q, history[p].op, Mode::Spec);
            }
            if apply(&*q, history[i].op, Mode::Spec) != history[i].res {
                continue;
            }
            used[i] = true;
            path.push(i);
            if go(setup, history, path, used) {
                return true;
            }
            path.pop();
            used[i] = false;
        }
        false
    }
    go(
        setup,
        history,
        &mut Vec::new(),
        &mut vec![false; history.len()],
    )
}

// ---------------------------------------------------------------------------------------------
// The recorder
// ---------------------------------------------------------------------------------------------

/// SplitMix64: a small deterministic generator, so that a failing seed can be replayed.
#[derive(Debug, Clone)]
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

const IDS: u64 = 4;
const PRIORITIES: u64 = 3;

/// The shape of one recorded history.
#[derive(Debug, Clone, Copy)]
struct Plan {
    seed: u64,
    threads: usize,
    ops_per_thread: usize,
    setup: Setup,
    /// Whether `shutdown` / `shutdown_now` may be drawn (rarely).
    allow_shutdown: bool,
    /// Whether claims may block (`get_next_task(None)`); the observer then shuts the queue down
    /// once every worker is done or blocked, which releases them.
    blocking: bool,
}

impl Plan {
    fn draw(seed: u64) -> Plan {
        let mut rng = Rng(seed ^ 0x5151_5151);
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

/// Draws a thread's next operation; `claimed` is the id of the last task this thread claimed, so
/// that completes and fails often hit a task in progress.
fn draw_op(rng: &mut Rng, plan: &Plan, payload: Payload, claimed: Option<Id>) -> Op {
    let id = rng.below(IDS) as Id;
    let mine = match claimed {
        Some(c) if rng.below(5) != 0 => c,
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
        27..=49 => Op::Claim(match rng.below(3) {
            0 if plan.blocking => ClaimKind::Blocking,
            0 | 1 => ClaimKind::Try,
            _ => ClaimKind::ZeroTimeout,
        }),
        50..=61 => Op::Complete(mine),
        62..=69 => Op::Fail(mine),
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

/// Runs `op` on `q`, stamped with the logical clock before the call and after it returns.
fn stamp(q: &Queue, clock: &AtomicU64, thread: usize, op: Op) -> Event {
    let inv = clock.fetch_add(1, Ordering::SeqCst);
    let res = apply(q, op, Mode::Real);
    let resp = clock.fetch_add(1, Ordering::SeqCst);
    Event {
        thread,
        inv,
        resp,
        op,
        res,
    }
}

/// Runs `plan` on a fresh queue of strategy `strat` and returns its history: the workers' events,
/// the observer's `shutdown()` if claims may block, then, once every worker has joined, the
/// observer's status read of every id and `len()`.
fn record(strat: Strat, plan: &Plan) -> Vec<Event> {
    let q = strat.build(plan.setup);
    let clock = AtomicU64::new(0);
    let barrier = Barrier::new(plan.threads);
    let arrived = AtomicUsize::new(0);
    // Workers that are done or inside a blocking claim.
    let idle = AtomicUsize::new(0);
    let observer = plan.threads;
    let mut history: Vec<Event> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..plan.threads)
            .map(|t| {
                let (q, clock, barrier, arrived, idle) = (&*q, &clock, &barrier, &arrived, &idle);
                s.spawn(move || {
                    let mut rng = Rng(plan.seed.wrapping_mul(31).wrapping_add(t as u64 + 1));
                    let mut claimed = None;
                    let mut events = Vec::with_capacity(plan.ops_per_thread);
                    // Start together and hot: a blocking barrier wakes threads one by one, a
                    // spinning one releases every thread that is on a core at the same instant.
                    barrier.wait();
                    arrived.fetch_add(1, Ordering::SeqCst);
                    let mut spins = 0u32;
                    while arrived.load(Ordering::SeqCst) < plan.threads {
                        spins += 1;
                        if spins.is_multiple_of(256) {
                            std::thread::yield_now();
                        }
                        std::hint::spin_loop();
                    }
                    for k in 0..plan.ops_per_thread {
                        let payload = ((t as Payload) << 8) | k as Payload;
                        let op = draw_op(&mut rng, plan, payload, claimed);
                        for _ in 0..rng.below(16) {
                            std::hint::spin_loop();
                        }
                        let blocks = op == Op::Claim(ClaimKind::Blocking);
                        if blocks {
                            idle.fetch_add(1, Ordering::SeqCst);
                        }
                        let event = stamp(q, clock, t, op);
                        if blocks {
                            idle.fetch_sub(1, Ordering::SeqCst);
                        }
                        if let Res::Claim(Ok(task)) = &event.res {
                            claimed = Some(task.id);
                        }
                        events.push(event);
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
            observed.push(stamp(&*q, &clock, observer, Op::Shutdown));
        }
        handles
            .into_iter()
            .flat_map(|h| h.join().expect("a recording thread panicked"))
            .chain(observed)
            .collect()
    });
    if let Err(e) = q.check_invariants() {
        panic!("{strat:?}: invariants broken after seed {}: {e}", plan.seed);
    }
    for op in (0..IDS as Id).map(Op::Status).chain([Op::Len]) {
        history.push(stamp(&*q, &clock, observer, op));
    }
    history
}

/// How many histories each strategy gets; `TASKQ_LIN_HISTORIES` overrides the default.
fn histories_per_strategy() -> u64 {
    std::env::var("TASKQ_LIN_HISTORIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000)
}

/// Records and checks many histories on `strat`; panics with the first non-linearizable one.
fn check_strategy(strat: Strat, base_seed: u64) {
    // One strategy at a time: recordings that compete for the two cores overlap far less.
    static ONE_AT_A_TIME: Mutex<()> = Mutex::new(());
    let _turn = ONE_AT_A_TIME.lock().unwrap_or_else(|e| e.into_inner());
    let started = Instant::now();
    let mut waited = (0, 0);
    let n = histories_per_strategy();
    let (mut ops, mut explored, mut max_explored, mut overlapping) = (0usize, 0u64, 0u64, 0usize);
    for k in 0..n {
        let plan = Plan::draw(base_seed.wrapping_add(k));
        let history = record(strat, &plan);
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
                _ => {}
            }
        }
        match check(plan.setup, &history) {
            Ok(found) => {
                explored += found.explored;
                max_explored = max_explored.max(found.explored);
            }
            Err(v) => panic!(
                "{strat:?}: history of seed {} ({:?}) is not linearizable.\n\
                 History, in invocation order ([invoked, returned] on the logical clock):\n{}\
                 Longest legal prefix found ({} of {} events, after {} tries): {:?}",
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
    println!(
        "{strat:?}: {n} histories, {ops} operations ({overlapping} overlapping another thread's; \
         {} blocking claims served a task, {} released by shutdown), {explored} search steps \
         (max {max_explored} in one history), {:.2?}",
        waited.0,
        waited.1,
        started.elapsed()
    );
}

#[test]
fn mutex_strategy_is_linearizable() {
    check_strategy(Strat::Mutex, 0x1000_0000);
}

#[test]
fn rwlock_strategy_is_linearizable() {
    check_strategy(Strat::RwLock, 0x2000_0000);
}

#[test]
fn channel_strategy_is_linearizable() {
    check_strategy(Strat::Channel, 0x3000_0000);
}

// ---------------------------------------------------------------------------------------------
// The checker's own tests
// ---------------------------------------------------------------------------------------------

fn ev(thread: usize, inv: u64, resp: u64, op: Op, res: Res) -> Event {
    Event {
        thread,
        inv,
        resp,
        op,
        res,
    }
}

fn add(id: Id, priority: i64) -> Op {
    Op::Add {
        kind: AddKind::Try,
        id,
        priority,
        payload: 100 + Payload::from(id),
    }
}

fn task(id: Id, priority: i64, attempts: u32) -> Res {
    Res::Claim(Ok(TaskView {
        id,
        priority,
        payload: 100 + Payload::from(id),
        attempts,
    }))
}

const CLAIM: Op = Op::Claim(ClaimKind::Try);
const OK: Res = Res::Add(Ok(()));

fn linearizable(h: &[Event]) -> bool {
    linearizable_with(Setup::DEFAULT, h)
}

/// Runs both checkers and insists that they agree.
fn linearizable_with(setup: Setup, h: &[Event]) -> bool {
    let fast = check(setup, h);
    let slow = brute_force(setup, h);
    assert_eq!(fast.is_ok(), slow, "the checkers disagree on\n{}", Show(h));
    if let Ok(found) = &fast {
        assert_eq!(found.order.len(), h.len());
    }
    slow
}

#[test]
fn accepts_a_sequential_history() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 3, CLAIM, task(1, 0, 0)),
        ev(
            0,
            4,
            5,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Processing)),
        ),
        ev(0, 6, 7, Op::Complete(1), Res::Task(Ok(()))),
        ev(
            0,
            8,
            9,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Completed)),
        ),
        ev(0, 10, 11, Op::Len, Res::Len(0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_a_claim_that_overlaps_the_add_it_returns() {
    // The claim is invoked first, but may take effect after the add.
    let h = [
        ev(0, 0, 3, CLAIM, task(1, 0, 0)),
        ev(1, 1, 2, add(1, 0), OK),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_overlapping_claims_served_out_of_invocation_order() {
    let h = [
        ev(0, 0, 1, add(1, 1), OK),
        ev(0, 2, 3, add(2, 5), OK),
        // Thread 0 is invoked first yet gets the worse task: thread 1 went first.
        ev(0, 4, 9, CLAIM, task(1, 1, 0)),
        ev(1, 5, 8, CLAIM, task(2, 5, 0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_reads_that_overlap_the_change_they_miss() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 7, CLAIM, task(1, 0, 0)),
        ev(
            1,
            3,
            4,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Queued)),
        ),
        ev(2, 5, 6, Op::Len, Res::Len(1)),
        ev(1, 8, 9, Op::Len, Res::Len(0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_an_empty_claim_that_overlaps_the_add() {
    let h = [
        ev(0, 0, 3, add(1, 0), OK),
        ev(1, 1, 2, CLAIM, Res::Claim(Err(ClaimError::Empty))),
        ev(1, 4, 5, CLAIM, task(1, 0, 0)),
    ];
    assert!(linearizable(&h));
}

#[test]
fn accepts_a_dense_four_thread_history() {
    // The four first operations all overlap; one order works: the add, thread 0's claim, the fail,
    // thread 2's claim (which sees the second attempt).
    let h = [
        ev(0, 0, 20, CLAIM, task(3, 2, 0)),
        ev(1, 1, 21, add(3, 2), OK),
        ev(2, 2, 22, CLAIM, task(3, 2, 1)),
        ev(3, 3, 23, Op::Fail(3), Res::Fail(Ok(TaskStatus::Queued))),
        ev(
            0,
            24,
            25,
            Op::Status(3),
            Res::Status(Some(TaskStatus::Processing)),
        ),
    ];
    assert!(linearizable(&h));
}

#[test]
fn rejects_two_claimers_getting_the_same_task() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 5, CLAIM, task(1, 0, 0)),
        ev(1, 3, 4, CLAIM, task(1, 0, 0)),
    ];
    assert!(!linearizable(&h));
}

#[test]
fn rejects_a_lower_priority_claim_when_a_higher_was_added_before() {
    let mut h = vec![
        ev(0, 0, 1, add(1, 1), OK),
        ev(1, 2, 3, add(2, 5), OK),
        ev(0, 4, 5, CLAIM, task(1, 1, 0)),
    ];
    assert!(!linearizable(&h));
    // The same, with the second add still running when the claim returns, is fine.
    h[1].resp = 6;
    assert!(linearizable(&h));
}

#[test]
fn rejects_an_empty_claim_after_a_completed_add() {
    let mut h = vec![
        ev(0, 0, 1, add(1, 0), OK),
        ev(1, 2, 3, CLAIM, Res::Claim(Err(ClaimError::Empty))),
    ];
    assert!(!linearizable(&h));
    h[1].res = Res::Claim(Err(ClaimError::Timeout));
    h[1].op = Op::Claim(ClaimKind::ZeroTimeout);
    assert!(!linearizable(&h));
    h[1].inv = 0;
    h[0].inv = 1;
    h[0].resp = 2;
    h[1].resp = 3;
    assert!(linearizable(&h));
}

#[test]
fn rejects_a_status_read_showing_queued_after_a_completed_claim() {
    let mut h = vec![
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 3, CLAIM, task(1, 0, 0)),
        ev(
            1,
            4,
            5,
            Op::Status(1),
            Res::Status(Some(TaskStatus::Queued)),
        ),
    ];
    assert!(!linearizable(&h));
    h[1].resp = 6;
    assert!(linearizable(&h));
}

#[test]
fn rejects_breaking_fifo_among_equal_priorities() {
    let h = [
        ev(0, 0, 1, add(1, 3), OK),
        ev(0, 2, 3, add(2, 3), OK),
        ev(1, 4, 5, CLAIM, task(2, 3, 0)),
    ];
    assert!(!linearizable(&h));
}

#[test]
fn update_priority_keeps_add_order_and_failed_tasks_go_behind() {
    // 1 (prio 1) is added before 2 (prio 2); lowering 2 to 1 puts it behind 1 again.
    let base = [
        ev(0, 0, 1, add(1, 1), OK),
        ev(0, 2, 3, add(2, 2), OK),
        ev(0, 4, 5, Op::UpdatePriority(2, 1), Res::Task(Ok(()))),
    ];
    let mut good = base.to_vec();
    good.push(ev(1, 6, 7, CLAIM, task(1, 1, 0)));
    assert!(linearizable(&good));
    let mut bad = base.to_vec();
    bad.push(ev(1, 6, 7, CLAIM, task(2, 1, 0)));
    assert!(!linearizable(&bad));
    // A failed task re-queued goes behind its equals: 1 fails, then 2 comes first.
    good.push(ev(1, 8, 9, Op::Fail(1), Res::Fail(Ok(TaskStatus::Queued))));
    let mut after = good.clone();
    after.push(ev(1, 10, 11, CLAIM, task(2, 1, 0)));
    assert!(linearizable(&after));
    good.push(ev(1, 10, 11, CLAIM, task(1, 1, 1)));
    assert!(!linearizable(&good));
}

#[test]
fn rejects_wrong_payloads_attempts_and_duplicate_adds() {
    let base = [ev(0, 0, 1, add(1, 0), OK)];
    let mut wrong_payload = base.to_vec();
    wrong_payload.push(ev(
        1,
        2,
        3,
        CLAIM,
        Res::Claim(Ok(TaskView {
            id: 1,
            priority: 0,
            payload: 7,
            attempts: 0,
        })),
    ));
    assert!(!linearizable(&wrong_payload));
    let mut wrong_attempts = base.to_vec();
    wrong_attempts.push(ev(1, 2, 3, CLAIM, task(1, 0, 1)));
    assert!(!linearizable(&wrong_attempts));
    let mut twice = base.to_vec();
    twice.push(ev(1, 2, 3, add(1, 0), OK));
    assert!(!linearizable(&twice));
    let mut refused = base.to_vec();
    refused.push(ev(
        1,
        2,
        3,
        add(1, 0),
        Res::Add(Err((Refusal::Duplicate, 101))),
    ));
    assert!(linearizable(&refused));
}

#[test]
fn respects_the_setup_bounded_queue_and_max_attempts() {
    let bounded = Setup {
        capacity: Some(1),
        ..Setup::DEFAULT
    };
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(1, 2, 3, add(2, 0), Res::Add(Err((Refusal::Full, 102)))),
    ];
    assert!(linearizable_with(bounded, &h));
    assert!(!linearizable_with(Setup::DEFAULT, &h));
    let once = Setup {
        max_attempts: Some(1),
        ..Setup::DEFAULT
    };
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(0, 2, 3, CLAIM, task(1, 0, 0)),
        ev(0, 4, 5, Op::Fail(1), Res::Fail(Ok(TaskStatus::Failed))),
    ];
    assert!(linearizable_with(once, &h));
    assert!(!linearizable_with(Setup::DEFAULT, &h));
}

#[test]
fn shutdown_drains_then_refuses() {
    let h = [
        ev(0, 0, 1, add(1, 0), OK),
        ev(1, 2, 3, Op::Shutdown, Res::Unit),
        ev(0, 4, 5, CLAIM, task(1, 0, 0)),
        ev(0, 6, 7, CLAIM, Res::Claim(Err(ClaimError::ShutDown))),
    ];
    assert!(linearizable(&h));
    let mut early = h.to_vec();
    early[3].res = Res::Claim(Err(ClaimError::Empty));
    assert!(!linearizable(&early));
}

#[test]
fn a_blocking_claim_takes_effect_only_once_it_can() {
    const WAIT: Op = Op::Claim(ClaimKind::Blocking);
    // Invoked before the add, it returns the task the add brings.
    let h = [ev(0, 0, 5, WAIT, task(1, 0, 0)), ev(1, 1, 4, add(1, 0), OK)];
    assert!(linearizable(&h));
    // Released by a shutdown on an empty queue.
    let h = [
        ev(0, 0, 5, WAIT, Res::Claim(Err(ClaimError::ShutDown))),
        ev(1, 1, 2, Op::Shutdown, Res::Unit),
    ];
    assert!(linearizable(&h));
    // But not while a task added before it is still queued.
    let h = [
        ev(1, 0, 1, add(1, 0), OK),
        ev(0, 2, 7, WAIT, Res::Claim(Err(ClaimError::ShutDown))),
        ev(1, 3, 4, Op::Shutdown, Res::Unit),
    ];
    assert!(!linearizable(&h));
    // A blocking claim can never be the first to take effect on an empty queue and say so.
    let h = [ev(0, 0, 1, WAIT, Res::Claim(Err(ClaimError::Empty)))];
    assert!(!linearizable(&h));
}

/// Records small real histories, then plants one wrong result in each, and checks that the
/// memoized checker, the memo-free run of it and the brute-force search agree on every one.
#[test]
fn memoized_checker_agrees_with_brute_force_on_mutated_histories() {
    let (mut accepted, mut rejected) = (0, 0);
    for seed in 0..120u64 {
        let mut plan = Plan::draw(0x7000_0000 + seed);
        plan.threads = 3;
        plan.ops_per_thread = 2;
        let mut history = record(Strat::Mutex, &plan);
        history.truncate(plan.threads * plan.ops_per_thread + 1);
        let mut rng = Rng(seed);
        if seed % 3 != 0 {
            let i = rng.below(history.len() as u64) as usize;
            history[i].res = perturb(&history[i].res, &mut rng);
        }
        let fast = check(plan.setup, &history).is_ok();
        let no_memo = check_with(plan.setup, &history, false).is_ok();
        let slow = brute_force(plan.setup, &history);
        assert_eq!(
            (fast, no_memo),
            (slow, slow),
            "the checkers disagree on seed {seed}:\n{}",
            Show(&history)
        );
        if slow {
            accepted += 1;
        } else {
            rejected += 1;
        }
    }
    // Both verdicts must have been exercised for the comparison to mean anything.
    assert!(accepted > 10 && rejected > 10, "{accepted} / {rejected}");
}

/// A plausible but different result of the same kind.
fn perturb(res: &Res, rng: &mut Rng) -> Res {
    let status = |rng: &mut Rng| match rng.below(5) {
        0 => TaskStatus::Queued,
        1 => TaskStatus::Processing,
        2 => TaskStatus::Completed,
        3 => TaskStatus::Cancelled,
        _ => TaskStatus::Failed,
    };
    match res {
        Res::Add(Ok(())) => Res::Add(Err((Refusal::Duplicate, 0))),
        Res::Add(Err(_)) => Res::Add(Ok(())),
        Res::Claim(Ok(t)) => match rng.below(3) {
            0 => Res::Claim(Err(ClaimError::Empty)),
            1 => Res::Claim(Ok(TaskView {
                id: (t.id + 1) % IDS as Id,
                ..t.clone()
            })),
            _ => Res::Claim(Ok(TaskView {
                attempts: t.attempts + 1,
                ..t.clone()
            })),
        },
        Res::Claim(Err(_)) => Res::Claim(Ok(TaskView {
            id: rng.below(IDS) as Id,
            priority: rng.below(PRIORITIES) as i64,
            payload: 0,
            attempts: 0,
        })),
        Res::Task(Ok(())) => Res::Task(Err(TaskError::NotFound)),
        Res::Task(Err(_)) => Res::Task(Ok(())),
        Res::Fail(Ok(_)) => Res::Fail(Err(TaskError::NotFound)),
        Res::Fail(Err(_)) => Res::Fail(Ok(TaskStatus::Queued)),
        Res::Cancel(b) => Res::Cancel(!b),
        Res::Status(Some(s)) => {
            let other = status(rng);
            Res::Status(if other == *s { None } else { Some(other) })
        }
        Res::Status(None) => Res::Status(Some(status(rng))),
        Res::Len(n) => Res::Len(n + 1),
        Res::Drained(ts) => Res::Drained(ts.iter().skip(1).cloned().collect()),
        Res::Unit | Res::Blocks => res.clone(),
    }
}
