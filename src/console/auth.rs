//! Who is looking at the console: nobody to check in open mode; with `--accounts`, a sign-in
//! with an access key id and its secret, then a signed, expiring, HttpOnly, SameSite=Strict
//! cookie naming the account. Every POST carries a CSRF token bound to that cookie.

use crate::auth::{Authenticator, Keys, OPEN_ACCOUNT};
use crate::sessions::model::Tenant;
use hmac::{Hmac, Mac};
use http::HeaderMap;
use sha2::Sha256;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// The cookie's name.
pub const COOKIE: &str = "epoxy_console";
/// How long a sign-in lasts.
pub const SIGN_IN_TTL: Duration = Duration::from_secs(8 * 3600);
/// The region of open-mode consoles and the default of the sign-in form.
pub const DEFAULT_REGION: &str = "us-east-1";

/// A signed-in (or open-mode) viewer: the tenancy they see and their CSRF token.
#[derive(Debug, Clone)]
pub struct Viewer {
    pub tenant: Tenant,
    pub csrf: String,
    /// False in open mode: there is nothing to sign out of.
    pub signed_in: bool,
}

/// Signs and checks console cookies with a key made at server start (a restart signs
/// everyone out, which is also how a key would be rotated).
pub struct ConsoleAuth {
    auth: Arc<Authenticator>,
    key: Vec<u8>,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// Region names as SigV4 scopes allow them.
pub fn valid_region(region: &str) -> bool {
    !region.is_empty()
        && region.len() <= 32
        && region
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
}

impl ConsoleAuth {
    pub fn new(auth: Arc<Authenticator>) -> Self {
        let key = [uuid::Uuid::new_v4(), uuid::Uuid::new_v4()]
            .iter()
            .flat_map(|u| *u.as_bytes())
            .collect();
        Self { auth, key }
    }

    fn mac(&self, parts: &[&str]) -> String {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        for part in parts {
            mac.update(part.as_bytes());
            mac.update(b"\0");
        }
        hex::encode(mac.finalize().into_bytes())
    }

    /// Whether the console asks for a sign-in at all.
    pub fn is_open(&self) -> bool {
        matches!(self.auth.keys(), Keys::Open)
    }

    /// Checks an access key id + secret against the accounts file; the cookie value on success.
    pub fn sign_in(&self, access_key_id: &str, secret: &str, region: &str) -> Option<String> {
        let Keys::Accounts(accounts) = self.auth.keys() else {
            return None;
        };
        let account = accounts.get(access_key_id)?;
        // Compare MACs, not the secrets, so the comparison's time says nothing about them.
        let given = self.mac(&["secret", secret]);
        let expected = self.mac(&["secret", &account.secret_access_key]);
        if given != expected || !valid_region(region) {
            return None;
        }
        let expires = (now_secs() + SIGN_IN_TTL.as_secs()).to_string();
        let signature = self.mac(&["cookie", &account.account_id, region, &expires]);
        Some(format!(
            "{}.{region}.{expires}.{signature}",
            account.account_id
        ))
    }

    /// The viewer a request comes from, or None when it must sign in first.
    pub fn viewer(&self, headers: &HeaderMap) -> Option<Viewer> {
        if self.is_open() {
            return Some(Viewer {
                tenant: Tenant {
                    account: OPEN_ACCOUNT.into(),
                    region: DEFAULT_REGION.into(),
                },
                csrf: self.mac(&["csrf", "open"]),
                signed_in: false,
            });
        }
        let cookie = cookie_value(headers, COOKIE)?;
        let mut parts = cookie.split('.');
        let (account, region, expires, signature) =
            (parts.next()?, parts.next()?, parts.next()?, parts.next()?);
        if parts.next().is_some()
            || self.mac(&["cookie", account, region, expires]) != signature
            || expires.parse::<u64>().ok()? <= now_secs()
        {
            return None;
        }
        Some(Viewer {
            tenant: Tenant {
                account: account.into(),
                region: region.into(),
            },
            csrf: self.mac(&["csrf", cookie]),
            signed_in: true,
        })
    }

    /// The Set-Cookie value for a sign-in (or, with `None`, for signing out).
    pub fn set_cookie(value: Option<&str>) -> String {
        match value {
            Some(v) => format!(
                "{COOKIE}={v}; Path=/; HttpOnly; SameSite=Strict; Max-Age={}",
                SIGN_IN_TTL.as_secs()
            ),
            None => format!("{COOKIE}=; Path=/; HttpOnly; SameSite=Strict; Max-Age=0"),
        }
    }
}

/// A cookie from the request's Cookie headers.
fn cookie_value<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::accounts::Accounts;

    fn strict() -> ConsoleAuth {
        let accounts = Accounts::parse(
            "[[account]]\naccess_key_id = \"AKIAALICE00000000000\"\nsecret_access_key = \"alice-secret\"\naccount_id = \"111111111111\"\n",
        )
        .expect("accounts");
        let dir = tempfile::tempdir().expect("temp dir");
        let store =
            crate::store::sqlite::SqliteStore::open(&dir.path().join("epoxy.db")).expect("store");
        ConsoleAuth::new(Arc::new(Authenticator::new(
            Keys::Accounts(accounts),
            Arc::new(store),
        )))
    }

    fn with_cookie(value: &str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(
            http::header::COOKIE,
            format!("other=1; {COOKIE}={value}").parse().unwrap(),
        );
        headers
    }

    #[test]
    fn a_signed_cookie_names_the_account_and_a_forged_one_nothing() {
        let auth = strict();
        assert!(
            auth.sign_in("AKIAALICE00000000000", "wrong", "us-east-1")
                .is_none()
        );
        assert!(
            auth.sign_in("AKIANOBODY0000000000", "alice-secret", "us-east-1")
                .is_none()
        );
        let cookie = auth
            .sign_in("AKIAALICE00000000000", "alice-secret", "eu-west-1")
            .expect("signed in");
        let viewer = auth.viewer(&with_cookie(&cookie)).expect("viewer");
        assert_eq!(viewer.tenant.account, "111111111111");
        assert_eq!(viewer.tenant.region, "eu-west-1");
        let forged = cookie.replacen("111111111111", "222222222222", 1);
        assert!(auth.viewer(&with_cookie(&forged)).is_none());
        assert!(auth.viewer(&HeaderMap::new()).is_none());
        // Another server's key signs nothing here.
        assert!(strict().viewer(&with_cookie(&cookie)).is_none());
    }
}
