//! State shared by every request handler.

use std::sync::Arc;

use crate::pull::supervisor::PullHandle;
use crate::store::Store;
use crate::workers::Workers;

/// What handlers need: cheap to clone (one `Arc` per field).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database, behind the backend-neutral trait.
    pub store: Arc<dyn Store>,
    /// Status of every background worker.
    pub workers: Workers,
    /// "Sync now" for pull-mode clusters.
    pub pull: PullHandle,
}
