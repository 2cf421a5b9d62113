//! epoxy's end of a driver's channel: the Unix socket the driver listens on, or its TCP port
//! for a driver on another host (frames and the reason the driver listens are in
//! `python/epoxy_driver/channel.py`). Over TCP the frames are authenticated, not encrypted. A challenge handshake
//! proves to each side that the other holds the session's secret, which never crosses the
//! socket; events carry sequence numbers and the driver keeps them until acknowledged. The
//! handshake also carries the controller's ownership epoch: the driver refuses an epoch lower
//! than the highest it accepted (`ChannelError::Superseded`), which fences off an epoxy node
//! that another one took the session over from. Every frame is validated here before anything
//! else sees it.

use super::driver::DriverEvent;
use hmac::{Hmac, Mac};
use serde::Deserialize;
use sha2::Sha256;
use std::path::PathBuf;
use std::time::Duration;
use tokio::io::{
    AsyncBufRead, AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader,
};
use tokio::net::{TcpStream, UnixStream};

/// The protocol version the driver's `hello` must name (2: the handshake carries an epoch).
pub const PROTOCOL: u32 = 2;

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
    #[error(
        "the driver speaks channel protocol {0} and this epoxy {PROTOCOL}: it was started by \
         another version of epoxy and cannot be re-attached"
    )]
    Protocol(u32),
    /// Another controller attached with a higher epoch: another epoxy node owns the driver.
    #[error("the driver was taken over by a controller of epoch {epoch}")]
    Superseded { epoch: u64 },
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
    /// The controller's epoch, echoed (and covered by the proof).
    epoch: u64,
    /// The port of the driver's TCP listener, if it has one.
    #[serde(default)]
    pub tcp: Option<u16>,
}

/// The driver's answer to a controller whose epoch is lower than one it accepted before.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Refused {
    refused: String,
    /// The highest epoch the driver accepted.
    epoch: u64,
    /// HMAC over both nonces and `epoch`: a refusal is believed only from the driver.
    proof: String,
}

#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum Answer {
    Welcome(Welcome),
    Refused(Refused),
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

/// HMAC-SHA256 over `role:first:second:epoch`.
fn mac(secret: &str, role: &str, first: &str, second: &str, epoch: u64) -> Hmac<Sha256> {
    let mut mac =
        Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes a key of any length");
    mac.update(format!("{role}:{first}:{second}:{epoch}").as_bytes());
    mac
}

/// Whether `proof` (hex) is [`mac`] of these inputs.
fn proves(proof: &str, secret: &str, role: &str, nonces: (&str, &str), epoch: u64) -> bool {
    hex::decode(proof).is_ok_and(|proof| {
        mac(secret, role, nonces.0, nonces.1, epoch)
            .verify_slice(&proof)
            .is_ok()
    })
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
        return Err(ChannelError::Protocol(hello.hello));
    }
    if !valid_nonce(&hello.nonce) {
        return Err(malformed("the nonce is not 64 hex digits"));
    }
    Ok(hello.nonce)
}

/// The driver's answer to our `auth` of `epoch`: its `welcome`, or `Superseded` if it refused
/// the epoch; either one's proof checked against the two nonces.
pub fn parse_answer(
    line: &[u8],
    secret: &str,
    (ours, theirs): (&str, &str),
    epoch: u64,
) -> Result<Welcome, ChannelError> {
    match serde_json::from_slice(line).map_err(malformed)? {
        Answer::Welcome(welcome) => {
            if !proves(&welcome.welcome, secret, "driver", (ours, theirs), epoch) {
                return Err(ChannelError::WrongKey);
            }
            if welcome.epoch != epoch {
                return Err(malformed("the welcome names another epoch"));
            }
            Ok(welcome)
        }
        Answer::Refused(refused) => {
            if !proves(
                &refused.proof,
                secret,
                "refused",
                (ours, theirs),
                refused.epoch,
            ) {
                return Err(ChannelError::WrongKey);
            }
            if refused.refused != "superseded" || refused.epoch <= epoch {
                return Err(malformed(format!(
                    "refused {:?} at epoch {}",
                    refused.refused, refused.epoch
                )));
            }
            Err(ChannelError::Superseded {
                epoch: refused.epoch,
            })
        }
    }
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

/// Where a driver's channel is reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Endpoint {
    /// Its Unix socket, on this host.
    Unix(PathBuf),
    /// `host:port` of its TCP listener (a driver on another host).
    Tcp(String),
}

/// How long a TCP channel may be silent before keepalive probes start, the time between
/// probes, and how many may go unanswered: a driver host that vanished is noticed in ~25 s.
const KEEPALIVE: (Duration, Duration, u32) = (Duration::from_secs(10), Duration::from_secs(5), 3);

pub type Reader = BufReader<Box<dyn AsyncRead + Send + Unpin>>;
pub type Writer = Box<dyn AsyncWrite + Send + Unpin>;

/// An authenticated connection to a driver.
pub struct Connection {
    pub reader: Reader,
    pub writer: Writer,
}

async fn connect(endpoint: &Endpoint) -> std::io::Result<(Reader, Writer)> {
    match endpoint {
        Endpoint::Unix(path) => {
            let (read, write) = UnixStream::connect(path).await?.into_split();
            Ok((BufReader::new(Box::new(read)), Box::new(write)))
        }
        Endpoint::Tcp(address) => {
            let stream = TcpStream::connect(address.as_str()).await?;
            stream.set_nodelay(true)?;
            let (idle, interval, retries) = KEEPALIVE;
            socket2::SockRef::from(&stream).set_tcp_keepalive(
                &socket2::TcpKeepalive::new()
                    .with_time(idle)
                    .with_interval(interval)
                    .with_retries(retries),
            )?;
            let (read, write) = stream.into_split();
            Ok((BufReader::new(Box::new(read)), Box::new(write)))
        }
    }
}

/// Connects to the driver at `endpoint` and runs the handshake as a controller of `epoch`;
/// `acked` is the last event this side has processed (the driver replays what follows it).
pub async fn attach(
    endpoint: &Endpoint,
    secret: &str,
    epoch: u64,
    acked: u64,
    limit: Duration,
) -> Result<(Connection, Welcome), ChannelError> {
    let handshake = async {
        let (mut reader, mut writer) = connect(endpoint).await?;
        let theirs = parse_hello(&read_line(&mut reader, MAX_HANDSHAKE_BYTES).await?)?;
        let ours = hex::encode(crate::sessions::credentials::random_bytes(32));
        let auth = hex::encode(
            mac(secret, "controller", &theirs, &ours, epoch)
                .finalize()
                .into_bytes(),
        );
        let mut frame = serde_json::to_vec(
            &serde_json::json!({"auth": auth, "nonce": ours, "ack": acked, "epoch": epoch}),
        )
        .map_err(malformed)?;
        frame.push(b'\n');
        writer.write_all(&frame).await?;
        let line = read_line(&mut reader, MAX_HANDSHAKE_BYTES).await?;
        let welcome = parse_answer(&line, secret, (&ours, &theirs), epoch)?;
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
    const NONCES: (&str, &str) = (NONCE_A, NONCE_B);

    fn proof(secret: &str, role: &str, epoch: u64) -> String {
        hex::encode(
            mac(secret, role, NONCE_A, NONCE_B, epoch)
                .finalize()
                .into_bytes(),
        )
    }

    fn welcome_line(proof: &str, epoch: u64) -> String {
        format!(r#"{{"welcome":"{proof}","last_run":3,"pid":42,"epoch":{epoch}}}"#)
    }

    fn refusal_line(proof: &str, epoch: u64) -> String {
        format!(r#"{{"refused":"superseded","epoch":{epoch},"proof":"{proof}"}}"#)
    }

    #[test]
    fn hellos_are_validated() {
        let ok = format!(r#"{{"hello":2,"nonce":"{NONCE_A}"}}"#);
        assert_eq!(parse_hello(ok.as_bytes()).unwrap(), NONCE_A);
        let cases = [
            r#"{"hello":2,"nonce":"short"}"#.to_string(),
            format!(r#"{{"hello":2,"nonce":"{}"}}"#, NONCE_A.to_uppercase()),
            format!(r#"{{"hello":2,"nonce":"{NONCE_A}","extra":1}}"#),
            r#"{"hello":"2"}"#.to_string(),
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
    fn a_driver_of_another_protocol_is_named_as_such() {
        for version in [1, 3] {
            let hello = format!(r#"{{"hello":{version},"nonce":"{NONCE_A}"}}"#);
            let err = parse_hello(hello.as_bytes()).unwrap_err();
            assert!(matches!(err, ChannelError::Protocol(v) if v == version));
            let message = err.to_string();
            assert!(
                message.contains(&format!("protocol {version}"))
                    && message.contains("another version of epoxy"),
                "{message}"
            );
        }
    }

    #[test]
    fn a_welcome_must_prove_the_secret_and_the_epoch() {
        let welcome = parse_answer(
            welcome_line(&proof("s3cret", "driver", 7), 7).as_bytes(),
            "s3cret",
            NONCES,
            7,
        )
        .expect("the right proof");
        assert_eq!(
            (welcome.last_run, welcome.pid, welcome.tcp),
            (Some(3), 42, None)
        );
        let with_port = |port: &str| {
            let line = welcome_line(&proof("s3cret", "driver", 7), 7)
                .replace('}', &format!(r#","tcp":{port}}}"#));
            parse_answer(line.as_bytes(), "s3cret", NONCES, 7)
        };
        assert_eq!(with_port("4711").unwrap().tcp, Some(4711));
        assert_eq!(with_port("null").unwrap().tcp, None);
        for bad in ["70000", "-1", "\"4711\"", "1.5"] {
            assert!(
                matches!(with_port(bad), Err(ChannelError::Malformed(_))),
                "{bad}"
            );
        }
        for bad in [
            proof("other", "driver", 7),
            proof("s3cret", "driver", 6),
            proof("s3cret", "controller", 7),
            "zz".into(),
            String::new(),
            "00".repeat(32),
        ] {
            assert!(matches!(
                parse_answer(welcome_line(&bad, 7).as_bytes(), "s3cret", NONCES, 7),
                Err(ChannelError::WrongKey)
            ));
        }
        // The proof is bound to both nonces: replaying it for another handshake fails.
        assert!(matches!(
            parse_answer(
                welcome_line(&proof("s3cret", "driver", 7), 7).as_bytes(),
                "s3cret",
                (NONCE_B, NONCE_A),
                7
            ),
            Err(ChannelError::WrongKey)
        ));
        // A welcome proven for our epoch but naming another is not ours.
        assert!(matches!(
            parse_answer(
                welcome_line(&proof("s3cret", "driver", 7), 8).as_bytes(),
                "s3cret",
                NONCES,
                7
            ),
            Err(ChannelError::Malformed(_))
        ));
    }

    #[test]
    fn a_proven_refusal_means_superseded() {
        let line = refusal_line(&proof("s3cret", "refused", 9), 9);
        assert!(matches!(
            parse_answer(line.as_bytes(), "s3cret", NONCES, 4),
            Err(ChannelError::Superseded { epoch: 9 })
        ));
        // Anyone on the path could forge an unproven refusal: it is not believed.
        for bad in [
            proof("other", "refused", 9),
            proof("s3cret", "refused", 8),
            proof("s3cret", "driver", 9),
            "xyz".into(),
        ] {
            assert!(matches!(
                parse_answer(refusal_line(&bad, 9).as_bytes(), "s3cret", NONCES, 4),
                Err(ChannelError::WrongKey)
            ));
        }
        // A driver refuses only lower epochs, and only as superseded.
        for (line, ours) in [
            (refusal_line(&proof("s3cret", "refused", 9), 9), 9),
            (refusal_line(&proof("s3cret", "refused", 9), 9), 10),
            (
                refusal_line(&proof("s3cret", "refused", 9), 9).replace("superseded", "bored"),
                4,
            ),
        ] {
            assert!(
                matches!(
                    parse_answer(line.as_bytes(), "s3cret", NONCES, ours),
                    Err(ChannelError::Malformed(_))
                ),
                "{line} at {ours}"
            );
        }
        let extra = refusal_line(&proof("s3cret", "refused", 9), 9).replace('}', r#","x":1}"#);
        assert!(matches!(
            parse_answer(extra.as_bytes(), "s3cret", NONCES, 4),
            Err(ChannelError::Malformed(_))
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

    /// What a TCP peer at a recorded endpoint may do (it need not be the driver): each is
    /// refused with a typed error, within the attach limit.
    #[tokio::test]
    async fn hostile_tcp_peers_are_refused_in_time() {
        let hello = format!("{{\"hello\":2,\"nonce\":\"{NONCE_A}\"}}\n");
        type Expected = fn(&ChannelError) -> bool;
        let cases: Vec<(Vec<u8>, Expected)> = vec![
            (Vec::new(), |e| matches!(e, ChannelError::Timeout(_))), // silent
            (vec![b'x'; 10_000], |e| {
                matches!(e, ChannelError::TooLong(_))
            }),
            (b"{\"hello\":1,\"nonce\":\"ab\"}\n".to_vec(), |e| {
                matches!(e, ChannelError::Protocol(1))
            }),
            (b"\xff\xfe\n".to_vec(), |e| {
                matches!(e, ChannelError::Malformed(_))
            }),
            // A hello, then a welcome nobody could prove.
            (
                format!("{hello}{}\n", welcome_line(&"00".repeat(32), 0)).into_bytes(),
                |e| matches!(e, ChannelError::WrongKey),
            ),
            // A hello, then a long silence where the answer should be.
            (hello.clone().into_bytes(), |e| {
                matches!(e, ChannelError::Timeout(_))
            }),
        ];
        for (sent, expected) in cases {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let endpoint = Endpoint::Tcp(listener.local_addr().unwrap().to_string());
            let peer = tokio::spawn(async move {
                let (mut stream, _) = listener.accept().await.unwrap();
                let _ = stream.write_all(&sent).await;
                tokio::time::sleep(Duration::from_secs(5)).await;
            });
            let started = std::time::Instant::now();
            let limit = Duration::from_millis(500);
            let result = attach(&endpoint, "s3cret", 0, 0, limit).await;
            let error = result.err().expect("refused");
            assert!(expected(&error), "{error:?}");
            assert!(
                started.elapsed() < Duration::from_secs(2),
                "{error:?} took too long"
            );
            peer.abort();
        }
        let closed = Endpoint::Tcp("127.0.0.1:1".into());
        assert!(matches!(
            attach(&closed, "s", 0, 0, Duration::from_secs(1)).await,
            Err(ChannelError::Io(_))
        ));
    }

    proptest! {
        #[test]
        fn no_input_panics_the_frame_parsers(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
            let _ = parse_hello(&bytes);
            let _ = parse_event(&bytes);
            let _ = parse_answer(&bytes, "s", NONCES, 0);
        }

        #[test]
        fn json_shaped_garbage_is_refused_or_typed(seq in any::<i64>(), id in any::<i64>(), event in "[a-z]{0,10}") {
            let line = format!(r#"{{"seq":{seq},"event":"{event}","id":{id},"progress":0.5}}"#);
            if let Ok((parsed, _)) = parse_event(line.as_bytes()) {
                prop_assert!(parsed >= 1 && parsed as i64 == seq);
            }
        }

        /// Whatever epochs a refusal and our auth name, and whoever proved it: only a refusal
        /// the secret's holder proved, of a higher epoch than ours, reads as superseded.
        #[test]
        fn only_proven_higher_refusals_supersede(
            ours in any::<u64>(),
            theirs in any::<u64>(),
            proven in any::<u64>(),
            key in prop_oneof![Just("s3cret"), Just("other")],
        ) {
            let line = refusal_line(&proof(key, "refused", proven), theirs);
            match parse_answer(line.as_bytes(), "s3cret", NONCES, ours) {
                Err(ChannelError::Superseded { epoch }) => {
                    prop_assert!(key == "s3cret" && proven == theirs && epoch == theirs && theirs > ours);
                }
                Err(ChannelError::WrongKey) => prop_assert!(key != "s3cret" || proven != theirs),
                Err(ChannelError::Malformed(_)) => prop_assert!(theirs <= ours),
                other => prop_assert!(false, "unexpected {other:?}"),
            }
        }

        /// A welcome is accepted exactly when it proves the secret for our epoch and echoes it.
        #[test]
        fn welcomes_are_bound_to_our_epoch(ours in any::<u64>(), proven in any::<u64>(), echoed in any::<u64>()) {
            let line = welcome_line(&proof("s3cret", "driver", proven), echoed);
            let accepted = parse_answer(line.as_bytes(), "s3cret", NONCES, ours).is_ok();
            prop_assert_eq!(accepted, proven == ours && echoed == ours);
        }
    }
}
