//! The accept loop: one task per connection (a Hive client keeps its socket for the driver's
//! whole life, so connections are long and mostly idle; an idle one costs a parked task and a
//! small buffer). A connection reads one message at a time, answers it, and reads the next; a
//! framing error or a stalled message closes that connection only.

use super::codec::{CALL, LIMITS, ONEWAY, Reader, Scan, Scanner};
use super::messages::INVALID_MESSAGE_TYPE;
use super::rpc::{self, Connection, Metastore};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Once a message has started, the rest must arrive within this (a peer that stalls mid-message
/// holds only its own connection, and not forever).
const MESSAGE_DEADLINE: Duration = Duration::from_secs(120);

/// Read buffer kept per connection between messages; larger ones are given back.
const IDLE_BUFFER: usize = 8 * 1024;

/// Serves connections on `listener` until the task is dropped.
pub async fn serve(listener: TcpListener, metastore: Arc<Metastore>) {
    loop {
        match listener.accept().await {
            Ok((stream, peer)) => {
                let metastore = Arc::clone(&metastore);
                tokio::spawn(async move {
                    if let Err(reason) = connection(stream, &metastore).await {
                        tracing::warn!(%peer, %reason, "metastore connection closed");
                    }
                });
            }
            Err(e) => {
                // Out of file descriptors and the like: back off instead of spinning.
                tracing::error!(error = %e, "metastore accept failed");
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
        }
    }
}

/// Binds `addr` (loopback only: the port carries no transport security) and starts serving.
pub async fn start(addr: SocketAddr, metastore: Arc<Metastore>) -> std::io::Result<SocketAddr> {
    if !addr.ip().is_loopback() {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("the metastore listens on loopback only, not {addr}"),
        ));
    }
    let listener = TcpListener::bind(addr).await?;
    let bound = listener.local_addr()?;
    tokio::spawn(serve(listener, metastore));
    Ok(bound)
}

/// Why a connection ended early (a clean close by the peer is `Ok`).
#[derive(Debug, thiserror::Error)]
enum Closed {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("malformed message: {0}")]
    Protocol(#[from] super::codec::ProtocolError),
    #[error("message not completed within {} s", MESSAGE_DEADLINE.as_secs())]
    Stalled,
    #[error("connection closed in the middle of a message")]
    Truncated,
}

async fn connection(mut stream: TcpStream, metastore: &Metastore) -> Result<(), Closed> {
    stream.set_nodelay(true)?;
    let mut conn = Connection::default();
    let mut buf: Vec<u8> = Vec::new();
    let mut scanner = Scanner::new();
    loop {
        if let Scan::Complete(end) = scanner.scan(&buf, &LIMITS)? {
            if let Some(reply) = answer(metastore, &mut conn, &buf[..end]).await {
                stream.write_all(&reply).await?;
            }
            buf.drain(..end);
            if buf.capacity() > 4 * IDLE_BUFFER && buf.len() < IDLE_BUFFER {
                buf.shrink_to(IDLE_BUFFER);
            }
            scanner = Scanner::new();
            continue;
        }
        buf.reserve(IDLE_BUFFER.max(buf.len() / 2));
        let read = if buf.is_empty() {
            stream.read_buf(&mut buf).await?
        } else {
            tokio::time::timeout(MESSAGE_DEADLINE, stream.read_buf(&mut buf))
                .await
                .map_err(|_| Closed::Stalled)??
        };
        if read == 0 {
            return if buf.is_empty() {
                Ok(())
            } else {
                Err(Closed::Truncated)
            };
        }
    }
}

/// The reply to one complete message, if it gets one.
async fn answer(metastore: &Metastore, conn: &mut Connection, message: &[u8]) -> Option<Vec<u8>> {
    let mut reader = Reader::new(message);
    // The scanner accepted this header already.
    let header = reader.header().ok()?;
    match header.kind {
        CALL | ONEWAY => {
            let reply = metastore.call(conn, &header, &mut reader).await;
            if header.kind == ONEWAY { None } else { reply }
        }
        other => Some(rpc::application_error(
            &header,
            INVALID_MESSAGE_TYPE,
            &format!("message type {other} is not a call"),
        )),
    }
}
