//! The domain records the service keeps: sessions, statements and their states.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

/// Who owns a record: every read and write is scoped to the caller's account and region.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Tenant {
    pub account: String,
    pub region: String,
}

impl Tenant {
    /// The ARN Glue gives a session; the Glue kernel builds exactly this for GetTags.
    pub fn session_arn(&self, id: &str) -> String {
        format!(
            "arn:aws:glue:{}:{}:session/{}",
            self.region, self.account, id
        )
    }
}

/// `SessionCommand` as given at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Command {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub python_version: Option<String>,
}

/// `ConnectionsList` as given at creation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "PascalCase")]
pub struct Connections {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Vec<String>>,
}

/// The settings of a session that GetSession echoes, fixed at creation (validated, defaults
/// applied). Serialised with the wire's member names and stored that way, so listing sessions
/// copies them out without decoding. `Timeout` is not among them: the `Session` shape lacks it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionSpec {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    pub role: String,
    pub command: Command,
    pub idle_timeout: u32,
    #[serde(skip_serializing_if = "BTreeMap::is_empty", default)]
    pub default_arguments: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub connections: Option<Connections>,
    pub max_capacity: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub number_of_workers: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub worker_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub security_configuration: Option<String>,
    pub glue_version: String,
    pub session_type: String,
}

macro_rules! string_enum {
    ($(#[$doc:meta])* $name:ident { $($variant:ident => $text:literal),+ $(,)? }) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name { $($variant),+ }

        impl $name {
            pub fn as_str(self) -> &'static str {
                match self { $(Self::$variant => $text),+ }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $name {
            type Err = String;
            fn from_str(s: &str) -> Result<Self, String> {
                match s {
                    $($text => Ok(Self::$variant),)+
                    other => Err(format!("unknown {} {other:?}", stringify!($name))),
                }
            }
        }
    };
}

string_enum!(
    /// `SessionStatus`; the legal moves are in [`SessionStatus::can_become`].
    SessionStatus {
        Provisioning => "PROVISIONING",
        Ready => "READY",
        Failed => "FAILED",
        Timeout => "TIMEOUT",
        Stopping => "STOPPING",
        Stopped => "STOPPED",
    }
);

impl SessionStatus {
    /// The lifecycle: PROVISIONING → READY → STOPPING → STOPPED, with FAILED and TIMEOUT exits.
    pub fn can_become(self, next: SessionStatus) -> bool {
        use SessionStatus::*;
        matches!(
            (self, next),
            (Provisioning, Ready | Failed | Stopping)
                | (Ready, Stopping | Failed | Timeout)
                | (Stopping, Stopped | Failed)
        )
    }

    /// States that hold (or are about to hold) a driver.
    pub fn is_live(self) -> bool {
        matches!(self, Self::Provisioning | Self::Ready | Self::Stopping)
    }

    /// All states that may move to `next`; the store uses this as the guard of an update.
    pub fn sources_of(next: SessionStatus) -> Vec<SessionStatus> {
        use SessionStatus::*;
        [Provisioning, Ready, Failed, Timeout, Stopping, Stopped]
            .into_iter()
            .filter(|s| s.can_become(next))
            .collect()
    }
}

string_enum!(
    /// `StatementState`, the same values as Livy's.
    StatementState {
        Waiting => "WAITING",
        Running => "RUNNING",
        Available => "AVAILABLE",
        Cancelling => "CANCELLING",
        Cancelled => "CANCELLED",
        Error => "ERROR",
    }
);

/// A stored session.
#[derive(Debug, Clone, PartialEq)]
pub struct Session {
    /// The store's key; stable across restarts, used for log files and driver bookkeeping.
    pub key: i64,
    pub tenant: Tenant,
    pub id: String,
    /// The stored [`SessionSpec`] JSON, as it goes on the wire.
    pub spec_json: String,
    /// Minutes from READY until TIMEOUT.
    pub timeout: u32,
    pub max_capacity: f64,
    pub status: SessionStatus,
    pub error_message: Option<String>,
    pub created_ms: i64,
    pub ready_ms: Option<i64>,
    pub completed_ms: Option<i64>,
    pub last_activity_ms: i64,
    /// The node that runs the session's driver, and the epoch of its hold (see [`Owner`]).
    pub owner: Owner,
    /// The node whose data dir has the session's log and work dirs (it started the driver).
    pub home_node: Option<String>,
}

/// Who runs a session: a node, and the epoch of its hold. Every take-over (a restart, another
/// node adopting a dead node's sessions) raises the epoch, and every write of the owner must
/// name the epoch it holds, so a node that lost a session can no longer change it.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Owner {
    pub node: Option<String>,
    pub epoch: i64,
}

/// Glue bills every session that ran for at least one minute.
pub const MIN_BILLED_SECONDS: f64 = 60.0;

impl Session {
    /// Seconds from READY to the end (or to `now_ms` while the session still runs).
    pub fn execution_seconds(&self, now_ms: i64) -> f64 {
        match self.ready_ms {
            Some(ready) => (self.completed_ms.unwrap_or(now_ms) - ready).max(0) as f64 / 1000.0,
            None => 0.0,
        }
    }

    /// DPU-seconds = execution time × MaxCapacity; once the session has ended, Glue's
    /// one-minute billing minimum applies.
    pub fn dpu_seconds(&self, now_ms: i64) -> f64 {
        if self.ready_ms.is_none() {
            return 0.0;
        }
        let seconds = self.execution_seconds(now_ms);
        let billed = match self.completed_ms {
            Some(_) => seconds.max(MIN_BILLED_SECONDS),
            None => seconds,
        };
        billed * self.max_capacity
    }

    /// The creation settings, decoded (only where a field is needed, e.g. to start a driver).
    pub fn spec(&self) -> Result<SessionSpec, serde_json::Error> {
        serde_json::from_str(&self.spec_json)
    }
}

/// `StatementOutput`, present once a statement is final.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StatementOutput {
    /// `ok` or `error`, as Livy and the Glue kernel use them.
    pub status: String,
    pub text: String,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub error_value: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty", default)]
    pub traceback: Vec<String>,
    /// What a statement ending in `%matplot`/`%plotly` drew; `text` is then its stdout only.
    /// Absent in rows stored before pictures existed, which read back as plain output.
    #[serde(skip_serializing_if = "Option::is_none", default)]
    pub picture: Option<StatementPicture>,
}

/// A statement's picture, in the form the Glue kernel shows: `Data.MimeType`, `Data.Result`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatementPicture {
    /// `image/png;base64`: the kernel decodes the base64 and shows the PNG.
    pub mime_type: String,
    /// The base64 PNG.
    pub data: String,
    /// What the statement wrote to stderr (the kernel shows it apart from stdout).
    pub stderr: String,
}

impl From<crate::runtime::driver::Picture> for StatementPicture {
    fn from(p: crate::runtime::driver::Picture) -> Self {
        Self {
            mime_type: p.mime_type,
            data: p.data,
            stderr: p.stderr,
        }
    }
}

impl StatementOutput {
    pub fn ok(text: String) -> Self {
        Self {
            status: "ok".into(),
            text,
            error_name: None,
            error_value: None,
            traceback: Vec::new(),
            picture: None,
        }
    }

    /// A successful statement that drew `picture` and printed `stdout`.
    pub fn picture(stdout: String, picture: StatementPicture) -> Self {
        Self {
            picture: Some(picture),
            ..Self::ok(stdout)
        }
    }

    pub fn error(text: String, name: &str, value: String, traceback: Vec<String>) -> Self {
        Self {
            status: "error".into(),
            text,
            error_name: Some(name.into()),
            error_value: Some(value),
            traceback,
            picture: None,
        }
    }
}

/// A stored statement.
#[derive(Debug, Clone, PartialEq)]
pub struct Statement {
    pub id: i64,
    pub code: String,
    pub state: StatementState,
    pub output: Option<StatementOutput>,
    pub progress: f64,
    pub started_ms: i64,
    pub completed_ms: i64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lifecycle_allows_only_the_documented_moves() {
        use SessionStatus::*;
        assert!(Provisioning.can_become(Ready));
        assert!(Ready.can_become(Timeout));
        assert!(Stopping.can_become(Stopped));
        assert!(!Stopped.can_become(Ready));
        assert!(!Timeout.can_become(Ready));
        assert!(!Ready.can_become(Provisioning));
        assert!(!Failed.can_become(Stopping));
        assert_eq!(SessionStatus::sources_of(Stopped), vec![Stopping]);
    }

    #[test]
    fn outputs_stored_before_pictures_read_back_as_plain_output() {
        let stored = r#"{"status":"ok","text":"42"}"#;
        let output: StatementOutput = serde_json::from_str(stored).unwrap();
        assert_eq!(output, StatementOutput::ok("42".into()));
        // ...and plain output is still stored without the new member.
        assert_eq!(serde_json::to_string(&output).unwrap(), stored);
    }

    #[test]
    fn picture_output_round_trips() {
        let output = StatementOutput::picture(
            "printed\n".into(),
            StatementPicture {
                mime_type: "image/png;base64".into(),
                data: "iVBORw0KGgo=".into(),
                stderr: "warned\n".into(),
            },
        );
        let stored = serde_json::to_string(&output).unwrap();
        assert_eq!(
            serde_json::from_str::<StatementOutput>(&stored).unwrap(),
            output
        );
    }
}
