//! Golden postcard bytes of every envelope variant.
//!
//! These fail when the encoding of an existing message changes. If that is intended (it
//! breaks agents in the field), bump `PROTOCOL_MAJOR`; otherwise append fields or variants
//! instead of changing existing ones. The payloads inside (`ChangeBatch`, usage, health) are
//! pinned by their own golden tests; here they are small, to pin the envelope.

use uuid::Uuid;

use super::*;
use crate::change::{Change, ObjectKind};
use crate::model::health::{HealthReason, HealthStatus, LeaseFreshness, ProbeResult};

const T: UnixMillis = UnixMillis(1_714_557_600_000);

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn signals() -> HealthSignals {
    HealthSignals {
        apiserver_ready: ProbeResult::Ok,
        apiserver_live: ProbeResult::Ok,
        nodes_total: 3,
        nodes_not_ready: vec!["n2".into()],
        scheduler_lease: LeaseFreshness::Fresh,
        controller_manager_lease: LeaseFreshness::Absent,
        metrics_available: true,
        deployments_short: vec![],
        heartbeat_age_millis: None,
    }
}

fn secret() -> TokenSecret {
    postcard::from_bytes(&[3, 1, 2, 3]).unwrap()
}

fn agent_messages() -> Vec<AgentMessage> {
    vec![
        AgentMessage::Hello(Hello {
            protocol: 1,
            agent_version: "0.1.0".into(),
            epoch: 0x0102_0304_0506_0708,
            last_acked_seq: Some(42),
        }),
        AgentMessage::Batch {
            epoch: 9,
            seq: 1,
            batch: ChangeBatch {
                produced_at: T,
                changes: vec![Change::SnapshotBegin {
                    kinds: vec![ObjectKind::Node],
                }],
            },
        },
        AgentMessage::Usage {
            epoch: 9,
            seq: 2,
            buckets: vec![UsageBucket {
                namespace: "ns".into(),
                pod: "p".into(),
                container: "c".into(),
                hour_start: UnixMillis(3_600_000),
                cpu_millicore_seconds: 1000,
                memory_byte_seconds: 2000,
                memory_max_bytes: 300,
                samples: 4,
                covered_millis: 120_000,
            }],
        },
        AgentMessage::Health {
            epoch: 9,
            seq: 3,
            report: HealthReport {
                status: HealthStatus::Degraded,
                reasons: vec![HealthReason::MetricsUnavailable],
            },
            signals: signals(),
        },
        AgentMessage::Heartbeat { at: T },
        AgentMessage::RenewCertificate {
            csr_der: vec![0x30, 0x82],
        },
        AgentMessage::Enroll {
            token_id: "abc".into(),
            secret: secret(),
            csr_der: vec![0x30],
        },
        AgentMessage::ClusterInfo {
            info: ClusterInfo {
                git_version: "v1.36.3-eks-4f2a1c9".into(),
                platform: "linux/amd64".into(),
                provider: crate::model::Provider::Eks,
                evidence: "server version v1.36.3-eks-4f2a1c9".into(),
            },
        },
    ]
}

fn hub_messages() -> Vec<HubMessage> {
    vec![
        HubMessage::Welcome {
            resume: true,
            hub_version: "0.1.0".into(),
        },
        HubMessage::Ack { epoch: 9, seq: 300 },
        HubMessage::Command(Command::ResyncNow),
        HubMessage::Certificate {
            cert_der: vec![1, 2],
            ca_der: vec![3],
            not_after: T,
        },
        HubMessage::Refused {
            reason: "no".into(),
        },
        HubMessage::Enrolled {
            cluster_id: ClusterId::from_uuid(Uuid::from_u128(0x0123_4567_89ab_cdef)),
            cert_der: vec![1],
            ca_der: vec![2],
            not_after: T,
        },
        HubMessage::GoAway {
            reason: "draining".into(),
            reconnect_within_ms: 5000,
        },
    ]
}

const GOLDEN_AGENT: [&str; 8] = [
    "000105302e312e30888e98a8c0e0808101012a",
    "0109018084c6b9e66301000100",
    "02090201026e730170016380bab703e807d00fac0204c0a907",
    "03090301010700000301026e320002010000",
    "048084c6b9e663",
    "05023082",
    "0603616263030102030130",
    "071376312e33362e332d656b732d346632613163390b6c696e75782f616d64363400227365727665722076657273696f6e2076312e33362e332d656b732d34663261316339",
];

const GOLDEN_HUB: [&str; 7] = [
    "000105302e312e30",
    "0109ac02",
    "0200",
    "0302010201038084c6b9e663",
    "04026e6f",
    "051000000000000000000123456789abcdef010101028084c6b9e663",
    "0608647261696e696e678827",
];

/// Asserts each message encodes to its golden hex and decodes back.
fn assert_pinned<T>(messages: &[T], golden: &[&str])
where
    T: serde::Serialize + serde::de::DeserializeOwned + PartialEq + std::fmt::Debug,
{
    assert_eq!(messages.len(), golden.len());
    for (message, want) in messages.iter().zip(golden) {
        let bytes = postcard::to_allocvec(message).unwrap();
        assert_eq!(hex(&bytes), *want, "{message:?}");
        assert_eq!(&postcard::from_bytes::<T>(&bytes).unwrap(), message);
    }
}

/// Pins every agent → hub variant. A failure prints the new bytes; read the module docs
/// before updating them.
#[test]
fn agent_messages_have_pinned_encodings() {
    assert_pinned(&agent_messages(), &GOLDEN_AGENT);
}

/// Pins every hub → agent variant.
#[test]
fn hub_messages_have_pinned_encodings() {
    assert_pinned(&hub_messages(), &GOLDEN_HUB);
}

/// The golden bytes decode to the same messages through the budgeted decoder the hub reads
/// agent frames with, within the limits of their length.
#[test]
fn golden_messages_decode_within_their_frame_limits() {
    fn check<T: serde::de::DeserializeOwned + PartialEq + std::fmt::Debug>(
        messages: &[T],
        golden: &[&str],
    ) {
        for (message, want) in messages.iter().zip(golden) {
            let bytes: Vec<u8> = (0..want.len())
                .step_by(2)
                .map(|i| u8::from_str_radix(&want[i..i + 2], 16).unwrap())
                .collect();
            let limits = crate::protocol::DecodeLimits::for_frame(bytes.len() as u32);
            let (back, _) = crate::protocol::budget::decode::<T>(&bytes, &limits).unwrap();
            assert_eq!(&back, message);
        }
    }
    check(&agent_messages(), &GOLDEN_AGENT);
    check(&hub_messages(), &GOLDEN_HUB);
}

#[test]
fn enroll_debug_does_not_show_the_secret() {
    let enroll = &agent_messages()[6];
    let shown = format!("{enroll:?}");
    assert!(shown.contains("TokenSecret(<redacted>)"), "{shown}");
    assert!(!shown.contains("[1, 2, 3]"), "{shown}");
}

#[test]
fn stream_positions_are_those_of_data_messages() {
    let positions: Vec<_> = agent_messages()
        .iter()
        .map(AgentMessage::stream_position)
        .collect();
    assert_eq!(
        positions,
        [
            None,
            Some((9, 1)),
            Some((9, 2)),
            Some((9, 3)),
            None,
            None,
            None,
            None
        ]
    );
}
