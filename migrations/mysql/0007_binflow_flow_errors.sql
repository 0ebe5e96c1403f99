-- binflow's record of each flow's last failure: the error that stopped it
-- (one no retry can fix), its kind and when, and the flow's checkpoint at
-- that moment. `binflow status` shows it while binflow is down, and the flow
-- as failed while its checkpoint has not moved since and binflow has not run
-- it again (resumed_at, set when binflow next starts the flow). A later failure
-- replaces the row; nothing deletes it (it stays as the flow's last error).
-- Messages are binflow's error texts, which never carry passwords.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_flow_errors (
    flow        VARCHAR(191)    NOT NULL,
    kind        VARCHAR(32)     NOT NULL, -- downstream, function, schema, internal
    message     TEXT            NOT NULL,
    failed_at   DATETIME(6)     NOT NULL, -- UTC
    binlog_file VARCHAR(255)    NOT NULL DEFAULT '', -- the checkpoint when it failed; '' for none
    binlog_pos  BIGINT UNSIGNED NOT NULL DEFAULT 0,
    resumed_at  DATETIME(6)     NULL,     -- UTC; when binflow next started the flow
    PRIMARY KEY (flow)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS binflow_flow_errors;
