-- Search at a million pods (`store::search`).
--
-- Status in name order: a page of `status:CrashLoopBackOff` is the first rows of this index
-- in the answer's order (by name, merged across the monthly partitions) instead of every
-- match sorted. It replaces 0017's `(status, org_id)`, which it serves as well.
DROP INDEX k8s_pods_status;
CREATE INDEX k8s_pods_status_name ON k8s_pods (status, org_id, name) WHERE deleted_at IS NULL;
-- Namespaces by name and labels: trigram indexes as 0015 made for deployments, so a search
-- reads the few that match instead of every namespace of the fleet.
CREATE INDEX k8s_namespaces_name_trgm ON k8s_namespaces USING gin (name gin_trgm_ops)
    WHERE deleted_at IS NULL;
CREATE INDEX k8s_namespaces_labels_trgm ON k8s_namespaces
    USING gin (search_labels gin_trgm_ops) WHERE deleted_at IS NULL;
