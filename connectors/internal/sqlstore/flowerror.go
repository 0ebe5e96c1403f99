package sqlstore

import (
	"context"
	"fmt"
	"math"
	"strings"
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
		`"failed_at"=EXCLUDED."failed_at","binlog_file"=EXCLUDED."binlog_file","binlog_pos"=EXCLUDED."binlog_pos","resumed_at"=NULL`
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
	rows, err := c.db.QueryContext(ctx, `SELECT "flow","kind","message","failed_at","binlog_file","binlog_pos","resumed_at" FROM "`+
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
			e           connectors.FlowError
			at, resumed any
			pos         int64
		)
		if err := rows.Scan(&e.Flow, &e.Kind, &e.Message, &at, &e.Checkpoint.File, &pos, &resumed); err != nil {
			return nil, fail(err)
		}
		if pos < 0 || pos > math.MaxUint32 {
			return nil, fail(fmt.Errorf("flow %s: binlog position %d does not fit in 32 bits", e.Flow, pos))
		}
		e.Checkpoint.Pos = uint32(pos)
		var err error
		if e.At, err = c.utcTime(at); err != nil {
			return nil, fail(fmt.Errorf("flow %s: failed_at: %w", e.Flow, err))
		}
		if e.Resumed, err = c.utcTime(resumed); err != nil {
			return nil, fail(fmt.Errorf("flow %s: resumed_at: %w", e.Flow, err))
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(err)
	}
	return out, nil
}

// FlowResumed records that binflow started the flow again at the time at,
// on its failure recorded before then (a failure recorded later stands).
func (c *Core) FlowResumed(ctx context.Context, flow string, at time.Time) error {
	v, err := c.d.Normalize(at.UTC())
	if err != nil {
		return err
	}
	var q strings.Builder
	q.WriteString(`UPDATE "` + connectors.FlowErrorTable + `" SET "resumed_at" = `)
	c.d.placeholder(&q, 0)
	q.WriteString(` WHERE "flow" = `)
	c.d.placeholder(&q, 1)
	q.WriteString(` AND "resumed_at" IS NULL AND "failed_at" < `)
	c.d.placeholder(&q, 2)
	if _, err := c.db.ExecContext(ctx, q.String(), v, flow, v); err != nil {
		if c.d.MissingTable(err) {
			return nil
		}
		return fmt.Errorf("%s connector: record that flow %s runs again in %s: %w", c.d.Name, flow, c.where, err)
	}
	return nil
}
