-- Accounts: users can be disabled, and an email is unique per organization instead of
-- across the database, so creating a user never reveals that another organization has that
-- email (the same address in two organizations is two separate users).
--
-- SQLite cannot drop a UNIQUE constraint, so `users` is rebuilt. Foreign keys are on while
-- migrations run, and dropping a table deletes its rows first, which would cascade to
-- `sessions` and `api_tokens`; so those two are rebuilt first, pointing at the new table,
-- and the old ones are dropped before the old `users`. Renaming `users_next` to `users`
-- renames the references to it as well. Every row and every foreign key is kept.
CREATE TABLE users_next (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    email           TEXT NOT NULL,
    password_hash   TEXT NOT NULL,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at      TEXT NOT NULL,
    disabled_at     TEXT,
    UNIQUE (org_id, email)
) STRICT;
INSERT INTO users_next (id, org_id, email, password_hash, role, created_at)
SELECT id, org_id, email, password_hash, role, created_at FROM users;

CREATE TABLE sessions_next (
    token_hash      BLOB PRIMARY KEY,
    user_id         TEXT NOT NULL REFERENCES users_next (id) ON DELETE CASCADE,
    org_id          TEXT NOT NULL,
    csrf_hash       BLOB NOT NULL,
    created_at      TEXT NOT NULL,
    expires_at      TEXT NOT NULL
) STRICT;
INSERT INTO sessions_next SELECT token_hash, user_id, org_id, csrf_hash, created_at, expires_at
FROM sessions;

CREATE TABLE api_tokens_next (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    user_id         TEXT REFERENCES users_next (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    token_hash      BLOB NOT NULL UNIQUE,
    role            TEXT NOT NULL CHECK (role IN ('admin', 'viewer')),
    created_at      TEXT NOT NULL,
    expires_at      TEXT,
    revoked_at      TEXT
) STRICT;
INSERT INTO api_tokens_next
SELECT id, org_id, user_id, name, token_hash, role, created_at, expires_at, revoked_at
FROM api_tokens;

DROP TABLE sessions;
DROP TABLE api_tokens;
DROP TABLE users;
ALTER TABLE users_next RENAME TO users;
ALTER TABLE sessions_next RENAME TO sessions;
ALTER TABLE api_tokens_next RENAME TO api_tokens;

-- Logging a user out everywhere (password reset, disabling, removal) deletes their sessions.
CREATE INDEX sessions_user ON sessions (user_id);
-- Login without an organization finds an email's users in every organization.
CREATE INDEX users_email ON users (email);
-- Demotion, password reset and removal write a user's tokens.
CREATE INDEX api_tokens_user ON api_tokens (user_id);
