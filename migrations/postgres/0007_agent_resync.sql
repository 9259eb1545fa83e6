-- "Sync now" for an agent-mode cluster: the API records the request here, and whichever hub
-- replica holds the agent's connection sends it `ResyncNow` on its next check (every few
-- seconds) and clears the mark it sent. A store column rather than an in-process call,
-- because the replica that answers the API request need not hold the connection.
ALTER TABLE k8s_clusters ADD COLUMN resync_requested_at TIMESTAMPTZ;
