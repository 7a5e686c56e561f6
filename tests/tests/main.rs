//! The end-to-end tests, one binary: each file of this directory is a module of it, so the SDK and
//! the test helpers are compiled and linked once instead of once per file. Every test is
//! `#[ignore]`d (it needs a running local stack); `tests/e2e.sh` runs them in lanes, selected by
//! module (`chaos::`, `cleanup::`, `express::` on a stack of their own).

mod audit;
mod bad_corpus;
mod bad_input;
mod billing;
mod cart;
mod catalog;
mod chaos;
mod cleanup;
mod cors;
mod crosscheck;
mod events;
mod express;
mod faults;
mod fulfilment;
mod idempotent_steps;
mod logs;
mod metrics;
mod notifications;
mod notifiers;
mod orders;
mod ordertracker;
mod product_view;
mod profiles;
mod saga;
mod storms;
mod walk;
