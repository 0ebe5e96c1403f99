-- Derived tables of the sample join flow (config.toml, flow orders_enriched):
--   orders_enriched             each order with its customer's name and country,
--                               kept current as orders and customers change
--   orders_enriched__customers  the join's state: the customers' joined columns
-- BIGINT UNSIGNED is NUMERIC(20,0).

-- +goose Up
CREATE TABLE IF NOT EXISTS orders_enriched (
    id            BIGINT        NOT NULL,
    customer_id   BIGINT        NOT NULL,
    amount        NUMERIC(12,2) NOT NULL,
    status        VARCHAR(20)   NOT NULL,
    customer_name VARCHAR(100)  NULL,
    country       CHAR(2)       NULL,
    PRIMARY KEY (id)
);
CREATE INDEX IF NOT EXISTS orders_enriched_customer_id ON orders_enriched (customer_id);

CREATE TABLE IF NOT EXISTS orders_enriched__customers (
    id      NUMERIC(20,0) NOT NULL,
    name    VARCHAR(100)  NOT NULL,
    country CHAR(2)       NOT NULL,
    PRIMARY KEY (id)
);

-- +goose Down
DROP TABLE IF EXISTS orders_enriched__customers;
DROP TABLE IF EXISTS orders_enriched;
