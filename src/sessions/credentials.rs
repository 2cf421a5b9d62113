//! Credentials for a session's own driver, so that `boto3.client("glue")` inside a statement
//! reaches this server as the session's role with no configuration.
//!
//! Each session that takes a driver gets a fresh key (`ASIA…` id, secret, session token) in the
//! store, valid for its account only, until the session's `Timeout` has surely passed; the
//! session's end revokes it (see `migrations/0002_session_credentials.sql`). No account's
//! long-term secret ever reaches a driver: the driver's environment holds only these.

use super::model::Session;
use crate::store::{CredentialStore, NewSessionCredential, SessionStore, StoreError};
use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use sha2::{Digest, Sha256};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

/// Prefix of temporary access key ids, as AWS STS issues them.
const ACCESS_KEY_PREFIX: &str = "ASIA";
/// Prefix of role unique ids.
const ROLE_ID_PREFIX: &str = "AROA";
/// RFC 4648 base32: AWS ids use upper-case letters and digits.
const BASE32: &[u8; 32] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

/// What a session's driver signs with.
pub struct DriverCredentials {
    pub access_key_id: String,
    pub secret_access_key: String,
    pub session_token: String,
    pub expires_ms: i64,
}

/// Never prints the secret or the token.
impl std::fmt::Debug for DriverCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DriverCredentials")
            .field("access_key_id", &self.access_key_id)
            .field("secret_access_key", &"<redacted>")
            .field("session_token", &"<redacted>")
            .field("expires_ms", &self.expires_ms)
            .finish()
    }
}

/// The URL a driver on this machine calls for a server bound to `listen` (after a port-0 bind,
/// the real port): the loopback address for a loopback or unspecified bind.
pub fn endpoint_url(listen: SocketAddr) -> String {
    let ip = match listen.ip() {
        IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, listen.port()))
}

/// How drivers reach this server: its URL, and the length of a Timeout minute (shortened in
/// tests), which bounds a credential's life.
#[derive(Debug, Clone)]
pub struct DriverAccess {
    pub endpoint_url: String,
    pub minute_ms: i64,
}

impl DriverAccess {
    pub fn new(endpoint_url: String, minute: Duration) -> Self {
        Self {
            endpoint_url,
            minute_ms: (minute.as_millis() as i64).max(1),
        }
    }

    /// The handover's environment for `session` (see [`driver_env`]) with a key minted now, the
    /// store written off the async threads; empty if the session has already ended (it will
    /// not become READY). A message for ErrorMessage if the store fails.
    pub async fn handover_env(
        &self,
        store: &Arc<dyn SessionStore>,
        session: &Session,
    ) -> Result<BTreeMap<String, String>, String> {
        let (access, store, session) = (self.clone(), Arc::clone(store), session.clone());
        let issued =
            tokio::task::spawn_blocking(move || access.issue(&*store, &session, super::now_ms()))
                .await
                .map_err(|e| format!("could not mint the session's credentials: {e}"))?;
        match issued {
            Ok(env) => Ok(env.unwrap_or_default()),
            Err(e) => {
                tracing::error!(error = %e, "could not store a session's credentials");
                Err(format!("could not mint the session's credentials: {e}"))
            }
        }
    }

    /// Mints `session`'s credentials and returns the driver environment that carries them;
    /// `None` if the session has already ended (nothing is stored then).
    pub fn issue(
        &self,
        store: &dyn CredentialStore,
        session: &Session,
        now_ms: i64,
    ) -> Result<Option<BTreeMap<String, String>>, StoreError> {
        let Some(credentials) = mint(store, session, self.lifetime_ms(session.timeout), now_ms)?
        else {
            return Ok(None);
        };
        Ok(Some(driver_env(
            &credentials,
            &self.endpoint_url,
            &session.tenant.region,
        )))
    }

    /// The session's Timeout plus one minute: the timeout sweep ends the session (and so the
    /// key) first; expiry is the backstop should that end never be recorded. The Timeout counts
    /// from READY, which follows minting, so the key never runs out before its session.
    fn lifetime_ms(&self, timeout_minutes: u32) -> i64 {
        (i64::from(timeout_minutes) + 1) * self.minute_ms
    }
}

/// At start: the keys of an earlier run's drivers go with those drivers, whatever their
/// sessions' records say (a control-plane-only restart leaves sessions READY).
pub fn revoke_earlier_runs(store: &dyn CredentialStore, now_ms: i64) -> Result<(), StoreError> {
    let revoked = store.revoke_all_session_credentials(now_ms)?;
    if revoked > 0 {
        tracing::info!(
            revoked,
            "revoked the session keys of an earlier run's drivers"
        );
    }
    Ok(())
}

/// Stores a new key for `session`, valid `lifetime_ms` from `now_ms`.
pub fn mint(
    store: &dyn CredentialStore,
    session: &Session,
    lifetime_ms: i64,
    now_ms: i64,
) -> Result<Option<DriverCredentials>, StoreError> {
    let credentials = DriverCredentials {
        access_key_id: format!("{ACCESS_KEY_PREFIX}{}", base32(&random_bytes(10))),
        secret_access_key: BASE64.encode(random_bytes(30)),
        session_token: BASE64.encode(random_bytes(96)),
        expires_ms: now_ms.saturating_add(lifetime_ms),
    };
    let role = session
        .spec()
        .map_err(|e| StoreError::Corrupt(format!("session settings: {e}")))?
        .role;
    let (arn, user_id) = assumed_role(&session.tenant.account, &role, &session.id);
    let token_sha256: [u8; 32] = Sha256::digest(credentials.session_token.as_bytes()).into();
    let stored = store.insert_session_credential(NewSessionCredential {
        session_key: session.key,
        access_key_id: &credentials.access_key_id,
        secret: &credentials.secret_access_key,
        token_sha256: &token_sha256,
        arn: &arn,
        user_id: &user_id,
        created_ms: now_ms,
        expires_ms: credentials.expires_ms,
    })?;
    Ok(stored.then_some(credentials))
}

/// The identity STS reports for a session: `arn:aws:sts::<account>:assumed-role/<role
/// name>/<session id>` and `<role id>:<session id>`, as for a role assumed with the session id
/// as its session name. The role id is stable per (account, role), as AWS's is per role.
pub fn assumed_role(account: &str, role_arn: &str, session_id: &str) -> (String, String) {
    let role_name = role_arn
        .rsplit('/')
        .find(|segment| !segment.is_empty())
        .unwrap_or(role_arn);
    let digest = Sha256::digest(format!("{account}\0{role_arn}").as_bytes());
    let role_id = format!("{ROLE_ID_PREFIX}{}", &base32(&digest)[..17]);
    (
        format!("arn:aws:sts::{account}:assumed-role/{role_name}/{session_id}"),
        format!("{role_id}:{session_id}"),
    )
}

/// What boto3, the AWS CLI and the other SDKs read: this server as the endpoint of every
/// service, the session's region and key. The shared config and credentials files point at
/// nothing, so the server user's `~/.aws` cannot override or add to them, and no SDK probes
/// the EC2 metadata service for other credentials.
pub fn driver_env(
    credentials: &DriverCredentials,
    endpoint_url: &str,
    region: &str,
) -> BTreeMap<String, String> {
    let expiration = time::OffsetDateTime::from_unix_timestamp(credentials.expires_ms / 1000)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        });
    let mut env: BTreeMap<String, String> = [
        ("AWS_ENDPOINT_URL", endpoint_url),
        ("AWS_ENDPOINT_URL_GLUE", endpoint_url),
        ("AWS_ENDPOINT_URL_STS", endpoint_url),
        ("AWS_REGION", region),
        ("AWS_DEFAULT_REGION", region),
        ("AWS_ACCESS_KEY_ID", &credentials.access_key_id),
        ("AWS_SECRET_ACCESS_KEY", &credentials.secret_access_key),
        ("AWS_SESSION_TOKEN", &credentials.session_token),
        ("AWS_CONFIG_FILE", "/dev/null"),
        ("AWS_SHARED_CREDENTIALS_FILE", "/dev/null"),
        ("AWS_EC2_METADATA_DISABLED", "true"),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(expiration) = expiration {
        env.insert("AWS_CREDENTIAL_EXPIRATION".into(), expiration);
    }
    env
}

/// `n` bytes from the OS's random source (through UUIDv4, 122 random bits per 16 bytes).
pub fn random_bytes(n: usize) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(n + 16);
    while bytes.len() < n {
        let uuid = uuid::Uuid::new_v4().into_bytes();
        // Skip the version and variant nibbles' bytes so every byte is fully random.
        bytes.extend(uuid.iter().enumerate().filter_map(|(i, b)| match i {
            6 | 8 => None,
            _ => Some(*b),
        }));
    }
    bytes.truncate(n);
    bytes
}

/// Unpadded base32 (5 bits per character).
fn base32(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() * 8 / 5 + 1);
    let (mut buffer, mut bits) = (0u32, 0u32);
    for &b in bytes {
        buffer = (buffer << 8) | u32::from(b);
        bits += 8;
        while bits >= 5 {
            bits -= 5;
            out.push(BASE32[((buffer >> bits) & 31) as usize] as char);
        }
    }
    if bits > 0 {
        out.push(BASE32[((buffer << (5 - bits)) & 31) as usize] as char);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_for_loopback_unspecified_and_specific_binds() {
        let url = |s: &str| endpoint_url(s.parse().unwrap());
        assert_eq!(url("127.0.0.1:4747"), "http://127.0.0.1:4747");
        assert_eq!(url("0.0.0.0:5000"), "http://127.0.0.1:5000");
        assert_eq!(url("[::]:5000"), "http://[::1]:5000");
        assert_eq!(url("10.1.2.3:80"), "http://10.1.2.3:80");
    }

    #[test]
    fn assumed_role_names_the_last_path_segment() {
        let (arn, user_id) = assumed_role(
            "111122223333",
            "arn:aws:iam::999999999999:role/service-role/GlueRole",
            "s-1",
        );
        assert_eq!(arn, "arn:aws:sts::111122223333:assumed-role/GlueRole/s-1");
        let (role_id, session) = user_id.split_once(':').unwrap();
        assert_eq!(session, "s-1");
        assert_eq!(role_id.len(), 21);
        assert!(role_id.starts_with("AROA"));
        assert!(role_id.bytes().all(|b| BASE32.contains(&b)));
        // Stable per role, different per account.
        let again = assumed_role(
            "111122223333",
            "arn:aws:iam::999999999999:role/service-role/GlueRole",
            "s-2",
        );
        assert!(again.1.starts_with(role_id));
        assert!(
            !assumed_role("444455556666", "arn:aws:iam::1:role/GlueRole", "s-1")
                .1
                .starts_with(role_id)
        );
    }

    #[test]
    fn keys_look_like_sts_keys_and_differ() {
        assert_eq!(base32(b"foobar"), "MZXW6YTBOI");
        let a = format!("{ACCESS_KEY_PREFIX}{}", base32(&random_bytes(10)));
        let b = format!("{ACCESS_KEY_PREFIX}{}", base32(&random_bytes(10)));
        assert_eq!(a.len(), 20);
        assert_ne!(a, b);
        assert_eq!(BASE64.encode(random_bytes(30)).len(), 40);
    }
}
