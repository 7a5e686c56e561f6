//! `GET /notifications`: the caller's notifications, newest first, a page at a time. Served by
//! the users-api function next to `/users/me`; written by the notify function
//! (`order_core::notification`).

use super::billing::route_key;
use super::{ApiError, caller, json_response, problem_response, query_param};
use lambda_http::http::StatusCode;
use lambda_http::{Body, Request, Response};
use order_core::notification::Notification;
use order_core::page::{Page, PageRequest};
use order_core::ports::NotificationStore;

/// The route this API answers.
pub const ROUTE: &str = "GET /notifications";

/// The notifications API over its store. Built once per process in `main`.
pub struct NotificationsApi<N> {
    pub notifications: N,
}

/// Whether `request` is for this API (API Gateway's route key, or the method and path).
pub fn serves(request: &Request) -> bool {
    route_key(request) == ROUTE
}

impl<N: NotificationStore> NotificationsApi<N> {
    /// Answers `GET /notifications`, errors as problem documents.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(page) => json_response(StatusCode::OK, &page),
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Page<Notification>, ApiError> {
        let user_id = caller(request)?;
        if !serves(request) {
            return Err(ApiError::NotFound(format!(
                "no route {}",
                route_key(request).chars().take(100).collect::<String>()
            )));
        }
        let limit = query_param(request, "limit");
        let cursor = query_param(request, "cursor");
        self.list(&user_id, limit.as_deref(), cursor.as_deref())
            .await
    }

    /// A page of the user's notifications; a bad `limit` or `cursor` is a 400 naming it.
    pub async fn list(
        &self,
        user_id: &str,
        limit: Option<&str>,
        cursor: Option<&str>,
    ) -> Result<Page<Notification>, ApiError> {
        let page = PageRequest::from_query(limit, cursor)
            .map_err(|e| ApiError::InvalidRequest(vec![e]))?;
        Ok(self.notifications.list_for_user(user_id, &page).await?)
    }
}
