//! Fault plans in memory, for unit tests.

use crate::{Fault, FaultPlan};
use order_core::error::StoreError;
use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

/// Fault plans for unit tests, keyed by function and scope.
#[derive(Debug, Default)]
pub struct MemoryFaults {
    plans: Mutex<HashMap<(String, String), VecDeque<Fault>>>,
}

impl MemoryFaults {
    /// Replaces the plan for `function` and `scope`.
    pub fn plan(&self, function: &str, scope: &str, faults: Vec<Fault>) {
        lock(&self.plans).insert((function.to_owned(), scope.to_owned()), faults.into());
    }
}

impl FaultPlan for MemoryFaults {
    async fn take(&self, function: &str, scope: &str) -> Result<Option<Fault>, StoreError> {
        Ok(lock(&self.plans)
            .get_mut(&(function.to_owned(), scope.to_owned()))
            .and_then(VecDeque::pop_front))
    }
}
