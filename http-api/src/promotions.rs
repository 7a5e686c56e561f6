//! Admin `PUT /promotions/{code}`: creates a promotion code or replaces its terms (its count
//! of uses is kept).

use super::billing::route_key;
use super::{
    ApiError, admin, body_bytes, json_object, json_response, path_param, problem_response,
    require_json,
};
use chrono::{DateTime, Utc};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use order_core::money::Money;
use order_core::ports::{PromotionStore, Upsert};
use order_core::promotion::{Discount, Promotion};
use serde::Serialize;

/// A promotion as the API shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PromotionView {
    pub code: String,
    pub kind: &'static str,
    pub value: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    pub valid_from: DateTime<Utc>,
    pub valid_to: DateTime<Utc>,
    pub max_uses: i64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub min_total: Option<Money>,
    pub uses: i64,
}

impl From<Promotion> for PromotionView {
    fn from(p: Promotion) -> Self {
        let (kind, value, currency) = match p.discount {
            Discount::Percent(v) => ("PERCENT", v, None),
            Discount::Fixed(m) => ("FIXED", m.amount, Some(m.currency.to_string())),
        };
        Self {
            code: p.code,
            kind,
            value,
            currency,
            valid_from: p.valid_from,
            valid_to: p.valid_to,
            max_uses: p.max_uses,
            min_total: p.min_total,
            uses: p.uses,
        }
    }
}

/// The promotions API over its port. Built once per process in `main`.
pub struct PromotionsApi<P> {
    pub promotions: P,
}

/// Creates a promotion or replaces its terms (keeping its count of uses).
pub async fn put_promotion(
    promotions: &impl PromotionStore,
    code: &str,
    body: &[u8],
) -> Result<(Upsert, PromotionView), ApiError> {
    let object = json_object(body)?;
    let promotion = Promotion::from_json(code, &object).map_err(ApiError::InvalidRequest)?;
    let (outcome, stored) = promotions.put_promotion(&promotion).await?;
    Ok((outcome, PromotionView::from(stored)))
}

impl<P: PromotionStore> PromotionsApi<P> {
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        admin(request)?;
        match route_key(request).as_str() {
            "PUT /promotions/{code}" => {
                require_json(request)?;
                let code = path_param(request, "code");
                let (outcome, view) =
                    put_promotion(&self.promotions, &code, body_bytes(request)).await?;
                let status = match outcome {
                    Upsert::Created => StatusCode::CREATED,
                    Upsert::Updated => StatusCode::OK,
                };
                Ok(json_response(status, &view))
            }
            other => Err(ApiError::NotFound(format!(
                "no promotions route {}",
                other.chars().take(100).collect::<String>()
            ))),
        }
    }
}
