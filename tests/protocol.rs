//! The whole request path in-process (open mode, `--runtime none`): AWS JSON 1.1 shapes, error
//! replies for every kind of malformed request, CreateSession validation, pagination tokens,
//! STS GetCallerIdentity, `/health`.

mod common;

use common::*;
use serde_json::{Value, json};

fn now_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
}

/// A JSON object of `n` members `<prefix>0`, `<prefix>1`, … all with the value "v".
fn numbered(prefix: &str, n: usize) -> Value {
    (0..n)
        .map(|i| (format!("{prefix}{i}"), json!("v")))
        .collect::<serde_json::Map<_, _>>()
        .into()
}

/// The model's `Session` never carries Timeout or Tags, and its timestamps are numbers.
#[track_caller]
fn assert_session_shape(s: &Value) {
    assert!(s.get("Timeout").is_none(), "Session has Timeout: {s}");
    assert!(s.get("Tags").is_none(), "Session has Tags: {s}");
    assert!(s["CreatedOn"].is_number(), "CreatedOn not a number: {s}");
    assert!(
        s["MaxCapacity"].is_number(),
        "MaxCapacity not a number: {s}"
    );
    if let Some(done) = s.get("CompletedOn") {
        assert!(done.is_number(), "CompletedOn not a number: {s}");
    }
}

// ---------------------------------------------------------------------------------------------
// operations and shapes

#[tokio::test]
async fn create_and_get_session() {
    let server = Server::open().await;
    let before = now_seconds();
    let out = server
        .create(
            "s1",
            json!({
                "Description": "daily\r\nload",
                "WorkerType": "G.2X",
                "NumberOfWorkers": 3,
                "Timeout": 60,
                "IdleTimeout": 30,
                "GlueVersion": "4.0",
                "DefaultArguments": { "--enable-glue-datacatalog": "true" },
                "Tags": { "team": "data" },
                "RequestOrigin": "GlueStudioNotebook",
            }),
        )
        .await;
    let after = now_seconds();
    assert_eq!(out.as_object().unwrap().len(), 1, "only Session: {out}");
    let created = &out["Session"];
    assert_session_shape(created);
    assert_eq!(created["Id"], "s1");
    assert_eq!(created["Role"], ROLE);
    assert_eq!(
        created["Command"],
        json!({ "Name": "glueetl", "PythonVersion": "3" })
    );
    assert_eq!(created["Description"], "daily\r\nload");
    assert_eq!(created["WorkerType"], "G.2X");
    assert_eq!(created["NumberOfWorkers"], 3);
    assert_eq!(created["MaxCapacity"], 6.0, "3 × G.2X = 6 DPU");
    assert_eq!(created["IdleTimeout"], 30);
    assert_eq!(created["GlueVersion"], "4.0");
    assert_eq!(
        created["DefaultArguments"],
        json!({ "--enable-glue-datacatalog": "true" })
    );
    let created_on = created["CreatedOn"].as_f64().unwrap();
    assert!(
        before - 1.0 <= created_on && created_on <= after + 1.0,
        "CreatedOn {created_on} is not epoch seconds around {before}"
    );
    let status = created["Status"].as_str().unwrap();
    assert!(["PROVISIONING", "READY"].contains(&status), "{status}");

    let got = server.call("GetSession", json!({ "Id": "s1" })).await.ok();
    let session = &got["Session"];
    assert_session_shape(session);
    assert_eq!(
        session["Status"], "READY",
        "control-plane sessions are READY"
    );
    for field in [
        "Id",
        "CreatedOn",
        "MaxCapacity",
        "Role",
        "Command",
        "IdleTimeout",
    ] {
        assert_eq!(session[field], created[field], "{field}");
    }
}

#[tokio::test]
async fn max_capacity_is_derived() {
    let server = Server::open().await;
    let cases = [
        (json!({}), 5.0),
        (json!({ "MaxCapacity": 7.5 }), 7.5),
        (json!({ "WorkerType": "G.1X", "NumberOfWorkers": 10 }), 10.0),
        (json!({ "WorkerType": "G.4X", "NumberOfWorkers": 2 }), 8.0),
        (json!({ "WorkerType": "G.025X", "NumberOfWorkers": 4 }), 1.0),
    ];
    for (i, (extra, dpu)) in cases.into_iter().enumerate() {
        let label = extra.to_string();
        let out = server.create(&format!("cap-{i}"), extra).await;
        assert_eq!(out["Session"]["MaxCapacity"], dpu, "{label}");
    }
    let out = server.create("defaults", json!({})).await;
    assert_eq!(
        out["Session"]["IdleTimeout"], 2880,
        "IdleTimeout defaults to the 2880-minute Timeout"
    );
}

#[tokio::test]
async fn list_sessions_pages_and_shapes() {
    let server = Server::open().await;
    let ids: Vec<String> = (0..7).map(|i| format!("s{i}")).collect();
    for id in &ids {
        server.create(id, json!({})).await;
    }
    let mut listed = Vec::new();
    let mut token: Option<String> = None;
    let mut sizes = Vec::new();
    loop {
        let mut body = json!({ "MaxResults": 3 });
        if let Some(t) = &token {
            body["NextToken"] = json!(t);
        }
        let page = server.call("ListSessions", body).await.ok();
        let page_ids = strings(&page["Ids"]);
        let sessions = page["Sessions"].as_array().unwrap();
        let session_ids: Vec<&str> = sessions.iter().map(|s| s["Id"].as_str().unwrap()).collect();
        assert_eq!(
            session_ids, page_ids,
            "Ids and Sessions describe the same page"
        );
        sessions.iter().for_each(assert_session_shape);
        sizes.push(page_ids.len());
        listed.extend(page_ids);
        match page.get("NextToken") {
            Some(t) => token = Some(t.as_str().expect("NextToken is a string").to_owned()),
            None => break,
        }
    }
    assert_eq!(sizes, [3, 3, 1]);
    assert_eq!(listed, ids, "every session once, oldest first");
    let all = server.call("ListSessions", json!({})).await.ok();
    assert!(all.get("NextToken").is_none(), "{all}");
    assert_eq!(strings(&all["Ids"]), ids);
}

#[tokio::test]
async fn list_sessions_filters_by_all_tags() {
    let server = Server::open().await;
    server
        .create("a", json!({ "Tags": { "team": "x", "env": "prod" } }))
        .await;
    server.create("b", json!({ "Tags": { "team": "x" } })).await;
    server
        .create("c", json!({ "Tags": { "team": "y", "env": "prod" } }))
        .await;
    assert_eq!(server.list_ids(json!({})).await, ["a", "b", "c"]);
    assert_eq!(server.list_ids(json!({ "team": "x" })).await, ["a", "b"]);
    assert_eq!(
        server.list_ids(json!({ "team": "x", "env": "prod" })).await,
        ["a"]
    );
    assert_eq!(
        server.list_ids(json!({ "team": "z" })).await,
        Vec::<String>::new()
    );
}

#[tokio::test]
async fn stop_and_delete() {
    let server = Server::open().await;
    server.create("s1", json!({})).await;
    server.create("s2", json!({})).await;

    let stopped = server.call("StopSession", json!({ "Id": "s1" })).await.ok();
    assert_eq!(stopped, json!({ "Id": "s1" }));
    let got = server.call("GetSession", json!({ "Id": "s1" })).await.ok();
    let session = &got["Session"];
    assert_session_shape(session);
    assert_eq!(session["Status"], "STOPPED");
    let completed = session["CompletedOn"]
        .as_f64()
        .expect("CompletedOn once stopped");
    assert!(completed >= session["CreatedOn"].as_f64().unwrap());
    server
        .call("StopSession", json!({ "Id": "s1" }))
        .await
        .error(400, "IllegalSessionStateException");

    for id in ["s1", "s2"] {
        let deleted = server.call("DeleteSession", json!({ "Id": id })).await.ok();
        assert_eq!(deleted, json!({ "Id": id }));
        server
            .call("GetSession", json!({ "Id": id }))
            .await
            .not_found();
    }
    for op in ["GetSession", "StopSession", "DeleteSession"] {
        server.call(op, json!({ "Id": "s1" })).await.not_found();
    }
    assert!(server.list_ids(json!({})).await.is_empty());
    // A deleted id can be used again.
    server.create("s1", json!({})).await;
}

#[tokio::test]
async fn duplicate_create_is_already_exists_and_keeps_the_original() {
    let server = Server::open().await;
    server
        .create(
            "s1",
            json!({ "Description": "first", "Tags": { "a": "1" } }),
        )
        .await;
    server
        .call(
            "CreateSession",
            create_input(
                "s1",
                json!({ "Description": "second", "Tags": { "b": "2" } }),
            ),
        )
        .await
        .error(400, "AlreadyExistsException");
    let got = server.call("GetSession", json!({ "Id": "s1" })).await.ok();
    assert_eq!(got["Session"]["Description"], "first");
    let arn = session_arn(OPEN_ACCOUNT, "us-east-1", "s1");
    let tags = server
        .call("GetTags", json!({ "ResourceArn": arn }))
        .await
        .ok();
    assert_eq!(tags, json!({ "Tags": { "a": "1" } }));
}

#[tokio::test]
async fn tags_round_trip() {
    let server = Server::open().await;
    server.create("s1", json!({ "Tags": { "a": "1" } })).await;
    let arn = session_arn(OPEN_ACCOUNT, "us-east-1", "s1");
    let tags = || async {
        server
            .call("GetTags", json!({ "ResourceArn": arn }))
            .await
            .ok()
    };
    assert_eq!(tags().await, json!({ "Tags": { "a": "1" } }));

    let added = server
        .call(
            "TagResource",
            json!({ "ResourceArn": arn, "TagsToAdd": { "b": "2", "a": "one" } }),
        )
        .await
        .ok();
    assert_eq!(added, json!({}));
    assert_eq!(tags().await, json!({ "Tags": { "a": "one", "b": "2" } }));

    let removed = server
        .call(
            "UntagResource",
            json!({ "ResourceArn": arn, "TagsToRemove": ["a", "absent"] }),
        )
        .await
        .ok();
    assert_eq!(removed, json!({}));
    assert_eq!(tags().await, json!({ "Tags": { "b": "2" } }));

    // 49 more would make 50: fine; one beyond is refused and changes nothing.
    server
        .call(
            "TagResource",
            json!({ "ResourceArn": arn, "TagsToAdd": numbered("k", 49) }),
        )
        .await
        .ok();
    let full = tags().await;
    assert_eq!(full["Tags"].as_object().unwrap().len(), 50);
    server
        .call(
            "TagResource",
            json!({ "ResourceArn": arn, "TagsToAdd": { "one-too-many": "x" } }),
        )
        .await
        .invalid();
    assert_eq!(tags().await, full);

    let missing = session_arn(OPEN_ACCOUNT, "us-east-1", "nope");
    for (op, body) in [
        ("GetTags", json!({ "ResourceArn": missing })),
        (
            "TagResource",
            json!({ "ResourceArn": missing, "TagsToAdd": { "k": "v" } }),
        ),
        (
            "UntagResource",
            json!({ "ResourceArn": missing, "TagsToRemove": ["k"] }),
        ),
    ] {
        server.call(op, body).await.not_found();
    }
    for bad in ["arn:aws:s3:::bucket", "not-an-arn"] {
        server
            .call("GetTags", json!({ "ResourceArn": bad }))
            .await
            .invalid();
    }
}

#[tokio::test]
async fn statements_are_refused_without_a_runtime() {
    let server = Server::open().await;
    server.create("s1", json!({})).await;
    server
        .call("RunStatement", json!({ "SessionId": "s1", "Code": "1+1" }))
        .await
        .error(400, "OperationNotSupportedException");
    server
        .call("GetStatement", json!({ "SessionId": "s1", "Id": 0 }))
        .await
        .not_found();
    let list = server
        .call("ListStatements", json!({ "SessionId": "s1" }))
        .await
        .ok();
    assert_eq!(list["Statements"], json!([]));
}

// ---------------------------------------------------------------------------------------------
// protocol errors

/// A request the protocol layer must refuse, and how.
struct Bad {
    what: &'static str,
    request: http::Request<axum::body::Body>,
    status: u16,
    code: &'static str,
}

fn bad(what: &'static str, request: http::Request<axum::body::Body>, code: &'static str) -> Bad {
    Bad {
        what,
        request,
        status: 400,
        code,
    }
}

/// GetSession with the raw body `body`.
fn get_session_raw(body: impl Into<Vec<u8>>) -> http::Request<axum::body::Body> {
    post(glue_headers("GetSession"), body.into())
}

fn with_target(target: Option<&str>) -> http::Request<axum::body::Body> {
    let mut h = glue_headers("GetSession");
    match target {
        Some(t) => h.insert("x-amz-target", t.parse().unwrap()),
        None => h.remove("x-amz-target"),
    };
    post(h, r#"{"Id":"s1"}"#)
}

fn with_content_type(content_type: Option<&str>) -> http::Request<axum::body::Body> {
    let mut h = glue_headers("GetSession");
    match content_type {
        Some(t) => h.insert("content-type", t.parse().unwrap()),
        None => h.remove("content-type"),
    };
    post(h, r#"{"Id":"s1"}"#)
}

async fn check_refused(server: &Server, cases: Vec<Bad>) {
    for case in cases {
        println!("case: {}", case.what);
        server
            .send(case.request)
            .await
            .error(case.status, case.code);
    }
}

#[tokio::test]
async fn malformed_requests_get_json_errors() {
    let server = Server::open().await;
    server.create("s1", json!({})).await;
    const SER: &str = "SerializationException";
    const UNKNOWN: &str = "UnknownOperationException";
    let deep = "[".repeat(10_000);
    let deep_member = format!(r#"{{"Id":{deep}"#);
    let cases = vec![
        bad(
            "unknown target",
            with_target(Some("AWSGlue.DropEverything")),
            UNKNOWN,
        ),
        bad("missing target", with_target(None), UNKNOWN),
        bad(
            "target without AWSGlue.",
            with_target(Some("GetSession")),
            UNKNOWN,
        ),
        bad(
            "other service's target",
            with_target(Some("AWSGlueX.GetSession")),
            UNKNOWN,
        ),
        bad("empty target", with_target(Some("")), UNKNOWN),
        bad("malformed JSON", get_session_raw(r#"{"Id": "s1""#), SER),
        bad(
            "trailing garbage",
            get_session_raw(r#"{"Id": "s1"} x"#),
            SER,
        ),
        bad("JSON array", get_session_raw(r#"["s1"]"#), SER),
        bad("empty JSON array", get_session_raw("[]"), SER),
        bad("JSON number", get_session_raw("5"), SER),
        bad("JSON string", get_session_raw(r#""s1""#), SER),
        bad("JSON null", get_session_raw("null"), SER),
        bad("JSON true", get_session_raw("true"), SER),
        bad("Id is a number", get_session_raw(r#"{"Id": 5}"#), SER),
        bad("Id is an object", get_session_raw(r#"{"Id": {}}"#), SER),
        bad(
            "duplicate key",
            get_session_raw(r#"{"Id": "s1", "Id": "s2"}"#),
            SER,
        ),
        bad("10,000 [", get_session_raw(deep.clone()), SER),
        bad("10,000 [ in a member", get_session_raw(deep_member), SER),
        bad(
            "invalid UTF-8",
            get_session_raw(b"{\"Id\": \"s\xff\xfe1\"}".to_vec()),
            SER,
        ),
        bad(
            "lone surrogate escape",
            get_session_raw(r#"{"Id": "\ud800"}"#),
            SER,
        ),
        bad(
            "NUL in Id",
            get_session_raw(r#"{"Id": "s\u00001"}"#),
            "InvalidInputException",
        ),
        bad("text/plain", with_content_type(Some("text/plain")), SER),
        bad("no content type", with_content_type(None), SER),
        bad(
            "ListSessions MaxResults is a string",
            glue("ListSessions", &json!({ "MaxResults": "10" })),
            SER,
        ),
        bad(
            "ListSessions MaxResults is a fraction",
            glue("ListSessions", &json!({ "MaxResults": 1.5 })),
            SER,
        ),
        bad(
            "ListSessions Tags is a list",
            glue("ListSessions", &json!({ "Tags": ["a"] })),
            SER,
        ),
        bad(
            "tag value is a number",
            glue("ListSessions", &json!({ "Tags": { "a": 1 } })),
            SER,
        ),
    ];
    check_refused(&server, cases).await;
}

/// serde's derived visitors also accept a structure as a JSON array of its members in
/// declaration order; AWS JSON 1.1 inputs are objects only.
#[tokio::test]
async fn array_bodies_are_not_input_shapes() {
    let server = Server::open().await;
    server.create("s1", json!({})).await;
    // CreateSessionInput has 16 members: Id, Description, Role, Command, then 12 optional ones.
    let mut create = vec![json!("from-array"), json!(null), json!(ROLE), json!({})];
    create.resize(16, json!(null));
    check_refused(
        &server,
        vec![
            bad(
                "CreateSession as an array",
                glue("CreateSession", &Value::Array(create)),
                "SerializationException",
            ),
            bad(
                "GetSession as [Id, RequestOrigin]",
                get_session_raw(r#"["s1", null]"#),
                "SerializationException",
            ),
            bad(
                "ListSessions as four nulls",
                glue("ListSessions", &json!([null, null, null, null])),
                "SerializationException",
            ),
        ],
    )
    .await;
    assert_eq!(server.list_ids(json!({})).await, ["s1"]);
}

/// A duplicate member is refused at the top level, but inside a map the last value silently
/// wins, so the stored tag or argument depends on the JSON parser's choice.
#[tokio::test]
async fn duplicate_keys_in_map_members_are_refused() {
    let server = Server::open().await;
    let raw = |member: &str| {
        format!(r#"{{"Id": "dup", "Role": "{ROLE}", "Command": {{"Name": "glueetl"}}, {member}}}"#)
    };
    check_refused(
        &server,
        vec![
            bad(
                "duplicate tag key",
                post(
                    glue_headers("CreateSession"),
                    raw(r#""Tags": {"k": "1", "k": "2"}"#),
                ),
                "SerializationException",
            ),
            bad(
                "duplicate argument",
                post(
                    glue_headers("CreateSession"),
                    raw(r#""DefaultArguments": {"--a": "1", "--a": "2"}"#),
                ),
                "SerializationException",
            ),
        ],
    )
    .await;
    assert!(server.list_ids(json!({})).await.is_empty());
}

#[tokio::test]
async fn deep_nesting_in_an_unknown_member_is_harmless() {
    let server = Server::open().await;
    let deep = format!(
        r#"{{"Unknown": {}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    let reply = server.send(post(glue_headers("ListSessions"), deep)).await;
    if reply.status != http::StatusCode::OK {
        reply.error(400, "SerializationException");
    }
}

#[tokio::test]
async fn oversized_body_is_413_json() {
    let server = Server::open().await;
    let mut body = br#"{"Id": "s1", "Description": ""#.to_vec();
    body.resize(4 * 1024 * 1024 + 1, b'x');
    let reply = server.send(post(glue_headers("CreateSession"), body)).await;
    reply.error(413, "RequestEntityTooLargeException");
    assert!(server.list_ids(json!({})).await.is_empty());

    // Just under the cap is read and judged on its content.
    let mut body = br#"{"Id": "s1", "Pad": ""#.to_vec();
    body.resize(4 * 1024 * 1024 - 2, b'x');
    body.extend_from_slice(b"\"}");
    let reply = server.send(post(glue_headers("GetSession"), body)).await;
    reply.not_found();
}

#[tokio::test]
async fn health_and_unknown_paths() {
    let server = Server::open().await;
    let health = server.send(get("/health")).await;
    assert_eq!(health.status, 200);
    assert_eq!(health.json()["status"], "ok");

    for request in [
        get("/nope"),
        get("/"),
        http::Request::post("/nope")
            .header("x-amz-target", "AWSGlue.ListSessions")
            .header("content-type", JSON_1_1)
            .body(axum::body::Body::from("{}"))
            .unwrap(),
    ] {
        server
            .send(request)
            .await
            .error(404, "UnknownOperationException");
    }
}

// ---------------------------------------------------------------------------------------------
// CreateSession validation

#[tokio::test]
async fn invalid_create_session_is_refused_and_stores_nothing() {
    let server = Server::open().await;
    server.create("existing", json!({})).await;
    let long = |n: usize| "x".repeat(n);
    // (case, members over a valid input, field the message must name)
    let cases: Vec<(&str, Value, &str)> = vec![
        ("Id missing", json!({ "Id": null }), "Id"),
        ("Id empty", json!({ "Id": "" }), "Id"),
        ("Id 256 chars", json!({ "Id": long(256) }), "Id"),
        ("Id with newline", json!({ "Id": "a\nb" }), "Id"),
        ("Id with NUL", json!({ "Id": "a\u{0}b" }), "Id"),
        ("Role missing", json!({ "Role": null }), "Role"),
        (
            "Role not a role",
            json!({ "Role": "arn:aws:iam::123456789012:user/x" }),
            "Role",
        ),
        (
            "Role too short",
            json!({ "Role": "arn:aws:iam::1:role" }),
            "Role",
        ),
        ("Command missing", json!({ "Command": null }), "Command"),
        (
            "PythonVersion 4",
            json!({ "Command": { "Name": "glueetl", "PythonVersion": "4" } }),
            "PythonVersion",
        ),
        (
            "Description 2049",
            json!({ "Description": long(2049) }),
            "Description",
        ),
        ("Timeout 0", json!({ "Timeout": 0 }), "Timeout"),
        (
            "IdleTimeout -1",
            json!({ "IdleTimeout": -1 }),
            "IdleTimeout",
        ),
        (
            "76 DefaultArguments",
            json!({ "DefaultArguments": numbered("--k", 76) }),
            "DefaultArguments",
        ),
        (
            "argument key with space",
            json!({ "DefaultArguments": { "--a b": "v" } }),
            "DefaultArguments",
        ),
        (
            "argument value 4097",
            json!({ "DefaultArguments": { "--k": long(4097) } }),
            "DefaultArguments",
        ),
        (
            "1001 connections",
            json!({ "Connections": { "Connections": vec!["c"; 1001] } }),
            "Connections",
        ),
        ("51 tags", json!({ "Tags": numbered("k", 51) }), "Tags"),
        ("empty tag key", json!({ "Tags": { "": "v" } }), "Tags"),
        (
            "tag value 257",
            json!({ "Tags": { "k": long(257) } }),
            "Tags",
        ),
        (
            "GlueVersion 1.0",
            json!({ "GlueVersion": "1.0" }),
            "GlueVersion",
        ),
        (
            "GlueVersion pattern",
            json!({ "GlueVersion": "five" }),
            "GlueVersion",
        ),
        (
            "WorkerType unknown",
            json!({ "WorkerType": "G.3X", "NumberOfWorkers": 2 }),
            "WorkerType",
        ),
        (
            "WorkerType alone",
            json!({ "WorkerType": "G.1X" }),
            "NumberOfWorkers",
        ),
        (
            "NumberOfWorkers alone",
            json!({ "NumberOfWorkers": 4 }),
            "WorkerType",
        ),
        (
            "NumberOfWorkers 0",
            json!({ "WorkerType": "G.1X", "NumberOfWorkers": 0 }),
            "NumberOfWorkers",
        ),
        (
            "MaxCapacity with workers",
            json!({ "MaxCapacity": 4.0, "WorkerType": "G.1X", "NumberOfWorkers": 4 }),
            "MaxCapacity",
        ),
        (
            "MaxCapacity below 2",
            json!({ "MaxCapacity": 1.0 }),
            "MaxCapacity",
        ),
        (
            "SessionType unknown",
            json!({ "SessionType": "BATCH" }),
            "SessionType",
        ),
        (
            "RequestOrigin with space",
            json!({ "RequestOrigin": "my notebook" }),
            "RequestOrigin",
        ),
        (
            "SecurityConfiguration 256",
            json!({ "SecurityConfiguration": long(256) }),
            "SecurityConfiguration",
        ),
        (
            "Id already exists",
            json!({ "Id": "existing", "Timeout": 0 }),
            "Timeout",
        ),
    ];
    for (case, extra, field) in cases {
        println!("case: {case}");
        let reply = server
            .call("CreateSession", create_input("new", extra))
            .await;
        let message = reply.invalid();
        assert!(
            message.contains(field),
            "{case}: {message:?} does not name {field}"
        );
    }
    server
        .call(
            "CreateSession",
            create_input("new", json!({ "SessionType": "SPARK_CONNECT" })),
        )
        .await
        .error(400, "OperationNotSupportedException");
    server
        .call("CreateSession", create_input("existing", json!({})))
        .await
        .error(400, "AlreadyExistsException");
    assert_eq!(server.list_ids(json!({})).await, ["existing"]);
}

#[tokio::test]
async fn boundary_values_are_accepted() {
    let server = Server::open().await;
    let cases = [
        ("x".repeat(255), json!({})),
        ("séance-😀 with spaces".into(), json!({})),
        (
            "min".into(),
            json!({ "Timeout": 1, "IdleTimeout": 1, "MaxCapacity": 2.0 }),
        ),
        (
            "workers".into(),
            json!({ "WorkerType": "G.1X", "NumberOfWorkers": 2 }),
        ),
        (
            "tab\tdesc".into(),
            json!({ "Description": "a\tb\r\nc", "Tags": { "k": "" } }),
        ),
        (
            "auto".into(),
            json!({ "GlueVersion": "auto", "Command": { "Name": "gluestreaming", "PythonVersion": "3.9" } }),
        ),
        ("fifty-tags".into(), json!({ "Tags": numbered("k", 50) })),
    ];
    let mut expected = Vec::new();
    for (id, extra) in cases {
        let out = server.create(&id, extra).await;
        assert_eq!(out["Session"]["Id"], id.as_str());
        expected.push(id);
    }
    // Sessions made in the same millisecond list by Id: compare as sets.
    let mut listed = server.list_ids(json!({})).await;
    listed.sort();
    expected.sort();
    assert_eq!(listed, expected);
}

#[tokio::test]
async fn invalid_requests_of_other_operations() {
    let server = Server::open().await;
    server.create("s1", json!({})).await;
    let arn = session_arn(OPEN_ACCOUNT, "us-east-1", "s1");
    let cases = [
        ("GetSession", json!({})),
        ("GetSession", json!({ "Id": "" })),
        ("StopSession", json!({ "Id": "x".repeat(256) })),
        ("DeleteSession", json!({ "Id": "a\nb" })),
        ("ListSessions", json!({ "MaxResults": 0 })),
        ("ListSessions", json!({ "MaxResults": 1001 })),
        ("ListSessions", json!({ "RequestOrigin": "a b" })),
        ("TagResource", json!({ "ResourceArn": arn })),
        (
            "TagResource",
            json!({ "ResourceArn": arn, "TagsToAdd": { "": "v" } }),
        ),
        ("UntagResource", json!({ "ResourceArn": arn })),
        (
            "UntagResource",
            json!({ "ResourceArn": arn, "TagsToRemove": vec!["k"; 51] }),
        ),
        ("GetTags", json!({})),
    ];
    for (op, body) in cases {
        println!("case: {op} {body}");
        server.call(op, body).await.invalid();
    }
    let got = server.call("GetSession", json!({ "Id": "s1" })).await.ok();
    assert_eq!(got["Session"]["Status"], "READY");
    let tags = server
        .call("GetTags", json!({ "ResourceArn": arn }))
        .await
        .ok();
    assert_eq!(tags, json!({ "Tags": {} }));
}

// ---------------------------------------------------------------------------------------------
// pagination tokens

async fn first_token(server: &Server, filter: Value) -> String {
    let page = server
        .call("ListSessions", json!({ "MaxResults": 1, "Tags": filter }))
        .await
        .ok();
    page["NextToken"].as_str().expect("a NextToken").to_owned()
}

#[tokio::test]
async fn pagination_tokens_cannot_be_forged_or_reused_elsewhere() {
    let server = Server::open().await;
    for id in ["a", "b", "c"] {
        server.create(id, json!({ "Tags": { "k": "v" } })).await;
    }
    let token = first_token(&server, json!({})).await;
    let next = server
        .call(
            "ListSessions",
            json!({ "MaxResults": 1, "NextToken": token }),
        )
        .await
        .ok();
    assert_eq!(strings(&next["Ids"]), ["b"], "the genuine token works");

    let flipped = {
        let mut t = token.clone().into_bytes();
        let last = t.last_mut().unwrap();
        *last = if *last == b'A' { b'B' } else { b'A' };
        String::from_utf8(t).unwrap()
    };
    // The same signature over a position of the forger's choosing.
    let (_, tag) = token.split_once('.').unwrap_or(("", &token));
    let forged = format!("eyJjIjowLCJpIjoiIn0.{tag}");
    let tagged = first_token(&server, json!({ "k": "v" })).await;
    let cases = [
        ("garbled", json!({ "NextToken": "not a token" })),
        ("base64 noise", json!({ "NextToken": "AAAA.BBBB" })),
        ("one character changed", json!({ "NextToken": flipped })),
        ("forged position", json!({ "NextToken": forged })),
        (
            "issued for no filter, used with one",
            json!({ "NextToken": token, "Tags": { "k": "v" } }),
        ),
        (
            "issued for a filter, used without",
            json!({ "NextToken": tagged }),
        ),
        (
            "issued for a filter, used with another",
            json!({ "NextToken": tagged, "Tags": { "k": "w" } }),
        ),
    ];
    for (case, body) in cases {
        println!("case: {case}");
        server.call("ListSessions", body).await.invalid();
    }
}

// ---------------------------------------------------------------------------------------------
// STS

fn sts(form: impl Into<Vec<u8>>) -> http::Request<axum::body::Body> {
    post(
        headers(&[("host", "localhost:4747"), ("content-type", FORM)]),
        form.into(),
    )
}

#[tokio::test]
async fn sts_get_caller_identity_in_open_mode() {
    let server = Server::open().await;
    let reply = server
        .send(sts("Action=GetCallerIdentity&Version=2011-06-15"))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert!(
        reply
            .header("content-type")
            .is_some_and(|c| c.contains("xml")),
        "{:?}",
        reply.headers
    );
    let xml = reply.text();
    for part in [
        "<GetCallerIdentityResponse",
        "<GetCallerIdentityResult>",
        "<Account>000000000000</Account>",
        "<Arn>arn:aws:iam::000000000000:",
        "<RequestId>",
    ] {
        assert!(xml.contains(part), "{part} missing from {xml}");
    }
}

#[tokio::test]
async fn sts_errors_are_xml() {
    let server = Server::open().await;
    let mut huge = b"Action=GetCallerIdentity&Version=2011-06-15&Pad=".to_vec();
    huge.resize(4 * 1024 * 1024 + 1, b'x');
    let cases = [
        (
            sts("Action=AssumeRole&Version=2011-06-15"),
            400,
            "InvalidAction",
        ),
        (sts("Version=2011-06-15"), 400, "InvalidAction"),
        (sts(huge), 413, "RequestEntityTooLargeException"),
    ];
    for (request, status, code) in cases {
        let reply = server.send(request).await;
        let xml = reply.text();
        assert_eq!(reply.status, status, "{xml}");
        for part in [
            "<ErrorResponse",
            "<Type>Sender</Type>",
            &format!("<Code>{code}</Code>"),
            "<Message>",
            "<RequestId>",
        ] {
            assert!(xml.contains(part), "{part} missing from {xml}");
        }
    }
}
