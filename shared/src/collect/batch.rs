//! Gathers the change stream into batches and keeps the collector's inventory current.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::stream::{BoxStream, StreamExt};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::{CollectError, CollectorOutput, Kept};
use crate::change::{Change, ChangeBatch};
use crate::inventory::Inventory;
use crate::time::UnixMillis;

/// Sends a batch at most `window` after its first change, or when it holds `max` changes.
/// A batch is applied to `inventory` before it is sent, so the inventory never runs ahead of
/// what downstream could have seen.
pub(super) async fn run(
    mut changes: BoxStream<'static, Change>,
    window: Duration,
    max: usize,
    inventory: Arc<Mutex<Inventory<Kept>>>,
    out: mpsc::Sender<CollectorOutput>,
    shutdown: CancellationToken,
) -> Result<(), CollectError> {
    loop {
        let first = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            next = changes.next() => match next {
                Some(change) => change,
                None => return Ok(()),
            },
        };
        let mut batch = vec![first];
        let deadline = tokio::time::Instant::now() + window;
        while batch.len() < max {
            tokio::select! {
                () = tokio::time::sleep_until(deadline) => break,
                next = changes.next() => match next {
                    Some(change) => batch.push(change),
                    None => break,
                },
            }
        }
        inventory
            .lock()
            .expect("inventory lock poisoned")
            .apply_all(&batch);
        let batch = ChangeBatch {
            produced_at: UnixMillis::now(),
            changes: batch,
        };
        out.send(CollectorOutput::Changes(batch))
            .await
            .map_err(|_| CollectError::OutputClosed)?;
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
            3,
            inventory,
            out,
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

    fn tokio_stream_from(mut rx: mpsc::UnboundedReceiver<Change>) -> BoxStream<'static, Change> {
        futures::stream::poll_fn(move |cx| rx.poll_recv(cx)).boxed()
    }
}
