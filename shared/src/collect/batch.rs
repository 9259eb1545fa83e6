//! Gathers the change stream into batches and keeps the collector's inventory current.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::{mpsc, watch};
use tokio_util::sync::CancellationToken;

use super::{CollectError, CollectorOutput, Kept};
use crate::change::{Change, ChangeBatch, Object, ObjectKind};
use crate::inventory::Inventory;
use crate::time::UnixMillis;

/// How full a batch may get.
#[derive(Debug, Clone, Copy)]
pub(super) struct Limits {
    /// Most changes.
    pub changes: usize,
    /// Encoded bytes of changes after which the batch is closed: the change that would pass
    /// them opens the next batch instead (or travels alone, if it passes them by itself).
    pub bytes: usize,
}

/// What the batcher tells the prober about nodes (see `observer`): whether this run's node
/// listing has ended, and a count of the sent batches that touched nodes. The prober judges
/// health only once nodes are listed (never "no nodes" beside counted ones), and again when
/// they change, instead of waiting for its timer.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(super) struct NodeEvents {
    /// A `SnapshotEnd` of nodes was sent in this run.
    pub listed: bool,
    /// Batches sent with a node change in them.
    pub changes: u64,
}

/// Whether `change` is about nodes, and whether it ends their listing.
fn node_change(change: &Change) -> (bool, bool) {
    match change {
        Change::Upsert(Object::Node(_)) => (true, false),
        Change::Delete(key) => (key.kind == ObjectKind::Node, false),
        Change::SnapshotBegin { kinds } => (kinds.contains(&ObjectKind::Node), false),
        Change::SnapshotEnd { kinds } => {
            let ends = kinds.contains(&ObjectKind::Node);
            (ends, ends)
        }
        Change::Upsert(_) => (false, false),
    }
}

/// The change's size on the wire (postcard), without encoding it.
fn encoded_len(change: &Change) -> usize {
    postcard::experimental::serialized_size(change).unwrap_or(0)
}

/// Sends a batch at most `window` after its first change, or when it holds `limits.changes`
/// changes or the next change would take it past `limits.bytes`. A batch is applied to
/// `inventory` before it is sent, so the inventory never runs ahead of what downstream could
/// have seen. A batch that touched nodes is announced on `nodes` once it is sent, so a verdict
/// the prober sends after it follows it downstream.
pub(super) async fn run(
    mut changes: BoxStream<'static, Change>,
    window: Duration,
    limits: Limits,
    inventory: Arc<Mutex<Inventory<Kept>>>,
    out: mpsc::Sender<CollectorOutput>,
    nodes: watch::Sender<NodeEvents>,
    shutdown: CancellationToken,
) -> Result<(), CollectError> {
    // A change that did not fit the previous batch, with its encoded size: it opens the next.
    let mut carried: Option<(Change, usize)> = None;
    loop {
        let (first, mut bytes) = match carried.take() {
            Some(carried) => carried,
            None => tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = changes.next() => match next {
                    Some(change) => {
                        let len = encoded_len(&change);
                        (change, len)
                    }
                    None => return Ok(()),
                },
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < limits.changes {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                next = changes.next() => match next {
                    Some(change) => {
                        let len = encoded_len(&change);
                        if bytes + len > limits.bytes {
                            carried = Some((change, len));
                            break;
                        }
                        bytes += len;
                        batch.push(change);
                    }
                    None => break,
                },
            }
        }
        inventory
            .lock()
            .expect("inventory lock poisoned")
            .apply_all(&batch);
        let (touched, listed) = batch
            .iter()
            .map(node_change)
            .fold((false, false), |(touched, listed), (t, l)| {
                (touched || t, listed || l)
            });
        let batch = ChangeBatch {
            produced_at: UnixMillis::now(),
            changes: batch,
        };
        out.send(CollectorOutput::Changes(batch))
            .await
            .map_err(|_| CollectError::OutputClosed)?;
        if touched {
            nodes.send_modify(|events| {
                events.changes += 1;
                events.listed |= listed;
            });
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::change::{ObjectKey, ObjectKind};

    fn delete(name: &str) -> Change {
        Change::Delete(ObjectKey {
            kind: ObjectKind::Namespace,
            namespace: String::new(),
            name: name.into(),
            uid: name.into(),
        })
    }

    #[tokio::test(start_paused = true)]
    async fn changes_inside_the_window_share_a_batch_and_max_splits() {
        let (tx, rx) = mpsc::unbounded_channel::<Change>();
        let stream = tokio_stream_from(rx);
        let (out, mut got) = mpsc::channel(16);
        let inventory = Arc::default();
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            stream,
            Duration::from_millis(100),
            Limits {
                changes: 3,
                bytes: usize::MAX,
            },
            inventory,
            out,
            watch::channel(NodeEvents::default()).0,
            shutdown.clone(),
        ));
        tx.send(delete("a")).unwrap();
        tx.send(delete("b")).unwrap();
        let CollectorOutput::Changes(first) = got.recv().await.unwrap() else {
            panic!("expected changes")
        };
        assert_eq!(first.changes, vec![delete("a"), delete("b")]);

        for name in ["c", "d", "e", "f"] {
            tx.send(delete(name)).unwrap();
        }
        let CollectorOutput::Changes(second) = got.recv().await.unwrap() else {
            panic!("expected changes")
        };
        assert_eq!(second.changes.len(), 3, "max batch size splits");
        let CollectorOutput::Changes(third) = got.recv().await.unwrap() else {
            panic!("expected changes")
        };
        assert_eq!(third.changes, vec![delete("f")]);
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }

    #[tokio::test(start_paused = true)]
    async fn a_batch_closes_before_a_change_would_pass_the_byte_cap() {
        let (tx, rx) = mpsc::unbounded_channel::<Change>();
        let (out, mut got) = mpsc::channel(16);
        let shutdown = CancellationToken::new();
        // Each delete of a one-letter name encodes to the same size.
        let one = encoded_len(&delete("a"));
        let task = tokio::spawn(run(
            tokio_stream_from(rx),
            Duration::from_millis(100),
            Limits {
                changes: 100,
                bytes: 2 * one,
            },
            Arc::default(),
            out,
            watch::channel(NodeEvents::default()).0,
            shutdown.clone(),
        ));
        for name in ["a", "b", "c", "d", "e"] {
            tx.send(delete(name)).unwrap();
        }
        let mut sizes = Vec::new();
        while sizes.iter().sum::<usize>() < 5 {
            let CollectorOutput::Changes(batch) = got.recv().await.unwrap() else {
                panic!("expected changes")
            };
            let bytes: usize = batch.changes.iter().map(encoded_len).sum();
            assert!(bytes <= 2 * one, "{bytes} > {}", 2 * one);
            sizes.push(batch.changes.len());
        }
        assert_eq!(
            sizes,
            vec![2, 2, 1],
            "the third change opens the next batch"
        );

        // A change larger than the cap alone still leaves, alone.
        let long = delete(&"x".repeat(100));
        tx.send(long.clone()).unwrap();
        tx.send(delete("f")).unwrap();
        let CollectorOutput::Changes(alone) = got.recv().await.unwrap() else {
            panic!("expected changes")
        };
        assert_eq!(alone.changes, vec![long]);
        let CollectorOutput::Changes(next) = got.recv().await.unwrap() else {
            panic!("expected changes")
        };
        assert_eq!(next.changes, vec![delete("f")]);
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }

    /// A sent batch that touched nodes is announced, and a node `SnapshotEnd` marks the nodes
    /// listed; batches of other kinds announce nothing.
    #[tokio::test(start_paused = true)]
    async fn batches_that_touch_nodes_are_announced_after_they_are_sent() {
        let (tx, rx) = mpsc::unbounded_channel::<Change>();
        let (out, mut got) = mpsc::channel(16);
        let (nodes, mut events) = watch::channel(NodeEvents::default());
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(run(
            tokio_stream_from(rx),
            Duration::from_millis(100),
            Limits {
                changes: 100,
                bytes: usize::MAX,
            },
            Arc::default(),
            out,
            nodes,
            shutdown.clone(),
        ));
        tx.send(delete("ns")).unwrap();
        got.recv().await.unwrap();
        assert!(
            !events.has_changed().unwrap(),
            "a namespace batch is not about nodes"
        );

        let node_begin = Change::SnapshotBegin {
            kinds: vec![ObjectKind::Node],
        };
        let node_end = Change::SnapshotEnd {
            kinds: vec![ObjectKind::Node],
        };
        for (change, listed, changes) in [(node_begin, false, 1), (node_end, true, 2)] {
            tx.send(change).unwrap();
            got.recv().await.unwrap();
            events.changed().await.unwrap();
            assert_eq!(*events.borrow_and_update(), NodeEvents { listed, changes });
        }
        shutdown.cancel();
        task.await.unwrap().unwrap();
    }

    fn tokio_stream_from(mut rx: mpsc::UnboundedReceiver<Change>) -> BoxStream<'static, Change> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
    }
}
