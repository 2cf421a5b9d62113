//! CreateSession, GetSession, ListSessions, StopSession, DeleteSession, GetSystemLogsForSession,
//! GetSessionEndpoint.

use super::error::{ApiError, ErrorCode};
use super::strict;
use super::validate as v;
use super::{Context, epoch_seconds};
use crate::runtime::dpu_per_worker;
use crate::sessions::model::{Command, Connections, Session, SessionSpec};
use crate::sessions::{NewSessionRequest, SessionService, now_ms};
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::BTreeMap;

/// Glue's defaults for Spark ETL sessions.
const DEFAULT_TIMEOUT_MINUTES: i64 = 2880;
const DEFAULT_WORKER_TYPE: &str = "G.1X";
const DEFAULT_WORKERS: i64 = 5;
const DEFAULT_GLUE_VERSION: &str = "5.0";
const MIN_CAPACITY: f64 = 2.0;

const WORKER_TYPES: &[&str] = &[
    "Standard", "G.1X", "G.2X", "G.4X", "G.8X", "G.025X", "Z.2X", "G.12X", "G.16X", "R.1X", "R.2X",
    "R.4X", "R.8X",
];

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct CreateSessionInput {
    id: Option<String>,
    description: Option<String>,
    role: Option<String>,
    #[serde(default, deserialize_with = "strict::object")]
    command: Option<Command>,
    timeout: Option<i64>,
    idle_timeout: Option<i64>,
    #[serde(default, deserialize_with = "strict::unique_map")]
    default_arguments: Option<BTreeMap<String, String>>,
    #[serde(default, deserialize_with = "strict::object")]
    connections: Option<Connections>,
    max_capacity: Option<f64>,
    number_of_workers: Option<i64>,
    worker_type: Option<String>,
    security_configuration: Option<String>,
    glue_version: Option<String>,
    #[serde(default, deserialize_with = "strict::unique_map")]
    tags: Option<BTreeMap<String, String>>,
    request_origin: Option<String>,
    session_type: Option<String>,
}

/// Requests that name one session: GetSession, StopSession, DeleteSession, GetSystemLogsForSession.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionIdInput {
    id: Option<String>,
    request_origin: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListSessionsInput {
    next_token: Option<String>,
    max_results: Option<i64>,
    #[serde(default, deserialize_with = "strict::unique_map")]
    tags: Option<BTreeMap<String, String>>,
    request_origin: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct SessionEndpointInput {
    session_id: Option<String>,
}

pub fn request_origin(origin: &Option<String>) -> Result<(), ApiError> {
    origin
        .as_deref()
        .map_or(Ok(()), |o| v::token("RequestOrigin", o))
}

impl SessionIdInput {
    fn validate(&self) -> Result<&str, ApiError> {
        let id = v::required("Id", &self.id)?;
        v::name("Id", id)?;
        request_origin(&self.request_origin)?;
        Ok(id)
    }
}

impl CreateSessionInput {
    /// Every model constraint and Glue's cross-field rules; defaults applied.
    fn validate(self) -> Result<NewSessionRequest, ApiError> {
        let id = v::required("Id", &self.id)?.clone();
        v::name("Id", &id)?;
        let role = v::required("Role", &self.role)?.clone();
        v::role_arn("Role", &role)?;
        let mut command = v::required("Command", &self.command)?.clone();
        // Interactive sessions are Spark ETL unless told otherwise.
        let name = command.name.get_or_insert_with(|| "glueetl".to_string());
        v::name("Command.Name", name)?;
        v::one_of("Command.Name", name, &["glueetl", "gluestreaming"])?;
        if let Some(py) = &command.python_version {
            v::one_of("Command.PythonVersion", py, &["2", "3", "3.9"])?;
        }
        if let Some(d) = &self.description {
            v::length("Description", d, 0, 2048)?;
            v::multi_line("Description", d)?;
        }
        let timeout = self.timeout.unwrap_or(DEFAULT_TIMEOUT_MINUTES);
        v::range("Timeout", timeout, 1, DEFAULT_TIMEOUT_MINUTES)?;
        let idle_timeout = self.idle_timeout.unwrap_or(timeout);
        v::range("IdleTimeout", idle_timeout, 1, DEFAULT_TIMEOUT_MINUTES)?;
        let default_arguments = self.default_arguments.unwrap_or_default();
        v::count("DefaultArguments", default_arguments.len(), 75)?;
        for (k, val) in &default_arguments {
            v::token("DefaultArguments.key", k)?;
            v::length(&format!("DefaultArguments.{k}"), val, 0, 4096)?;
            v::multi_line(&format!("DefaultArguments.{k}"), val)?;
        }
        if let Some(list) = self
            .connections
            .as_ref()
            .and_then(|c| c.connections.as_ref())
        {
            v::count("Connections.Connections", list.len(), 1000)?;
            for c in list {
                v::length("Connections.Connections.member", c, 0, 255)?;
            }
        }
        if let Some(sc) = &self.security_configuration {
            v::name("SecurityConfiguration", sc)?;
        }
        let glue_version = self
            .glue_version
            .unwrap_or_else(|| DEFAULT_GLUE_VERSION.to_string());
        v::glue_version("GlueVersion", &glue_version)?;
        let tags = self.tags.unwrap_or_default();
        v::tags("Tags", &tags)?;
        request_origin(&self.request_origin)?;
        let session_type = self.session_type.unwrap_or_else(|| "LIVY".to_string());
        v::one_of("SessionType", &session_type, &["LIVY", "SPARK_CONNECT"])?;
        if session_type == "SPARK_CONNECT" {
            return Err(ApiError::new(
                ErrorCode::OperationNotSupported,
                "SessionType SPARK_CONNECT is not supported by epoxy; use LIVY (statement) sessions",
            ));
        }
        // Without any sizing, Glue's default: G.1X × 5 (the Glue kernel's %status reads both).
        let (worker_type, number_of_workers) =
            match (&self.worker_type, self.number_of_workers, self.max_capacity) {
                (None, None, None) => {
                    (Some(DEFAULT_WORKER_TYPE.to_string()), Some(DEFAULT_WORKERS))
                }
                _ => (self.worker_type, self.number_of_workers),
            };
        let max_capacity = capacity(worker_type.as_deref(), number_of_workers, self.max_capacity)?;
        let number_of_workers = number_of_workers.map(|n| n as u32);
        Ok(NewSessionRequest {
            id,
            spec: SessionSpec {
                description: self.description,
                role,
                command,
                idle_timeout: idle_timeout as u32,
                default_arguments,
                connections: self.connections,
                max_capacity,
                number_of_workers,
                worker_type,
                security_configuration: self.security_configuration,
                glue_version,
                session_type,
            },
            timeout: timeout as u32,
            tags,
        })
    }
}

/// Glue's sizing rules: WorkerType and NumberOfWorkers come together and exclude MaxCapacity;
/// MaxCapacity = workers × DPU per worker; G.1X × 5 when nothing is given; alone, at least 2.
fn capacity(
    worker_type: Option<&str>,
    workers: Option<i64>,
    max_capacity: Option<f64>,
) -> Result<f64, ApiError> {
    match (worker_type, workers, max_capacity) {
        (Some(_), _, Some(_)) | (_, Some(_), Some(_)) => Err(ApiError::invalid_input(
            "MaxCapacity cannot be set together with WorkerType and NumberOfWorkers; use one or the other",
        )),
        (Some(w), Some(n), None) => {
            v::one_of("WorkerType", w, WORKER_TYPES)?;
            v::range("NumberOfWorkers", n, 2, 10_000)?;
            let dpu = dpu_per_worker(w)
                .ok_or_else(|| ApiError::invalid_input(format!("Unknown WorkerType {w}")))?;
            Ok(dpu * n as f64)
        }
        (Some(w), None, None) => {
            v::one_of("WorkerType", w, WORKER_TYPES)?;
            Err(ApiError::invalid_input(
                "WorkerType requires NumberOfWorkers; set both or neither",
            ))
        }
        (None, Some(_), None) => Err(ApiError::invalid_input(
            "NumberOfWorkers requires WorkerType; set both or neither",
        )),
        (None, None, Some(c)) => {
            if !(MIN_CAPACITY..=10_000.0).contains(&c) {
                return Err(ApiError::invalid_input(format!(
                    "1 validation error detected: Value at 'MaxCapacity' failed to satisfy constraint: Member must be between {MIN_CAPACITY} and 10000 DPU (got {c})"
                )));
            }
            Ok(c)
        }
        (None, None, None) => capacity(Some(DEFAULT_WORKER_TYPE), Some(DEFAULT_WORKERS), None),
    }
}

/// The state members of `Session`, which change over its life; the rest is the stored spec.
#[derive(Serialize)]
#[serde(rename_all = "PascalCase")]
struct SessionState<'a> {
    id: &'a str,
    created_on: f64,
    status: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    completed_on: Option<f64>,
    progress: f64,
    execution_time: f64,
    #[serde(rename = "DPUSeconds")]
    dpu_seconds: f64,
}

/// The model's `Session` shape: every member that applies, none it lacks (no Timeout, no Tags).
/// The stored spec is already wire JSON, so it is spliced in rather than decoded and re-encoded
/// (ListSessions writes 100 of these per page).
pub fn session_json(s: &Session, out: &mut String) {
    let now = now_ms();
    let state = SessionState {
        id: &s.id,
        created_on: epoch_seconds(s.created_ms),
        status: s.status.as_str(),
        error_message: s.error_message.as_deref(),
        completed_on: s.completed_ms.map(epoch_seconds),
        progress: 0.0,
        execution_time: s.execution_seconds(now),
        dpu_seconds: s.dpu_seconds(now),
    };
    let state = serde_json::to_string(&state).expect("plain data serialises");
    out.push_str(state.strip_suffix('}').unwrap_or(&state));
    let spec = s.spec_json.trim();
    let members = spec
        .strip_prefix('{')
        .and_then(|m| m.strip_suffix('}'))
        .unwrap_or("")
        .trim();
    if !members.is_empty() {
        out.push(',');
        out.push_str(members);
    }
    out.push('}');
}

/// `{"Session": …}` for CreateSession and GetSession.
fn session_reply(s: &Session) -> String {
    let mut out = String::from("{\"Session\":");
    session_json(s, &mut out);
    out.push('}');
    out
}

pub async fn create(
    service: &SessionService,
    ctx: &Context,
    input: CreateSessionInput,
) -> Result<String, ApiError> {
    let request = input.validate()?;
    let session = service.create_session(&ctx.tenant, request).await?;
    Ok(session_reply(&session))
}

pub async fn get(
    service: &SessionService,
    ctx: &Context,
    input: SessionIdInput,
) -> Result<String, ApiError> {
    let id = input.validate()?;
    let session = service.session(&ctx.tenant, id).await?;
    Ok(session_reply(&session))
}

pub async fn list(
    service: &SessionService,
    ctx: &Context,
    input: ListSessionsInput,
) -> Result<String, ApiError> {
    let max = input.max_results.unwrap_or(100);
    v::range("MaxResults", max, 1, 1000)?;
    if let Some(t) = &input.next_token {
        v::length("NextToken", t, 0, 400_000)?;
    }
    let tags = input.tags.unwrap_or_default();
    v::tags("Tags", &tags)?;
    request_origin(&input.request_origin)?;
    let (page, next) = service
        .list_sessions(&ctx.tenant, tags, max as usize, input.next_token.as_deref())
        .await?;
    let ids: Vec<&str> = page.iter().map(|s| s.id.as_str()).collect();
    let mut out =
        String::with_capacity(256 + page.iter().map(|s| s.spec_json.len() + 256).sum::<usize>());
    out.push_str("{\"Ids\":");
    out.push_str(&serde_json::to_string(&ids).expect("strings serialise"));
    out.push_str(",\"Sessions\":[");
    for (i, session) in page.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        session_json(session, &mut out);
    }
    out.push(']');
    if let Some(next) = next {
        out.push_str(",\"NextToken\":");
        out.push_str(&serde_json::to_string(&next).expect("strings serialise"));
    }
    out.push('}');
    Ok(out)
}

pub async fn stop(
    service: &SessionService,
    ctx: &Context,
    input: SessionIdInput,
) -> Result<String, ApiError> {
    let id = input.validate()?;
    service.stop_session(&ctx.tenant, id).await?;
    Ok(json!({ "Id": id }).to_string())
}

pub async fn delete(
    service: &SessionService,
    ctx: &Context,
    input: SessionIdInput,
) -> Result<String, ApiError> {
    let id = input.validate()?;
    service.delete_session(&ctx.tenant, id).await?;
    Ok(json!({ "Id": id }).to_string())
}

pub async fn system_logs(
    service: &SessionService,
    ctx: &Context,
    input: SessionIdInput,
) -> Result<String, ApiError> {
    let id = input.validate()?;
    let token = service.log_token(&ctx.tenant, id).await?;
    Ok(json!({ "SystemLogsUrl": format!("{}/logs/{token}", ctx.base_url) }).to_string())
}

pub async fn endpoint(
    service: &SessionService,
    ctx: &Context,
    input: SessionEndpointInput,
) -> Result<String, ApiError> {
    let id = v::required("SessionId", &input.session_id)?;
    v::name("SessionId", id)?;
    service.session(&ctx.tenant, id).await?;
    Err(ApiError::new(
        ErrorCode::OperationNotSupported,
        format!(
            "Session {id} is a LIVY session; Spark Connect endpoints are not supported by epoxy"
        ),
    ))
}

#[cfg(test)]
mod tests {
    use super::capacity;

    #[test]
    fn capacity_rules() {
        assert_eq!(capacity(Some("G.1X"), Some(5), None), Ok(5.0));
        assert_eq!(capacity(Some("G.025X"), Some(2), None), Ok(0.5));
        assert_eq!(capacity(Some("R.2X"), Some(2), None), Ok(4.0));
        assert_eq!(capacity(None, None, None), Ok(5.0));
        assert_eq!(capacity(None, None, Some(10.0)), Ok(10.0));
        assert!(capacity(Some("G.1X"), None, None).is_err());
        assert!(capacity(None, Some(3), None).is_err());
        assert!(capacity(Some("G.1X"), Some(3), Some(3.0)).is_err());
        assert!(capacity(Some("G.3X"), Some(3), None).is_err());
        assert!(capacity(None, None, Some(1.0)).is_err());
        assert!(capacity(Some("G.1X"), Some(0), None).is_err());
    }
}
