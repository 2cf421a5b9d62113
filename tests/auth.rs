//! SigV4 with an accounts file of two accounts: what is accepted, every way a signature is
//! refused, the region of the credential scope as tenant, and isolation between accounts; the
//! keys minted for sessions' drivers: their token, identity, account, revocation and expiry.

mod common;

use common::*;
use epoxy::auth::Keys;
use epoxy::auth::accounts::Accounts;
use epoxy::sessions::credentials::{self, DriverCredentials};
use epoxy::sessions::model::Tenant;
use epoxy::store::SessionStore;
use epoxy::store::sqlite::SqliteStore;
use serde_json::{Value, json};

const ALICE_ACCOUNT: &str = "111111111111";
const BOB_ACCOUNT: &str = "222222222222";

const ACCOUNTS: &str = r#"
[[account]]
access_key_id = "AKIAALICE"
secret_access_key = "alice/secret+key"
account_id = "111111111111"
user_arn = "arn:aws:iam::111111111111:user/alice"

[[account]]
access_key_id = "AKIABOB"
secret_access_key = "bob-secret"
account_id = "222222222222"
"#;

async fn server() -> Server {
    let accounts = Accounts::parse(ACCOUNTS).expect("accounts file");
    Server::start(Keys::Accounts(accounts)).await
}

fn alice() -> Signer {
    Signer::new("AKIAALICE", "alice/secret+key", "us-east-1")
}

fn bob() -> Signer {
    Signer::new("AKIABOB", "bob-secret", "us-east-1")
}

/// A signed Glue call.
async fn call(server: &Server, who: &Signer, op: &str, body: Value) -> Reply {
    server.send(who.glue(op, &body)).await
}

async fn create(server: &Server, who: &Signer, id: &str, extra: Value) {
    call(server, who, "CreateSession", create_input(id, extra))
        .await
        .ok();
}

async fn ids(server: &Server, who: &Signer) -> Vec<String> {
    let page = call(server, who, "ListSessions", json!({})).await.ok();
    let mut ids = strings(&page["Ids"]);
    ids.sort();
    ids
}

#[tokio::test]
async fn signed_requests_are_accepted() {
    let server = server().await;
    create(&server, &alice(), "s1", json!({})).await;
    let got = call(&server, &alice(), "GetSession", json!({ "Id": "s1" }))
        .await
        .ok();
    assert_eq!(got["Session"]["Id"], "s1");
    assert_eq!(ids(&server, &alice()).await, ["s1"]);

    // Headers the client did not sign may be added on the way.
    let mut request = alice().glue("ListSessions", &json!({}));
    request
        .headers_mut()
        .insert("user-agent", "Botocore/1.44.8".parse().unwrap());
    server.send(request).await.ok();
}

#[tokio::test]
async fn sts_names_the_caller() {
    let server = server().await;
    let form = "Action=GetCallerIdentity&Version=2011-06-15";
    for (who, account, arn) in [
        (
            alice(),
            ALICE_ACCOUNT,
            "arn:aws:iam::111111111111:user/alice",
        ),
        (bob(), BOB_ACCOUNT, "arn:aws:iam::222222222222:root"),
    ] {
        let reply = server.send(who.service("sts").query(form)).await;
        assert_eq!(reply.status, 200, "{}", reply.text());
        let xml = reply.text();
        assert!(
            xml.contains(&format!("<Account>{account}</Account>")),
            "{xml}"
        );
        assert!(xml.contains(&format!("<Arn>{arn}</Arn>")), "{xml}");
    }
    let reply = server
        .send(alice().secret("wrong").service("sts").query(form))
        .await;
    assert_eq!(reply.status, 403, "{}", reply.text());
    assert!(
        reply.text().contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        reply.text()
    );
    let reply = server.send(alice().query(form)).await;
    assert!(
        reply.status.is_client_error() && reply.text().contains("<ErrorResponse"),
        "STS signed for glue: {} {}",
        reply.status,
        reply.text()
    );
}

/// CreateSession for `id` signed by `who`, then altered by `mutate` before it is sent.
fn tampered(
    who: &Signer,
    id: &str,
    mutate: impl FnOnce(&mut http::HeaderMap, &mut Vec<u8>),
) -> http::Request<axum::body::Body> {
    let mut headers = glue_headers("CreateSession");
    let mut body = create_input(id, json!({})).to_string().into_bytes();
    who.sign(&mut headers, &body);
    mutate(&mut headers, &mut body);
    post(headers, body)
}

#[tokio::test]
async fn bad_signatures_are_refused_and_store_nothing() {
    let server = server().await;
    let twenty_minutes = time::Duration::minutes(20);
    let now = time::OffsetDateTime::now_utc();
    let create_as = |who: Signer, id: &str| who.glue("CreateSession", &create_input(id, json!({})));
    let cases: Vec<(&str, http::Request<axum::body::Body>, u16, &str)> = vec![
        (
            "no Authorization",
            post(
                glue_headers("CreateSession"),
                create_input("r-none", json!({})).to_string(),
            ),
            403,
            "MissingAuthenticationToken",
        ),
        (
            "unknown access key",
            create_as(alice().access_key("AKIANOBODY"), "r-unknown"),
            403,
            "InvalidClientTokenId",
        ),
        (
            "wrong secret",
            create_as(alice().secret("not-alice's"), "r-secret"),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "Bob's key, Alice's secret",
            create_as(bob().secret("alice/secret+key"), "r-mixed"),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "body changed after signing",
            tampered(&alice(), "r-body", |_, body| {
                *body = create_input("r-body2", json!({})).to_string().into_bytes();
            }),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "signed header changed after signing",
            tampered(&alice(), "r-header", |headers, _| {
                headers.insert("host", "elsewhere:4747".parse().unwrap());
            }),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "date 20 minutes old",
            create_as(alice().at(now - twenty_minutes), "r-old"),
            400,
            "RequestExpired",
        ),
        (
            "date 20 minutes ahead",
            create_as(alice().at(now + twenty_minutes), "r-future"),
            400,
            "RequestExpired",
        ),
        (
            "region that is no AWS region",
            create_as(alice().region("EU_WEST"), "r-region"),
            400,
            "IncompleteSignature",
        ),
        (
            "scope service sts",
            create_as(alice().service("sts"), "r-sts"),
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (case, request, status, code) in cases {
        println!("case: {case}");
        server.send(request).await.error(status, code);
    }
    for who in [alice(), bob(), alice().region("eu-west-1")] {
        assert!(
            ids(&server, &who).await.is_empty(),
            "a refused request stored a session"
        );
    }
}

#[tokio::test]
async fn the_scope_region_is_the_tenant() {
    let server = server().await;
    let ireland = alice().region("eu-west-1");
    create(
        &server,
        &ireland,
        "regional",
        json!({ "Tags": { "k": "v" } }),
    )
    .await;

    call(&server, &alice(), "GetSession", json!({ "Id": "regional" }))
        .await
        .not_found();
    assert!(ids(&server, &alice()).await.is_empty());
    assert_eq!(ids(&server, &ireland).await, ["regional"]);
    let arn = session_arn(ALICE_ACCOUNT, "eu-west-1", "regional");
    call(&server, &alice(), "GetTags", json!({ "ResourceArn": arn }))
        .await
        .not_found();
    let tags = call(&server, &ireland, "GetTags", json!({ "ResourceArn": arn }))
        .await
        .ok();
    assert_eq!(tags, json!({ "Tags": { "k": "v" } }));

    // The same id in the other region is a different session.
    create(&server, &alice(), "regional", json!({})).await;
    call(
        &server,
        &alice(),
        "StopSession",
        json!({ "Id": "regional" }),
    )
    .await
    .ok();
    let there = call(&server, &ireland, "GetSession", json!({ "Id": "regional" }))
        .await
        .ok();
    assert_eq!(there["Session"]["Status"], "READY");
}

#[tokio::test]
async fn accounts_cannot_reach_each_other() {
    let server = server().await;
    create(
        &server,
        &alice(),
        "private",
        json!({ "Tags": { "owner": "alice" } }),
    )
    .await;
    let arn = session_arn(ALICE_ACCOUNT, "us-east-1", "private");
    let bobs_arn = session_arn(BOB_ACCOUNT, "us-east-1", "private");
    let attempts = [
        ("GetSession", json!({ "Id": "private" })),
        ("StopSession", json!({ "Id": "private" })),
        ("DeleteSession", json!({ "Id": "private" })),
        ("GetTags", json!({ "ResourceArn": arn })),
        ("GetTags", json!({ "ResourceArn": bobs_arn })),
        (
            "TagResource",
            json!({ "ResourceArn": arn, "TagsToAdd": { "owner": "bob" } }),
        ),
        (
            "TagResource",
            json!({ "ResourceArn": bobs_arn, "TagsToAdd": { "owner": "bob" } }),
        ),
        (
            "UntagResource",
            json!({ "ResourceArn": arn, "TagsToRemove": ["owner"] }),
        ),
    ];
    for (op, body) in attempts {
        println!("case: Bob {op} {body}");
        call(&server, &bob(), op, body).await.not_found();
    }
    assert!(ids(&server, &bob()).await.is_empty());

    let got = call(&server, &alice(), "GetSession", json!({ "Id": "private" }))
        .await
        .ok();
    assert_eq!(
        got["Session"]["Status"], "READY",
        "Bob's attempts changed it"
    );
    let tags = call(&server, &alice(), "GetTags", json!({ "ResourceArn": arn }))
        .await
        .ok();
    assert_eq!(tags, json!({ "Tags": { "owner": "alice" } }));

    // Bob may use the same id for his own session.
    create(&server, &bob(), "private", json!({})).await;
    assert_eq!(ids(&server, &bob()).await, ["private"]);
    assert_eq!(ids(&server, &alice()).await, ["private"]);
}

#[tokio::test]
async fn next_tokens_are_bound_to_the_caller() {
    let server = server().await;
    for id in ["a", "b", "c"] {
        create(&server, &alice(), id, json!({})).await;
        create(&server, &bob(), id, json!({})).await;
    }
    let page = call(
        &server,
        &alice(),
        "ListSessions",
        json!({ "MaxResults": 1 }),
    )
    .await
    .ok();
    let token = page["NextToken"].as_str().expect("NextToken").to_owned();
    let next = json!({ "MaxResults": 1, "NextToken": token });

    call(&server, &bob(), "ListSessions", next.clone())
        .await
        .invalid();
    call(
        &server,
        &alice().region("eu-west-1"),
        "ListSessions",
        next.clone(),
    )
    .await
    .invalid();
    let own = call(&server, &alice(), "ListSessions", next).await.ok();
    assert_eq!(strings(&own["Ids"]).len(), 1, "Alice's own token works");
}

// ---------------------------------------------------------------------------------------------
// session keys

const GET_CALLER_IDENTITY: &str = "Action=GetCallerIdentity&Version=2011-06-15";

/// Mints a key for session `id` of `account` (us-east-1) through a second handle on the server's
/// store, as the session service does when the session takes a driver.
fn mint(server: &Server, account: &str, id: &str, lifetime_ms: i64) -> Option<DriverCredentials> {
    let store = SqliteStore::open(&server.data_dir().join("epoxy.db")).expect("store");
    let tenant = Tenant {
        account: account.into(),
        region: "us-east-1".into(),
    };
    let session = store.session(&tenant, id).unwrap().expect("session");
    credentials::mint(&store, &session, lifetime_ms, epoxy::sessions::now_ms()).unwrap()
}

fn signer_of(c: &DriverCredentials) -> Signer {
    Signer::new(&c.access_key_id, &c.secret_access_key, "us-east-1").token(&c.session_token)
}

/// The `<tag>` of an STS reply.
fn xml_value(xml: &str, tag: &str) -> String {
    let start = xml
        .find(&format!("<{tag}>"))
        .unwrap_or_else(|| panic!("no <{tag}> in {xml}"))
        + tag.len()
        + 2;
    let end = xml[start..].find('<').unwrap() + start;
    xml[start..end].to_string()
}

/// An STS error reply's code, after checking its status.
fn sts_error(reply: &Reply, status: u16) -> String {
    assert_eq!(reply.status, status, "{}", reply.text());
    xml_value(&reply.text(), "Code")
}

const HOUR_MS: i64 = 3_600_000;

#[tokio::test]
async fn a_session_key_is_its_account_and_assumed_role() {
    let server = server().await;
    create(&server, &alice(), "own", json!({})).await;
    create(&server, &bob(), "bobs", json!({})).await;
    let key = mint(&server, ALICE_ACCOUNT, "own", HOUR_MS).expect("minted");
    assert!(key.access_key_id.starts_with("ASIA") && key.access_key_id.len() == 20);
    let session = signer_of(&key);

    assert_eq!(ids(&server, &session).await, ["own"]);
    call(&server, &session, "GetSession", json!({ "Id": "bobs" }))
        .await
        .not_found();
    // Another region is the same account's other tenant, as with AWS's global credentials.
    assert!(
        ids(&server, &session.clone().region("eu-west-1"))
            .await
            .is_empty()
    );

    let reply = server
        .send(session.clone().service("sts").query(GET_CALLER_IDENTITY))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    let xml = reply.text();
    assert_eq!(
        xml_value(&xml, "Arn"),
        "arn:aws:sts::111111111111:assumed-role/GlueInteractive/own"
    );
    assert_eq!(xml_value(&xml, "Account"), ALICE_ACCOUNT);
    let user_id = xml_value(&xml, "UserId");
    let (role_id, name) = user_id.split_once(':').expect("role id:session");
    assert!(
        role_id.starts_with("AROA") && role_id.len() == 21,
        "{user_id}"
    );
    assert_eq!(name, "own");
}

#[tokio::test]
async fn a_session_key_needs_its_token_and_secret() {
    let server = server().await;
    create(&server, &alice(), "a", json!({})).await;
    create(&server, &alice(), "b", json!({})).await;
    let a = mint(&server, ALICE_ACCOUNT, "a", HOUR_MS).unwrap();
    let b = mint(&server, ALICE_ACCOUNT, "b", HOUR_MS).unwrap();
    let plain = Signer::new(&a.access_key_id, &a.secret_access_key, "us-east-1");
    let cases = [
        ("no token", plain.clone(), 403, "InvalidClientTokenId"),
        (
            "garbage token",
            plain.clone().token("garbage"),
            403,
            "InvalidClientTokenId",
        ),
        (
            "another session's token",
            plain.clone().token(&b.session_token),
            403,
            "InvalidClientTokenId",
        ),
        (
            "wrong secret",
            signer_of(&a).secret(&b.secret_access_key),
            403,
            "SignatureDoesNotMatch",
        ),
        (
            "unknown ASIA key",
            signer_of(&a).access_key("ASIAAAAAAAAAAAAAAAAA"),
            403,
            "InvalidClientTokenId",
        ),
        (
            "scoped to sts",
            signer_of(&a).service("sts"),
            403,
            "SignatureDoesNotMatch",
        ),
    ];
    for (case, who, status, code) in cases {
        println!("case: {case}");
        server
            .send(who.glue("CreateSession", &create_input("forged", json!({}))))
            .await
            .error(status, code);
    }
    assert_eq!(
        ids(&server, &alice()).await,
        ["a", "b"],
        "a refused request stored a session"
    );
}

#[tokio::test]
async fn an_ended_session_revokes_its_key() {
    let server = server().await;
    create(&server, &alice(), "stopped", json!({})).await;
    create(&server, &alice(), "deleted", json!({})).await;
    let stopped = signer_of(&mint(&server, ALICE_ACCOUNT, "stopped", HOUR_MS).unwrap());
    let deleted = signer_of(&mint(&server, ALICE_ACCOUNT, "deleted", HOUR_MS).unwrap());
    call(&server, &stopped, "ListSessions", json!({}))
        .await
        .ok();

    call(&server, &alice(), "StopSession", json!({ "Id": "stopped" }))
        .await
        .ok();
    call(
        &server,
        &alice(),
        "DeleteSession",
        json!({ "Id": "deleted" }),
    )
    .await
    .ok();
    for who in [&stopped, &deleted] {
        call(&server, who, "ListSessions", json!({}))
            .await
            .error(403, "InvalidClientTokenId");
        let reply = server
            .send(who.clone().service("sts").query(GET_CALLER_IDENTITY))
            .await;
        assert_eq!(sts_error(&reply, 403), "InvalidClientTokenId");
    }
    // No key for a session that has ended.
    assert!(mint(&server, ALICE_ACCOUNT, "stopped", HOUR_MS).is_none());
}

#[tokio::test]
async fn an_expired_session_key_is_refused_as_aws_does() {
    let server = server().await;
    create(&server, &alice(), "short", json!({})).await;
    let expired = signer_of(&mint(&server, ALICE_ACCOUNT, "short", 0).unwrap());
    call(&server, &expired, "ListSessions", json!({}))
        .await
        .error(400, "ExpiredTokenException");
    let reply = server
        .send(expired.clone().service("sts").query(GET_CALLER_IDENTITY))
        .await;
    assert_eq!(sts_error(&reply, 403), "ExpiredToken");
    // Without the token it is just an invalid one: expiry is said only to the key's holder.
    call(
        &server,
        &expired.clone().token("x"),
        "ListSessions",
        json!({}),
    )
    .await
    .error(403, "InvalidClientTokenId");
}

#[tokio::test]
async fn open_mode_verifies_session_keys_and_still_takes_any_other() {
    let server = Server::open().await;
    server.create("mine", json!({})).await;
    let key = mint(&server, OPEN_ACCOUNT, "mine", HOUR_MS).unwrap();
    let session = signer_of(&key);
    let reply = server
        .send(session.clone().service("sts").query(GET_CALLER_IDENTITY))
        .await;
    assert_eq!(reply.status, 200, "{}", reply.text());
    assert_eq!(
        xml_value(&reply.text(), "Arn"),
        "arn:aws:sts::000000000000:assumed-role/GlueInteractive/mine"
    );
    assert_eq!(ids(&server, &session).await, ["mine"]);
    call(
        &server,
        &session.clone().token("forged"),
        "ListSessions",
        json!({}),
    )
    .await
    .error(403, "InvalidClientTokenId");

    server
        .call("StopSession", json!({ "Id": "mine" }))
        .await
        .ok();
    call(&server, &session, "ListSessions", json!({}))
        .await
        .error(403, "InvalidClientTokenId");
    // Any other key, signed or not, is still the open account.
    let anyone = Signer::new("AKIAANYONE", "whatever", "us-east-1");
    assert_eq!(ids(&server, &anyone).await, ["mine"]);
}
