//! Email sign-in and sessions: `POST /auth/otp/send`, `POST /auth/otp/verify`,
//! `POST /refresh` and `POST /logout`.
//!
//! Sending answers the same for every address and mails in the background,
//! so neither the answer nor its timing tells which accounts exist. Codes
//! and refresh tokens are stored as hashes; a refresh token is single-use,
//! and presenting a used one revokes its whole session.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{ConnectInfo, State};
use axum::response::Response;
use axum::routing::post;
use serde_json::{Map, Value};
use tiquo_types::{CodeSent, LoggedOut, Tokens, User};

use super::json_body::JsonBody;
use super::respond::envelope_json;
use crate::auth::{DEFAULT_ORGANIZATION, Identity, TokenRequest};
use crate::clock;
use crate::domain::{CustomerFields, Email, json_object, random_id, sha256_hex};
use crate::error::ApiError;
use crate::state::AppState;
use crate::store::{NewCode, NewCustomer, RefreshOutcome, StoreError, Throttle, Totals, UserRow};

/// Wrong codes that burn a code.
const MAX_CODE_FAILURES: i64 = 5;

/// A used refresh token presented again within this window is taken for a
/// concurrent refresh (two tabs) and refused without revoking the session.
const REUSE_GRACE: Duration = Duration::from_secs(2);

/// Send limits per address: (window in ms, sends allowed in it).
const EMAIL_LIMITS: [(i64, i64); 2] = [(60_000, 1), (3_600_000, 10)];
/// Send limits per client IP.
const IP_LIMITS: [(i64, i64); 2] = [(60_000, 10), (3_600_000, 50)];

/// Random bytes in a refresh token (256 bits).
const REFRESH_BYTES: usize = 32;

pub fn router() -> Router<AppState> {
    Router::new()
        .route("/auth/otp/send", post(send_code))
        .route("/auth/otp/verify", post(verify_code))
        .route("/refresh", post(refresh))
        .route("/logout", post(logout))
}

async fn send_code(
    State(state): State<AppState>,
    ConnectInfo(peer): ConnectInfo<SocketAddr>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let fields = json_object(&body, &["email", "organizationId"])?;
    let email = email_field(fields)?;
    let organization_id = organization_field(fields)?;
    let email_key = format!("email:{organization_id}:{}", email.normalized());
    let ip_key = format!("ip:{}", peer.ip());
    let code = six_digits();
    let salt = random_id("", 16);
    let throttles = [
        Throttle {
            key: &email_key,
            limits: &EMAIL_LIMITS,
        },
        Throttle {
            key: &ip_key,
            limits: &IP_LIMITS,
        },
    ];
    let new_code = NewCode {
        organization_id: &organization_id,
        email_normalized: &email.normalized(),
        code_hash: &code_hash(&salt, &code),
        salt: &salt,
        expires_at_ms: clock::now_ms() + clock::millis(state.sign_in.otp_ttl),
    };
    state
        .store
        .record_send(&throttles, &new_code)
        .await?
        .map_err(ApiError::TooManyRequests)?;
    // Mail in the background: the answer must not wait for (or reveal
    // anything through) the mail server.
    let mailer = Arc::clone(&state.mailer);
    let ttl = state.sign_in.otp_ttl;
    let to = email.as_str().to_owned();
    tokio::spawn(async move {
        if let Err(e) = mailer.send_code(&to, &code, ttl).await {
            tracing::warn!(error = format!("{e:#}"), "sending a sign-in code failed");
        }
    });
    Ok(envelope_json(CodeSent { sent: true }))
}

async fn verify_code(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let fields = json_object(&body, &["email", "code", "organizationId"])?;
    let email = email_field(fields)?;
    let organization_id = organization_field(fields)?;
    let code = match fields.get("code") {
        Some(Value::String(code)) => code.trim().to_owned(),
        Some(_) => return Err(ApiError::field("code", "code must be a string")),
        None => return Err(ApiError::field("code", "code is required")),
    };
    let accepted = state
        .store
        .consume_code(
            &organization_id,
            &email.normalized(),
            MAX_CODE_FAILURES,
            |row| {
                let presented = code_hash(&row.salt, &code);
                aws_lc_rs::constant_time::verify_slices_are_equal(
                    presented.as_bytes(),
                    row.code_hash.as_bytes(),
                )
                .is_ok()
            },
        )
        .await?;
    if !accepted {
        return Err(ApiError::InvalidCode);
    }
    let user = state
        .store
        .user_for_email(&organization_id, email.as_str(), &email.normalized())
        .await?;
    link_customer(&state, &user, &email).await?;
    let refresh_token = random_id("rt_", REFRESH_BYTES);
    let refresh_expires = clock::now_ms() + clock::millis(state.sign_in.refresh_token_ttl);
    let session_id = state
        .store
        .create_session(
            &user.id,
            &sha256_hex(refresh_token.as_bytes()),
            refresh_expires,
        )
        .await?;
    tracing::info!(user_id = %user.id, session_id = %session_id, "signed in");
    tokens(&state, &user, session_id, refresh_token).await
}

async fn refresh(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<Response, ApiError> {
    let fields = json_object(&body, &["refresh_token"])?;
    let presented = match fields.get("refresh_token") {
        Some(Value::String(token)) if !token.is_empty() => token,
        Some(Value::String(_)) | None => {
            return Err(ApiError::field(
                "refresh_token",
                "refresh_token is required",
            ));
        }
        Some(_) => {
            return Err(ApiError::field(
                "refresh_token",
                "refresh_token must be a string",
            ));
        }
    };
    let successor = random_id("rt_", REFRESH_BYTES);
    let expires = clock::now_ms() + clock::millis(state.sign_in.refresh_token_ttl);
    let outcome = state
        .store
        .rotate_refresh(
            &sha256_hex(presented.as_bytes()),
            &sha256_hex(successor.as_bytes()),
            expires,
            clock::millis(REUSE_GRACE),
        )
        .await?;
    match outcome {
        RefreshOutcome::Rotated {
            session_id,
            user_id,
        } => {
            let user = state.store.user(&user_id).await?;
            tokens(&state, &user, session_id, successor).await
        }
        RefreshOutcome::Reused { session_id } => {
            state.revoked.insert(&session_id);
            tracing::warn!(session_id = %session_id, "refresh token reused; session revoked");
            Err(ApiError::InvalidRefreshToken)
        }
        RefreshOutcome::RaceLost | RefreshOutcome::Invalid => Err(ApiError::InvalidRefreshToken),
    }
}

async fn logout(State(state): State<AppState>, identity: Identity) -> Result<Response, ApiError> {
    let session_revoked = match &identity.session_id {
        Some(session_id) => {
            state.store.revoke_session(session_id).await?;
            state.revoked.insert(session_id);
            tracing::info!(session_id = %session_id, "logged out");
            true
        }
        None => false,
    };
    Ok(envelope_json(LoggedOut { session_revoked }))
}

/// Signs an access token for the session and answers with the pair.
async fn tokens(
    state: &AppState,
    user: &UserRow,
    session_id: String,
    refresh_token: String,
) -> Result<Response, ApiError> {
    let request = TokenRequest {
        issuer: state.issuer.to_string(),
        audience: state.audience.to_string(),
        subject: user.id.clone(),
        email: Some(user.email.clone()),
        organization_id: user.organization_id.clone(),
        ttl_secs: state.sign_in.access_token_ttl.as_secs() as i64,
        token_source: "dom".to_owned(),
        session_id: Some(session_id),
    };
    let key = state.keys.keys().signing.clone();
    // RSA signing is CPU work: keep it off the async threads.
    let issued = tokio::task::spawn_blocking(move || key.issue(&request))
        .await
        .map_err(|e| ApiError::Internal(anyhow::anyhow!("signing task failed: {e}")))??;
    Ok(envelope_json(Tokens {
        access_token: issued.access_token,
        refresh_token,
        expires_in: state.sign_in.access_token_ttl.as_secs(),
        expires_at: issued.expires_at * 1000,
        user: User {
            id: user.id.clone(),
            email: Some(user.email.clone()),
        },
    }))
}

/// Links the user to the organization's customer with this email, or
/// creates one when `--auto-create-customers` is on.
async fn link_customer(state: &AppState, user: &UserRow, email: &Email) -> Result<(), ApiError> {
    let identity = Identity {
        organization_id: user.organization_id.clone(),
        issuer: state.issuer.to_string(),
        subject: user.id.clone(),
        email: Some(email.as_str().to_owned()),
        email_verified: true,
        session_id: None,
    };
    if state.store.customer_for(&identity).await?.is_some() || !state.sign_in.auto_create_customers
    {
        return Ok(());
    }
    let created = state
        .store
        .create_customer(NewCustomer {
            organization_id: user.organization_id.clone(),
            email: email.as_str().to_owned(),
            email_normalized: email.normalized(),
            fields: CustomerFields {
                first_name: None,
                last_name: None,
                display_name: None,
                phone: None,
                profile_photo: None,
            },
            totals: Totals::default(),
            link: Some((identity.issuer.clone(), identity.subject.clone())),
        })
        .await;
    match created {
        Ok(customer) => {
            tracing::info!(customer_id = %customer.id, user_id = %user.id, "customer created at sign-in");
            Ok(())
        }
        // Created concurrently (another sign-in, an import): link to that one.
        Err(StoreError::Conflict(_)) => state
            .store
            .customer_for(&identity)
            .await
            .map(|_| ())
            .map_err(Into::into),
        Err(e) => Err(e.into()),
    }
}

/// A six-digit code, uniform over 000000–999999.
fn six_digits() -> String {
    loop {
        let mut bytes = [0u8; 4];
        aws_lc_rs::rand::fill(&mut bytes).expect("the system random generator failed");
        let n = u32::from_be_bytes(bytes);
        // Reject the top sliver so every code is equally likely.
        if n < u32::MAX - (u32::MAX % 1_000_000) {
            return format!("{:06}", n % 1_000_000);
        }
    }
}

fn code_hash(salt: &str, code: &str) -> String {
    sha256_hex(format!("{salt}:{code}").as_bytes())
}

fn email_field(fields: &Map<String, Value>) -> Result<Email, ApiError> {
    match fields.get("email") {
        Some(Value::String(email)) => Email::parse(email).map_err(|m| ApiError::field("email", m)),
        Some(_) => Err(ApiError::field("email", "email must be a string")),
        None => Err(ApiError::field("email", "email is required")),
    }
}

fn organization_field(fields: &Map<String, Value>) -> Result<String, ApiError> {
    match fields.get("organizationId") {
        None | Some(Value::Null) => Ok(DEFAULT_ORGANIZATION.to_owned()),
        Some(Value::String(org)) if !org.trim().is_empty() && org.len() <= 128 => {
            Ok(org.trim().to_owned())
        }
        Some(_) => Err(ApiError::field(
            "organizationId",
            "organizationId must be a non-empty string of at most 128 characters",
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_six_digits() {
        for _ in 0..1000 {
            let code = six_digits();
            assert_eq!(code.len(), 6);
            assert!(code.bytes().all(|b| b.is_ascii_digit()));
        }
    }
}
