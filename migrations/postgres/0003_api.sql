-- REST API: detail endpoints find namespaces, deployments and pods by their uid alone (the
-- id the API shows); the organization is checked on the row found.
CREATE INDEX k8s_namespaces_by_uid ON k8s_namespaces (uid);
CREATE INDEX k8s_deployments_by_uid ON k8s_deployments (uid);
CREATE INDEX k8s_pods_by_uid ON k8s_pods (uid);
-- Audit reads filter by action within an organization, newest first.
CREATE INDEX audit_log_org_action_at ON audit_log (org_id, action, at);
-- Logging a user out everywhere (password reset, removal) deletes their sessions.
CREATE INDEX sessions_user ON sessions (user_id);
