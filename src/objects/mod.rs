//! objects/: the built-in S3 — buckets, objects and multipart uploads — as the storage backend
//! s3s calls. s3s owns the wire (REST-XML, SigV4, aws-chunked); this module owns semantics,
//! ownership and durability. See docs/S3.md for the storage design and what clients need.

mod admin;
mod backend;
mod blobs;
mod checks;
mod tenancy;

pub use admin::{AdminError, ObjectAdmin};
pub use backend::{Browsed, MAX_OBJECT_BYTES, MIN_PART_BYTES, ObjectService};
pub use checks::DecodedTrailers;
pub use tenancy::{AccountsAuth, Tenancy, check_session_key};

/// Where sessions' S3 lives: the one place drivers (S3A, S3FileIO, boto3 in a statement) learn
/// their endpoint from. Path-style addressing always; credentials are the caller's own keys.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum S3Config {
    /// epoxy's own S3 door on its listen address.
    BuiltIn { endpoint: String },
    /// `--s3-endpoint URL`: an external S3 (AWS, MinIO); the built-in door is off.
    External { endpoint: String },
}

impl S3Config {
    pub fn endpoint(&self) -> &str {
        match self {
            Self::BuiltIn { endpoint } | Self::External { endpoint } => endpoint,
        }
    }

    pub fn is_built_in(&self) -> bool {
        matches!(self, Self::BuiltIn { .. })
    }
}
