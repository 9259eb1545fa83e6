//! Who may use the hub: password hashing, opaque session and API tokens, the first admin.
//!
//! Passwords are hashed with argon2id (PHC strings, salt per user); session, CSRF and API
//! tokens are 256 random bits, so the store keeps only their SHA-256. Nothing here returns or
//! logs a secret except [`Secret::expose`], called once where the secret is handed out.

pub mod enrollment;
pub mod ratelimit;
pub mod token_cache;

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::RngCore as _;
use sha2::{Digest, Sha256};
use tokio::sync::Semaphore;
use uuid::Uuid;

use crate::store::{DEFAULT_ORG, NewUser, Role, Store, StoreError, User, UserCredentials};

/// Shortest password accepted for a user.
pub const MIN_PASSWORD_CHARS: usize = 12;

/// Users a login without an organization verifies at most (the oldest with that email). An
/// email is unique per organization only, and each candidate costs one argon2id
/// verification, so this bounds what one login request may cost; a user beyond it logs in
/// naming their organization.
pub const MAX_LOGIN_CANDIDATES: usize = 8;

/// A secret string whose `Debug` and `Display` are redacted.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(text: String) -> Self {
        Self(text)
    }

    /// The secret text: only for handing it to its owner once, or hashing it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

/// Why a password operation failed. Messages never contain the password.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// Too short for [`MIN_PASSWORD_CHARS`].
    #[error("password must be at least {MIN_PASSWORD_CHARS} characters")]
    WeakPassword,
    /// Not an email address.
    #[error("email must look like name@domain")]
    InvalidEmail,
    /// Hashing failed (a library error, not the input).
    #[error("password hashing failed")]
    Hashing,
    /// The store refused (a taken email is a conflict).
    #[error(transparent)]
    Store(#[from] StoreError),
}

fn argon2() -> Argon2<'static> {
    // OWASP's argon2id minimum: 19 MiB, 2 passes, 1 lane.
    let params = Params::new(19 * 1024, 2, 1, None).expect("argon2 parameters are valid");
    Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
}

/// Hashes a password with argon2id and a fresh salt; refuses a short one.
pub fn hash_password(password: &str) -> Result<String, AuthError> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err(AuthError::WeakPassword);
    }
    let mut salt = [0u8; 16];
    rand::rng().fill_bytes(&mut salt);
    let salt = SaltString::encode_b64(&salt).map_err(|_| AuthError::Hashing)?;
    argon2()
        .hash_password(password.as_bytes(), &salt)
        .map(|hash| hash.to_string())
        .map_err(|_| AuthError::Hashing)
}

/// Checks a password against a stored hash (false for a malformed hash too).
pub fn verify_password(password: &str, stored: &str) -> bool {
    PasswordHash::new(stored)
        .map(|hash| argon2().verify_password(password.as_bytes(), &hash).is_ok())
        .unwrap_or(false)
}

/// Spends the time of one verification, so an unknown email answers as slowly as a wrong
/// password (no user enumeration by timing).
pub fn verify_nothing(password: &str) {
    static DUMMY: OnceLock<String> = OnceLock::new();
    let hash = DUMMY.get_or_init(|| {
        hash_password("kubeworkz-timing-equalizer").expect("hashing a constant works")
    });
    let _ = verify_password(password, hash);
}

/// Runs argon2 `work` on a blocking thread: it takes tens of milliseconds of CPU, which on
/// the async runtime would stall every other request its worker serves. At most one
/// hashing per CPU runs at once: each holds 19 MiB and a core, so more would only queue on
/// the CPUs while holding their memory (a burst of logins would otherwise start up to
/// tokio's 512 blocking threads). `None` if the work panicked.
async fn on_argon2_thread<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Option<T> {
    static SLOTS: OnceLock<Semaphore> = OnceLock::new();
    let slots = SLOTS.get_or_init(|| {
        Semaphore::new(std::thread::available_parallelism().map_or(2, usize::from))
    });
    let _slot = slots.acquire().await.ok()?;
    tokio::task::spawn_blocking(work).await.ok()
}

/// [`hash_password`] off the async runtime (see [`on_argon2_thread`]).
pub async fn hash_password_blocking(password: String) -> Result<String, AuthError> {
    on_argon2_thread(move || hash_password(&password))
        .await
        .unwrap_or(Err(AuthError::Hashing))
}

/// [`verify_password`] off the async runtime (see [`on_argon2_thread`]).
pub async fn verify_password_blocking(password: String, stored: String) -> bool {
    on_argon2_thread(move || verify_password(&password, &stored))
        .await
        .unwrap_or(false)
}

/// [`verify_nothing`] off the async runtime (see [`on_argon2_thread`]).
pub async fn verify_nothing_blocking(password: String) {
    on_argon2_thread(move || verify_nothing(&password)).await;
}

/// What a login's email and password matched.
#[derive(Debug)]
pub enum LoginMatch {
    /// Exactly one enabled user: the one to log in.
    One(User),
    /// Enabled users in several organizations (their names): the login must name one.
    Several(Vec<String>),
    /// Nobody. The users that had the email, each with why it was refused
    /// (`bad_credentials`, or `user_disabled` for a disabled user's right password), for
    /// their organizations' audit logs.
    Nobody(Vec<(User, &'static str)>),
}

/// Matches a login: the users with `email` (in the organization named `organization`, or in
/// any, at most [`MAX_LOGIN_CANDIDATES`]) whose password is `password`, verified off the async
/// threads. An unknown email costs one verification, like one user with a wrong password, so
/// timing does not tell whether an email exists; a disabled user is refused only after the
/// verification, for the same reason.
pub async fn match_login(
    store: &Store,
    email: &str,
    organization: Option<&str>,
    password: Secret,
) -> Result<LoginMatch, AuthError> {
    let candidates = store
        .login_candidates(email, organization, MAX_LOGIN_CANDIDATES)
        .await?;
    let (candidates, verified) = on_argon2_thread(move || {
        if candidates.is_empty() {
            verify_nothing(password.expose());
        }
        let verified: Vec<bool> = candidates
            .iter()
            .map(|c| verify_password(password.expose(), &c.password_hash))
            .collect();
        (candidates, verified)
    })
    .await
    .ok_or(AuthError::Hashing)?;
    let mut matched: Vec<UserCredentials> = Vec::new();
    let mut refused = Vec::new();
    for (candidate, valid) in candidates.into_iter().zip(verified) {
        match (valid, candidate.user.disabled_at.is_some()) {
            (true, false) => matched.push(candidate),
            (true, true) => refused.push((candidate.user, "user_disabled")),
            (false, _) => refused.push((candidate.user, "bad_credentials")),
        }
    }
    Ok(match matched.len() {
        0 => LoginMatch::Nobody(refused),
        1 => LoginMatch::One(matched.remove(0).user),
        _ => LoginMatch::Several(matched.into_iter().map(|c| c.organization).collect()),
    })
}

/// Normalizes and checks an email address (stored lowercase, unique per organization).
pub fn normalize_email(email: &str) -> Result<String, AuthError> {
    let email = email.trim().to_lowercase();
    let valid = email.len() <= 254
        && email
            .split_once('@')
            .is_some_and(|(local, domain)| !local.is_empty() && !domain.is_empty())
        && !email.chars().any(char::is_whitespace);
    if valid {
        Ok(email)
    } else {
        Err(AuthError::InvalidEmail)
    }
}

/// A new random token `<prefix>_<64 hex>` and its SHA-256, the only form the store keeps.
pub fn new_token(prefix: &str) -> (Secret, [u8; 32]) {
    let mut bytes = [0u8; 32];
    rand::rng().fill_bytes(&mut bytes);
    let text = format!("{prefix}_{}", hex::encode(bytes));
    let hash = token_hash(&text);
    (Secret(text), hash)
}

/// SHA-256 of a presented token.
pub fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.as_bytes()).into()
}

/// Creates a user in an organization with a hashed password.
pub async fn create_user(
    store: &Store,
    org: kubeworkz_shared::ids::OrgId,
    email: &str,
    password: &str,
    role: Role,
) -> Result<User, AuthError> {
    let new = NewUser {
        id: Uuid::now_v7(),
        org_id: org,
        email: normalize_email(email)?,
        password_hash: hash_password_blocking(password.to_owned()).await?,
        role,
    };
    Ok(store.create_user(&new).await?)
}

/// What first start did about the initial admin.
#[derive(Debug)]
pub enum Bootstrap {
    /// Users exist already: nothing was done.
    Existing,
    /// An admin was created with the configured password.
    Created {
        /// Its email.
        email: String,
    },
    /// An admin was created with a generated password, to be shown once.
    Generated {
        /// Its email.
        email: String,
        /// The password.
        password: Secret,
    },
}

/// The email of the first admin when `KUBEWORKZ_ADMIN_EMAIL` is not set.
pub const DEFAULT_ADMIN_EMAIL: &str = "admin@localhost";

/// On an empty database, creates an admin in `default`: `email`/`password` when given
/// (from `KUBEWORKZ_ADMIN_EMAIL` / `KUBEWORKZ_ADMIN_PASSWORD`), else `admin@localhost` with a
/// random password returned for printing once.
pub async fn bootstrap_admin(
    store: &Store,
    email: Option<&str>,
    password: Option<&Secret>,
) -> Result<Bootstrap, AuthError> {
    if store.user_count().await? > 0 {
        return Ok(Bootstrap::Existing);
    }
    let org = store.ensure_organization(DEFAULT_ORG).await?;
    let email = email.unwrap_or(DEFAULT_ADMIN_EMAIL);
    let (password, generated) = match password {
        Some(p) => (p.clone(), false),
        None => {
            let mut bytes = [0u8; 18];
            rand::rng().fill_bytes(&mut bytes);
            (Secret(hex::encode(bytes)), true)
        }
    };
    let user = create_user(store, org.id, email, password.expose(), Role::Admin).await?;
    Ok(if generated {
        Bootstrap::Generated {
            email: user.email,
            password,
        }
    } else {
        Bootstrap::Created { email: user.email }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_with_the_right_text() {
        let hash = hash_password("correct horse battery").unwrap();
        assert!(hash.starts_with("$argon2id$"));
        assert!(verify_password("correct horse battery", &hash));
        assert!(!verify_password("correct horse batterY", &hash));
        assert!(!verify_password("anything", "not a phc string"));
    }

    #[test]
    fn short_passwords_and_bad_emails_are_refused() {
        assert!(matches!(
            hash_password("short"),
            Err(AuthError::WeakPassword)
        ));
        assert_eq!(
            normalize_email(" Ann@Example.COM ").unwrap(),
            "ann@example.com"
        );
        for bad in ["", "ann", "@x", "ann@", "a b@c"] {
            assert!(normalize_email(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn tokens_are_random_and_stored_as_their_hash() {
        let (a, hash) = new_token("kwa");
        let (b, _) = new_token("kwa");
        assert_ne!(a, b);
        assert!(a.expose().starts_with("kwa_"));
        assert_eq!(token_hash(a.expose()), hash);
        assert_eq!(format!("{a:?}"), "Secret(<redacted>)");
    }
}
