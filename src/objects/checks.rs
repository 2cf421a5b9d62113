//! The integrity checks a write must pass before its bytes become visible: Content-MD5 and the
//! `x-amz-checksum-*` values a client sends as headers or as aws-chunked trailers.

use super::blobs::PendingBlob;
use s3s::checksum::ChecksumHasher;
use s3s::crypto::Checksum as _;
use s3s::dto::Checksum;
use s3s::{S3Error, S3Result, TrailingHeaders, s3_error};
use std::sync::{Arc, Mutex};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Trailers of an aws-chunked body the protocol layer decoded itself (open mode, where s3s does
/// not decode it), handed over in the request's extensions; filled once the body is read.
#[derive(Clone, Default)]
pub struct DecodedTrailers(Arc<Mutex<Option<http::HeaderMap>>>);

impl DecodedTrailers {
    pub fn set(&self, trailers: http::HeaderMap) {
        *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(trailers);
    }

    pub fn take(&self) -> Option<http::HeaderMap> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).take()
    }
}

/// Where a request's trailers arrive: verified by s3s (strict mode) or decoded by epoxy.
pub fn trailers(
    verified: Option<&TrailingHeaders>,
    extensions: &http::Extensions,
) -> Option<http::HeaderMap> {
    verified.and_then(TrailingHeaders::take).or_else(|| {
        extensions
            .get::<DecodedTrailers>()
            .and_then(DecodedTrailers::take)
    })
}

/// What the client claims about the body it sends.
pub struct Expected {
    pub content_md5: Option<String>,
    pub checksum: Checksum,
    /// Names from `x-amz-trailer`: checksums that arrive after the body.
    trailers: Vec<String>,
}

const ALGORITHMS: [&str; 5] = ["crc32", "crc32c", "crc64nvme", "sha1", "sha256"];

fn field<'a>(checksum: &'a mut Checksum, algorithm: &str) -> Option<&'a mut Option<String>> {
    Some(match algorithm {
        "crc32" => &mut checksum.checksum_crc32,
        "crc32c" => &mut checksum.checksum_crc32c,
        "crc64nvme" => &mut checksum.checksum_crc64nvme,
        "sha1" => &mut checksum.checksum_sha1,
        "sha256" => &mut checksum.checksum_sha256,
        _ => return None,
    })
}

impl Expected {
    pub fn new(
        content_md5: Option<String>,
        checksum: Checksum,
        headers: &http::HeaderMap,
    ) -> S3Result<Self> {
        let trailers = headers
            .get("x-amz-trailer")
            .and_then(|v| v.to_str().ok())
            .map(|v| {
                v.split(',')
                    .map(|t| t.trim().to_ascii_lowercase())
                    .filter(|t| t.starts_with("x-amz-checksum-"))
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default();
        for trailer in &trailers {
            let algorithm = &trailer["x-amz-checksum-".len()..];
            if !ALGORITHMS.contains(&algorithm) {
                return Err(s3_error!(InvalidRequest, "unsupported trailer {trailer}"));
            }
        }
        Ok(Self {
            content_md5,
            checksum,
            trailers,
        })
    }

    /// A hasher for every algorithm the client gave (or will give) a value for.
    pub fn hasher(&self) -> ChecksumHasher {
        let mut wanted = self.checksum.clone();
        for trailer in &self.trailers {
            if let Some(slot) = field(&mut wanted, &trailer["x-amz-checksum-".len()..]) {
                slot.get_or_insert_default();
            }
        }
        ChecksumHasher {
            crc32: wanted
                .checksum_crc32
                .as_ref()
                .map(|_| s3s::crypto::Crc32::new()),
            crc32c: wanted
                .checksum_crc32c
                .as_ref()
                .map(|_| s3s::crypto::Crc32c::new()),
            sha1: wanted
                .checksum_sha1
                .as_ref()
                .map(|_| s3s::crypto::Sha1::new()),
            sha256: wanted
                .checksum_sha256
                .as_ref()
                .map(|_| s3s::crypto::Sha256::new()),
            crc64nvme: wanted
                .checksum_crc64nvme
                .as_ref()
                .map(|_| s3s::crypto::Crc64Nvme::new()),
        }
    }

    /// Fails with S3's `BadDigest` (or `InvalidDigest` for a malformed Content-MD5) unless
    /// the written bytes match every claim.
    pub fn verify(
        mut self,
        blob: &PendingBlob,
        trailing: impl FnOnce() -> Option<http::HeaderMap>,
    ) -> S3Result<()> {
        if let Some(md5) = &self.content_md5 {
            let claimed = STANDARD
                .decode(md5.trim())
                .ok()
                .filter(|d| d.len() == 16)
                .ok_or_else(|| {
                    s3_error!(InvalidDigest, "The Content-MD5 you specified was invalid.")
                })?;
            if claimed != blob.md5 {
                return Err(s3_error!(
                    BadDigest,
                    "The Content-MD5 you specified did not match what we received."
                ));
            }
        }
        if !self.trailers.is_empty() {
            let received = trailing().unwrap_or_default();
            for trailer in std::mem::take(&mut self.trailers) {
                let value = received
                    .get(trailer.as_str())
                    .and_then(|v| v.to_str().ok())
                    .ok_or_else(|| {
                        s3_error!(
                            InvalidRequest,
                            "the trailer {trailer} was announced but not sent"
                        )
                    })?;
                if let Some(slot) = field(&mut self.checksum, &trailer["x-amz-checksum-".len()..]) {
                    *slot = Some(value.to_owned());
                }
            }
        }
        let mut computed = blob.checksum.clone();
        for algorithm in ALGORITHMS {
            let claimed = field(&mut self.checksum, algorithm).and_then(Option::take);
            let actual = field(&mut computed, algorithm).and_then(Option::take);
            if let Some(claimed) = claimed
                && Some(claimed.trim()) != actual.as_deref()
            {
                return Err(mismatch(algorithm));
            }
        }
        Ok(())
    }
}

fn mismatch(algorithm: &str) -> S3Error {
    S3Error::with_message(
        s3s::S3ErrorCode::BadDigest,
        format!(
            "The {} you specified did not match the calculated checksum.",
            algorithm.to_ascii_uppercase()
        ),
    )
}
