//! Who owns a request: the S3 door's view of epoxy's accounts. In strict mode s3s verifies
//! every SigV4 form (header, presigned URL, aws-chunked streaming with or without trailers)
//! against the secret [`AccountsAuth`] hands it; the verified access key then names the
//! account exactly as it does for Glue. In open mode there is nothing to verify against, and
//! every caller is the open account.
//!
//! Keys minted for sessions' drivers (`ASIA…`, see `auth::session_keys`) are accepted as the
//! Glue door accepts them: only with their session token, only until they expire, only while
//! their session lives. [`check_session_key`] runs before s3s (it sees the token and answers
//! S3's codes); the secret and the account come from the same store record. A key's life is
//! its session's: once the session ended (its key revoked) or the key passed its expiry, S3
//! answers `ExpiredToken`, as AWS does for temporary credentials whose time is over — the
//! code SDKs and S3A take as "get new credentials", not as a bad key.

use crate::auth::OPEN_ACCOUNT;
use crate::auth::accounts::Accounts;
use crate::store::{CredentialStore, SessionCredential};
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::{S3Result, s3_error};
use sha2::{Digest, Sha256};
use std::sync::Arc;

/// Every minted session key starts so (as STS's temporary keys do); others skip the lookup.
const SESSION_KEY_PREFIX: &str = "ASIA";

#[derive(Clone)]
pub enum Tenancy {
    Open,
    Accounts {
        accounts: Accounts,
        /// Where the sessions' minted keys are recorded.
        store: Arc<dyn CredentialStore>,
    },
}

impl Tenancy {
    /// The account a request acts for; in strict mode its credentials were verified by s3s.
    pub async fn account(&self, credentials: Option<&Credentials>) -> S3Result<String> {
        match self {
            Self::Open => Ok(OPEN_ACCOUNT.to_owned()),
            Self::Accounts { accounts, store } => {
                let credentials = credentials
                    .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
                if let Some(account) = accounts.get(&credentials.access_key) {
                    return Ok(account.account_id.clone());
                }
                live_session_key(store, &credentials.access_key)
                    .await
                    .map(|c| c.tenant.account)
            }
        }
    }
}

/// The store's record of a session key, or `None` for a key that is not one.
async fn session_key(
    store: &Arc<dyn CredentialStore>,
    access_key: &str,
) -> S3Result<Option<SessionCredential>> {
    if !access_key.starts_with(SESSION_KEY_PREFIX) {
        return Ok(None);
    }
    let store = Arc::clone(store);
    let key = access_key.to_owned();
    match tokio::task::spawn_blocking(move || store.session_credential(&key)).await {
        Ok(Ok(found)) => Ok(found),
        Ok(Err(e)) => {
            tracing::error!(error = %e, "session key lookup failed");
            Err(s3_error!(
                InternalError,
                "The request could not be authenticated"
            ))
        }
        Err(e) => {
            tracing::error!(error = %e, "session key lookup task failed");
            Err(s3_error!(
                InternalError,
                "The request could not be authenticated"
            ))
        }
    }
}

fn unknown_key() -> s3s::S3Error {
    s3_error!(
        InvalidAccessKeyId,
        "The AWS Access Key Id you provided does not exist in our records."
    )
}

/// `Err(ExpiredToken)` once the key's session ended (revoked) or the key expired.
fn still_valid(stored: SessionCredential) -> S3Result<SessionCredential> {
    if stored.revoked_ms.is_some() || crate::sessions::now_ms() >= stored.expires_ms {
        return Err(s3_error!(ExpiredToken, "The provided token has expired."));
    }
    Ok(stored)
}

/// A session key that is neither revoked nor expired (the token was checked before s3s).
async fn live_session_key(
    store: &Arc<dyn CredentialStore>,
    access_key: &str,
) -> S3Result<SessionCredential> {
    session_key(store, access_key)
        .await?
        .ok_or_else(unknown_key)
        .and_then(still_valid)
}

/// Checks a session key's token, revocation and expiry before s3s verifies the signature:
/// `Ok` for keys that are not session keys (s3s and the accounts file decide those).
pub async fn check_session_key(
    store: &Arc<dyn CredentialStore>,
    access_key: &str,
    token: Option<&[u8]>,
) -> S3Result<()> {
    let Some(stored) = session_key(store, access_key).await? else {
        return Ok(());
    };
    // The token first: only its holder learns that the key's time is over. Digests of the
    // client's input: comparing them reveals nothing about the token.
    if token.map(Sha256::digest).as_deref() != Some(stored.token_sha256.as_slice()) {
        return Err(s3_error!(
            InvalidToken,
            "The provided token is malformed or otherwise invalid."
        ));
    }
    still_valid(stored).map(drop)
}

/// s3s's secret-key lookup: the accounts file, then the live session keys.
pub struct AccountsAuth {
    pub accounts: Accounts,
    pub store: Arc<dyn CredentialStore>,
}

#[async_trait::async_trait]
impl S3Auth for AccountsAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        if let Some(account) = self.accounts.get(access_key) {
            return Ok(SecretKey::from(account.secret_access_key.as_str()));
        }
        live_session_key(&self.store, access_key)
            .await
            .map(|c| SecretKey::from(c.secret.as_str()))
    }
}
