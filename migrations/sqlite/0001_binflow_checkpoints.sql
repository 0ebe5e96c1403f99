-- binflow's checkpoint table: for each flow, how far it has applied the
-- upstream binlog. A flow's derived rows and its checkpoint row are written in
-- one transaction (design.md section 3). Flow names compare byte for byte
-- (SQLite's BINARY collation). Times are TEXT in UTC,
-- 'YYYY-MM-DD HH:MM:SS.ffffff' (see connectors/sqlite). STRICT: a value of
-- the wrong type is an error, never converted.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_checkpoints (
    flow         TEXT    NOT NULL CHECK (length(flow) <= 191),
    binlog_file  TEXT    NOT NULL CHECK (length(binlog_file) <= 255),
    binlog_pos   INTEGER NOT NULL CHECK (binlog_pos >= 0),
    gtid         TEXT    NOT NULL, -- GTID set of everything applied
    server_id    INTEGER NOT NULL CHECK (server_id >= 0),
    server_uuid  TEXT    NOT NULL DEFAULT '' CHECK (length(server_uuid) <= 64),
    commit_time  TEXT    NULL,
    updated_at   TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')), -- set by every checkpoint write
    PRIMARY KEY (flow)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS binflow_checkpoints;
