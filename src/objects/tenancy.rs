//! Who owns a request: the S3 door's view of epoxy's accounts. In strict mode s3s verifies
//! every SigV4 form (header, presigned URL, aws-chunked streaming with or without trailers)
//! against the secret [`AccountsAuth`] hands it; the verified access key then names the
//! account exactly as it does for Glue. In open mode there is nothing to verify against, and
//! every caller is the open account.

use crate::auth::OPEN_ACCOUNT;
use crate::auth::accounts::Accounts;
use s3s::auth::{Credentials, S3Auth, SecretKey};
use s3s::{S3Result, s3_error};

#[derive(Clone)]
pub enum Tenancy {
    Open,
    Accounts(Accounts),
}

impl Tenancy {
    /// The account a request acts for; in strict mode its credentials were verified by s3s.
    pub fn account(&self, credentials: Option<&Credentials>) -> S3Result<String> {
        match self {
            Self::Open => Ok(OPEN_ACCOUNT.to_owned()),
            Self::Accounts(accounts) => {
                let credentials = credentials
                    .ok_or_else(|| s3_error!(AccessDenied, "Anonymous access is not allowed"))?;
                accounts
                    .get(&credentials.access_key)
                    .map(|a| a.account_id.clone())
                    .ok_or_else(|| s3_error!(InvalidAccessKeyId))
            }
        }
    }
}

/// s3s's secret-key lookup over the accounts file.
pub struct AccountsAuth(pub Accounts);

#[async_trait::async_trait]
impl S3Auth for AccountsAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        self.0
            .get(access_key)
            .map(|a| SecretKey::from(a.secret_access_key.as_str()))
            .ok_or_else(|| {
                s3_error!(
                    InvalidAccessKeyId,
                    "The AWS Access Key Id you provided does not exist in our records."
                )
            })
    }
}
