// Shared by `benches/queues.rs` (criterion) and `examples/compare.rs`: the contenders, the six
// workloads (W1..W6, W1 and W2 with two priority distributions) and the memory measurement
// (`mem`), written once. The workloads run on any `BenchQueue`, a bench-local trait with just the
// operations they use (and batch forms of three of them, which default to loops of the single
// ones), implemented once for every `taskq::Queue` (through `TaskQueue`, batches included), once
// per peer (`reference`, `skiplist`, `priority-queue`), per experiment (`combining`, `ref-*`) and
// for the `crossbeam` ceiling; `limit` is a plain single-threaded structure with loops of its own.
// Every workload checks its own end state with checks that hold for any correct queue (task
// counts, queue depth), so a broken contender fails loudly instead of producing a fast number;
// `check` has the contract checks (order, each task claimed once, no lost wake-up) that
// `tests/bench_contenders.rs` runs on every contender with a `contract_queue`.
#![allow(dead_code)]

pub mod check;
pub mod combining;
pub mod fifo;
pub mod plain;
pub mod pq;
pub mod reference;
pub mod skiplist;
pub mod tuned;

use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;
use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Barrier;
use std::time::{Duration, Instant};

use taskq::strategy::{self, Waiting};
use taskq::{DefaultHashBuilder, Queue, Retention, Task, TaskQueue, TaskStatus, Token};

use combining::CombiningQueue;
use fifo::CrossbeamFifo;
use plain::PlainQueue;
use pq::PriorityQueueQueue;
use reference::ReferenceQueue;
use skiplist::SkipListQueue;
use tuned::TunedReference;

/// Default number of tasks pre-filled into the queue for W2, W3, W4 and W5.
pub const DEFAULT_PREFILL: u64 = 10_000;

/// Tasks per batch in W6 (adds, claims and completes).
pub const BATCH: usize = 64;

/// With `Dist::Few`, priorities are drawn uniformly from `0..PRIORITIES`.
pub const PRIORITIES: u64 = 100;

/// How the workloads draw priorities.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Dist {
    /// Uniform in `0..PRIORITIES` (100 values): many ties, broken by insertion order.
    Few,
    /// All distinct: the generator's 64 random bits as an `i64` (deadlines as priorities). Within
    /// one thread's stream splitmix64 never repeats; across streams a repeat is a ~2^-40 event.
    Distinct,
}

impl Dist {
    /// Both, in order.
    pub const ALL: [Dist; 2] = [Dist::Few, Dist::Distinct];

    /// Its short name (`few`, `distinct`).
    pub fn name(self) -> &'static str {
        match self {
            Dist::Few => "few",
            Dist::Distinct => "distinct",
        }
    }

    /// Parses `few` or `distinct`.
    pub fn parse(s: &str) -> Option<Dist> {
        Dist::ALL
            .into_iter()
            .find(|d| d.name().eq_ignore_ascii_case(s.trim()))
    }

    /// What it means, for titles and help.
    pub fn describe(self) -> &'static str {
        match self {
            Dist::Few => "priorities 0..100",
            Dist::Distinct => "all-distinct priorities",
        }
    }
}

/// The operations the workloads perform: what a contender must offer to run them. Ids and
/// payloads are `u64`; every workload adds a task with its id as payload.
pub trait BenchQueue: Sync {
    /// Adds a task; false if it was refused.
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool;

    /// Claims the best task, waiting up to `timeout` (`None`: as long as it takes), and returns
    /// its id and payload; `None` if there was none.
    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)>;

    /// Completes a claimed task; false if it was refused.
    fn complete(&self, id: u64) -> bool;

    /// Cancels a queued task; whether it did.
    fn cancel(&self, id: u64) -> bool;

    /// The task's status, if it is known.
    fn status(&self, id: u64) -> Option<TaskStatus>;

    /// The number of queued tasks.
    fn queued(&self) -> usize;

    /// Adds a batch of tasks (id, priority and payload of each); how many were added. By default
    /// one `add` each; queues with a batch form override it.
    fn add_batch(&self, tasks: Vec<Task<u64, u64>>) -> usize {
        tasks
            .iter()
            .filter(|t| self.add(t.id, t.priority, t.payload))
            .count()
    }

    /// Claims up to `max` tasks: waits up to `timeout` (`None`: as long as it takes) for the
    /// first, then takes those queued at once, best first; empty if none came. By default one
    /// `claim` for the first and non-waiting `claim`s for the rest.
    fn claim_batch(&self, max: usize, timeout: Option<Duration>) -> Vec<Claimed> {
        let mut out = Vec::new();
        if max == 0 {
            return out;
        }
        let Some(first) = self.claim(timeout) else {
            return out;
        };
        out.push(Claimed::untracked(first));
        while out.len() < max {
            match self.claim(Some(Duration::ZERO)) {
                Some(task) => out.push(Claimed::untracked(task)),
                None => break,
            }
        }
        out
    }

    /// Completes a batch of claimed tasks; how many were completed. By default one `complete`
    /// each.
    fn complete_batch(&self, claims: &[Claimed]) -> usize {
        claims.iter().filter(|c| self.complete(c.id)).count()
    }
}

/// A task claimed by `BenchQueue::claim_batch`: id, payload, and the claim's token (taskq's
/// `complete_claims` wants it; queues without tokens give `Token::default()`).
#[derive(Debug, Clone, Copy)]
pub struct Claimed {
    /// The task's id.
    pub id: u64,
    /// Its payload.
    pub payload: u64,
    /// The claim's fencing token.
    pub token: Token,
}

impl Claimed {
    /// A claim without a token, from an (id, payload) pair.
    pub fn untracked((id, payload): (u64, u64)) -> Self {
        Claimed {
            id,
            payload,
            token: Token::default(),
        }
    }
}

/// Every taskq queue, whatever its strategy and hasher, through the `TaskQueue` contract.
impl<W: Waiting, S: BuildHasher + Send + Sync> BenchQueue for Queue<u64, u64, W, S> {
    fn add(&self, id: u64, priority: i64, payload: u64) -> bool {
        TaskQueue::add_task(self, id, priority, payload).is_ok()
    }

    fn claim(&self, timeout: Option<Duration>) -> Option<(u64, u64)> {
        let task = TaskQueue::get_next_task(self, timeout).ok()?;
        Some((task.id, task.payload))
    }

    fn complete(&self, id: u64) -> bool {
        TaskQueue::complete_task(self, &id).is_ok()
    }

    fn cancel(&self, id: u64) -> bool {
        TaskQueue::cancel_task(self, &id)
    }

    fn status(&self, id: u64) -> Option<TaskStatus> {
        TaskQueue::get_status(self, &id)
    }

    fn queued(&self) -> usize {
        TaskQueue::len(self)
    }

    /// `try_add_tasks`: one lock for the batch.
    fn add_batch(&self, tasks: Vec<Task<u64, u64>>) -> usize {
        let n = tasks.len();
        n - TaskQueue::try_add_tasks(self, tasks).len()
    }

    /// `get_next_tasks`: waits for the first, then takes up to `max` under the same lock.
    fn claim_batch(&self, max: usize, timeout: Option<Duration>) -> Vec<Claimed> {
        let Ok(tasks) = TaskQueue::get_next_tasks(self, max, timeout) else {
            return Vec::new();
        };
        tasks
            .into_iter()
            .map(|t| Claimed {
                token: t.token(),
                id: t.id,
                payload: t.payload,
            })
            .collect()
    }

    /// `complete_claims` with each claim's token: one lock for the batch.
    fn complete_batch(&self, claims: &[Claimed]) -> usize {
        let claims: Vec<(u64, Token)> = claims.iter().map(|c| (c.id, c.token)).collect();
        TaskQueue::complete_claims(self, &claims)
            .iter()
            .filter(|r| r.is_ok())
            .count()
    }
}

/// A tiny deterministic generator (splitmix64), one per thread, so every contender sees the same
/// priorities and ids.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    /// A generator for stream `seed`.
    pub fn new(seed: u64) -> Self {
        Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xD1B5_4A32_D192_ED03)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A priority drawn as `dist` says.
    pub fn priority(&mut self, dist: Dist) -> i64 {
        match dist {
            Dist::Few => (self.next_u64() % PRIORITIES) as i64,
            Dist::Distinct => self.next_u64() as i64,
        }
    }
}

/// The workloads, and the memory measurement; see `benches/README.md` for their exact
/// definitions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Workload {
    /// P producers add N tasks, C = P consumers claim and complete them all.
    W1,
    /// Pre-filled queue; T workers loop claim, complete, add.
    W2,
    /// W2 with one worker, plus R readers calling `get_status` and `len`.
    W3,
    /// Pre-filled queue; T workers loop add two, cancel one, claim, complete.
    W4,
    /// One thread: add, claim, complete at a constant depth.
    W5,
    /// W1 with batches of `BATCH`: producers add, consumers claim and complete in batches.
    W6,
    /// W1 with the consumers replaced by a `taskq::pool::Pool` of as many workers running a
    /// no-op handler: what the pool costs over claiming by hand (taskq strategies only).
    W7,
    /// Not timed: a queue with default options filled with PREFILL tasks; its peak heap bytes per
    /// queued task (measured by `compare`'s counting allocator).
    Mem,
}

impl Workload {
    /// All of them, in order (W6 and W7 beside W1, which they are variants of).
    pub const ALL: [Workload; 8] = [
        Workload::W1,
        Workload::W6,
        Workload::W7,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
        Workload::Mem,
    ];

    /// The workloads any queue can run: all but W7, which needs taskq's worker pool.
    pub const QUEUE: [Workload; 7] = [
        Workload::W1,
        Workload::W6,
        Workload::W2,
        Workload::W3,
        Workload::W4,
        Workload::W5,
        Workload::Mem,
    ];

    /// Whether it measures throughput (all but `Mem`).
    pub fn is_timed(self) -> bool {
        self != Workload::Mem
    }

    /// Its short name (`w1`..`w6`, `mem`).
    pub fn name(self) -> &'static str {
        match self {
            Workload::W1 => "w1",
            Workload::W2 => "w2",
            Workload::W3 => "w3",
            Workload::W4 => "w4",
            Workload::W5 => "w5",
            Workload::W6 => "w6",
            Workload::W7 => "w7",
            Workload::Mem => "mem",
        }
    }

    /// Parses `w1`..`w6`, `mem`.
    pub fn parse(s: &str) -> Option<Workload> {
        Workload::ALL
            .into_iter()
            .find(|w| w.name().eq_ignore_ascii_case(s.trim()))
    }

    /// The priority distributions it runs with: both for W1 and W2, `Few` elsewhere.
    pub fn dists(self) -> &'static [Dist] {
        match self {
            Workload::W1 | Workload::W2 => &Dist::ALL,
            _ => &[Dist::Few],
        }
    }

    /// Its title, spelled out: what it does, with `dist`'s priorities.
    pub fn title(self, dist: Dist, prefill: u64) -> String {
        let what = match self {
            Workload::W1 => "W1 producers/consumers".to_string(),
            Workload::W2 => format!("W2 steady workers at depth {prefill}"),
            Workload::W3 => format!("W3 status reads beside 1 worker at depth {prefill}"),
            Workload::W4 => format!("W4 cancel-heavy at depth {prefill}"),
            Workload::W5 => format!("W5 single thread at depth {prefill}"),
            Workload::W6 => format!("W6 = W1 in batches of {BATCH}"),
            Workload::W7 => "W7 = W1 consumed by the worker pool".to_string(),
            Workload::Mem => format!("Memory: {prefill} tasks queued, default options"),
        };
        format!("{what}, {}", dist.describe())
    }

    /// The label of one (workload, distribution) case, as in tables, JSON and benchmark groups:
    /// `w1-few`, `w1-distinct`, ..., or just `w3` for a workload with one distribution.
    pub fn label(self, dist: Dist) -> String {
        if self.dists().len() > 1 {
            format!("{}-{}", self.name(), dist.name())
        } else {
            self.name().to_string()
        }
    }

    /// What the `threads` parameter means for it.
    pub fn threads_meaning(self) -> &'static str {
        match self {
            Workload::W1 | Workload::W6 => "P = C = threads (2 x threads threads in all)",
            Workload::W7 => "P producers, a pool of P workers",
            Workload::W2 | Workload::W4 => "worker threads",
            Workload::W3 => "reader threads (plus 1 worker)",
            Workload::W5 | Workload::Mem => "always 1",
        }
    }

    /// The retention the taskq strategies run it with: `KeepNone` for W4 (whose point is that
    /// memory follows live tasks), the default (`KeepLast(10_000)`) for `Mem`, whose queue is
    /// built with default options, `KeepAll` elsewhere (every id stays known).
    pub fn retention(self) -> Retention {
        match self {
            Workload::W4 => Retention::KeepNone,
            Workload::Mem => Retention::default(),
            _ => Retention::KeepAll,
        }
    }

    /// The exact definition, for `--help` and the README.
    pub fn describe(self) -> &'static str {
        match self {
            Workload::W1 => {
                "W1 producers/consumers: P producers each add N/P tasks (ids unique; priorities \
                 uniform in 0..100 (few) or all distinct (distinct), two cases) while C = P consumers loop get_next_task(None) + complete_task \
                 until all N are done. Empty queue at start; Retention::KeepAll. tasks/s = N / wall \
                 time from a start barrier to the last join. threads = P = C."
            }
            Workload::W2 => {
                "W2 steady workers: queue pre-filled with PREFILL tasks (default 10k, not timed); \
                 T threads each loop N/T times: get_next_task(None), complete_task, add_task(new \
                 id). Priorities uniform in 0..100 (few) or all distinct (distinct), two cases. \
                 Depth stays at PREFILL. Retention::KeepAll. tasks/s = N / wall time."
            }
            Workload::W3 => {
                "W3 status-heavy: W2 with ONE worker doing N/4 iterations, plus R reader threads \
                 looping get_status(random known id) then len() until the worker is done. \
                 Retention::KeepAll (every id stays known). tasks/s = the worker's N/4 / wall \
                 time; reads/s = (get_status + len calls) / wall time. threads = R."
            }
            Workload::W4 => {
                "W4 cancel-heavy: queue pre-filled with PREFILL tasks; T threads each loop N/(2T) \
                 times: add a, add b (new ids, priorities 0..100), cancel_task(b), \
                 get_next_task(None), complete_task. b is usually still queued, so about half of \
                 all added tasks are cancelled while queued; with T > 1 a cancel can lose the race \
                 to another worker's claim of b, which is counted (cancels landed / claimed \
                 instead), not an error. Live tasks stay at ~PREFILL. taskq strategies use \
                 Retention::KeepNone (memory follows live tasks), and so do the skiplist and \
                 priority-queue peers and limit; reference keeps everything by design. tasks/s = N (added, all finished) / wall time. Memory: peak heap bytes \
                 (counting allocator, in compare only, one extra untimed run) from just before \
                 the queue is built, divided by PREFILL live tasks."
            }
            Workload::W5 => {
                "W5 single thread: queue pre-filled with PREFILL tasks; one thread loops N times: \
                 add_task(new id, priority 0..100), get_next_task, complete_task. \
                 Retention::KeepAll. Reported as tasks/s and ns per task (= wall time / N)."
            }
            Workload::W6 => {
                "W6 batches: W1 with batches of 64. P producers each add their N/P tasks (same \
                 ids and priorities 0..100 as W1) in batches of 64 (try_add_tasks); C = P \
                 consumers reserve up to 64 of the tasks still to be claimed, then claim them \
                 with get_next_tasks(up to the reserved count, None) (waits for the first, takes \
                 up to that many at once) and complete each batch with complete_claims, until \
                 all N are done. Peers without a batch form loop their single operations. \
                 Retention::KeepAll. tasks/s = N / wall time, comparable with W1's; compare shows \
                 W6/W1 per contender and thread count."
            }
            Workload::W7 => {
                "W7 worker pool: W1 with the consumers replaced by taskq::pool::Pool (P workers, \
                 the default options but poll_interval 10 ms) running a no-op handler Ok(()) on \
                 an Arc'd queue of the same strategy; producers as in W1. tasks/s = N / wall time \
                 from the producers' start barrier until the handler has run N times and the pool \
                 has joined (after queue.shutdown()). compare shows W7/W1 per strategy and thread \
                 count: the pool's cost over claiming by hand. taskq strategies only."
            }
            Workload::Mem => {
                "mem memory per queued task (compare only, not timed): a queue built with \
                 default options (for taskq: Queue::new(), i.e. retention KeepLast(10000), no \
                 capacity, the default hasher; the Variant with its own hasher), u64 ids and \
                 payloads, filled by one thread with PREFILL tasks (priorities 0..100); peak \
                 heap bytes (counting allocator) from just before the queue is built until it \
                 holds them all, divided by PREFILL. Target: at most 128 bytes per queued task \
                 for the taskq strategies."
            }
        }
    }
}

/// What part a contender plays in the comparison.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// A taskq strategy with default options: the targets are judged on these.
    Strategy,
    /// A taskq strategy with other options, reported beside them.
    Variant,
    /// A queue built from other parts (the textbook design, crates.io crates): the "vs peer"
    /// ratios are taken against the best peer at each point.
    Peer,
    /// One thread, no lock: the "vs limit" ratios. It runs once per workload (threads = 1) and
    /// does the whole workload's work on that thread.
    Limit,
    /// A structure that does less (no order, no status), for scale.
    Ceiling,
    /// A design under test (issue 8, item 4: combining, spin-then-park, cache padding): shown in
    /// the table and JSON, compared with the strategies, but neither a peer (not in "vs peer"'s
    /// best) nor a strategy (not in the targets). Not run unless asked for (`compare
    /// --experiments` or `--contenders`).
    Experiment,
}

/// Runs one workload on a fresh instance of a contender: workload, threads, sizes, memory probe.
type Runner = fn(Workload, usize, Params, Option<MemProbe>) -> Outcome;

/// Makes a fresh, empty instance of a contender that obeys the queue contract (strict priority,
/// FIFO among equal priorities, each task claimed once), for the contract checks in `check`.
type Fresh = fn() -> Box<dyn BenchQueue>;

/// Who competes: a name, a role, the workloads it runs and how to run them.
#[derive(Clone, Copy)]
pub struct Contender {
    name: &'static str,
    short: &'static str,
    role: Role,
    about: &'static str,
    workloads: &'static [Workload],
    runner: Runner,
    fresh: Option<Fresh>,
}

impl Contender {
    /// Every contender, in table order: the one list. A new taskq strategy is one
    /// `Contender::strategy::<W>("ItsAlias")` line here.
    pub const ALL: &'static [Contender] = &[
        Contender::strategy::<strategy::Mutex>("ThreadSafeTaskQueue"),
        Contender::taskq::<strategy::Mutex, RandomState>(
            "ThreadSafeTaskQueue+siphash",
            "mutex-sip",
            Role::Variant,
            "ThreadSafeTaskQueue built with Builder::build_with_hasher(RandomState::new()): \
             std's SipHash instead of the default foldhash, as for ids from untrusted clients; \
             what that choice costs",
        ),
        Contender::strategy::<strategy::RwLock>("RwLockTaskQueue"),
        Contender::strategy::<strategy::Channel>("ChannelTaskQueue"),
        Contender {
            name: "reference",
            short: "reference",
            role: Role::Peer,
            about: "textbook: std Mutex + BinaryHeap<(prio, Reverse(seq), id)> + HashMap, condvar \
                    notified on every add, tombstones for cancel, finished tasks never dropped",
            workloads: &Workload::QUEUE,
            runner: |w, threads, p, mem| run_queue(&ReferenceQueue::new(), w, threads, p, mem),
            fresh: Some(|| Box::new(ReferenceQueue::<u64, u64>::new())),
        },
        Contender {
            name: "skiplist",
            short: "skiplist",
            role: Role::Peer,
            about: "lock-free: crossbeam-skiplist SkipMap<(Reverse(prio), seq), (id, payload)> \
                    (claim = pop_front, cancel = remove), dashmap DashMap of statuses, AtomicU64 \
                    seq; a parking_lot Mutex + Condvar only to sleep on an empty map (adders \
                    notify only when a claimer sleeps); finished records kept as the workload's \
                    retention says",
            workloads: &Workload::QUEUE,
            runner: |w, threads, p, mem| {
                let q = SkipListQueue::new(w.retention() != Retention::KeepNone);
                run_queue(&q, w, threads, p, mem)
            },
            fresh: Some(|| Box::new(SkipListQueue::new(true))),
        },
        Contender {
            name: "priority-queue",
            short: "priority-queue",
            role: Role::Peer,
            about: "the priority-queue crate's keyed PriorityQueue<id, (prio, Reverse(seq))> \
                    (cancel = remove, no tombstones) + HashMap of records, behind one parking_lot \
                    Mutex + Condvar notified only when a claimer sleeps; finished records kept as \
                    the workload's retention says",
            workloads: &Workload::QUEUE,
            runner: |w, threads, p, mem| {
                let q = PriorityQueueQueue::new(w.retention() != Retention::KeepNone);
                run_queue(&q, w, threads, p, mem)
            },
            fresh: Some(|| Box::new(PriorityQueueQueue::new(true))),
        },
        Contender {
            name: "limit",
            short: "limit",
            role: Role::Limit,
            about: "the same operations on ONE thread, plain BinaryHeap + HashMap, no lock; for \
                    multi-thread workloads it does the same total work single-threaded; no W3; \
                    mem: the same heap and map holding PREFILL tasks",
            workloads: &[
                Workload::W1,
                Workload::W6,
                Workload::W2,
                Workload::W4,
                Workload::W5,
                Workload::Mem,
            ],
            runner: |w, _, p, mem| run_limit(w, p, mem),
            // Not a `BenchQueue`: one thread, its own loops.
            fresh: None,
        },
        Contender {
            name: "crossbeam-FIFO-unordered",
            short: "crossbeam",
            role: Role::Ceiling,
            about: "crossbeam-channel unbounded: an UNORDERED FIFO ceiling (ignores priority, no \
                    status, no cancel); W1, W6, W2, W5 and mem only",
            workloads: &[
                Workload::W1,
                Workload::W6,
                Workload::W2,
                Workload::W5,
                Workload::Mem,
            ],
            runner: |w, threads, p, mem| run_queue(&CrossbeamFifo::new(), w, threads, p, mem),
            // Unordered by design: no contract to check.
            fresh: None,
        },
        Contender::experiment::<CombiningQueue<combining::Padded>>(
            "combining",
            "flat combining (common/combining.rs): reference's heap + map behind one std Mutex; \
             a thread that finds the lock taken publishes its add/claim/complete/cancel in its \
             own cache-padded slot, and whoever gets the lock (try_lock) applies every \
             published operation; the others spin (Backoff), then block on the lock; an empty \
             claim spins on a padded queued count, then sleeps on a condvar (notified only \
             when someone sleeps): ref-spin-pad's waiting, plus combining",
        ),
        Contender::experiment::<CombiningQueue<combining::Unpadded<combining::Slot>>>(
            "combining-unpadded",
            "combining with the slots packed two to a cache line (no CachePadded): what the \
             padding buys",
        ),
        Contender::experiment::<TunedReference<tuned::Packed, false>>(
            "ref-sleepers",
            "reference, but an add notifies only when a claimer sleeps (common/tuned.rs)",
        ),
        Contender::experiment::<TunedReference<tuned::Packed, true>>(
            "ref-spin",
            "ref-sleepers + spin-then-park: a claimer that finds it empty spins (Backoff) on an \
             atomic queued count, outside the lock, before sleeping; the count shares the lock \
             word's cache line",
        ),
        Contender::experiment::<TunedReference<tuned::Padded, true>>(
            "ref-spin-pad",
            "ref-spin with the count, the mutex and the condvar each in its own cache line \
             (CachePadded)",
        ),
    ];

    /// The taskq strategy `W` with default options; its short name is `W::NAME`.
    const fn strategy<W: Waiting>(name: &'static str) -> Self
    where
        Queue<u64, u64, W>: TaskQueue<u64, u64>,
    {
        Self::taskq::<W, DefaultHashBuilder>(name, W::NAME, Role::Strategy, "")
    }

    /// The taskq strategy `W` with hasher `S` for its task index.
    const fn taskq<W: Waiting, S: BuildHasher + Default + Send + Sync + 'static>(
        name: &'static str,
        short: &'static str,
        role: Role,
        about: &'static str,
    ) -> Self {
        Contender {
            name,
            short,
            role,
            about,
            workloads: &Workload::ALL,
            runner: run_taskq::<W, S>,
            fresh: Some(fresh_taskq::<W, S>),
        }
    }

    /// An experiment: queue `Q` (built with `Default`), in every workload a queue can run (all
    /// but W7, which needs taskq's worker pool).
    const fn experiment<Q: BenchQueue + Default + 'static>(
        name: &'static str,
        about: &'static str,
    ) -> Self {
        Contender {
            name,
            short: name,
            role: Role::Experiment,
            about,
            workloads: &Workload::QUEUE,
            runner: |w, threads, p, mem| run_queue(&Q::default(), w, threads, p, mem),
            fresh: Some(|| Box::new(Q::default())),
        }
    }

    /// A fresh, empty instance for the contract checks (`check`), if it claims the contract:
    /// every contender but `limit` (not a `BenchQueue`) and the unordered crossbeam ceiling.
    pub fn contract_queue(self) -> Option<Box<dyn BenchQueue>> {
        self.fresh.map(|f| f())
    }

    /// The name used in tables, JSON and benchmark ids.
    pub fn name(self) -> &'static str {
        self.name
    }

    /// Its short name, for `--contenders`.
    pub fn short(self) -> &'static str {
        self.short
    }

    /// What it is, in one line (for `--help`).
    pub fn about(self) -> String {
        match self.role {
            Role::Strategy => format!(
                "taskq::Queue<u64, u64, W> with W::NAME = {:?}, default options",
                self.short
            ),
            _ => self.about.to_string(),
        }
    }

    /// Its part in the comparison.
    pub fn role(self) -> Role {
        self.role
    }

    /// Parses a short name.
    pub fn parse(s: &str) -> Option<Contender> {
        Contender::ALL
            .iter()
            .copied()
            .find(|c| c.short.eq_ignore_ascii_case(s.trim()))
    }

    /// The contender of the taskq strategy `W` with default options.
    pub fn of<W: Waiting>() -> Contender {
        Contender::ALL
            .iter()
            .copied()
            .find(|c| c.role == Role::Strategy && c.short == W::NAME)
            .expect("every strategy is in Contender::ALL")
    }

    /// One of the taskq strategies with default options (the targets are about these;
    /// variants such as `mutex-sip` are reported beside them).
    pub fn is_strategy(self) -> bool {
        self.role == Role::Strategy
    }

    /// Whether it runs workload `w`.
    pub fn supports(self, w: Workload) -> bool {
        self.workloads.contains(&w)
    }

    /// The thread counts it runs `w` with, out of `wanted`: just 1 for `limit` (which does the
    /// whole work on one thread) and for W5 and `Mem` (single-threaded by definition).
    pub fn threads(self, w: Workload, wanted: &[usize]) -> Vec<usize> {
        if self.role == Role::Limit || matches!(w, Workload::W5 | Workload::Mem) {
            vec![1]
        } else {
            wanted.to_vec()
        }
    }
}

/// Contenders are told apart by their (unique) short name.
impl PartialEq for Contender {
    fn eq(&self, other: &Self) -> bool {
        self.short == other.short
    }
}

impl Eq for Contender {}

impl std::hash::Hash for Contender {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.short.hash(state);
    }
}

impl std::fmt::Debug for Contender {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.short)
    }
}

/// Sizes shared by all workloads.
#[derive(Debug, Clone, Copy)]
pub struct Params {
    /// N: tasks per run (see each workload).
    pub tasks: u64,
    /// Queue depth before the timed part of W2..W5.
    pub prefill: u64,
    /// How priorities are drawn (one of the workload's `dists`).
    pub dist: Dist,
}

/// Hooks into a counting allocator, supplied by `compare` (benches pass none).
#[derive(Debug, Clone, Copy)]
pub struct MemProbe {
    /// Starts counting from zero (current = peak = 0).
    pub start: fn(),
    /// The bytes allocated and not freed since `start` (still counting).
    pub held: fn() -> usize,
    /// Stops counting and returns the peak bytes since `start`.
    pub stop: fn() -> usize,
}

/// What became of W4's cancels. With several workers a cancel can lose the race to another
/// worker's claim of the same task; that is correct behaviour, so it is counted, not checked
/// against a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cancels {
    /// Cancels that found their task still queued and cancelled it.
    pub landed: u64,
    /// Cancels that found their task already claimed by another worker.
    pub claimed_instead: u64,
}

/// What one run measured.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    /// Wall time of the timed part.
    pub elapsed: Duration,
    /// Tasks processed in it.
    pub tasks: u64,
    /// Read calls made in it (W3).
    pub reads: u64,
    /// Peak heap bytes (when a probe was given).
    pub peak_bytes: Option<usize>,
    /// Heap bytes held at the end (`Mem`, when a probe was given).
    pub held_bytes: Option<usize>,
    /// Live tasks the memory is divided by.
    pub live: u64,
    /// What became of the cancels (W4).
    pub cancels: Option<Cancels>,
}

impl Outcome {
    /// Tasks per second.
    pub fn tasks_per_s(&self) -> f64 {
        self.tasks as f64 / self.elapsed.as_secs_f64()
    }

    /// Reads per second.
    pub fn reads_per_s(&self) -> f64 {
        self.reads as f64 / self.elapsed.as_secs_f64()
    }

    /// Nanoseconds per task.
    pub fn ns_per_task(&self) -> f64 {
        self.elapsed.as_nanos() as f64 / self.tasks as f64
    }
}

/// Runs workload `w` once for contender `c`; `None` if `c` does not run `w`.
pub fn run(
    w: Workload,
    c: Contender,
    threads: usize,
    p: Params,
    mem: Option<MemProbe>,
) -> Option<Outcome> {
    if !c.supports(w) {
        return None;
    }
    if let Some(m) = mem {
        (m.start)();
    }
    let mut out = (c.runner)(w, threads.max(1), p, mem);
    if let (Some(m), None) = (mem, out.peak_bytes) {
        out.peak_bytes = Some((m.stop)());
    }
    Some(out)
}

/// How many tasks one run of `w` processes (what `Outcome::tasks` will say).
pub fn tasks_per_run(w: Workload, c: Contender, threads: usize, p: Params) -> u64 {
    let t = if c.role == Role::Limit {
        1
    } else {
        threads.max(1) as u64
    };
    match w {
        Workload::W1 | Workload::W2 | Workload::W6 | Workload::W7 => p.tasks / t * t,
        Workload::W3 => (p.tasks / 4).max(1),
        Workload::W4 => (p.tasks / 2 / t).max(1) * 2 * t,
        Workload::W5 => p.tasks,
        Workload::Mem => p.prefill,
    }
}

/// A fresh taskq queue with strategy `W`, hasher `S` and `Retention::KeepAll`, for the contract
/// checks.
fn fresh_taskq<W, S>() -> Box<dyn BenchQueue>
where
    W: Waiting,
    S: BuildHasher + Default + Send + Sync + 'static,
{
    Box::new(
        Queue::<u64, u64, W>::builder()
            .retention(Retention::KeepAll)
            .build_with_hasher(S::default())
            .expect("valid options"),
    )
}

/// Runs `w` on a fresh taskq queue with strategy `W` and hasher `S`.
fn run_taskq<W: Waiting, S: BuildHasher + Default + Send + Sync + 'static>(
    w: Workload,
    threads: usize,
    p: Params,
    mem: Option<MemProbe>,
) -> Outcome {
    let builder = Queue::<u64, u64, W>::builder();
    // `Mem` measures the default options: nothing set but the hasher (the default one for the
    // strategies, which makes this what `Queue::new()` builds).
    let builder = if w == Workload::Mem {
        builder
    } else {
        builder.retention(w.retention())
    };
    let q = builder
        .build_with_hasher(S::default())
        .expect("valid options");
    if w == Workload::W7 {
        return w7(std::sync::Arc::new(q), threads, p);
    }
    run_queue(&q, w, threads, p, mem)
}

/// W7: W1's producers, and a worker pool of as many workers (no-op handler) as consumers.
pub fn w7<W: Waiting, S: BuildHasher + Send + Sync + 'static>(
    q: std::sync::Arc<Queue<u64, u64, W, S>>,
    pairs: usize,
    p: Params,
) -> Outcome {
    let per = p.tasks / pairs as u64;
    let total = per * pairs as u64;
    let handled = std::sync::Arc::new(AtomicU64::new(0));
    let counted = std::sync::Arc::clone(&handled);
    let pool = taskq::pool::Pool::builder()
        .workers(pairs)
        .poll_interval(Duration::from_millis(10))
        .spawn(std::sync::Arc::clone(&q), move |task: &Task<u64, u64>| {
            assert_eq!(
                task.payload, task.id,
                "a task came with another task's payload"
            );
            counted.fetch_add(1, Ordering::Relaxed);
            Ok::<(), String>(())
        })
        .expect("a valid pool");
    let barrier = Barrier::new(pairs + 1);
    let start = std::thread::scope(|s| {
        for i in 0..pairs as u64 {
            let (q, barrier) = (&q, &barrier);
            s.spawn(move || {
                barrier.wait();
                let mut rng = Rng::new(i);
                for id in i * per..(i + 1) * per {
                    taskq::TaskQueue::add_task(&**q, id, rng.priority(p.dist), id).expect("add");
                }
            });
        }
        barrier.wait();
        Instant::now()
    });
    // Every task added; the pool drains the queue, then stops when it is shut down.
    taskq::TaskQueue::shutdown(&*q);
    let report = pool.join();
    let elapsed = start.elapsed();
    assert_eq!(handled.load(Ordering::Relaxed), total, "W7: handler runs");
    assert_eq!(report.stats.completed, total, "W7: completed");
    outcome(elapsed, total, 0, 0)
}

/// Runs `w` on `q`.
fn run_queue<Q: BenchQueue>(
    q: &Q,
    w: Workload,
    threads: usize,
    p: Params,
    mem: Option<MemProbe>,
) -> Outcome {
    match w {
        Workload::W1 => w1(q, threads, p),
        Workload::W2 => w2(q, threads, p),
        Workload::W3 => w3(q, threads, p),
        Workload::W4 => w4(q, threads, p, mem),
        Workload::W5 => w5(q, p),
        Workload::W6 => w6(q, threads, p),
        Workload::W7 => unreachable!("W7 runs on taskq's own queues only (run_taskq)"),
        Workload::Mem => memory(q, p, mem),
    }
}

/// Adds PREFILL tasks with ids `0..PREFILL`, priorities from their own stream.
fn prefill<Q: BenchQueue>(q: &Q, p: Params) {
    let mut rng = Rng::new(1000);
    for id in 0..p.prefill {
        assert!(q.add(id, rng.priority(p.dist), id), "prefill add");
    }
}

/// Claims a task (waiting as long as it takes) and completes it.
fn claim_and_complete<Q: BenchQueue>(q: &Q) {
    let (id, payload) = q.claim(None).expect("claim");
    assert_eq!(payload, id, "a task came with another task's payload");
    assert!(q.complete(id), "complete {id}: status {:?}", q.status(id));
}

fn outcome(elapsed: Duration, tasks: u64, reads: u64, live: u64) -> Outcome {
    Outcome {
        elapsed,
        tasks,
        reads,
        peak_bytes: None,
        held_bytes: None,
        live,
        cancels: None,
    }
}

/// Runs `f(0)..f(n - 1)` on `n` scoped threads that start together, and returns the time from
/// the first thread's start to the last thread's end (each thread times itself after the start
/// barrier, so thread creation and the main thread's scheduling are not counted).
fn run_threads<F: Fn(usize) + Sync>(n: usize, f: F) -> Duration {
    let barrier = Barrier::new(n);
    let spans: Vec<(Instant, Instant)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..n)
            .map(|i| {
                let (f, barrier) = (&f, &barrier);
                s.spawn(move || {
                    barrier.wait();
                    let start = Instant::now();
                    f(i);
                    (start, Instant::now())
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().expect("a workload thread panicked"))
            .collect()
    });
    let start = spans.iter().map(|s| s.0).min().expect("n >= 1");
    let end = spans.iter().map(|s| s.1).max().expect("n >= 1");
    end - start
}

/// W1: P producers, C = P consumers, N tasks through an initially empty queue.
pub fn w1<Q: BenchQueue>(q: &Q, pairs: usize, p: Params) -> Outcome {
    let per = p.tasks / pairs as u64;
    let total = per * pairs as u64;
    let claims = AtomicU64::new(0);
    let elapsed = run_threads(2 * pairs, |i| {
        if i < pairs {
            let i = i as u64;
            let mut rng = Rng::new(i);
            for id in i * per..(i + 1) * per {
                assert!(q.add(id, rng.priority(p.dist), id), "add");
            }
        } else {
            // Exactly `total` claims are made in all, and `total` tasks arrive: none blocks
            // forever.
            while claims.fetch_add(1, Ordering::Relaxed) < total {
                claim_and_complete(q);
            }
        }
    });
    assert_eq!(q.queued(), 0, "W1 left tasks queued");
    outcome(elapsed, total, 0, 0)
}

/// W6: W1 in batches of `BATCH`.
pub fn w6<Q: BenchQueue>(q: &Q, pairs: usize, p: Params) -> Outcome {
    let per = p.tasks / pairs as u64;
    let total = per * pairs as u64;
    // Claims no consumer has reserved yet. A consumer reserves up to BATCH, then claims exactly
    // that many (in one batch or more): `total` claims are made in all, and `total` tasks arrive,
    // so none waits forever.
    let unreserved = AtomicU64::new(total);
    let elapsed = run_threads(2 * pairs, |i| {
        if i < pairs {
            let i = i as u64;
            let mut rng = Rng::new(i);
            let (mut next, end) = (i * per, (i + 1) * per);
            while next < end {
                let last = (next + BATCH as u64).min(end);
                let batch: Vec<Task<u64, u64>> = (next..last)
                    .map(|id| Task::new(id, rng.priority(p.dist), id))
                    .collect();
                assert_eq!(q.add_batch(batch), (last - next) as usize, "add_batch");
                next = last;
            }
        } else {
            let batch = BATCH as u64;
            while let Ok(before) =
                unreserved.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |r| {
                    (r > 0).then(|| r - r.min(batch))
                })
            {
                let mut owed = before.min(batch) as usize;
                while owed > 0 {
                    let claims = q.claim_batch(owed, None);
                    assert!(
                        !claims.is_empty() && claims.len() <= owed,
                        "claim_batch({owed}, None) gave {} tasks",
                        claims.len()
                    );
                    for c in &claims {
                        assert_eq!(c.payload, c.id, "a task came with another task's payload");
                    }
                    assert_eq!(q.complete_batch(&claims), claims.len(), "complete_batch");
                    owed -= claims.len();
                }
            }
        }
    });
    assert_eq!(q.queued(), 0, "W6 left tasks queued");
    outcome(elapsed, total, 0, 0)
}

/// The W2 loop body for one worker: `iters` times claim, complete, add a new id.
fn steady_loop<Q: BenchQueue>(q: &Q, first_id: u64, iters: u64, rng: &mut Rng, dist: Dist) {
    for id in first_id..first_id + iters {
        claim_and_complete(q);
        assert!(q.add(id, rng.priority(dist), id), "add");
    }
}

/// W2: pre-filled queue, T workers each loop claim, complete, add.
pub fn w2<Q: BenchQueue>(q: &Q, threads: usize, p: Params) -> Outcome {
    prefill(q, p);
    let per = p.tasks / threads as u64;
    let elapsed = run_threads(threads, |t| {
        let t = t as u64;
        steady_loop(q, p.prefill + t * per, per, &mut Rng::new(t), p.dist);
    });
    assert_eq!(q.queued() as u64, p.prefill, "W2 changed the queue depth");
    outcome(elapsed, per * threads as u64, 0, p.prefill)
}

/// W3: W2 with one worker (N/4 iterations) and R readers.
pub fn w3<Q: BenchQueue>(q: &Q, readers: usize, p: Params) -> Outcome {
    prefill(q, p);
    let iters = (p.tasks / 4).max(1);
    // Every id below `known` has been added (Release/Acquire: a reader that sees the count sees
    // the adds before it) and stays known (Retention::KeepAll).
    let known = AtomicU64::new(p.prefill);
    let done = AtomicBool::new(false);
    let reads = AtomicU64::new(0);
    let elapsed = run_threads(readers + 1, |i| {
        if i == 0 {
            let mut rng = Rng::new(0);
            let mut id = p.prefill;
            while id < p.prefill + iters {
                let chunk = (p.prefill + iters - id).min(256);
                steady_loop(q, id, chunk, &mut rng, p.dist);
                id += chunk;
                known.store(id, Ordering::Release);
            }
            done.store(true, Ordering::Relaxed);
        } else {
            let mut rng = Rng::new(100 + i as u64);
            let (mut n, mut seen) = (0u64, 0u64);
            while !done.load(Ordering::Relaxed) {
                let id = rng.next_u64() % known.load(Ordering::Acquire);
                seen += u64::from(q.status(id).is_some());
                black_box(q.queued());
                n += 2;
            }
            assert_eq!(seen * 2, n, "W3: a known id was unknown");
            reads.fetch_add(n, Ordering::Relaxed);
        }
    });
    assert_eq!(q.queued() as u64, p.prefill, "W3 changed the queue depth");
    outcome(elapsed, iters, reads.into_inner(), p.prefill)
}

/// W4: pre-filled queue; T workers loop add two, cancel one, claim, complete.
///
/// A cancel can lose the race to another worker's claim of the same task: that is correct, and
/// is counted (`Outcome::cancels`). Only what holds for every correct queue is checked.
pub fn w4<Q: BenchQueue>(q: &Q, threads: usize, p: Params, mem: Option<MemProbe>) -> Outcome {
    prefill(q, p);
    let per = (p.tasks / 2 / threads as u64).max(1);
    let landed = AtomicU64::new(0);
    let elapsed = run_threads(threads, |t| {
        let t = t as u64;
        let mut rng = Rng::new(t);
        let mut n = 0;
        let first = p.prefill + 2 * t * per;
        for i in 0..per {
            let (a, b) = (first + 2 * i, first + 2 * i + 1);
            assert!(q.add(a, rng.priority(p.dist), a), "add");
            assert!(q.add(b, rng.priority(p.dist), b), "add");
            n += u64::from(q.cancel(b));
            claim_and_complete(q);
        }
        landed.fetch_add(n, Ordering::Relaxed);
    });
    let peak = mem.map(|m| (m.stop)());
    let tasks = 2 * per * threads as u64;
    let landed = landed.into_inner();
    let cancels = Cancels {
        landed,
        claimed_instead: tasks / 2 - landed,
    };
    // Every task added was claimed once or cancelled once: a cancel that lost left one more task
    // queued than a cancel that landed.
    assert_eq!(
        q.queued() as u64,
        p.prefill + cancels.claimed_instead,
        "W4: queue depth is not PREFILL + cancels claimed instead ({cancels:?})"
    );
    if threads == 1 {
        assert_eq!(cancels.claimed_instead, 0, "W4: one worker lost a cancel");
    }
    let mut o = outcome(elapsed, tasks, 0, p.prefill);
    o.peak_bytes = peak;
    o.cancels = Some(cancels);
    o
}

/// W5: one thread, add, claim, complete at depth PREFILL.
pub fn w5<Q: BenchQueue>(q: &Q, p: Params) -> Outcome {
    prefill(q, p);
    let mut rng = Rng::new(0);
    let start = Instant::now();
    for id in p.prefill..p.prefill + p.tasks {
        assert!(q.add(id, rng.priority(p.dist), id), "add");
        claim_and_complete(q);
    }
    let elapsed = start.elapsed();
    assert_eq!(q.queued() as u64, p.prefill, "W5 changed the queue depth");
    outcome(elapsed, p.tasks, 0, p.prefill)
}

/// Mem: fills the empty queue with PREFILL tasks; the peak heap bytes (and those held at the
/// end) are taken while it holds them (from the probe started before the queue was built).
pub fn memory<Q: BenchQueue>(q: &Q, p: Params, mem: Option<MemProbe>) -> Outcome {
    let start = Instant::now();
    prefill(q, p);
    let elapsed = start.elapsed();
    let held = mem.map(|m| (m.held)());
    let peak = mem.map(|m| (m.stop)());
    assert_eq!(q.queued() as u64, p.prefill, "mem: not all tasks queued");
    let mut o = outcome(elapsed, p.prefill, 0, p.prefill);
    o.peak_bytes = peak;
    o.held_bytes = held;
    o
}

/// `limit`: the same total work as workload `w`, on one thread, without a lock.
pub fn run_limit(w: Workload, p: Params, mem: Option<MemProbe>) -> Outcome {
    let mut q = PlainQueue::new(w != Workload::W4);
    let prefill = |q: &mut PlainQueue| {
        let mut rng = Rng::new(1000);
        for id in 0..p.prefill {
            assert!(q.add(id, rng.priority(p.dist), id));
        }
    };
    let claim_done = |q: &mut PlainQueue| {
        let (id, payload) = q.claim().expect("claim");
        assert_eq!(payload, id);
        assert!(q.complete(id));
    };
    let mut rng = Rng::new(0);
    let mut cancels = None;
    let mut held = None;
    let (start, tasks, live) = match w {
        Workload::W7 => unreachable!("W7 runs on taskq's own queues only"),
        // One thread, no lock: batches change nothing, so W6 is W1.
        Workload::W1 | Workload::W6 => {
            let start = Instant::now();
            for id in 0..p.tasks {
                assert!(q.add(id, rng.priority(p.dist), id));
            }
            for _ in 0..p.tasks {
                claim_done(&mut q);
            }
            (start, p.tasks, 0)
        }
        Workload::W2 => {
            prefill(&mut q);
            let start = Instant::now();
            for id in p.prefill..p.prefill + p.tasks {
                claim_done(&mut q);
                assert!(q.add(id, rng.priority(p.dist), id));
            }
            (start, p.tasks, p.prefill)
        }
        Workload::W4 => {
            prefill(&mut q);
            let per = p.tasks / 2;
            let start = Instant::now();
            for i in 0..per {
                let (a, b) = (p.prefill + 2 * i, p.prefill + 2 * i + 1);
                assert!(q.add(a, rng.priority(p.dist), a));
                assert!(q.add(b, rng.priority(p.dist), b));
                // One thread: nobody else can claim `b` first.
                assert!(q.cancel(b));
                claim_done(&mut q);
            }
            cancels = Some(Cancels {
                landed: per,
                claimed_instead: 0,
            });
            (start, 2 * per, p.prefill)
        }
        Workload::W5 => {
            prefill(&mut q);
            let start = Instant::now();
            for id in p.prefill..p.prefill + p.tasks {
                assert!(q.add(id, rng.priority(p.dist), id));
                claim_done(&mut q);
            }
            (start, p.tasks, p.prefill)
        }
        Workload::Mem => {
            let start = Instant::now();
            prefill(&mut q);
            held = mem.map(|m| (m.held)());
            (start, p.prefill, p.prefill)
        }
        Workload::W3 => unreachable!("limit does not run W3 (see Contender::ALL)"),
    };
    let elapsed = start.elapsed();
    assert_eq!(q.queued() as u64, live, "limit left the wrong depth");
    black_box(q.status(0) == Some(TaskStatus::Queued));
    let mut o = outcome(elapsed, tasks, 0, live);
    o.cancels = cancels;
    if held.is_some() {
        o.held_bytes = held;
        o.peak_bytes = mem.map(|m| (m.stop)());
    }
    o
}

/// Median of a non-empty slice.
pub fn median(xs: &[f64]) -> f64 {
    let mut v = xs.to_vec();
    v.sort_by(|a, b| a.total_cmp(b));
    let n = v.len();
    if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    }
}
