//! `GET /admin/audit?from=…&to=…&format=json|csv`: the compliance report, every audit entry with
//! `from <= at < to`, oldest first, a page at a time (admins only). Written by the audit function
//! (`order_core::audit`). A CSV page carries the header row only on the first page, so the pages of
//! one report concatenate into one file; the next page's cursor is in `X-Next-Cursor` for CSV
//! and in `nextCursor` for JSON.

use super::{ApiError, admin, json_response, problem_response, query_param};
use chrono::{DateTime, Duration, Utc};
use lambda_http::http::{HeaderValue, StatusCode, header};
use lambda_http::{Body, Request, Response};
use order_core::audit::{AuditLog, to_csv};
use order_core::order::FieldError;
use order_core::page::PageRequest;

/// The longest range one report covers.
pub const MAX_RANGE: Duration = Duration::days(31);
pub const DEFAULT_LIMIT: u32 = 100;
pub const MAX_LIMIT: u32 = 1000;
pub const NEXT_CURSOR_HEADER: &str = "x-next-cursor";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Json,
    Csv,
}

/// A report request, checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReportQuery {
    pub from: DateTime<Utc>,
    pub to: DateTime<Utc>,
    pub format: Format,
    pub page: PageRequest,
}

impl ReportQuery {
    /// From the query parameters; every problem is named, all at once.
    pub fn parse(
        from: Option<&str>,
        to: Option<&str>,
        format: Option<&str>,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Self, ApiError> {
        let mut errors = Vec::new();
        let mut time = |name: &str, raw: Option<&str>| match raw {
            None => {
                errors.push(FieldError::new(
                    name,
                    "is required (RFC 3339, e.g. 2026-11-23T00:00:00Z)",
                ));
                None
            }
            Some(raw) => match DateTime::parse_from_rfc3339(raw) {
                Ok(t) => Some(t.with_timezone(&Utc)),
                Err(_) => {
                    errors.push(FieldError::new(
                        name,
                        "must be an RFC 3339 time with an offset, e.g. 2026-11-23T00:00:00Z",
                    ));
                    None
                }
            },
        };
        let (from, to) = (time("from", from), time("to", to));
        let format = match format.unwrap_or("json") {
            "json" => Format::Json,
            "csv" => Format::Csv,
            _ => {
                errors.push(FieldError::new("format", "must be \"json\" or \"csv\""));
                Format::Json
            }
        };
        let limit = match limit {
            None => DEFAULT_LIMIT,
            Some(raw) => match raw.parse::<u32>() {
                Ok(n @ 1..=MAX_LIMIT) => n,
                _ => {
                    errors.push(FieldError::new(
                        "limit",
                        format!("must be a whole number from 1 to {MAX_LIMIT}"),
                    ));
                    DEFAULT_LIMIT
                }
            },
        };
        if let (Some(from), Some(to)) = (from, to) {
            if to <= from {
                errors.push(FieldError::new("to", "must be after from"));
            } else if to - from > MAX_RANGE {
                errors.push(FieldError::new("to", "must be at most 31 days after from"));
            }
        }
        match (from, to) {
            (Some(from), Some(to)) if errors.is_empty() => Ok(Self {
                from,
                to,
                format,
                page: PageRequest {
                    limit,
                    cursor: cursor.filter(|c| !c.is_empty()).map(str::to_owned),
                },
            }),
            _ => Err(ApiError::InvalidRequest(errors)),
        }
    }
}

/// The report API over the audit log. Built once per process in `main`.
pub struct AuditApi<L> {
    pub log: L,
}

impl<L: AuditLog> AuditApi<L> {
    /// Answers `GET /admin/audit`, errors as problem documents.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        admin(request)?;
        let param = |name: &str| query_param(request, name);
        let query = ReportQuery::parse(
            param("from").as_deref(),
            param("to").as_deref(),
            param("format").as_deref(),
            param("limit").as_deref(),
            param("cursor").as_deref(),
        )?;
        self.report(&query).await
    }

    pub async fn report(&self, query: &ReportQuery) -> Result<Response<Body>, ApiError> {
        let page = self.log.between(query.from, query.to, &query.page).await?;
        Ok(match query.format {
            Format::Json => json_response(StatusCode::OK, &page),
            Format::Csv => {
                let csv = to_csv(&page.items, query.page.cursor.is_none())?;
                let mut response = Response::new(Body::Text(csv));
                let headers = response.headers_mut();
                headers.insert(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/csv; charset=utf-8"),
                );
                if let Some(next) = page
                    .next_cursor
                    .as_deref()
                    .and_then(|c| HeaderValue::from_str(c).ok())
                {
                    headers.insert(NEXT_CURSOR_HEADER, next);
                }
                response
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(from: &str, to: &str) -> Result<ReportQuery, ApiError> {
        ReportQuery::parse(Some(from), Some(to), None, None, None)
    }

    fn fields(error: ApiError) -> Vec<String> {
        match error {
            ApiError::InvalidRequest(errors) => errors.into_iter().map(|e| e.field).collect(),
            other => panic!("not a 400: {other:?}"),
        }
    }

    #[test]
    fn a_range_is_two_rfc3339_times_in_order_within_31_days() {
        let ok = parse("2026-11-01T00:00:00Z", "2026-11-02T00:00:00+01:00").unwrap();
        assert_eq!(ok.format, Format::Json);
        assert_eq!(ok.page.limit, DEFAULT_LIMIT);
        assert_eq!(
            fields(parse("2026-11-02T00:00:00Z", "2026-11-01T00:00:00Z").unwrap_err()),
            ["to"]
        );
        assert_eq!(
            fields(parse("2026-01-01T00:00:00Z", "2026-03-01T00:00:00Z").unwrap_err()),
            ["to"]
        );
        assert_eq!(
            fields(parse("yesterday", "2026-11-01").unwrap_err()),
            ["from", "to"]
        );
        let missing = ReportQuery::parse(None, None, Some("xml"), Some("0"), None).unwrap_err();
        assert_eq!(fields(missing), ["from", "to", "format", "limit"]);
    }
}
