//! Opaque, tamper-proof pagination tokens: the keyset position, bound by an HMAC to the caller
//! and the query it came from, so a forged, foreign or re-filtered token is refused.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Where the next page starts: after `(created_ms, id)` for sessions, after `id` for statements.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Position {
    pub c: i64,
    pub i: String,
}

/// Signs and checks tokens with the server's persistent secret.
#[derive(Clone)]
pub struct TokenSigner {
    secret: Vec<u8>,
}

impl TokenSigner {
    pub fn new(secret: Vec<u8>) -> Self {
        Self { secret }
    }

    fn mac(&self, scope: &str, payload: &[u8]) -> HmacSha256 {
        let mut mac =
            HmacSha256::new_from_slice(&self.secret).expect("HMAC takes keys of any length");
        mac.update(scope.as_bytes());
        mac.update(&[0]);
        mac.update(payload);
        mac
    }

    /// `scope` names everything the token is valid for (caller, operation, filter).
    pub fn issue(&self, scope: &str, position: &Position) -> String {
        let payload = serde_json::to_vec(position).expect("positions serialise");
        let tag = self.mac(scope, &payload).finalize().into_bytes();
        format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(&payload),
            URL_SAFE_NO_PAD.encode(tag)
        )
    }

    /// The position, if the token was issued by this server for exactly this scope.
    pub fn verify(&self, scope: &str, token: &str) -> Option<Position> {
        let (payload, tag) = token.split_once('.')?;
        let payload = URL_SAFE_NO_PAD.decode(payload).ok()?;
        let tag = URL_SAFE_NO_PAD.decode(tag).ok()?;
        self.mac(scope, &payload).verify_slice(&tag).ok()?;
        serde_json::from_slice(&payload).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_only_in_their_scope() {
        let signer = TokenSigner::new(b"k".to_vec());
        let pos = Position {
            c: 42,
            i: "s-1".into(),
        };
        let token = signer.issue("111/us-east-1/list", &pos);
        assert_eq!(signer.verify("111/us-east-1/list", &token), Some(pos));
        assert_eq!(signer.verify("222/us-east-1/list", &token), None);
        assert_eq!(
            TokenSigner::new(b"other".to_vec()).verify("111/us-east-1/list", &token),
            None
        );
        let forged = format!("{}x", token);
        assert_eq!(signer.verify("111/us-east-1/list", &forged), None);
        for junk in ["", ".", "abc", "a.b.c", "%%%.%%%"] {
            assert_eq!(signer.verify("111/us-east-1/list", junk), None);
        }
    }
}
