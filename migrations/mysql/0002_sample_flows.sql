-- Derived tables of the three sample flows:
--   orders_copy      a copy of the upstream orders table
--   customer_totals  order count and total amount per customer (aggregate)
--   big_orders       orders above a threshold, with an amount band

-- +goose Up
CREATE TABLE IF NOT EXISTS orders_copy (
    id          BIGINT        NOT NULL,
    customer_id BIGINT        NOT NULL,
    amount      DECIMAL(12,2) NOT NULL,
    status      VARCHAR(20)   NOT NULL,
    created_at  DATETIME(6)   NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS customer_totals (
    customer_id  BIGINT        NOT NULL,
    order_count  BIGINT        NOT NULL,
    total_amount DECIMAL(30,2) NOT NULL,
    PRIMARY KEY (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS big_orders (
    id          BIGINT        NOT NULL,
    customer_id BIGINT        NOT NULL,
    amount      DECIMAL(12,2) NOT NULL,
    amount_band VARCHAR(16)   NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

-- +goose Down
DROP TABLE IF EXISTS big_orders;
DROP TABLE IF EXISTS customer_totals;
DROP TABLE IF EXISTS orders_copy;
