-- Budgets, cost alerts and signed webhooks (issue 28).
--
-- A budget is a monthly amount for one namespace, team, cost center or cluster of an
-- organization. An alert is recorded once per dedup key (a budget's threshold in a month, an
-- anomaly's key and hour), which is what makes each fire once however often the evaluation
-- runs. A delivery is one alert (or test) bound for one webhook endpoint, kept until it is
-- delivered or given up, so a hub restart loses nothing; each attempt is recorded.

CREATE TABLE cost_budgets (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    scope_kind      TEXT NOT NULL CHECK (scope_kind IN ('namespace', 'team', 'cost_center', 'cluster')),
    scope_key       TEXT NOT NULL,
    amount_nanos    INTEGER NOT NULL CHECK (amount_nanos > 0),
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

-- An organization's anomaly rule: an hour costs more than factor × its baseline (in
-- thousandths: 2000 is 2×) and at least min_cost. No row: the defaults.
CREATE TABLE cost_alert_settings (
    org_id              TEXT PRIMARY KEY REFERENCES organizations (id) ON DELETE CASCADE,
    anomaly_factor_milli INTEGER NOT NULL CHECK (anomaly_factor_milli > 1000),
    anomaly_min_nanos   INTEGER NOT NULL CHECK (anomaly_min_nanos >= 0),
    updated_at          TEXT NOT NULL
) STRICT;

-- Alerts. budget_id has no foreign key: a deleted budget's alerts stay in the history.
CREATE TABLE cost_alerts (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    dedup_key       TEXT NOT NULL,
    kind            TEXT NOT NULL CHECK (kind IN ('budget_actual', 'budget_forecast', 'anomaly')),
    budget_id       TEXT,
    scope_kind      TEXT NOT NULL,
    scope_key       TEXT NOT NULL,
    period_start    TEXT NOT NULL,
    threshold_pct   INTEGER,
    value_nanos     INTEGER NOT NULL,
    reference_nanos INTEGER NOT NULL,
    message         TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    UNIQUE (org_id, dedup_key)
) STRICT;
CREATE INDEX cost_alerts_org_created ON cost_alerts (org_id, created_at, id);

CREATE TABLE webhook_endpoints (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    name            TEXT NOT NULL,
    url             TEXT NOT NULL,
    format          TEXT NOT NULL CHECK (format IN ('json', 'slack')),
    secret_sealed   BLOB NOT NULL,
    enabled         INTEGER NOT NULL,
    created_at      TEXT NOT NULL,
    updated_at      TEXT NOT NULL,
    UNIQUE (org_id, name)
) STRICT;

CREATE TABLE webhook_deliveries (
    id              TEXT PRIMARY KEY,
    org_id          TEXT NOT NULL REFERENCES organizations (id) ON DELETE CASCADE,
    endpoint_id     TEXT NOT NULL REFERENCES webhook_endpoints (id) ON DELETE CASCADE,
    alert_id        TEXT REFERENCES cost_alerts (id) ON DELETE CASCADE,
    event           TEXT NOT NULL,
    body            TEXT NOT NULL,
    status          TEXT NOT NULL CHECK (status IN ('pending', 'delivered', 'failed')),
    attempts        INTEGER NOT NULL,
    next_attempt_at TEXT NOT NULL,
    created_at      TEXT NOT NULL,
    finished_at     TEXT
) STRICT;
CREATE INDEX webhook_deliveries_due ON webhook_deliveries (status, next_attempt_at);
CREATE INDEX webhook_deliveries_alert ON webhook_deliveries (alert_id);

CREATE TABLE webhook_attempts (
    delivery_id     TEXT NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    attempt         INTEGER NOT NULL,
    at              TEXT NOT NULL,
    status_code     INTEGER,
    error           TEXT,
    duration_ms     INTEGER NOT NULL,
    PRIMARY KEY (delivery_id, attempt)
) STRICT;
