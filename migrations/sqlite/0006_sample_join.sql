-- Derived tables of the sample join flow (config.toml, flow orders_enriched):
--   orders_enriched             each order with its customer's name and country,
--                               kept current as orders and customers change
--   orders_enriched__customers  the join's state: the customers' joined columns

-- +goose Up
CREATE TABLE IF NOT EXISTS orders_enriched (
    id            INTEGER NOT NULL,
    customer_id   INTEGER NOT NULL,
    amount        TEXT    NOT NULL, -- DECIMAL(12,2)
    status        TEXT    NOT NULL CHECK (length(status) <= 20),
    customer_name TEXT    NULL CHECK (length(customer_name) <= 100),
    country       TEXT    NULL CHECK (length(country) <= 2),
    PRIMARY KEY (id)
) STRICT;
CREATE INDEX IF NOT EXISTS orders_enriched_customer_id ON orders_enriched (customer_id);

CREATE TABLE IF NOT EXISTS orders_enriched__customers (
    id      INTEGER NOT NULL,
    name    TEXT    NOT NULL CHECK (length(name) <= 100),
    country TEXT    NOT NULL CHECK (length(country) <= 2),
    PRIMARY KEY (id)
) STRICT;

-- +goose Down
DROP TABLE IF EXISTS orders_enriched__customers;
DROP TABLE IF EXISTS orders_enriched;
