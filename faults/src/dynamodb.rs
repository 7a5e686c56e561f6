//! Fault plans in the local stack's faults table (see the crate root). One item per function
//! and scope; a call takes the plan's first fault with one conditional update.

use crate::{Fault, FaultPlan};
use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::types::ReturnValue;
use order_adapters::dynamodb::{build, classify, from_item, is_condition_failure, key, to_item};
use order_core::error::StoreError;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone)]
pub struct DynamoFaults {
    client: Client,
    table: String,
}

#[derive(Serialize, Deserialize)]
struct PlanItem {
    pk: String,
    sk: String,
    faults: Vec<Fault>,
}

fn pk(function: &str, scope: &str) -> String {
    format!("FAULTS#{function}#{scope}")
}

const SK: &str = "PLAN";

impl DynamoFaults {
    pub fn new(client: Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }

    /// Replaces the plan for `function` and `scope` (an empty plan clears it).
    pub async fn plan(
        &self,
        function: &str,
        scope: &str,
        faults: Vec<Fault>,
    ) -> Result<(), StoreError> {
        let item = to_item(&PlanItem {
            pk: pk(function, scope),
            sk: SK.into(),
            faults,
        })?;
        order_adapters::dynamodb::put(&self.client, &self.table, item).await
    }
}

impl FaultPlan for DynamoFaults {
    async fn take(&self, function: &str, scope: &str) -> Result<Option<Fault>, StoreError> {
        // Removing the first element and reading the list as it was is one atomic update, so
        // two concurrent calls never take the same fault.
        let result = self
            .client
            .update_item()
            .table_name(&self.table)
            .set_key(Some(key(pk(function, scope), SK)))
            .update_expression("REMOVE faults[0]")
            .condition_expression("attribute_exists(faults[0])")
            .return_values(ReturnValue::AllOld)
            .send()
            .await;
        let output = match result {
            Ok(output) => output,
            Err(e) if is_condition_failure(&e) => return Ok(None),
            Err(e) => return Err(classify(e)),
        };
        let item = build(
            output
                .attributes
                .ok_or("the faults table returned no old item"),
        )?;
        let plan: PlanItem = from_item(item)?;
        Ok(plan.faults.into_iter().next())
    }
}
