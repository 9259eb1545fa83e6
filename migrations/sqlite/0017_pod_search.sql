-- Pods searchable by status, labels and images (`store::search`). `status` is what
-- `kubectl get pods` prints (`CrashLoopBackOff`, `Init:0/1`, `Terminating`, else the phase),
-- computed by ingest from the projection (`pod_status`); `search_labels` and `search_images`
-- have the format of 0014. Existing rows were stored by agents that sent no labels, images or
-- container states, so their status is the phase, or `Terminating` once deletion was requested
-- of a pod that had not finished, and their labels and images are empty until the next upsert.
ALTER TABLE k8s_pods ADD COLUMN status TEXT NOT NULL DEFAULT '';
ALTER TABLE k8s_pods ADD COLUMN search_labels TEXT NOT NULL DEFAULT '';
ALTER TABLE k8s_pods ADD COLUMN search_images TEXT NOT NULL DEFAULT '';

UPDATE k8s_pods SET status = CASE
    WHEN json_extract(data, '$.deleted') IS NOT NULL AND phase NOT IN ('Succeeded', 'Failed')
        THEN 'Terminating'
    ELSE phase END;

-- `status:CrashLoopBackOff` by equality (the search binds the spellings a status may have).
-- Status leads for the reason 0015 gives for phase.
CREATE INDEX k8s_pods_status ON k8s_pods (status, org_id) WHERE deleted_at IS NULL;
