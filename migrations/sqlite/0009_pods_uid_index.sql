-- `k8s_pods_uid (cluster_id, uid)` repeats the first two columns of the primary key
-- `(cluster_id, uid, created_at)`, which serves every lookup it served. Each pod insert
-- maintained it for nothing: one index fewer to write under ingest churn.
DROP INDEX IF EXISTS k8s_pods_uid;
