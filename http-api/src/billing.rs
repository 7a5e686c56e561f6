//! The billing routes: `POST /billing/accounts`, `POST /billing/deposit` (idempotent by
//! `Idempotency-Key`), `GET /billing/balance` and `GET /billing/transactions` (the ledger).
//! Every route acts on the caller's own account only.

use super::{
    ApiError, MAX_BODY_BYTES, body_bytes, caller, idempotency_key, json_object, json_response,
    problem_response, query_param, require_json, unknown_fields, validate_idempotency_key,
};
use crate::correlation;
use lambda_http::http::{HeaderValue, StatusCode};
use lambda_http::request::RequestContext;
use lambda_http::{Body, Request, RequestExt, Response};
use order_core::audit::ChangedBy;
use order_core::billing::{Account, EntryType, LedgerEntry};
use order_core::clock::Clock;
use order_core::money::{Currency, Money};
use order_core::order::FieldError;
use order_core::page::{Page, PageRequest};
use order_core::ports::{BillingStore, DepositError, DepositKey, DepositOutcome};
use serde::Serialize;
use serde_json::Value;

/// The largest single deposit, in minor units (1 000 000.00 of a two-decimal currency).
pub const MAX_DEPOSIT: i64 = 100_000_000;
/// The currency of an account opened without one.
pub const DEFAULT_CURRENCY: &str = "EUR";
/// Set on a deposit answered from an earlier request with the same `Idempotency-Key`.
pub const REPLAYED_HEADER: &str = "idempotent-replayed";

/// An account as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AccountView {
    pub user_id: String,
    pub balance: Money,
}

impl From<Account> for AccountView {
    fn from(account: Account) -> Self {
        Self {
            balance: Money::new(account.balance, account.currency),
            user_id: account.user_id,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Balance {
    pub balance: Money,
}

/// What `POST /billing/deposit` answers: the deposit, and whether an earlier request with
/// the same key made it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Deposit {
    pub entry: LedgerEntry,
    pub replayed: bool,
}

/// The billing API over its port. Built once per process in `main`.
pub struct BillingApi<B> {
    pub billing: B,
    pub clock: Box<dyn Clock>,
}

impl<B: BillingStore> BillingApi<B> {
    /// Opens the caller's account with balance 0; `true` when this call opened it. An
    /// account that exists is returned as it is, whatever currency was asked for.
    pub async fn open_account(
        &self,
        user_id: &str,
        body: &[u8],
        correlation_id: Option<&str>,
    ) -> Result<(AccountView, bool), ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(body.len()));
        }
        let currency = parse_open_account(body)?;
        let account = Account {
            user_id: user_id.to_owned(),
            balance: 0,
            currency,
        };
        let by = ChangedBy::user(user_id, correlation_id);
        if self
            .billing
            .open_account(&account, &by, self.clock.now())
            .await?
        {
            return Ok((AccountView::from(account), true));
        }
        let existing =
            self.billing.account(user_id).await?.ok_or_else(|| {
                ApiError::Unavailable("the account is being written; retry".into())
            })?;
        Ok((AccountView::from(existing), false))
    }

    /// Credits a deposit to the caller's account. With an idempotency key, a retry of the same
    /// deposit returns it and credits nothing; the key with another amount is refused.
    pub async fn deposit(
        &self,
        user_id: &str,
        idempotency_key: Option<&str>,
        body: &[u8],
        correlation_id: Option<&str>,
    ) -> Result<Deposit, ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(body.len()));
        }
        let key = idempotency_key.map(validate_idempotency_key).transpose()?;
        let amount = parse_deposit(body)?;

        if let Some(key) = key
            && let Some(record) = self.billing.deposit_key(user_id, key).await?
        {
            return replay(&record, &amount);
        }
        let entry = LedgerEntry::new(EntryType::Deposit, amount.clone(), None, self.clock.now());
        let record = key.map(|key| DepositKey {
            user_id: user_id.to_owned(),
            key: key.to_owned(),
            entry: entry.clone(),
        });
        let by = ChangedBy::user(user_id, correlation_id);
        match self
            .billing
            .deposit(user_id, &entry, record.as_ref(), &by)
            .await
        {
            Ok(DepositOutcome::Deposited) => Ok(Deposit {
                entry,
                replayed: false,
            }),
            Ok(DepositOutcome::IdempotencyKeyTaken) => {
                // A concurrent request with the same key won the race: answer as it did.
                let key = key.unwrap_or_default();
                let record = self
                    .billing
                    .deposit_key(user_id, key)
                    .await?
                    .ok_or_else(|| {
                        ApiError::Unavailable("a concurrent request holds this key; retry".into())
                    })?;
                replay(&record, &amount)
            }
            Err(DepositError::NoAccount) => Err(no_account(user_id)),
            Err(DepositError::CurrencyMismatch(held)) => Err(ApiError::Unprocessable {
                kind: "currency-mismatch",
                detail: format!(
                    "the account holds {held}; a deposit in {} cannot be credited to it",
                    amount.currency
                ),
                errors: vec![FieldError::new(
                    "currency",
                    format!("must be {held}, the account's currency"),
                )],
            }),
            Err(DepositError::Store(e)) => Err(e.into()),
        }
    }

    pub async fn balance(&self, user_id: &str) -> Result<Balance, ApiError> {
        let account = self
            .billing
            .account(user_id)
            .await?
            .ok_or_else(|| no_account(user_id))?;
        Ok(Balance {
            balance: Money::new(account.balance, account.currency),
        })
    }

    /// The caller's ledger, newest first, from the `limit` and `cursor` query parameters.
    pub async fn transactions(
        &self,
        user_id: &str,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page<LedgerEntry>, ApiError> {
        let page = PageRequest::from_query(limit, cursor)
            .map_err(|e| ApiError::InvalidRequest(vec![e]))?;
        if self.billing.account(user_id).await?.is_none() {
            return Err(no_account(user_id));
        }
        Ok(self.billing.ledger(user_id, &page).await?)
    }

    /// Serves one request of any billing route: the whole HTTP side of `billing-api`.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let user_id = caller(request)?;
        let correlation_id = correlation::of_request(request);
        let correlation_id = Some(correlation_id.as_str());
        match route_key(request).as_str() {
            "POST /billing/accounts" => {
                require_json(request)?;
                let (account, created) = self
                    .open_account(&user_id, body_bytes(request), correlation_id)
                    .await?;
                let status = if created {
                    StatusCode::CREATED
                } else {
                    StatusCode::OK
                };
                Ok(json_response(status, &account))
            }
            "POST /billing/deposit" => {
                require_json(request)?;
                let key = idempotency_key(request)?;
                let deposit = self
                    .deposit(&user_id, key, body_bytes(request), correlation_id)
                    .await?;
                let mut response = json_response(StatusCode::CREATED, &deposit.entry);
                if deposit.replayed {
                    response
                        .headers_mut()
                        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
                }
                Ok(response)
            }
            "GET /billing/balance" => Ok(json_response(
                StatusCode::OK,
                &self.balance(&user_id).await?,
            )),
            "GET /billing/transactions" => {
                let limit = query_param(request, "limit");
                let cursor = query_param(request, "cursor");
                let page = self
                    .transactions(&user_id, limit.as_deref(), cursor.as_deref())
                    .await?;
                Ok(json_response(StatusCode::OK, &page))
            }
            other => Err(ApiError::NotFound(format!(
                "no billing route {}",
                other.chars().take(100).collect::<String>()
            ))),
        }
    }
}

/// API Gateway's route key (`POST /billing/deposit`); from the method and path when an event
/// carries none.
pub(crate) fn route_key(request: &Request) -> String {
    match request.request_context_ref() {
        Some(RequestContext::ApiGatewayV2(ctx)) if ctx.route_key.is_some() => {
            ctx.route_key.clone().unwrap_or_default()
        }
        _ => format!("{} {}", request.method(), request.uri().path()),
    }
}

fn no_account(user_id: &str) -> ApiError {
    ApiError::NotFound(format!(
        "{user_id} has no billing account; open one with POST /billing/accounts"
    ))
}

fn replay(record: &DepositKey, amount: &Money) -> Result<Deposit, ApiError> {
    if record.entry.amount != *amount {
        return Err(ApiError::IdempotencyKeyReused);
    }
    Ok(Deposit {
        entry: record.entry.clone(),
        replayed: true,
    })
}

/// `{"currency":"EUR"}`, `{}` or no body at all (the default currency).
fn parse_open_account(body: &[u8]) -> Result<Currency, ApiError> {
    let default = || Currency::try_from(DEFAULT_CURRENCY).map_err(ApiError::Internal);
    if body.iter().all(u8::is_ascii_whitespace) {
        return default();
    }
    let object = json_object(body)?;
    let mut errors = unknown_fields(&object, &["currency"], "");
    let currency = match object.get("currency") {
        None => default().ok(),
        Some(value) => parse_currency(value).map_err(|e| errors.push(e)).ok(),
    };
    match currency {
        Some(currency) if errors.is_empty() => Ok(currency),
        _ => Err(ApiError::InvalidRequest(errors)),
    }
}

/// `{"amount": 5000, "currency": "EUR"}`: a whole number of minor units from 1 to
/// `MAX_DEPOSIT` and an ISO 4217 code; every problem is reported at once.
fn parse_deposit(body: &[u8]) -> Result<Money, ApiError> {
    let object = json_object(body)?;
    let mut errors = unknown_fields(&object, &["amount", "currency"], "");
    let amount = match object.get("amount") {
        None => Err(FieldError::new("amount", "is required")),
        Some(value) => match value.as_i64() {
            Some(a @ 1..=MAX_DEPOSIT) => Ok(a),
            _ => Err(FieldError::new(
                "amount",
                format!("must be a whole number of minor units from 1 to {MAX_DEPOSIT}"),
            )),
        },
    };
    let currency = match object.get("currency") {
        None => Err(FieldError::new("currency", "is required")),
        Some(value) => parse_currency(value),
    };
    match (amount, currency) {
        (Ok(amount), Ok(currency)) if errors.is_empty() => Ok(Money::new(amount, currency)),
        (amount, currency) => {
            errors.extend(amount.err().into_iter().chain(currency.err()));
            Err(ApiError::InvalidRequest(errors))
        }
    }
}

fn parse_currency(value: &Value) -> Result<Currency, FieldError> {
    match value {
        Value::String(code) => {
            // Cut first: the error message quotes the code, and the code may be huge.
            let code: String = code.chars().take(64).collect();
            Currency::try_from(code).map_err(|m| FieldError::new("currency", m))
        }
        _ => Err(FieldError::new(
            "currency",
            "must be a string such as \"EUR\"",
        )),
    }
}
