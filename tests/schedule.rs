//! The scheduling suite (tests/common/schedule.rs) on every in-memory strategy: scheduled tasks,
//! delayed failures and ageing, on a manual clock.

mod common;

use common::schedule::schedule_suite;

common::for_each_strategy!(schedule_suite);
