//! `PUT /users/me` and `GET /users/me`: the caller's own profile, keyed by the JWT `sub`.

use super::{
    ApiError, MAX_BODY_BYTES, body_bytes, caller, json_response, problem_response, require_json,
};
use lambda_http::http::{Method, StatusCode};
use lambda_http::{Body, Request, Response};
use order_core::clock::Clock;
use order_core::ports::{ProfileSaved, ProfileStore};
use order_core::profile::{Profile, ProfileRequest};

/// The profiles API over its store. Built once per process in `main`.
pub struct ProfilesApi<P> {
    pub profiles: P,
    pub clock: Box<dyn Clock>,
}

impl<P: ProfileStore> ProfilesApi<P> {
    /// Answers both routes of `/users/me`, errors as problem documents.
    pub async fn handle(&self, request: &Request) -> Response<Body> {
        match self.route(request).await {
            Ok(response) => response,
            Err(error) => problem_response(&error),
        }
    }

    async fn route(&self, request: &Request) -> Result<Response<Body>, ApiError> {
        let user_id = caller(request)?;
        match *request.method() {
            Method::GET => {
                let profile = self.get_profile(&user_id).await?;
                Ok(json_response(StatusCode::OK, &profile))
            }
            Method::PUT => {
                require_json(request)?;
                let (saved, profile) = self.put_profile(&user_id, body_bytes(request)).await?;
                let status = match saved {
                    ProfileSaved::Created => StatusCode::CREATED,
                    _ => StatusCode::OK,
                };
                Ok(json_response(status, &profile))
            }
            _ => Err(ApiError::NotFound(format!(
                "no route {} /users/me",
                request.method()
            ))),
        }
    }

    /// Replaces the caller's profile with the body's, stamped with the clock's time.
    pub async fn put_profile(
        &self,
        user_id: &str,
        body: &[u8],
    ) -> Result<(ProfileSaved, Profile), ApiError> {
        if body.len() > MAX_BODY_BYTES {
            return Err(ApiError::PayloadTooLarge(body.len()));
        }
        let json: serde_json::Value =
            serde_json::from_slice(body).map_err(|e| ApiError::MalformedJson(e.to_string()))?;
        let request = ProfileRequest::from_json(&json).map_err(ApiError::InvalidRequest)?;
        let profile = request.into_profile(user_id, self.clock.now());
        match self.profiles.save_profile(&profile).await? {
            ProfileSaved::Superseded => Err(ApiError::Conflict(
                "a newer change to this profile was saved meanwhile; read it and try again".into(),
            )),
            saved => Ok((saved, profile)),
        }
    }

    /// The caller's profile; before their first `PUT` there is none.
    pub async fn get_profile(&self, user_id: &str) -> Result<Profile, ApiError> {
        self.profiles
            .profile(user_id)
            .await?
            .ok_or_else(|| ApiError::NotFound("no profile yet; PUT /users/me creates it".into()))
    }
}
