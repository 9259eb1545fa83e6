//! Recently verified API tokens, kept for a few seconds so that automation sending many
//! requests with one token costs one store lookup per [`TOKEN_CACHE_TTL`], not one per
//! request (at 50 concurrent requests that lookup was a fifth of a pods page's store work).
//!
//! Only successful lookups are kept: an unknown or revoked token always reaches the store.
//! A revocation through this hub, and any change to users, drop entries at once; a
//! revocation made through another replica (or the CLI) takes effect here within the TTL,
//! as a kube-apiserver's token webhook cache does.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use uuid::Uuid;

use crate::store::ApiTokenInfo;

/// How long a verified token is trusted without asking the store again.
pub const TOKEN_CACHE_TTL: Duration = Duration::from_secs(10);

/// Entries kept at most; beyond that the cache starts over, so a flood of distinct valid
/// tokens cannot grow it without bound.
const MAX_ENTRIES: usize = 10_000;

/// Verified tokens by the SHA-256 of the token, with when they were verified.
#[derive(Debug)]
pub struct TokenCache {
    ttl: Duration,
    entries: Mutex<HashMap<[u8; 32], (Instant, ApiTokenInfo)>>,
}

impl Default for TokenCache {
    fn default() -> Self {
        Self::new(TOKEN_CACHE_TTL)
    }
}

impl TokenCache {
    /// A cache trusting a lookup for `ttl`; zero turns caching off.
    pub fn new(ttl: Duration) -> Self {
        Self {
            ttl,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// The token verified less than the TTL before `at`, if it has not expired by `now`.
    pub fn get(&self, hash: &[u8; 32], at: Instant, now: DateTime<Utc>) -> Option<ApiTokenInfo> {
        let entries = self.entries.lock().expect("token cache lock");
        let (verified, info) = entries.get(hash)?;
        let fresh = at.saturating_duration_since(*verified) < self.ttl;
        let unexpired = info.expires_at.is_none_or(|expiry| expiry > now);
        (fresh && unexpired).then(|| info.clone())
    }

    /// Remembers a token the store has just verified at `at`.
    pub fn insert(&self, hash: [u8; 32], info: ApiTokenInfo, at: Instant) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("token cache lock");
        if entries.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            entries.retain(|_, (verified, _)| at.saturating_duration_since(*verified) < ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(hash, (at, info));
    }

    /// Drops the token with this id (it was just revoked).
    pub fn forget(&self, id: Uuid) {
        let mut entries = self.entries.lock().expect("token cache lock");
        entries.retain(|_, (_, info)| info.id != id);
    }

    /// Drops everything (a user changed: their tokens must be looked up again).
    pub fn clear(&self) {
        self.entries.lock().expect("token cache lock").clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::Role;
    use kubeworkz_shared::ids::OrgId;

    fn token(expires_at: Option<DateTime<Utc>>) -> ApiTokenInfo {
        ApiTokenInfo {
            id: Uuid::new_v4(),
            org_id: OrgId::from_uuid(Uuid::new_v4()),
            user_id: None,
            name: "ci".into(),
            role: Role::Viewer,
            created_at: Utc::now(),
            expires_at,
            revoked_at: None,
        }
    }

    #[test]
    fn a_verified_token_is_trusted_for_the_ttl_only() {
        let cache = TokenCache::new(Duration::from_secs(10));
        let (t0, now) = (Instant::now(), Utc::now());
        let info = token(None);
        assert!(cache.get(&[1; 32], t0, now).is_none());
        cache.insert([1; 32], info.clone(), t0);
        let hit = cache.get(&[1; 32], t0 + Duration::from_secs(9), now);
        assert_eq!(hit.map(|t| t.id), Some(info.id));
        assert!(cache.get(&[2; 32], t0, now).is_none(), "another token");
        assert!(
            cache
                .get(&[1; 32], t0 + Duration::from_secs(10), now)
                .is_none(),
            "stale after the ttl"
        );
    }

    #[test]
    fn an_expired_token_is_not_served_from_the_cache() {
        let cache = TokenCache::default();
        let (t0, now) = (Instant::now(), Utc::now());
        cache.insert([1; 32], token(Some(now + chrono::Duration::seconds(1))), t0);
        assert!(cache.get(&[1; 32], t0, now).is_some());
        let later = now + chrono::Duration::seconds(1);
        assert!(cache.get(&[1; 32], t0, later).is_none());
    }

    #[test]
    fn revoking_and_user_changes_drop_entries() {
        let cache = TokenCache::default();
        let (t0, now) = (Instant::now(), Utc::now());
        let (a, b) = (token(None), token(None));
        cache.insert([1; 32], a.clone(), t0);
        cache.insert([2; 32], b, t0);
        cache.forget(a.id);
        assert!(cache.get(&[1; 32], t0, now).is_none());
        assert!(cache.get(&[2; 32], t0, now).is_some());
        cache.clear();
        assert!(cache.get(&[2; 32], t0, now).is_none());
    }

    #[test]
    fn zero_ttl_caches_nothing_and_the_size_is_bounded() {
        let off = TokenCache::new(Duration::ZERO);
        let t0 = Instant::now();
        off.insert([1; 32], token(None), t0);
        assert!(off.get(&[1; 32], t0, Utc::now()).is_none());
        let cache = TokenCache::default();
        for i in 0..=MAX_ENTRIES {
            let mut hash = [0; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(hash, token(None), t0);
        }
        assert!(cache.entries.lock().unwrap().len() <= MAX_ENTRIES);
    }
}
