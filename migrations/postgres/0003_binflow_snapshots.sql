-- binflow's snapshot progress: for each flow whose initial snapshot (or
-- rebuild) has not finished, the consistent view its copied rows reflect
-- and how far the copy has got. A flow has a row here or a row in
-- binflow_checkpoints, never both: the last snapshot batch deletes this row
-- and writes the checkpoint in the same transaction as its derived rows.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_snapshots (
    flow          VARCHAR(191) COLLATE "C" NOT NULL,
    binlog_file   VARCHAR(255)   NOT NULL, -- '' for a requested snapshot not started yet
    binlog_pos    BIGINT         NOT NULL CHECK (binlog_pos >= 0),
    gtid          TEXT           NOT NULL,
    server_id     BIGINT         NOT NULL CHECK (server_id >= 0),
    server_uuid   VARCHAR(64)    NOT NULL DEFAULT '',
    table_index   BIGINT         NOT NULL CHECK (table_index >= 0), -- the flow's table being copied; = number of tables when all are
    table_name    VARCHAR(255)   NOT NULL DEFAULT '',
    last_key      TEXT           NOT NULL, -- JSON: primary key of the last row copied of that table, '' for none
    rows_done     NUMERIC(20,0)  NOT NULL CHECK (rows_done >= 0),
    rows_estimate NUMERIC(20,0)  NOT NULL CHECK (rows_estimate >= 0),
    resumes       BIGINT         NOT NULL DEFAULT 0 CHECK (resumes >= 0),
    started_at    TIMESTAMPTZ(6) NOT NULL,
    updated_at    TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    PRIMARY KEY (flow)
);

-- +goose Down
DROP TABLE IF EXISTS binflow_snapshots;
