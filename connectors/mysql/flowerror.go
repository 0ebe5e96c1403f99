package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

const (
	recordFlowErrorSQL = "INSERT INTO `" + connectors.FlowErrorTable + "` (`flow`,`kind`,`message`,`failed_at`,`binlog_file`,`binlog_pos`)" +
		" VALUES (?,?,?,?,?,?) ON DUPLICATE KEY UPDATE `kind`=VALUES(`kind`),`message`=VALUES(`message`)," +
		"`failed_at`=VALUES(`failed_at`),`binlog_file`=VALUES(`binlog_file`),`binlog_pos`=VALUES(`binlog_pos`),`resumed_at`=NULL"
	selectFlowErrorsSQL = "SELECT `flow`,`kind`,`message`,`failed_at`,`binlog_file`,`binlog_pos`,`resumed_at` FROM `" +
		connectors.FlowErrorTable + "` ORDER BY `flow`"
)

// RecordFlowError keeps a flow's failure in binflow_flow_errors, replacing
// the one before.
func (s *Store) RecordFlowError(ctx context.Context, e connectors.FlowError) error {
	if err := checkCheckpoint(connectors.Checkpoint{Flow: e.Flow, Pos: schema.Position{File: "-"}}); err != nil {
		return fmt.Errorf("mysql connector: record the failure of flow %s: %w", e.Flow, err)
	}
	_, err := s.db.ExecContext(ctx, recordFlowErrorSQL, e.Flow, e.Kind, e.Message, e.At.UTC(), e.Checkpoint.File, uint64(e.Checkpoint.Pos))
	if err != nil {
		return fmt.Errorf("mysql connector: record the failure of flow %s in database %q: %w", e.Flow, s.database, missingTable(err))
	}
	return nil
}

// FlowErrors returns the recorded failures, ordered by flow; none in a
// database not migrated since the table was added.
func (s *Store) FlowErrors(ctx context.Context) ([]connectors.FlowError, error) {
	rows, err := s.db.QueryContext(ctx, selectFlowErrorsSQL)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == erNoSuchTable {
			return nil, nil
		}
		return nil, fmt.Errorf("mysql connector: read flow errors from database %q: %w", s.database, err)
	}
	defer rows.Close()
	var out []connectors.FlowError
	for rows.Next() {
		var (
			e           connectors.FlowError
			at, resumed sql.NullTime
			pos         uint64
		)
		if err := rows.Scan(&e.Flow, &e.Kind, &e.Message, &at, &e.Checkpoint.File, &pos, &resumed); err != nil {
			return nil, fmt.Errorf("mysql connector: read flow errors from database %q: %w", s.database, err)
		}
		if pos > math.MaxUint32 {
			return nil, fmt.Errorf("mysql connector: flow %s: error at binlog position %d does not fit in 32 bits", e.Flow, pos)
		}
		e.Checkpoint.Pos = uint32(pos)
		if at.Valid {
			e.At = at.Time.In(time.UTC)
		}
		if resumed.Valid {
			e.Resumed = resumed.Time.In(time.UTC)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql connector: read flow errors from database %q: %w", s.database, err)
	}
	return out, nil
}

// FlowResumed records that binflow started the flow again at the time at,
// on its failure recorded before then (a failure recorded later stands).
func (s *Store) FlowResumed(ctx context.Context, flow string, at time.Time) error {
	_, err := s.db.ExecContext(ctx, "UPDATE `"+connectors.FlowErrorTable+"` SET `resumed_at` = ? WHERE `flow` = ? AND `resumed_at` IS NULL AND `failed_at` < ?",
		at.UTC(), flow, at.UTC())
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == erNoSuchTable {
			return nil
		}
		return fmt.Errorf("mysql connector: record that flow %s runs again in database %q: %w", flow, s.database, err)
	}
	return nil
}
