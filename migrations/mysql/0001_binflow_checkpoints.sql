-- binflow's checkpoint table: for each flow, how far it has applied the
-- upstream binlog. A flow's derived rows and its checkpoint row are written in
-- one transaction (design.md section 3). Flow names compare byte for byte.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_checkpoints (
    flow         VARCHAR(191)    NOT NULL,
    binlog_file  VARCHAR(255)    NOT NULL,
    binlog_pos   BIGINT UNSIGNED NOT NULL,
    gtid         TEXT            NOT NULL, -- GTID set of everything applied; MySQL sets can be long
    server_id    INT UNSIGNED    NOT NULL,
    server_uuid  VARCHAR(64)     NOT NULL DEFAULT '',
    commit_time  DATETIME(6)     NULL,
    updated_at   TIMESTAMP(6)    NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (flow)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS binflow_checkpoints;
