-- The derived table of the loyalty function (examples/custom-function).

-- +goose Up
CREATE TABLE IF NOT EXISTS loyalty (
    customer_id INTEGER NOT NULL,
    big_orders  INTEGER NOT NULL,
    level       TEXT    NOT NULL CHECK (length(level) <= 8),
    PRIMARY KEY (customer_id)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS loyalty;
