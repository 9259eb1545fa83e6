-- no-transaction
-- The operator role, the organization's operation switches, the change an audited action
-- made, and the idempotency keys of workload actions.
--
-- `users` and `api_tokens` list their roles in a CHECK, which SQLite cannot alter, so both
-- are rebuilt. Dropping `users` with foreign keys on would first delete its rows and cascade
-- to sessions, tokens and SSO identities, so this migration runs outside sqlx's transaction
-- and turns foreign keys off around its own (SQLite ignores that pragma inside one), as
-- SQLite's documented table rebuild does. `foreign_key_check` fails the migration if any
-- reference would dangle.
PRAGMA foreign_keys = OFF;
BEGIN IMMEDIATE;

CREATE TABLE users_next (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at      TEXT NOT NULL,
    disabled_at     TEXT,
    UNIQUE (org_id, email)
) STRICT;
INSERT INTO users_next (id, org_id, email, password_hash, role, created_at, disabled_at)
SELECT id, org_id, email, password_hash, role, created_at, disabled_at FROM users;
DROP TABLE users;
ALTER TABLE users_next RENAME TO users;
CREATE INDEX users_email ON users (email);

CREATE TABLE api_tokens_next (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT REFERENCES users (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'operator', 'viewer')),
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT
) STRICT;
INSERT INTO api_tokens_next
SELECT id, org_id, user_id, name, token_hash, role, created_at, expires_at, revoked_at
FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_next RENAME TO api_tokens;
CREATE INDEX api_tokens_user ON api_tokens (user_id);

-- Set when the organization's viewers may not read pods' logs and objects' events (they may
-- by default, as Kubernetes' own `view` role does).
ALTER TABLE organizations ADD COLUMN viewer_logs_disabled_at TEXT;
-- Set when the organization's operators may open a terminal in a container (admins only by
-- default).
ALTER TABLE organizations ADD COLUMN operator_exec_enabled_at TEXT;

-- What an audited action changed, or why it failed, in words (never a secret).
ALTER TABLE audit_log ADD COLUMN detail TEXT;

-- A workload action's idempotency key: claimed before the action runs (status NULL), then
-- holding its answer, so a retry with the same key is answered without acting again.
CREATE TABLE action_requests (
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT NOT NULL,
    idempotency_key TEXT NOT NULL,
    request_hash    BLOB NOT NULL,
    status          INTEGER,
    body            TEXT,
    created_at      TEXT NOT NULL,
    PRIMARY KEY (org_id, user_id, idempotency_key)
) STRICT;

PRAGMA foreign_key_check;
COMMIT;
PRAGMA foreign_keys = ON;
