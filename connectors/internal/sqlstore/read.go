package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/binflow/binflow/connectors"
)

// ReadTables reads a flow's checkpoint and every row of tables in one
// read-only transaction, so that all of them are one consistent view of the
// store (PostgreSQL: REPEATABLE READ; SQLite: one WAL read transaction),
// even while binflow writes: what `binflow verify` compares. fn gets each
// row with its table's column names; row is reused, copy what you keep.
//
// Values are what the driver returns, typed by the dialect's ScanValue
// (PostgreSQL's NUMERIC as decimal.Decimal, times in UTC); SQLite's TEXT
// stays text, exact decimals and times included (see connectors/sqlite).
// ok is false when the flow has no checkpoint; the tables are then not read.
func (c *Core) ReadTables(ctx context.Context, flow string, tables []string, fn func(table string, columns []string, row []any) error) (cp connectors.Checkpoint, ok bool, err error) {
	fail := func(what string, err error) error {
		return fmt.Errorf("%s connector: read %s from %s: %w", c.d.Name, what, c.where, err)
	}
	conn, err := c.db.Conn(ctx)
	if err != nil {
		return cp, false, fail("flow "+flow, err)
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, c.d.ReadTxSQL); err != nil {
		return cp, false, fail("flow "+flow, err)
	}
	// A read-only transaction: rolling back ends it. Not under ctx, so that
	// a cancelled read never returns the connection inside a transaction.
	defer func() {
		if _, rerr := conn.ExecContext(context.Background(), "ROLLBACK"); rerr != nil && err == nil {
			err = fail("flow "+flow, rerr)
		}
	}()

	cp, err = c.scanCheckpoint(conn.QueryRowContext(ctx, c.selectSQL+` WHERE "flow" = `+c.d.params(1), flow))
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cp, false, nil
	case err != nil:
		return cp, false, fail("the checkpoint of flow "+flow, c.missing(err))
	}
	for _, table := range tables {
		if err := c.readTable(ctx, conn, table, fn); err != nil {
			return cp, false, fail("table "+table, err)
		}
	}
	return cp, true, nil
}

func (c *Core) readTable(ctx context.Context, conn *sql.Conn, table string, fn func(table string, columns []string, row []any) error) error {
	q, err := QuoteTable(table)
	if err != nil {
		return err
	}
	rows, err := conn.QueryContext(ctx, "SELECT * FROM "+q)
	if err != nil {
		return err
	}
	defer rows.Close()
	columns, err := rows.Columns()
	if err != nil {
		return err
	}
	types, err := rows.ColumnTypes()
	if err != nil {
		return err
	}
	row := make([]any, len(columns))
	dest := make([]any, len(columns))
	for i := range row {
		dest[i] = &row[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return err
		}
		for i, v := range row {
			if v == nil {
				continue
			}
			if c.d.ScanValue != nil {
				if row[i], err = c.d.ScanValue(types[i].DatabaseTypeName(), v); err != nil {
					return fmt.Errorf("column %s: %w", columns[i], err)
				}
			}
		}
		if err := fn(table, columns, row); err != nil {
			return err
		}
	}
	return rows.Err()
}
