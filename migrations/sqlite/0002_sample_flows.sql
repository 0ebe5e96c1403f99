-- Derived tables of the three sample flows:
--   orders_copy      a copy of the upstream orders table
--   customer_totals  order count and total amount per customer (aggregate)
--   big_orders       orders above a threshold, with an amount band
-- SQLite has no exact decimal type: DECIMAL columns are TEXT holding the
-- decimal with its scale ('12.50'), which binflow adds up exactly (see
-- connectors/sqlite). DATETIME(6) is TEXT 'YYYY-MM-DD HH:MM:SS.ffffff' in
-- UTC. CHECKs keep MySQL's length limits, STRICT its types.

-- +goose Up
CREATE TABLE IF NOT EXISTS orders_copy (
    id          INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    amount      TEXT    NOT NULL, -- DECIMAL(12,2)
    status      TEXT    NOT NULL CHECK (length(status) <= 20),
    created_at  TEXT    NOT NULL, -- DATETIME(6), UTC
    PRIMARY KEY (id)
) STRICT;

CREATE TABLE IF NOT EXISTS customer_totals (
    customer_id  INTEGER NOT NULL,
    order_count  INTEGER NOT NULL,
    total_amount TEXT    NOT NULL, -- DECIMAL(30,2)
    PRIMARY KEY (customer_id)
) STRICT;

CREATE TABLE IF NOT EXISTS big_orders (
    id          INTEGER NOT NULL,
    customer_id INTEGER NOT NULL,
    amount      TEXT    NOT NULL, -- DECIMAL(12,2)
    amount_band TEXT    NOT NULL CHECK (length(amount_band) <= 16),
    PRIMARY KEY (id)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS big_orders;
DROP TABLE IF EXISTS customer_totals;
DROP TABLE IF EXISTS orders_copy;
