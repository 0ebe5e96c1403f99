package sqlstore

import (
	"context"
	"database/sql"
	"fmt"
)

// StateTable holds Go functions' state (the 0005 migration of each
// dialect). Its rows are written as ordinary upserts and deletes of the
// batch that changed them, so they commit with the batch's checkpoint.
const StateTable = "binflow_state"

// LoadState reads the Go function state of a flow from binflow_state:
// function id -> key -> value (functions.StateLoader). A database without
// the table (not migrated since binflow_state was added) has no state;
// writing state there fails the batch, naming the table.
func (c *Core) LoadState(ctx context.Context, flow string) (map[string]map[string][]byte, error) {
	out := map[string]map[string][]byte{}
	rows, err := c.db.QueryContext(ctx, `SELECT "function","k","v" FROM "`+StateTable+`" WHERE "flow" = `+c.d.params(1), flow)
	if err != nil {
		if c.d.MissingTable(err) {
			return out, nil
		}
		return nil, fmt.Errorf("%s connector: load state of flow %s from %s: %w", c.d.Name, flow, c.where, err)
	}
	defer rows.Close()
	for rows.Next() {
		var fn string
		var k, v []byte
		if err := rows.Scan(&fn, &k, &v); err != nil {
			return nil, fmt.Errorf("%s connector: load state of flow %s from %s: %w", c.d.Name, flow, c.where, err)
		}
		if v == nil {
			v = []byte{} // SQLite reads an empty BLOB as nil; the value exists
		}
		if out[fn] == nil {
			out[fn] = map[string][]byte{}
		}
		out[fn][string(k)] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("%s connector: load state of flow %s from %s: %w", c.d.Name, flow, c.where, err)
	}
	return out, nil
}

// hasStateTable reports whether binflow_state exists. It is asked before a
// transaction that deletes state, rather than ignoring the error inside
// it: a failed statement aborts a PostgreSQL transaction, and SQLite's one
// connection is held by the transaction.
func (c *Core) hasStateTable(ctx context.Context) (bool, error) {
	exists, _, err := c.d.UniqueKeys(ctx, c.db, "", StateTable)
	if err != nil {
		return false, fmt.Errorf("look for table %s: %w", StateTable, err)
	}
	return exists, nil
}

// deleteState drops a flow's Go function state in tx (its checkpoint is
// going: the state is that of the checkpoint).
func (c *Core) deleteState(ctx context.Context, tx *sql.Tx, flow string) error {
	if _, err := tx.ExecContext(ctx, `DELETE FROM "`+StateTable+`" WHERE "flow" = `+c.d.params(1), flow); err != nil {
		return fmt.Errorf("delete Go function state: %w", err)
	}
	return nil
}
