//! Who is calling: SigV4 verification against the accounts file, or open dev mode. Yields the
//! tenant (account, region) every record is scoped to.

pub mod accounts;
pub mod sigv4;

use crate::api::error::{ApiError, ErrorCode};
use crate::sessions::model::Tenant;
use accounts::Accounts;
use sigv4::{RequestParts, SigV4Error};

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
}

pub enum Authenticator {
    /// Any key accepted, one shared account; for a laptop or CI.
    Open,
    SigV4(Accounts),
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

impl Authenticator {
    /// Checks the request's signature for `service` (`glue` or `sts`) and returns the caller.
    pub fn authenticate(&self, req: &RequestParts<'_>, service: &str) -> Result<Caller, ApiError> {
        let header = req
            .headers
            .get("authorization")
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
        match self {
            Self::Open => {
                let parsed = header
                    .as_deref()
                    .and_then(|h| sigv4::parse_authorization(h).ok());
                let (key, region) = parsed
                    .map(|a| (a.access_key_id, a.region))
                    .unwrap_or_else(|| ("anonymous".into(), DEFAULT_REGION.into()));
                valid_region(&region)?;
                Ok(Caller {
                    arn: format!("arn:aws:iam::{OPEN_ACCOUNT}:root"),
                    tenant: Tenant {
                        account: OPEN_ACCOUNT.into(),
                        region,
                    },
                    access_key_id: key,
                })
            }
            Self::SigV4(accounts) => {
                let header = header.ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::MissingAuthenticationToken,
                        "Missing Authentication Token",
                    )
                })?;
                let auth = sigv4::parse_authorization(&header)?;
                let account = accounts.get(&auth.access_key_id).ok_or_else(|| {
                    ApiError::new(
                        ErrorCode::InvalidClientTokenId,
                        "The security token included in the request is invalid.",
                    )
                })?;
                sigv4::check_scope(&auth, None, service)?;
                valid_region(&auth.region)?;
                sigv4::verify(
                    &auth,
                    req,
                    &account.secret_access_key,
                    time::OffsetDateTime::now_utc(),
                    MAX_SKEW,
                )?;
                Ok(Caller {
                    arn: account
                        .user_arn
                        .clone()
                        .unwrap_or_else(|| format!("arn:aws:iam::{}:root", account.account_id)),
                    tenant: Tenant {
                        account: account.account_id.clone(),
                        region: auth.region,
                    },
                    access_key_id: auth.access_key_id,
                })
            }
        }
    }
}
