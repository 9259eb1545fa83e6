//! The live event stream (`GET /api/v1/events`): added, changed and removed clusters
//! arrive as named events, scoped to the caller's organization, and ingest by someone else
//! (the store, as another hub replica would write it) shows up. One poller per organization
//! feeds all of its streams; streams are capped per session or token and per organization.

use std::time::Duration;

use chrono::Utc;
use kubeworkz_hub::store::Role;
use kubeworkz_shared::model::{HealthReason, HealthReport, HealthStatus};
use reqwest::Method;
use reqwest::header::COOKIE;

use crate::client::{Caller, Options, Resp, TestHub, seed};

/// An open event stream of `caller`.
pub struct Events {
    response: reqwest::Response,
    buffer: String,
}

impl Events {
    /// Opens a stream with the caller's session or token; panics unless it opens.
    pub async fn open(caller: &Caller) -> Self {
        match Self::try_open(caller).await {
            Ok(events) => events,
            Err(r) => panic!("the stream did not open: {} {}", r.status, r.text),
        }
    }

    /// Opens a stream, or returns the refusal.
    pub async fn try_open(caller: &Caller) -> Result<Self, Resp> {
        let mut request = caller.request(Method::GET, "/api/v1/events");
        if let Some(session) = &caller.session {
            request = request.header(COOKIE, format!("kubeworkz_session={session}"));
        }
        if let Some(token) = &caller.bearer {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        if response.status() != 200 {
            return Err(Caller::read(response).await);
        }
        assert_eq!(
            response.headers()["content-type"].to_str().unwrap(),
            "text/event-stream"
        );
        Ok(Self {
            response,
            buffer: String::new(),
        })
    }

    /// A stream refused for being over a cap; the refusal.
    pub async fn refused(caller: &Caller) -> Resp {
        let Err(refused) = Self::try_open(caller).await else {
            panic!("a stream over the cap opened");
        };
        assert_eq!(refused.status, 429, "{}", refused.text);
        assert_eq!(refused.error_code(), "over_limit");
        refused
    }

    /// The next event (name, data), skipping keep-alive comments; `None` when the stream
    /// ended.
    pub async fn next(&mut self) -> Option<(String, serde_json::Value)> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut name = None;
                let mut data = None;
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        name = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data = Some(serde_json::from_str(v).unwrap());
                    }
                }
                if let (Some(name), Some(data)) = (name, data) {
                    return Some((name, data));
                }
                continue;
            }
            let chunk = self.response.chunk().await.unwrap()?;
            self.buffer.push_str(std::str::from_utf8(&chunk).unwrap());
        }
    }

    /// The next event within 10 s.
    pub async fn expect(&mut self) -> (String, String) {
        let (name, data) = tokio::time::timeout(Duration::from_secs(10), self.next())
            .await
            .expect("an event within 10 s")
            .expect("the stream is open");
        (name, data["cluster_id"].as_str().unwrap().to_owned())
    }

    /// Nothing arrives for `quiet`.
    pub async fn expect_none(&mut self, quiet: Duration) {
        if let Ok(event) = tokio::time::timeout(quiet, self.next()).await {
            panic!("unexpected event {event:?}");
        }
    }
}

pub async fn cluster_events_are_streamed_per_organization(hub: TestHub) {
    let org = hub.default_org;
    let admin = hub.admin().await;
    let other = hub.user("other", "other@example.com", Role::Admin).await;
    let anonymous = hub.anonymous().get("/api/v1/events").await;
    assert_eq!(anonymous.status, 401);
    assert_eq!(anonymous.error_code(), "unauthorized");

    let mut events = Events::open(&admin).await;
    let mut others = Events::open(&other).await;

    let seeded = seed(&hub, org, "alpha").await;
    let id = seeded.cluster.to_string();
    assert_eq!(events.expect().await, ("cluster.added".into(), id.clone()));

    // Health judged by ingest (here written to the store directly, as another replica would).
    let report = HealthReport {
        status: HealthStatus::Degraded,
        reasons: vec![HealthReason::MetricsUnavailable],
    };
    hub.db
        .store
        .record_health(org, seeded.cluster, &report, Utc::now())
        .await
        .unwrap();
    assert_eq!(
        events.expect().await,
        ("cluster.changed".into(), id.clone())
    );
    // Coalesced: nothing more while nothing changes.
    events.expect_none(Duration::from_millis(2500)).await;

    let deleted = admin.delete(&format!("/api/v1/k8s/clusters/{id}")).await;
    assert_eq!(deleted.status, 204, "{}", deleted.text);
    assert_eq!(events.expect().await, ("cluster.removed".into(), id));

    // Another organization heard nothing of it.
    others.expect_none(Duration::from_millis(1500)).await;

    // Logging out ends the stream.
    let out = admin
        .post("/api/v1/auth/logout", serde_json::json!({}))
        .await;
    assert_eq!(out.status, 204, "{}", out.text);
    let ended = tokio::time::timeout(Duration::from_secs(5), events.next())
        .await
        .expect("the stream ends within 5 s of logout");
    assert!(ended.is_none(), "{ended:?}");
}

/// A gauge's value in `/metrics`.
pub async fn gauge(hub: &TestHub, name: &str) -> u64 {
    let metrics = hub.anonymous().get("/metrics").await;
    assert_eq!(metrics.status, 200, "{}", metrics.text);
    metrics
        .text
        .lines()
        .find_map(|line| line.strip_prefix(&format!("{name} ")))
        .unwrap_or_else(|| panic!("no {name} in {}", metrics.text))
        .parse()
        .unwrap()
}

/// Waits up to 10 s for a gauge to read `value`.
async fn gauge_becomes(hub: &TestHub, name: &str, value: u64) {
    for _ in 0..100 {
        if gauge(hub, name).await == value {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!(
        "{name} is {} after 10 s, not {value}",
        gauge(hub, name).await
    );
}

pub async fn the_eleventh_stream_of_a_session_is_refused(hub: TestHub) {
    let admin = hub.admin().await;
    let mut open = Vec::new();
    for _ in 0..10 {
        open.push(Events::open(&admin).await);
    }
    let refused = Events::refused(&admin).await;
    assert!(
        refused.json["error"]["message"]
            .as_str()
            .unwrap()
            .contains("at most 10"),
        "{}",
        refused.text
    );
    // Another session of the same user has its own share.
    let other = hub.admin().await;
    let mut others = Events::open(&other).await;
    // Closing one makes room again.
    drop(open.pop());
    gauge_becomes(&hub, "kubeworkz_event_streams", 10).await;
    let mut reopened = Events::open(&admin).await;
    // Streams still deliver.
    let seeded = seed(&hub, hub.default_org, "alpha").await;
    let id = seeded.cluster.to_string();
    assert_eq!(
        reopened.expect().await,
        ("cluster.added".into(), id.clone())
    );
    assert_eq!(others.expect().await, ("cluster.added".into(), id));
}

pub async fn an_organization_has_a_cap_of_streams(hub: TestHub) {
    let options = Options {
        stream_caps: Some((10, 3)),
        ..Options::default()
    };
    let hub = hub.restart(options).await;
    let admin = hub.admin().await;
    let viewer = hub
        .user("default", "viewer@example.com", Role::Viewer)
        .await;
    let _open = [
        Events::open(&admin).await,
        Events::open(&admin).await,
        Events::open(&viewer).await,
    ];
    let refused = Events::refused(&viewer).await;
    assert!(
        refused.text.contains("in this organization"),
        "{}",
        refused.text
    );
    // Another organization is not affected.
    let other = hub.user("other", "other@example.com", Role::Viewer).await;
    let _theirs = Events::open(&other).await;
}

pub async fn the_streams_of_one_organization_share_one_poller(hub: TestHub) {
    let mut callers = Vec::new();
    for i in 0..2 {
        callers.push(hub.admin().await);
        callers.push(
            hub.user("default", &format!("viewer{i}@example.com"), Role::Viewer)
                .await,
        );
    }
    let mut streams = Vec::new();
    for i in 0..20 {
        streams.push(Events::open(&callers[i % callers.len()]).await);
    }
    assert_eq!(gauge(&hub, "kubeworkz_event_streams").await, 20);
    assert_eq!(gauge(&hub, "kubeworkz_event_pollers").await, 1);
    // Every stream hears the one poller.
    let seeded = seed(&hub, hub.default_org, "alpha").await;
    let id = seeded.cluster.to_string();
    for events in &mut streams {
        assert_eq!(events.expect().await, ("cluster.added".into(), id.clone()));
    }
    // A second organization watching gets its own.
    let other = hub.user("other", "other@example.com", Role::Viewer).await;
    let theirs = Events::open(&other).await;
    assert_eq!(gauge(&hub, "kubeworkz_event_pollers").await, 2);
    drop(streams);
    drop(theirs);
    gauge_becomes(&hub, "kubeworkz_event_streams", 0).await;
    gauge_becomes(&hub, "kubeworkz_event_pollers", 0).await;
}
