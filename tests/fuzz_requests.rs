//! Hostile-input fuzzing of the whole request path, in-process (router → auth → api → service →
//! SQLite), with proptest.
//!
//! Every property drives two servers built as `epoxy serve --runtime none` builds them: one in
//! open dev mode and one verifying SigV4 against two accounts. Each is seeded with sessions
//! (some stopped, one holding 48 tags) in several tenants, each tenant's Data Catalog with a
//! database, a partitioned table and a function, and real `NextToken`s are collected from it. For every generated request the harness checks:
//!
//! * nothing panics and no reply is a 5xx (botocore retries those);
//! * every AWS reply carries `x-amzn-RequestId`;
//! * a Glue error is `{"__type": <non-empty string>, "Message": <string>}` (JSON 1.1), an STS form
//!   request's error is `<ErrorResponse>…<Code>…</Code>…` (awsQuery);
//! * a rejected request (status ≥ 400) — and any Get*/List* or STS request — changes nothing:
//!   ListSessions over all pages for every seeded tenant (with statuses), GetTags of every seeded
//!   session, and a dump of every row of the SQLite database (sessions and catalog tables) are
//!   equal before and after;
//! * per property: a correctly signed request is never refused for its credentials, a body that
//!   is not a JSON object is never accepted, a repeated member is a `SerializationException`
//!   (glue bodies); GetCallerIdentity names the caller's account (query forms); a `NextToken` is
//!   honoured exactly for the caller and filter it was issued to (pagination tokens).
//!
//! Properties: `fuzz_http_framing` (method, path, X-Amz-Target, Content-Type, Authorization,
//! X-Amz-Date, Host, extra headers, body tampering after signing), `fuzz_glue_bodies` (every
//! operation's members with plausible and hostile values, random members, byte damage, raw
//! bytes), `fuzz_query_forms` (awsQuery form bodies), `fuzz_pagination_tokens` (real tokens,
//! mutated, spliced, replayed by other callers or with other filters, another scope's),
//! `fuzz_session_tokens` (live, revoked, expired and unknown session keys with their own, no,
//! garbage, mutated or another key's token, signed or added after signing, to Glue and STS).
//!
//! Case count per property: `EPOXY_FUZZ_CASES` (default 300). A long run:
//!
//! ```sh
//! EPOXY_FUZZ_CASES=100000 cargo test --release --test fuzz_requests -- --nocapture
//! ```
//!
//! The table-driven nasties (huge, deep, invalid UTF-8, NUL, 10 MB, 10,000 tags, duplicate keys,
//! out-of-range numbers, far-future dates, foreign tokens) are the `nasty_*` tests at the end.
//! Inputs that once broke an invariant are kept as `regression_*` tests with the minimal input.

mod common;

use axum::body::Body;
use common::{FORM, JSON_1_1, ROLE, Reply, Server, Signer, amz_date};
use epoxy::auth::Keys;
use epoxy::auth::accounts::Accounts;
use epoxy::sessions::credentials::{self, DriverCredentials};
use epoxy::store::SessionStore;
use http::{HeaderMap, HeaderName, HeaderValue, Method, Request, Uri};
use proptest::prelude::*;
use proptest::sample::select;
use proptest::strategy::Union;
use proptest::test_runner::{Config, TestCaseError, TestCaseResult, TestRunner};
use serde_json::{Value, json};
use std::cell::RefCell;
use std::collections::BTreeMap;
use std::fmt;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Instant;
use time::OffsetDateTime;

// =============================================================================================
// configuration

/// Cases per property unless `EPOXY_FUZZ_CASES` says otherwise; small enough for CI.
const DEFAULT_CASES: u32 = 300;

fn fuzz_cases() -> u32 {
    std::env::var("EPOXY_FUZZ_CASES")
        .ok()
        .and_then(|v| v.trim().parse().ok())
        .filter(|&n| n > 0)
        .unwrap_or(DEFAULT_CASES)
}

const ACCOUNTS: &str = r#"
[[account]]
access_key_id = "AKIDFUZZA"
secret_access_key = "fuzz-secret-a"
account_id = "111111111111"
user_arn = "arn:aws:iam::111111111111:user/alice"

[[account]]
access_key_id = "AKIDFUZZB"
secret_access_key = "fuzz-secret-b"
account_id = "222222222222"
"#;

const OPEN_ACCOUNT: &str = "000000000000";

/// The operations epoxy serves plus names it does not (another Glue operation, wrong case).
fn target_ops() -> Vec<&'static str> {
    let mut ops = epoxy::api::OPERATIONS.to_vec();
    ops.extend(["CreateJob", "getSession"]);
    ops
}

/// Every `__type` epoxy may answer with (`epoxy::api::error::ErrorCode::as_str`).
const KNOWN_CODES: &[&str] = &[
    "InvalidInputException",
    "ValidationException",
    "EntityNotFoundException",
    "AlreadyExistsException",
    "ConcurrentModificationException",
    "IllegalSessionStateException",
    "AccessDeniedException",
    "ResourceNumberLimitExceededException",
    "SessionBusyException",
    "OperationNotSupportedException",
    "OperationTimeoutException",
    "InternalServiceException",
    "SerializationException",
    "UnknownOperationException",
    "RequestEntityTooLargeException",
    "MissingAuthenticationToken",
    "IncompleteSignature",
    "InvalidClientTokenId",
    "SignatureDoesNotMatch",
    "RequestExpired",
    "ExpiredTokenException",
    // awsQuery spellings of UnknownOperation and ExpiredToken
    "InvalidAction",
    "ExpiredToken",
];

/// The tag filters tokens are collected for (their scope includes the filter).
fn filters() -> Vec<Value> {
    vec![
        json!({}),
        json!({ "team": "a" }),
        json!({ "team": "b" }),
        json!({ "team": "a", "env": "prod" }),
    ]
}

// =============================================================================================
// the servers under test

/// Who sends a request: a tenant, and how it authenticates.
#[derive(Clone, Copy, Debug)]
struct Caller {
    account: &'static str,
    region: &'static str,
    /// (access key, secret); `None` sends no Authorization at all (open mode only).
    key: Option<(&'static str, &'static str)>,
}

impl Caller {
    fn signer(&self, service: &str) -> Option<Signer> {
        self.key
            .map(|(k, s)| Signer::new(k, s, self.region).service(service))
    }
}

const OPEN_CALLERS: &[Caller] = &[
    Caller {
        account: OPEN_ACCOUNT,
        region: "us-east-1",
        key: None,
    },
    Caller {
        account: OPEN_ACCOUNT,
        region: "eu-west-1",
        key: Some(("AKIDANYONE", "anything")),
    },
];

const SIGV4_CALLERS: &[Caller] = &[
    Caller {
        account: "111111111111",
        region: "us-east-1",
        key: Some(("AKIDFUZZA", "fuzz-secret-a")),
    },
    Caller {
        account: "222222222222",
        region: "us-east-1",
        key: Some(("AKIDFUZZB", "fuzz-secret-b")),
    },
    Caller {
        account: "111111111111",
        region: "eu-west-1",
        key: Some(("AKIDFUZZA", "fuzz-secret-a")),
    },
];

/// A seeded session: recreated if a successful fuzz request deletes it.
struct Seed {
    caller: usize,
    id: String,
    input: Value,
    stop: bool,
}

/// A `NextToken` the server issued for ListSessions to `caller` with filter `filter`.
#[derive(Clone, Debug)]
struct Issued {
    sigv4: bool,
    caller: usize,
    filter: usize,
    token: String,
    /// The ids ListSessions returns for this caller and filter, in order, when walked to the end.
    ids: Vec<String>,
    /// How many of `ids` came before the page this token asks for.
    position: usize,
}

/// What a rejected request must leave untouched.
#[derive(Clone, PartialEq)]
struct Snapshot {
    /// ListSessions pages per tenant and GetTags per seed, as JSON.
    api: BTreeMap<String, Value>,
    /// Every row of every table.
    db: Vec<String>,
}

/// One server, its seeds and its collected tokens.
struct Fixture {
    sigv4: bool,
    server: Server,
    rt: tokio::runtime::Handle,
    db: rusqlite::Connection,
    callers: &'static [Caller],
    seeds: Vec<Seed>,
    issued: Vec<Issued>,
    log_token: String,
    snapshot: RefCell<Option<Snapshot>>,
    /// Keys minted for caller 0's sessions (see `Fixture::mint_session_keys`).
    session_keys: Option<SessionKeys>,
}

/// Both servers on one multi-threaded runtime.
struct Harness {
    open: Fixture,
    sigv4: Fixture,
    _rt: tokio::runtime::Runtime,
}

impl Harness {
    fn new() -> Self {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let open = Fixture::new(&rt, false);
        let sigv4 = Fixture::new(&rt, true);
        Self {
            open,
            sigv4,
            _rt: rt,
        }
    }

    fn fixture(&self, sigv4: bool) -> &Fixture {
        if sigv4 { &self.sigv4 } else { &self.open }
    }

    /// Strings the generators draw "plausible" values from: real ids, ARNs, tokens.
    fn pools(&self) -> Pools {
        let mut ids: Vec<String> = self.open.seeds.iter().map(|s| s.id.clone()).collect();
        ids.sort();
        ids.dedup();
        let mut arns = Vec::new();
        let mut tokens = Vec::new();
        for f in [&self.open, &self.sigv4] {
            for s in &f.seeds {
                let c = f.callers[s.caller];
                arns.push(common::session_arn(c.account, c.region, &s.id));
            }
            tokens.extend(f.issued.iter().map(|t| t.token.clone()));
            tokens.push(f.log_token.clone());
        }
        arns.push(common::session_arn(
            OPEN_ACCOUNT,
            "us-east-1",
            "never-created",
        ));
        arns.push("arn:aws-cn:glue:us-east-1:000000000000:session/seed-1".into());
        Pools { ids, arns, tokens }
    }
}

impl Fixture {
    fn new(rt: &tokio::runtime::Runtime, sigv4: bool) -> Self {
        let auth = if sigv4 {
            Keys::Accounts(Accounts::parse(ACCOUNTS).expect("accounts"))
        } else {
            Keys::Open
        };
        let server = rt.block_on(Server::start(auth));
        let db = rusqlite::Connection::open_with_flags(
            server.data_dir().join("epoxy.db"),
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .expect("read-only connection to the store");
        let callers = if sigv4 { SIGV4_CALLERS } else { OPEN_CALLERS };
        let mut f = Self {
            sigv4,
            server,
            rt: rt.handle().clone(),
            db,
            callers,
            seeds: Vec::new(),
            issued: Vec::new(),
            log_token: String::new(),
            snapshot: RefCell::new(None),
            session_keys: None,
        };
        f.seed();
        f
    }

    fn seed(&mut self) {
        for caller in 0..self.callers.len() {
            let many: BTreeMap<String, String> = (0..48)
                .map(|i| (format!("k{i:02}"), format!("v{i}")))
                .collect();
            let specs = [
                ("seed-1", json!({ "team": "a", "env": "prod" }), false),
                ("seed-2", json!({ "team": "b" }), false),
                ("seed-3", json!({ "team": "a" }), true),
                ("seed-full", json!(many), false),
                (
                    "seed ü \u{1F600}",
                    json!({ "team": "a", "env": "prod" }),
                    false,
                ),
            ];
            for (id, tags, stop) in specs {
                let input = common::create_input(
                    id,
                    json!({ "Tags": tags, "Description": format!("seed {id}") }),
                );
                self.seeds.push(Seed {
                    caller,
                    id: id.to_string(),
                    input,
                    stop,
                });
            }
        }
        for i in 0..self.seeds.len() {
            self.create_seed(i);
        }
        for caller in 0..self.callers.len() {
            self.seed_catalog(caller);
        }
        for caller in 0..self.callers.len() {
            for (fi, filter) in filters().into_iter().enumerate() {
                let mut token: Option<String> = None;
                let mut ids = Vec::new();
                let first = self.issued.len();
                loop {
                    let mut body = json!({ "MaxResults": 1, "Tags": filter });
                    if let Some(t) = &token {
                        body["NextToken"] = json!(t);
                    }
                    let page = self.call(caller, "ListSessions", &body).ok();
                    ids.extend(common::strings(&page["Ids"]));
                    match page.get("NextToken").and_then(Value::as_str) {
                        Some(t) => {
                            self.issued.push(Issued {
                                sigv4: self.sigv4,
                                caller,
                                filter: fi,
                                token: t.to_owned(),
                                ids: Vec::new(),
                                position: ids.len(),
                            });
                            token = Some(t.to_owned());
                        }
                        None => break,
                    }
                }
                for t in &mut self.issued[first..] {
                    t.ids.clone_from(&ids);
                }
            }
        }
        assert!(self.issued.len() >= 10, "too few tokens: {:?}", self.issued);
        let url = self
            .call(0, "GetSystemLogsForSession", &json!({ "Id": "seed-1" }))
            .ok()["SystemLogsUrl"]
            .as_str()
            .expect("a log URL")
            .to_owned();
        self.log_token = url.rsplit('/').next().unwrap_or_default().to_owned();
    }

    /// Every caller's catalog holds database `fzdb` with the partitioned table `fzt` (three
    /// partitions, two versions) and the function `fzf`, so catalog requests meet real objects.
    fn seed_catalog(&self, caller: usize) {
        let keys =
            json!([{ "Name": "year", "Type": "int" }, { "Name": "region", "Type": "string" }]);
        let table = json!({ "Name": "fzt", "TableType": "EXTERNAL_TABLE", "PartitionKeys": keys,
            "StorageDescriptor": { "Location": "file:///tmp/epoxy-fuzz/fzt" } });
        let calls = [
            (
                "CreateDatabase",
                json!({ "DatabaseInput": { "Name": "fzdb" } }),
            ),
            (
                "CreateTable",
                json!({ "DatabaseName": "fzdb", "TableInput": table }),
            ),
            (
                "UpdateTable",
                json!({ "DatabaseName": "fzdb", "TableInput": table }),
            ),
            (
                "BatchCreatePartition",
                json!({ "DatabaseName": "fzdb", "TableName": "fzt", "PartitionInputList": [
                    { "Values": ["2023", "eu"] }, { "Values": ["2024", "eu"] }, { "Values": ["2024", "us"] }
                ] }),
            ),
            (
                "CreateUserDefinedFunction",
                json!({ "DatabaseName": "fzdb", "FunctionInput": { "FunctionName": "fzf", "ClassName": "C" } }),
            ),
        ];
        for (op, body) in calls {
            self.call(caller, op, &body).ok();
        }
    }

    fn create_seed(&self, i: usize) {
        let seed = &self.seeds[i];
        self.call(seed.caller, "CreateSession", &seed.input).ok();
        if seed.stop {
            self.call(seed.caller, "StopSession", &json!({ "Id": seed.id }))
                .ok();
        }
    }

    fn send(&self, request: Request<Body>) -> Reply {
        self.rt.block_on(self.server.send(request))
    }

    /// A well-formed (and, with a key, signed) Glue request from `caller`.
    fn call(&self, caller: usize, op: &str, body: &Value) -> Reply {
        let c = self.callers[caller];
        match c.signer("glue") {
            Some(s) => self.send(s.glue(op, body)),
            None => self.send(common::glue(op, body)),
        }
    }

    /// Headers a well-behaved client of `caller` sends (signed when it has a key).
    fn client_headers(
        &self,
        caller: usize,
        service: &str,
        target: Option<&str>,
        content_type: &str,
        body: &[u8],
    ) -> Vec<(String, Vec<u8>)> {
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("localhost:4747"));
        h.insert(
            "content-type",
            HeaderValue::from_str(content_type).expect("ASCII content type"),
        );
        if let Some(t) = target {
            h.insert(
                "x-amz-target",
                HeaderValue::from_str(t).expect("ASCII target"),
            );
        }
        if let Some(s) = self.callers[caller % self.callers.len()].signer(service) {
            s.sign(&mut h, body);
        }
        h.iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect()
    }

    /// Once successful fuzz requests have created many sessions, deletes those that are not
    /// seeds (in any tenant), so that snapshots stay cheap in long runs. True if it did.
    fn prune(&self) -> bool {
        const MAX_SESSIONS: usize = 120;
        let rows: Vec<(String, String, String)> = {
            let mut stmt = self
                .db
                .prepare(
                    "SELECT account, region, id FROM sessions
                     WHERE rowid NOT IN (SELECT session FROM session_credentials)",
                )
                .expect("sessions");
            stmt.query_map([], |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)))
                .expect("sessions")
                .collect::<Result<_, _>>()
                .expect("sessions")
        };
        if rows.len() <= MAX_SESSIONS {
            return false;
        }
        for (account, region, id) in rows {
            let seeded = self.seeds.iter().any(|s| {
                let c = self.callers[s.caller];
                (c.account, c.region, s.id.as_str()) == (account.as_str(), region.as_str(), &id)
            });
            let key = if self.sigv4 {
                self.callers
                    .iter()
                    .find(|c| c.account == account)
                    .and_then(|c| c.key)
            } else {
                Some(("AKIDANYONE", "anything"))
            };
            if seeded || key.is_none() {
                continue;
            }
            let (k, secret) = key.unwrap_or_default();
            let r = self
                .send(Signer::new(k, secret, &region).glue("DeleteSession", &json!({ "Id": id })));
            assert!(
                r.status.is_success(),
                "pruning {account}/{region}/{id}: {}",
                r.text()
            );
        }
        true
    }

    // ---------------------------------------------------------------- snapshots

    fn take_snapshot(&self) -> Snapshot {
        let mut api = BTreeMap::new();
        for (ci, c) in self.callers.iter().enumerate() {
            let mut pages = Vec::new();
            let mut token: Option<String> = None;
            for _ in 0..1000 {
                let mut body = json!({ "MaxResults": 100 });
                if let Some(t) = &token {
                    body["NextToken"] = json!(t);
                }
                let page = self.call(ci, "ListSessions", &body).ok();
                let sessions: Vec<Value> = page["Sessions"]
                    .as_array()
                    .expect("Sessions")
                    .iter()
                    .map(stable_session)
                    .collect();
                pages.push(json!({ "Ids": page["Ids"], "Sessions": sessions }));
                match page.get("NextToken").and_then(Value::as_str) {
                    Some(t) => token = Some(t.to_owned()),
                    None => break,
                }
            }
            api.insert(
                format!("ListSessions {}/{}", c.account, c.region),
                Value::Array(pages),
            );
        }
        for seed in &self.seeds {
            let c = self.callers[seed.caller];
            let arn = common::session_arn(c.account, c.region, &seed.id);
            let r = self.call(seed.caller, "GetTags", &json!({ "ResourceArn": arn }));
            let v = if r.status.is_success() {
                r.ok()["Tags"].clone()
            } else {
                json!({ "error": r.json()["__type"] })
            };
            api.insert(format!("GetTags {arn}"), v);
        }
        Snapshot {
            api,
            db: dump_db(&self.db),
        }
    }

    /// The state before the next request (cached: only requests change it).
    fn before(&self) -> Snapshot {
        let mut cached = self.snapshot.borrow_mut();
        cached.get_or_insert_with(|| self.take_snapshot()).clone()
    }

    /// Sends one fuzz request and checks every invariant; returns the reply.
    fn exercise(&self, wire: &Wire) -> Result<Reply, TestCaseError> {
        let before = self.before();
        let reply = self.send(wire.request());
        check_reply(wire, &reply)?;
        let mut after = self.take_snapshot();
        let why = if reply.status.as_u16() >= 400 {
            Some("rejected request")
        } else if !may_write(wire) {
            Some("read-only request")
        } else {
            None
        };
        if let Some(why) = why {
            if let Some(diff) = snapshot_diff(&before, &after) {
                return fail(wire, &reply, format!("{why} changed the state:\n{diff}"));
            }
        } else if after != before {
            // A successful request may have deleted a seed: put it back for later cases.
            let mut reseeded = false;
            for (i, seed) in self.seeds.iter().enumerate() {
                let c = self.callers[seed.caller];
                let arn = common::session_arn(c.account, c.region, &seed.id);
                if after.api[&format!("GetTags {arn}")].get("error").is_some() {
                    self.create_seed(i);
                    reseeded = true;
                }
            }
            if self.prune() | reseeded {
                after = self.take_snapshot();
            }
        }
        *self.snapshot.borrow_mut() = Some(after);
        Ok(reply)
    }
}

/// Operations that never change anything, whatever they answer.
const READ_ONLY_OPS: &[&str] = &[
    "GetSession",
    "ListSessions",
    "GetStatement",
    "ListStatements",
    "GetTags",
    "GetSystemLogsForSession",
    "GetSessionEndpoint",
];

/// Whether a successful `w` may change the state: a Glue call to a mutating operation.
fn may_write(w: &Wire) -> bool {
    let op = w
        .header("x-amz-target")
        .map(String::from_utf8_lossy)
        .and_then(|t| t.strip_prefix("AWSGlue.").map(str::to_owned));
    classify(w) == Proto::Json && op.is_none_or(|op| !READ_ONLY_OPS.contains(&op.as_str()))
}

/// A Session without the members that change with the clock; TIMEOUT folded into READY (a
/// session a successful fuzz request created with `Timeout: 1` may time out mid-run).
fn stable_session(s: &Value) -> Value {
    let mut s = s.clone();
    if let Some(o) = s.as_object_mut() {
        o.remove("ExecutionTime");
        o.remove("DPUSeconds");
        if o.get("Status").and_then(Value::as_str) == Some("TIMEOUT") {
            o.insert("Status".into(), json!("READY"));
            o.remove("CompletedOn");
            o.remove("ErrorMessage");
        }
    }
    s
}

/// Every row of every table, one string per row, in a stable order (TIMEOUT folded as above).
/// Not `nodes`: the node's heartbeat renews its lease there every few seconds whatever comes in.
fn dump_db(db: &rusqlite::Connection) -> Vec<String> {
    let mut rows = Vec::new();
    let tables: Vec<String> = {
        let mut stmt = db
            .prepare(
                "SELECT name FROM sqlite_master WHERE type = 'table' AND name <> 'nodes' ORDER BY name",
            )
            .expect("tables");
        stmt.query_map([], |r| r.get(0))
            .expect("tables")
            .collect::<Result<_, _>>()
            .expect("tables")
    };
    for table in tables {
        let mut stmt = db
            .prepare(&format!("SELECT * FROM \"{table}\" ORDER BY rowid"))
            .expect("select");
        let names: Vec<String> = stmt.column_names().iter().map(|n| n.to_string()).collect();
        let mut q = stmt.query([]).expect("query");
        while let Some(row) = q.next().expect("row") {
            let mut cols: Vec<(String, String)> = (0..names.len())
                .map(|i| {
                    let v = row.get_ref(i).expect("column");
                    (names[i].clone(), format!("{v:?}"))
                })
                .collect();
            if table == "sessions"
                && cols
                    .iter()
                    .any(|(n, v)| n == "status" && v.contains("\"TIMEOUT\""))
            {
                for (n, v) in cols.iter_mut() {
                    match n.as_str() {
                        "status" => *v = "Text(\"READY\")".into(),
                        "completed_ms" | "error_message" => *v = "Null".into(),
                        _ => {}
                    }
                }
            }
            let line: Vec<String> = cols.into_iter().map(|(n, v)| format!("{n}={v}")).collect();
            rows.push(format!("{table}: {}", line.join(" ")));
        }
    }
    rows
}

fn snapshot_diff(before: &Snapshot, after: &Snapshot) -> Option<String> {
    if before == after {
        return None;
    }
    let mut out = String::new();
    for (k, v) in &before.api {
        match after.api.get(k) {
            Some(a) if a == v => {}
            Some(a) => out.push_str(&format!("  {k}:\n    before {v}\n    after  {a}\n")),
            None => out.push_str(&format!("  {k}: gone\n")),
        }
    }
    for r in before.db.iter().filter(|r| !after.db.contains(r)) {
        out.push_str(&format!("  - {}\n", clip(r, 400)));
    }
    for r in after.db.iter().filter(|r| !before.db.contains(r)) {
        out.push_str(&format!("  + {}\n", clip(r, 400)));
    }
    Some(out)
}

fn clip(s: &str, n: usize) -> String {
    if s.len() <= n {
        return s.to_owned();
    }
    let mut end = n;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…({} bytes)", &s[..end], s.len())
}

// =============================================================================================
// a request on the wire and the reply checks

/// One HTTP request exactly as generated (header values may be any bytes HTTP allows).
#[derive(Clone)]
struct Wire {
    method: String,
    path: String,
    headers: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
}

impl fmt::Debug for Wire {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{} {}", self.method, self.path)?;
        for (k, v) in &self.headers {
            writeln!(f, "{k}: {}", clip(&String::from_utf8_lossy(v), 300))?;
        }
        write!(
            f,
            "\n{}",
            clip(
                &String::from_utf8_lossy(&self.body)
                    .escape_debug()
                    .to_string(),
                1500
            )
        )
    }
}

impl Wire {
    fn request(&self) -> Request<Body> {
        let method = Method::from_bytes(self.method.as_bytes()).unwrap_or(Method::POST);
        let uri: Uri = self.path.parse().unwrap_or_else(|_| Uri::from_static("/"));
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(self.body.clone()))
            .expect("request");
        for (k, v) in &self.headers {
            let (Ok(name), Ok(value)) = (
                HeaderName::from_bytes(k.as_bytes()),
                HeaderValue::from_bytes(v),
            ) else {
                continue;
            };
            request.headers_mut().append(name, value);
        }
        request
    }

    fn header(&self, name: &str) -> Option<&[u8]> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    fn set_header(&mut self, name: &str, value: Option<Vec<u8>>) {
        self.headers.retain(|(k, _)| !k.eq_ignore_ascii_case(name));
        if let Some(v) = value {
            self.headers.push((name.to_owned(), v));
        }
    }

    fn path_only(&self) -> &str {
        let p = self.path.split(['?', '#']).next().unwrap_or("");
        if p.is_empty() { "/" } else { p }
    }
}

/// Which wire format a reply must have.
#[derive(Debug, PartialEq)]
enum Proto {
    /// AWS JSON 1.1 (`POST /` with anything but an STS form).
    Json,
    /// awsQuery XML (`POST /`, no X-Amz-Target, form content type).
    Xml,
    /// Not an AWS endpoint: any AWS-shaped error.
    Either,
    /// `/health`, `/logs/<token>`: plain HTTP, only "no 5xx".
    Plain,
}

/// A form content type: the media type (before any `;` parameter), case-insensitive
/// (RFC 9110 §8.3.1), exactly `application/x-www-form-urlencoded`.
fn is_form(content_type: Option<&[u8]>) -> bool {
    content_type
        .and_then(|c| std::str::from_utf8(c).ok())
        .and_then(|c| c.split(';').next())
        .is_some_and(|m| {
            m.trim()
                .eq_ignore_ascii_case("application/x-www-form-urlencoded")
        })
}

fn classify(w: &Wire) -> Proto {
    let path = w.path_only();
    let is_log = path
        .strip_prefix("/logs/")
        .is_some_and(|t| !t.is_empty() && !t.contains('/'));
    if path == "/health" || is_log {
        if w.method == "GET" || w.method == "HEAD" {
            return Proto::Plain;
        }
        return Proto::Either;
    }
    let form = w.header("x-amz-target").is_none() && is_form(w.header("content-type"));
    match (w.method == "POST" && path == "/", form) {
        (true, true) => Proto::Xml,
        (true, false) => Proto::Json,
        (false, _) => Proto::Either,
    }
}

fn fail<T>(w: &Wire, r: &Reply, what: impl fmt::Display) -> Result<T, TestCaseError> {
    Err(TestCaseError::fail(format!(
        "{what}\n--- request\n{w:?}\n--- reply {} {:?}\n{}",
        r.status,
        r.headers,
        clip(&r.text(), 1000)
    )))
}

/// Whether `text` can be XML 1.0 character data as written: UTF-8 already, only characters XML
/// allows (no control characters but TAB/LF/CR, no U+FFFE/U+FFFF), every `&` an entity.
fn xml_chars_ok(text: &str) -> bool {
    let legal = |c: char| {
        matches!(c, '\t' | '\n' | '\r')
            || ('\u{20}'..='\u{D7FF}').contains(&c)
            || ('\u{E000}'..='\u{FFFD}').contains(&c)
            || c >= '\u{10000}'
    };
    text.chars().all(legal)
        && text.match_indices('&').all(|(i, _)| {
            let rest = &text[i..];
            ["&amp;", "&lt;", "&gt;", "&quot;", "&apos;"]
                .iter()
                .any(|e| rest.starts_with(e))
        })
}

/// The code of an awsQuery `<ErrorResponse>`, if the body is a well-formed one.
fn xml_error_code(body: &[u8]) -> Option<String> {
    xml_error_code_as(body, true)
}

/// `strict: false` lets characters XML forbids through (see
/// `regression_sts_errors_are_well_formed_xml`).
fn xml_error_code_as(body: &[u8], strict: bool) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.trim_start();
    if !start.starts_with("<ErrorResponse") || !text.trim_end().ends_with("</ErrorResponse>") {
        return None;
    }
    let code = text.split_once("<Code>")?.1.split_once("</Code>")?.0;
    let message = text.split_once("<Message>")?.1.split_once("</Message>")?.0;
    let ok = !code.is_empty()
        && code.chars().all(|c| c.is_ascii_alphanumeric())
        && !message.contains('<')
        && (!strict || xml_chars_ok(text))
        && text.contains("<RequestId>");
    ok.then(|| code.to_owned())
}

/// The `__type` of a JSON 1.1 error, if the body is one.
fn json_error_code(body: &[u8]) -> Option<String> {
    let v: Value = serde_json::from_slice(body).ok()?;
    let code = v.get("__type")?.as_str()?;
    v.get("Message")?.as_str()?;
    (!code.is_empty()).then(|| code.to_owned())
}

/// The protocol invariants of one reply; `Ok(Some(code))` for an error, `Ok(None)` for success.
fn check_reply(w: &Wire, r: &Reply) -> Result<Option<String>, TestCaseError> {
    let status = r.status.as_u16();
    if status >= 500 {
        return fail(w, r, "5xx reply");
    }
    let proto = classify(w);
    if proto == Proto::Plain {
        return Ok(None);
    }
    if r.header("x-amzn-requestid").is_none_or(str::is_empty) {
        return fail(w, r, "no x-amzn-RequestId");
    }
    if w.method == "HEAD" && r.body.is_empty() {
        // A HEAD reply carries no body; the status and headers were checked.
        return Ok(None);
    }
    if status < 400 {
        if status != 200 {
            return fail(w, r, "a success that is not 200");
        }
        let text = r.text();
        match proto {
            Proto::Json => {
                let v: Value = serde_json::from_slice(&r.body)
                    .or_else(|e| fail(w, r, format!("success body is not JSON: {e}")))?;
                if !v.is_object() {
                    return fail(w, r, "success body is not an object");
                }
            }
            Proto::Xml => {
                if !text.contains("<GetCallerIdentityResult>")
                    || std::str::from_utf8(&r.body).map_or(true, |t| !xml_chars_ok(t))
                {
                    return fail(
                        w,
                        r,
                        "STS success is not a well-formed GetCallerIdentityResult",
                    );
                }
            }
            _ => return fail(w, r, "a success outside POST /"),
        }
        return Ok(None);
    }
    let code = match proto {
        Proto::Json => json_error_code(&r.body),
        Proto::Xml => xml_error_code(&r.body),
        _ => json_error_code(&r.body).or_else(|| xml_error_code(&r.body)),
    };
    let Some(code) = code else {
        return fail(w, r, format!("error reply is not a {proto:?} AWS error"));
    };
    if !KNOWN_CODES.contains(&code.as_str()) {
        return fail(w, r, format!("unknown error code {code}"));
    }
    if proto == Proto::Json && r.header("x-amzn-errortype") != Some(code.as_str()) {
        return fail(w, r, "x-amzn-ErrorType differs from __type");
    }
    Ok(Some(code))
}

// =============================================================================================
// JSON text, including what serde_json::Value cannot hold (lone surrogates, duplicate keys,
// out-of-range and non-JSON numbers)

#[derive(Clone)]
enum J {
    /// Verbatim text: numbers, `true`, `null`, or deliberately invalid literals (`NaN`).
    Lit(String),
    /// A string's contents between the quotes, already escaped (may hold `\ud800`).
    Str(String),
    /// A string of `unit` (escaped) repeated `n` times.
    Rep(String, usize),
    Arr(Vec<J>),
    /// Members in order; keys escaped like `Str`; duplicates allowed.
    Obj(Vec<(String, J)>),
}

impl J {
    fn render(&self, out: &mut String) {
        match self {
            J::Lit(t) => out.push_str(t),
            J::Str(s) => {
                out.push('"');
                out.push_str(s);
                out.push('"');
            }
            J::Rep(unit, n) => {
                out.push('"');
                for _ in 0..*n {
                    out.push_str(unit);
                }
                out.push('"');
            }
            J::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.render(out);
                }
                out.push(']');
            }
            J::Obj(members) => {
                out.push('{');
                for (i, (k, v)) in members.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    out.push('"');
                    out.push_str(k);
                    out.push_str("\":");
                    v.render(out);
                }
                out.push('}');
            }
        }
    }

    fn text(&self) -> String {
        let mut s = String::new();
        self.render(&mut s);
        s
    }
}

impl fmt::Debug for J {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            J::Rep(unit, n) => write!(f, "\"{unit}\"×{n}"),
            _ => f.write_str(&clip(&self.text(), 600)),
        }
    }
}

fn esc(s: &str) -> String {
    let quoted = serde_json::to_string(s).expect("a string serialises");
    quoted[1..quoted.len() - 1].to_owned()
}

fn js(s: &str) -> J {
    J::Str(esc(s))
}

// =============================================================================================
// generators

/// Real values from the servers, so generated requests reach deep into the api and store.
#[derive(Clone)]
struct Pools {
    ids: Vec<String>,
    arns: Vec<String>,
    tokens: Vec<String>,
}

const NUMBERS: &[&str] = &[
    "-1",
    "0",
    "1",
    "2",
    "3",
    "5",
    "100",
    "1000",
    "1001",
    "2880",
    "2881",
    "10000",
    "10001",
    "-0",
    "0.0",
    "1.5",
    "2.0",
    "5e0",
    "1e308",
    "-1e308",
    "1e-400",
    "1E2",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "-9223372036854775809",
    "2147483647",
    "2147483648",
    "4294967296",
    "4294967297",
    "18446744073709551616",
];

/// Not JSON numbers at all, or beyond f64: the body does not parse.
const BAD_NUMBERS: &[&str] = &[
    "NaN",
    "Infinity",
    "-Infinity",
    "01",
    "1.",
    "+1",
    "0x10",
    "1e400",
    "-1e400",
    "-",
];

/// Escaped string contents that stress decoding and validation.
const ESCAPES: &[&str] = &[
    "",
    "\\udbff\\udfff",
    "\\ud83d\\ude00",
    "\\u0000",
    "seed-1\\u0000",
    "\\u0000seed-1",
    "\\n",
    "a\\r\\nb",
    "\\t",
    "\\u001f",
    "\\u007f",
    "\\u0085",
    "\\ufffe",
    "\\uffff",
    "\\\\",
    "\\/",
    "\\\"",
    "\u{1F600}",
    "\u{10FFFF}",
    "\u{202E}abc",
    "é",
    "ａ.1",
    "seed-1 ",
    " seed-1",
    "SEED-1",
    "seed-1/../seed-2",
    "%00",
    "'; DROP TABLE sessions; --",
    "\\u0027 OR 1=1 --",
];

/// Escapes JSON does not allow, or lone surrogates a Rust string cannot hold.
const BAD_ESCAPES: &[&str] = &[
    "\\ud800",
    "\\udc00",
    "a\\ud800b",
    "\\udbff",
    "\\ud800\\u0041",
    "\\x41",
    "\\u12",
    "\\",
    "\\U0041",
];

const UNITS: &[&str] = &["x", "é", "\u{1F600}", "\\u0000", "\\ud800", "ab\\n"];
const SIZES: &[usize] = &[
    128, 129, 255, 256, 257, 400, 2048, 2049, 4096, 4097, 10240, 10241, 68000, 68001, 400_001,
];

fn number() -> BoxedStrategy<J> {
    prop_oneof![
        8 => select(NUMBERS).prop_map(|n| J::Lit(n.to_owned())),
        1 => select(BAD_NUMBERS).prop_map(|n| J::Lit(n.to_owned())),
        4 => (-3i64..12_000).prop_map(|n| J::Lit(n.to_string())),
        1 => any::<i64>().prop_map(|n| J::Lit(n.to_string())),
        1 => any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(|f| J::Lit(format!("{f:e}"))),
    ]
    .boxed()
}

fn text() -> BoxedStrategy<J> {
    prop_oneof![
        4 => "[A-Za-z0-9 ._/:-]{0,24}".prop_map(|s| js(&s)),
        2 => any::<String>().prop_map(|s| js(&s)),
        3 => select(ESCAPES).prop_map(|e| J::Str(e.to_owned())),
        1 => (select(BAD_ESCAPES), select(ESCAPES))
            .prop_map(|(b, e)| J::Str(format!("{e}{b}"))),
        1 => (select(UNITS), select(SIZES)).prop_map(|(u, n)| J::Rep(u.to_owned(), n)),
    ]
    .boxed()
}

fn key() -> BoxedStrategy<String> {
    prop_oneof![
        3 => select(MEMBER_NAMES).prop_map(str::to_owned),
        2 => "[A-Za-z_]{0,12}",
        1 => select(ESCAPES).prop_map(str::to_owned),
    ]
    .boxed()
}

fn any_json() -> BoxedStrategy<J> {
    let leaf = prop_oneof![
        3 => number(),
        4 => text(),
        1 => select(&["true", "false", "null"][..]).prop_map(|l| J::Lit(l.to_owned())),
    ];
    leaf.prop_recursive(4, 32, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..5).prop_map(J::Arr),
            prop::collection::vec((key(), inner), 0..5).prop_map(J::Obj),
        ]
    })
    .boxed()
}

/// What a member holds, for choosing plausible values.
#[derive(Clone, Copy, Debug)]
enum Kind {
    SessionId,
    StatementId,
    Origin,
    Role,
    Command,
    Minutes,
    Count,
    Double,
    Worker,
    GlueVersion,
    SessionType,
    Text,
    Args,
    Connections,
    Tags,
    TagKeys,
    Arn,
    Token,
    // the Data Catalog's members
    CatalogName,
    NameList,
    DatabaseInput,
    TableInput,
    PartitionInput,
    PartitionInputs,
    PartitionValues,
    ValueLists,
    Expression,
    FunctionInput,
    Flag,
}

const MEMBER_NAMES: &[&str] = &[
    "Id",
    "Description",
    "Role",
    "Command",
    "Name",
    "PythonVersion",
    "Timeout",
    "IdleTimeout",
    "DefaultArguments",
    "Connections",
    "MaxCapacity",
    "NumberOfWorkers",
    "WorkerType",
    "SecurityConfiguration",
    "GlueVersion",
    "Tags",
    "RequestOrigin",
    "SessionType",
    "NextToken",
    "MaxResults",
    "SessionId",
    "Code",
    "ResourceArn",
    "TagsToAdd",
    "TagsToRemove",
    "DatabaseName",
    "TableName",
    "TableInput",
    "DatabaseInput",
    "PartitionValues",
    "Expression",
    "CatalogId",
    "id",
    "ID",
    "__type",
];

/// The input members of each operation: (name, kind, required).
fn members(op: &str) -> &'static [(&'static str, Kind, bool)] {
    use Kind::*;
    match op {
        "CreateSession" => &[
            ("Id", SessionId, true),
            ("Description", Text, false),
            ("Role", Role, true),
            ("Command", Command, true),
            ("Timeout", Minutes, false),
            ("IdleTimeout", Minutes, false),
            ("DefaultArguments", Args, false),
            ("Connections", Connections, false),
            ("MaxCapacity", Double, false),
            ("NumberOfWorkers", Count, false),
            ("WorkerType", Worker, false),
            ("SecurityConfiguration", Text, false),
            ("GlueVersion", GlueVersion, false),
            ("Tags", Tags, false),
            ("RequestOrigin", Origin, false),
            ("SessionType", SessionType, false),
        ],
        "GetSession" | "StopSession" | "DeleteSession" | "GetSystemLogsForSession" => {
            &[("Id", SessionId, true), ("RequestOrigin", Origin, false)]
        }
        "ListSessions" => &[
            ("NextToken", Token, false),
            ("MaxResults", Count, false),
            ("Tags", Tags, false),
            ("RequestOrigin", Origin, false),
        ],
        "GetSessionEndpoint" => &[("SessionId", SessionId, true)],
        "RunStatement" => &[
            ("SessionId", SessionId, true),
            ("Code", Text, true),
            ("RequestOrigin", Origin, false),
        ],
        "GetStatement" | "CancelStatement" => &[
            ("SessionId", SessionId, true),
            ("Id", StatementId, true),
            ("RequestOrigin", Origin, false),
        ],
        "ListStatements" => &[
            ("SessionId", SessionId, true),
            ("NextToken", Token, false),
            ("RequestOrigin", Origin, false),
        ],
        "TagResource" => &[("ResourceArn", Arn, true), ("TagsToAdd", Tags, true)],
        "UntagResource" => &[("ResourceArn", Arn, true), ("TagsToRemove", TagKeys, true)],
        "GetTags" => &[("ResourceArn", Arn, true)],
        "CreateDatabase" => &[
            ("DatabaseInput", DatabaseInput, true),
            ("CatalogId", Text, false),
        ],
        "GetDatabase" | "DeleteDatabase" => {
            &[("Name", CatalogName, true), ("CatalogId", Text, false)]
        }
        "GetDatabases" => &[("NextToken", Token, false), ("MaxResults", Count, false)],
        "UpdateDatabase" => &[
            ("Name", CatalogName, true),
            ("DatabaseInput", DatabaseInput, true),
        ],
        "CreateTable" => &[
            ("DatabaseName", CatalogName, true),
            ("TableInput", TableInput, true),
        ],
        "GetTable" | "DeleteTable" => &[
            ("DatabaseName", CatalogName, true),
            ("Name", CatalogName, true),
        ],
        "GetTables" => &[
            ("DatabaseName", CatalogName, true),
            ("Expression", Expression, false),
            ("NextToken", Token, false),
            ("MaxResults", Count, false),
        ],
        "UpdateTable" => &[
            ("DatabaseName", CatalogName, true),
            ("TableInput", TableInput, true),
            ("VersionId", Text, false),
            ("SkipArchive", Flag, false),
        ],
        "BatchDeleteTable" => &[
            ("DatabaseName", CatalogName, true),
            ("TablesToDelete", NameList, true),
        ],
        "GetTableVersions" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("NextToken", Token, false),
            ("MaxResults", Count, false),
        ],
        "CreatePartition" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("PartitionInput", PartitionInput, true),
        ],
        "GetPartition" | "DeletePartition" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("PartitionValues", PartitionValues, true),
        ],
        "GetPartitions" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("Expression", Expression, false),
            ("NextToken", Token, false),
            ("MaxResults", Count, false),
            ("ExcludeColumnSchema", Flag, false),
        ],
        "UpdatePartition" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("PartitionValueList", PartitionValues, true),
            ("PartitionInput", PartitionInput, true),
        ],
        "BatchCreatePartition" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("PartitionInputList", PartitionInputs, true),
        ],
        "BatchGetPartition" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("PartitionsToGet", ValueLists, true),
        ],
        "BatchDeletePartition" => &[
            ("DatabaseName", CatalogName, true),
            ("TableName", CatalogName, true),
            ("PartitionsToDelete", ValueLists, true),
        ],
        "CreateUserDefinedFunction" => &[
            ("DatabaseName", CatalogName, true),
            ("FunctionInput", FunctionInput, true),
        ],
        "GetUserDefinedFunction" | "DeleteUserDefinedFunction" => &[
            ("DatabaseName", CatalogName, true),
            ("FunctionName", CatalogName, true),
        ],
        "GetUserDefinedFunctions" => &[
            ("DatabaseName", CatalogName, false),
            ("Pattern", Expression, true),
            ("NextToken", Token, false),
            ("MaxResults", Count, false),
        ],
        "UpdateUserDefinedFunction" => &[
            ("DatabaseName", CatalogName, true),
            ("FunctionName", CatalogName, true),
            ("FunctionInput", FunctionInput, true),
        ],
        _ => &[("Id", SessionId, false), ("Name", Text, false)],
    }
}

fn strs(items: &'static [&'static str]) -> BoxedStrategy<J> {
    select(items).prop_map(js).boxed()
}

fn tag_key() -> BoxedStrategy<String> {
    prop_oneof![
        4 => select(&["team", "env", "k00", "k47", "owner", "a"][..]).prop_map(esc),
        2 => "[a-z]{1,6}".prop_map(|s| esc(&s)),
        1 => select(ESCAPES).prop_map(str::to_owned),
        1 => select(&[128usize, 129][..]).prop_map(|n| "k".repeat(n)),
    ]
    .boxed()
}

fn tags_map() -> BoxedStrategy<J> {
    let value = prop_oneof![
        4 => strs(&["a", "b", "prod", "", "v1"]),
        1 => text(),
    ];
    prop_oneof![
        6 => prop::collection::vec((tag_key(), value), 0..6).prop_map(J::Obj),
        1 => (1usize..60).prop_map(|n| J::Obj((0..n).map(|i| (format!("n{i}"), js("v"))).collect())),
    ]
    .boxed()
}

/// A `NextToken`: real ones (any caller, any filter, the other server's, the log URL's), real ones
/// mutated, and junk.
fn token(tokens: Vec<String>) -> BoxedStrategy<String> {
    let real = select(tokens.clone());
    prop_oneof![
        3 => real.clone(),
        4 => (real.clone(), any::<prop::sample::Index>(), 0u8..8, 0u8..4).prop_map(
            |(t, at, bit, how)| mutate_token(&t, at.index(t.len().max(1)), bit, how)
        ),
        1 => (real.clone(), real).prop_map(|(a, b)| {
            // payload of one, MAC of another
            let (pa, _) = a.split_once('.').unwrap_or((&a, ""));
            let (_, mb) = b.split_once('.').unwrap_or(("", &b));
            format!("{pa}.{mb}")
        }),
        1 => "[A-Za-z0-9_.=+/-]{0,80}",
        1 => Just(String::new()),
    ]
    .boxed()
}

/// Flips a bit, truncates, appends, or re-alphabets a token.
fn mutate_token(t: &str, at: usize, bit: u8, how: u8) -> String {
    let mut bytes = t.as_bytes().to_vec();
    match how {
        0 if !bytes.is_empty() => bytes[at] ^= 1 << bit,
        1 => bytes.truncate(at),
        2 => bytes.extend_from_slice(b"A"),
        _ => {
            for b in bytes.iter_mut() {
                *b = match *b {
                    b'-' => b'+',
                    b'_' => b'/',
                    other => other,
                };
            }
            bytes.push(b'=');
        }
    }
    String::from_utf8_lossy(&bytes).into_owned()
}

fn plausible(kind: Kind, pools: &Pools) -> BoxedStrategy<J> {
    match kind {
        Kind::SessionId => prop_oneof![
            4 => select(pools.ids.clone()).prop_map(|s| js(&s)),
            2 => "fz-[a-z0-9]{1,6}".prop_map(|s| js(&s)),
            2 => text(),
        ]
        .boxed(),
        Kind::StatementId => number(),
        Kind::Origin => prop_oneof![
            3 => strs(&["GlueStudioNotebook", "epoxy-fuzz", "a.b-c_d"]),
            1 => text(),
        ]
        .boxed(),
        Kind::Role => prop_oneof![
            6 => Just(js(ROLE)),
            2 => strs(&[
                "arn:aws-cn:iam::1:role/a/b",
                "arn:aws:iam::123456789012:role/",
                "arn:aws:iam::12345678901x:role/R",
                "arn:aws:iam::123456789012:user/R",
                "arn:aws:iam:123456789012:role/R",
                "arn:aws:iam::123456789012:role/R\n",
                "arn:aws:iam::1:role/x",
            ]),
            1 => text(),
        ]
        .boxed(),
        Kind::Command => {
            let name = prop_oneof![
                4 => strs(&["glueetl"]),
                1 => strs(&["gluestreaming", "pythonshell", "", "GLUEETL"]),
                1 => text(),
            ];
            let py = prop_oneof![
                4 => strs(&["3"]),
                1 => strs(&["2", "3.9", "4", ""]),
                1 => number(),
            ];
            prop_oneof![
                5 => (prop::option::of(name), prop::option::of(py)).prop_map(|(n, p)| {
                    let mut m = Vec::new();
                    if let Some(n) = n {
                        m.push(("Name".to_owned(), n));
                    }
                    if let Some(p) = p {
                        m.push(("PythonVersion".to_owned(), p));
                    }
                    J::Obj(m)
                }),
                1 => any_json(),
            ]
            .boxed()
        }
        Kind::Minutes | Kind::Count | Kind::Double => prop_oneof![
            3 => (1i64..3000).prop_map(|n| J::Lit(n.to_string())),
            4 => number(),
        ]
        .boxed(),
        Kind::Worker => prop_oneof![
            4 => strs(&["G.1X", "G.2X", "G.025X", "Z.2X", "R.8X", "Standard"]),
            1 => strs(&["G.3X", "g.1x", ""]),
            1 => text(),
        ]
        .boxed(),
        Kind::GlueVersion => prop_oneof![
            4 => strs(&["5.0", "4.0", "auto", "2.1"]),
            2 => strs(&["2.0", "1.0", "5", "5.", ".5", "a b", "ａ.1", "auto2", "99999999999999999999.1"]),
            1 => text(),
        ]
        .boxed(),
        Kind::SessionType => prop_oneof![
            3 => strs(&["LIVY"]),
            1 => strs(&["SPARK_CONNECT", "livy", ""]),
            1 => text(),
        ]
        .boxed(),
        Kind::Text => text(),
        Kind::Args => {
            let k = prop_oneof![
                3 => select(&["--enable-glue-datacatalog", "--conf", "--job-language", "--TempDir"][..])
                    .prop_map(esc),
                1 => select(&["bad key", "", "k=v", "é"][..]).prop_map(esc),
                1 => "[a-z-]{1,10}".prop_map(|s| esc(&s)),
            ];
            prop_oneof![
                6 => prop::collection::vec((k, text()), 0..5).prop_map(J::Obj),
                1 => (70usize..80)
                    .prop_map(|n| J::Obj((0..n).map(|i| (format!("--a{i}"), js("v"))).collect())),
            ]
            .boxed()
        }
        Kind::Connections => prop_oneof![
            4 => prop::collection::vec(text(), 0..4)
                .prop_map(|v| J::Obj(vec![("Connections".to_owned(), J::Arr(v))])),
            1 => any_json(),
        ]
        .boxed(),
        Kind::Tags => tags_map(),
        Kind::TagKeys => prop_oneof![
            6 => prop::collection::vec(tag_key(), 0..6)
                .prop_map(|v| J::Arr(v.into_iter().map(J::Str).collect())),
            1 => (45usize..60).prop_map(|n| J::Arr((0..n).map(|i| js(&format!("k{i:02}"))).collect())),
        ]
        .boxed(),
        Kind::Arn => prop_oneof![
            5 => select(pools.arns.clone()).prop_map(|s| js(&s)),
            1 => strs(&[
                "arn:aws:s3:::bucket",
                "arn:aws:glue:us-east-1:000000000000:session/",
                "arn:aws:glue:us-east-1:000000000000:job/seed-1",
                "arn:aws-iso-b:glue:x",
                "arn:aws:glue:",
            ]),
            1 => text(),
        ]
        .boxed(),
        Kind::Token => token(pools.tokens.clone()).prop_map(|t| js(&t)).boxed(),
        Kind::CatalogName => catalog_name(),
        Kind::NameList => prop::collection::vec(catalog_name(), 0..4).prop_map(J::Arr).boxed(),
        Kind::DatabaseInput => prop_oneof![
            5 => (catalog_name(), prop::option::of(location()), prop::option::of(tags_map()))
                .prop_map(|(name, loc, params)| {
                    let mut m = vec![("Name".to_owned(), name)];
                    m.extend(loc.map(|l| ("LocationUri".to_owned(), l)));
                    m.extend(params.map(|p| ("Parameters".to_owned(), p)));
                    J::Obj(m)
                }),
            1 => any_json(),
        ]
        .boxed(),
        Kind::TableInput => {
            let table_type = prop_oneof![
                4 => strs(&["EXTERNAL_TABLE", "MANAGED_TABLE", "VIRTUAL_VIEW"]),
                1 => text(),
            ];
            let keys = prop::collection::vec((catalog_name(), strs(&["int", "string", "x"])), 0..3)
                .prop_map(|cols| {
                    J::Arr(cols.into_iter()
                        .map(|(n, t)| J::Obj(vec![("Name".to_owned(), n), ("Type".to_owned(), t)]))
                        .collect())
                });
            prop_oneof![
                6 => (catalog_name(), prop::option::of(table_type), prop::option::of(keys),
                      prop::option::of(location()), prop::option::of(tags_map()))
                    .prop_map(|(name, ty, keys, loc, params)| {
                        let mut m = vec![("Name".to_owned(), name)];
                        m.extend(ty.map(|t| ("TableType".to_owned(), t)));
                        m.extend(keys.map(|k| ("PartitionKeys".to_owned(), k)));
                        m.extend(loc.map(|l| {
                            ("StorageDescriptor".to_owned(), J::Obj(vec![("Location".to_owned(), l)]))
                        }));
                        m.extend(params.map(|p| ("Parameters".to_owned(), p)));
                        J::Obj(m)
                    }),
                1 => any_json(),
            ]
            .boxed()
        }
        Kind::PartitionInput => partition_input(),
        Kind::PartitionInputs => prop::collection::vec(partition_input(), 0..4).prop_map(J::Arr).boxed(),
        Kind::PartitionValues => partition_values(),
        Kind::ValueLists => prop::collection::vec(
            partition_values().prop_map(|v| J::Obj(vec![("Values".to_owned(), v)])),
            0..4,
        )
        .prop_map(J::Arr)
        .boxed(),
        Kind::Expression => prop_oneof![
            4 => strs(&[
                "year = 2024", "year > 2023 AND region = 'eu'", "region IN ('eu', 'us')",
                "year BETWEEN 1 AND 3000 OR NOT region LIKE 'e%'", "fz.*", "*", "",
                "year = 'x'", "(year = 1", "nokey = 1", "region = 'unterminated", "[", "a{99999}",
            ]),
            2 => text(),
        ]
        .boxed(),
        Kind::FunctionInput => prop_oneof![
            4 => (catalog_name(), prop::option::of(text()), prop::option::of(strs(&["USER", "ROLE", "NOBODY"])))
                .prop_map(|(name, class, owner)| {
                    let mut m = vec![("FunctionName".to_owned(), name)];
                    m.extend(class.map(|c| ("ClassName".to_owned(), c)));
                    m.extend(owner.map(|o| ("OwnerType".to_owned(), o)));
                    J::Obj(m)
                }),
            1 => any_json(),
        ]
        .boxed(),
        Kind::Flag => prop_oneof![
            3 => select(&["true", "false"][..]).prop_map(|l| J::Lit(l.to_owned())),
            1 => text(),
        ]
        .boxed(),
    }
}

/// Names of seeded catalog objects (in any case), fresh ones and hostile text.
fn catalog_name() -> BoxedStrategy<J> {
    prop_oneof![
        5 => strs(&["fzdb", "fzt", "fzf", "FZDB", "Fzt", "nope"]),
        2 => "fz[a-z0-9_]{0,6}".prop_map(|s| js(&s)),
        2 => text(),
    ]
    .boxed()
}

fn location() -> BoxedStrategy<J> {
    prop_oneof![
        3 => strs(&["file:///tmp/epoxy-fuzz/x", "s3://bucket/p", "", "file:/dev/null/x", "file://host/x"]),
        1 => text(),
    ]
    .boxed()
}

fn partition_values() -> BoxedStrategy<J> {
    prop_oneof![
        4 => prop::collection::vec(strs(&["2023", "2024", "eu", "us", "", "__HIVE_DEFAULT_PARTITION__"]), 0..3)
            .prop_map(J::Arr),
        1 => prop::collection::vec(text(), 0..3).prop_map(J::Arr),
        1 => any_json(),
    ]
    .boxed()
}

fn partition_input() -> BoxedStrategy<J> {
    prop_oneof![
        5 => (partition_values(), prop::option::of(tags_map())).prop_map(|(v, p)| {
            let mut m = vec![("Values".to_owned(), v)];
            m.extend(p.map(|p| ("Parameters".to_owned(), p)));
            J::Obj(m)
        }),
        1 => any_json(),
    ]
    .boxed()
}

/// Byte-level damage to a rendered body.
#[derive(Clone, Debug)]
enum Damage {
    None,
    DuplicateFirstMember,
    /// Repeats the first member of the first nested object (`Command`, `Tags`, …).
    DuplicateNested,
    WrapInArray,
    Truncate(prop::sample::Index),
    Append(Vec<u8>),
    Insert(prop::sample::Index, Vec<u8>),
}

fn damage() -> BoxedStrategy<Damage> {
    let bytes = prop_oneof![
        prop::collection::vec(any::<u8>(), 1..6),
        select(vec![
            &b"\xff"[..],
            b"\0",
            b"}",
            b",",
            b"\"",
            b"\xc3",
            b"\xed\xa0\x80"
        ])
        .prop_map(<[u8]>::to_vec),
    ];
    prop_oneof![
        40 => Just(Damage::None),
        2 => Just(Damage::DuplicateFirstMember),
        2 => Just(Damage::DuplicateNested),
        1 => Just(Damage::WrapInArray),
        1 => any::<prop::sample::Index>().prop_map(Damage::Truncate),
        1 => bytes.clone().prop_map(Damage::Append),
        1 => (any::<prop::sample::Index>(), bytes).prop_map(|(i, b)| Damage::Insert(i, b)),
    ]
    .boxed()
}

/// A generated body: JSON (with its damage), or raw bytes.
#[derive(Clone)]
enum BodyGen {
    Json(J, Damage),
    Raw(Vec<u8>),
}

impl fmt::Debug for BodyGen {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BodyGen::Json(j, d) => write!(f, "{j:?} damaged by {d:?}"),
            BodyGen::Raw(b) => write!(f, "raw {:?}", String::from_utf8_lossy(b)),
        }
    }
}

/// Members holding objects whose keys must not repeat, and the inner keys that count.
const NESTED: &[(&str, Option<&[&str]>)] = &[
    ("Command", Some(&["Name", "PythonVersion"])),
    ("Connections", Some(&["Connections"])),
    ("Tags", None),
    ("TagsToAdd", None),
    ("DefaultArguments", None),
];

impl BodyGen {
    /// The JSON after the structural damage, and which repeated member of `op`'s input (if any)
    /// the server must refuse.
    fn duplicated(j: &J, d: &Damage, op: &str) -> (J, Option<String>) {
        let known = |k: &str| members(op).iter().any(|(name, _, _)| *name == k);
        let J::Obj(m) = j else {
            return (j.clone(), None);
        };
        let mut m = m.clone();
        match d {
            Damage::DuplicateFirstMember if !m.is_empty() => {
                let key = m[0].0.clone();
                m.push(m[0].clone());
                let refuse = known(&key).then_some(key);
                (J::Obj(m), refuse)
            }
            Damage::DuplicateNested => {
                let found = m.iter_mut().find_map(|(k, v)| match v {
                    J::Obj(inner) if !inner.is_empty() && known(k) => {
                        let (_, keys) = NESTED.iter().find(|(n, _)| n == k)?;
                        let inner_key = inner[0].0.clone();
                        inner.push(inner[0].clone());
                        let counts = keys.is_none_or(|ks| ks.contains(&inner_key.as_str()));
                        Some(counts.then(|| format!("{k}.{inner_key}")))
                    }
                    _ => None,
                });
                (J::Obj(m), found.flatten())
            }
            _ => (J::Obj(m), None),
        }
    }

    /// The body's bytes, and the repeated member the server must refuse (if any).
    fn render(&self, op: &str) -> (Vec<u8>, Option<String>) {
        match self {
            BodyGen::Raw(b) => (b.clone(), None),
            BodyGen::Json(j, d) => {
                let (j, dup) = Self::duplicated(j, d, op);
                let mut b = j.text().into_bytes();
                match d {
                    Damage::WrapInArray => {
                        b.insert(0, b'[');
                        b.push(b']');
                    }
                    Damage::Truncate(i) => b.truncate(i.index(b.len().max(1))),
                    Damage::Append(x) => b.extend_from_slice(x),
                    Damage::Insert(i, x) => {
                        let at = i.index(b.len() + 1);
                        b.splice(at..at, x.iter().copied());
                    }
                    _ => {}
                }
                (b, dup)
            }
        }
    }
}

fn raw_body() -> BoxedStrategy<Vec<u8>> {
    prop_oneof![
        2 => prop::collection::vec(any::<u8>(), 0..64),
        2 => select(vec![
            &b""[..], b"   ", b"null", b"[]", b"[null]", b"\"x\"", b"1", b"true", b"{", b"}",
            b"{}{}", b"{} x", b"\xef\xbb\xbf{}", b"\xff\xfe{\x00}\x00", b"{\"Id\":\"seed-1\"",
            b"Action=GetCallerIdentity&Version=2011-06-15",
        ])
        .prop_map(<[u8]>::to_vec),
    ]
    .boxed()
}

/// A body for `op`: its real members (required ones usually present, values mostly plausible,
/// some hostile), a few random members, optional damage; sometimes raw bytes instead.
fn body_for(op: &'static str, pools: &Pools) -> BoxedStrategy<BodyGen> {
    let fields: Vec<BoxedStrategy<Option<(String, J)>>> = members(op)
        .iter()
        .map(|&(name, kind, required)| {
            let value = prop_oneof![8 => plausible(kind, pools), 1 => any_json()];
            prop::option::weighted(if required { 0.85 } else { 0.35 }, value)
                .prop_map(move |v| v.map(|v| (name.to_owned(), v)))
                .boxed()
        })
        .collect();
    let extras = prop::collection::vec((key(), any_json()), 0..3);
    let object = (fields, extras, any::<bool>()).prop_map(|(fields, extras, extras_first)| {
        let mut m: Vec<(String, J)> = fields.into_iter().flatten().collect();
        if extras_first {
            let mut e = extras;
            e.extend(m);
            m = e;
        } else {
            m.extend(extras);
        }
        J::Obj(m)
    });
    // A valid request with up to two members replaced: reaches the rules and the store.
    let overrides: Vec<BoxedStrategy<(String, J)>> = members(op)
        .iter()
        .map(|&(name, kind, _)| {
            prop_oneof![8 => plausible(kind, pools), 1 => any_json()]
                .prop_map(move |v| (name.to_owned(), v))
                .boxed()
        })
        .collect();
    let near_valid = (
        valid_base(op, pools),
        prop::collection::vec(Union::new(overrides), 0..3),
    )
        .prop_map(|(mut base, overrides)| {
            for (k, v) in overrides {
                match base.iter_mut().find(|(name, _)| *name == k) {
                    Some(slot) => slot.1 = v,
                    None => base.push((k, v)),
                }
            }
            J::Obj(base)
        });
    prop_oneof![
        6 => (object, damage()).prop_map(|(j, d)| BodyGen::Json(j, d)),
        6 => (near_valid, damage()).prop_map(|(j, d)| BodyGen::Json(j, d)),
        1 => any_json().prop_map(|j| BodyGen::Json(j, Damage::None)),
        1 => raw_body().prop_map(BodyGen::Raw),
    ]
    .boxed()
}

/// The members of a valid request for `op` (naming seeded sessions, or a fresh one to create).
fn valid_base(op: &str, pools: &Pools) -> BoxedStrategy<Vec<(String, J)>> {
    let seed = select(pools.ids.clone()).prop_map(|s| js(&s));
    let arn = select(pools.arns.clone()).prop_map(|s| js(&s));
    let sid = |seed: J| vec![("SessionId".to_owned(), seed)];
    match op {
        "CreateSession" => "fz-[a-z0-9]{1,8}"
            .prop_map(|id| {
                vec![
                    ("Id".to_owned(), js(&id)),
                    ("Role".to_owned(), js(ROLE)),
                    (
                        "Command".to_owned(),
                        J::Obj(vec![
                            ("Name".to_owned(), js("glueetl")),
                            ("PythonVersion".to_owned(), js("3")),
                        ]),
                    ),
                ]
            })
            .boxed(),
        "GetSession" | "StopSession" | "DeleteSession" | "GetSystemLogsForSession" => {
            seed.prop_map(|id| vec![("Id".to_owned(), id)]).boxed()
        }
        "GetSessionEndpoint" | "ListStatements" => seed.prop_map(sid).boxed(),
        "RunStatement" => seed
            .prop_map(move |id| {
                let mut m = sid(id);
                m.push(("Code".to_owned(), js("1 + 1")));
                m
            })
            .boxed(),
        "GetStatement" | "CancelStatement" => seed
            .prop_map(move |id| {
                let mut m = sid(id);
                m.push(("Id".to_owned(), J::Lit("0".into())));
                m
            })
            .boxed(),
        "TagResource" => arn
            .prop_map(|a| {
                vec![
                    ("ResourceArn".to_owned(), a),
                    (
                        "TagsToAdd".to_owned(),
                        J::Obj(vec![("fz".to_owned(), js("1"))]),
                    ),
                ]
            })
            .boxed(),
        "UntagResource" => arn
            .prop_map(|a| {
                vec![
                    ("ResourceArn".to_owned(), a),
                    (
                        "TagsToRemove".to_owned(),
                        J::Arr(vec![js("fz"), js("team")]),
                    ),
                ]
            })
            .boxed(),
        "GetTags" => arn
            .prop_map(|a| vec![("ResourceArn".to_owned(), a)])
            .boxed(),
        op => Just(catalog_base(op)).boxed(),
    }
}

/// A well-formed catalog request naming the seeded `fzdb.fzt` (empty for other operations).
fn catalog_base(op: &str) -> Vec<(String, J)> {
    let db = ("DatabaseName".to_owned(), js("fzdb"));
    let table = ("TableName".to_owned(), js("fzt"));
    let values = || J::Arr(vec![js("2024"), js("eu")]);
    let input = |name: &str| J::Obj(vec![("Name".to_owned(), js(name))]);
    match op {
        "CreateDatabase" | "UpdateDatabase" => {
            let mut m = vec![("DatabaseInput".to_owned(), input("fzdb"))];
            if op == "UpdateDatabase" {
                m.push(("Name".to_owned(), js("fzdb")));
            }
            m
        }
        "GetDatabase" | "DeleteDatabase" => vec![("Name".to_owned(), js("fzdb"))],
        "CreateTable" | "UpdateTable" => vec![db, ("TableInput".to_owned(), input("fzt"))],
        "GetTable" | "DeleteTable" => vec![db, ("Name".to_owned(), js("fzt"))],
        "GetTables" => vec![db],
        "BatchDeleteTable" => vec![db, ("TablesToDelete".to_owned(), J::Arr(vec![js("fzt")]))],
        "GetTableVersions" | "GetPartitions" => vec![db, table],
        "CreatePartition" => vec![
            db,
            table,
            (
                "PartitionInput".to_owned(),
                J::Obj(vec![("Values".to_owned(), values())]),
            ),
        ],
        "GetPartition" | "DeletePartition" => {
            vec![db, table, ("PartitionValues".to_owned(), values())]
        }
        "UpdatePartition" => vec![
            db,
            table,
            ("PartitionValueList".to_owned(), values()),
            (
                "PartitionInput".to_owned(),
                J::Obj(vec![("Values".to_owned(), values())]),
            ),
        ],
        "BatchCreatePartition" => vec![
            db,
            table,
            (
                "PartitionInputList".to_owned(),
                J::Arr(vec![J::Obj(vec![("Values".to_owned(), values())])]),
            ),
        ],
        "BatchGetPartition" | "BatchDeletePartition" => {
            let key = if op == "BatchGetPartition" {
                "PartitionsToGet"
            } else {
                "PartitionsToDelete"
            };
            vec![
                db,
                table,
                (
                    key.to_owned(),
                    J::Arr(vec![J::Obj(vec![("Values".to_owned(), values())])]),
                ),
            ]
        }
        "CreateUserDefinedFunction" => vec![
            db,
            (
                "FunctionInput".to_owned(),
                J::Obj(vec![("FunctionName".to_owned(), js("fzf"))]),
            ),
        ],
        "GetUserDefinedFunction" | "DeleteUserDefinedFunction" => {
            vec![db, ("FunctionName".to_owned(), js("fzf"))]
        }
        "UpdateUserDefinedFunction" => vec![
            db,
            ("FunctionName".to_owned(), js("fzf")),
            (
                "FunctionInput".to_owned(),
                J::Obj(vec![("FunctionName".to_owned(), js("fzf"))]),
            ),
        ],
        "GetUserDefinedFunctions" => vec![("Pattern".to_owned(), js("*"))],
        _ => Vec::new(),
    }
}

// =============================================================================================
// property runner

fn run_property<S>(name: &str, strategy: S, test: impl Fn(S::Value) -> TestCaseResult)
where
    S: Strategy,
{
    let cases = fuzz_cases();
    let mut runner = TestRunner::new(Config {
        cases,
        failure_persistence: None,
        max_shrink_iters: 512,
        max_global_rejects: cases.saturating_mul(4),
        ..Config::default()
    });
    let ran = AtomicUsize::new(0);
    let started = Instant::now();
    let result = runner.run(&strategy, |v| {
        ran.fetch_add(1, Ordering::Relaxed);
        test(v)
    });
    println!(
        "fuzz {name}: {} cases run ({cases} configured, EPOXY_FUZZ_CASES) in {:.1?}",
        ran.load(Ordering::Relaxed),
        started.elapsed()
    );
    if let Err(e) = result {
        panic!("fuzz {name} broke an invariant: {e}");
    }
}

/// `(op, code)` counts, printed after a property to show what the fuzzer reached.
#[derive(Default)]
struct Tally(Mutex<BTreeMap<String, usize>>);

impl Tally {
    fn add(&self, key: String) {
        *self
            .0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .entry(key)
            .or_default() += 1;
    }

    fn print(&self, name: &str) {
        let t = self.0.lock().unwrap_or_else(|e| e.into_inner());
        let line: Vec<String> = t.iter().map(|(k, n)| format!("{k}×{n}")).collect();
        println!("fuzz {name} outcomes: {}", line.join(", "));
    }
}

// =============================================================================================
// property 1: HTTP framing

/// Authorization headers: none, garbage, near-valid SigV4 with random components, or a real
/// signature (optionally damaged afterwards).
#[derive(Clone, Debug)]
enum Auth {
    Absent,
    Raw(Shown),
    NearValid {
        key: String,
        date: String,
        region: String,
        service: String,
        terminator: String,
        signed: String,
        signature: String,
        sep: &'static str,
    },
    Signed,
}

fn today() -> String {
    let t = OffsetDateTime::now_utc();
    format!("{:04}{:02}{:02}", t.year(), u8::from(t.month()), t.day())
}

fn auth() -> BoxedStrategy<Auth> {
    let near = (
        prop_oneof![
            3 => select(&["AKIDFUZZA", "AKIDFUZZB", "AKIDANYONE"][..]).prop_map(str::to_owned),
            1 => "[A-Za-z0-9/=]{0,12}",
        ],
        prop_oneof![
            3 => Just(today()),
            1 => select(&["20261124", "99991231", "19700101", "", "2026-11-24", "today"][..])
                .prop_map(str::to_owned),
        ],
        prop_oneof![
            3 => select(&["us-east-1", "eu-west-1"][..]).prop_map(str::to_owned),
            1 => select(&["", "US-EAST-1", "us_east_1", "a b", "é"][..]).prop_map(str::to_owned),
            1 => "[a-z0-9-]{1,40}",
        ],
        select(&["glue", "sts", "s3", "", "GLUE"][..]).prop_map(str::to_owned),
        select(&["aws4_request", "aws4_reques", "", "aws4_request/x"][..]).prop_map(str::to_owned),
        prop_oneof![
            3 => select(&[
                "content-type;host;x-amz-date;x-amz-target",
                "host;x-amz-date",
                "host",
                "x-amz-date",
                "",
                "host;x-amz-date;x-amz-content-sha256",
                "Host;X-Amz-Date",
                "host;host;x-amz-date",
                "host;x-amz-date;date;missing-header",
            ][..])
            .prop_map(str::to_owned),
            1 => "[a-z;-]{0,30}",
        ],
        prop_oneof![
            2 => "[0-9a-f]{64}",
            1 => "[0-9A-F]{64}",
            1 => "[0-9a-z]{0,70}",
        ],
        select(&[", ", ",", " ", ",,", "\t"][..]),
    )
        .prop_map(
            |(key, date, region, service, terminator, signed, signature, sep)| Auth::NearValid {
                key,
                date,
                region,
                service,
                terminator,
                signed,
                signature,
                sep,
            },
        );
    prop_oneof![
        2 => Just(Auth::Absent),
        10 => Just(Auth::Signed),
        4 => near,
        1 => prop::collection::vec(any::<u8>(), 0..80).prop_map(|b| Auth::Raw(Shown(b))),
        1 => select(vec![
            &b""[..], b"   ", b"AWS4-HMAC-SHA256", b"Bearer x", b"AWS4-HMAC-SHA256 Credential",
            b"AWS4-HMAC-SHA256 Credential=a/b/c/d/aws4_request, Signature=00",
            b"AWS4-HMAC-SHA256 Credential=AKIDFUZZA/20261124/us-east-1/glue/aws4_request, SignedHeaders=host, Signature=0, Signature=1",
            b"AWS AKIDFUZZA:signature",
        ])
        .prop_map(|b| Auth::Raw(Shown(b.to_vec()))),
    ]
    .boxed()
}

#[derive(Clone, Debug)]
enum DateHeader {
    AsSigned,
    Absent,
    Value(String),
}

fn date_header() -> BoxedStrategy<DateHeader> {
    let now = OffsetDateTime::now_utc();
    prop_oneof![
        14 => Just(DateHeader::AsSigned),
        1 => Just(DateHeader::Absent),
        1 => select(vec![
            amz_date(now),
            amz_date(now + time::Duration::days(3650)),
            amz_date(now - time::Duration::days(1)),
            amz_date(now + time::Duration::minutes(14)),
            amz_date(now + time::Duration::minutes(16)),
            "99991231T235959Z".into(),
            "00000101T000000Z".into(),
            "20261124T232404".into(),
            "2026-11-24T23:24:04Z".into(),
            "Tue, 24 Nov 2026 23:24:04 GMT".into(),
            "".into(),
            "20261399T999999Z".into(),
        ])
        .prop_map(DateHeader::Value),
        1 => "[0-9TZ]{0,20}".prop_map(DateHeader::Value),
    ]
    .boxed()
}

#[derive(Clone)]
struct Framing {
    sigv4: bool,
    caller: usize,
    method: &'static str,
    path: String,
    target: Option<Vec<u8>>,
    content_type: Option<Vec<u8>>,
    auth: Auth,
    date: DateHeader,
    host: Option<Vec<u8>>,
    extra: Vec<(String, Vec<u8>)>,
    body: Vec<u8>,
    /// Change the body after signing.
    tamper_body: bool,
}

/// Bytes that debug-print as escaped text.
#[derive(Clone)]
struct Shown(Vec<u8>);

impl fmt::Debug for Shown {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "b\"{}\"", show(&self.0))
    }
}

fn show(b: &[u8]) -> String {
    clip(&b.escape_ascii().to_string(), 600)
}

impl fmt::Debug for Framing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let opt = |o: &Option<Vec<u8>>| o.as_deref().map(show);
        f.debug_struct("Framing")
            .field("sigv4", &self.sigv4)
            .field("caller", &self.caller)
            .field("method", &self.method)
            .field("path", &self.path)
            .field("target", &opt(&self.target))
            .field("content_type", &opt(&self.content_type))
            .field("auth", &self.auth)
            .field("date", &self.date)
            .field("host", &opt(&self.host))
            .field(
                "extra",
                &self
                    .extra
                    .iter()
                    .map(|(k, v)| format!("{k}: {}", show(v)))
                    .collect::<Vec<_>>(),
            )
            .field("body", &show(&self.body))
            .field("tamper_body", &self.tamper_body)
            .finish()
    }
}

fn header_value() -> BoxedStrategy<Vec<u8>> {
    prop::collection::vec(any::<u8>(), 0..40)
        .prop_map(|mut v| {
            for b in v.iter_mut() {
                if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
                    *b = b'?';
                }
            }
            v
        })
        .boxed()
}

fn framing() -> impl Strategy<Value = Framing> {
    let target = prop_oneof![
        2 => Just(None),
        12 => select(target_ops()).prop_map(|op| Some(format!("AWSGlue.{op}").into_bytes())),
        1 => select(&[
            "AWSGlue.", "AWSGlue", "awsglue.GetSession", "AWSGlue.GetSession ", " AWSGlue.GetSession",
            "AWSGlue.GetSession.GetSession", "AmazonSSM.GetSession", "AWSGlue.AWSGlue.ListSessions",
            "AWSSecurityTokenServiceV20110615.GetCallerIdentity",
        ][..])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => header_value().prop_map(|mut v| {
            let mut t = b"AWSGlue.".to_vec();
            t.append(&mut v);
            Some(t)
        }),
    ];
    let content_type = prop_oneof![
        12 => Just(Some(JSON_1_1.as_bytes().to_vec())),
        1 => select(&[
            "application/x-amz-json-1.0", "application/json", "text/plain", "",
            "application/x-amz-json-1.1; charset=utf-8", "APPLICATION/X-AMZ-JSON-1.1",
            FORM, "application/x-www-form-urlencoded", "Application/X-WWW-Form-Urlencoded",
            "multipart/form-data; boundary=x",
        ][..])
        .prop_map(|s| Some(s.as_bytes().to_vec())),
        1 => Just(None),
        1 => header_value().prop_map(Some),
    ];
    let path = prop_oneof![
        16 => Just("/".to_owned()),
        3 => select(&[
            "/?", "/?Action=GetCallerIdentity", "//", "/health", "/health/", "/logs/abc", "/logs/",
            "/logs/a/b", "/%2F", "/./", "/x/..", "/AWSGlue.GetSession", "/index.html", "/?x=%zz",
            "/\u{e9}",
        ][..])
        .prop_map(str::to_owned),
        1 => "/[A-Za-z0-9%._~/?=&-]{0,30}",
    ];
    let method = prop_oneof![
        16 => Just("POST"),
        1 => select(&["GET", "PUT", "DELETE", "HEAD", "PATCH", "OPTIONS", "FUZZ", "post"][..]),
    ];
    let host = prop_oneof![
        12 => Just(Some(b"localhost:4747".to_vec())),
        1 => Just(None),
        1 => header_value().prop_map(Some),
    ];
    let extra_name = select(
        &[
            "x-amz-content-sha256",
            "x-amz-security-token",
            "date",
            "x-amz-date",
            "x-amz-target",
            "content-type",
            "authorization",
            "host",
            "x-forwarded-for",
            "expect",
            "accept-encoding",
            "x-amz-fuzz",
        ][..],
    )
    .prop_map(str::to_owned);
    let extra_value = prop_oneof![
        2 => select(&[
            "UNSIGNED-PAYLOAD", "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
            "100-continue", "gzip", "AWSGlue.DeleteSession",
        ][..])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => header_value(),
    ];
    let body = prop_oneof![
        3 => select(&[
            "{}", "{\"Id\":\"seed-1\"}", "{\"MaxResults\":1}", "{\"Id\":\"seed-2\",\"RequestOrigin\":\"x\"}",
            "{\"ResourceArn\":\"arn:aws:glue:us-east-1:000000000000:session/seed-1\"}",
            "Action=GetCallerIdentity&Version=2011-06-15",
        ][..])
        .prop_map(|s| s.as_bytes().to_vec()),
        1 => raw_body(),
    ];
    (
        (any::<bool>(), 0usize..3, method, path, target, content_type),
        (
            auth(),
            date_header(),
            host,
            prop::collection::vec((extra_name, extra_value), 0..3),
            body,
            prop::bool::weighted(0.05),
        ),
    )
        .prop_map(
            |(
                (sigv4, caller, method, path, target, content_type),
                (auth, date, host, extra, body, tamper_body),
            )| Framing {
                sigv4,
                caller,
                method,
                path,
                target,
                content_type,
                auth,
                date,
                host,
                extra,
                body,
                tamper_body,
            },
        )
}

/// A value a client can sign: a valid header value that is also visible ASCII (HTTP allows
/// obs-text bytes, which no SDK signs and the signer cannot canonicalise).
fn signable(v: &str) -> bool {
    HeaderValue::from_str(v).is_ok() && v.is_ascii()
}

impl Framing {
    fn wire(&self, f: &Fixture) -> Wire {
        let mut headers = Vec::new();
        if let Some(h) = &self.host {
            headers.push(("host".to_owned(), h.clone()));
        }
        if let Some(c) = &self.content_type {
            headers.push(("content-type".to_owned(), c.clone()));
        }
        if let Some(t) = &self.target {
            headers.push(("x-amz-target".to_owned(), t.clone()));
        }
        let mut w = Wire {
            method: self.method.to_owned(),
            path: self.path.clone(),
            headers,
            body: self.body.clone(),
        };
        match &self.auth {
            Auth::Absent => {}
            Auth::Raw(Shown(v)) => {
                let mut v = v.clone();
                for b in v.iter_mut() {
                    if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
                        *b = b'?';
                    }
                }
                w.set_header("authorization", Some(v));
            }
            Auth::NearValid {
                key,
                date,
                region,
                service,
                terminator,
                signed,
                signature,
                sep,
            } => {
                let v = format!(
                    "AWS4-HMAC-SHA256 Credential={key}/{date}/{region}/{service}/{terminator}{sep}SignedHeaders={signed}{sep}Signature={signature}"
                );
                w.set_header("authorization", Some(v.into_bytes()));
                w.set_header(
                    "x-amz-date",
                    Some(amz_date(OffsetDateTime::now_utc()).into_bytes()),
                );
            }
            Auth::Signed => {
                // Sign what a client would have sent, then the generated framing replaces it.
                let target = self
                    .target
                    .as_ref()
                    .and_then(|t| std::str::from_utf8(t).ok())
                    .filter(|t| signable(t));
                let ct = self
                    .content_type
                    .as_ref()
                    .and_then(|c| std::str::from_utf8(c).ok())
                    .filter(|c| signable(c))
                    .unwrap_or(JSON_1_1);
                let service = if target.is_none() && is_form(Some(ct.as_bytes())) {
                    "sts"
                } else {
                    "glue"
                };
                let signed = f.client_headers(self.caller, service, target, ct, &self.body);
                for (k, v) in signed {
                    if k == "authorization" || k == "x-amz-date" {
                        w.set_header(&k, Some(v));
                    }
                }
            }
        }
        match &self.date {
            DateHeader::AsSigned => {}
            DateHeader::Absent => w.set_header("x-amz-date", None),
            DateHeader::Value(v) => w.set_header("x-amz-date", Some(v.clone().into_bytes())),
        }
        for (k, v) in &self.extra {
            w.headers.push((k.clone(), v.clone()));
        }
        if self.tamper_body {
            w.body.extend_from_slice(b" ");
        }
        w
    }
}

#[test]
fn fuzz_http_framing() {
    let h = Harness::new();
    let tally = Tally::default();
    run_property("http_framing", framing(), |case| {
        let f = h.fixture(case.sigv4);
        let w = case.wire(f);
        let reply = f.exercise(&w)?;
        let code = check_reply(&w, &reply)?;
        tally.add(format!(
            "{}:{}",
            reply.status.as_u16(),
            code.unwrap_or_default()
        ));
        Ok(())
    });
    tally.print("http_framing");
}

// =============================================================================================
// property 2: JSON bodies for every Glue operation

#[derive(Clone, Debug)]
struct GlueCase {
    sigv4: bool,
    caller: usize,
    op: &'static str,
    body: BodyGen,
    json_1_0: bool,
}

fn glue_cases(pools: &Pools) -> impl Strategy<Value = GlueCase> {
    let by_op: Vec<(u32, BoxedStrategy<(&'static str, BodyGen)>)> = target_ops()
        .iter()
        .map(|&op| {
            // Operations epoxy does not serve are a small share.
            let weight = if op == "CreateJob" || op == "getSession" {
                1
            } else {
                4
            };
            (
                weight,
                body_for(op, pools).prop_map(move |b| (op, b)).boxed(),
            )
        })
        .collect();
    (
        any::<bool>(),
        0usize..3,
        Union::new_weighted(by_op),
        prop::bool::weighted(0.1),
    )
        .prop_map(|(sigv4, caller, (op, body), json_1_0)| GlueCase {
            sigv4,
            caller,
            op,
            body,
            json_1_0,
        })
}

#[test]
fn fuzz_glue_bodies() {
    let h = Harness::new();
    let pools = h.pools();
    let tally = Tally::default();
    run_property("glue_bodies", glue_cases(&pools), |case| {
        let f = h.fixture(case.sigv4);
        let (body, duplicate) = case.body.render(case.op);
        let ct = if case.json_1_0 {
            "application/x-amz-json-1.0"
        } else {
            JSON_1_1
        };
        let target = format!("AWSGlue.{}", case.op);
        let w = Wire {
            method: "POST".into(),
            path: "/".into(),
            headers: f.client_headers(case.caller, "glue", Some(&target), ct, &body),
            body,
        };
        let reply = f.exercise(&w)?;
        let code = check_reply(&w, &reply)?;
        // A correctly signed request is never refused for its credentials.
        if let Some(c) = &code
            && matches!(
                c.as_str(),
                "MissingAuthenticationToken"
                    | "IncompleteSignature"
                    | "InvalidClientTokenId"
                    | "SignatureDoesNotMatch"
                    | "RequestExpired"
            )
        {
            return fail(&w, &reply, "a correctly signed request was refused");
        }
        // Only a JSON object (or an empty body, read as `{}`) is an input.
        let text = String::from_utf8_lossy(&w.body);
        let trimmed = text.trim_matches(|c: char| c.is_ascii_whitespace());
        if code.is_none() && !trimmed.is_empty() && !trimmed.starts_with('{') {
            return fail(&w, &reply, "a body that is not a JSON object was accepted");
        }
        // A repeated member is the client's error at every level (a body over the size
        // limit is refused before it is parsed, so that refusal counts too).
        if let Some(member) = &duplicate
            && !matches!(
                code.as_deref(),
                Some("SerializationException" | "RequestEntityTooLargeException")
            )
            && !case.op.starts_with(|c: char| c.is_ascii_lowercase())
            && case.op != "CreateJob"
        {
            return fail(
                &w,
                &reply,
                format!("repeated member {member} was not refused"),
            );
        }
        tally.add(format!("{}:{}", case.op, code.as_deref().unwrap_or("OK")));
        Ok(())
    });
    tally.print("glue_bodies");
}

// =============================================================================================
// property 3: awsQuery (STS) form bodies

#[derive(Clone, Debug)]
enum FormBody {
    Pairs(Vec<(String, String)>, bool),
    Raw(Vec<u8>),
}

#[derive(Clone, Debug)]
struct QueryCase {
    sigv4: bool,
    caller: usize,
    content_type: &'static str,
    body: FormBody,
    /// Credential scope service: `sts` (right), `glue` (wrong), or no signature at all.
    service: Option<&'static str>,
    with_target: bool,
    /// An Authorization header replacing the signature.
    garbage_auth: Option<String>,
}

fn query_cases() -> impl Strategy<Value = QueryCase> {
    let k = prop_oneof![
        4 => select(&["Action", "Version"][..]).prop_map(str::to_owned),
        1 => select(&["action", "Action ", "Foo", "", "Action[]", "%41ction"][..]).prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let v = prop_oneof![
        4 => select(&["GetCallerIdentity", "2011-06-15"][..]).prop_map(str::to_owned),
        1 => select(&[
            "AssumeRole", "", "getcalleridentity", "GetCallerIdentity ", "<x>&amp;", "]]>",
            "\u{0}", "\u{1}", "a\u{1b}[31m", "\u{fffe}", "\u{ffff}", "\u{1F600}", "%00", "%zz",
        ][..])
        .prop_map(str::to_owned),
        1 => any::<String>(),
    ];
    let body = prop_oneof![
        6 => (prop::collection::vec((k, v), 0..4), prop::bool::weighted(0.8))
            .prop_map(|(p, enc)| FormBody::Pairs(p, enc)),
        1 => raw_body().prop_map(FormBody::Raw),
        1 => select(vec![
            &b"Action=GetCallerIdentity&Version=2011-06-15"[..],
            b"Action=GetCallerIdentity&Action=AssumeRole",
            b"Action=GetCaller%zzIdentity",
            b"Action=GetCallerIdentity&%ff=%fe",
            b"Action=%E0%80%80",
            b"&&&===&&",
            b"Action",
            b"Action=GetCallerIdentity&Version=2011-06-15&Foo[0]=1",
        ])
        .prop_map(|b| FormBody::Raw(b.to_vec())),
    ];
    (
        any::<bool>(),
        0usize..3,
        prop_oneof![
            4 => Just(FORM),
            1 => select(&[
                "application/x-www-form-urlencoded",
                "application/x-www-form-urlencoded;charset=ISO-8859-1",
                "application/x-www-form-urlencodedXYZ",
            ][..]),
        ],
        body,
        prop_oneof![4 => Just(Some("sts")), 1 => Just(Some("glue")), 1 => Just(None)],
        prop::bool::weighted(0.05),
        prop::option::weighted(
            0.1,
            prop_oneof![
                select(&[
                    "AWS4-HMAC-SHA256 Credential=\u{ffff}",
                    "\u{fffe}",
                    "AWS4-HMAC-SHA256 Credential=AKIDFUZZA/20261124/us-east-1/sts/aws4_request/\u{ffff}, SignedHeaders=host, Signature=00",
                    "AWS4-HMAC-SHA256 Credential=<&>/a/b/c/aws4_request, SignedHeaders=host, Signature=00",
                    "AWS4-HMAC-SHA256 Foo",
                ][..])
                .prop_map(str::to_owned),
                any::<String>().prop_map(|s| format!("AWS4-HMAC-SHA256 Credential={s}")),
            ],
        ),
    )
        .prop_map(
            |(sigv4, caller, content_type, body, service, with_target, garbage_auth)| QueryCase {
                sigv4,
                caller,
                content_type,
                body,
                service,
                with_target,
                garbage_auth,
            },
        )
}

impl FormBody {
    fn bytes(&self) -> Vec<u8> {
        match self {
            FormBody::Raw(b) => b.clone(),
            FormBody::Pairs(pairs, encode) => {
                let parts: Vec<String> = pairs
                    .iter()
                    .map(|(k, v)| {
                        if *encode {
                            serde_urlencoded::to_string([(k, v)]).unwrap_or_default()
                        } else {
                            format!("{k}={v}")
                        }
                    })
                    .collect();
                parts.join("&").into_bytes()
            }
        }
    }
}

#[test]
fn fuzz_query_forms() {
    let h = Harness::new();
    let tally = Tally::default();
    run_property("query_forms", query_cases(), |case| {
        let f = h.fixture(case.sigv4);
        let body = case.body.bytes();
        let mut headers = match case.service {
            Some(service) => f.client_headers(case.caller, service, None, case.content_type, &body),
            None => vec![
                ("host".into(), b"localhost:4747".to_vec()),
                ("content-type".into(), case.content_type.as_bytes().to_vec()),
            ],
        };
        if case.with_target {
            headers.push(("x-amz-target".into(), b"AWSGlue.GetSession".to_vec()));
        }
        if let Some(a) = &case.garbage_auth {
            let mut v = a.as_bytes().to_vec();
            for b in v.iter_mut() {
                if (*b < 0x20 && *b != b'\t') || *b == 0x7f {
                    *b = b'?';
                }
            }
            headers.retain(|(k, _)| k != "authorization");
            headers.push(("authorization".into(), v));
        }
        let w = Wire {
            method: "POST".into(),
            path: "/".into(),
            headers,
            body,
        };
        let reply = f.exercise(&w)?;
        let code = check_reply(&w, &reply)?;
        if reply.status.is_success() {
            let c = f.callers[case.caller % f.callers.len()];
            let account = if f.sigv4 { c.account } else { OPEN_ACCOUNT };
            if !reply
                .text()
                .contains(&format!("<Account>{account}</Account>"))
            {
                return fail(
                    &w,
                    &reply,
                    format!("GetCallerIdentity is not account {account}"),
                );
            }
        }
        tally.add(format!(
            "{}:{}",
            reply.status.as_u16(),
            code.unwrap_or_default()
        ));
        Ok(())
    });
    tally.print("query_forms");
}

// =============================================================================================
// property 4: pagination tokens

#[derive(Clone, Debug)]
struct TokenCase {
    sigv4: bool,
    caller: usize,
    filter: usize,
    max_results: i64,
    token: String,
    statements: bool,
}

/// How a real token is turned into the one sent.
#[derive(Clone, Debug)]
enum TokenForm {
    Keep,
    Mutate(prop::sample::Index, u8, u8),
    /// Its payload with another token's MAC.
    Splice(prop::sample::Index),
    Junk(String),
    Empty,
    /// The token of a log URL (another scope, same secret).
    LogToken,
}

#[test]
fn fuzz_pagination_tokens() {
    let h = Harness::new();
    let all: Vec<Issued> = h
        .open
        .issued
        .iter()
        .chain(&h.sigv4.issued)
        .cloned()
        .collect();
    let logs = [h.open.log_token.clone(), h.sigv4.log_token.clone()];
    let pool = all.clone();
    let n = all.len();
    let form = prop_oneof![
        3 => Just(TokenForm::Keep),
        4 => (any::<prop::sample::Index>(), 0u8..8, 0u8..4)
            .prop_map(|(at, bit, how)| TokenForm::Mutate(at, bit, how)),
        1 => any::<prop::sample::Index>().prop_map(TokenForm::Splice),
        1 => "[A-Za-z0-9_.=+/-]{0,80}".prop_map(TokenForm::Junk),
        1 => Just(TokenForm::Empty),
        1 => Just(TokenForm::LogToken),
    ];
    // Start from a real token, in its own context half of the time, else in a random one.
    let strategy = (
        0..n,
        prop::option::weighted(0.5, (any::<bool>(), 0usize..3, 0usize..filters().len())),
        1i64..4,
        form,
        prop::bool::weighted(0.15),
    )
        .prop_map(move |(i, context, max_results, form, statements)| {
            let all = &pool;
            let (sigv4, caller, filter) =
                context.unwrap_or((all[i].sigv4, all[i].caller, all[i].filter));
            let base = &all[i].token;
            let token = match form {
                TokenForm::Keep => base.clone(),
                TokenForm::Mutate(at, bit, how) => {
                    mutate_token(base, at.index(base.len().max(1)), bit, how)
                }
                TokenForm::Splice(j) => {
                    let other = &all[j.index(n)].token;
                    let (payload, _) = base.split_once('.').unwrap_or((base, ""));
                    let (_, mac) = other.split_once('.').unwrap_or(("", other));
                    format!("{payload}.{mac}")
                }
                TokenForm::Junk(j) => j,
                TokenForm::Empty => String::new(),
                TokenForm::LogToken => logs[usize::from(sigv4)].clone(),
            };
            TokenCase {
                sigv4,
                caller,
                filter,
                max_results,
                token,
                statements,
            }
        });
    let tally = Tally::default();
    run_property("pagination_tokens", strategy, |case| {
        let f = h.fixture(case.sigv4);
        let caller = case.caller % f.callers.len();
        let (op, body) = if case.statements {
            (
                "ListStatements",
                json!({ "SessionId": "seed-1", "NextToken": case.token }),
            )
        } else {
            (
                "ListSessions",
                json!({
                    "MaxResults": case.max_results,
                    "Tags": filters()[case.filter],
                    "NextToken": case.token,
                }),
            )
        };
        let bytes = body.to_string().into_bytes();
        let w = Wire {
            method: "POST".into(),
            path: "/".into(),
            headers: f.client_headers(
                caller,
                "glue",
                Some(&format!("AWSGlue.{op}")),
                JSON_1_1,
                &bytes,
            ),
            body: bytes,
        };
        let reply = f.exercise(&w)?;
        let code = check_reply(&w, &reply)?;
        // The oracle: a token is good only for the caller and filter it was issued to (and
        // ListStatements issues none without a runtime); "" means no token.
        let same_context =
            |t: &&Issued| t.sigv4 == case.sigv4 && t.caller == caller && t.filter == case.filter;
        let issued = all
            .iter()
            .filter(same_context)
            .find(|t| t.token == case.token);
        let genuine = case.token.is_empty() || (!case.statements && issued.is_some());
        let expected = if genuine {
            None
        } else {
            Some("InvalidInputException")
        };
        if code.as_deref() != expected {
            return fail(
                &w,
                &reply,
                format!(
                    "token {} expected {expected:?}",
                    if genuine { "genuine" } else { "foreign/forged" }
                ),
            );
        }
        if genuine && !case.statements {
            // The page is exactly the next MaxResults ids after the token's position.
            let (ids, position) = match issued {
                Some(t) => (&t.ids, t.position),
                None => match all.iter().find(same_context) {
                    Some(t) => (&t.ids, 0),
                    None => return Ok(()), // this filter has a single page: no token issued
                },
            };
            let end = (position + case.max_results as usize).min(ids.len());
            let page = reply.json();
            if common::strings(&page["Ids"]) != ids[position..end] {
                return fail(
                    &w,
                    &reply,
                    format!("expected the page {:?}", &ids[position..end]),
                );
            }
        }
        tally.add(format!("{op}:{}", code.unwrap_or_else(|| "OK".into())));
        Ok(())
    });
    tally.print("pagination_tokens");
}

// =============================================================================================
// property 5: session tokens

/// Keys minted (as the session service does for a driver) for three sessions of caller 0: one
/// live, one whose session was then stopped, one past its expiry.
struct SessionKeys {
    live: DriverCredentials,
    revoked: DriverCredentials,
    expired: DriverCredentials,
}

impl Fixture {
    fn mint_session_keys(&mut self) {
        let store =
            epoxy::store::sqlite::SqliteStore::open(&self.server.data_dir().join("epoxy.db"))
                .expect("a second handle on the store");
        let c = self.callers[0];
        let tenant = epoxy::sessions::model::Tenant {
            account: c.account.into(),
            region: c.region.into(),
        };
        let mint = |id: &str, lifetime_ms: i64| {
            self.call(0, "CreateSession", &common::create_input(id, json!({})))
                .ok();
            let session = store.session(&tenant, id).unwrap().expect("session");
            credentials::mint(&store, &session, lifetime_ms, epoxy::sessions::now_ms())
                .unwrap()
                .expect("a key for a live session")
        };
        let keys = SessionKeys {
            live: mint("key-live", 3_600_000),
            revoked: mint("key-revoked", 3_600_000),
            expired: mint("key-expired", 0),
        };
        self.call(0, "StopSession", &json!({ "Id": "key-revoked" }))
            .ok();
        self.session_keys = Some(keys);
        *self.snapshot.borrow_mut() = None;
    }
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum KeyChoice {
    Live,
    Revoked,
    Expired,
    /// An `ASIA…` id nobody minted, with the live key's secret.
    Unknown,
}

#[derive(Clone, Debug)]
enum TokenChoice {
    Own,
    Absent,
    Empty,
    /// Another key's (real) token.
    Other,
    /// The own token with one character changed.
    Mutated(prop::sample::Index, u8),
    Garbage(Vec<u8>),
}

#[derive(Clone, Debug)]
struct SessionTokenCase {
    sigv4: bool,
    key: KeyChoice,
    token: TokenChoice,
    /// Whether the token header is signed (else added after signing, as a proxy might).
    signed_token: bool,
    sts: bool,
    op: &'static str,
    id: String,
}

const BASE64_CHARS: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn session_token_cases() -> impl Strategy<Value = SessionTokenCase> {
    let key = prop_oneof![
        3 => Just(KeyChoice::Live),
        1 => Just(KeyChoice::Revoked),
        1 => Just(KeyChoice::Expired),
        1 => Just(KeyChoice::Unknown),
    ];
    let token = prop_oneof![
        4 => Just(TokenChoice::Own),
        1 => Just(TokenChoice::Absent),
        1 => Just(TokenChoice::Empty),
        1 => Just(TokenChoice::Other),
        2 => (any::<prop::sample::Index>(), 1u8..64).prop_map(|(at, by)| TokenChoice::Mutated(at, by)),
        2 => prop::collection::vec(any::<u8>(), 0..300).prop_map(TokenChoice::Garbage),
    ];
    (
        any::<bool>(),
        key,
        token,
        prop::bool::weighted(0.7),
        prop::bool::weighted(0.3),
        select(&["ListSessions", "GetSession", "CreateSession", "TagResource"][..]),
        "[a-z0-9-]{1,12}",
    )
        .prop_map(
            |(sigv4, key, token, signed_token, sts, op, id)| SessionTokenCase {
                sigv4,
                key,
                token,
                signed_token,
                sts,
                op,
                id,
            },
        )
}

impl SessionTokenCase {
    /// The request, and whether it carries the key's own token.
    fn wire(&self, keys: &SessionKeys, account: &str, region: &str) -> (Wire, bool) {
        let credential = match self.key {
            KeyChoice::Live | KeyChoice::Unknown => &keys.live,
            KeyChoice::Revoked => &keys.revoked,
            KeyChoice::Expired => &keys.expired,
        };
        let access_key = match self.key {
            KeyChoice::Unknown => "ASIAFUZZFUZZFUZZFUZZ",
            _ => &credential.access_key_id,
        };
        let own = credential.session_token.as_bytes().to_vec();
        let token: Option<Vec<u8>> = match &self.token {
            TokenChoice::Own => Some(own.clone()),
            TokenChoice::Absent => None,
            TokenChoice::Empty => Some(Vec::new()),
            TokenChoice::Other => Some(
                if self.key == KeyChoice::Revoked {
                    &keys.live
                } else {
                    &keys.revoked
                }
                .session_token
                .as_bytes()
                .to_vec(),
            ),
            TokenChoice::Mutated(at, by) => {
                let mut t = own.clone();
                let i = at.index(t.len());
                let was = BASE64_CHARS.iter().position(|&c| c == t[i]).unwrap_or(0);
                t[i] = BASE64_CHARS[(was + usize::from(*by)) % BASE64_CHARS.len()];
                Some(t)
            }
            TokenChoice::Garbage(g) => Some(g.clone()),
        };
        let carries_own = token.as_deref() == Some(own.as_slice());
        let (body, target, content_type, service) = if self.sts {
            (
                b"Action=GetCallerIdentity&Version=2011-06-15".to_vec(),
                None,
                FORM,
                "sts",
            )
        } else {
            let arn = common::session_arn(account, region, "seed-1");
            let body = match self.op {
                "ListSessions" => json!({}),
                "GetSession" => json!({ "Id": "seed-1" }),
                "CreateSession" => common::create_input(&format!("fz-{}", self.id), json!({})),
                _ => json!({ "ResourceArn": arn, "TagsToAdd": { "fuzz": self.id } }),
            };
            (
                body.to_string().into_bytes(),
                Some(format!("AWSGlue.{}", self.op)),
                JSON_1_1,
                "glue",
            )
        };
        let mut h = HeaderMap::new();
        h.insert("host", HeaderValue::from_static("localhost:4747"));
        h.insert("content-type", HeaderValue::from_static(content_type));
        if let Some(t) = &target {
            h.insert("x-amz-target", HeaderValue::from_str(t).expect("target"));
        }
        let signable = token
            .as_ref()
            .filter(|t| self.signed_token && t.iter().all(|b| b.is_ascii_graphic()));
        let signer =
            Signer::new(access_key, &credential.secret_access_key, region).service(service);
        let signer = match signable {
            Some(t) => signer.token(std::str::from_utf8(t).expect("ASCII")),
            None => signer,
        };
        signer.sign(&mut h, &body);
        let mut headers: Vec<(String, Vec<u8>)> = h
            .iter()
            .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
            .collect();
        if signable.is_none()
            && let Some(t) = token
        {
            headers.push(("x-amz-security-token".into(), t));
        }
        let w = Wire {
            method: "POST".into(),
            path: "/".into(),
            headers,
            body,
        };
        // A header value HTTP cannot carry is dropped on the way, as by any client library.
        let carries_own = carries_own && HeaderValue::from_bytes(&own).is_ok();
        (w, carries_own)
    }
}

#[test]
fn fuzz_session_tokens() {
    let mut h = Harness::new();
    h.open.mint_session_keys();
    h.sigv4.mint_session_keys();
    let tally = Tally::default();
    run_property("session_tokens", session_token_cases(), |case| {
        let f = h.fixture(case.sigv4);
        let keys = f.session_keys.as_ref().expect("minted");
        let c = f.callers[0];
        let (w, carries_own) = case.wire(keys, c.account, c.region);
        let reply = f.exercise(&w)?;
        let code = check_reply(&w, &reply)?;
        let expired = if case.sts {
            "ExpiredToken"
        } else {
            "ExpiredTokenException"
        };
        // The oracle. An unknown ASIA key is any other key: open mode takes it.
        let expected: Option<&str> = match (case.key, carries_own) {
            (KeyChoice::Unknown, _) if !f.sigv4 => None,
            (KeyChoice::Live, true) => None,
            (KeyChoice::Expired, true) => Some(expired),
            _ => Some("InvalidClientTokenId"),
        };
        let auth_codes = [
            "InvalidClientTokenId",
            "ExpiredToken",
            "ExpiredTokenException",
            "SignatureDoesNotMatch",
            "IncompleteSignature",
            "MissingAuthenticationToken",
        ];
        match (expected, code.as_deref()) {
            // Accepted: any answer but a refusal of the credentials.
            (None, Some(got)) if auth_codes.contains(&got) => {
                return fail(&w, &reply, "a live session key with its token was refused");
            }
            (None, _) => {}
            (Some(want), got) if got != Some(want) => {
                return fail(&w, &reply, format!("expected {want}"));
            }
            _ => {}
        }
        if case.sts && reply.status.is_success() {
            let arn = if case.key == KeyChoice::Unknown {
                format!("arn:aws:iam::{OPEN_ACCOUNT}:root")
            } else {
                format!(
                    "arn:aws:sts::{}:assumed-role/{}/key-live",
                    c.account,
                    ROLE.rsplit('/').next().unwrap_or_default()
                )
            };
            if !reply.text().contains(&format!("<Arn>{arn}</Arn>")) {
                return fail(&w, &reply, format!("GetCallerIdentity is not {arn}"));
            }
        }
        tally.add(format!(
            "{:?}/{}:{}",
            case.key,
            if carries_own { "own" } else { "other" },
            code.unwrap_or_else(|| "OK".into())
        ));
        Ok(())
    });
    tally.print("session_tokens");
}

// =============================================================================================
// table-driven nasties: each asserts its code and that nothing was stored

/// One server and its seeds, for the table tests.
fn single(sigv4: bool) -> (tokio::runtime::Runtime, Fixture) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let f = Fixture::new(&rt, sigv4);
    (rt, f)
}

impl Fixture {
    /// Sends `body` to `op` as `caller` (signed in SigV4 mode); asserts the invariants, that the
    /// reply's code is `expected` (`None`: success), and — for an error — that nothing changed.
    #[track_caller]
    fn expect(&self, caller: usize, op: &str, body: &[u8], expected: Option<&str>) -> Reply {
        self.expect_wire(&self.glue_wire(caller, op, body), expected)
    }

    /// Like [`Fixture::expect`], whatever the answer.
    fn expect_any(&self, caller: usize, op: &str, body: &[u8]) -> Reply {
        self.exercise(&self.glue_wire(caller, op, body))
            .unwrap_or_else(|e| panic!("{e}"))
    }

    /// `POST /` of `op` with `body`, signed for `caller` in SigV4 mode.
    fn glue_wire(&self, caller: usize, op: &str, body: &[u8]) -> Wire {
        let target = format!("AWSGlue.{op}");
        Wire {
            method: "POST".into(),
            path: "/".into(),
            headers: self.client_headers(caller, "glue", Some(&target), JSON_1_1, body),
            body: body.to_vec(),
        }
    }

    #[track_caller]
    fn expect_wire(&self, w: &Wire, expected: Option<&str>) -> Reply {
        let reply = match self.exercise(w) {
            Ok(r) => r,
            Err(e) => panic!("{e}"),
        };
        let code = check_reply(w, &reply).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(
            code.as_deref(),
            expected,
            "{op} {w:?}\n→ {} {}",
            reply.status,
            clip(&reply.text(), 500),
            op = String::from_utf8_lossy(w.header("x-amz-target").unwrap_or_default())
        );
        reply
    }
}

const INVALID: Option<&str> = Some("InvalidInputException");
const SERIALIZATION: Option<&str> = Some("SerializationException");

fn create_body(id: &str, extra: Value) -> Vec<u8> {
    common::create_input(id, extra).to_string().into_bytes()
}

#[test]
fn nasty_huge_bodies() {
    let (_rt, f) = single(false);
    let big = 3_900 * 1024;
    // 3.9 MiB is under the 4 MiB cap: read, parsed, refused by the length rules.
    f.expect(
        0,
        "CreateSession",
        &create_body("huge", json!({ "Description": "d".repeat(big) })),
        INVALID,
    );
    let code = format!(r#"{{"SessionId":"seed-1","Code":"{}"}}"#, "x".repeat(big));
    f.expect(0, "RunStatement", code.as_bytes(), INVALID);
    // An unknown 3.9 MiB member is ignored, as AWS ignores unknown members.
    let get = format!(r#"{{"Id":"seed-1","Junk":"{}"}}"#, "j".repeat(big));
    f.expect(0, "GetSession", get.as_bytes(), None);
    // 3.9 MiB of `\u0000` escapes in an id.
    let nul_id = format!(r#"{{"Id":"{}"}}"#, "\\u0000".repeat(big / 6));
    f.expect(0, "GetSession", nul_id.as_bytes(), INVALID);
    // 10 MB Code: 413 as a JSON 1.1 error.
    let code = format!(
        r#"{{"SessionId":"seed-1","Code":"{}"}}"#,
        "x".repeat(10_000_000)
    );
    let r = f.expect(
        0,
        "RunStatement",
        code.as_bytes(),
        Some("RequestEntityTooLargeException"),
    );
    assert_eq!(r.status.as_u16(), 413);
    // ...and an STS form body of 10 MB: 413 as awsQuery XML.
    let form = format!(
        "Action=GetCallerIdentity&Version=2011-06-15&Pad={}",
        "p".repeat(10_000_000)
    );
    let w = Wire {
        method: "POST".into(),
        path: "/".into(),
        headers: f.client_headers(0, "sts", None, FORM, form.as_bytes()),
        body: form.into_bytes(),
    };
    let r = f.expect_wire(&w, Some("RequestEntityTooLargeException"));
    assert_eq!(r.status.as_u16(), 413);
    // Exactly at the cap is accepted, one byte over is not.
    let pad = epoxy::protocol::MAX_BODY_BYTES - r#"{"Id":"seed-1","P":""}"#.len();
    let at_cap = format!(r#"{{"Id":"seed-1","P":"{}"}}"#, "p".repeat(pad));
    assert_eq!(at_cap.len(), epoxy::protocol::MAX_BODY_BYTES);
    f.expect(0, "GetSession", at_cap.as_bytes(), None);
    let over = format!(r#"{{"Id":"seed-1","P":"{}"}}"#, "p".repeat(pad + 1));
    f.expect(
        0,
        "GetSession",
        over.as_bytes(),
        Some("RequestEntityTooLargeException"),
    );
}

#[test]
fn nasty_deep_nesting() {
    for sigv4 in [false, true] {
        let (_rt, f) = single(sigv4);
        let deep = |inner: &str| {
            let mut s = "[".repeat(100_000);
            s.push_str(inner);
            s.push_str(&"]".repeat(100_000));
            s
        };
        let open_only = "[".repeat(100_000);
        let objects = "{\"a\":".repeat(100_000) + "1" + &"}".repeat(100_000);
        // (body, ops where it must be a SerializationException, otherwise: answered like this
        // body, i.e. the deep value sits in a member the operation ignores)
        let all = ["GetSession", "CreateSession", "TagResource", "ListSessions"];
        let cases: [(String, &[&str], &str); 7] = [
            (deep("1"), &all, ""),
            (open_only.clone(), &all, ""),
            (format!("{{\"Id\":{open_only}"), &all, ""),
            (
                format!("{{\"Id\":{}}}", deep("")),
                &["GetSession", "CreateSession"],
                "{}",
            ),
            (
                format!("{{\"Id\":\"seed-1\",\"Unknown\":{}}}", deep("")),
                &[],
                r#"{"Id":"seed-1"}"#,
            ),
            (
                format!("{{\"Id\":\"seed-1\",\"Unknown\":{objects}}}"),
                &[],
                r#"{"Id":"seed-1"}"#,
            ),
            (objects.clone(), &[], "{}"),
        ];
        for (body, serialization, like) in cases {
            for op in all {
                let expected = if serialization.contains(&op) {
                    SERIALIZATION.map(str::to_owned)
                } else {
                    // What the same request says without the ignored member.
                    let plain = f.expect_any(0, op, like.as_bytes());
                    json_error_code(&plain.body)
                };
                f.expect(0, op, body.as_bytes(), expected.as_deref());
            }
        }
        // Deep but under serde_json's recursion limit in an ignored member: accepted.
        let ok = format!(
            "{{\"Id\":\"seed-1\",\"Unknown\":{}}}",
            "[".repeat(100) + &"]".repeat(100)
        );
        f.expect(0, "GetSession", ok.as_bytes(), None);
    }
}

#[test]
fn nasty_invalid_utf8_and_nul() {
    let (_rt, f) = single(true);
    for body in [
        &b"\xff\xfe\xfd"[..],
        b"{\"Id\":\"seed-\xff\"}",
        b"{\"Id\":\"\xed\xa0\x80\"}", // an encoded surrogate
        b"{\"Id\":\"\xc0\xaf\"}",     // overlong '/'
        b"{\"Id\":\"seed-1\0\"}",     // raw NUL inside a string
        b"{\"Id\":\"seed-1\"}\0",     // NUL after the object
        b"\0{\"Id\":\"seed-1\"}",
        b"{\"Id\xff\":\"seed-1\"}",
        b"\xef\xbb\xbf{\"Id\":\"seed-1\"}", // UTF-8 BOM
    ] {
        f.expect(0, "GetSession", body, SERIALIZATION);
    }
    for body in [
        &b"{\"Id\":\"\\ud800\"}"[..],
        b"{\"Id\":\"a\\udc00b\"}",
        b"{\"Id\":\"\\ud800\\u0041\"}",
    ] {
        f.expect(0, "GetSession", body, SERIALIZATION);
        f.expect(0, "CreateSession", body, SERIALIZATION);
    }
    // NUL (escaped) in ids: the NameString pattern refuses control characters.
    for id in ["seed-1\u{0}", "\u{0}", "a\u{0}b", "seed-1\u{0}x"] {
        let body = json!({ "Id": id }).to_string();
        for op in [
            "GetSession",
            "StopSession",
            "DeleteSession",
            "GetSystemLogsForSession",
        ] {
            f.expect(0, op, body.as_bytes(), INVALID);
        }
        f.expect(0, "CreateSession", &create_body(id, json!({})), INVALID);
        let body = json!({ "SessionId": id, "Code": "1" }).to_string();
        f.expect(0, "RunStatement", body.as_bytes(), INVALID);
        let body = json!({ "SessionId": id, "Id": 0 }).to_string();
        f.expect(0, "GetStatement", body.as_bytes(), INVALID);
        f.expect(0, "CancelStatement", body.as_bytes(), INVALID);
        let body = json!({ "SessionId": id }).to_string();
        f.expect(0, "GetSessionEndpoint", body.as_bytes(), INVALID);
        f.expect(0, "ListStatements", body.as_bytes(), INVALID);
        // In an ARN the id is only looked up: no such session.
        let arn = common::session_arn("111111111111", "us-east-1", id);
        let body = json!({ "ResourceArn": arn, "TagsToAdd": { "k": "v" } }).to_string();
        f.expect(
            0,
            "TagResource",
            body.as_bytes(),
            Some("EntityNotFoundException"),
        );
    }
    // NUL in tag keys and values is not refused by TagsMap (no pattern); it round-trips.
    let arn = common::session_arn("111111111111", "us-east-1", "seed-2");
    let body = json!({ "ResourceArn": arn, "TagsToAdd": { "nul\u{0}key": "v\u{0}" } });
    f.expect(0, "TagResource", body.to_string().as_bytes(), None);
    let tags = f.call(0, "GetTags", &json!({ "ResourceArn": arn })).ok();
    assert_eq!(tags["Tags"]["nul\u{0}key"], json!("v\u{0}"), "{tags}");
    let filtered = f
        .call(
            0,
            "ListSessions",
            &json!({ "Tags": { "nul\u{0}key": "v\u{0}" } }),
        )
        .ok();
    assert_eq!(filtered["Ids"], json!(["seed-2"]));
}

#[test]
fn nasty_ten_thousand_tags() {
    let (_rt, f) = single(false);
    let many: BTreeMap<String, String> =
        (0..10_000).map(|i| (format!("t{i}"), "v".into())).collect();
    f.expect(
        0,
        "CreateSession",
        &create_body("tagged", json!({ "Tags": many })),
        INVALID,
    );
    let arn = common::session_arn(OPEN_ACCOUNT, "us-east-1", "seed-1");
    let body = json!({ "ResourceArn": arn, "TagsToAdd": many }).to_string();
    f.expect(0, "TagResource", body.as_bytes(), INVALID);
    let keys: Vec<String> = many.keys().cloned().collect();
    let body = json!({ "ResourceArn": arn, "TagsToRemove": keys }).to_string();
    f.expect(0, "UntagResource", body.as_bytes(), INVALID);
    let body = json!({ "Tags": many }).to_string();
    f.expect(0, "ListSessions", body.as_bytes(), INVALID);
    // 51 tags: the model's limit; and a session already at 48 may not go past 50 in total.
    let fifty_one: BTreeMap<String, String> =
        (0..51).map(|i| (format!("t{i}"), "v".into())).collect();
    f.expect(
        0,
        "CreateSession",
        &create_body("tagged", json!({ "Tags": fifty_one })),
        INVALID,
    );
    let full = common::session_arn(OPEN_ACCOUNT, "us-east-1", "seed-full");
    let three: BTreeMap<String, String> = (0..3).map(|i| (format!("new{i}"), "v".into())).collect();
    let body = json!({ "ResourceArn": full, "TagsToAdd": three }).to_string();
    f.expect(0, "TagResource", body.as_bytes(), INVALID);
    // 50 tag filters are a legal (if empty) query.
    let fifty: BTreeMap<String, String> = (0..50)
        .map(|i| (format!("k{i:02}"), format!("v{i}")))
        .collect();
    let body = json!({ "Tags": fifty }).to_string();
    let page = f.expect(0, "ListSessions", body.as_bytes(), None).json();
    assert_eq!(page["Ids"], json!([]));
    let forty_eight: BTreeMap<String, String> = (0..48)
        .map(|i| (format!("k{i:02}"), format!("v{i}")))
        .collect();
    let body = json!({ "Tags": forty_eight }).to_string();
    let page = f.expect(0, "ListSessions", body.as_bytes(), None).json();
    assert_eq!(page["Ids"], json!(["seed-full"]));
}

#[test]
fn nasty_duplicate_keys() {
    let (_rt, f) = single(false);
    for (op, body) in [
        ("GetSession", r#"{"Id":"seed-1","Id":"seed-2"}"#),
        ("GetSession", r#"{"Id":"seed-1","Id":"seed-1"}"#),
        ("DeleteSession", r#"{"Id":"seed-1","Id":"seed-2"}"#),
        (
            "CreateSession",
            r#"{"Id":"dup","Id":"dup2","Role":"arn:aws:iam::123456789012:role/R","Command":{}}"#,
        ),
        // Repeated keys inside string maps.
        (
            "CreateSession",
            r#"{"Id":"dup","Role":"arn:aws:iam::123456789012:role/R","Command":{},"Tags":{"a":"1","a":"2"}}"#,
        ),
        (
            "CreateSession",
            r#"{"Id":"dup","Role":"arn:aws:iam::123456789012:role/R","Command":{},"DefaultArguments":{"--conf":"a","--conf":"b"}}"#,
        ),
        (
            "TagResource",
            r#"{"ResourceArn":"arn:aws:glue:us-east-1:000000000000:session/seed-1","TagsToAdd":{"team":"x","team":"y"}}"#,
        ),
        ("ListSessions", r#"{"Tags":{"team":"a","team":"b"}}"#),
        (
            "TagResource",
            r#"{"ResourceArn":"arn:aws:glue:us-east-1:000000000000:session/seed-1","TagsToAdd":{"a":"1"},"TagsToAdd":{"b":"2"}}"#,
        ),
        ("ListSessions", r#"{"MaxResults":1,"MaxResults":2}"#),
        ("GetStatement", r#"{"SessionId":"seed-1","Id":0,"Id":1}"#),
    ] {
        f.expect(0, op, body.as_bytes(), SERIALIZATION);
    }
}

#[test]
fn nasty_numbers() {
    let (_rt, f) = single(false);
    let invalid_json = [
        "NaN",
        "Infinity",
        "-Infinity",
        "+1",
        "01",
        "1.",
        ".5",
        "0x10",
        "1e",
    ];
    let out_of_range = ["1e400", "-1e400"];
    // Integer members: a fraction or an integer beyond i64 does not fit the shape.
    let not_integer = [
        "1.5",
        "1e308",
        "9223372036854775808",
        "-9223372036854775809",
        "2.0",
    ];
    let integer_ranges: [(&str, &[&str]); 4] = [
        (
            "MaxResults",
            &[
                "-1",
                "0",
                "1001",
                "-9223372036854775808",
                "9223372036854775807",
            ],
        ),
        (
            "Timeout",
            &["-1", "0", "2881", "4294967297", "9223372036854775807"],
        ),
        ("IdleTimeout", &["-1", "0", "2881", "4294967296"]),
        ("NumberOfWorkers", &["-1", "0", "1", "10001", "4294967298"]),
    ];
    let body_with = |member: &str, n: &str| -> Vec<u8> {
        match member {
            "MaxResults" => format!(r#"{{"MaxResults":{n}}}"#).into_bytes(),
            "NumberOfWorkers" => format!(
                r#"{{"Id":"num","Role":"{ROLE}","Command":{{"Name":"glueetl"}},"WorkerType":"G.1X","NumberOfWorkers":{n}}}"#
            )
            .into_bytes(),
            m => format!(
                r#"{{"Id":"num","Role":"{ROLE}","Command":{{"Name":"glueetl"}},"{m}":{n}}}"#
            )
            .into_bytes(),
        }
    };
    let op_of = |member: &str| {
        if member == "MaxResults" {
            "ListSessions"
        } else {
            "CreateSession"
        }
    };
    for (member, out_of_model) in integer_ranges {
        for n in invalid_json.iter().chain(&out_of_range).chain(&not_integer) {
            f.expect(0, op_of(member), &body_with(member, n), SERIALIZATION);
        }
        for n in out_of_model {
            f.expect(0, op_of(member), &body_with(member, n), INVALID);
        }
    }
    // MaxCapacity is a double: any finite number parses, the range is 2..10000 DPU.
    for n in invalid_json.iter().chain(&out_of_range) {
        f.expect(
            0,
            "CreateSession",
            &body_with("MaxCapacity", n),
            SERIALIZATION,
        );
    }
    for n in [
        "-1",
        "0",
        "1.5",
        "1e308",
        "-1e308",
        "10000.5",
        "1e-400",
        "-0",
        "9223372036854775808",
    ] {
        f.expect(0, "CreateSession", &body_with("MaxCapacity", n), INVALID);
    }
    // Statement ids beyond an int.
    for n in ["-1", "2147483648", "9223372036854775807"] {
        let body = format!(r#"{{"SessionId":"seed-1","Id":{n}}}"#);
        f.expect(0, "GetStatement", body.as_bytes(), INVALID);
    }
    // Boundaries that are valid.
    f.expect(0, "ListSessions", &body_with("MaxResults", "1000"), None);
    f.expect(0, "ListSessions", &body_with("MaxResults", "1"), None);
}

#[test]
fn nasty_far_future_signature_is_request_expired() {
    let (_rt, f) = single(true);
    let now = OffsetDateTime::now_utc();
    for (at, expected) in [
        (now + time::Duration::days(3650), "RequestExpired"),
        (now + time::Duration::minutes(20), "RequestExpired"),
        (now - time::Duration::minutes(20), "RequestExpired"),
        (
            OffsetDateTime::new_utc(
                time::Date::from_calendar_date(9999, time::Month::December, 31).unwrap(),
                time::Time::from_hms(23, 59, 59).unwrap(),
            ),
            "RequestExpired",
        ),
    ] {
        for (op, body) in [
            ("DeleteSession", json!({ "Id": "seed-1" })),
            ("CreateSession", common::create_input("future", json!({}))),
            (
                "TagResource",
                json!({
                    "ResourceArn": common::session_arn("111111111111", "us-east-1", "seed-1"),
                    "TagsToAdd": { "x": "y" },
                }),
            ),
        ] {
            let signer = Signer::new("AKIDFUZZA", "fuzz-secret-a", "us-east-1").at(at);
            let bytes = body.to_string().into_bytes();
            let mut h = common::glue_headers(op);
            signer.sign(&mut h, &bytes);
            let w = Wire {
                method: "POST".into(),
                path: "/".into(),
                headers: h
                    .iter()
                    .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                    .collect(),
                body: bytes,
            };
            f.expect_wire(&w, Some(expected));
        }
        // STS too, as awsQuery XML.
        let signer = Signer::new("AKIDFUZZA", "fuzz-secret-a", "us-east-1")
            .service("sts")
            .at(at);
        let form = "Action=GetCallerIdentity&Version=2011-06-15";
        let req = signer.query(form);
        let w = Wire {
            method: "POST".into(),
            path: "/".into(),
            headers: req
                .headers()
                .iter()
                .map(|(k, v)| (k.as_str().to_owned(), v.as_bytes().to_vec()))
                .collect(),
            body: form.as_bytes().to_vec(),
        };
        f.expect_wire(&w, Some(expected));
    }
}

#[test]
fn nasty_foreign_next_token() {
    let (_rt, f) = single(true);
    // Account A's genuine token, replayed by B (same region, same filter): refused.
    for t in f.issued.iter().filter(|t| t.caller == 0) {
        let body = json!({ "MaxResults": 1, "Tags": filters()[t.filter], "NextToken": t.token });
        f.expect(1, "ListSessions", body.to_string().as_bytes(), INVALID);
        // A in another region is another tenant too.
        f.expect(2, "ListSessions", body.to_string().as_bytes(), INVALID);
        // A itself, with another filter: refused; with its own filter: a page.
        let other = (t.filter + 1) % filters().len();
        let moved = json!({ "MaxResults": 1, "Tags": filters()[other], "NextToken": t.token });
        f.expect(0, "ListSessions", moved.to_string().as_bytes(), INVALID);
        f.expect(0, "ListSessions", body.to_string().as_bytes(), None);
        // As a ListStatements token: refused.
        let st = json!({ "SessionId": "seed-1", "NextToken": t.token });
        f.expect(0, "ListStatements", st.to_string().as_bytes(), INVALID);
    }
    // The log URL's token is not a page token.
    let body = json!({ "NextToken": f.log_token });
    f.expect(0, "ListSessions", body.to_string().as_bytes(), INVALID);
    // A token of another server (another secret).
    let (_rt2, other) = single(true);
    let foreign = &other
        .issued
        .iter()
        .find(|t| t.caller == 0 && t.filter == 0)
        .unwrap()
        .token;
    let body = json!({ "MaxResults": 1, "NextToken": foreign });
    f.expect(0, "ListSessions", body.to_string().as_bytes(), INVALID);
    // 400,000 characters is the model's maximum; longer is invalid, neither is genuine.
    let body = json!({ "NextToken": "a".repeat(400_000) });
    f.expect(0, "ListSessions", body.to_string().as_bytes(), INVALID);
    let body = json!({ "NextToken": "a".repeat(400_001) });
    f.expect(0, "ListSessions", body.to_string().as_bytes(), INVALID);
}

// =============================================================================================
// regressions for invariant breaks the fuzzer found (src is not changed here)

/// Expected: every reply that is not `/health` or a log download is an AWS error with a request
/// id — other paths already get `404 UnknownOperationException`. Got: axum's bare
/// `405 Method Not Allowed`, empty body, no `x-amzn-RequestId`, for any method but GET/HEAD on
/// `/health` and `/logs/<token>` (the routes exist, so the fallback never runs).
#[test]

fn regression_other_methods_on_health_and_logs_get_aws_errors() {
    let (_rt, f) = single(false);
    for (method, path) in [
        ("POST", "/health"),
        ("POST", "/logs/abc"),
        ("PUT", "/health"),
        ("DELETE", "/logs/abc"),
    ] {
        let w = Wire {
            method: method.into(),
            path: path.into(),
            headers: f.client_headers(0, "glue", Some("AWSGlue.GetSession"), JSON_1_1, b"{}"),
            body: b"{}".to_vec(),
        };
        let reply = f.send(w.request());
        assert!(
            reply
                .header("x-amzn-requestid")
                .is_some_and(|id| !id.is_empty()),
            "{method} {path}: {} {:?} {:?}",
            reply.status,
            reply.headers,
            reply.text()
        );
        assert_eq!(
            json_error_code(&reply.body).as_deref(),
            Some("UnknownOperationException"),
            "{method} {path}: {} {:?}",
            reply.status,
            reply.text()
        );
    }
}

/// Expected: media types are case-insensitive (RFC 9110 §8.3.1), so a signed STS form request
/// with `Content-Type: Application/X-WWW-Form-Urlencoded` is GetCallerIdentity (200, XML), and a
/// Glue request with `APPLICATION/X-AMZ-JSON-1.1` is served. Got: the STS request is taken for a
/// Glue call without X-Amz-Target (400 JSON `UnknownOperationException`, not even XML), the Glue
/// one is refused with `SerializationException` ("Content-Type must be …").
#[test]

fn regression_media_types_are_case_insensitive() {
    let (_rt, f) = single(true);
    let form = b"Action=GetCallerIdentity&Version=2011-06-15";
    let w = Wire {
        method: "POST".into(),
        path: "/".into(),
        headers: f.client_headers(0, "sts", None, "Application/X-WWW-Form-Urlencoded", form),
        body: form.to_vec(),
    };
    let reply = f.send(w.request());
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
    assert!(reply.text().contains("<Account>111111111111</Account>"));
    let w = Wire {
        method: "POST".into(),
        path: "/".into(),
        headers: f.client_headers(
            0,
            "glue",
            Some("AWSGlue.GetSession"),
            "APPLICATION/X-AMZ-JSON-1.1",
            br#"{"Id":"seed-1"}"#,
        ),
        body: br#"{"Id":"seed-1"}"#.to_vec(),
    };
    let reply = f.send(w.request());
    assert_eq!(reply.status.as_u16(), 200, "{}", reply.text());
}

/// An AWS JSON 1.1 body is one JSON object; serde's derived visitors would also take a JSON
/// *array* as the members in declaration order (`["seed-1", null]` as GetSession
/// `{"Id": "seed-1"}`, DeleteSession deleting it). Found by this fuzzer; fixed in `api::parse`
/// and `api::strict` meanwhile.
#[test]
fn nasty_json_arrays_are_not_inputs() {
    let (_rt, f) = single(false);
    for (op, body) in [
        ("GetSession", r#"["seed-1", null]"#),
        ("ListSessions", r#"[null, 1, null, null]"#),
        (
            "TagResource",
            r#"["arn:aws:glue:us-east-1:000000000000:session/seed-1", {"x": "y"}]"#,
        ),
        ("DeleteSession", r#"["seed-2", null]"#),
        (
            "CreateSession",
            r#"{"Id":"arr","Role":"arn:aws:iam::123456789012:role/R","Command":["glueetl","3"]}"#,
        ),
        (
            "CreateSession",
            r#"{"Id":"arr","Role":"arn:aws:iam::123456789012:role/R","Command":{},"Connections":[["c"]]}"#,
        ),
    ] {
        f.expect(0, op, body.as_bytes(), SERIALIZATION);
    }
}

/// Expected: a repeated member is the client's error at every level, as it is at the top
/// (`{"Id":"a","Id":"b"}` → SerializationException) and in string maps. Got: inside `Command`
/// and `Connections` — decoded through `serde_json::Value` by `api::strict::object` — the last
/// value silently wins: CreateSession with `"Command":{"Name":"glueetl","Name":"gluestreaming"}`
/// succeeds and stores `gluestreaming`. (A regression of the working-tree change that refuses
/// arrays; before it, the derive answered `duplicate field \`Name\``.)
#[test]

fn regression_duplicate_members_in_nested_structures_are_refused() {
    let (_rt, f) = single(false);
    for body in [
        r#"{"Id":"dup","Role":"arn:aws:iam::123456789012:role/R","Command":{"Name":"glueetl","Name":"gluestreaming"}}"#,
        r#"{"Id":"dup","Role":"arn:aws:iam::123456789012:role/R","Command":{"PythonVersion":"3","PythonVersion":"2"}}"#,
        r#"{"Id":"dup","Role":"arn:aws:iam::123456789012:role/R","Command":{},"Connections":{"Connections":["a"],"Connections":["b"]}}"#,
    ] {
        f.expect(0, "CreateSession", body.as_bytes(), SERIALIZATION);
    }
}

/// Expected: an awsQuery error is XML that an XML 1.0 parser (botocore's expat) accepts. Got: the
/// client's text is echoed into `<Message>` with only `& < > " '` escaped, so control characters
/// and U+FFFE/U+FFFF — from a form `Action` (`Action=%01x` → "Could not find operation \u{1}x …")
/// or from the Authorization header in a SigV4 message ("Credential must have exactly 5 …, got
/// '\u{ffff}'": `echo` replaces control characters but not non-characters) — make the document
/// not well-formed.
#[test]

fn regression_sts_errors_are_well_formed_xml() {
    let (_rt, f) = single(true);
    let cases: [(&[u8], Option<&str>); 5] = [
        (b"Action=%01x", None),
        (b"Action=%00", None),
        (b"Action=%EF%BF%BF", None),
        (
            b"Action=GetCallerIdentity&Version=2011-06-15",
            Some("AWS4-HMAC-SHA256 Credential=\u{ffff}, SignedHeaders=host, Signature=00"),
        ),
        (
            b"Action=GetCallerIdentity&Version=2011-06-15",
            Some("AWS4-HMAC-SHA256\u{fffe} Credential=x"),
        ),
    ];
    for (form, auth) in cases {
        let mut headers = f.client_headers(0, "sts", None, FORM, form);
        if let Some(a) = auth {
            headers.retain(|(k, _)| k != "authorization");
            headers.push(("authorization".into(), a.as_bytes().to_vec()));
        }
        let w = Wire {
            method: "POST".into(),
            path: "/".into(),
            headers,
            body: form.to_vec(),
        };
        let reply = f.send(w.request());
        assert!(
            xml_error_code(&reply.body).is_some(),
            "{w:?}\n→ {} {:?}",
            reply.status,
            reply.text()
        );
    }
}

/// The node-to-node proof on `/logs/<token>` (`x-epoxy-peer`) is external input too: junk, a
/// token of another scope or a mutated one is a plain 404, never a 5xx.
#[test]
fn fuzz_log_peer_proofs() {
    let h = Harness::new();
    let token = h.open.log_token.clone();
    let tokens: Vec<String> = h.open.issued.iter().map(|i| i.token.clone()).collect();
    let proof = prop_oneof![
        "[ -~]{0,120}",
        proptest::sample::select(tokens).prop_map(|t| t),
        Just(token.clone()),
        Just(format!("{token}.{token}")),
    ];
    proptest!(ProptestConfig::with_cases(200), |(proof in proof, junk_token in prop::bool::ANY)| {
        let path = if junk_token { "/logs/abc.def".to_string() } else { format!("/logs/{token}") };
        let request = http::Request::get(&path)
            .header("x-epoxy-peer", proof.as_str())
            .body(axum::body::Body::empty());
        let Ok(request) = request else { return Ok(()) };
        let reply = h.open.send(request);
        prop_assert!(reply.status == 404, "{} {:?}", reply.status, reply.text());
    });
}

/// The node-to-node Spark UI door (`/console/peer/sparkui/<key>/…`): any proof, session key,
/// prefix or path that is not a live proof for a driver of this node is a 403 or 404, never a
/// page, a 5xx or a hang.
#[test]
fn fuzz_spark_ui_peer_requests() {
    let h = Harness::new();
    let tokens: Vec<String> = h.open.issued.iter().map(|i| i.token.clone()).collect();
    let proof = prop_oneof![
        "[ -~]{0,120}",
        proptest::sample::select(tokens.clone()),
        proptest::sample::select(tokens).prop_map(|t| format!("{t}.{t}")),
    ];
    let key = prop_oneof!["-?[0-9]{1,20}", "[ -~&&[^/?#]]{1,20}"];
    let prefix = prop_oneof![
        Just("/console/sessions/s1/sparkui".to_string()),
        "[ -~]{0,60}",
    ];
    let rest = prop_oneof![Just(String::new()), "/[a-z/]{0,20}", "/[ -~&&[^?#]]{0,40}"];
    proptest!(ProptestConfig::with_cases(200), |(proof in proof, key in key, prefix in prefix, rest in rest, with_proof in prop::bool::weighted(0.9))| {
        let mut request = http::Request::get(format!("/console/peer/sparkui/{key}{rest}"))
            .header("x-forwarded-context", prefix.as_str());
        if with_proof {
            request = request.header("x-epoxy-peer", proof.as_str());
        }
        let Ok(request) = request.body(axum::body::Body::empty()) else { return Ok(()) };
        let reply = h.open.send(request);
        prop_assert!(
            matches!(reply.status.as_u16(), 403 | 404) && reply.text().contains("Spark UI"),
            "{} {:?}", reply.status, reply.text()
        );
    });
}
