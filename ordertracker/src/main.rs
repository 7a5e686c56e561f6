//! ordertracker: the operator's tool for orders that are stuck, failed or in question.
//!
//! It talks to the same tables, state machine and queues as the functions, with the SDK's own
//! credentials and endpoint settings (`AWS_PROFILE`, `AWS_REGION`, `AWS_ENDPOINT_URL`, …), and
//! takes resource names from the variables the functions use (`ORDERS_TABLE`, `ORDER_SAGA_ARN`,
//! …; locally: `set -a; source local/.state/dev/env; set +a`).

use clap::{Parser, Subcommand};
use ordertracker::{ops, render};
use std::process::ExitCode;

#[derive(Parser)]
#[command(
    name = "ordertracker",
    version,
    about = "Diagnose and repair orders of the order saga (local stack or AWS)",
    long_about = "Diagnose and repair orders of the order saga.\n\n\
        Uses the AWS SDK's usual settings (AWS_PROFILE, AWS_REGION, AWS_ENDPOINT_URL, ...) and the \
        resource names the functions use: ORDERS_TABLE, INVENTORY_TABLE, BILLING_TABLE, \
        NOTIFICATIONS_TABLE, AUDIT_TABLE, ORDER_SAGA_ARN, EVENTS_TOPIC_ARN (locally: set -a; source \
        local/.state/dev/env; set +a).\n\n\
        Exit status: 0 done, 1 failed, 2 bad usage or unknown order."
)]
struct Cli {
    /// Print JSON for scripts instead of tables.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// The order, its lines, payment, reservation, notifications, audit trail and the saga's
    /// execution history as a timeline.
    Show {
        /// The order id (a UUID).
        order_id: String,
    },
    /// Orders not finished (PENDING, RESERVED, PAID, COMPENSATION_FAILED) after a while, and
    /// COMPLETED ones whose cancellation was requested that long ago and never finished, with
    /// where each one stopped.
    Stuck {
        /// How old an unfinished order (or a cancellation request) must be: 90s, 15m, 2h, 1d.
        #[arg(long, default_value = "15m", value_parser = ops::parse_age)]
        older_than: chrono::Duration,
        /// At most this many orders.
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Resumes a stuck or failed order safely: starts a saga that never started, otherwise
    /// gives the money and stock back exactly once and cancels the order. A no-op where nothing
    /// is missing.
    Retry {
        /// The order id (a UUID).
        order_id: String,
        /// EXPRESS sagas only (their executions cannot be looked up): how long after an order's
        /// creation one may still be running; a younger order is not compensated. Default:
        /// SAGA_DEADLINE_MINUTES, else 25m.
        #[arg(long, value_parser = ops::parse_age)]
        saga_deadline: Option<chrono::Duration>,
    },
    /// Dead-letter queues: what is in them, and replaying them.
    Dlq {
        #[command(subcommand)]
        command: DlqCommand,
    },
    /// The compliance report: the audit table's entries between two times.
    Report {
        /// From (RFC 3339, inclusive), e.g. 2026-11-01T00:00:00Z.
        #[arg(long)]
        from: chrono::DateTime<chrono::Utc>,
        /// To (RFC 3339, exclusive).
        #[arg(long)]
        to: chrono::DateTime<chrono::Utc>,
        /// Output format (a table by default; --json is the same as --format json).
        #[arg(long, value_enum)]
        format: Option<ops::ReportFormat>,
    },
}

#[derive(Subcommand)]
enum DlqCommand {
    /// The messages in a dead-letter queue (left in the queue).
    List {
        /// Queue name or URL, e.g. the CompensationDlq's (COMPENSATION_DLQ_URL).
        queue: String,
    },
    /// Replays a dead-letter queue: a message from a source queue (NotifyDlq's from
    /// NotifyQueue) is moved back to it; of the state machine's own dead letters, a compensation
    /// failure is retried (as `retry` does) and an unpublished event is published. Each message
    /// is deleted only once its replay succeeded, so running it twice is safe.
    Redrive {
        /// Queue name or URL.
        queue: String,
    },
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = run(cli).await;
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(ops::Failure::Usage(message)) => {
            eprintln!("ordertracker: {message}");
            ExitCode::from(2)
        }
        Err(ops::Failure::Failed(message)) => {
            eprintln!("ordertracker: {message}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli) -> Result<(), ops::Failure> {
    let json = cli.json;
    match cli.command {
        Command::Show { order_id } => {
            let ctx = ops::Context::from_env().await?;
            let view = ops::show(&ctx, &order_id).await?;
            render::show(&view, json)
        }
        Command::Stuck { older_than, limit } => {
            let ctx = ops::Context::from_env().await?;
            let rows = ops::stuck(&ctx, older_than, limit).await?;
            render::stuck(&rows, older_than, json)
        }
        Command::Retry {
            order_id,
            saga_deadline,
        } => {
            let mut ctx = ops::Context::from_env().await?;
            if let Some(deadline) = saga_deadline {
                ctx.saga_deadline = deadline;
            }
            let outcome = ops::retry(&ctx, &order_id).await?;
            render::retry(&outcome, json)
        }
        Command::Dlq { command } => {
            let ctx = ops::Context::from_env().await?;
            match command {
                DlqCommand::List { queue } => {
                    let messages = ops::dlq_list(&ctx, &queue).await?;
                    render::dlq_list(&messages, json)
                }
                DlqCommand::Redrive { queue } => {
                    let outcome = ops::dlq_redrive(&ctx, &queue, !json).await?;
                    render::redrive(&outcome, json)
                }
            }
        }
        Command::Report { from, to, format } => {
            let ctx = ops::Context::from_env().await?;
            let format = match (format, json) {
                (Some(f), _) => f,
                (None, true) => ops::ReportFormat::Json,
                (None, false) => ops::ReportFormat::Table,
            };
            let rows = ops::report(&ctx, from, to, format != ops::ReportFormat::Json).await?;
            render::report(&rows, format)
        }
    }
}
