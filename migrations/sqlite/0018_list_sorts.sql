-- Pods of a namespace by restarts (`sort=restarts` / `-restarts`, `store::inventory::sort`):
-- the namespace's live pods in restart order, then by name and uid, so a page is a range of
-- the index in either direction and a keyset page continues by seeking (restarts, name, uid)
-- in index order without a sort, however many pods tie on a count (most never restart). The
-- other sorts of a namespace's pods read the namespace's rows by the
-- `(cluster_id, namespace, name)` index and sort them.
CREATE INDEX k8s_pods_restarts ON k8s_pods (cluster_id, namespace, restarts, name, uid)
    WHERE deleted_at IS NULL;
