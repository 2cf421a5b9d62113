//! epoxy's end of a driver's channel: the Unix socket the driver listens on (frames and the
//! reason the driver listens are in `python/epoxy_driver/channel.py`). A challenge handshake
//! proves to each side that the other holds the session's secret, which never crosses the
//! socket; events carry sequence numbers and the driver keeps them until acknowledged.
//! Every frame is validated here before anything else sees it.

use super::driver::DriverEvent;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::path::Path;
use std::time::Duration;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::UnixStream;
use tokio::net::unix::{OwnedReadHalf, OwnedWriteHalf};

/// The protocol version the driver's `hello` must name.
pub const PROTOCOL: u32 = 1;

/// Longest frame accepted from a driver, more is a fault: a result carries at most 1 MiB of
/// output (up to 6 MiB once JSON escapes control characters) and a picture of at most
/// `MAX_PICTURE_BYTES` (5.4 MiB as base64).
pub const MAX_FRAME_BYTES: usize = 16 * 1024 * 1024;

/// Longest handshake frame (they are ~200 bytes).
const MAX_HANDSHAKE_BYTES: usize = 4096;

/// Why a channel could not be opened or read.
#[derive(Debug, thiserror::Error)]
pub enum ChannelError {
    #[error("driver channel: {0}")]
    Io(#[from] std::io::Error),
    #[error("the driver closed its channel")]
    Closed,
    #[error("a frame from the driver is longer than {0} bytes")]
    TooLong(usize),
    #[error("malformed frame from the driver: {0}")]
    Malformed(String),
    #[error("the process at the driver's socket does not hold the session's secret")]
    WrongKey,
    #[error("the driver did not complete the handshake within {0:?}")]
    Timeout(Duration),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Hello {
    hello: u32,
    nonce: String,
}

/// The driver's answer to a controller that proved it holds the secret.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Welcome {
    welcome: String,
    /// The newest statement the driver has received (to resend one it never got).
    pub last_run: Option<i64>,
    pub pid: u32,
}

#[derive(Debug, Deserialize)]
struct EventFrame {
    seq: u64,
    #[serde(flatten)]
    event: DriverEvent,
}

/// A nonce as both sides make them: 32 random bytes, lower-case hex.
fn valid_nonce(nonce: &str) -> bool {
    nonce.len() == 64
        && nonce
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn mac(secret: &str, role: &str, first: &str, second: &str) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{role}:{first}:{second}").as_bytes());
    mac
}

/// A fresh channel secret (hex, 32 random bytes).
pub fn new_secret() -> String {
    hex::encode(crate::sessions::credentials::random_bytes(32))
}

fn malformed(e: impl std::fmt::Display) -> ChannelError {
    ChannelError::Malformed(e.to_string())
}

/// The driver's nonce from its `hello`.
pub fn parse_hello(line: &[u8]) -> Result<String, ChannelError> {
    let hello: Hello = serde_json::from_slice(line).map_err(malformed)?;
    if hello.hello != PROTOCOL {
        return Err(malformed(format!(
            "protocol {} (this epoxy speaks {PROTOCOL})",
            hello.hello
        )));
    }
    if !valid_nonce(&hello.nonce) {
        return Err(malformed("the nonce is not 64 hex digits"));
    }
    Ok(hello.nonce)
}

/// The driver's `welcome`, its proof checked against the two nonces.
pub fn parse_welcome(
    line: &[u8],
    secret: &str,
    ours: &str,
    theirs: &str,
) -> Result<Welcome, ChannelError> {
    let welcome: Welcome = serde_json::from_slice(line).map_err(malformed)?;
    let proof = hex::decode(&welcome.welcome).map_err(|_| ChannelError::WrongKey)?;
    mac(secret, "driver", ours, theirs)
        .verify_slice(&proof)
        .map_err(|_| ChannelError::WrongKey)?;
    Ok(welcome)
}

/// An event frame: its sequence number and the event, checked (see `DriverEvent::checked`).
pub fn parse_event(line: &[u8]) -> Result<(u64, DriverEvent), ChannelError> {
    let frame: EventFrame = serde_json::from_slice(line).map_err(malformed)?;
    if frame.seq == 0 {
        return Err(malformed("sequence numbers start at 1"));
    }
    Ok((frame.seq, frame.event.checked()))
}

/// One line of at most `limit` bytes (its newline included); `Closed` at EOF.
pub async fn read_line(
    reader: &mut (impl AsyncBufRead + Unpin),
    limit: usize,
) -> Result<Vec<u8>, ChannelError> {
    let mut line = Vec::new();
    let read = reader
        .take(limit as u64 + 1)
        .read_until(b'\n', &mut line)
        .await?;
    if read == 0 {
        return Err(ChannelError::Closed);
    }
    if line.len() > limit {
        return Err(ChannelError::TooLong(limit));
    }
    Ok(line)
}

/// An authenticated connection to a driver.
pub struct Connection {
    pub reader: BufReader<OwnedReadHalf>,
    pub writer: OwnedWriteHalf,
}

/// Connects to the driver at `socket` and runs the handshake; `acked` is the last event this
/// side has processed (the driver replays what follows it).
pub async fn attach(
    socket: &Path,
    secret: &str,
    acked: u64,
    limit: Duration,
) -> Result<(Connection, Welcome), ChannelError> {
    let handshake = async {
        let (read, mut writer) = UnixStream::connect(socket).await?.into_split();
        let mut reader = BufReader::new(read);
        let theirs = parse_hello(&read_line(&mut reader, MAX_HANDSHAKE_BYTES).await?)?;
        let ours = hex::encode(crate::sessions::credentials::random_bytes(32));
        let auth = hex::encode(
            mac(secret, "controller", &theirs, &ours)
                .finalize()
                .into_bytes(),
        );
        let mut frame =
            serde_json::to_vec(&serde_json::json!({"auth": auth, "nonce": ours, "ack": acked}))
                .map_err(malformed)?;
        frame.push(b'\n');
        writer.write_all(&frame).await?;
        let line = read_line(&mut reader, MAX_HANDSHAKE_BYTES).await?;
        let welcome = parse_welcome(&line, secret, &ours, &theirs)?;
        Ok((Connection { reader, writer }, welcome))
    };
    tokio::time::timeout(limit, handshake)
        .await
        .map_err(|_| ChannelError::Timeout(limit))?
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NONCE_A: &str = "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    const NONCE_B: &str = "fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210";

    fn proof(secret: &str) -> String {
        hex::encode(
            mac(secret, "driver", NONCE_A, NONCE_B)
                .finalize()
                .into_bytes(),
        )
    }

    #[test]
    fn hellos_are_validated() {
        let ok = format!(r#"{{"hello":1,"nonce":"{NONCE_A}"}}"#);
        assert_eq!(parse_hello(ok.as_bytes()).unwrap(), NONCE_A);
        let cases = [
            format!(r#"{{"hello":2,"nonce":"{NONCE_A}"}}"#),
            r#"{"hello":1,"nonce":"short"}"#.to_string(),
            format!(r#"{{"hello":1,"nonce":"{}"}}"#, NONCE_A.to_uppercase()),
            format!(r#"{{"hello":1,"nonce":"{NONCE_A}","extra":1}}"#),
            r#"{"hello":"1"}"#.to_string(),
            "not json".to_string(),
            "[]".to_string(),
        ];
        for case in cases {
            assert!(
                matches!(
                    parse_hello(case.as_bytes()),
                    Err(ChannelError::Malformed(_))
                ),
                "{case}"
            );
        }
    }

    #[test]
    fn a_welcome_must_prove_the_secret() {
        let line = |proof: &str| format!(r#"{{"welcome":"{proof}","last_run":3,"pid":42}}"#);
        let welcome = parse_welcome(
            line(&proof("s3cret")).as_bytes(),
            "s3cret",
            NONCE_A,
            NONCE_B,
        )
        .expect("the right proof");
        assert_eq!((welcome.last_run, welcome.pid), (Some(3), 42));
        for bad in [proof("other"), "zz".into(), String::new(), "00".repeat(32)] {
            assert!(matches!(
                parse_welcome(line(&bad).as_bytes(), "s3cret", NONCE_A, NONCE_B),
                Err(ChannelError::WrongKey)
            ));
        }
        // The proof is bound to both nonces: replaying it for another handshake fails.
        assert!(matches!(
            parse_welcome(
                line(&proof("s3cret")).as_bytes(),
                "s3cret",
                NONCE_B,
                NONCE_A
            ),
            Err(ChannelError::WrongKey)
        ));
    }

    #[test]
    fn event_frames_carry_a_sequence_number() {
        let (seq, event) = parse_event(br#"{"seq":7,"event":"started","id":2}"#).unwrap();
        assert_eq!(seq, 7);
        assert!(matches!(event, DriverEvent::Started { id: 2 }));
        for bad in [
            &br#"{"event":"started","id":2}"#[..],
            br#"{"seq":0,"event":"started","id":2}"#,
            br#"{"seq":-1,"event":"started","id":2}"#,
            br#"{"seq":1,"event":"exited","reason":"x"}"#,
            br#"{"seq":1,"event":"started","id":"2"}"#,
            br#"{"seq":1}"#,
        ] {
            assert!(
                parse_event(bad).is_err(),
                "{}",
                String::from_utf8_lossy(bad)
            );
        }
    }

    #[tokio::test]
    async fn lines_are_bounded() {
        let mut input = &b"short\nthis one is far too long\n"[..];
        assert_eq!(read_line(&mut input, 10).await.unwrap(), b"short\n");
        assert!(matches!(
            read_line(&mut input, 10).await,
            Err(ChannelError::TooLong(10))
        ));
        let mut empty = &b""[..];
        assert!(matches!(
            read_line(&mut empty, 10).await,
            Err(ChannelError::Closed)
        ));
    }

    proptest! {
        #[test]
        fn no_input_panics_the_frame_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_hello(&bytes);
            let _ = parse_event(&bytes);
            let _ = parse_welcome(&bytes, "s", NONCE_A, NONCE_B);
        }

        #[test]
        fn json_shaped_garbage_is_refused_or_typed(seq in any::<i64>(), id in any::<i64>(), event in "[a-z]{0,10}") {
            let line = format!(r#"{{"seq":{seq},"event":"{event}","id":{id},"progress":0.5}}"#);
            if let Ok((parsed, _)) = parse_event(line.as_bytes()) {
                prop_assert!(parsed >= 1 && parsed as i64 == seq);
            }
        }
    }
}
