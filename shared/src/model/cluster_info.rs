//! What a cluster is, as the collector reports it: the apiserver's `/version` and the
//! provider detected from it and the nodes ([`super::provider`]).
//!
//! It travels to the hub in [`crate::protocol::AgentMessage::ClusterInfo`] (postcard: fields
//! only appended) and in pull mode straight from the collector. Its texts come from the
//! cluster (a `gitVersion`, a label key, a providerID), so each is cut to
//! [`MAX_INFO_TEXT`] bytes before it leaves the collector: a hostile or broken apiserver
//! cannot make the message, the hub's columns or its audit entries large.

use serde::{Deserialize, Serialize};

use super::provider::{Provider, ProviderDetection};

/// Longest text kept in a [`ClusterInfo`] field, in bytes (real versions and evidence are
/// well under 100).
pub const MAX_INFO_TEXT: usize = 256;

/// The server version and the detected provider with its evidence.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterInfo {
    /// `/version` `gitVersion`, e.g. `v1.36.3-eks-4f2a1c9`.
    pub git_version: String,
    /// `/version` `platform`, e.g. `linux/amd64`.
    pub platform: String,
    /// The detected distribution.
    pub provider: Provider,
    /// The label, provider id or version that decided it.
    pub evidence: String,
}

impl ClusterInfo {
    /// The info for a server version and a detection, each text cut to [`MAX_INFO_TEXT`].
    pub fn new(git_version: &str, platform: &str, detection: ProviderDetection) -> Self {
        Self {
            git_version: bounded(git_version),
            platform: bounded(platform),
            provider: detection.provider,
            evidence: bounded(&detection.evidence),
        }
    }
}

/// `text` cut to at most [`MAX_INFO_TEXT`] bytes, at a character boundary.
fn bounded(text: &str) -> String {
    if text.len() <= MAX_INFO_TEXT {
        return text.to_owned();
    }
    let mut end = MAX_INFO_TEXT;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text[..end].to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_texts_are_cut_at_a_character_boundary() {
        let long = "é".repeat(MAX_INFO_TEXT); // two bytes each
        let info = ClusterInfo::new(
            &long,
            "linux/amd64",
            ProviderDetection {
                provider: Provider::Eks,
                evidence: "x".repeat(1000),
            },
        );
        assert_eq!(info.git_version.len(), MAX_INFO_TEXT);
        assert!(info.git_version.chars().all(|c| c == 'é'));
        assert_eq!(info.evidence.len(), MAX_INFO_TEXT);
        assert_eq!(info.platform, "linux/amd64");
    }
}
