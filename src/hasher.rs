//! The default hasher of a queue's task index.

use std::hash::BuildHasher;

/// The default [`BuildHasher`] of a queue's task index: foldhash's fast variant, randomly seeded
/// per queue.
///
/// It hashes a `u64` id in a few nanoseconds, where SipHash (`std`'s
/// [`RandomState`](std::collections::hash_map::RandomState)) takes tens, and every queue
/// operation by id hashes it once. Like hashbrown's default (also foldhash), it is seeded at
/// random, so ids that collide in one process do not in another: an adversary cannot precompute
/// a flood of colliding ids. It is not a cryptographic hash: a service that takes ids from
/// untrusted clients and fears an attacker who studies its timing to learn the seed can build
/// its queues with SipHash instead (`Builder::build_with_hasher(RandomState::new())`).
///
/// ```
/// use std::collections::hash_map::RandomState;
/// use taskq::{DefaultHashBuilder, Queue, TaskQueue, ThreadSafeTaskQueue};
///
/// let fast: ThreadSafeTaskQueue<u64, ()> = Queue::new(); // DefaultHashBuilder
/// let sip = ThreadSafeTaskQueue::<u64, ()>::builder()
///     .build_with_hasher(RandomState::new())
///     .unwrap();
/// fast.add_task(1, 0, ()).unwrap();
/// sip.add_task(1, 0, ()).unwrap();
/// // The default, spelled out:
/// let _: Queue<u64, (), taskq::strategy::Mutex, DefaultHashBuilder> = fast;
/// ```
#[derive(Debug, Clone, Default)]
pub struct DefaultHashBuilder(foldhash::fast::RandomState);

impl BuildHasher for DefaultHashBuilder {
    type Hasher = foldhash::fast::FoldHasher<'static>;

    #[inline]
    fn build_hasher(&self) -> Self::Hasher {
        self.0.build_hasher()
    }
}
