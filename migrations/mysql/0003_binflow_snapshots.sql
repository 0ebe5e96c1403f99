-- binflow's snapshot progress: for each flow whose initial snapshot (or
-- rebuild) has not finished, the consistent view its copied rows reflect
-- and how far the copy has got. A flow has a row here or a row in
-- binflow_checkpoints, never both: the last snapshot batch deletes this row
-- and writes the checkpoint in the same transaction as its derived rows.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_snapshots (
    flow          VARCHAR(191)    NOT NULL,
    binlog_file   VARCHAR(255)    NOT NULL, -- '' for a requested snapshot not started yet
    binlog_pos    BIGINT UNSIGNED NOT NULL,
    gtid          TEXT            NOT NULL,
    server_id     INT UNSIGNED    NOT NULL,
    server_uuid   VARCHAR(64)     NOT NULL DEFAULT '',
    table_index   INT UNSIGNED    NOT NULL, -- the flow's table being copied; = number of tables when all are
    table_name    VARCHAR(255)    NOT NULL DEFAULT '',
    last_key      MEDIUMTEXT      NOT NULL, -- JSON: primary key of the last row copied of that table, '' for none
    rows_done     BIGINT UNSIGNED NOT NULL,
    rows_estimate BIGINT UNSIGNED NOT NULL,
    resumes       INT UNSIGNED    NOT NULL DEFAULT 0,
    started_at    DATETIME(6)     NOT NULL,
    updated_at    TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (flow)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS binflow_snapshots;
