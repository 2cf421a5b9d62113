//! The web console at `/console`: server-rendered HTML (minijinja templates, escaped by
//! default) with a little script that refreshes fragments. It is a door like the Glue API:
//! it reads and changes sessions only through [`SessionService`], and reads the Data Catalog
//! and S3 only through their services, for the viewer's tenancy.

mod auth;
mod buckets;
mod catalog;
mod cost;
mod sparkui;
mod timeline;

pub use auth::ConsoleAuth;

use crate::api::error::{ApiError, ErrorCode};
use crate::auth::Authenticator;
use crate::catalog::CatalogService;
use crate::objects::ObjectService;
use crate::protocol::peer::{PEER_HEADER, node_authority};
use crate::sessions::model::{Session, SessionStatus, Statement, StatementState};
use crate::sessions::nodes::SparkUiAt;
use crate::sessions::{SessionService, now_ms};
use auth::Viewer;
use axum::Router;
use axum::body::Bytes;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::Uri;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use serde::{Deserialize, Serialize};
use sha2::Digest as _;
use std::collections::BTreeMap;
use std::sync::Arc;

/// Sessions per list page.
const PAGE: usize = 25;
/// Most ListSessions calls one filtered page may take (a status filter skips rows).
const MAX_PAGE_CALLS: usize = 20;
/// Sessions the cost chart reads at most.
const MAX_COST_SESSIONS: usize = 20_000;
/// How often a session page's timeline is redrawn while a statement runs.
const TIMELINE_REFRESH_MS: i64 = 5_000;
/// How much of a driver log the page shows.
const LOG_TAIL_BYTES: u64 = 64 * 1024;

/// The console's shared state: the services it calls, its sign-in checker and its templates.
pub struct Console {
    service: Arc<SessionService>,
    catalog: Arc<CatalogService>,
    /// The built-in S3 (`None` with `--s3-endpoint`).
    objects: Option<ObjectService>,
    auth: ConsoleAuth,
    templates: minijinja::Environment<'static>,
}

impl Console {
    pub fn new(
        service: Arc<SessionService>,
        catalog: Arc<CatalogService>,
        objects: Option<ObjectService>,
        auth: Arc<Authenticator>,
    ) -> Arc<Self> {
        let mut templates = minijinja::Environment::new();
        // Session ids may hold `/`, which `urlencode` keeps: paths need every byte encoded.
        templates.add_filter("segment", |id: String| url_path_segment(&id));
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("signin.html", include_str!("templates/signin.html")),
            ("sessions.html", include_str!("templates/sessions.html")),
            (
                "session_rows.html",
                include_str!("templates/session_rows.html"),
            ),
            ("session.html", include_str!("templates/session.html")),
            (
                "session_body.html",
                include_str!("templates/session_body.html"),
            ),
            ("error.html", include_str!("templates/error.html")),
            ("catalog.html", include_str!("templates/catalog.html")),
            ("database.html", include_str!("templates/database.html")),
            ("table.html", include_str!("templates/table.html")),
            ("buckets.html", include_str!("templates/buckets.html")),
            ("bucket.html", include_str!("templates/bucket.html")),
        ] {
            templates
                .add_template(name, source)
                .expect("the console's templates parse");
        }
        Arc::new(Self {
            service,
            catalog,
            objects,
            auth: ConsoleAuth::new(auth),
            templates,
        })
    }

    /// Whether the request carries a valid console sign-in (or the console is open).
    pub fn is_viewer(&self, headers: &HeaderMap) -> bool {
        self.auth.viewer(headers).is_some()
    }

    fn render(&self, name: &str, context: impl Serialize) -> Response {
        match self
            .templates
            .get_template(name)
            .and_then(|t| t.render(minijinja::value::Serde(context)))
        {
            Ok(html) => (
                [
                    (header::CONTENT_TYPE, "text/html; charset=utf-8"),
                    (header::CACHE_CONTROL, "no-store"),
                ],
                html,
            )
                .into_response(),
            Err(e) => {
                tracing::error!(template = name, error = %e, "console template failed");
                (StatusCode::INTERNAL_SERVER_ERROR, "template error\n").into_response()
            }
        }
    }

    /// A service error as the console shows it (the same codes the Glue API answers).
    fn error(&self, e: impl Into<ApiError>) -> Response {
        let e: ApiError = e.into();
        let status = match e.code {
            ErrorCode::EntityNotFound => StatusCode::NOT_FOUND,
            ErrorCode::InternalService => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::BAD_REQUEST,
        };
        let mut response = self.render(
            "error.html",
            serde_json::json!({ "code": e.code.as_str(), "message": e.message }),
        );
        *response.status_mut() = status;
        response
    }
}

pub fn router(console: Arc<Console>) -> Router {
    Router::new()
        .route("/console", get(sessions_page))
        .route("/console/", get(sessions_page))
        .route("/console/rows", get(session_rows))
        .route("/console/cost.svg", get(cost_svg))
        .route("/console/signin", get(sign_in_page).post(sign_in))
        .route("/console/signout", post(sign_out))
        .route("/console/sessions/{id}", get(session_page))
        .route("/console/sessions/{id}/body", get(session_body))
        .route("/console/sessions/{id}/log", get(session_log))
        .route("/console/sessions/{id}/timeline.svg", get(timeline_svg))
        .route("/console/catalog", get(catalog::databases_page))
        .route("/console/catalog/{db}", get(catalog::database_page))
        .route("/console/catalog/{db}/{table}", get(catalog::table_page))
        .route("/console/s3", get(buckets::buckets_page))
        .route("/console/s3/{bucket}", get(buckets::bucket_page))
        .route("/console/sessions/{id}/statements", post(run_statement))
        .route(
            "/console/sessions/{id}/statements/{n}/cancel",
            post(cancel_statement),
        )
        .route("/console/sessions/{id}/stop", post(stop_session))
        .route("/console/sessions/{id}/sparkui", get(spark_ui))
        .route("/console/sessions/{id}/sparkui/", get(spark_ui))
        .route("/console/sessions/{id}/sparkui/{*rest}", get(spark_ui))
        .route("/console/peer/sparkui/{key}", get(peer_spark_ui))
        .route("/console/peer/sparkui/{key}/", get(peer_spark_ui))
        .route("/console/peer/sparkui/{key}/{*rest}", get(peer_spark_ui))
        .with_state(console)
}

/// Why the console turned a request away before doing anything.
#[derive(Debug)]
enum Refused {
    /// A page without a sign-in: go to the form.
    SignIn,
    /// A fetch or picture without a sign-in.
    Unauthorized,
    Forbidden(&'static str),
    BadForm(String),
}

impl IntoResponse for Refused {
    fn into_response(self) -> Response {
        match self {
            Self::SignIn => Redirect::to("/console/signin").into_response(),
            Self::Unauthorized => {
                (StatusCode::UNAUTHORIZED, "sign in to the console\n").into_response()
            }
            Self::Forbidden(why) => (StatusCode::FORBIDDEN, format!("{why}\n")).into_response(),
            Self::BadForm(why) => {
                (StatusCode::BAD_REQUEST, format!("unreadable form: {why}\n")).into_response()
            }
        }
    }
}

/// What a GET asks for: a whole page (no sign-in → the form) or a fragment or picture the
/// page's script fetches (no sign-in → 401).
#[derive(Clone, Copy)]
enum View {
    Page,
    Fragment,
}

fn get_viewer(console: &Console, headers: &HeaderMap, view: View) -> Result<Viewer, Refused> {
    console.auth.viewer(headers).ok_or(match view {
        View::Page => Refused::SignIn,
        View::Fragment => Refused::Unauthorized,
    })
}

/// The signed-in viewer as a handler argument: of a page (`PAGE`; no sign-in → the form) or
/// of a fragment or picture the page's script fetches (no sign-in → 401).
struct Signed<const PAGE: bool>(Viewer);
type PageViewer = Signed<true>;
type FragmentViewer = Signed<false>;

impl<const PAGE: bool> FromRequestParts<Arc<Console>> for Signed<PAGE> {
    type Rejection = Refused;

    async fn from_request_parts(
        parts: &mut axum::http::request::Parts,
        console: &Arc<Console>,
    ) -> Result<Self, Refused> {
        let view = if PAGE { View::Page } else { View::Fragment };
        get_viewer(console, &parts.headers, view).map(Self)
    }
}

/// A cross-site form post is refused before anything else: its Origin names another site.
fn same_origin(headers: &HeaderMap) -> bool {
    let Some(origin) = headers.get(header::ORIGIN).and_then(|v| v.to_str().ok()) else {
        return true;
    };
    let host = headers.get(header::HOST).and_then(|v| v.to_str().ok());
    let origin_host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    origin_host.is_some() && origin_host == host
}

/// The viewer of a POST with its decoded form, if the form carries the viewer's CSRF token.
fn post_viewer<T: serde::de::DeserializeOwned>(
    console: &Console,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(Viewer, T), Refused> {
    if !same_origin(headers) {
        return Err(Refused::Forbidden("cross-origin request refused"));
    }
    let viewer = console
        .auth
        .viewer(headers)
        .ok_or(Refused::Forbidden("sign in to the console first"))?;
    let csrf: CsrfField = serde_urlencoded::from_bytes(body).unwrap_or_default();
    if csrf.csrf.as_deref() != Some(viewer.csrf.as_str()) {
        return Err(Refused::Forbidden(
            "missing or wrong CSRF token; reload the page and try again",
        ));
    }
    let form = serde_urlencoded::from_bytes(body).map_err(|e| Refused::BadForm(e.to_string()))?;
    Ok((viewer, form))
}

#[derive(Deserialize, Default)]
struct CsrfField {
    csrf: Option<String>,
}

#[derive(Deserialize)]
struct NoFields {}

fn rfc3339(ms: i64) -> String {
    time::OffsetDateTime::from_unix_timestamp_nanos(ms as i128 * 1_000_000)
        .ok()
        .and_then(|t| {
            t.format(&time::macros::format_description!(
                "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
            ))
            .ok()
        })
        .unwrap_or_default()
}

/// A session as the list and the session page show it.
#[derive(Serialize)]
struct SessionView {
    id: String,
    status: &'static str,
    live: bool,
    error_message: Option<String>,
    created: String,
    ready: Option<String>,
    completed: Option<String>,
    max_capacity: f64,
    execution_seconds: String,
    dpu_seconds: String,
}

impl SessionView {
    fn of(session: &Session, now: i64) -> Self {
        Self {
            id: session.id.clone(),
            status: session.status.as_str(),
            live: session.status.is_live(),
            error_message: session.error_message.clone(),
            created: rfc3339(session.created_ms),
            ready: session.ready_ms.map(rfc3339),
            completed: session.completed_ms.map(rfc3339),
            max_capacity: session.max_capacity,
            execution_seconds: format!("{:.1}", session.execution_seconds(now)),
            dpu_seconds: format!("{:.1}", session.dpu_seconds(now)),
        }
    }
}

#[derive(Deserialize, Serialize, Default, Clone)]
struct ListFilter {
    #[serde(default)]
    status: String,
    /// `key=value`: sessions carrying this tag.
    #[serde(default)]
    tag: String,
    #[serde(default)]
    next: String,
}

struct ListPage {
    sessions: Vec<SessionView>,
    next: Option<String>,
}

async fn list(
    console: &Console,
    viewer: &Viewer,
    filter: &ListFilter,
) -> Result<ListPage, ApiError> {
    let status = match filter.status.as_str() {
        "" => None,
        s => Some(
            s.parse::<SessionStatus>()
                .map_err(|_| ApiError::invalid_input(format!("Unknown status {s:?}")))?,
        ),
    };
    let mut tags = BTreeMap::new();
    if !filter.tag.is_empty() {
        let (k, v) = filter
            .tag
            .split_once('=')
            .unwrap_or((filter.tag.as_str(), ""));
        tags.insert(k.trim().to_string(), v.trim().to_string());
    }
    let now = now_ms();
    let mut sessions = Vec::new();
    let mut token = Some(filter.next.clone()).filter(|t| !t.is_empty());
    for _ in 0..MAX_PAGE_CALLS {
        let (page, next) = console
            .service
            .list_sessions(&viewer.tenant, tags.clone(), PAGE, token.as_deref())
            .await?;
        sessions.extend(
            page.iter()
                .filter(|s| status.is_none_or(|want| s.status == want))
                .map(|s| SessionView::of(s, now)),
        );
        token = next;
        if sessions.len() >= PAGE || token.is_none() {
            break;
        }
    }
    Ok(ListPage {
        sessions,
        next: token,
    })
}

fn list_context(viewer: &Viewer, filter: &ListFilter, page: ListPage) -> serde_json::Value {
    let statuses = [
        SessionStatus::Provisioning,
        SessionStatus::Ready,
        SessionStatus::Stopping,
        SessionStatus::Stopped,
        SessionStatus::Failed,
        SessionStatus::Timeout,
    ]
    .map(SessionStatus::as_str);
    let next_query = page.next.map(|next| {
        serde_urlencoded::to_string(ListFilter {
            next,
            ..filter.clone()
        })
        .unwrap_or_default()
    });
    let rows_query = serde_urlencoded::to_string(filter).unwrap_or_default();
    serde_json::json!({
        "viewer": viewer_context(viewer),
        "filter": filter,
        "statuses": statuses,
        "sessions": page.sessions,
        "next_query": next_query,
        "rows_query": rows_query,
    })
}

fn viewer_context(viewer: &Viewer) -> serde_json::Value {
    serde_json::json!({
        "account": viewer.tenant.account,
        "region": viewer.tenant.region,
        "csrf": viewer.csrf,
        "signed_in": viewer.signed_in,
    })
}

async fn sessions_page(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(filter): Query<ListFilter>,
) -> Response {
    show_list(&console, &headers, &filter, View::Page).await
}

async fn session_rows(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Query(filter): Query<ListFilter>,
) -> Response {
    show_list(&console, &headers, &filter, View::Fragment).await
}

async fn show_list(
    console: &Console,
    headers: &HeaderMap,
    filter: &ListFilter,
    view: View,
) -> Response {
    let viewer = match get_viewer(console, headers, view) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let template = match view {
        View::Page => "sessions.html",
        View::Fragment => "session_rows.html",
    };
    match list(console, &viewer, filter).await {
        Ok(page) => console.render(template, list_context(&viewer, filter, page)),
        Err(e) => console.error(e),
    }
}

async fn cost_svg(State(console): State<Arc<Console>>, Signed(viewer): FragmentViewer) -> Response {
    let mut sessions = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let page = console
            .service
            .list_sessions(&viewer.tenant, BTreeMap::new(), 1000, token.as_deref())
            .await;
        let (page, next) = match page {
            Ok(p) => p,
            Err(e) => return console.error(e),
        };
        sessions.extend(page);
        token = next;
        if token.is_none() || sessions.len() >= MAX_COST_SESSIONS {
            break;
        }
    }
    (
        [
            (header::CONTENT_TYPE, "image/svg+xml"),
            (header::CACHE_CONTROL, "no-store"),
        ],
        cost::svg(&sessions, now_ms()),
    )
        .into_response()
}

async fn sign_in_page(State(console): State<Arc<Console>>) -> Response {
    if console.auth.is_open() {
        return Redirect::to("/console").into_response();
    }
    console.render(
        "signin.html",
        serde_json::json!({ "region": auth::DEFAULT_REGION }),
    )
}

#[derive(Deserialize)]
struct SignInForm {
    access_key_id: String,
    secret_access_key: String,
    #[serde(default)]
    region: String,
}

async fn sign_in(State(console): State<Arc<Console>>, headers: HeaderMap, body: Bytes) -> Response {
    if !same_origin(&headers) {
        return Refused::Forbidden("cross-origin request refused").into_response();
    }
    let Ok(form) = serde_urlencoded::from_bytes::<SignInForm>(&body) else {
        return (StatusCode::BAD_REQUEST, "the sign-in form is incomplete\n").into_response();
    };
    let region = match form.region.trim() {
        "" => auth::DEFAULT_REGION,
        r => r,
    };
    match console
        .auth
        .sign_in(form.access_key_id.trim(), &form.secret_access_key, region)
    {
        Some(cookie) => (
            StatusCode::SEE_OTHER,
            [
                (header::SET_COOKIE, ConsoleAuth::set_cookie(Some(&cookie))),
                (header::LOCATION, "/console".to_string()),
            ],
        )
            .into_response(),
        None => {
            let mut response = console.render(
                "signin.html",
                serde_json::json!({
                    "region": region,
                    "access_key_id": form.access_key_id,
                    "failed": true,
                }),
            );
            *response.status_mut() = StatusCode::UNAUTHORIZED;
            response
        }
    }
}

async fn sign_out(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if let Err(r) = post_viewer::<NoFields>(&console, &headers, &body) {
        return r.into_response();
    }
    (
        StatusCode::SEE_OTHER,
        [
            (header::SET_COOKIE, ConsoleAuth::set_cookie(None)),
            (header::LOCATION, "/console/signin".to_string()),
        ],
    )
        .into_response()
}

/// A statement as the session page shows it.
#[derive(Serialize)]
struct StatementView {
    id: i64,
    state: &'static str,
    active: bool,
    progress_percent: u32,
    code: String,
    started: Option<String>,
    completed: Option<String>,
    output: Option<String>,
    error: Option<String>,
    traceback: Option<String>,
    picture: Option<String>,
}

impl StatementView {
    fn of(statement: &Statement) -> Self {
        let output = statement.output.as_ref();
        let active = matches!(
            statement.state,
            StatementState::Waiting | StatementState::Running | StatementState::Cancelling
        );
        Self {
            id: statement.id,
            state: statement.state.as_str(),
            active,
            progress_percent: (statement.progress.clamp(0.0, 1.0) * 100.0).round() as u32,
            code: statement.code.clone(),
            started: (statement.started_ms > 0).then(|| rfc3339(statement.started_ms)),
            completed: (statement.completed_ms > 0).then(|| rfc3339(statement.completed_ms)),
            output: output.map(|o| o.text.clone()).filter(|t| !t.is_empty()),
            error: output.and_then(|o| {
                o.error_name
                    .as_ref()
                    .map(|name| format!("{name}: {}", o.error_value.as_deref().unwrap_or_default()))
            }),
            traceback: output
                .filter(|o| !o.traceback.is_empty())
                .map(|o| o.traceback.concat()),
            picture: output
                .and_then(|o| o.picture.as_ref())
                .filter(|p| p.mime_type == "image/png;base64")
                .map(|p| format!("data:image/png;base64,{}", p.data)),
        }
    }
}

/// Every statement of a session, in id order.
async fn all_statements(
    console: &Console,
    viewer: &Viewer,
    id: &str,
) -> Result<Vec<Statement>, ApiError> {
    let mut statements = Vec::new();
    let mut token: Option<String> = None;
    loop {
        let (page, next) = console
            .service
            .list_statements(&viewer.tenant, id, token.as_deref())
            .await?;
        statements.extend(page);
        token = next;
        if token.is_none() {
            return Ok(statements);
        }
    }
}

async fn session_context(
    console: &Console,
    viewer: &Viewer,
    id: &str,
) -> Result<serde_json::Value, ApiError> {
    let session = console.service.session(&viewer.tenant, id).await?;
    let arn = viewer.tenant.session_arn(id);
    let tags = console.service.get_tags(&viewer.tenant, &arn).await?;
    let statements = all_statements(console, viewer, id).await?;
    // The timeline picture is fetched again when a statement changes state, and every few
    // seconds while one runs (its bar grows).
    let mut timeline_version = statements
        .iter()
        .map(|s| format!("{}{}{}", s.id, s.state.as_str(), s.completed_ms))
        .collect::<String>();
    if statements.iter().any(|s| s.completed_ms == 0) {
        timeline_version.push_str(&(now_ms() / TIMELINE_REFRESH_MS).to_string());
    }
    let mut statements: Vec<_> = statements.iter().map(StatementView::of).collect();
    statements.reverse(); // newest first
    let settings = serde_json::from_str::<serde_json::Value>(&session.spec_json)
        .and_then(|v| serde_json::to_string_pretty(&v))
        .unwrap_or_else(|_| session.spec_json.clone());
    Ok(serde_json::json!({
        "viewer": viewer_context(viewer),
        "session": SessionView::of(&session, now_ms()),
        "ready": session.status == SessionStatus::Ready,
        "stoppable": session.status.can_become(SessionStatus::Stopping),
        "settings": settings,
        "tags": tags,
        "statements": statements,
        "timeline_version": format!("{:x}", sha2::Sha256::digest(timeline_version.as_bytes()))[..12].to_string(),
    }))
}

async fn session_page(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    show_session(&console, &headers, &id, View::Page).await
}

async fn session_body(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Response {
    show_session(&console, &headers, &id, View::Fragment).await
}

async fn show_session(console: &Console, headers: &HeaderMap, id: &str, view: View) -> Response {
    let viewer = match get_viewer(console, headers, view) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let template = match view {
        View::Page => "session.html",
        View::Fragment => "session_body.html",
    };
    match session_context(console, &viewer, id).await {
        Ok(context) => console.render(template, context),
        Err(e) => console.error(e),
    }
}

/// The session's statement timeline (SVG drawn here).
async fn timeline_svg(
    State(console): State<Arc<Console>>,
    Signed(viewer): FragmentViewer,
    Path(id): Path<String>,
) -> Response {
    match all_statements(&console, &viewer, &id).await {
        Ok(statements) => (
            [
                (header::CONTENT_TYPE, "image/svg+xml"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            timeline::svg(&statements, now_ms()),
        )
            .into_response(),
        Err(e) => console.error(e),
    }
}

async fn session_log(
    State(console): State<Arc<Console>>,
    Signed(viewer): FragmentViewer,
    Path(id): Path<String>,
) -> Response {
    let token = match console.service.log_token(&viewer.tenant, &id).await {
        Ok(t) => t,
        Err(e) => return console.error(e),
    };
    let no_log = || (StatusCode::NOT_FOUND, "this session has no driver log\n").into_response();
    match crate::protocol::peer::read_log(&console.service, &token, None).await {
        Ok(bytes) => (
            [
                (header::CONTENT_TYPE, "text/plain; charset=utf-8"),
                (header::CACHE_CONTROL, "no-store"),
            ],
            tail(&bytes),
        )
            .into_response(),
        Err(_) => no_log(),
    }
}

/// The last `LOG_TAIL_BYTES` of a log, from a line start.
fn tail(bytes: &[u8]) -> String {
    let start = bytes.len().saturating_sub(LOG_TAIL_BYTES as usize);
    let text = String::from_utf8_lossy(&bytes[start..]).into_owned();
    match (start > 0, text.find('\n')) {
        (true, Some(at)) => text[at + 1..].to_string(),
        _ => text,
    }
}

/// The session's live Spark UI through the proxy (Jobs, Stages, SQL, Executors, Environment…).
async fn spark_ui(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(params): Path<BTreeMap<String, String>>,
    uri: Uri,
) -> Response {
    let viewer = match get_viewer(&console, &headers, View::Page) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    let Some(id) = params.get("id") else {
        return StatusCode::NOT_FOUND.into_response();
    };
    // The prefix as the browser spelled it (its percent-encoding of the id may differ from ours).
    let Some((raw_id, rest)) = uri
        .path()
        .strip_prefix("/console/sessions/")
        .and_then(|p| p.split_once('/'))
        .and_then(|(raw_id, tail)| Some((raw_id, tail.strip_prefix("sparkui")?)))
    else {
        return StatusCode::NOT_FOUND.into_response();
    };
    let prefix = format!("/console/sessions/{raw_id}/sparkui");
    if rest.is_empty() {
        return Redirect::to(&format!("{prefix}/")).into_response();
    }
    let path_and_query = with_query(rest, &uri);
    match console.service.spark_ui(&viewer.tenant, id).await {
        Ok(Some(SparkUiAt::Local(port))) => {
            sparkui::proxy(
                sparkui::Upstream::driver(port, path_and_query),
                &prefix,
                &headers,
            )
            .await
        }
        // Another node runs the driver: it answers from its own (with the same prefix).
        Ok(Some(SparkUiAt::Node { url, key, proof })) => match node_authority(&url) {
            Ok(authority) => {
                let upstream = sparkui::Upstream {
                    authority: authority.to_owned(),
                    path_and_query: format!("/console/peer/sparkui/{key}{path_and_query}"),
                    peer_proof: Some(&proof),
                };
                sparkui::proxy(upstream, &prefix, &headers).await
            }
            Err(why) => (StatusCode::BAD_GATEWAY, format!("{why}\n")).into_response(),
        },
        Ok(None) => console.error(ApiError::not_found(format!(
            "Session {id} has no live Spark UI (it runs only while the session is READY)"
        ))),
        Err(e) => console.error(e),
    }
}

/// Another node's console asking for the Spark UI of a driver this node runs, on a signed-in
/// viewer's behalf (its proof says so); the prefix the viewer's links need comes along.
async fn peer_spark_ui(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    uri: Uri,
) -> Response {
    // From the raw path: the rest goes to Spark as the viewer's browser spelled it.
    let tail = uri
        .path()
        .strip_prefix("/console/peer/sparkui/")
        .unwrap_or("");
    let (key, rest) = tail
        .split_once('/')
        .map_or((tail, "/"), |(k, _)| (k, &tail[k.len()..]));
    let proof = headers.get(PEER_HEADER).and_then(|v| v.to_str().ok());
    let prefix = headers
        .get(sparkui::FORWARDED_CONTEXT)
        .and_then(|v| v.to_str().ok())
        .filter(|p| p.starts_with("/console/sessions/") && p.ends_with("/sparkui"));
    let (Some(proof), Some(prefix), Ok(key)) = (proof, prefix, key.parse::<i64>()) else {
        return (
            StatusCode::FORBIDDEN,
            "a node-to-node Spark UI request needs its proof, prefix and session\n",
        )
            .into_response();
    };
    let Some(port) = console.service.peer_spark_ui_port(key, proof).await else {
        return (
            StatusCode::NOT_FOUND,
            "no live Spark UI of that session here, or the proof is not good\n",
        )
            .into_response();
    };
    let upstream = sparkui::Upstream::driver(port, with_query(rest, &uri));
    sparkui::proxy(upstream, prefix, &headers).await
}

/// `path` with the request's query, if it has one.
fn with_query(path: &str, uri: &Uri) -> String {
    match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_string(),
    }
}

fn back_to(id: &str) -> Response {
    let path: String = url_path_segment(id);
    Redirect::to(&format!("/console/sessions/{path}")).into_response()
}

/// Percent-encodes a session id for a URL path.
fn url_path_segment(id: &str) -> String {
    id.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

#[derive(Deserialize)]
struct RunForm {
    code: String,
}

async fn run_statement(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (viewer, form) = match post_viewer::<RunForm>(&console, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    if form.code.trim().is_empty() {
        return console.error(ApiError::invalid_input("Type some code to run"));
    }
    match console
        .service
        .run_statement(&viewer.tenant, &id, form.code)
        .await
    {
        Ok(_) => back_to(&id),
        Err(e) => console.error(e),
    }
}

async fn cancel_statement(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path((id, n)): Path<(String, i64)>,
    body: Bytes,
) -> Response {
    let (viewer, NoFields {}) = match post_viewer(&console, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    match console
        .service
        .cancel_statement(&viewer.tenant, &id, n)
        .await
    {
        Ok(()) => back_to(&id),
        Err(e) => console.error(e),
    }
}

async fn stop_session(
    State(console): State<Arc<Console>>,
    headers: HeaderMap,
    Path(id): Path<String>,
    body: Bytes,
) -> Response {
    let (viewer, NoFields {}) = match post_viewer(&console, &headers, &body) {
        Ok(v) => v,
        Err(r) => return r.into_response(),
    };
    match console.service.stop_session(&viewer.tenant, &id).await {
        Ok(()) => back_to(&id),
        Err(e) => console.error(e),
    }
}
