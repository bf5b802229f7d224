//! loom model checks for `taskq` live in `tests/`; build them with `RUSTFLAGS="--cfg taskq_loom"`.
