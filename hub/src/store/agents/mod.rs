//! Agent mode in the store: enrollment tokens, issued certificates, the hub CA, and the
//! per-cluster state the agent transport asks for. Written once against [`Sql`].
//!
//! Token redemption is one transaction with a conditional `UPDATE` (`uses = 0` unless
//! reusable), so two agents racing with one single-use token cannot both win on either
//! backend: the loser's update matches no row and it is told the token was used.
//!
//! Redeeming a token for a cluster that exists already (a reusable token used again, or a new
//! token naming an agent cluster) is a re-enrollment: in the same transaction every
//! certificate issued to that cluster before is revoked, so only the agent that just enrolled
//! holds a working identity (a copy of the old one, e.g. from a reinstalled cluster's backup,
//! stops working at once, and a session still using it is closed by the transport's check).

use std::fmt;

use chrono::{DateTime, Utc};
use kubeworkz_shared::ids::{ClusterId, OrgId};
use kubeworkz_shared::protocol::SecretHash;

mod links;

use tracing::instrument;

use crate::store::clusters::{self, ClusterMode, Environment, NewCluster, revoke_certificates};
use crate::store::ingest::Cursor;
use crate::store::sql::{Cells, Sql, Ty, Value, revoke_rows};
use crate::store::{Store, StoreError, in_tx, on_conn};
pub use links::{AgentLink, CertificateStanding, SessionCertificate, SessionLink};

/// A token to store. Only the hash of its secret is kept.
#[derive(Debug, Clone)]
pub struct NewEnrollmentToken {
    /// The token's public id (it names the token in logs and in `token revoke`).
    pub id: String,
    /// The organization the cluster will belong to.
    pub org_id: OrgId,
    /// SHA-256 of the secret.
    pub secret_hash: SecretHash,
    /// The cluster the redeeming agent speaks for (created on first redemption).
    pub cluster_name: String,
    /// Environment of that cluster.
    pub environment: Environment,
    /// Tags of that cluster.
    pub tags: Vec<String>,
    /// Whether the token may be redeemed more than once (e.g. reinstalls).
    pub reusable: bool,
    /// After this, redemption is refused.
    pub expires_at: DateTime<Utc>,
    /// Who created it (for the audit trail).
    pub created_by: Option<String>,
}

/// A stored token as listed: never the secret or its hash.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnrollmentTokenInfo {
    /// Public id.
    pub id: String,
    /// Organization.
    pub org_id: OrgId,
    /// The cluster it enrolls.
    pub cluster_name: String,
    /// That cluster's environment.
    pub environment: Environment,
    /// That cluster's tags.
    pub tags: Vec<String>,
    /// Redeemable more than once.
    pub reusable: bool,
    /// Creator.
    pub created_by: Option<String>,
    /// Creation time.
    pub created_at: DateTime<Utc>,
    /// Expiry.
    pub expires_at: DateTime<Utc>,
    /// First redemption.
    pub used_at: Option<DateTime<Utc>>,
    /// How many times it was redeemed.
    pub uses: u64,
    /// Revocation time.
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A successful redemption.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Redemption {
    /// The cluster's organization.
    pub org_id: OrgId,
    /// The agent-mode cluster the agent now speaks for.
    pub cluster_id: ClusterId,
    /// Whether this redemption created the cluster (false: an existing agent cluster).
    pub created: bool,
    /// Certificates of the existing cluster this redemption revoked (re-enrollment).
    pub revoked_certificates: u64,
}

/// What the agent transport needs to know about a cluster, found by id alone (an agent's
/// certificate names the cluster, not its organization).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AgentCluster {
    /// The owning organization, for every scoped store call that follows.
    pub org_id: OrgId,
    /// Whether it may connect.
    pub enabled: bool,
    /// Agent or pull mode.
    pub mode: ClusterMode,
    /// The last ingested `(epoch, seq)`, if anything was ingested.
    pub cursor: Option<Cursor>,
}

/// A client certificate to record (serial as lowercase hex).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewIssuedCertificate {
    /// The cluster it names.
    pub cluster_id: ClusterId,
    /// Serial number, hex.
    pub serial: String,
    /// Validity start.
    pub not_before: DateTime<Utc>,
    /// Validity end.
    pub not_after: DateTime<Utc>,
}

/// The hub CA as stored: certificate, and the key sealed under the master key.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredCa {
    /// CA certificate, DER.
    pub cert_der: Vec<u8>,
    /// The sealed CA key (see `HubCa::to_parts`).
    pub key_sealed: Vec<u8>,
    /// Id of the master key that sealed it.
    pub key_id: String,
}

impl fmt::Debug for StoredCa {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredCa")
            .field("cert_der", &format_args!("{} bytes", self.cert_der.len()))
            .field("key_sealed", &"<sealed>")
            .field("key_id", &self.key_id)
            .finish()
    }
}

const TOKEN_COLUMNS: [Ty; 12] = [
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Text,
    Ty::Bool,
    Ty::OptText,
    Ty::Time,
    Ty::Time,
    Ty::OptTime,
    Ty::I64,
    Ty::OptTime,
];

fn token_select(db: &dyn Sql) -> String {
    let d = db.dialect();
    format!(
        "SELECT id, {}, cluster_name, environment, {}, reusable, created_by, created_at, \
         expires_at, used_at, CAST(uses AS BIGINT), revoked_at FROM enrollment_tokens",
        d.text("org_id"),
        d.text("tags")
    )
}

fn token_from(row: Vec<Value>) -> Result<EnrollmentTokenInfo, StoreError> {
    let mut c = Cells::new(row);
    Ok(EnrollmentTokenInfo {
        id: c.text()?,
        org_id: OrgId::from_uuid(c.uuid()?),
        cluster_name: c.text()?,
        environment: c.text()?.parse().map_err(|_| {
            StoreError::Query(crate::store::sql::decode_error("unknown environment"))
        })?,
        tags: c.json()?,
        reusable: c.bool()?,
        created_by: c.opt_text()?,
        created_at: c.time()?,
        expires_at: c.time()?,
        used_at: c.opt_time()?,
        uses: c.i64()?.max(0) as u64,
        revoked_at: c.opt_time()?,
    })
}

async fn token(db: &mut dyn Sql, id: &str) -> Result<Option<EnrollmentTokenInfo>, StoreError> {
    let sql = format!("{} WHERE id = {}", token_select(db), db.dialect().ph(1));
    db.fetch(&sql, vec![Value::Text(id.to_owned())], &TOKEN_COLUMNS)
        .await?
        .into_iter()
        .next()
        .map(token_from)
        .transpose()
}

/// The stored hub CA, if any.
pub(crate) async fn hub_ca(db: &mut dyn Sql) -> Result<Option<StoredCa>, StoreError> {
    let rows = db
        .fetch(
            "SELECT cert_der, key_sealed, key_id FROM hub_ca WHERE id = 1",
            vec![],
            &[Ty::OptBytes, Ty::OptBytes, Ty::Text],
        )
        .await?;
    let Some(row) = rows.into_iter().next() else {
        return Ok(None);
    };
    let mut c = Cells::new(row);
    Ok(Some(StoredCa {
        cert_der: c.opt_bytes()?.unwrap_or_default(),
        key_sealed: c.opt_bytes()?.unwrap_or_default(),
        key_id: c.text()?,
    }))
}

impl Store {
    /// Stores a new enrollment token (its secret only as a hash).
    #[instrument(skip_all)]
    pub async fn create_enrollment_token(
        &self,
        new: &NewEnrollmentToken,
    ) -> Result<EnrollmentTokenInfo, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO enrollment_tokens (id, org_id, cluster_name, environment, tags, \
         secret_hash, reusable, created_by, created_at, expires_at) \
         VALUES ({}, {}, {}, {}, {}, {}, {}, {}, {}, {})",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.json_ph(5),
                d.ph(6),
                d.ph(7),
                d.ph(8),
                d.ph(9),
                d.ph(10)
            );
            db.execute(
                &sql,
                vec![
                    Value::Text(new.id.clone()),
                    Value::Id(*new.org_id.as_uuid()),
                    Value::Text(new.cluster_name.clone()),
                    Value::Text(new.environment.as_str().to_owned()),
                    Value::Text(serde_json::to_string(&new.tags).expect("tags serialize")),
                    Value::Bytes(new.secret_hash.as_bytes().to_vec()),
                    Value::Bool(new.reusable),
                    Value::OptText(new.created_by.clone()),
                    Value::Time(Utc::now()),
                    Value::Time(new.expires_at),
                ],
            )
            .await?;
            token(db, &new.id)
                .await?
                .ok_or(StoreError::EnrollmentTokenUnknown)
        })
    }

    /// The organization's enrollment tokens, newest first (never their hashes).
    #[instrument(skip_all)]
    pub async fn enrollment_tokens(
        &self,
        org: OrgId,
    ) -> Result<Vec<EnrollmentTokenInfo>, StoreError> {
        on_conn!(self, |db| async {
            let sql = format!(
                "{} WHERE org_id = {} ORDER BY created_at DESC, id",
                token_select(db),
                db.dialect().ph(1)
            );
            db.fetch(&sql, vec![Value::Id(*org.as_uuid())], &TOKEN_COLUMNS)
                .await?
                .into_iter()
                .map(token_from)
                .collect()
        })
    }

    /// Revokes a token of the organization. False when there is no such unrevoked token.
    #[instrument(skip_all)]
    pub async fn revoke_enrollment_token(&self, org: OrgId, id: &str) -> Result<bool, StoreError> {
        in_tx!(self, |db| async {
            let id = Value::Text(id.to_owned());
            Ok(revoke_rows(db, "enrollment_tokens", "id", *org.as_uuid(), id).await? > 0)
        })
    }

    /// Redeems a token atomically: checks secret, revocation, expiry and use, counts the use,
    /// and creates the agent-mode cluster it names (or reuses that agent cluster). Refusals
    /// are the `EnrollmentToken*` and [`StoreError::ClusterDisabled`] errors.
    #[instrument(skip_all)]
    pub async fn redeem_enrollment_token(
        &self,
        id: &str,
        presented: &SecretHash,
        now: DateTime<Utc>,
    ) -> Result<Redemption, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let rows = db
                .fetch(
                    &format!(
                        "SELECT secret_hash FROM enrollment_tokens WHERE id = {}",
                        d.ph(1)
                    ),
                    vec![Value::Text(id.to_owned())],
                    &[Ty::OptBytes],
                )
                .await?;
            let stored = rows
                .into_iter()
                .next()
                .map(|row| Cells::new(row).opt_bytes())
                .transpose()?
                .flatten()
                .and_then(|bytes| <[u8; 32]>::try_from(bytes).ok())
                .map(SecretHash::from_bytes);
            // Constant-time comparison; a wrong secret looks exactly like an unknown id.
            if stored.as_ref() != Some(presented) {
                return Err(StoreError::EnrollmentTokenUnknown);
            }
            let info = token(db, id)
                .await?
                .ok_or(StoreError::EnrollmentTokenUnknown)?;
            if info.revoked_at.is_some() {
                return Err(StoreError::EnrollmentTokenRevoked);
            }
            if info.expires_at <= now {
                return Err(StoreError::EnrollmentTokenExpired);
            }
            let claimed = db
        .execute(
            &format!(
                "UPDATE enrollment_tokens SET uses = uses + 1, used_at = COALESCE(used_at, {}) \
                 WHERE id = {} AND revoked_at IS NULL AND (reusable OR uses = 0)",
                d.ph(1),
                d.ph(2)
            ),
            vec![Value::Time(now), Value::Text(id.to_owned())],
        )
        .await?;
            if claimed == 0 {
                return Err(StoreError::EnrollmentTokenUsed);
            }
            let existing = db
        .fetch(
            &format!(
                "SELECT {}, mode, enabled FROM k8s_clusters WHERE org_id = {} AND name = {}",
                d.text("id"),
                d.ph(1),
                d.ph(2)
            ),
            vec![
                Value::Id(*info.org_id.as_uuid()),
                Value::Text(info.cluster_name.clone()),
            ],
            &[Ty::Text, Ty::Text, Ty::Bool],
        )
        .await?;
            if let Some(row) = existing.into_iter().next() {
                let mut c = Cells::new(row);
                let cluster_id = ClusterId::from_uuid(c.uuid()?);
                let mode = c.text()?;
                let enabled = c.bool()?;
                if ClusterMode::parse(&mode) != Some(ClusterMode::Agent) {
                    return Err(StoreError::ClusterNotAgentMode(info.cluster_name));
                }
                if !enabled {
                    return Err(StoreError::ClusterDisabled);
                }
                let revoked_certificates = revoke_certificates(db, info.org_id, cluster_id).await?;
                return Ok(Redemption {
                    org_id: info.org_id,
                    cluster_id,
                    created: false,
                    revoked_certificates,
                });
            }
            let cluster = clusters::create_cluster(
                db,
                &NewCluster {
                    id: ClusterId::new(),
                    org_id: info.org_id,
                    name: info.cluster_name,
                    description: String::new(),
                    environment: info.environment,
                    tags: info.tags,
                    mode: ClusterMode::Agent,
                    api_server_url: None,
                    provider: None,
                    version: None,
                    kubeconfig: None,
                    created_by: Some(format!("enrollment token {}", info.id)),
                },
            )
            .await?;
            Ok(Redemption {
                org_id: info.org_id,
                cluster_id: cluster.id,
                created: true,
                revoked_certificates: 0,
            })
        })
    }

    /// Records a client certificate issued to an agent.
    #[instrument(skip_all)]
    pub async fn record_issued_certificate(
        &self,
        cert: &NewIssuedCertificate,
    ) -> Result<(), StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO issued_certificates (serial, org_id, cluster_id, not_before, not_after, \
         issued_at) SELECT {}, org_id, id, {}, {}, {} FROM k8s_clusters WHERE id = {}",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4),
                d.ph(5)
            );
            let n = db
                .execute(
                    &sql,
                    vec![
                        Value::Text(cert.serial.clone()),
                        Value::Time(cert.not_before),
                        Value::Time(cert.not_after),
                        Value::Time(Utc::now()),
                        Value::Id(*cert.cluster_id.as_uuid()),
                    ],
                )
                .await?;
            if n == 0 {
                return Err(StoreError::ClusterNotFound);
            }
            Ok(())
        })
    }

    /// A cluster's organization, state and ingest cursor, by cluster id alone: what an agent
    /// connection (which knows only the id from its certificate) needs.
    #[instrument(skip_all)]
    pub async fn agent_cluster(
        &self,
        cluster: ClusterId,
    ) -> Result<Option<AgentCluster>, StoreError> {
        on_conn!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "SELECT {}, enabled, mode, ingest_epoch, ingest_seq FROM k8s_clusters WHERE id = {}",
                d.text("org_id"),
                d.ph(1)
            );
            let rows = db
                .fetch(
                    &sql,
                    vec![Value::Id(*cluster.as_uuid())],
                    &[Ty::Text, Ty::Bool, Ty::Text, Ty::OptI64, Ty::OptI64],
                )
                .await?;
            let Some(row) = rows.into_iter().next() else {
                return Ok(None);
            };
            let mut c = Cells::new(row);
            let org_id = OrgId::from_uuid(c.uuid()?);
            let enabled = c.bool()?;
            let mode = ClusterMode::parse(&c.text()?).ok_or_else(|| {
                StoreError::Query(crate::store::sql::decode_error("unknown mode"))
            })?;
            // Stored as i64 bit patterns: epochs are random u64s.
            let cursor = match (c.opt_i64()?, c.opt_i64()?) {
                (Some(epoch), seq) => Some(Cursor {
                    epoch: epoch as u64,
                    seq: seq.unwrap_or(0) as u64,
                }),
                _ => None,
            };
            Ok(Some(AgentCluster {
                org_id,
                enabled,
                mode,
                cursor,
            }))
        })
    }

    /// The hub CA, if one was stored.
    #[instrument(skip_all)]
    pub async fn hub_ca(&self) -> Result<Option<StoredCa>, StoreError> {
        on_conn!(self, |db| hub_ca(db))
    }

    /// Stores the hub CA unless one exists, and returns the stored one (first writer wins).
    #[instrument(skip_all)]
    pub async fn insert_hub_ca(&self, ca: &StoredCa) -> Result<StoredCa, StoreError> {
        in_tx!(self, |db| async {
            let d = db.dialect();
            let sql = format!(
                "INSERT INTO hub_ca (id, cert_der, key_sealed, key_id, created_at) \
         VALUES (1, {}, {}, {}, {}) ON CONFLICT (id) DO NOTHING",
                d.ph(1),
                d.ph(2),
                d.ph(3),
                d.ph(4)
            );
            db.execute(
                &sql,
                vec![
                    Value::Bytes(ca.cert_der.clone()),
                    Value::Bytes(ca.key_sealed.clone()),
                    Value::Text(ca.key_id.clone()),
                    Value::Time(Utc::now()),
                ],
            )
            .await?;
            hub_ca(db).await?.ok_or_else(|| {
                StoreError::Query(crate::store::sql::decode_error("hub CA vanished"))
            })
        })
    }
}
