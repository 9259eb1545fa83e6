//! State shared by every request handler.

use std::sync::Arc;

use crate::store::Store;

/// What handlers need: cheap to clone (one `Arc` per field).
#[derive(Clone, Debug)]
pub struct AppState {
    /// The database, behind the backend-neutral trait.
    pub store: Arc<dyn Store>,
}
