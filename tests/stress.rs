//! The stress tests (tests/common/stress.rs) on every in-memory strategy.

mod common;

use common::stress::stress_suite;

common::for_each_strategy!(stress_suite);
