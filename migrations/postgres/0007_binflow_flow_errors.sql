-- binflow's record of each flow's last failure: the error that stopped it
-- (one no retry can fix), its kind and when, and the flow's checkpoint at
-- that moment. `binflow status` shows it while binflow is down, and the flow
-- as failed while its checkpoint has not moved since and binflow has not run
-- it again (resumed_at, set when binflow next starts the flow). A later failure
-- replaces the row; nothing deletes it (it stays as the flow's last error).
-- Messages are binflow's error texts, which never carry passwords.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_flow_errors (
    flow        VARCHAR(191) COLLATE "C" NOT NULL,
    kind        VARCHAR(32)    NOT NULL, -- downstream, function, schema, internal
    message     TEXT           NOT NULL,
    failed_at   TIMESTAMPTZ(6) NOT NULL,
    binlog_file VARCHAR(255)   NOT NULL DEFAULT '', -- the checkpoint when it failed; '' for none
    binlog_pos  BIGINT         NOT NULL DEFAULT 0 CHECK (binlog_pos >= 0),
    resumed_at  TIMESTAMPTZ(6) NULL,     -- when binflow next started the flow
    PRIMARY KEY (flow)
);

-- +goose Down
DROP TABLE IF EXISTS binflow_flow_errors;
