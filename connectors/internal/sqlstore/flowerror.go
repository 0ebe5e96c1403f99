package sqlstore

import (
	"context"
	"fmt"
	"math"
	"time"

	"github.com/binflow/binflow/connectors"
)

// RecordFlowError keeps a flow's failure in binflow_flow_errors, replacing
// the one before.
func (c *Core) RecordFlowError(ctx context.Context, e connectors.FlowError) error {
	fail := func(err error) error {
		return fmt.Errorf("%s connector: record the failure of flow %s in %s: %w", c.d.Name, e.Flow, c.where, err)
	}
	at, err := c.d.Normalize(e.At.UTC())
	if err != nil {
		return fail(err)
	}
	q := `INSERT INTO "` + connectors.FlowErrorTable + `" ("flow","kind","message","failed_at","binlog_file","binlog_pos") VALUES (` +
		c.d.params(6) + `) ON CONFLICT ("flow") DO UPDATE SET "kind"=EXCLUDED."kind","message"=EXCLUDED."message",` +
		`"failed_at"=EXCLUDED."failed_at","binlog_file"=EXCLUDED."binlog_file","binlog_pos"=EXCLUDED."binlog_pos"`
	if _, err := c.db.ExecContext(ctx, q, e.Flow, e.Kind, e.Message, at, e.Checkpoint.File, int64(e.Checkpoint.Pos)); err != nil {
		return fail(c.missing(err))
	}
	return nil
}

// FlowErrors returns the recorded failures, ordered by flow; none in a
// store not migrated since the table was added.
func (c *Core) FlowErrors(ctx context.Context) ([]connectors.FlowError, error) {
	fail := func(err error) error {
		return fmt.Errorf("%s connector: read flow errors from %s: %w", c.d.Name, c.where, err)
	}
	rows, err := c.db.QueryContext(ctx, `SELECT "flow","kind","message","failed_at","binlog_file","binlog_pos" FROM "`+
		connectors.FlowErrorTable+`"`+c.d.FlowOrder)
	if err != nil {
		if c.d.MissingTable(err) {
			return nil, nil
		}
		return nil, fail(err)
	}
	defer rows.Close()
	var out []connectors.FlowError
	for rows.Next() {
		var (
			e   connectors.FlowError
			at  any
			pos int64
		)
		if err := rows.Scan(&e.Flow, &e.Kind, &e.Message, &at, &e.Checkpoint.File, &pos); err != nil {
			return nil, fail(err)
		}
		if pos < 0 || pos > math.MaxUint32 {
			return nil, fail(fmt.Errorf("flow %s: binlog position %d does not fit in 32 bits", e.Flow, pos))
		}
		e.Checkpoint.Pos = uint32(pos)
		t, err := c.d.ScanTime(at)
		if err != nil {
			return nil, fail(fmt.Errorf("flow %s: failed_at: %w", e.Flow, err))
		}
		if t, ok := t.(time.Time); ok {
			e.At = t.In(time.UTC)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	return out, nil
}
