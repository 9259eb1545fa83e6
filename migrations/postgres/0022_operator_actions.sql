-- The operator role, the organization's operation switches, the change an audited action
-- made, and the idempotency keys of workload actions.
ALTER TABLE users DROP CONSTRAINT users_role_check;
ALTER TABLE users ADD CONSTRAINT users_role_check
    CHECK (role IN ('admin', 'operator', 'viewer'));
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check
    CHECK (role IN ('admin', 'operator', 'viewer'));

-- Set when the organization's viewers may not read pods' logs and objects' events (they may
-- by default, as Kubernetes' own `view` role does).
ALTER TABLE organizations ADD COLUMN viewer_logs_disabled_at TIMESTAMPTZ;
-- Set when the organization's operators may open a terminal in a container (admins only by
-- default).
ALTER TABLE organizations ADD COLUMN operator_exec_enabled_at TIMESTAMPTZ;

-- What an audited action changed, or why it failed, in words (never a secret).
ALTER TABLE audit_log ADD COLUMN detail TEXT;

-- A workload action's idempotency key: claimed before the action runs (status NULL), then
-- holding its answer, so a retry with the same key is answered without acting again.
CREATE TABLE action_requests (
    org_id          UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         UUID NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    BYTEA NOT NULL,
    status          INTEGER,
    body            TEXT,
    created_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, user_id, idempotency_key)
);
