-- Accounts: users can be disabled, and an email is unique per organization instead of
-- across the database, so creating a user never reveals that another organization has that
-- email (the same address in two organizations is two separate users).
ALTER TABLE users ADD COLUMN disabled_at TIMESTAMPTZ;
ALTER TABLE users DROP CONSTRAINT users_email_key;
ALTER TABLE users ADD CONSTRAINT users_org_id_email_key UNIQUE (org_id, email);
-- Login without an organization finds an email's users in every organization.
CREATE INDEX users_email ON users (email);
-- Demotion, password reset and removal write a user's tokens (and deleting a user cascades
-- to them).
CREATE INDEX api_tokens_user ON api_tokens (user_id);
