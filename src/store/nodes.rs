//! Several epoxy nodes on one store: their leases, who owns which session, the fenced writes of
//! an owner, and the wake-ups one node sends another. The node that runs a session's driver owns
//! the session; any node answers reads and queues requests in the store, then wakes the owner.
//! A node whose lease runs out (on the store's clock) has its sessions taken over by another, by
//! compare-and-swap on the session's owner epoch; every write of an owner names the epoch it
//! holds, so a node that lost a session (paused past its lease, say) changes nothing.

use super::{DriverRecord, StatementUpdate, StoreError};
use crate::sessions::model::{
    Owner, Session, SessionStatus, StatementOutput, StatementState, Tenant,
};

/// A node as it registers.
pub struct NodeRegistration<'a> {
    pub node_id: &'a str,
    /// How other nodes reach it (for what lives on its disk).
    pub advertise_url: &'a str,
    /// Session drivers it runs at once.
    pub capacity: usize,
    pub started_ms: i64,
    /// Where drivers reach its metastore (`host:port`).
    pub metastore: Option<&'a str>,
}

/// A live node and the live sessions it owns (for placing new sessions).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeLoad {
    pub node_id: String,
    pub advertise_url: String,
    pub capacity: i64,
    pub live_sessions: i64,
    /// Where drivers reach its metastore (`host:port`).
    pub metastore: Option<String>,
}

impl NodeLoad {
    /// Driver slots left (negative once sessions queue).
    pub fn free(&self) -> i64 {
        self.capacity - self.live_sessions
    }
}

/// An owner's hold on one session: what every write of the owner names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fence {
    pub key: i64,
    pub node: String,
    pub epoch: i64,
}

/// A session a node owns, with what its owner has to act on (the owner's re-scan).
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedSession {
    pub session: Session,
    /// A statement waits to run.
    pub waiting: bool,
    /// The statement a caller asked to cancel, if one is CANCELLING.
    pub cancelling: Option<i64>,
    /// The store has a record of its driver.
    pub has_driver: bool,
}

/// A write only a session's owner makes (its task's records of the driver and statements).
pub enum OwnerWrite<'a> {
    /// As [`super::SessionStore::transition`]; applied = the session moved.
    Transition {
        to: SessionStatus,
        message: Option<&'a str>,
    },
    /// As [`super::SessionStore::update_statement`].
    Statement {
        id: i64,
        from: &'a [StatementState],
        update: StatementUpdate<'a>,
    },
    /// As [`super::SessionStore::touch`].
    Touch,
    /// As [`super::SessionStore::set_driver_record`].
    DriverRecord(Option<&'a DriverRecord>),
    /// As [`super::SessionStore::finish_pending_statements`].
    FinishPending {
        state: StatementState,
        output: &'a StatementOutput,
    },
}

/// The wake-ups a node receives: a session to look at, or `None` when some may have been
/// missed (the listening connection was re-made) and everything should be looked at.
pub type Wakeups = tokio::sync::mpsc::UnboundedReceiver<Option<i64>>;

pub trait NodeStore {
    /// Registers `node` (again, after a restart), its lease starting now.
    fn register_node(&self, node: NodeRegistration<'_>) -> Result<(), StoreError>;
    /// Renews the node's lease; false if its row is gone (it must register again).
    fn heartbeat(&self, node_id: &str) -> Result<bool, StoreError>;
    /// Nodes whose lease holds, with the live sessions each owns.
    fn live_nodes(&self, lease_ms: i64) -> Result<Vec<NodeLoad>, StoreError>;
    /// The tenant of the live session whose recorded driver presents `metastore_user` as its
    /// metastore credential: what a node's metastore asks of a driver another node started.
    fn driver_tenant(&self, metastore_user: &str) -> Result<Option<Tenant>, StoreError>;
    /// How to reach a node, alive or not.
    fn node_url(&self, node_id: &str) -> Result<Option<String>, StoreError>;
    /// Live sessions owned by no node or by one whose lease ran out: to be taken over.
    fn orphaned_sessions(&self, lease_ms: i64) -> Result<Vec<Session>, StoreError>;
    /// Takes session `key` for `node` if it is still held as `held` (compare-and-swap) and its
    /// holder is `node` itself, no node, or a node whose lease ran out; the epoch goes up by
    /// one. A PROVISIONING session makes `node` its home (it provisions there again). The new
    /// hold, or `None` if the session moved meanwhile.
    fn claim_session(
        &self,
        key: i64,
        held: &Owner,
        node: &str,
        lease_ms: i64,
    ) -> Result<Option<Fence>, StoreError>;
    /// The sessions `node` owns that may need it: live ones, and ended ones whose driver is
    /// still recorded (a timed-out session's driver to stop).
    fn owned_sessions(&self, node: &str) -> Result<Vec<OwnedSession>, StoreError>;
    /// Applies `writes` in one transaction while `fence` holds (whether each applied);
    /// `StoreError::Fenced`, changing nothing, once another hold replaced it.
    fn owner_writes(
        &self,
        fence: &Fence,
        at_ms: i64,
        writes: &[OwnerWrite<'_>],
    ) -> Result<Vec<bool>, StoreError>;
    /// Wakes `node` about session `key`; nothing where one node is all there is.
    fn notify(&self, node: &str, key: i64) -> Result<(), StoreError>;
    /// The wake-ups other nodes send `node`; `None` where there are none (one node).
    fn listen(&self, node: &str) -> Option<Wakeups>;
}

/// A wake-up's payload: the session key, in decimal. Anything else is ignored (logged).
pub fn parse_wakeup(payload: &str) -> Option<i64> {
    if payload.is_empty() || payload.len() > 19 || !payload.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    payload.parse().ok()
}

/// The PostgreSQL channel a node listens on (an identifier: letters, digits, `_`).
pub fn channel_name(node_id: &str) -> String {
    let safe: String = node_id
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("epoxy_node_{safe}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wakeups_are_session_keys_only() {
        assert_eq!(parse_wakeup("42"), Some(42));
        assert_eq!(parse_wakeup("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "-1",
            "1.0",
            " 1",
            "x",
            "99999999999999999999",
            "9223372036854775808",
        ] {
            assert_eq!(parse_wakeup(bad), None, "{bad}");
        }
    }

    #[test]
    fn channel_names_are_identifiers() {
        assert_eq!(channel_name("a1-b2"), "epoxy_node_a1_b2");
        assert!(
            channel_name("x'; DROP")
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_')
        );
    }
}
