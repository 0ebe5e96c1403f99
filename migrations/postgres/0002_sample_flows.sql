-- Derived tables of the three sample flows:
--   orders_copy      a copy of the upstream orders table
--   customer_totals  order count and total amount per customer (aggregate)
--   big_orders       orders above a threshold, with an amount band
-- MySQL's DECIMAL is NUMERIC (exact), DATETIME(6) is TIMESTAMP(6) (the UTC
-- wall clock binflow reads), VARCHAR keeps its length limit.

-- +goose Up
CREATE TABLE IF NOT EXISTS orders_copy (
    id          BIGINT        NOT NULL,
    customer_id BIGINT        NOT NULL,
    amount      NUMERIC(12,2) NOT NULL,
    status      VARCHAR(20)   NOT NULL,
    created_at  TIMESTAMP(6)  NOT NULL,
    PRIMARY KEY (id)
);

CREATE TABLE IF NOT EXISTS customer_totals (
    customer_id  BIGINT        NOT NULL,
    order_count  BIGINT        NOT NULL,
    total_amount NUMERIC(30,2) NOT NULL,
    PRIMARY KEY (customer_id)
);

CREATE TABLE IF NOT EXISTS big_orders (
    id          BIGINT        NOT NULL,
    customer_id BIGINT        NOT NULL,
    amount      NUMERIC(12,2) NOT NULL,
    amount_band VARCHAR(16)   NOT NULL,
    PRIMARY KEY (id)
);

-- +goose Down
DROP TABLE IF EXISTS big_orders;
DROP TABLE IF EXISTS customer_totals;
DROP TABLE IF EXISTS orders_copy;
