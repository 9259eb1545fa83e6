//! Enrollment tokens and the CA pin they carry.
//!
//! A token is one string an operator pastes into the agent's Helm values:
//!
//! ```text
//! kwt1.<public id>.<secret>.<ca pin>
//! ```
//!
//! - `kwt1` — format and version;
//! - public id — 12 base64url characters (9 random bytes): names the token row, safe to log;
//! - secret — 32 base64url characters (24 random bytes): the hub stores only its SHA-256;
//! - ca pin — 43 base64url characters: SHA-256 of the hub CA's SubjectPublicKeyInfo (DER),
//!   so the agent trusts exactly that CA on its first connection and never trusts on first use.
//!
//! Both the hub (issuing, hashing) and the agent (parsing, pinning) need this, so it lives in
//! `shared`. The secret never appears in `Debug`, `Display` or an error: parse errors name the
//! part that is wrong, not its text. [`EnrollmentToken::expose`] is the one way to print it.

use std::fmt;
use std::str::FromStr;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64URL;
use rand::RngCore as _;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq as _;

/// Format prefix of an enrollment token.
pub const TOKEN_PREFIX: &str = "kwt1";
const PUBLIC_ID_BYTES: usize = 9;
const SECRET_BYTES: usize = 24;
/// Shortest secret accepted when parsing (the design's minimum of 16 random bytes).
const MIN_SECRET_BYTES: usize = 16;
const MAX_SECRET_BYTES: usize = 64;

/// Why a token string does not parse. Names the part, never its content.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    /// Not `kwt1.`-prefixed.
    #[error("not a kubeworkz enrollment token (expected the kwt1 prefix)")]
    WrongPrefix,
    /// Not four dot-separated parts.
    #[error("enrollment token has {found} parts, expected 4 separated by dots")]
    WrongPartCount {
        /// Parts found.
        found: usize,
    },
    /// The public id is not 12 base64url characters.
    #[error("enrollment token public id is malformed")]
    BadPublicId,
    /// The secret is not base64url of 16 to 64 bytes.
    #[error("enrollment token secret is malformed")]
    BadSecret,
    /// The CA pin is not base64url of 32 bytes.
    #[error("enrollment token CA pin is malformed")]
    BadPin,
}

/// SHA-256 of a CA certificate's SubjectPublicKeyInfo (DER, outer SEQUENCE included).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct CaPin(pub [u8; 32]);

impl CaPin {
    /// The pin of a DER certificate.
    pub fn of_certificate(
        cert_der: &[u8],
    ) -> Result<Self, x509_parser::nom::Err<x509_parser::error::X509Error>> {
        let (_, cert) = x509_parser::parse_x509_certificate(cert_der)?;
        Ok(Self(
            Sha256::digest(cert.tbs_certificate.subject_pki.raw).into(),
        ))
    }

    /// Lower-case hex, for operators comparing with `openssl` output.
    pub fn to_hex(&self) -> String {
        use fmt::Write as _;
        self.0
            .iter()
            .fold(String::with_capacity(64), |mut out, byte| {
                let _ = write!(out, "{byte:02x}");
                out
            })
    }
}

impl fmt::Display for CaPin {
    /// base64url, as in the token.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&B64URL.encode(self.0))
    }
}

impl fmt::Debug for CaPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CaPin({self})")
    }
}

/// The secret part of a token. `Debug` is redacted; it is serialized only inside
/// `AgentMessage::Enroll`, over TLS.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct TokenSecret(Vec<u8>);

impl TokenSecret {
    /// SHA-256 of the secret: what the hub stores and compares.
    pub fn hash(&self) -> SecretHash {
        SecretHash(Sha256::digest(&self.0).into())
    }
}

impl fmt::Debug for TokenSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("TokenSecret(<redacted>)")
    }
}

/// SHA-256 of a token secret. Equality is constant-time, so comparing a presented hash with
/// the stored one leaks nothing through timing.
#[derive(Clone, Copy)]
pub struct SecretHash([u8; 32]);

impl SecretHash {
    /// From stored bytes.
    pub const fn from_bytes(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// The bytes to store.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }
}

impl PartialEq for SecretHash {
    fn eq(&self, other: &Self) -> bool {
        self.0.ct_eq(&other.0).into()
    }
}

impl Eq for SecretHash {}

impl fmt::Debug for SecretHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretHash(<redacted>)")
    }
}

/// A parsed enrollment token (see the module docs for the format).
#[derive(Clone, PartialEq, Eq)]
pub struct EnrollmentToken {
    public_id: String,
    secret: TokenSecret,
    ca_pin: CaPin,
}

impl EnrollmentToken {
    /// A new random token for the CA with `ca_pin`.
    pub fn generate(ca_pin: CaPin) -> Self {
        let mut id = [0u8; PUBLIC_ID_BYTES];
        let mut secret = vec![0u8; SECRET_BYTES];
        rand::rng().fill_bytes(&mut id);
        rand::rng().fill_bytes(&mut secret);
        Self {
            public_id: B64URL.encode(id),
            secret: TokenSecret(secret),
            ca_pin,
        }
    }

    /// The public id: names the token in the store, in logs and in the UI.
    pub fn public_id(&self) -> &str {
        &self.public_id
    }

    /// The secret, to send in `Enroll`.
    pub fn secret(&self) -> &TokenSecret {
        &self.secret
    }

    /// The CA pin the agent verifies the hub against.
    pub fn ca_pin(&self) -> CaPin {
        self.ca_pin
    }

    /// SHA-256 of the secret: the only form of it the hub stores.
    pub fn secret_hash(&self) -> SecretHash {
        self.secret.hash()
    }

    /// The full token text, secret included. Call once, to show it to the operator.
    pub fn expose(&self) -> String {
        format!(
            "{TOKEN_PREFIX}.{}.{}.{}",
            self.public_id,
            B64URL.encode(&self.secret.0),
            self.ca_pin
        )
    }
}

impl FromStr for EnrollmentToken {
    type Err = TokenError;

    fn from_str(text: &str) -> Result<Self, TokenError> {
        let text = text.trim();
        let parts: Vec<&str> = text.split('.').collect();
        if parts.first() != Some(&TOKEN_PREFIX) {
            return Err(TokenError::WrongPrefix);
        }
        let [_, id, secret, pin] = parts[..] else {
            return Err(TokenError::WrongPartCount { found: parts.len() });
        };
        let id_ok = B64URL
            .decode(id)
            .is_ok_and(|bytes| bytes.len() == PUBLIC_ID_BYTES);
        if !id_ok {
            return Err(TokenError::BadPublicId);
        }
        let secret = B64URL
            .decode(secret)
            .ok()
            .filter(|bytes| (MIN_SECRET_BYTES..=MAX_SECRET_BYTES).contains(&bytes.len()))
            .ok_or(TokenError::BadSecret)?;
        let pin: [u8; 32] = B64URL
            .decode(pin)
            .ok()
            .and_then(|bytes| bytes.try_into().ok())
            .ok_or(TokenError::BadPin)?;
        Ok(Self {
            public_id: id.to_owned(),
            secret: TokenSecret(secret),
            ca_pin: CaPin(pin),
        })
    }
}

impl fmt::Display for EnrollmentToken {
    /// The token with its secret replaced, e.g. for "token kwt1.AbC….<redacted>.… used".
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{TOKEN_PREFIX}.{}.<redacted>.{}",
            self.public_id, self.ca_pin
        )
    }
}

impl fmt::Debug for EnrollmentToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("EnrollmentToken")
            .field("public_id", &self.public_id)
            .field("secret", &self.secret)
            .field("ca_pin", &self.ca_pin)
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token() -> EnrollmentToken {
        EnrollmentToken::generate(CaPin([7; 32]))
    }

    #[test]
    fn exposed_text_parses_back() {
        let token = token();
        let text = token.expose();
        assert!(text.starts_with("kwt1."));
        assert_eq!(text.parse::<EnrollmentToken>().unwrap(), token);
        assert_eq!(token.public_id().len(), 12);
    }

    #[test]
    fn debug_display_and_parse_errors_never_contain_the_secret() {
        let token = token();
        let text = token.expose();
        let secret = text.split('.').nth(2).unwrap().to_owned();
        assert!(secret.len() >= 22, "{secret}");
        for shown in [
            format!("{token}"),
            format!("{token:?}"),
            format!("{:?}", token.secret()),
        ] {
            assert!(!shown.contains(&secret), "{shown}");
            assert!(shown.contains("redacted"), "{shown}");
        }
        // Every way of breaking the token around the secret: the error never echoes it.
        let broken = [
            text.replacen("kwt1", "kwt2", 1),
            format!("{text}.extra"),
            text.replacen(&secret, &format!("{secret}!"), 1),
            text.replacen(token.public_id(), "short", 1),
            format!("{}.{secret}.x", text.rsplit_once('.').unwrap().0),
        ];
        for bad in broken {
            let err = bad.parse::<EnrollmentToken>().unwrap_err();
            for shown in [err.to_string(), format!("{err:?}")] {
                assert!(!shown.contains(&secret), "{shown}");
            }
        }
    }

    #[test]
    fn parse_names_the_broken_part() {
        let text = token().expose();
        let parts: Vec<&str> = text.split('.').collect();
        let with = |i: usize, value: &str| {
            let mut parts = parts.clone();
            parts[i] = value;
            parts.join(".").parse::<EnrollmentToken>().unwrap_err()
        };
        assert_eq!(with(0, "kwt0"), TokenError::WrongPrefix);
        assert_eq!(with(1, "abc"), TokenError::BadPublicId);
        assert_eq!(with(2, "c2hvcnQ"), TokenError::BadSecret);
        assert_eq!(with(3, "AAAA"), TokenError::BadPin);
        assert_eq!(
            "kwt1.a.b".parse::<EnrollmentToken>().unwrap_err(),
            TokenError::WrongPartCount { found: 3 }
        );
    }

    #[test]
    fn secret_hashes_compare_by_value() {
        let token = token();
        let parsed: EnrollmentToken = token.expose().parse().unwrap();
        assert_eq!(parsed.secret_hash(), token.secret_hash());
        assert_ne!(
            EnrollmentToken::generate(CaPin([7; 32])).secret_hash(),
            token.secret_hash()
        );
        assert_eq!(
            SecretHash::from_bytes(*token.secret_hash().as_bytes()),
            token.secret_hash()
        );
    }

    #[test]
    fn pin_displays_as_base64url_and_hex() {
        let pin = CaPin([0xab; 32]);
        assert_eq!(pin.to_hex(), "ab".repeat(32));
        assert_eq!(pin.to_string().len(), 43);
    }
}
