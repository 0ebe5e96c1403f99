-- State of Go functions (functions.State): per flow and function (its
-- position and name in the chain, "2:enrich_order"), values by key. Rows
-- are written in the same transaction as the batch and checkpoint that
-- changed them, so the state is always that of the flow's checkpoint.

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_state (
    flow       VARCHAR(191)   NOT NULL,
    function   VARCHAR(191)   NOT NULL,
    k          VARBINARY(255) NOT NULL,
    v          LONGBLOB       NOT NULL,
    updated_at TIMESTAMP(6)   NOT NULL DEFAULT CURRENT_TIMESTAMP(6) ON UPDATE CURRENT_TIMESTAMP(6),
    PRIMARY KEY (flow, function, k)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin;

-- +goose Down
DROP TABLE IF EXISTS binflow_state;
