-- From cost to savings (issue 28): node-based prices.
--
-- Each cost row records what priced it: the pricing mode ('unit' or 'node') and, in the node
-- mode, the date of the price catalog. Rows computed before this migration have neither.
-- GPUs are priced in the node mode: requested GPU-seconds and their cost per row (the idle row
-- holds the unrequested GPU capacity).
ALTER TABLE k8s_cost_attribution ADD COLUMN gpu_requested_gs BIGINT NOT NULL DEFAULT 0;
ALTER TABLE k8s_cost_attribution ADD COLUMN gpu_cost_nanos BIGINT NOT NULL DEFAULT 0;
ALTER TABLE k8s_cost_attribution ADD COLUMN pricing_mode TEXT CHECK (pricing_mode IN ('unit', 'node'));
ALTER TABLE k8s_cost_attribution ADD COLUMN price_catalog_date TEXT;

-- The pricing mode of an organization (scope_key '') or of one cluster (its id), which wins.
CREATE TABLE cost_pricing_modes (
    org_id      UUID NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    scope       TEXT NOT NULL CHECK (scope IN ('organization', 'cluster')),
    scope_key   TEXT NOT NULL,
    mode        TEXT NOT NULL CHECK (mode IN ('unit', 'node')),
    updated_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (org_id, scope, scope_key)
);

-- An organization's node price catalog, loaded over the shipped one: the file as loaded (it
-- is parsed again when prices are read, so the format stays one parser's) and its date.
CREATE TABLE cost_price_catalogs (
    org_id          UUID PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    body            TEXT NOT NULL,
    catalog_date    TEXT NOT NULL,
    updated_at      TIMESTAMPTZ NOT NULL
);
