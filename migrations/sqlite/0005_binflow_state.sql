-- State of Go functions (functions.State): per flow and function (its
-- position and name in the chain, "2:enrich_order"), values by key. Rows
-- are written in the same transaction as the batch and checkpoint that
-- changed them, so the state is always that of the flow's checkpoint.
-- (Numbered as in migrations/mysql, which has no 0004.)

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_state (
    flow       TEXT NOT NULL CHECK (length(flow) <= 191),
    function   TEXT NOT NULL CHECK (length(function) <= 191),
    k          BLOB NOT NULL CHECK (length(k) <= 255),
    v          BLOB NOT NULL,
    updated_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f', 'now')),
    PRIMARY KEY (flow, function, k)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS binflow_state;
