//! The order saga's domain: model and rules, the ports they need, and the adapters behind them.
//!
//! Business rules are plain async functions that take ports (traits), so they are tested
//! against the in-memory adapters without AWS; the DynamoDB and Step Functions adapters are
//! exercised by the end-to-end tests against the local cloud.

pub mod adapters;
pub mod announce;
pub mod api;
pub mod audit;
pub mod billing;
pub mod cart;
pub mod cleanup;
pub mod clock;
pub mod config;
pub mod correlation;
pub mod delivery;
pub mod error;
pub mod events;
pub mod faults;
pub mod inventory;
pub mod metrics;
pub mod money;
pub mod notification;
pub mod order;
pub mod page;
pub mod ports;
pub mod product_view;
pub mod profile;
pub mod promotion;
pub mod saga;
pub mod sending;
pub mod values;
