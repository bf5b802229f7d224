//! The backend-contract suite (tests/common/backend.rs) on every in-memory strategy.

mod common;

use common::backend::backend_suite;

common::for_each_strategy!(backend_suite);
