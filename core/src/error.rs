//! Errors of the storage and workflow ports, shared by every adapter.

use thiserror::Error;

#[derive(Debug, Error, Clone, PartialEq, Eq)]
pub enum StoreError {
    /// Throttling, a network failure, a conflicting transaction: the same call may succeed later.
    #[error("transient store error: {0}")]
    Transient(String),
    /// A broken invariant or configuration: retrying will not help.
    #[error("store error: {0}")]
    Internal(String),
    /// A pagination cursor that this store did not hand out.
    #[error("the cursor is not one this API handed out")]
    InvalidCursor,
}
