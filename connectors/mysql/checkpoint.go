package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"
	"unicode/utf8"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
	"github.com/go-sql-driver/mysql"
)

// checkpointTable is created by migrations/mysql/0001_binflow_checkpoints.sql.
const checkpointTable = "binflow_checkpoints"

// maxFlowNameLen is the length of the flow column, in characters.
const maxFlowNameLen = 191

// ErrNotMigrated means the downstream database lacks binflow's tables.
var ErrNotMigrated = errors.New("table " + checkpointTable + " is missing: run `binflow migrate -c <config>` first")

const (
	checkpointColumns = "`flow`,`binlog_file`,`binlog_pos`,`gtid`,`server_id`,`server_uuid`,`commit_time`"

	upsertCheckpointSQL = "INSERT INTO `" + checkpointTable + "` (" + checkpointColumns + ") VALUES (?,?,?,?,?,?,?)" +
		" ON DUPLICATE KEY UPDATE `binlog_file`=VALUES(`binlog_file`),`binlog_pos`=VALUES(`binlog_pos`)," +
		"`gtid`=VALUES(`gtid`),`server_id`=VALUES(`server_id`),`server_uuid`=VALUES(`server_uuid`)," +
		"`commit_time`=VALUES(`commit_time`)"

	lockCheckpointSQL = "SELECT `binlog_file`,`binlog_pos`,`gtid`,`server_id`,`server_uuid` FROM `" +
		checkpointTable + "` WHERE `flow` = ? FOR UPDATE"

	selectCheckpointsSQL = "SELECT " + checkpointColumns + " FROM `" + checkpointTable + "`"
)

// checkCheckpoint rejects a checkpoint that cannot be stored faithfully.
func checkCheckpoint(c connectors.Checkpoint) error {
	switch {
	case c.Flow == "":
		return errors.New("checkpoint has no flow name")
	case utf8.RuneCountInString(c.Flow) > maxFlowNameLen:
		return fmt.Errorf("flow name is longer than %d characters", maxFlowNameLen)
	case c.Pos.File == "":
		return errors.New("checkpoint has no binlog file")
	}
	return nil
}

// missingTable wraps err in ErrNotMigrated when the server says a table
// does not exist.
func missingTable(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == erNoSuchTable {
		return fmt.Errorf("%w (%w)", ErrNotMigrated, err)
	}
	return err
}

// checkpointStored locks the flow's checkpoint row for the transaction and
// reports whether it already equals c.
func checkpointStored(ctx context.Context, tx *sql.Tx, c connectors.Checkpoint) (bool, error) {
	var (
		file, gtid, uuid string
		pos              uint64
		serverID         uint32
	)
	err := tx.QueryRowContext(ctx, lockCheckpointSQL, c.Flow).Scan(&file, &pos, &gtid, &serverID, &uuid)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return false, nil
	case err != nil:
		return false, fmt.Errorf("lock checkpoint: %w", missingTable(err))
	}
	return file == c.Pos.File && pos == uint64(c.Pos.Pos) && gtid == c.GTID &&
		serverID == c.ServerID && uuid == c.ServerUUID, nil
}

func storeCheckpoint(ctx context.Context, tx *sql.Tx, c connectors.Checkpoint) error {
	var commitTime any
	if !c.CommitTime.IsZero() {
		commitTime = c.CommitTime.UTC()
	}
	_, err := tx.ExecContext(ctx, upsertCheckpointSQL,
		c.Flow, c.Pos.File, uint64(c.Pos.Pos), c.GTID, c.ServerID, c.ServerUUID, commitTime)
	if err != nil {
		return fmt.Errorf("store checkpoint %s: %w", c.Pos, missingTable(err))
	}
	return nil
}

// LoadCheckpoint returns the flow's stored checkpoint, and false when the
// flow has none yet.
func (s *Store) LoadCheckpoint(ctx context.Context, flow string) (connectors.Checkpoint, bool, error) {
	rows, err := s.queryCheckpoints(ctx, " WHERE `flow` = ?", flow)
	if err != nil {
		return connectors.Checkpoint{}, false, fmt.Errorf("mysql connector: load checkpoint for flow %s from database %q: %w", flow, s.database, err)
	}
	if len(rows) == 0 {
		return connectors.Checkpoint{}, false, nil
	}
	return rows[0], true, nil
}

// Checkpoints returns every stored checkpoint, ordered by flow.
func (s *Store) Checkpoints(ctx context.Context) ([]connectors.Checkpoint, error) {
	rows, err := s.queryCheckpoints(ctx, " ORDER BY `flow`")
	if err != nil {
		return nil, fmt.Errorf("mysql connector: load checkpoints from database %q: %w", s.database, err)
	}
	return rows, nil
}

func (s *Store) queryCheckpoints(ctx context.Context, where string, args ...any) ([]connectors.Checkpoint, error) {
	rows, err := s.db.QueryContext(ctx, selectCheckpointsSQL+where, args...)
	if err != nil {
		return nil, missingTable(err)
	}
	defer rows.Close()
	var out []connectors.Checkpoint
	for rows.Next() {
		var (
			c          connectors.Checkpoint
			pos        uint64
			commitTime sql.NullTime
		)
		if err := rows.Scan(&c.Flow, &c.Pos.File, &pos, &c.GTID, &c.ServerID, &c.ServerUUID, &commitTime); err != nil {
			return nil, err
		}
		if pos > math.MaxUint32 {
			return nil, fmt.Errorf("flow %s: binlog position %d does not fit in 32 bits", c.Flow, pos)
		}
		c.Pos = schema.Position{File: c.Pos.File, Pos: uint32(pos)}
		if commitTime.Valid {
			c.CommitTime = commitTime.Time.In(time.UTC)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}
