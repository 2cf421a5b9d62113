//! Who is calling: SigV4 verification against the accounts file and the keys minted for
//! sessions' drivers, or open dev mode. Yields the tenant (account, region) every record is
//! scoped to.

pub mod accounts;
mod session_keys;
pub mod sigv4;

use crate::api::error::{ApiError, ErrorCode};
use crate::sessions::model::Tenant;
use crate::store::CredentialStore;
use accounts::Accounts;
use sigv4::{RequestParts, SigV4Error};
use std::sync::Arc;

/// The account dev mode serves when there is no accounts file.
pub const OPEN_ACCOUNT: &str = "000000000000";
/// Region when an unsigned request does not name one.
const DEFAULT_REGION: &str = "us-east-1";
/// AWS refuses requests whose date is more than 15 minutes off.
const MAX_SKEW: time::Duration = time::Duration::minutes(15);

/// An authenticated caller.
#[derive(Debug, Clone)]
pub struct Caller {
    pub tenant: Tenant,
    pub access_key_id: String,
    /// For STS GetCallerIdentity.
    pub arn: String,
    /// For STS GetCallerIdentity: the access key id for long-term keys, `AROA…:<session id>`
    /// for a session's key.
    pub user_id: String,
}

/// Which long-term keys are accepted.
pub enum Keys {
    /// Any key accepted, one shared account; for a laptop or CI.
    Open,
    /// Only the accounts file's keys, SigV4-verified.
    Accounts(Accounts),
}

/// Checks requests against the long-term keys and the session keys in the store. A session's
/// key is verified in both modes (so STS names the session's role), and refused once its
/// session has ended.
pub struct Authenticator {
    keys: Keys,
    session_keys: Arc<dyn CredentialStore>,
}

impl From<SigV4Error> for ApiError {
    fn from(e: SigV4Error) -> Self {
        let code = match e {
            SigV4Error::MissingAuthenticationToken(_) => ErrorCode::MissingAuthenticationToken,
            SigV4Error::IncompleteSignature(_) => ErrorCode::IncompleteSignature,
            SigV4Error::SignatureDoesNotMatch(_) => ErrorCode::SignatureDoesNotMatch,
            SigV4Error::RequestExpired(_) => ErrorCode::RequestExpired,
        };
        let message = match e {
            SigV4Error::MissingAuthenticationToken(m)
            | SigV4Error::IncompleteSignature(m)
            | SigV4Error::SignatureDoesNotMatch(m)
            | SigV4Error::RequestExpired(m) => m,
        };
        ApiError::new(code, message)
    }
}

/// Regions become part of ARNs and tenancy keys: only AWS-style names (`us-east-1`) are taken.
fn valid_region(region: &str) -> Result<(), ApiError> {
    if region.is_empty()
        || region.len() > 32
        || !region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return Err(ApiError::new(
            ErrorCode::IncompleteSignature,
            "Credential should be scoped to a valid region (lower-case letters, digits and '-')",
        ));
    }
    Ok(())
}

fn invalid_client_token() -> ApiError {
    ApiError::new(
        ErrorCode::InvalidClientTokenId,
        "The security token included in the request is invalid.",
    )
}

impl Authenticator {
    pub fn new(keys: Keys, session_keys: Arc<dyn CredentialStore>) -> Self {
        Self { keys, session_keys }
    }

    /// The long-term keys (the console signs users in against them).
    pub fn keys(&self) -> &Keys {
        &self.keys
    }

    /// Checks the request's signature for `service` (`glue` or `sts`) and returns the caller.
    pub async fn authenticate(
        &self,
        req: &RequestParts<'_>,
        service: &str,
    ) -> Result<Caller, ApiError> {
        let header = req
            .headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        let parsed = match (&self.keys, header) {
            (Keys::Open, Some(h)) => sigv4::parse_authorization(&h).ok(),
            (Keys::Open, None) => None,
            (Keys::Accounts(_), Some(h)) => Some(sigv4::parse_authorization(&h)?),
            (Keys::Accounts(_), None) => {
                return Err(ApiError::new(
                    ErrorCode::MissingAuthenticationToken,
                    "Missing Authentication Token",
                ));
            }
        };
        let Some(auth) = parsed else {
            return Ok(open_caller("anonymous".into(), DEFAULT_REGION.into()));
        };
        if let Keys::Accounts(accounts) = &self.keys
            && let Some(account) = accounts.get(&auth.access_key_id)
        {
            sigv4::check_scope(&auth, None, service)?;
            valid_region(&auth.region)?;
            sigv4::verify(
                &auth,
                req,
                &account.secret_access_key,
                time::OffsetDateTime::now_utc(),
                MAX_SKEW,
            )?;
            return Ok(Caller {
                arn: account
                    .user_arn
                    .clone()
                    .unwrap_or_else(|| format!("arn:aws:iam::{}:root", account.account_id)),
                tenant: Tenant {
                    account: account.account_id.clone(),
                    region: auth.region,
                },
                user_id: auth.access_key_id.clone(),
                access_key_id: auth.access_key_id,
            });
        }
        if let Some(caller) = session_keys::verify(&self.session_keys, &auth, req, service).await? {
            return Ok(caller);
        }
        match self.keys {
            Keys::Open => {
                valid_region(&auth.region)?;
                Ok(open_caller(auth.access_key_id, auth.region))
            }
            Keys::Accounts(_) => Err(invalid_client_token()),
        }
    }
}

/// Open mode's caller for any key that is not a session's.
fn open_caller(access_key_id: String, region: String) -> Caller {
    Caller {
        arn: format!("arn:aws:iam::{OPEN_ACCOUNT}:root"),
        tenant: Tenant {
            account: OPEN_ACCOUNT.into(),
            region,
        },
        user_id: access_key_id.clone(),
        access_key_id,
    }
}
