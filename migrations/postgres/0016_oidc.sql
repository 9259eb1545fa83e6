-- Single sign-on with OpenID Connect: providers per organization, their group-to-role
-- mappings, identities linked to users, logins in flight and the identity provider's refresh
-- token per session. Secrets (client secret, PKCE verifier, refresh token) are sealed with
-- the master key, as kubeconfigs are. Roles carry no CHECK here: the users table keeps the
-- list of roles, and a mapping names a role a user gets.

-- Set when an organization signs its people in through its identity providers only.
ALTER TABLE organizations ADD COLUMN password_login_disabled_at TIMESTAMPTZ;

CREATE TABLE oidc_providers (
    id                  UUID PRIMARY KEY,
    org_id              UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    -- Short name, unique in the organization: the login URL's path segment.
    name                TEXT NOT NULL,
    display_name        TEXT NOT NULL,
    issuer              TEXT NOT NULL,
    client_id           TEXT NOT NULL,
    client_secret_sealed BYTEA NOT NULL,
    -- Space-separated, as OAuth 2 writes scopes.
    scopes              TEXT NOT NULL,
    groups_claim        TEXT NOT NULL,
    email_claim         TEXT NOT NULL,
    -- The role of a user in none of the mapped groups; NULL refuses them.
    default_role        TEXT,
    created_at          TIMESTAMPTZ NOT NULL,
    UNIQUE (org_id, name)
);

CREATE TABLE oidc_group_roles (
    provider_id         UUID NOT NULL REFERENCES oidc_providers (id) ON DELETE CASCADE,
    org_id              UUID NOT NULL,
    group_name          TEXT NOT NULL,
    role                TEXT NOT NULL,
    PRIMARY KEY (provider_id, group_name)
);

-- Who a provider's subject is in the organization: found by (provider, subject) on every
-- login, so an email change at the identity provider keeps the same user.
CREATE TABLE oidc_identities (
    provider_id         UUID NOT NULL REFERENCES oidc_providers (id) ON DELETE CASCADE,
    subject             TEXT NOT NULL,
    org_id              UUID NOT NULL,
    issuer              TEXT NOT NULL,
    user_id             UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at          TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (provider_id, subject)
);
CREATE INDEX oidc_identities_user ON oidc_identities (user_id);

-- A login between the redirect to the provider and its callback: taken (deleted) by the
-- callback, so a replayed callback finds nothing.
CREATE TABLE oidc_logins (
    state_hash          BYTEA PRIMARY KEY,
    org_id              UUID NOT NULL,
    provider_id         UUID NOT NULL REFERENCES oidc_providers (id) ON DELETE CASCADE,
    nonce               TEXT NOT NULL,
    pkce_verifier_sealed BYTEA NOT NULL,
    created_at          TIMESTAMPTZ NOT NULL,
    expires_at          TIMESTAMPTZ NOT NULL
);

-- The provider's side of a session signed in through it.
CREATE TABLE oidc_sessions (
    token_hash          BYTEA PRIMARY KEY REFERENCES sessions (token_hash) ON DELETE CASCADE,
    org_id              UUID NOT NULL,
    provider_id         UUID NOT NULL REFERENCES oidc_providers (id) ON DELETE CASCADE,
    refresh_token_sealed BYTEA,
    id_token_sealed     BYTEA NOT NULL,
    -- When the provider's tokens are to be renewed.
    renew_at            TIMESTAMPTZ NOT NULL
);
