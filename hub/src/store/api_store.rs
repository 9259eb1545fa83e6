//! [`ApiStore`]: what the REST API adds to the store (accounts, audit, paged read models).
//!
//! A supertrait of [`Store`](super::Store) with its own blanket impl over every
//! [`SqlBackend`], so both backends run the same code and `Arc<dyn Store>` has these
//! methods too (bring `ApiStore` into scope to call them).

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use kubeworkz_shared::change::ObjectKind;
use kubeworkz_shared::ids::{ClusterId, OrgId};
use tracing::instrument;
use uuid::Uuid;

use super::accounts::{self, NewSession, NewUser, SessionRecord, User, UserCredentials};
use super::api_queries::{
    self, ClusterPatch, ClusterQuery, ClusterSummary, InventoryItem, InventoryQuery, UsageHour,
};
use super::api_tokens::{self, ApiTokenInfo, NewApiToken};
use super::audit::{self, AuditEntry, AuditFilter};
use super::backend::{SqlBackend, in_tx, on_conn};
use super::namespace_counts::{self, NamespaceItem};
use super::paging::{PageRequest, Paged};
use super::sql::Sql;
use super::types::Cluster;
use super::user_changes::{self, UserChange};
use super::{Organization, StoreError};

/// The REST API's store calls; see the module docs.
#[async_trait]
pub trait ApiStore: Send + Sync {
    /// An organization by id.
    async fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError>;
    /// Users in the database (zero on first start).
    async fn user_count(&self) -> Result<u64, StoreError>;
    /// Creates a user; an email taken in the same organization is [`StoreError::Conflict`].
    async fn create_user(&self, new: &NewUser) -> Result<User, StoreError>;
    /// The users with this (lowercase) email and their password hashes, for login: in the
    /// organization of that name, or in any; at most the `limit` oldest.
    async fn login_candidates(
        &self,
        email: &str,
        organization: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserCredentials>, StoreError>;
    /// The users with this (lowercase) email in every organization.
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError>;
    /// The organization's users, by email.
    async fn users(&self, org: OrgId) -> Result<Vec<User>, StoreError>;
    /// One user of the organization.
    async fn user(&self, org: OrgId, id: Uuid) -> Result<Option<User>, StoreError>;
    /// Changes a user of the organization (role, password, disabled) with what follows from
    /// it for their sessions and tokens; `None` when there is no such user. A change that
    /// would leave the organization without an enabled admin is [`StoreError::Conflict`].
    async fn update_user(
        &self,
        org: OrgId,
        id: Uuid,
        change: &UserChange,
    ) -> Result<Option<User>, StoreError>;
    /// Deletes a user of the organization with their sessions and tokens; false when there is
    /// no such user. Deleting the last enabled admin is [`StoreError::Conflict`].
    async fn delete_user(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError>;
    /// Stores a login session.
    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError>;
    /// The unexpired session with this token hash.
    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError>;
    /// Ends a session.
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError>;
    /// Stores an API token (hash only).
    async fn create_api_token(&self, new: &NewApiToken) -> Result<ApiTokenInfo, StoreError>;
    /// The usable API token with this hash (its user exists and is enabled), with its
    /// effective role: the lower of the token's and its user's.
    async fn api_token(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<ApiTokenInfo>, StoreError>;
    /// The organization's API tokens, newest first.
    async fn api_tokens(&self, org: OrgId) -> Result<Vec<ApiTokenInfo>, StoreError>;
    /// Revokes an API token of the organization.
    async fn revoke_api_token(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError>;
    /// Appends to the audit log.
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError>;
    /// A filtered page of the organization's audit log, newest first.
    async fn audit_page(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Paged<AuditEntry>, StoreError>;
    /// A filtered, sorted page of clusters with live counts.
    async fn cluster_page(
        &self,
        org: OrgId,
        query: &ClusterQuery,
    ) -> Result<Paged<ClusterSummary>, StoreError>;
    /// One cluster with live counts.
    async fn cluster_summary(
        &self,
        org: OrgId,
        id: ClusterId,
    ) -> Result<Option<ClusterSummary>, StoreError>;
    /// Edits a cluster's descriptive fields or enabled flag.
    async fn update_cluster(
        &self,
        org: OrgId,
        id: ClusterId,
        patch: &ClusterPatch,
    ) -> Result<Option<Cluster>, StoreError>;
    /// A page of live inventory objects.
    async fn inventory_page(
        &self,
        org: OrgId,
        query: &InventoryQuery,
    ) -> Result<Paged<InventoryItem>, StoreError>;
    /// One live object by uid.
    async fn inventory_item(
        &self,
        org: OrgId,
        kind: ObjectKind,
        uid: &str,
    ) -> Result<Option<InventoryItem>, StoreError>;
    /// Usage per hour of a cluster or one of its namespaces.
    async fn usage_series(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError>;
    /// Usage per hour of one pod (all its containers), for the pod page.
    async fn pod_usage_series(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
        pod: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError>;
    /// A page of the live namespaces of a cluster with their live deployment and pod
    /// counts, in one statement (plus a count when the page cannot tell the total).
    async fn namespace_page(
        &self,
        org: OrgId,
        cluster: ClusterId,
        page: PageRequest,
    ) -> Result<Paged<NamespaceItem>, StoreError>;
}

#[async_trait]
impl<B: SqlBackend> ApiStore for B {
    #[instrument(skip_all)]
    async fn organization(&self, id: OrgId) -> Result<Option<Organization>, StoreError> {
        on_conn!(self, |db| accounts::organization(db, id))
    }

    #[instrument(skip_all)]
    async fn user_count(&self) -> Result<u64, StoreError> {
        on_conn!(self, |db| accounts::user_count(db))
    }

    #[instrument(skip_all)]
    async fn create_user(&self, new: &NewUser) -> Result<User, StoreError> {
        in_tx!(self, |db| accounts::create_user(db, new))
    }

    #[instrument(skip_all)]
    async fn login_candidates(
        &self,
        email: &str,
        organization: Option<&str>,
        limit: usize,
    ) -> Result<Vec<UserCredentials>, StoreError> {
        on_conn!(self, |db| accounts::login_candidates(
            db,
            email,
            organization,
            limit
        ))
    }

    #[instrument(skip_all)]
    async fn users_by_email(&self, email: &str) -> Result<Vec<User>, StoreError> {
        on_conn!(self, |db| accounts::users_by_email(db, email))
    }

    #[instrument(skip_all)]
    async fn users(&self, org: OrgId) -> Result<Vec<User>, StoreError> {
        on_conn!(self, |db| accounts::users(db, org, None))
    }

    #[instrument(skip_all)]
    async fn user(&self, org: OrgId, id: Uuid) -> Result<Option<User>, StoreError> {
        on_conn!(self, |db| async {
            Ok(accounts::users(db, org, Some(id)).await?.pop())
        })
    }

    #[instrument(skip_all)]
    async fn update_user(
        &self,
        org: OrgId,
        id: Uuid,
        change: &UserChange,
    ) -> Result<Option<User>, StoreError> {
        in_tx!(self, |db| user_changes::update_user(db, org, id, change))
    }

    #[instrument(skip_all)]
    async fn delete_user(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| user_changes::delete_user(db, org, id))
    }

    #[instrument(skip_all)]
    async fn create_session(&self, new: &NewSession) -> Result<(), StoreError> {
        in_tx!(self, |db| accounts::create_session(db, new))
    }

    #[instrument(skip_all)]
    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<SessionRecord>, StoreError> {
        on_conn!(self, |db| accounts::session(db, token_hash, now))
    }

    #[instrument(skip_all)]
    async fn delete_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        in_tx!(self, |db| accounts::delete_session(db, token_hash))
    }

    #[instrument(skip_all)]
    async fn create_api_token(&self, new: &NewApiToken) -> Result<ApiTokenInfo, StoreError> {
        in_tx!(self, |db| api_tokens::create_api_token(db, new))
    }

    #[instrument(skip_all)]
    async fn api_token(
        &self,
        token_hash: &[u8; 32],
        now: DateTime<Utc>,
    ) -> Result<Option<ApiTokenInfo>, StoreError> {
        on_conn!(self, |db| api_tokens::api_token(db, token_hash, now))
    }

    #[instrument(skip_all)]
    async fn api_tokens(&self, org: OrgId) -> Result<Vec<ApiTokenInfo>, StoreError> {
        on_conn!(self, |db| api_tokens::api_tokens(db, org))
    }

    #[instrument(skip_all)]
    async fn revoke_api_token(&self, org: OrgId, id: Uuid) -> Result<bool, StoreError> {
        in_tx!(self, |db| api_tokens::revoke_api_token(db, org, id))
    }

    #[instrument(skip_all)]
    async fn record_audit(&self, entry: &AuditEntry) -> Result<(), StoreError> {
        in_tx!(self, |db| audit::record_audit(db, entry))
    }

    #[instrument(skip_all)]
    async fn audit_page(
        &self,
        org: OrgId,
        filter: &AuditFilter,
        page: PageRequest,
    ) -> Result<Paged<AuditEntry>, StoreError> {
        on_conn!(self, |db| audit::audit_page(db, org, filter, page))
    }

    #[instrument(skip_all)]
    async fn cluster_page(
        &self,
        org: OrgId,
        query: &ClusterQuery,
    ) -> Result<Paged<ClusterSummary>, StoreError> {
        on_conn!(self, |db| api_queries::cluster_page(db, org, query))
    }

    #[instrument(skip_all)]
    async fn cluster_summary(
        &self,
        org: OrgId,
        id: ClusterId,
    ) -> Result<Option<ClusterSummary>, StoreError> {
        on_conn!(self, |db| api_queries::cluster_summary(db, org, id))
    }

    #[instrument(skip_all)]
    async fn update_cluster(
        &self,
        org: OrgId,
        id: ClusterId,
        patch: &ClusterPatch,
    ) -> Result<Option<Cluster>, StoreError> {
        in_tx!(self, |db| api_queries::update_cluster(db, org, id, patch))
    }

    #[instrument(skip_all)]
    async fn inventory_page(
        &self,
        org: OrgId,
        query: &InventoryQuery,
    ) -> Result<Paged<InventoryItem>, StoreError> {
        on_conn!(self, |db| api_queries::inventory_page(db, org, query))
    }

    #[instrument(skip_all)]
    async fn inventory_item(
        &self,
        org: OrgId,
        kind: ObjectKind,
        uid: &str,
    ) -> Result<Option<InventoryItem>, StoreError> {
        on_conn!(self, |db| api_queries::inventory_item(db, org, kind, uid))
    }

    #[instrument(skip_all)]
    async fn usage_series(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: Option<&str>,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError> {
        on_conn!(self, |db| api_queries::usage_series(
            db, org, cluster, namespace, None, from, to
        ))
    }

    #[instrument(skip_all)]
    async fn pod_usage_series(
        &self,
        org: OrgId,
        cluster: ClusterId,
        namespace: &str,
        pod: &str,
        from: DateTime<Utc>,
        to: DateTime<Utc>,
    ) -> Result<Vec<UsageHour>, StoreError> {
        on_conn!(self, |db| api_queries::usage_series(
            db,
            org,
            cluster,
            Some(namespace),
            Some(pod),
            from,
            to
        ))
    }

    #[instrument(skip_all)]
    async fn namespace_page(
        &self,
        org: OrgId,
        cluster: ClusterId,
        page: PageRequest,
    ) -> Result<Paged<NamespaceItem>, StoreError> {
        on_conn!(self, |db| namespace_counts::namespace_page(
            db, org, cluster, page
        ))
    }
}
