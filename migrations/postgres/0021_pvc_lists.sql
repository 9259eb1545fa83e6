-- A claim's bound capacity as a column, so the PVC lists sort by it (`sort=capacity`) the way
-- they sort by phase or storage class: a column of the row, read with it, never parsed out
-- of the projection per row. Ingest writes it from the projection's `capacity_bytes`; the
-- claims already stored take theirs from their projection here.
ALTER TABLE k8s_pvcs ADD COLUMN capacity_bytes BIGINT;

UPDATE k8s_pvcs SET capacity_bytes = (data ->> 'capacity_bytes')::bigint;
