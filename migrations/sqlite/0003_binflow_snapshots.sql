-- binflow's snapshot progress: for each flow whose initial snapshot (or
-- rebuild) has not finished, the consistent view its copied rows reflect
-- and how far the copy has got. A flow has a row here or a row in
-- binflow_checkpoints, never both: the last snapshot batch deletes this row
-- and writes the checkpoint in the same transaction as its derived rows.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_snapshots (
    flow          TEXT    NOT NULL CHECK (length(flow) <= 191),
    binlog_file   TEXT    NOT NULL, -- '' for a requested snapshot not started yet
    binlog_pos    INTEGER NOT NULL CHECK (binlog_pos >= 0),
    gtid          TEXT    NOT NULL,
    server_id     INTEGER NOT NULL CHECK (server_id >= 0),
    server_uuid   TEXT    NOT NULL DEFAULT '',
    table_index   INTEGER NOT NULL CHECK (table_index >= 0), -- the flow's table being copied; = number of tables when all are
    table_name    TEXT    NOT NULL DEFAULT '',
    last_key      TEXT    NOT NULL, -- JSON: primary key of the last row copied of that table, '' for none
    rows_done     INTEGER NOT NULL CHECK (rows_done >= 0),
    rows_estimate INTEGER NOT NULL CHECK (rows_estimate >= 0),
    resumes       INTEGER NOT NULL DEFAULT 0 CHECK (resumes >= 0),
    started_at    TEXT    NOT NULL, -- UTC
    updated_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    PRIMARY KEY (flow)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS binflow_snapshots;
