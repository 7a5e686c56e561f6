//! The order saga's domain: values and rules, the ports the rules need, and the use cases (the
//! saga's steps, announcing them, the cleanup, notifying, keeping the product view).
//!
//! Nothing here knows AWS, Lambda or the environment: the rules are plain functions over ports
//! (traits), tested against the in-memory adapters; `order-adapters` implements the ports on
//! DynamoDB, SNS and Step Functions, and `order-lambda` wires them into functions.

pub mod announce;
pub mod audit;
pub mod billing;
pub mod cart;
pub mod cleanup;
pub mod clock;
pub mod delivery;
pub mod error;
pub mod events;
pub mod invariants;
pub mod inventory;
pub mod listing;
pub mod money;
pub mod notification;
pub mod notify;
pub mod order;
pub mod ordering;
pub mod page;
pub mod ports;
pub mod product_view;
pub mod profile;
pub mod promotion;
pub mod saga;
pub mod sending;
pub mod values;
