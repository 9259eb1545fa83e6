//! The hub's HTTP/1 server loop: the API router behind per-connection time limits and a cap
//! on open connections, which `axum::serve` does not offer.
//!
//! Each accepted connection is served by hyper and watched by its own task, which closes it
//! when the phase it is in has lasted too long:
//!
//! - **waiting for a request head** (from accept, or from the first byte after the previous
//!   response): at most `header_timeout`, however slowly the bytes trickle in (slowloris);
//! - **idle between requests** (keep-alive, no byte yet): at most `idle_timeout`;
//! - **serving a request**: the router's request timeout bounds handlers; here only a
//!   connection on which no byte moved either way for `idle_timeout` is closed (a client
//!   that stopped reading a response, a stalled event stream).
//!
//! At `max_connections` a new connection makes room by closing the connection that has
//! waited longest without a request in flight (idle keep-alives first in line, then
//! half-sent heads): those cost the client a reconnect at most, and the hub keeps answering
//! new clients, `/healthz` included. When every connection is serving a request, the new one
//! is closed at once, so the client fails fast instead of hanging in the accept queue.
//!
//! On shutdown the listener closes, idle connections close, in-flight requests finish
//! (event streams end on the same signal) and [`serve_http`] returns when every connection
//! is gone.

use std::collections::HashMap;
use std::convert::Infallible;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::ConnectInfo;
use axum::http::Request;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use tower::ServiceExt as _;

use crate::shutdown::Shutdown;

/// The server loop's limits (`--http-header-timeout-secs`, `--http-idle-timeout-secs`,
/// `--http-max-connections`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// Longest a request head may take to arrive, from its first byte (or from accept).
    pub header_timeout: Duration,
    /// Longest a keep-alive connection may sit idle, and longest a connection serving a
    /// request may move no byte.
    pub idle_timeout: Duration,
    /// Open connections at most; see the module docs for what happens beyond.
    pub max_connections: usize,
}

impl Default for HttpLimits {
    /// 10 s covers a head from a slow mobile link many times over; 120 s keeps a browser's
    /// connection across page views and outlasts the event stream's 15 s keep-alive
    /// comments; 10,000 connections of a few tens of KiB each stay far from the hub's memory
    /// and the usual 64k descriptor limit.
    fn default() -> Self {
        Self {
            header_timeout: Duration::from_secs(10),
            idle_timeout: Duration::from_secs(120),
            max_connections: 10_000,
        }
    }
}

/// Pause after an accept error that is not about one connection (out of descriptors), so
/// the loop does not spin while the condition lasts.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_secs(1);

/// Serves `router` on `listener` until `shutdown` fires, then drains (see the module docs).
/// Handlers see the peer's address as `ConnectInfo<SocketAddr>`.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: HttpLimits,
    shutdown: Shutdown,
) -> io::Result<()> {
    let registry = Arc::new(Registry::default());
    let tasks = TaskTracker::new();
    loop {
        let accepted = tokio::select! {
            () = shutdown.wait() => break,
            accepted = listener.accept() => accepted,
        };
        let (stream, peer) = match accepted {
            Ok(pair) => pair,
            Err(e) if is_connection_error(&e) => continue,
            Err(e) => {
                tracing::error!(error = %e, "accepting an HTTP connection failed");
                tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                continue;
            }
        };
        let Some(slot) = registry.admit(limits.max_connections) else {
            tracing::debug!(%peer, "connection limit reached with every connection busy; closing the new one");
            drop(stream);
            continue;
        };
        let (router, shutdown, registry) = (router.clone(), shutdown.clone(), registry.clone());
        tasks.spawn(async move {
            serve_connection(stream, peer, router, &slot, limits, shutdown).await;
            registry.remove(slot.id);
        });
    }
    drop(listener);
    tasks.close();
    tasks.wait().await;
    Ok(())
}

fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    )
}

/// One connection, served until it ends, times out, is evicted or drained.
async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    router: Router,
    slot: &Slot,
    limits: HttpLimits,
    shutdown: Shutdown,
) {
    let activity = slot.activity.clone();
    let io = TokioIo::new(TrackedIo {
        inner: stream,
        activity: activity.clone(),
    });
    let service = hyper::service::service_fn(move |mut request: Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(peer));
        let in_flight = InFlight::start(activity.clone());
        let router = router.clone();
        async move {
            let response = router.oneshot(request.map(Body::new)).await?;
            Ok::<_, Infallible>(response.map(|body| TrackedBody {
                body,
                _in_flight: in_flight,
            }))
        }
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    // The watchdog below times heads; hyper's own timer would also cut idle keep-alives.
    builder
        .keep_alive(true)
        .header_read_timeout(None::<Duration>);
    // Upgrades (the terminal's WebSocket) leave this loop: the upgraded socket belongs to its
    // handler, which keeps its own idle timeout and shutdown.
    let connection = builder.serve_connection(io, service).with_upgrades();
    tokio::pin!(connection);
    let mut draining = false;
    loop {
        let deadline = slot.activity.deadline(limits);
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(e) = result {
                    tracing::debug!(%peer, error = %e, "HTTP connection ended with an error");
                }
                return;
            }
            () = slot.evict.cancelled() => {
                tracing::debug!(%peer, "closing an idle HTTP connection to admit a new one");
                return;
            }
            () = shutdown.wait(), if !draining => {
                draining = true;
                connection.as_mut().graceful_shutdown();
            }
            () = slot.activity.changed.notified() => {}
            () = tokio::time::sleep_until(deadline.into()) => {
                if slot.activity.deadline(limits) <= Instant::now() {
                    tracing::debug!(%peer, "closing an HTTP connection that timed out");
                    return;
                }
            }
        }
    }
}

/// What a connection is doing, kept by its I/O, its requests and read by its watchdog.
/// Times are milliseconds since `opened`; `head_since` holds one more (0: no head begun).
#[derive(Debug)]
struct Activity {
    opened: Instant,
    in_flight: AtomicU32,
    head_since: AtomicU64,
    idle_since: AtomicU64,
    last_io: AtomicU64,
    /// Wakes the watchdog when the phase changes to one with an earlier deadline.
    changed: Notify,
}

impl Activity {
    fn new() -> Self {
        Self {
            opened: Instant::now(),
            in_flight: AtomicU32::new(0),
            // A new connection owes its first head from the moment it was accepted.
            head_since: AtomicU64::new(1),
            idle_since: AtomicU64::new(0),
            last_io: AtomicU64::new(0),
            changed: Notify::new(),
        }
    }

    fn now_ms(&self) -> u64 {
        u64::try_from(self.opened.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    fn at(&self, ms: u64) -> Instant {
        self.opened + Duration::from_millis(ms)
    }

    /// Bytes arrived: the first ones after a response start the head's clock.
    fn read(&self) {
        let now = self.now_ms();
        self.last_io.store(now, Ordering::Relaxed);
        if self.in_flight.load(Ordering::Acquire) == 0
            && self
                .head_since
                .compare_exchange(0, now + 1, Ordering::AcqRel, Ordering::Relaxed)
                .is_ok()
        {
            self.changed.notify_one();
        }
    }

    fn wrote(&self) {
        self.last_io.store(self.now_ms(), Ordering::Relaxed);
    }

    /// When the connection should be closed if nothing changes before.
    fn deadline(&self, limits: HttpLimits) -> Instant {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return self.at(self.last_io.load(Ordering::Relaxed)) + limits.idle_timeout;
        }
        match self.head_since.load(Ordering::Acquire) {
            0 => self.at(self.idle_since.load(Ordering::Relaxed)) + limits.idle_timeout,
            since => self.at(since - 1) + limits.header_timeout,
        }
    }

    /// Since when the connection has waited with no request in flight, or `None` while it
    /// serves one. Idle keep-alives sort before half-sent heads of the same age.
    fn waiting_since(&self) -> Option<(bool, Instant)> {
        if self.in_flight.load(Ordering::Acquire) > 0 {
            return None;
        }
        Some(match self.head_since.load(Ordering::Acquire) {
            0 => (false, self.at(self.idle_since.load(Ordering::Relaxed))),
            since => (true, self.at(since - 1)),
        })
    }
}

/// A request being served; dropped when its response body is done (or abandoned).
#[derive(Debug)]
struct InFlight(Arc<Activity>);

impl InFlight {
    fn start(activity: Arc<Activity>) -> Self {
        activity.in_flight.fetch_add(1, Ordering::AcqRel);
        activity.head_since.store(0, Ordering::Release);
        activity.changed.notify_one();
        Self(activity)
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        let activity = &self.0;
        activity
            .idle_since
            .store(activity.now_ms(), Ordering::Relaxed);
        activity.in_flight.fetch_sub(1, Ordering::AcqRel);
        activity.changed.notify_one();
    }
}

/// A response body that keeps its request counted as in flight until hyper is done with it.
#[derive(Debug)]
struct TrackedBody {
    body: Body,
    _in_flight: InFlight,
}

impl http_body::Body for TrackedBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        Pin::new(&mut self.get_mut().body).poll_frame(cx)
    }

    fn is_end_stream(&self) -> bool {
        self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// The socket, recording when bytes move.
#[derive(Debug)]
struct TrackedIo {
    inner: TcpStream,
    activity: Arc<Activity>,
}

impl TrackedIo {
    fn count_written(&self, result: Poll<io::Result<usize>>) -> Poll<io::Result<usize>> {
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.wrote();
        }
        result
    }
}

impl AsyncRead for TrackedIo {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let result = Pin::new(&mut this.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            this.activity.read();
        }
        result
    }
}

impl AsyncWrite for TrackedIo {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write(cx, buf);
        this.count_written(result)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let result = Pin::new(&mut this.inner).poll_write_vectored(cx, bufs);
        this.count_written(result)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

/// An admitted connection's place in the registry.
#[derive(Debug)]
struct Slot {
    id: u64,
    activity: Arc<Activity>,
    evict: CancellationToken,
}

/// The open connections, so that one may be evicted to admit another.
#[derive(Debug, Default)]
struct Registry {
    open: Mutex<HashMap<u64, (Arc<Activity>, CancellationToken)>>,
    next_id: AtomicU64,
}

impl Registry {
    /// A slot for a new connection, evicting the longest-waiting connection without a
    /// request in flight when `max` are open; `None` when every open one is serving.
    fn admit(&self, max: usize) -> Option<Slot> {
        let mut open = self.open.lock().expect("connection registry lock");
        if open.len() >= max {
            let victim = open
                .iter()
                .filter_map(|(id, (activity, _))| Some((activity.waiting_since()?, *id)))
                .min()
                .map(|(_, id)| id)?;
            if let Some((_, evict)) = open.remove(&victim) {
                evict.cancel();
            }
        }
        let slot = Slot {
            id: self.next_id.fetch_add(1, Ordering::Relaxed),
            activity: Arc::new(Activity::new()),
            evict: CancellationToken::new(),
        };
        open.insert(slot.id, (slot.activity.clone(), slot.evict.clone()));
        Some(slot)
    }

    fn remove(&self, id: u64) {
        self.open
            .lock()
            .expect("connection registry lock")
            .remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const LIMITS: HttpLimits = HttpLimits {
        header_timeout: Duration::from_secs(10),
        idle_timeout: Duration::from_secs(120),
        max_connections: 2,
    };

    #[test]
    fn each_phase_has_its_own_deadline() {
        let activity = Arc::new(Activity::new());
        let opened = activity.opened;
        assert_eq!(activity.deadline(LIMITS), opened + LIMITS.header_timeout);
        let request = InFlight::start(activity.clone());
        assert!(activity.waiting_since().is_none(), "serving is not waiting");
        assert!(activity.deadline(LIMITS) >= opened + LIMITS.idle_timeout);
        activity.read();
        assert_eq!(
            activity.head_since.load(Ordering::Relaxed),
            0,
            "body bytes start no head"
        );
        drop(request);
        let idle = activity.deadline(LIMITS);
        assert!(idle >= opened + LIMITS.idle_timeout, "idle keep-alive");
        assert_eq!(activity.waiting_since().map(|(head, _)| head), Some(false));
        activity.read();
        assert!(
            activity.deadline(LIMITS) < idle,
            "a new head is timed again"
        );
        assert_eq!(activity.waiting_since().map(|(head, _)| head), Some(true));
    }

    #[test]
    fn at_the_cap_the_longest_waiting_connection_makes_room() {
        let registry = Registry::default();
        let busy = registry.admit(2).unwrap();
        let _request = InFlight::start(busy.activity.clone());
        let waiting = registry.admit(2).unwrap();
        let admitted = registry.admit(2).expect("the waiting one is evicted");
        assert!(waiting.evict.is_cancelled());
        assert!(!busy.evict.is_cancelled());
        let _second = InFlight::start(admitted.activity.clone());
        assert!(registry.admit(2).is_none(), "every connection is busy");
        registry.remove(busy.id);
        assert!(registry.admit(2).is_some());
    }
}
