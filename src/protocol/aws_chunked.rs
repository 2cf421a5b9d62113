//! Open mode's reading of `Content-Encoding: aws-chunked` bodies. In strict mode s3s decodes
//! and verifies them (chunk signatures, trailers); in open mode no secret is known, so the
//! framing is removed here and the request goes on unsigned: `<hex size>[;ext]\r\n<bytes>\r\n`
//! … `0[;ext]\r\n[trailer lines]\r\n`. The trailers (checksums) go to [`DecodedTrailers`],
//! which the objects service checks like s3s's.

use crate::objects::DecodedTrailers;
use bytes::{Buf, Bytes, BytesMut};
use futures::{Stream, StreamExt};
use http::{HeaderMap, HeaderName, HeaderValue};
use std::io;

/// Longest chunk-size or trailer line accepted.
const MAX_LINE: usize = 8 * 1024;

enum State {
    Size,
    Data(u64),
    DataEnd,
    Trailers,
    Done,
}

struct Decoder<S> {
    frames: S,
    buf: BytesMut,
    state: State,
    trailers: HeaderMap,
    sink: DecodedTrailers,
}

fn invalid(message: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("aws-chunked body: {message}"),
    )
}

impl<S> Decoder<S> {
    /// The next CRLF-terminated line without its CRLF, or `None` until more bytes arrive.
    fn line(&mut self) -> io::Result<Option<Bytes>> {
        match self.buf.windows(2).position(|w| w == b"\r\n") {
            Some(at) => {
                let line = self.buf.split_to(at).freeze();
                self.buf.advance(2);
                Ok(Some(line))
            }
            None if self.buf.len() > MAX_LINE => Err(invalid("line too long")),
            None => Ok(None),
        }
    }
}

fn chunk_size(line: &[u8]) -> io::Result<u64> {
    let hex = line.split(|&b| b == b';').next().unwrap_or_default();
    let hex = std::str::from_utf8(hex).map_err(|_| invalid("chunk size is not ASCII"))?;
    u64::from_str_radix(hex.trim(), 16).map_err(|_| invalid("chunk size is not hexadecimal"))
}

/// `name:value` of one trailer line.
fn trailer(line: &[u8]) -> io::Result<(HeaderName, HeaderValue)> {
    let at = line
        .iter()
        .position(|&b| b == b':')
        .ok_or_else(|| invalid("trailer line without ':'"))?;
    let name =
        HeaderName::from_bytes(line[..at].trim_ascii()).map_err(|_| invalid("bad trailer name"))?;
    let value = HeaderValue::from_bytes(line[at + 1..].trim_ascii())
        .map_err(|_| invalid("bad trailer value"))?;
    Ok((name, value))
}

/// The payload of an aws-chunked body; malformed framing or an early end is an error item.
/// Trailers are handed to `sink` when the body ends.
pub fn decode<S, E>(
    frames: S,
    sink: DecodedTrailers,
) -> impl Stream<Item = io::Result<Bytes>> + Send
where
    S: Stream<Item = Result<Bytes, E>> + Send + Unpin,
    E: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let decoder = Decoder {
        frames,
        buf: BytesMut::new(),
        state: State::Size,
        trailers: HeaderMap::new(),
        sink,
    };
    futures::stream::try_unfold(decoder, |mut d| async move {
        loop {
            match d.state {
                State::Size => {
                    if let Some(line) = d.line()? {
                        let size = chunk_size(&line)?;
                        d.state = if size == 0 {
                            State::Trailers
                        } else {
                            State::Data(size)
                        };
                        continue;
                    }
                }
                State::Data(left) if !d.buf.is_empty() => {
                    let take = left.min(d.buf.len() as u64);
                    let out = d.buf.split_to(take as usize).freeze();
                    d.state = if take == left {
                        State::DataEnd
                    } else {
                        State::Data(left - take)
                    };
                    return Ok(Some((out, d)));
                }
                State::Data(_) => {}
                State::DataEnd => {
                    if let Some(line) = d.line()? {
                        if !line.is_empty() {
                            return Err(invalid("chunk longer than its declared size"));
                        }
                        d.state = State::Size;
                        continue;
                    }
                }
                State::Trailers => {
                    if let Some(line) = d.line()? {
                        if line.is_empty() {
                            d.state = State::Done;
                        } else {
                            let (name, value) = trailer(&line)?;
                            d.trailers.append(name, value);
                        }
                        continue;
                    }
                }
                State::Done => {
                    d.sink.set(std::mem::take(&mut d.trailers));
                    return Ok(None);
                }
            }
            match d.frames.next().await {
                Some(Ok(bytes)) => d.buf.extend_from_slice(&bytes),
                Some(Err(e)) => return Err(io::Error::other(e)),
                // Some clients end right after the last chunk's trailers without the blank line.
                None if matches!(d.state, State::Trailers) && d.buf.is_empty() => {
                    d.state = State::Done;
                }
                None => {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "aws-chunked body ended early",
                    ));
                }
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn run(parts: &[&[u8]]) -> io::Result<Vec<u8>> {
        run_with(parts, DecodedTrailers::default()).await
    }

    async fn run_with(parts: &[&[u8]], sink: DecodedTrailers) -> io::Result<Vec<u8>> {
        let frames = futures::stream::iter(
            parts
                .iter()
                .map(|p| Ok::<_, io::Error>(Bytes::copy_from_slice(p)))
                .collect::<Vec<_>>(),
        );
        let mut out = Vec::new();
        let mut stream = Box::pin(decode(frames, sink));
        while let Some(chunk) = stream.next().await {
            out.extend_from_slice(&chunk?);
        }
        Ok(out)
    }

    #[tokio::test]
    async fn decodes_signed_and_trailer_forms_split_anywhere() {
        let body = b"5;chunk-signature=ab\r\nhello\r\n6;chunk-signature=cd\r\n world\r\n0;chunk-signature=ef\r\n\r\n";
        for split in 0..body.len() {
            let (a, b) = body.split_at(split);
            assert_eq!(run(&[a, b]).await.unwrap(), b"hello world");
        }
        let trailer = b"3\r\nabc\r\n0\r\nx-amz-checksum-crc32:NSRBwg==\r\n\r\n";
        let sink = DecodedTrailers::default();
        assert_eq!(run_with(&[trailer], sink.clone()).await.unwrap(), b"abc");
        assert_eq!(sink.take().unwrap()["x-amz-checksum-crc32"], "NSRBwg==");
    }

    #[tokio::test]
    async fn truncated_or_malformed_bodies_fail() {
        assert!(run(&[b"5\r\nhel"]).await.is_err());
        assert!(run(&[b"zz\r\nhello\r\n0\r\n\r\n"]).await.is_err());
        assert!(run(&[b"2\r\nhello\r\n0\r\n\r\n"]).await.is_err());
    }
}
