-- State of Go functions (functions.State): per flow and function (its
-- position and name in the chain, "2:enrich_order"), values by key. Rows
-- are written in the same transaction as the batch and checkpoint that
-- changed them, so the state is always that of the flow's checkpoint.
-- (Numbered as in migrations/mysql, which has no 0004.)

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_state (
    flow       VARCHAR(191) COLLATE "C" NOT NULL,
    function   VARCHAR(191) COLLATE "C" NOT NULL,
    k          BYTEA          NOT NULL CHECK (length(k) <= 255),
    v          BYTEA          NOT NULL,
    updated_at TIMESTAMPTZ(6) NOT NULL DEFAULT now(),
    PRIMARY KEY (flow, function, k)
);

-- +goose Down
DROP TABLE IF EXISTS binflow_state;
