-- Organizations: the unit of isolation. Every other table reaches one.
-- UUIDs are stored as canonical text; times as RFC 3339 text (UTC).
CREATE TABLE organizations (
    id          TEXT PRIMARY KEY NOT NULL,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 63),
    created_at  TEXT NOT NULL
) STRICT;
