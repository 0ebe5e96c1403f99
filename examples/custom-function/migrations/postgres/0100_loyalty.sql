-- The derived table of the loyalty function (examples/custom-function).

-- +goose Up
CREATE TABLE IF NOT EXISTS loyalty (
    customer_id BIGINT     NOT NULL,
    big_orders  BIGINT     NOT NULL,
    level       VARCHAR(8) NOT NULL,
    PRIMARY KEY (customer_id)
);

-- +goose Down
DROP TABLE IF EXISTS loyalty;
