-- binflow's record of each flow's last failure: the error that stopped it
-- (one no retry can fix), its kind and when, and the flow's checkpoint at
-- that moment. `binflow status` shows it while binflow is down, and the flow
-- as failed while its checkpoint has not moved since and binflow has not run
-- it again (resumed_at, set when binflow next starts the flow). A later failure
-- replaces the row; nothing deletes it (it stays as the flow's last error).
-- Messages are binflow's error texts, which never carry passwords. Times
-- are TEXT in UTC, as in binflow_checkpoints.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_flow_errors (
    flow        TEXT    NOT NULL CHECK (length(flow) <= 191),
    kind        TEXT    NOT NULL CHECK (length(kind) <= 32), -- downstream, function, schema, internal
    message     TEXT    NOT NULL,
    failed_at   TEXT    NOT NULL,
    binlog_file TEXT    NOT NULL DEFAULT '' CHECK (length(binlog_file) <= 255), -- the checkpoint when it failed; '' for none
    binlog_pos  INTEGER NOT NULL DEFAULT 0 CHECK (binlog_pos >= 0),
    resumed_at  TEXT    NULL,     -- when binflow next started the flow
    PRIMARY KEY (flow)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS binflow_flow_errors;
