-- binflow's checkpoint table: for each flow, how far it has applied the
-- upstream binlog. A flow's derived rows and its checkpoint row are written in
-- one transaction (design.md section 3). Flow names compare byte for byte
-- (COLLATE "C"). MySQL's unsigned columns are BIGINT here (they hold 32-bit
-- values). Times are TIMESTAMPTZ: instants, shown in the session's zone
-- (binflow's sessions use UTC).

-- +goose Up
CREATE TABLE IF NOT EXISTS binflow_checkpoints (
    flow         VARCHAR(191) COLLATE "C" NOT NULL,
    binlog_file  VARCHAR(255)   NOT NULL,
    binlog_pos   BIGINT         NOT NULL CHECK (binlog_pos >= 0),
    gtid         TEXT           NOT NULL, -- GTID set of everything applied; MySQL sets can be long
    server_id    BIGINT         NOT NULL CHECK (server_id >= 0),
    server_uuid  VARCHAR(64)    NOT NULL DEFAULT '',
    commit_time  TIMESTAMPTZ(6) NULL,
    updated_at   TIMESTAMPTZ(6) NOT NULL DEFAULT now(), -- set by every checkpoint write
    PRIMARY KEY (flow)
);

-- +goose Down
DROP TABLE IF EXISTS binflow_checkpoints;
