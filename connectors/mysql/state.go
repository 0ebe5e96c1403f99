package mysql

import (
	"context"
	"errors"
	"fmt"

	"github.com/go-sql-driver/mysql"
)

// LoadState reads the Go function state of a flow from binflow_state:
// function id -> key -> value. A database without the table (not migrated
// since binflow_state was added) has no state; writing state there fails
// the batch, naming the table.
func (s *Store) LoadState(ctx context.Context, flow string) (map[string]map[string][]byte, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT `function`, k, v FROM binflow_state WHERE flow = ?", flow)
	if err != nil {
		var me *mysql.MySQLError
		if errors.As(err, &me) && me.Number == erNoSuchTable {
			return map[string]map[string][]byte{}, nil
		}
		return nil, fmt.Errorf("mysql connector: load state of flow %s: %w", flow, err)
	}
	defer rows.Close()
	out := map[string]map[string][]byte{}
	for rows.Next() {
		var fn string
		var k, v []byte
		if err := rows.Scan(&fn, &k, &v); err != nil {
			return nil, fmt.Errorf("mysql connector: load state of flow %s: %w", flow, err)
		}
		if out[fn] == nil {
			out[fn] = map[string][]byte{}
		}
		out[fn][string(k)] = v
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("mysql connector: load state of flow %s: %w", flow, err)
	}
	return out, nil
}
