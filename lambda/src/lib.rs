//! Lambda glue: what every function does around its rule. A saga step's envelope and errors
//! (`step`), SQS batches with partial failures (`sqs`, `notify_queue`, `product_queue`), the audit's
//! stream batches (`audit_stream`), correlation spans, EMF metrics, and the configuration read
//! once at start (`config`).
//!
//! The functions depend on this crate alone: it re-exports the layers below it (the core's
//! modules at its root, `adapters`, `senders`, `faults`, `api`), so a function's imports name
//! one crate while the layers stay apart (ARCHITECTURE.md, "Crates").

pub mod audit_stream;
pub mod config;
pub mod correlation;
pub mod metrics;
pub mod notify_queue;
pub mod product_queue;
pub mod sqs;
pub mod step;
pub mod steps;

pub use order_core::*;

/// The ports on AWS and in memory (`order-adapters`), with the notification channels
/// (`order-senders`) as `adapters::channels`.
pub mod adapters {
    pub use order_adapters::*;
    pub use order_senders as channels;
}
pub use order_faults as faults;
pub use order_http as api;
