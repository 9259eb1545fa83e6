//! Which live replica collects a pull-mode cluster: rendezvous (highest random weight)
//! hashing over the live replicas.
//!
//! Every replica computes the same owner from the same live set, with no coordination; when
//! a replica joins or leaves only the clusters it wins or held move, about `1/n` of them.
//! The score is SHA-256 of the replica's id and the cluster's id, stable across builds and
//! platforms, so replicas of different versions in a rolling upgrade agree. The lease is
//! what guarantees one collector per cluster; the hash only spreads the work and tells a
//! replica which leases to give back.

use kubeworkz_shared::ids::ClusterId;
use sha2::{Digest, Sha256};

/// The replica among `live` that collects `cluster` (`None` when `live` is empty).
pub fn owner(cluster: ClusterId, live: &[String]) -> Option<&str> {
    live.iter()
        .map(|replica| (score(replica, cluster), replica.as_str()))
        .max()
        .map(|(_, replica)| replica)
}

fn score(replica: &str, cluster: ClusterId) -> [u8; 32] {
    let mut hash = Sha256::new();
    hash.update(replica.as_bytes());
    hash.update([0]);
    hash.update(cluster.as_uuid().as_bytes());
    hash.finalize().into()
}

#[cfg(test)]
mod tests;
