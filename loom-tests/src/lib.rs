//! loom model checks for `taskq`; build them with `RUSTFLAGS="--cfg taskq_loom"`.
//!
//! The models are written once, generic over the strategy, in `models` (loom builds only), and
//! run from `tests/models.rs` (every model on every strategy, on the real code, each in a child
//! process of its own so that a deadlock fails one test, not the run) and `tests/mutants.rs`
//! (every deliberate bug of taskq's `src/mutant.rs`, switched on per process by `TASKQ_MUTANT` in a
//! child process, must make some model fail). Without `--cfg taskq_loom` this crate is empty and
//! its tests compile to nothing.

#[cfg(taskq_loom)]
pub mod harness;
#[cfg(taskq_loom)]
pub mod models;
