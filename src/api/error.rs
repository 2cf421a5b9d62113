//! The typed errors every layer returns, with the code and status AWS clients expect on the wire.

use crate::sessions::error::SessionError;
use std::fmt;

/// Error codes epoxy answers with. Glue's own codes are modelled shapes; the rest are the generic
/// AWS protocol and authentication codes botocore and the smithy SDKs understand.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    InvalidInput,
    Validation,
    EntityNotFound,
    AlreadyExists,
    ConcurrentModification,
    IllegalSessionState,
    AccessDenied,
    ResourceNumberLimitExceeded,
    SessionBusy,
    OperationNotSupported,
    OperationTimeout,
    InternalService,
    /// The body is not the JSON object the operation expects.
    Serialization,
    UnknownOperation,
    RequestEntityTooLarge,
    MissingAuthenticationToken,
    IncompleteSignature,
    InvalidClientTokenId,
    SignatureDoesNotMatch,
    RequestExpired,
    /// A session's key past its expiry (STS spells it `ExpiredToken`).
    ExpiredToken,
}

impl ErrorCode {
    /// The `__type` value on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::InvalidInput => "InvalidInputException",
            Self::Validation => "ValidationException",
            Self::EntityNotFound => "EntityNotFoundException",
            Self::AlreadyExists => "AlreadyExistsException",
            Self::ConcurrentModification => "ConcurrentModificationException",
            Self::IllegalSessionState => "IllegalSessionStateException",
            Self::AccessDenied => "AccessDeniedException",
            Self::ResourceNumberLimitExceeded => "ResourceNumberLimitExceededException",
            Self::SessionBusy => "SessionBusyException",
            Self::OperationNotSupported => "OperationNotSupportedException",
            Self::OperationTimeout => "OperationTimeoutException",
            Self::InternalService => "InternalServiceException",
            Self::Serialization => "SerializationException",
            Self::UnknownOperation => "UnknownOperationException",
            Self::RequestEntityTooLarge => "RequestEntityTooLargeException",
            Self::MissingAuthenticationToken => "MissingAuthenticationToken",
            Self::IncompleteSignature => "IncompleteSignature",
            Self::InvalidClientTokenId => "InvalidClientTokenId",
            Self::SignatureDoesNotMatch => "SignatureDoesNotMatch",
            Self::RequestExpired => "RequestExpired",
            Self::ExpiredToken => "ExpiredTokenException",
        }
    }

    /// HTTP status: 400 for everything the client got wrong (AWS lists AccessDenied as 400 too),
    /// 403 for the generic credential errors, 500 only for real server faults — botocore retries 5xx.
    pub fn status(self) -> u16 {
        match self {
            Self::MissingAuthenticationToken
            | Self::InvalidClientTokenId
            | Self::SignatureDoesNotMatch => 403,
            Self::RequestEntityTooLarge => 413,
            Self::InternalService => 500,
            _ => 400,
        }
    }
}

/// An error with its AWS code and a message that names the field or resource involved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    pub code: ErrorCode,
    pub message: String,
}

impl ApiError {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            code,
            message: message.into(),
        }
    }

    pub fn invalid_input(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InvalidInput, message)
    }

    pub fn not_found(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::EntityNotFound, message)
    }

    pub fn illegal_state(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::IllegalSessionState, message)
    }

    /// A real bug or an environment failure (disk, database); logged where it is raised.
    pub fn internal(message: impl Into<String>) -> Self {
        Self::new(ErrorCode::InternalService, message)
    }
}

impl fmt::Display for ApiError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code.as_str(), self.message)
    }
}

impl std::error::Error for ApiError {}

/// The session service's errors as Glue reports them.
impl From<SessionError> for ApiError {
    fn from(e: SessionError) -> Self {
        let code = match &e {
            SessionError::NotFound(_) => ErrorCode::EntityNotFound,
            SessionError::AlreadyExists(_) => ErrorCode::AlreadyExists,
            SessionError::IllegalState(_) => ErrorCode::IllegalSessionState,
            // The Glue kernel turns exactly this code into "re-run to restart the session".
            SessionError::TimedOut(_) | SessionError::InvalidInput(_) => ErrorCode::InvalidInput,
            SessionError::LimitExceeded(_) => ErrorCode::ResourceNumberLimitExceeded,
            SessionError::NoRuntime => ErrorCode::OperationNotSupported,
            SessionError::Store(_) | SessionError::Task(_) => ErrorCode::InternalService,
        };
        Self::new(code, e.to_string())
    }
}
