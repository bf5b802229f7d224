//! The checker: a Wing-Gong search with Lowe's memoization, and a brute-force cross-check.

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

/// Where a claimed task sits in [`Held`]: `(thread, position of the claim, index in its batch)`.
pub type HeldAt = (usize, usize, u8);

/// The canonical form of a specification state, for memoization. Two states with the same key
/// answer every future operation alike: queued tasks are listed in the order they entered the queue
/// (which, with their priorities, fixes the hand-out order now and after any `update_priority`),
/// processing and finished tasks by id, plus the shutdown phase.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct StateKey {
    pub phase: u8,
    pub queued: Vec<TaskView>,
    pub processing: Vec<(Id, i64, u32)>,
    pub finished: Vec<(Id, TaskStatus)>,
    /// For each claim held by a thread, what a fenced operation on it would meet now.
    pub held: Vec<(HeldAt, Result<(), MemoryError>)>,
}

/// Why a history is not linearizable.
#[derive(Debug)]
pub struct Violation {
    /// The longest prefix of a legal sequential order the search found (event indices).
    pub longest: Vec<usize>,
    pub explored: u64,
}

/// What a successful check found.
#[derive(Debug)]
pub struct Linearization {
    pub order: Vec<usize>,
    pub explored: u64,
}

pub struct Checker<'a> {
    pub setup: Setup,
    pub history: &'a [Event],
    /// Each thread's events, in program order.
    pub threads: Vec<Vec<usize>>,
    /// Each event's `(thread, position among the thread's events)`.
    pub at: Vec<(usize, usize)>,
    /// The replay queue, the state-changing events applied to it, in order, and the tasks its
    /// claims handed out.
    pub spec: Spec,
    pub applied: Vec<usize>,
    pub held: Held,
    /// Every id the history names, and when each queued one last entered the replay queue (as
    /// the specification shows it: a status change into `Queued`), for the state key.
    pub ids: Vec<Id>,
    pub entered: HashMap<Id, u64>,
    pub entries: u64,
    /// The current candidate order, and its state-changing events.
    pub path: Vec<usize>,
    pub effective: Vec<usize>,
    /// How many events of each thread `path` holds.
    pub done: Vec<usize>,
    pub memo: HashSet<(Vec<usize>, StateKey)>,
    pub longest: Vec<usize>,
    pub explored: u64,
    pub use_memo: bool,
}

/// Looks for a linearization of `history` against the specification built from `setup`.
pub fn check(setup: Setup, history: &[Event]) -> Result<Linearization, Violation> {
    check_with(setup, history, true)
}

pub fn check_with(
    setup: Setup,
    history: &[Event],
    use_memo: bool,
) -> Result<Linearization, Violation> {
    let nthreads = history.iter().map(|e| e.thread + 1).max().unwrap_or(0);
    let mut threads = vec![Vec::new(); nthreads];
    for (i, e) in history.iter().enumerate() {
        assert!(e.inv < e.resp, "event #{i} responds before it is invoked");
        threads[e.thread].push(i);
    }
    let mut at = vec![(0, 0); history.len()];
    for (t, events) in threads.iter_mut().enumerate() {
        events.sort_by_key(|&i| history[i].inv);
        for w in events.windows(2) {
            assert!(
                history[w[0]].resp < history[w[1]].inv,
                "a thread's operations overlap"
            );
        }
        for (k, &i) in events.iter().enumerate() {
            at[i] = (t, k);
        }
    }
    let mut ids: Vec<Id> = history.iter().flat_map(|e| e.op.ids()).collect();
    ids.sort_unstable();
    ids.dedup();
    let mut c = Checker {
        setup,
        history,
        threads,
        at,
        spec: setup.spec(),
        applied: Vec::new(),
        held: Held::new(),
        ids,
        entered: HashMap::new(),
        entries: 0,
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
            self.held.clear();
            self.entered.clear();
        }
        for k in self.applied.len()..self.effective.len() {
            let i = self.effective[k];
            let res = self.apply_spec(i);
            assert_eq!(
                res, self.history[i].res,
                "the specification is deterministic"
            );
            self.applied.push(self.effective[k]);
        }
    }

    /// Applies event `i` to the replay queue, noting which tasks entered the queue.
    fn apply_spec(&mut self, i: usize) -> Res {
        let before: Vec<Option<TaskStatus>> =
            self.ids.iter().map(|id| self.spec.get_status(id)).collect();
        let res = apply(
            &self.spec,
            self.history[i].op,
            Mode::Spec,
            &mut self.held,
            &mut Guards::new(),
            self.at[i],
        );
        for (id, before) in self.ids.iter().zip(before) {
            let now = self.spec.get_status(id);
            if now == Some(TaskStatus::Queued) && before != now {
                self.entries += 1;
                self.entered.insert(*id, self.entries);
            }
        }
        res
    }

    /// The canonical key of the replay queue's state (which must be in sync).
    fn state_key(&self) -> StateKey {
        let mut phase = 0;
        for &i in &self.effective {
            match self.history[i].op {
                Op::Shutdown => phase = phase.max(1),
                Op::ShutdownNow => phase = 2,
                _ => {}
            }
        }
        let snap = self.spec.snapshot();
        let mut queued: Vec<TaskView> = snap.queued.into_iter().map(Into::into).collect();
        queued.sort_by_key(|t| self.entered[&t.id]);
        let mut processing: Vec<(Id, i64, u32)> = snap
            .processing
            .into_iter()
            .map(|t| (t.id, t.priority, t.attempts))
            .collect();
        processing.sort_unstable();
        let mut finished: Vec<(Id, TaskStatus)> = snap
            .finished
            .into_iter()
            .map(|f| (f.id, f.status))
            .collect();
        finished.sort_by_key(|f| f.0);
        let mut held: Vec<_> = self
            .held
            .iter()
            .map(|(&at, task)| (at, self.spec.heartbeat(task)))
            .collect();
        held.sort_unstable_by_key(|h| h.0);
        StateKey {
            phase,
            queued,
            processing,
            finished,
            held,
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
            let res = self.apply_spec(i);
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

/// Event `i`'s `(thread, position among the thread's events)`, the slow way.
pub fn at(history: &[Event], i: usize) -> (usize, usize) {
    let e = &history[i];
    let k = history
        .iter()
        .filter(|o| o.thread == e.thread && o.inv < e.inv)
        .count();
    (e.thread, k)
}

/// An independent, memo-free, exhaustive search that replays every candidate prefix from scratch,
/// every operation included; exponential, for cross-checking `check` on small histories.
pub fn brute_force(setup: Setup, history: &[Event]) -> bool {
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
            let mut held = Held::new();
            for &p in path.iter() {
                let at = at(history, p);
                apply(
                    &q,
                    history[p].op,
                    Mode::Spec,
                    &mut held,
                    &mut Guards::new(),
                    at,
                );
            }
            let at = at(history, i);
            if apply(
                &q,
                history[i].op,
                Mode::Spec,
                &mut held,
                &mut Guards::new(),
                at,
            ) != history[i].res
            {
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
