-- Sample source schema for the demo and manual experiments, on the upstream:
--   testenv/env.sh sql upstream < testenv/sample/shop.sql
-- Idempotent: safe to load again at any time; it never deletes data.
--
-- Seed data: a few customers only (the sample config's flows snapshot them
-- when they first start); shop.orders is left to testenv/sample/load.sh, so
-- that the demo shows every order arriving through the binlog.
CREATE DATABASE IF NOT EXISTS shop CHARACTER SET utf8mb4 COLLATE utf8mb4_general_ci;

CREATE TABLE IF NOT EXISTS shop.customers (
    id         BIGINT UNSIGNED NOT NULL AUTO_INCREMENT,
    name       VARCHAR(100)    NOT NULL,
    country    CHAR(2)         NOT NULL,
    created_at DATETIME(3)     NOT NULL,
    PRIMARY KEY (id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

CREATE TABLE IF NOT EXISTS shop.orders (
    id          BIGINT        NOT NULL AUTO_INCREMENT,
    customer_id BIGINT        NOT NULL,
    amount      DECIMAL(12,2) NOT NULL,
    status      VARCHAR(20)   NOT NULL,
    note        TEXT          NULL,
    created_at  DATETIME(6)   NOT NULL,
    PRIMARY KEY (id),
    KEY (customer_id)
) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4;

INSERT IGNORE INTO shop.customers (id, name, country, created_at) VALUES
    (1,  'Ada Lovelace',      'GB', '2024-01-05 09:00:00.000'),
    (2,  'Grace Hopper',      'US', '2024-01-06 10:30:00.250'),
    (3,  'Edsger Dijkstra',   'NL', '2024-02-11 14:15:00.500'),
    (4,  'Barbara Liskov',    'US', '2024-02-20 08:45:00.125'),
    (5,  'Donald Knuth',      'US', '2024-03-01 17:00:00.000'),
    (6,  'Margaret Hamilton', 'US', '2024-03-14 11:11:11.111'),
    (7,  'Niklaus Wirth',     'CH', '2024-04-02 07:30:00.000'),
    (8,  'Frances Allen',     'US', '2024-04-18 16:20:00.750'),
    (9,  'Tony Hoare',        'GB', '2024-05-09 12:00:00.000'),
    (10, 'Józef Wybicki',     'PL', '2024-05-30 19:45:30.999');
