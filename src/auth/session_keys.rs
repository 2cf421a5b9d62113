//! Keys minted for sessions' drivers (`sessions::credentials`), verified against the store, the
//! one record of them. Such a key is good only with its session token, only until it expires,
//! and only while its session lives; it names the session's account and assumed role.
//!
//! Refusals use the codes AWS answers for temporary credentials: an unknown or revoked key, or
//! a missing or wrong token → `InvalidClientTokenId` ("The security token included in the
//! request is invalid."); a key past its expiry → `ExpiredToken` ("… is expired"; Glue's JSON
//! protocol spells it `ExpiredTokenException`).

use super::sigv4::{self, Authorization, RequestParts};
use super::{Caller, MAX_SKEW, invalid_client_token, valid_region};
use crate::api::error::{ApiError, ErrorCode};
use crate::sessions::model::Tenant;
use crate::store::CredentialStore;
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Every minted access key id starts so (as STS's temporary keys do); others skip the lookup.
const PREFIX: &str = "ASIA";

/// The caller a session key proves, or `None` when `auth` names no session key (the caller
/// then treats it as any other key).
pub async fn verify(
    store: &Arc<dyn CredentialStore>,
    auth: &Authorization,
    req: &RequestParts<'_>,
    service: &str,
) -> Result<Option<Caller>, ApiError> {
    if !auth.access_key_id.starts_with(PREFIX) {
        return Ok(None);
    }
    let lookup = {
        let store = Arc::clone(store);
        let key = auth.access_key_id.clone();
        tokio::task::spawn_blocking(move || store.session_credential(&key)).await
    };
    let stored = match lookup {
        Ok(Ok(stored)) => stored,
        Ok(Err(e)) => {
            tracing::error!(error = %e, "session key lookup failed");
            return Err(ApiError::internal(format!(
                "The request could not be authenticated: {e}"
            )));
        }
        Err(e) => {
            return Err(ApiError::internal(format!(
                "The request could not be authenticated: lookup task failed: {e}"
            )));
        }
    };
    let Some(stored) = stored else {
        return Ok(None);
    };
    if stored.revoked_ms.is_some() {
        return Err(invalid_client_token());
    }
    let token = req
        .headers
        .get("x-amz-security-token")
        .map(|v| Sha256::digest(v.as_bytes()));
    // Digests of the client's input: comparing them reveals nothing about the token.
    if token.as_deref() != Some(stored.token_sha256.as_slice()) {
        return Err(invalid_client_token());
    }
    if crate::sessions::now_ms() >= stored.expires_ms {
        return Err(ApiError::new(
            ErrorCode::ExpiredToken,
            "The security token included in the request is expired",
        ));
    }
    sigv4::check_scope(auth, None, service)?;
    valid_region(&auth.region)?;
    sigv4::verify(
        auth,
        req,
        &stored.secret,
        time::OffsetDateTime::now_utc(),
        MAX_SKEW,
    )?;
    Ok(Some(Caller {
        tenant: Tenant {
            account: stored.tenant.account,
            region: auth.region.clone(),
        },
        access_key_id: auth.access_key_id.clone(),
        arn: stored.arn,
        user_id: stored.user_id,
    }))
}
