//! Property test of the shared core against a plain reference model: random configs (capacity,
//! max_attempts, retention, ageing) and random sequences of add / add for later / pop / complete /
//! fail (at once or after a delay) / cancel / update_priority / forget / shutdown / shutdown_now /
//! advancing a manual clock, and fenced completes and fails of any task ever claimed, stale ones
//! included (small id space, so duplicates are common; bursts and mass cancels, so the slab
//! compacts). After every step the results, every id's status, `len`, `stats`, the queued order,
//! the scheduled tasks and the next due time must match the model, and `check_invariants` pass.

use std::collections::BTreeMap;
use std::time::Duration;

use proptest::prelude::*;

use super::{Config, Core};
use crate::{
    ClaimError, ManualClock, Retention, Stats, Task, TaskError, TaskStatus, Token, TryAddError,
};

/// The model's time unit, in nanoseconds (delays and clock advances are in these).
const MS: u64 = 1_000_000;

type Id = u32;
type Payload = u32;

/// Ids used by the operations are below this (bursts may go a little past it).
const ID_SPACE: Id = 100;
/// Every id the test may ever use, for the status checks.
const ALL_IDS: Id = ID_SPACE + 80;

#[derive(Debug, Clone)]
enum Op {
    Add(Id, i64, Payload),
    Pop,
    Complete(Id),
    /// Completes the `n`-th claim ever made (modulo their number), fenced by its token.
    CompleteClaim(usize),
    /// Fails the `n`-th claim ever made, to be retried (`true`) or for good.
    Fail(usize, bool),
    /// Fails the `n`-th claim ever made, to be retried after this many milliseconds.
    FailAfter(usize, u64),
    /// Adds a task due this many milliseconds from now.
    AddAfter(Id, i64, Payload, u64),
    /// Advances the clock by this many milliseconds.
    Advance(u64),
    Cancel(Id),
    UpdatePriority(Id, i64),
    Forget(Id),
    Shutdown,
    ShutdownNow,
    /// Adds `n` tasks with ids `start..start + n`.
    Burst(Id, Id),
    /// Cancels every queued task, then forgets every finished one.
    CancelAndForgetAll,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Open,
    Draining,
    Stopped,
}

#[derive(Debug, Clone)]
struct MTask {
    priority: i64,
    seq: u64,
    payload: Payload,
    attempts: u32,
    status: TaskStatus,
    /// The token of the latest claim.
    claim: u64,
    /// When it falls due (`Scheduled`), or since when it has been ready (`Queued`), in ns.
    due: u64,
}

/// The obviously-correct model: a map of tasks, linear scans for everything.
#[derive(Debug)]
struct Model {
    capacity: Option<usize>,
    max_attempts: Option<u32>,
    retention: Retention,
    tasks: BTreeMap<Id, MTask>,
    /// Finished ids, oldest first (for `KeepLast`).
    finished_order: Vec<Id>,
    next_seq: u64,
    last_claim: u64,
    phase: Phase,
    totals: [u64; 4], // added, completed, cancelled, failed
    /// The clock, in ns since the core was made.
    now: u64,
    ageing: Option<u64>,
}

impl Model {
    fn new(config: &Config) -> Self {
        Model {
            capacity: config.capacity,
            max_attempts: config.max_attempts,
            retention: config.retention,
            tasks: BTreeMap::new(),
            finished_order: Vec::new(),
            next_seq: 0,
            last_claim: 0,
            phase: Phase::Open,
            totals: [0; 4],
            now: 0,
            ageing: config.ageing,
        }
    }

    /// The order key: priority, less the ageing steps up to when it became ready.
    fn key(&self, t: &MTask) -> i64 {
        match self.ageing {
            None => t.priority,
            Some(step) => t.priority.saturating_sub((t.due / step) as i64),
        }
    }

    /// Scheduled tasks that fell due become queued, earliest (then oldest) first, each with a
    /// fresh sequence number, ready since its due time.
    fn promote(&mut self) {
        let mut due: Vec<(u64, u64, Id)> = (self.tasks.iter())
            .filter(|(_, t)| t.status == TaskStatus::Scheduled && t.due <= self.now)
            .map(|(&id, t)| (t.due, t.seq, id))
            .collect();
        due.sort();
        for (_, _, id) in due {
            let seq = self.seq();
            let t = self.tasks.get_mut(&id).unwrap();
            t.status = TaskStatus::Queued;
            t.seq = seq;
        }
    }

    /// Scheduled ids, earliest first.
    fn scheduled_order(&self) -> Vec<Id> {
        let mut s: Vec<(u64, u64, Id)> = (self.tasks.iter())
            .filter(|(_, t)| t.status == TaskStatus::Scheduled)
            .map(|(&id, t)| (t.due, t.seq, id))
            .collect();
        s.sort();
        s.into_iter().map(|(_, _, id)| id).collect()
    }

    /// What `get_status` says: a scheduled task past its due time reads `Queued`.
    fn status(&self, id: Id) -> Option<TaskStatus> {
        self.tasks.get(&id).map(|t| match t.status {
            TaskStatus::Scheduled if t.due <= self.now => TaskStatus::Queued,
            status => status,
        })
    }

    fn count(&self, status: TaskStatus) -> usize {
        self.tasks.values().filter(|t| t.status == status).count()
    }

    /// Queued ids, best first: higher priority, then lower seq.
    fn queued_order(&self) -> Vec<Id> {
        let mut q: Vec<(&Id, &MTask)> = self
            .tasks
            .iter()
            .filter(|(_, t)| t.status == TaskStatus::Queued)
            .collect();
        q.sort_by(|a, b| {
            self.key(b.1)
                .cmp(&self.key(a.1))
                .then(a.1.seq.cmp(&b.1.seq))
        });
        q.into_iter().map(|(id, _)| *id).collect()
    }

    fn stats(&self) -> Stats {
        Stats {
            scheduled: self.count(TaskStatus::Scheduled),
            queued: self.count(TaskStatus::Queued),
            processing: self.count(TaskStatus::Processing),
            completed: self.count(TaskStatus::Completed),
            cancelled: self.count(TaskStatus::Cancelled),
            failed: self.count(TaskStatus::Failed),
            total_added: self.totals[0],
            total_completed: self.totals[1],
            total_cancelled: self.totals[2],
            total_failed: self.totals[3],
        }
    }

    /// Claims queued task `id`: a fresh token, `Processing`.
    fn claim(&mut self, id: Id) -> Task<Id, Payload> {
        self.last_claim += 1;
        let t = self.tasks.get_mut(&id).unwrap();
        t.claim = self.last_claim;
        t.status = TaskStatus::Processing;
        Task {
            id,
            priority: t.priority,
            payload: t.payload,
            attempts: t.attempts,
            token: Token::new(t.claim, 0),
        }
    }

    fn seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq
    }

    fn add(&mut self, id: Id, priority: i64, payload: Payload) -> Result<(), TryAddError<Payload>> {
        self.add_after(id, priority, payload, 0)
    }

    /// Adds a task due `delay_ms` from now (ready at once if zero).
    fn add_after(
        &mut self,
        id: Id,
        priority: i64,
        payload: Payload,
        delay_ms: u64,
    ) -> Result<(), TryAddError<Payload>> {
        if self.phase != Phase::Open {
            return Err(TryAddError::ShutDown(payload));
        }
        self.promote();
        if self.tasks.contains_key(&id) {
            return Err(TryAddError::Duplicate(payload));
        }
        let waiting = self.count(TaskStatus::Queued) + self.count(TaskStatus::Scheduled);
        if self.capacity.is_some_and(|c| waiting >= c) {
            return Err(TryAddError::Full(payload));
        }
        let seq = self.seq();
        let (status, due) = match delay_ms {
            0 => (TaskStatus::Queued, self.now),
            ms => (TaskStatus::Scheduled, self.now + ms * MS),
        };
        self.tasks.insert(
            id,
            MTask {
                priority,
                seq,
                payload,
                attempts: 0,
                status,
                claim: 0,
                due,
            },
        );
        self.totals[0] += 1;
        Ok(())
    }

    fn pop(&mut self) -> Result<Task<Id, Payload>, ClaimError> {
        if self.phase == Phase::Stopped {
            return Err(ClaimError::ShutDown);
        }
        self.promote();
        let Some(&id) = self.queued_order().first() else {
            let scheduled = self.count(TaskStatus::Scheduled) > 0;
            return Err(if self.phase == Phase::Draining && !scheduled {
                ClaimError::ShutDown
            } else {
                ClaimError::Empty
            });
        };
        Ok(self.claim(id))
    }

    fn expect(&self, id: Id, status: TaskStatus) -> Result<(), TaskError> {
        match self.tasks.get(&id) {
            None => Err(TaskError::NotFound),
            Some(t) if t.status != status => Err(TaskError::InvalidState { current: t.status }),
            Some(_) => Ok(()),
        }
    }

    fn finish(&mut self, id: Id, status: TaskStatus) {
        self.tasks.get_mut(&id).unwrap().status = status;
        match status {
            TaskStatus::Completed => self.totals[1] += 1,
            TaskStatus::Cancelled => self.totals[2] += 1,
            TaskStatus::Failed => self.totals[3] += 1,
            _ => unreachable!(),
        }
        match self.retention {
            Retention::KeepAll => {}
            Retention::KeepNone => {
                self.tasks.remove(&id);
            }
            Retention::KeepLast(n) => {
                self.finished_order.push(id);
                while self.finished_order.len() > n {
                    let oldest = self.finished_order.remove(0);
                    self.tasks.remove(&oldest);
                }
            }
        }
    }

    fn complete(&mut self, id: Id) -> Result<(), TaskError> {
        self.expect(id, TaskStatus::Processing)?;
        self.finish(id, TaskStatus::Completed);
        Ok(())
    }

    /// The checks of a fenced operation on claim `token` of `id`.
    fn fenced(&self, id: Id, token: Token) -> Result<(), TaskError> {
        let t = self.tasks.get(&id).ok_or(TaskError::NotFound)?;
        if t.claim != token.claim {
            return Err(TaskError::Stale);
        }
        self.expect(id, TaskStatus::Processing)
    }

    fn complete_claim(&mut self, id: Id, token: Token) -> Result<(), TaskError> {
        self.fenced(id, token)?;
        self.finish(id, TaskStatus::Completed);
        Ok(())
    }

    /// Fails a claim: for good (`retry` is `None`), or back after `retry` ms.
    fn fail(&mut self, id: Id, token: Token, retry: Option<u64>) -> Result<TaskStatus, TaskError> {
        self.fenced(id, token)?;
        let max = self.max_attempts;
        let t = self.tasks.get_mut(&id).unwrap();
        t.attempts += 1;
        let Some(delay_ms) = retry.filter(|_| max.map_or(true, |m| t.attempts < m)) else {
            self.finish(id, TaskStatus::Failed);
            return Ok(TaskStatus::Failed);
        };
        self.promote();
        let seq = self.seq();
        let now = self.now;
        let t = self.tasks.get_mut(&id).unwrap();
        t.seq = seq;
        if delay_ms == 0 {
            t.status = TaskStatus::Queued;
            t.due = now;
        } else {
            t.status = TaskStatus::Scheduled;
            t.due = now + delay_ms * MS;
        }
        Ok(t.status)
    }

    fn cancel(&mut self, id: Id) -> Option<Payload> {
        let status = self.tasks.get(&id)?.status;
        if !matches!(status, TaskStatus::Queued | TaskStatus::Scheduled) {
            return None;
        }
        let payload = self.tasks[&id].payload;
        self.finish(id, TaskStatus::Cancelled);
        Some(payload)
    }

    fn update_priority(&mut self, id: Id, priority: i64) -> Result<(), TaskError> {
        if self.expect(id, TaskStatus::Scheduled).is_err() {
            self.expect(id, TaskStatus::Queued)?;
        }
        self.tasks.get_mut(&id).unwrap().priority = priority;
        Ok(())
    }

    fn forget(&mut self, id: Id) -> Result<(), TaskError> {
        let t = self.tasks.get(&id).ok_or(TaskError::NotFound)?;
        if !t.status.is_finished() {
            return Err(TaskError::InvalidState { current: t.status });
        }
        self.tasks.remove(&id);
        self.finished_order.retain(|&f| f != id);
        Ok(())
    }

    fn shutdown(&mut self) {
        if self.phase == Phase::Open {
            self.phase = Phase::Draining;
        }
    }

    fn shutdown_now(&mut self) -> Vec<Task<Id, Payload>> {
        self.phase = Phase::Stopped;
        let order = self.queued_order();
        let mut tasks = Vec::new();
        for id in order {
            tasks.push(self.claim(id));
            self.finish(id, TaskStatus::Cancelled);
        }
        for id in self.scheduled_order() {
            let t = &self.tasks[&id];
            tasks.push(Task {
                id,
                priority: t.priority,
                payload: t.payload,
                attempts: t.attempts,
                token: Token::default(),
            });
            self.finish(id, TaskStatus::Cancelled);
        }
        tasks
    }
}

fn id() -> impl Strategy<Value = Id> {
    prop_oneof![2 => 0..8u32, 3 => 0..ID_SPACE]
}

/// Many distinct priorities (so removals from the middle of a deep heap matter), ties (FIFO) and
/// the extremes.
fn priority() -> impl Strategy<Value = i64> {
    prop_oneof![
        4 => -2..3i64,
        5 => -1_000..1_000i64,
        1 => Just(i64::MIN),
        1 => Just(i64::MAX),
        1 => any::<i64>(),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        12 => (id(), priority(), any::<u32>()).prop_map(|(i, p, x)| Op::Add(i, p, x)),
        10 => Just(Op::Pop),
        3 => id().prop_map(Op::Complete),
        3 => any::<usize>().prop_map(Op::CompleteClaim),
        5 => (any::<usize>(), prop_oneof![4 => Just(true), 1 => Just(false)])
            .prop_map(|(n, retry)| Op::Fail(n, retry)),
        3 => (any::<usize>(), delay()).prop_map(|(n, d)| Op::FailAfter(n, d)),
        6 => (id(), priority(), any::<u32>(), delay())
            .prop_map(|(i, p, x, d)| Op::AddAfter(i, p, x, d)),
        4 => delay().prop_map(Op::Advance),
        4 => id().prop_map(Op::Cancel),
        4 => (id(), priority()).prop_map(|(i, p)| Op::UpdatePriority(i, p)),
        3 => id().prop_map(Op::Forget),
        3 => (0..ID_SPACE, 1..80u32).prop_map(|(s, n)| Op::Burst(s, n)),
        1 => Just(Op::CancelAndForgetAll),
        1 => Just(Op::Shutdown),
        1 => Just(Op::ShutdownNow),
    ]
}

/// Delays and clock advances in milliseconds: ties (equal due times) are common.
fn delay() -> impl Strategy<Value = u64> {
    prop_oneof![1 => Just(0u64), 4 => 1..5u64, 1 => 5..200u64]
}

fn config() -> impl Strategy<Value = Config> {
    let capacity = prop_oneof![2 => Just(None), 1 => (1..6usize).prop_map(Some)];
    let max_attempts = prop_oneof![Just(None), (1..4u32).prop_map(Some)];
    let retention = prop_oneof![
        Just(Retention::KeepAll),
        (0..5usize).prop_map(Retention::KeepLast),
        Just(Retention::KeepNone),
    ];
    let ageing = prop_oneof![2 => Just(None), 1 => (1..4u64).prop_map(|ms| Some(ms * MS))];
    (capacity, max_attempts, retention, ageing).prop_map(
        |(capacity, max_attempts, retention, ageing)| Config {
            capacity,
            max_attempts,
            retention,
            ageing,
            ..Config::default()
        },
    )
}

/// Every claim the core made, in order (stale ones stay, to test the fencing).
type Claims = Vec<Task<Id, Payload>>;

/// Applies one operation to both, and fails on any difference.
fn step(
    core: &mut Core<Id, Payload>,
    time: &ManualClock,
    model: &mut Model,
    claims: &mut Claims,
    op: &Op,
) -> Result<(), TestCaseError> {
    let add = |core: &mut Core<Id, Payload>, id, p, x| core.add(id, p, x, None).map(|_| ());
    match *op {
        Op::AddAfter(id, p, x, ms) => {
            let at = time.clock().now() + Duration::from_millis(ms);
            let got = core.add(id, p, x, Some(at)).map(|_| ());
            prop_assert_eq!(got, model.add_after(id, p, x, ms));
        }
        Op::Advance(ms) => {
            time.advance(Duration::from_millis(ms));
            model.now += ms * MS;
        }
        Op::FailAfter(n, ms) if !claims.is_empty() => {
            let t = claims[n % claims.len()].clone();
            let want = model.fail(t.id, t.token, Some(ms));
            let payload_back = !matches!(want, Ok(TaskStatus::Queued | TaskStatus::Scheduled));
            let (got, leftover) = core.fail(t.clone(), Some(Duration::from_millis(ms)));
            prop_assert_eq!(got, want);
            prop_assert_eq!(leftover, payload_back.then_some(t.payload));
        }
        Op::Add(id, p, x) => prop_assert_eq!(add(core, id, p, x), model.add(id, p, x)),
        Op::Pop => {
            let got = core.pop();
            prop_assert_eq!(&got, &model.pop());
            claims.extend(got);
        }
        Op::Complete(id) => prop_assert_eq!(core.complete(&id), model.complete(id)),
        Op::CompleteClaim(n) if !claims.is_empty() => {
            let t = &claims[n % claims.len()];
            prop_assert_eq!(
                core.complete_claim(&t.id, t.token),
                model.complete_claim(t.id, t.token)
            );
        }
        Op::Fail(n, retry) if !claims.is_empty() => {
            let t = claims[n % claims.len()].clone();
            let want = model.fail(t.id, t.token, retry.then_some(0));
            let payload_back = want != Ok(TaskStatus::Queued);
            let (got, leftover) = core.fail(t.clone(), retry.then_some(Duration::ZERO));
            prop_assert_eq!(got, want);
            prop_assert_eq!(leftover, payload_back.then_some(t.payload));
        }
        Op::CompleteClaim(_) | Op::Fail(..) | Op::FailAfter(..) => {}
        Op::Cancel(id) => prop_assert_eq!(core.cancel(&id), model.cancel(id)),
        Op::UpdatePriority(id, p) => {
            prop_assert_eq!(core.update_priority(&id, p), model.update_priority(id, p))
        }
        Op::Forget(id) => prop_assert_eq!(core.forget(&id), model.forget(id)),
        Op::Shutdown => {
            core.shutdown();
            model.shutdown();
        }
        Op::ShutdownNow => {
            let got = core.shutdown_now();
            prop_assert_eq!(&got, &model.shutdown_now());
            claims.extend(got);
        }
        Op::Burst(start, n) => {
            for id in start..start + n {
                let p = i64::from(id.wrapping_mul(2_654_435_761) % 97);
                prop_assert_eq!(add(core, id, p, id), model.add(id, p, id));
            }
        }
        Op::CancelAndForgetAll => {
            for id in 0..ALL_IDS {
                prop_assert_eq!(core.cancel(&id), model.cancel(id));
            }
            for id in 0..ALL_IDS {
                prop_assert_eq!(core.forget(&id), model.forget(id));
            }
        }
    }
    Ok(())
}

fn compare(core: &mut Core<Id, Payload>, model: &Model) -> Result<(), TestCaseError> {
    if let Err(e) = core.check_invariants() {
        return Err(TestCaseError::fail(format!("invariants: {e}")));
    }
    prop_assert_eq!(core.stats(), model.stats());
    prop_assert_eq!(core.len(), model.count(TaskStatus::Queued));
    prop_assert_eq!(core.is_shut_down(), model.phase != Phase::Open);
    for id in 0..ALL_IDS {
        prop_assert_eq!(core.status(&id), model.status(id), "status of {}", id);
    }
    let snapshot = core.snapshot();
    let queued: Vec<Id> = snapshot.queued.iter().map(|t| t.id).collect();
    prop_assert_eq!(queued, model.queued_order());
    let scheduled: Vec<(Id, Duration)> = (snapshot.scheduled.iter())
        .map(|s| (s.task.id, s.due_in))
        .collect();
    let want: Vec<(Id, Duration)> = (model.scheduled_order().into_iter())
        .map(|id| {
            let due = model.tasks[&id].due;
            (id, Duration::from_nanos(due.saturating_sub(model.now)))
        })
        .collect();
    prop_assert_eq!(scheduled, want);
    let next_due = core.next_due().map(|at| at.duration_since(core.epoch));
    let want =
        (model.scheduled_order().first()).map(|id| Duration::from_nanos(model.tasks[id].due));
    prop_assert_eq!(next_due, want);
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn core_matches_reference_model(
        config in config(),
        ops in proptest::collection::vec(op(), 1..200),
    ) {
        let time = ManualClock::new();
        let config = Config { clock: time.clock(), ..config };
        let mut model = Model::new(&config);
        let mut core: Core<Id, Payload> = Core::new(config, Default::default());
        let mut claims = Claims::new();
        for op in &ops {
            step(&mut core, &time, &mut model, &mut claims, op)?;
            compare(&mut core, &model)?;
        }
    }
}

#[test]
fn keep_last_trims_oldest_and_survives_forget() {
    let mut core: Core<u32, ()> = Core::new(
        Config {
            retention: Retention::KeepLast(2),
            ..Config::default()
        },
        Default::default(),
    );
    for id in 0..5 {
        core.add(id, 0, (), None).unwrap();
    }
    for _ in 0..5 {
        let t = core.pop().unwrap();
        core.complete(&t.id).unwrap();
        if t.id == 1 {
            core.forget(&1).unwrap();
        }
        core.check_invariants().unwrap();
    }
    assert_eq!(core.status(&0), None);
    assert_eq!(core.status(&2), None);
    assert_eq!(core.status(&3), Some(TaskStatus::Completed));
    assert_eq!(core.status(&4), Some(TaskStatus::Completed));
    assert_eq!(core.stats().completed, 2);
}

/// `check_invariants` reports each kind of corruption (it is the oracle of many tests, so it must
/// be able to fail).
#[test]
fn check_invariants_reports_corruption() {
    fn core() -> Core<u32, u32> {
        let mut core = Core::new(
            Config {
                retention: Retention::KeepLast(4),
                ..Config::default()
            },
            Default::default(),
        );
        for id in 0..100 {
            core.add(id, i64::from(id % 3), id, None).unwrap();
        }
        for _ in 0..10 {
            let t = core.pop().unwrap();
            core.complete(&t.id).unwrap();
        }
        core.check_invariants().unwrap();
        core
    }
    let broken = |f: &dyn Fn(&mut Core<u32, u32>), what: &str| {
        let mut c = core();
        f(&mut c);
        let err = c.check_invariants().expect_err(what);
        assert!(err.contains(what), "{what}: {err}");
    };
    broken(&|c| c.counts.completed += 1, "counts");
    broken(&|c| c.counts.processing += 1, "counts");
    broken(&|c| *c.index.get_mut(&50).unwrap() = 51, "indexed");
    broken(
        &|c| {
            let slot = c.index[&50];
            c.heap.rebuild(|e| e.slot() != slot);
        },
        "0 live heap entries",
    );
    broken(
        &|c| {
            let slot = c.index[&50];
            let live = *c.heap.entries().iter().find(|e| e.slot() == slot).unwrap();
            c.heap.push(live);
        },
        "2 live heap entries",
    );
    broken(
        &|c| {
            let slot = c.index[&60];
            for _ in 0..200 {
                let entry = *c.heap.entries().last().unwrap();
                c.heap.push(entry);
            }
            c.push_entry(slot);
        },
        "heap entries for",
    );
    broken(
        &|c| {
            let slot = c.index[&50];
            c.slots[slot].as_mut().unwrap().priority += 1;
        },
        "stale",
    );
    broken(
        &|c| {
            let slot = c.index[&50];
            *c.slots[slot].as_mut().unwrap().payload.get() = None;
        },
        "payload",
    );
    broken(
        &|c| {
            let slot = c.index[&50];
            c.slots[slot].as_mut().unwrap().claim = u64::MAX;
        },
        "future",
    );
    broken(&|c| c.slots.extend((0..400).map(|_| None)), "compacted");
    broken(
        &|c| c.finished_order.extend((0..40).map(|_| (0, u64::MAX))),
        "swept",
    );
}
