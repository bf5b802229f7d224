//! The contract suite (tests/common/contract.rs) on every in-memory strategy: `mutex::*`,
//! `rwlock::*`, `channel::*` in the test output.

mod common;

use common::contract::contract_suite;

common::for_each_strategy!(contract_suite);
