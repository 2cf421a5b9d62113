//! Which catalog a metastore connection may use. Every driver process gets a credential when it
//! is spawned; the Hive client sends it as its user name in `set_ugi` (Hadoop's simple
//! authentication takes it from `HADOOP_USER_NAME`). A credential starts unbound (the driver is
//! in the warm pool: it sees an empty catalog and cannot write), is bound to a tenant when a
//! session takes the driver, and is forgotten when the driver's handle is dropped. Anything
//! else is refused.
//!
//! With several nodes on one store a driver's Hive client lists every node's metastore and may
//! use any of them (Hive shuffles the list, and moves on when one dies), so a metastore also
//! answers the drivers of other nodes: an unbound credential is signed with the store's secret
//! that all nodes share, and a bound one is looked up in the store (the driver record of a live
//! session), the answer kept for a few seconds.

use crate::sessions::model::Tenant;
use crate::store::Store;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How long another node's driver's binding, as read from the store, is trusted before it is
/// read again (a session that ended elsewhere loses its catalog within this).
const SHARED_TTL: Duration = Duration::from_secs(5);

/// The signature's length in an unbound credential.
const MAC_BYTES: usize = 16;

/// The credentials of live drivers and the tenant each is bound to.
pub struct Registry {
    drivers: Mutex<HashMap<String, Option<Tenant>>>,
    /// Other nodes' drivers' bindings as the store had them, and when they were read.
    shared: Mutex<HashMap<String, (Tenant, Instant)>>,
    /// The store the nodes share; none in unit tests.
    store: Option<Arc<dyn Store>>,
    /// Signs unbound credentials (the store's secret: every node of the store has it).
    key: Vec<u8>,
    /// Marks the credentials this process issued, so one it dropped is refused here.
    issuer: String,
}

impl std::fmt::Debug for Registry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registry")
            .field("issuer", &self.issuer)
            .finish_non_exhaustive()
    }
}

/// What a connection presenting a credential may do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Access {
    /// Read and write this tenant's catalog.
    Bound(Tenant),
    /// A warm-pool driver no session has taken yet.
    Unbound,
    /// Not a live driver's credential (or none given).
    Refused,
}

impl Registry {
    /// A registry of this process's drivers only, with a key of its own.
    pub fn new() -> Arc<Self> {
        Self::with(None, uuid::Uuid::new_v4().as_bytes().to_vec())
    }

    /// A registry that also answers for the drivers of the other nodes on `store`.
    pub fn shared(store: Arc<dyn Store>) -> Result<Arc<Self>, crate::store::StoreError> {
        let key = store.secret()?;
        Ok(Self::with(Some(store), key))
    }

    fn with(store: Option<Arc<dyn Store>>, key: Vec<u8>) -> Arc<Self> {
        Arc::new(Self {
            drivers: Mutex::default(),
            shared: Mutex::default(),
            store,
            key,
            issuer: uuid::Uuid::new_v4().simple().to_string()[..8].to_string(),
        })
    }

    /// A new credential for a driver about to be spawned.
    pub fn issue(self: &Arc<Self>) -> DriverCredential {
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let body = format!("{}-{nonce}", self.issuer);
        let user = format!("epoxy-{body}-{}", hex::encode(self.sign(&body)));
        lock(&self.drivers).insert(user.clone(), None);
        DriverCredential {
            user,
            registry: Arc::clone(self),
        }
    }

    /// The credential of a driver an earlier run of the server (or another node) started,
    /// re-attached and bound to its session's tenant again.
    pub fn adopt(self: &Arc<Self>, user: &str, tenant: &Tenant) -> DriverCredential {
        lock(&self.drivers).insert(user.to_string(), Some(tenant.clone()));
        DriverCredential {
            user: user.to_string(),
            registry: Arc::clone(self),
        }
    }

    pub async fn access(&self, user: Option<&str>) -> Access {
        let Some(user) = user else {
            return Access::Refused;
        };
        if let Some(known) = lock(&self.drivers).get(user).cloned() {
            return known.map_or(Access::Unbound, Access::Bound);
        }
        if let Some((tenant, read)) = lock(&self.shared).get(user).cloned()
            && read.elapsed() < SHARED_TTL
        {
            return Access::Bound(tenant);
        }
        if let Some(tenant) = self.stored_binding(user).await {
            let mut shared = lock(&self.shared);
            // Bindings past their trust are read again anyway: drop them (drivers that are gone).
            shared.retain(|_, (_, read)| read.elapsed() < SHARED_TTL);
            shared.insert(user.to_string(), (tenant.clone(), Instant::now()));
            return Access::Bound(tenant);
        }
        lock(&self.shared).remove(user);
        if self.issued_elsewhere(user) {
            Access::Unbound
        } else {
            Access::Refused
        }
    }

    /// The tenant of the live session whose driver (on whichever node) has `user`.
    async fn stored_binding(&self, user: &str) -> Option<Tenant> {
        let store = Arc::clone(self.store.as_ref()?);
        let user = user.to_string();
        match tokio::task::spawn_blocking(move || store.driver_tenant(&user)).await {
            Ok(Ok(found)) => found,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "metastore: cannot look a driver's credential up");
                None
            }
            Err(_) => None,
        }
    }

    /// Whether `user` is an unbound credential another node (or an earlier run) signed.
    fn issued_elsewhere(&self, user: &str) -> bool {
        let Some((body, mac)) = user
            .strip_prefix("epoxy-")
            .and_then(|rest| rest.rsplit_once('-'))
        else {
            return false;
        };
        let Ok(mac) = hex::decode(mac) else {
            return false;
        };
        let issuer = body.split_once('-').map_or(body, |(issuer, _)| issuer);
        issuer != self.issuer
            && mac.len() == MAC_BYTES
            && self.mac(body).verify_truncated_left(&mac).is_ok()
    }

    fn sign(&self, body: &str) -> Vec<u8> {
        self.mac(body).finalize().into_bytes()[..MAC_BYTES].to_vec()
    }

    fn mac(&self, body: &str) -> Hmac<Sha256> {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.key).expect("HMAC takes any key");
        mac.update(b"epoxy metastore credential\0");
        mac.update(body.as_bytes());
        mac
    }
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

/// One driver's metastore credential; dropping it revokes it.
#[derive(Debug)]
pub struct DriverCredential {
    user: String,
    registry: Arc<Registry>,
}

impl DriverCredential {
    /// The user name the driver's Hive client presents.
    pub fn user_name(&self) -> &str {
        &self.user
    }

    /// From now on the driver's connections use `tenant`'s catalog (a session took it).
    pub fn bind(&self, tenant: &Tenant) {
        lock(&self.registry.drivers).insert(self.user.clone(), Some(tenant.clone()));
    }
}

impl Drop for DriverCredential {
    fn drop(&mut self) {
        lock(&self.registry.drivers).remove(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant() -> Tenant {
        Tenant {
            account: "111122223333".into(),
            region: "us-east-1".into(),
        }
    }

    #[tokio::test]
    async fn credentials_bind_and_are_revoked_on_drop() {
        let registry = Registry::new();
        let credential = registry.issue();
        let user = credential.user_name().to_string();
        assert_eq!(registry.access(Some(&user)).await, Access::Unbound);
        credential.bind(&tenant());
        assert_eq!(registry.access(Some(&user)).await, Access::Bound(tenant()));
        drop(credential);
        assert_eq!(registry.access(Some(&user)).await, Access::Refused);
        assert_eq!(registry.access(Some("epoxy-guess")).await, Access::Refused);
        assert_eq!(registry.access(None).await, Access::Refused);
    }

    #[tokio::test]
    async fn another_issuer_with_the_same_key_is_unbound_and_a_forgery_is_refused() {
        let key = b"the store's secret".to_vec();
        let (a, b) = (
            Registry::with(None, key.clone()),
            Registry::with(None, key.clone()),
        );
        let credential = a.issue();
        let user = credential.user_name().to_string();
        assert_eq!(b.access(Some(&user)).await, Access::Unbound);
        // Binding is never taken from the name: only the issuing node or the store binds.
        credential.bind(&tenant());
        assert_eq!(b.access(Some(&user)).await, Access::Unbound);
        let other_key = Registry::with(None, b"another store".to_vec());
        assert_eq!(other_key.access(Some(&user)).await, Access::Refused);
        let (body, mac) = user.rsplit_once('-').unwrap();
        let mut flipped = mac.to_string().into_bytes();
        flipped[0] = if flipped[0] == b'0' { b'1' } else { b'0' };
        let forged = format!("{body}-{}", String::from_utf8(flipped).unwrap());
        assert_eq!(b.access(Some(&forged)).await, Access::Refused);
        for junk in [
            "epoxy-",
            "epoxy--",
            "epoxy-x-y-zz",
            "epoxy-a-b-",
            "other-user",
        ] {
            assert_eq!(b.access(Some(junk)).await, Access::Refused, "{junk}");
        }
    }
}
