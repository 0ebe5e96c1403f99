package bench

// Cheap correctness checks: a fast wrong answer is not a result.

import (
	"context"
	"database/sql"
	"fmt"
	"sort"
	"strings"
)

// tableSum fingerprints an orders-like table (count, sums and an
// order-independent CRC of the copied columns) in one scan, server side.
func tableSum(ctx context.Context, db *sql.DB, table string) (string, error) {
	var count, customers, amount, crc sql.NullString
	err := db.QueryRowContext(ctx, `SELECT COUNT(*), SUM(customer_id), SUM(amount),
  BIT_XOR(CRC32(CONCAT_WS('|', id, customer_id, amount, status, created_at))) FROM `+table).
		Scan(&count, &customers, &amount, &crc)
	if err != nil {
		return "", fmt.Errorf("fingerprint %s: %w", table, err)
	}
	return fmt.Sprintf("rows=%s sum(customer_id)=%s sum(amount)=%s crc=%s", count.String, customers.String, amount.String, crc.String), nil
}

// sameTable compares the fingerprints of an upstream and a derived table.
func sameTable(ctx context.Context, up *sql.DB, upTable string, down *sql.DB, downTable string) error {
	want, err := tableSum(ctx, up, upTable)
	if err != nil {
		return err
	}
	got, err := tableSum(ctx, down, downTable)
	if err != nil {
		return err
	}
	if got != want {
		return fmt.Errorf("%s differs from upstream %s:\n  got  %s\n  want %s", downTable, upTable, got, want)
	}
	return nil
}

// sameTotalsIn compares a customer_totals table (named as the pool's
// queries name it) with its recomputation on the upstream.
func sameTotalsIn(ctx context.Context, up *sql.DB, database string, down *sql.DB, table, summed, where string) error {
	got, err := textRows(ctx, down, "SELECT customer_id, order_count, total_amount FROM "+table)
	if err != nil {
		return err
	}
	want, err := textRows(ctx, up, "SELECT customer_id, COUNT(*), CAST(SUM("+summed+") AS DECIMAL(30,2)) FROM `"+database+"`.orders "+where+" GROUP BY customer_id")
	if err != nil {
		return err
	}
	var diffs []string
	g, w := map[string]bool{}, map[string]bool{}
	for _, r := range got {
		g[r] = true
	}
	for _, r := range want {
		w[r] = true
		if !g[r] && len(diffs) < 10 {
			diffs = append(diffs, "  missing: "+r)
		}
	}
	for _, r := range got {
		if !w[r] && len(diffs) < 20 {
			diffs = append(diffs, "  extra:   "+r)
		}
	}
	if len(diffs) > 0 || len(got) != len(want) {
		return fmt.Errorf("customer_totals differs from SUM(%s) %s GROUP BY customer_id on the upstream (%d rows, want %d):\n%s",
			summed, where, len(got), len(want), strings.Join(diffs, "\n"))
	}
	return nil
}

// textRows is a query's rows as sorted "a|b|c" strings.
func textRows(ctx context.Context, db *sql.DB, q string) ([]string, error) {
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", q, err)
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return nil, err
	}
	var out []string
	vals := make([]sql.NullString, len(cols))
	dest := make([]any, len(cols))
	for i := range vals {
		dest[i] = &vals[i]
	}
	for rows.Next() {
		if err := rows.Scan(dest...); err != nil {
			return nil, err
		}
		parts := make([]string, len(vals))
		for i, v := range vals {
			parts[i] = v.String
			if !v.Valid {
				parts[i] = "NULL"
			}
		}
		out = append(out, strings.Join(parts, "|"))
	}
	sort.Strings(out)
	return out, rows.Err()
}
