//! cleanup: the scheduled housekeeping (EventBridge, every 5 minutes). Empties abandoned carts,
//! cancels orders whose reservation expired unpaid (refund and release exactly once, with the
//! saga's own steps), starts the saga of orders left `PENDING`, all within a time budget; see
//! `order_lambda::cleanup` for the rules.

use chrono::Utc;
use lambda_runtime::tracing::{self, Instrument};
use lambda_runtime::{Diagnostic, LambdaEvent, service_fn};
use order_lambda::adapters::dynamodb::{DynamoBilling, DynamoInventory, DynamoOrders};
use order_lambda::adapters::sfn::StepFunctionsSaga;
use order_lambda::adapters::sns::SnsEvents;
use order_lambda::cleanup::{self, CleanupConfig, CleanupReport, Ports, ScheduledEvent};
use order_lambda::clock::{Clock, FixedClock, SystemClock};
use serde_json::Value;

/// How far ahead of the system clock an event's `time` may be outside tests: a scheduled
/// event is never from the future, and a forged one must not expire orders early.
const MAX_CLOCK_LEAD: chrono::Duration = chrono::Duration::minutes(5);

struct Function {
    orders: DynamoOrders,
    inventory: DynamoInventory,
    billing: DynamoBilling,
    saga: StepFunctionsSaga,
    events: SnsEvents,
    config: CleanupConfig,
    production: bool,
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), lambda_runtime::Error> {
    tracing::init_default_subscriber();
    let orders_table = order_lambda::config::required("ORDERS_TABLE")?;
    let inventory_table = order_lambda::config::required("INVENTORY_TABLE")?;
    let billing_table = order_lambda::config::required("BILLING_TABLE")?;
    let saga_arn = order_lambda::config::required("ORDER_SAGA_ARN")?;
    let config = order_lambda::config::cleanup()?;
    let aws = order_lambda::config::aws().await;
    let dynamodb = aws_sdk_dynamodb::Client::new(&aws);
    let function = &Function {
        orders: DynamoOrders::new(dynamodb.clone(), orders_table),
        inventory: DynamoInventory::new(dynamodb.clone(), inventory_table),
        billing: DynamoBilling::new(dynamodb.clone(), billing_table),
        saga: StepFunctionsSaga::new(aws_sdk_sfn::Client::new(&aws), saga_arn),
        events: order_lambda::config::events(&aws)?,
        config,
        production: std::env::var("STAGE").is_ok_and(|s| s == "prod"),
    };
    tracing::info!(config = ?function.config, "cleanup ready");
    lambda_runtime::run(service_fn(move |event: LambdaEvent<Value>| {
        // Every line of a run names it: the schedule's event id, else the Lambda request id.
        let run = event.payload["id"]
            .as_str()
            .unwrap_or(&event.context.request_id);
        let span = tracing::info_span!("cleanup", correlation_id = %run);
        Box::pin(handler(function, event).instrument(span))
    }))
    .await
}

async fn handler(
    function: &Function,
    event: LambdaEvent<Value>,
) -> Result<CleanupReport, Diagnostic> {
    let event: ScheduledEvent = serde_json::from_value(event.payload).map_err(|e| Diagnostic {
        error_type: "InvalidInput".into(),
        error_message: format!("not a scheduled event: {e}"),
    })?;
    let system = SystemClock.now();
    let now = event.time.unwrap_or(system);
    if function.production && now > system + MAX_CLOCK_LEAD {
        return Err(Diagnostic {
            error_type: "InvalidInput".into(),
            error_message: format!(
                "the event's time {now} is ahead of the clock ({system}); refused in prod"
            ),
        });
    }
    let config = function.config.limited_by(&event.detail);
    let ports = Ports {
        orders: &function.orders,
        inventory: &function.inventory,
        billing: &function.billing,
        saga: &function.saga,
        events: &function.events,
    };
    let report = cleanup::run(&ports, &FixedClock::at(now), &config).await;
    tracing::info!(
        report = %serde_json::to_string(&report).unwrap_or_default(),
        lag_ms = (Utc::now() - now).num_milliseconds(),
        "cleanup run finished"
    );
    Ok(report)
}
