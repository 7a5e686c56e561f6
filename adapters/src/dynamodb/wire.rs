//! The request and reply plumbing every table's adapter shares: keys and attribute values,
//! items to and from our structs, conditional puts, cursors, and reading DynamoDB's errors
//! (conditions, transaction cancellations and conflicts) into `StoreError`.

use aws_sdk_dynamodb::Client;
use aws_sdk_dynamodb::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_sdk_dynamodb::operation::transact_write_items::TransactWriteItemsError;
use aws_sdk_dynamodb::types::{AttributeValue, CancellationReason, KeysAndAttributes};
use order_core::error::StoreError;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::collections::HashMap;

pub(crate) type Item = HashMap<String, AttributeValue>;

pub fn key(pk: String, sk: &str) -> Item {
    HashMap::from([
        ("pk".to_owned(), AttributeValue::S(pk)),
        ("sk".to_owned(), AttributeValue::S(sk.to_owned())),
    ])
}

pub fn n(value: i64) -> AttributeValue {
    AttributeValue::N(value.to_string())
}

pub fn s(value: impl Into<String>) -> AttributeValue {
    AttributeValue::S(value.into())
}

/// The `lastChange` stamp a write puts on the item it changes (`order_core::audit`).
pub fn stamp(stamp: &order_core::audit::Stamp) -> Result<AttributeValue, StoreError> {
    serde_dynamo::to_attribute_value(stamp)
        .map_err(|e| StoreError::Internal(format!("encoding a stamp: {e}")))
}

pub fn to_item<T: Serialize>(value: &T) -> Result<Item, StoreError> {
    serde_dynamo::to_item(value).map_err(|e| StoreError::Internal(format!("encoding an item: {e}")))
}

pub fn from_item<T: DeserializeOwned>(item: Item) -> Result<T, StoreError> {
    serde_dynamo::from_item(item)
        .map_err(|e| StoreError::Internal(format!("decoding an item: {e}")))
}

/// Finishes an SDK builder whose required fields are set in code (an error here is a bug).
pub fn build<T, E: std::fmt::Display>(result: Result<T, E>) -> Result<T, StoreError> {
    result.map_err(|e| StoreError::Internal(e.to_string()))
}

/// One item by key, read strongly consistent: the saga's steps decide on what they read.
pub(crate) async fn get<T: DeserializeOwned>(
    client: &Client,
    table: &str,
    key: Item,
) -> Result<Option<T>, StoreError> {
    let output = client
        .get_item()
        .table_name(table)
        .set_key(Some(key))
        .consistent_read(true)
        .send()
        .await
        .map_err(classify)?;
    output.item.map(from_item).transpose()
}

/// The items of `keys` that exist, by BatchGetItem. DynamoDB may hand back keys it did not get
/// to; they are asked for again a few times, then the read is `Transient` (`what` names it).
pub(crate) async fn batch_get(
    client: &Client,
    table: &str,
    keys: KeysAndAttributes,
    what: &str,
) -> Result<Vec<Item>, StoreError> {
    let mut pending = Some(keys);
    let mut items = Vec::new();
    for _ in 0..4 {
        let Some(keys) = pending.take() else { break };
        let output = client
            .batch_get_item()
            .request_items(table, keys)
            .send()
            .await
            .map_err(classify)?;
        items.extend(
            output
                .responses
                .and_then(|mut r| r.remove(table))
                .unwrap_or_default(),
        );
        pending = output
            .unprocessed_keys
            .and_then(|mut u| u.remove(table))
            .filter(|k| !k.keys.is_empty());
    }
    if pending.is_some() {
        return Err(StoreError::Transient(format!(
            "the {what} read was throttled"
        )));
    }
    Ok(items)
}

/// Whether a single-item write failed only because its condition was false.
pub fn is_condition_failure<E: ProvideErrorMetadata, R>(error: &SdkError<E, R>) -> bool {
    error.as_service_error().and_then(|e| e.code()) == Some("ConditionalCheckFailedException")
}

/// A single-item conditional write's answer: `true` when it was written, `false` when only its
/// condition failed.
pub fn written<T, E, R>(result: Result<T, SdkError<E, R>>) -> Result<bool, StoreError>
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match result {
        Ok(_) => Ok(true),
        Err(e) if is_condition_failure(&e) => Ok(false),
        Err(e) => Err(classify(e)),
    }
}

/// Writes the item unless one with its key exists; `false` when one did.
pub async fn put_if_absent(client: &Client, table: &str, item: Item) -> Result<bool, StoreError> {
    let result = client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .condition_expression("attribute_not_exists(pk)")
        .send()
        .await;
    written(result)
}

/// Creates or replaces an item (seeding and tests).
pub async fn put(client: &Client, table: &str, item: Item) -> Result<(), StoreError> {
    client
        .put_item()
        .table_name(table)
        .set_item(Some(item))
        .send()
        .await
        .map_err(classify)?;
    Ok(())
}

/// A `LastEvaluatedKey` as an opaque cursor. Every key attribute of our tables and indexes is a
/// string, so the cursor is the URL-safe base64 of a JSON object of strings.
pub fn encode_cursor(key: &Item) -> Option<String> {
    use base64::Engine;
    let strings: std::collections::BTreeMap<&str, &str> = key
        .iter()
        .map(|(k, v)| v.as_s().ok().map(|s| (k.as_str(), s.as_str())))
        .collect::<Option<_>>()?;
    let json = serde_json::to_vec(&strings).ok()?;
    Some(base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(json))
}

/// The key a cursor stands for: exactly the attributes in `allowed`. Callers also check the
/// values, so a forged cursor cannot steer a query into another partition's items.
pub fn decode_cursor(cursor: &str, allowed: &[&str]) -> Result<Item, StoreError> {
    use base64::Engine;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(cursor)
        .map_err(|_| StoreError::InvalidCursor)?;
    let strings: HashMap<String, String> =
        serde_json::from_slice(&json).map_err(|_| StoreError::InvalidCursor)?;
    // Exactly the key attributes: DynamoDB refuses a partial start key with an error.
    if strings.len() != allowed.len() || strings.keys().any(|k| !allowed.contains(&k.as_str())) {
        return Err(StoreError::InvalidCursor);
    }
    Ok(strings
        .into_iter()
        .map(|(k, v)| (k, AttributeValue::S(v)))
        .collect())
}

/// Throttles, conflicts, timeouts and AWS-side failures are transient; the rest is not.
pub fn classify<E, R>(error: SdkError<E, R>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    let transient = match &error {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            true
        }
        SdkError::ServiceError(service) => matches!(
            service.err().code(),
            Some(
                "ThrottlingException"
                    | "ProvisionedThroughputExceededException"
                    | "RequestLimitExceeded"
                    | "InternalServerError"
                    | "ServiceUnavailable"
                    | "TransactionConflictException"
                    | "TransactionInProgressException"
            )
        ),
        _ => false,
    };
    let message = DisplayErrorContext(&error).to_string();
    if transient {
        StoreError::Transient(message)
    } else {
        StoreError::Internal(message)
    }
}

/// The per-item reasons of a cancelled transaction, in the order of its items; `None` when
/// the call failed for another reason.
pub fn cancellation_reasons<R>(
    error: &SdkError<TransactWriteItemsError, R>,
) -> Option<&[CancellationReason]> {
    match error.as_service_error() {
        Some(TransactWriteItemsError::TransactionCanceledException(e)) => {
            Some(e.cancellation_reasons())
        }
        _ => None,
    }
}

pub fn condition_failed(reason: Option<&CancellationReason>) -> bool {
    reason.and_then(CancellationReason::code) == Some("ConditionalCheckFailed")
}

/// A cancelled transaction is transient when another transaction touched its items
/// (`TransactionConflict`) or it was throttled: DynamoDB reports both as
/// `TransactionCanceledException` with per-item reasons, never as `TransactionConflictException`
/// (which only non-transactional writes to an item in a transaction get). The rest as [`classify`].
pub fn classify_transaction<R>(error: SdkError<TransactWriteItemsError, R>) -> StoreError
where
    R: std::fmt::Debug,
{
    if cancellation_reasons(&error).is_some_and(conflicted) {
        StoreError::Transient(DisplayErrorContext(&error).to_string())
    } else {
        classify(error)
    }
}

/// A transaction cancelled only because another one touched the same items is worth retrying.
pub fn conflicted(reasons: &[CancellationReason]) -> bool {
    reasons.iter().any(|r| {
        matches!(
            r.code(),
            Some("TransactionConflict" | "ThrottlingError" | "ProvisionedThroughputExceeded")
        )
    })
}

/// How many times a compensation re-reads and retries when a concurrent call changed the
/// item between its read and its write.
pub(crate) const MAX_RACE_RETRIES: usize = 3;

/// The pause before the `attempt`th retry of a transaction that met a conflicting one.
pub(crate) async fn pause_after_conflict(attempt: usize) {
    let pause = 20 * u64::try_from(attempt).unwrap_or(1);
    tokio::time::sleep(std::time::Duration::from_millis(pause)).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_round_trip_and_refuse_forgeries() {
        let k = key("ACCOUNT#alice".into(), "TX#2026");
        let cursor = encode_cursor(&k).unwrap();
        assert_eq!(decode_cursor(&cursor, &["pk", "sk"]).unwrap(), k);
        assert_eq!(
            decode_cursor(&cursor, &["pk"]),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            decode_cursor("not base64!", &["pk"]),
            Err(StoreError::InvalidCursor)
        );
        assert_eq!(
            decode_cursor("e30", &["pk"]),
            Err(StoreError::InvalidCursor),
            "empty object"
        );
    }
}
