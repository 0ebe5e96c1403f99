package mysql

import (
	"context"
	"fmt"
	"slices"
	"strings"
)

// CheckTable verifies, before any write, that a derived table exists and
// that its unique keys make upserts by key safe: one unique key must be
// exactly the key columns, and no other unique key may exist, because
// INSERT ... ON DUPLICATE KEY UPDATE would then overwrite whichever row
// collides on that other key, silently.
func (s *Store) CheckTable(ctx context.Context, table string, key []string) error {
	schemaName, name := s.database, table
	if i := strings.IndexByte(table, '.'); i >= 0 {
		schemaName, name = table[:i], table[i+1:]
	}
	rows, err := s.db.QueryContext(ctx, `SELECT INDEX_NAME, COLUMN_NAME FROM information_schema.STATISTICS
		WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ? AND NON_UNIQUE = 0 ORDER BY INDEX_NAME, SEQ_IN_INDEX`, schemaName, name)
	if err != nil {
		return fmt.Errorf("check derived table %s: %w", table, err)
	}
	defer rows.Close()
	unique := map[string][]string{}
	var order []string
	for rows.Next() {
		var index, column string
		if err := rows.Scan(&index, &column); err != nil {
			return fmt.Errorf("check derived table %s: %w", table, err)
		}
		if _, ok := unique[index]; !ok {
			order = append(order, index)
		}
		unique[index] = append(unique[index], column)
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("check derived table %s: %w", table, err)
	}
	if len(order) == 0 {
		var n int
		if err := s.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = ? AND TABLE_NAME = ?",
			schemaName, name).Scan(&n); err != nil {
			return fmt.Errorf("check derived table %s: %w", table, err)
		}
		if n == 0 {
			return fmt.Errorf("derived table %s.%s does not exist downstream: create it (binflow migrate applies migrations/)", schemaName, name)
		}
		return fmt.Errorf("derived table %s.%s has no primary or unique key; binflow upserts by key (%s): add PRIMARY KEY (%s)",
			schemaName, name, strings.Join(key, ", "), strings.Join(key, ", "))
	}
	// Every unique key must be the flow's key: any other one (or a key on
	// other columns only) lets an upsert hit an unrelated row.
	want := slices.Sorted(slices.Values(key))
	for _, index := range order {
		if !slices.Equal(slices.Sorted(slices.Values(unique[index])), want) {
			return fmt.Errorf("derived table %s.%s has unique key %s (%s) besides the flow's key (%s): an upsert colliding on it would overwrite an unrelated row; make (%s) the only unique key",
				schemaName, name, index, strings.Join(unique[index], ", "), strings.Join(key, ", "), strings.Join(key, ", "))
		}
	}
	return nil
}
