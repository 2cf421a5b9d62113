//! `glue-get-statement <endpoint> <session-id> <statement-id>...`: reads statements back through
//! the AWS SDK for Rust and prints, per statement, one JSON line with what the SDK parsed. An
//! error from the SDK (a response it cannot deserialize included) exits with status 1, so a test
//! driving this binary fails when epoxy's answer breaks the SDK.

use aws_sdk_glue::config::{BehaviorVersion, Credentials, Region};
use aws_smithy_http_client::{Builder, tls};
use serde_json::json;
use std::process::ExitCode;

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [endpoint, session_id, ids @ ..] = args.as_slice() else {
        eprintln!("usage: glue-get-statement <endpoint> <session-id> <statement-id>...");
        return ExitCode::from(2);
    };
    let http = Builder::new()
        .tls_provider(tls::Provider::Rustls(
            tls::rustls_provider::CryptoMode::Ring,
        ))
        .build_https();
    let config = aws_sdk_glue::Config::builder()
        .behavior_version(BehaviorVersion::latest())
        .endpoint_url(endpoint)
        .region(Region::new("us-east-1"))
        .credentials_provider(Credentials::new(
            "AKIDRUSTSDK",
            "secret",
            None,
            None,
            "static",
        ))
        .http_client(http)
        .build();
    let glue = aws_sdk_glue::Client::from_conf(config);
    for id in ids {
        let Ok(id) = id.parse::<i32>() else {
            eprintln!("statement id {id:?} is not an integer");
            return ExitCode::from(2);
        };
        let reply = match glue
            .get_statement()
            .session_id(session_id)
            .id(id)
            .send()
            .await
        {
            Ok(reply) => reply,
            Err(e) => {
                eprintln!("GetStatement {id} failed: {e:?}");
                return ExitCode::from(1);
            }
        };
        let Some(statement) = reply.statement() else {
            eprintln!("GetStatement {id}: no Statement in the reply");
            return ExitCode::from(1);
        };
        let output = statement.output();
        println!(
            "{}",
            json!({
                "Id": statement.id(),
                "State": statement.state().map(|s| s.as_str()),
                "Status": output.and_then(|o| o.status()).map(|s| s.as_str()),
                "TextPlain": output.and_then(|o| o.data()).and_then(|d| d.text_plain()),
                "ErrorName": output.and_then(|o| o.error_name()),
                "ExecutionCount": output.map(|o| o.execution_count()),
                "CompletedOn": statement.completed_on(),
            })
        );
    }
    ExitCode::SUCCESS
}
