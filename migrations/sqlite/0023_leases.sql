-- Hub replicas share work through leases (issue 27).
--
-- A lease names one piece of work (`worker:cost`, `pull:<cluster id>`); its holder is the
-- replica doing it until `expires_ms`, and `token` grows every time it changes hands, so a
-- write carrying an older token is refused (fencing). Times are milliseconds since the Unix
-- epoch on the database's clock, so replicas' clocks do not matter. A released lease keeps
-- its row (holder '') so its token never goes back.
CREATE TABLE hub_leases (
    name          TEXT PRIMARY KEY,
    holder        TEXT NOT NULL,
    token         INTEGER NOT NULL,
    acquired_ms   INTEGER NOT NULL,
    expires_ms    INTEGER NOT NULL
);

-- Each running hub process (replica) and when it was last heard from: the live set is the
-- replicas heard from within the lease TTL.
CREATE TABLE hub_replicas (
    id            TEXT PRIMARY KEY,
    started_ms    INTEGER NOT NULL,
    heartbeat_ms  INTEGER NOT NULL
);
