//! RunStatement, GetStatement, ListStatements, CancelStatement.

use super::Context;
use super::error::ApiError;
use super::sessions::request_origin;
use super::validate as v;
use crate::sessions::SessionService;
use crate::sessions::model::{Statement, StatementOutput};
use serde::Deserialize;
use serde_json::{Value, json};

/// `OrchestrationStatementCodeString` max length.
const MAX_CODE_CHARS: usize = 68_000;

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct RunStatementInput {
    session_id: Option<String>,
    code: Option<String>,
    request_origin: Option<String>,
}

/// GetStatement and CancelStatement.
#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct StatementIdInput {
    session_id: Option<String>,
    id: Option<i64>,
    request_origin: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct ListStatementsInput {
    session_id: Option<String>,
    next_token: Option<String>,
    request_origin: Option<String>,
}

fn session_id<'a>(id: &'a Option<String>, origin: &Option<String>) -> Result<&'a str, ApiError> {
    let id = v::required("SessionId", id)?;
    v::name("SessionId", id)?;
    request_origin(origin)?;
    Ok(id)
}

impl StatementIdInput {
    fn validate(&self) -> Result<(&str, i64), ApiError> {
        let sid = session_id(&self.session_id, &self.request_origin)?;
        let id = *v::required("Id", &self.id)?;
        v::range("Id", id, 0, i64::from(i32::MAX))?;
        Ok((sid, id))
    }
}

/// The model's `Statement`: Id, Progress, StartedOn and CompletedOn always present as numbers
/// (smithy SDKs read them as non-optional), Output once the state is final.
fn statement_json(s: &Statement) -> Value {
    let mut out = json!({
        "Id": s.id,
        "Code": s.code,
        "State": s.state.as_str(),
        "Progress": s.progress,
        "StartedOn": s.started_ms,
        "CompletedOn": s.completed_ms,
    });
    if let Some(o) = &s.output {
        let mut output = json!({
            "Data": output_data(o),
            "ExecutionCount": s.id,
            "Status": o.status,
        });
        if let Some(name) = &o.error_name {
            output["ErrorName"] = json!(name);
            output["ErrorValue"] = json!(o.error_value.as_deref().unwrap_or(""));
            output["Traceback"] = json!(o.traceback);
        }
        out["Output"] = output;
    }
    out
}

/// `StatementOutputData`: `{TextPlain}` for plain statements, the only key the Glue kernel shows
/// as text. A picture takes the members the kernel's `display_result` reads for images instead;
/// the model names only `TextPlain`, and SDKs skip members they do not know.
fn output_data(o: &StatementOutput) -> Value {
    match &o.picture {
        None => json!({ "TextPlain": o.text }),
        Some(p) => json!({
            "MimeType": p.mime_type,
            "Result": p.data,
            "StdOut": o.text,
            "StdErr": p.stderr,
        }),
    }
}

pub async fn run(
    service: &SessionService,
    ctx: &Context,
    input: RunStatementInput,
) -> Result<String, ApiError> {
    let sid = session_id(&input.session_id, &input.request_origin)?;
    let code = v::required("Code", &input.code)?;
    if code.trim().is_empty() {
        return Err(ApiError::invalid_input("Code must not be empty"));
    }
    v::length("Code", code, 1, MAX_CODE_CHARS)?;
    let id = service
        .run_statement(&ctx.tenant, sid, code.clone())
        .await?;
    Ok(json!({ "Id": id }).to_string())
}

pub async fn get(
    service: &SessionService,
    ctx: &Context,
    input: StatementIdInput,
) -> Result<String, ApiError> {
    let (sid, id) = input.validate()?;
    let statement = service.get_statement(&ctx.tenant, sid, id).await?;
    Ok(json!({ "Statement": statement_json(&statement) }).to_string())
}

pub async fn list(
    service: &SessionService,
    ctx: &Context,
    input: ListStatementsInput,
) -> Result<String, ApiError> {
    let sid = session_id(&input.session_id, &input.request_origin)?;
    if let Some(t) = &input.next_token {
        v::length("NextToken", t, 0, 400_000)?;
    }
    let (page, next) = service
        .list_statements(&ctx.tenant, sid, input.next_token.as_deref())
        .await?;
    let mut out = json!({ "Statements": page.iter().map(statement_json).collect::<Vec<_>>() });
    if let Some(next) = next {
        out["NextToken"] = json!(next);
    }
    Ok(out.to_string())
}

pub async fn cancel(
    service: &SessionService,
    ctx: &Context,
    input: StatementIdInput,
) -> Result<String, ApiError> {
    let (sid, id) = input.validate()?;
    service.cancel_statement(&ctx.tenant, sid, id).await?;
    Ok(json!({}).to_string())
}
