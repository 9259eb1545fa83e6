//! Recently verified API tokens, kept for a few seconds so that automation sending many
//! requests with one token costs one store lookup per [`TOKEN_CACHE_TTL`], not one per
//! request (at 50 concurrent requests that lookup was a fifth of a pods page's store work).
//!
//! Only successful lookups are kept: an unknown or revoked token always reaches the store.
//! A revocation through this hub, and any change to users (role, password, disabling,
//! removal), drop entries at once; a change made through another replica (or the CLI, which
//! is another process) takes effect here within the TTL, as a kube-apiserver's token webhook
//! cache does.
//!
//! A lookup that started before such a change must not put its (now stale) answer back after
//! the change dropped the entries: every drop starts a new [`Generation`], and an answer is
//! kept only if no drop happened since its lookup began.

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
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    /// Drops so far; see [`Generation`].
    generation: u64,
    tokens: HashMap<[u8; 32], (Instant, ApiTokenInfo)>,
}

/// The cache's state when a store lookup began: [`TokenCache::insert`] keeps the lookup's
/// answer only if nothing was dropped since (the answer may predate a revocation or a change
/// of the token's user).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Generation(u64);

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
            entries: Mutex::new(Entries::default()),
        }
    }

    /// The token verified less than the TTL before `at`, if it has not expired by `now`.
    pub fn get(&self, hash: &[u8; 32], at: Instant, now: DateTime<Utc>) -> Option<ApiTokenInfo> {
        let entries = self.entries.lock().expect("token cache lock");
        let (verified, info) = entries.tokens.get(hash)?;
        let fresh = at.saturating_duration_since(*verified) < self.ttl;
        let unexpired = info.expires_at.is_none_or(|expiry| expiry > now);
        (fresh && unexpired).then(|| info.clone())
    }

    /// Taken before asking the store, and given back to [`TokenCache::insert`].
    pub fn generation(&self) -> Generation {
        Generation(self.entries.lock().expect("token cache lock").generation)
    }

    /// Remembers a token the store has just verified at `at`, in a lookup that began at
    /// `generation`; a lookup older than the last drop is not kept.
    pub fn insert(&self, hash: [u8; 32], info: ApiTokenInfo, at: Instant, generation: Generation) {
        if self.ttl.is_zero() {
            return;
        }
        let mut entries = self.entries.lock().expect("token cache lock");
        if entries.generation != generation.0 {
            return;
        }
        if entries.tokens.len() >= MAX_ENTRIES {
            let ttl = self.ttl;
            let tokens = &mut entries.tokens;
            tokens.retain(|_, (verified, _)| at.saturating_duration_since(*verified) < ttl);
            if tokens.len() >= MAX_ENTRIES {
                tokens.clear();
            }
        }
        entries.tokens.insert(hash, (at, info));
    }

    /// Drops the token with this id (it was just revoked).
    pub fn forget(&self, id: Uuid) {
        let mut entries = self.entries.lock().expect("token cache lock");
        entries.generation += 1;
        entries.tokens.retain(|_, (_, info)| info.id != id);
    }

    /// Drops everything (a user changed: their tokens must be looked up again).
    pub fn clear(&self) {
        let mut entries = self.entries.lock().expect("token cache lock");
        entries.generation += 1;
        entries.tokens.clear();
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
        cache.insert([1; 32], info.clone(), t0, cache.generation());
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
        let expiring = token(Some(now + chrono::Duration::seconds(1)));
        cache.insert([1; 32], expiring, t0, cache.generation());
        assert!(cache.get(&[1; 32], t0, now).is_some());
        let later = now + chrono::Duration::seconds(1);
        assert!(cache.get(&[1; 32], t0, later).is_none());
    }

    #[test]
    fn revoking_and_user_changes_drop_entries() {
        let cache = TokenCache::default();
        let (t0, now) = (Instant::now(), Utc::now());
        let (a, b) = (token(None), token(None));
        cache.insert([1; 32], a.clone(), t0, cache.generation());
        cache.insert([2; 32], b, t0, cache.generation());
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
        off.insert([1; 32], token(None), t0, off.generation());
        assert!(off.get(&[1; 32], t0, Utc::now()).is_none());
        let cache = TokenCache::default();
        for i in 0..=MAX_ENTRIES {
            let mut hash = [0; 32];
            hash[..8].copy_from_slice(&(i as u64).to_le_bytes());
            cache.insert(hash, token(None), t0, cache.generation());
        }
        assert!(cache.entries.lock().unwrap().tokens.len() <= MAX_ENTRIES);
    }

    #[test]
    fn a_lookup_older_than_a_drop_is_not_kept() {
        let cache = TokenCache::default();
        let (t0, now) = (Instant::now(), Utc::now());
        // A request asks the store, a user change drops the cache meanwhile, then the
        // request's (stale) answer arrives: it must not be kept.
        let before_clear = cache.generation();
        cache.clear();
        cache.insert([1; 32], token(None), t0, before_clear);
        assert!(cache.get(&[1; 32], t0, now).is_none());
        let before_forget = cache.generation();
        cache.forget(Uuid::new_v4());
        cache.insert([1; 32], token(None), t0, before_forget);
        assert!(cache.get(&[1; 32], t0, now).is_none());
        cache.insert([1; 32], token(None), t0, cache.generation());
        assert!(cache.get(&[1; 32], t0, now).is_some());
    }
}
