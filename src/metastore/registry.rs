//! Which catalog a metastore connection may use. Every driver process gets a random credential
//! when it is spawned; the Hive client sends it as its user name in `set_ugi` (Hadoop's simple
//! authentication takes it from `HADOOP_USER_NAME`). A credential starts unbound (the driver is
//! in the warm pool: it sees an empty catalog and cannot write), is bound to a tenant when a
//! session takes the driver, and is forgotten when the driver's handle is dropped. Anything
//! else is refused.

use crate::sessions::model::Tenant;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// The credentials of live drivers and the tenant each is bound to.
#[derive(Debug, Default)]
pub struct Registry {
    drivers: Mutex<HashMap<String, Option<Tenant>>>,
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
    pub fn new() -> Arc<Self> {
        Arc::new(Self::default())
    }

    /// A new credential for a driver about to be spawned.
    pub fn issue(self: &Arc<Self>) -> DriverCredential {
        let user = format!("epoxy-{}", uuid::Uuid::new_v4().simple());
        self.lock().insert(user.clone(), None);
        DriverCredential {
            user,
            registry: Arc::clone(self),
        }
    }

    /// The credential of a driver an earlier run of the server started (re-attached after a
    /// restart), bound to its session's tenant again.
    pub fn adopt(self: &Arc<Self>, user: &str, tenant: &Tenant) -> DriverCredential {
        self.lock().insert(user.to_string(), Some(tenant.clone()));
        DriverCredential {
            user: user.to_string(),
            registry: Arc::clone(self),
        }
    }

    pub fn access(&self, user: Option<&str>) -> Access {
        match user.and_then(|u| self.lock().get(u).cloned()) {
            Some(Some(tenant)) => Access::Bound(tenant),
            Some(None) => Access::Unbound,
            None => Access::Refused,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Option<Tenant>>> {
        self.drivers.lock().unwrap_or_else(|e| e.into_inner())
    }
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
        self.registry
            .lock()
            .insert(self.user.clone(), Some(tenant.clone()));
    }
}

impl Drop for DriverCredential {
    fn drop(&mut self) {
        self.registry.lock().remove(&self.user);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn credentials_bind_and_are_revoked_on_drop() {
        let registry = Registry::new();
        let credential = registry.issue();
        let user = credential.user_name().to_string();
        assert_eq!(registry.access(Some(&user)), Access::Unbound);
        let tenant = Tenant {
            account: "111122223333".into(),
            region: "us-east-1".into(),
        };
        credential.bind(&tenant);
        assert_eq!(registry.access(Some(&user)), Access::Bound(tenant));
        drop(credential);
        assert_eq!(registry.access(Some(&user)), Access::Refused);
        assert_eq!(registry.access(Some("epoxy-guess")), Access::Refused);
        assert_eq!(registry.access(None), Access::Refused);
    }
}
