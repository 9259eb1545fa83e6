-- Inventory `data` (each object's projection, which reads return as it is) becomes `json`:
-- nothing queries inside it, and `jsonb` cost a full parse into the binary form on every
-- upsert (jsonb_in: 6% of the server's time under ingest churn) and a serialization back to
-- text on every read. `json` checks the text and stores it unchanged. Partitions follow
-- their partitioned table. SQLite stores JSON as text already.
ALTER TABLE k8s_nodes ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_namespaces ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_deployments ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_pods ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_pvcs ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_persistent_volumes ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_storage_classes ALTER COLUMN data TYPE json USING data::json;
ALTER TABLE k8s_helm_releases ALTER COLUMN data TYPE json USING data::json;
