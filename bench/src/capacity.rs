//! "Capacity for 5,000 orders a minute": what that rate asks of an AWS account, from this run's
//! per-order counts (section 3: state transitions, Lambda invocations and durations, SNS
//! publishes, DynamoDB write units) against AWS's documented default quotas, each with its page.
//! Nothing here is measured on AWS: the counts are the local stack's, the quotas are AWS's.

use serde_json::Value;

/// 5,000 orders a minute.
pub const RATE: f64 = 5000.0 / 60.0;

const SFN_QUOTAS: &str = "https://docs.aws.amazon.com/step-functions/latest/dg/service-quotas.html";
const LAMBDA_QUOTAS: &str =
    "https://docs.aws.amazon.com/lambda/latest/dg/gettingstarted-limits.html";
const LAMBDA_SCALING: &str = "https://docs.aws.amazon.com/lambda/latest/dg/scaling-behavior.html";
const LAMBDA_RESERVED: &str =
    "https://docs.aws.amazon.com/lambda/latest/dg/configuration-concurrency.html";
const DDB_PARTITION: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/bp-partition-key-design.html";
const DDB_ON_DEMAND: &str = "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/pre-warming-on-demand-capacity-mode.html";
const DDB_TRANSACTIONS: &str =
    "https://docs.aws.amazon.com/amazondynamodb/latest/developerguide/transaction-apis.html";
const APIGW_QUOTAS: &str =
    "https://docs.aws.amazon.com/apigateway/latest/developerguide/limits.html";
const SNS_QUOTAS: &str = "https://docs.aws.amazon.com/general/latest/gr/sns.html";

fn num(v: &Value) -> Option<f64> {
    v.as_f64().filter(|x| x.is_finite())
}

/// The section, from `per-order.json` (this run's section 3).
pub fn section(per_order: &Value) -> String {
    let mut md = String::from("\n## 6. Capacity for 5,000 orders a minute\n\n");
    let transitions = num(&per_order["stateTransitionsPerOrder"]);
    let sns = num(&per_order["callsPerOrderByService"]["SNS"]);
    let write_units = num(&per_order["dynamoWriteUnitsPerOrder"]);
    let invocations = per_order["invocationsPerOrderByFunction"].as_object();
    let durations = &per_order["reportMsMedianByFunction"];
    let (Some(transitions), Some(invocations)) = (transitions, invocations) else {
        md.push_str("No per-order count in this run (section 3): nothing to plan from.\n");
        return md;
    };
    md.push_str(&format!(
        "{RATE:.1} orders/s, with this run's counts for one order on the happy path (section 3) against AWS's documented default quotas (the page beside each; quotas change, so check them before a launch). The counts are the local stack's; the Lambda durations are its release binaries' behind the emulator, an upper bound of AWS's. A compensated order passes more states: the longest path, named in the state machine's `Comment`, enters 16, before any retry.\n\n"
    ));
    md.push_str("| what | per order (measured) | at 5,000/min | AWS default quota | fits? |\n|---|---:|---:|---|---|\n");
    let start_rate = RATE;
    md.push_str(&format!(
        "| Standard `StartExecution` | 1 | {start_rate:.0}/s | refill 300/s (bucket 1,300) in us-east-1, us-west-2, eu-west-1; 150/s (bucket 800) elsewhere ([quotas]({SFN_QUOTAS})) | yes, in every region |\n"
    ));
    let per_second = transitions * RATE;
    let fits_small = if per_second <= 800.0 * 0.8 {
        "yes"
    } else if per_second <= 800.0 {
        "barely: a burst of compensations goes over; ask for more"
    } else {
        "no: ask for more"
    };
    md.push_str(&format!(
        "| Standard state transitions | {transitions:.0} | {per_second:.0}/s | 5,000/s in us-east-1, us-west-2, eu-west-1; 800/s elsewhere; new accounts start lower ([quotas]({SFN_QUOTAS})) | large regions yes; elsewhere {fits_small} |\n"
    ));
    md.push_str(&format!(
        "| Express `StartExecution`, transitions | 1, {transitions:.0} | {start_rate:.0}/s, {per_second:.0}/s | 6,000/s; transitions unlimited; 5 minutes per execution ([quotas]({SFN_QUOTAS})) | yes |\n"
    ));
    // Concurrency = rate × invocations per order × seconds per invocation, per function.
    let mut concurrency = 0.0;
    let mut parts = Vec::new();
    for (function, count) in invocations {
        let (Some(count), Some(ms)) = (num(count), num(&durations[function])) else {
            continue;
        };
        let busy = RATE * count * ms / 1000.0;
        concurrency += busy;
        parts.push(format!("{function} {busy:.1}"));
    }
    md.push_str(&format!(
        "| Lambda concurrency (the saga and its consumers; client polling not counted) | {} invocations | {concurrency:.0} busy at once ({}) | 1,000 per region, new accounts less until AWS raises it; 1,000 more environments every 10 s per function ([quotas]({LAMBDA_QUOTAS}), [scaling]({LAMBDA_SCALING})) | yes with 1,000; a new account with 10 throttles (the saga retries `Lambda.TooManyRequestsException`, then cancels): ask first |\n",
        invocations.values().filter_map(num).sum::<f64>().round(),
        parts.join(", ")
    ));
    if let Some(units) = write_units {
        md.push_str(&format!(
            "| DynamoDB writes, all tables | {units:.0} WCU | {:.0} WCU/s | a new on-demand table sustains 4,000 writes/s, then twice its previous peak ([on-demand]({DDB_ON_DEMAND})) | yes |\n",
            units * RATE
        ));
    }
    md.push_str(&format!(
        "| DynamoDB, one product's item (every order for one SKU) | 1 transactional write (2 WCU) in the reservation | {:.0} WCU/s on one item | 1,000 WCU/s per partition, so per item ([partition keys]({DDB_PARTITION})); a transaction that overlaps another on the item is cancelled, `TransactionConflict` ([transactions]({DDB_TRANSACTIONS})) | by units yes; conflicts: see below |\n",
        2.0 * RATE
    ));
    if let Some(sns) = sns {
        md.push_str(&format!(
            "| SNS `Publish` (the domain events) | {sns:.0} | {:.0}/s | 30,000/s in us-east-1; 9,000/s in us-west-2, eu-west-1; 1,500/s in eu-central-1 and seven others; 300/s in the rest ([quotas]({SNS_QUOTAS})) | yes, but not in the 300/s regions: ask for more |\n",
            sns * RATE
        ));
    }
    md.push_str(&format!(
        "| API Gateway (HTTP API) | 1 `POST` + the client's polls | {start_rate:.0}/s + polls | 10,000 requests/s per account and region (2,500/s in the newest regions) ([quotas]({APIGW_QUOTAS})) | yes |\n"
    ));
    md.push_str(&format!(
        "\n**One hot SKU.** Every reservation of a product writes its item inside a transaction, so a flash sale of one SKU puts all its orders on one item: {:.0} WCU/s at this rate, well under the item's 1,000, but two transactions that overlap on the item conflict, and the later one is cancelled with `TransactionConflict`. How many a second one item sustains before conflicts dominate is **not measured here**: the local emulator applies transactions one at a time and never reports a conflict (`adapters/src/dynamodb/aws_semantics.rs` tests the adapters against AWS's conflict replies instead). What the saga does: the reservation's conflict is `Transient`, and ReserveStock retries it 3 times with full-jitter backoff (1, 2, 4 s), so a conflict costs latency, and an order is cancelled `RESERVATION_FAILED` (stock and money untouched) only when all 4 attempts conflict. The template and code do nothing else about it: one item per SKU, no sharding of stock. For a sale above a few hundred orders a second of one SKU, split its stock over several items (`PRODUCT#sku#n`, reserving from one chosen at random) before relying on retries.\n",
        2.0 * RATE
    ));
    md.push_str(&format!(
        "\n**What to ask AWS for before 5,000 orders a minute** (Service Quotas console): Lambda concurrent executions (a new account's few, to at least a few hundred; reserving any needs 100 unreserved left: [reserved]({LAMBDA_RESERVED})); Standard state transitions outside us-east-1, us-west-2 and eu-west-1 (800/s against {per_second:.0}/s for happy paths alone, before compensations and retries), or use Express; SNS Publish in the regions with 300/s. StartExecution, API Gateway, DynamoDB on-demand and SQS need nothing at this rate.\n"
    ));
    md
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_plan_multiplies_this_runs_counts_by_the_rate() {
        let per_order = json!({
            "stateTransitionsPerOrder": 9.0,
            "invocationsPerOrderByFunction": {"reserve-stock": 1.0, "audit": 5.0},
            "reportMsMedianByFunction": {"reserve-stock": 60.0, "audit": 12.0},
            "callsPerOrderByService": {"SNS": 5.0},
            "dynamoWriteUnitsPerOrder": 21.0,
        });
        let md = section(&per_order);
        assert!(md.contains("| 9 | 750/s |"), "{md}");
        // 83.3 × (1 × 0.060 + 5 × 0.012) = 10.0
        assert!(md.contains("10 busy at once"), "{md}");
        assert!(md.contains("| 5 | 417/s |"), "{md}");
        assert!(md.contains("1750 WCU/s"), "{md}");
    }

    #[test]
    fn without_a_count_it_says_so() {
        assert!(section(&json!({})).contains("nothing to plan from"));
    }
}
