-- Organizations: the unit of isolation. Every other table reaches one.
CREATE TABLE organizations (
    id          UUID PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE CHECK (length(name) BETWEEN 1 AND 63),
    created_at  TIMESTAMPTZ NOT NULL DEFAULT now()
);
