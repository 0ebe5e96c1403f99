package functions

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
)

// memStore applies batches the way connectors/mysql does, in memory, so that
// chains can be checked against a recomputation without a server: rows by
// table and encoded key, each a column -> value map.
type memStore struct {
	t      *testing.T
	tables map[string]map[string]map[string]any
}

func newMemStore(t *testing.T) *memStore {
	return &memStore{t: t, tables: map[string]map[string]map[string]any{}}
}

func (m *memStore) table(name string) map[string]map[string]any {
	tb, ok := m.tables[name]
	if !ok {
		tb = map[string]map[string]any{}
		m.tables[name] = tb
	}
	return tb
}

func memKey(t *testing.T, vals []any) string {
	k, err := appendKeyOf(nil, vals, leading(len(vals)))
	if err != nil {
		t.Fatal(err)
	}
	return string(k)
}

func (m *memStore) apply(b *connectors.Batch) {
	m.t.Helper()
	for _, d := range b.Deletes {
		for _, k := range d.Keys {
			delete(m.table(d.Table), memKey(m.t, k))
		}
	}
	for _, u := range b.Upserts {
		for _, r := range u.Rows {
			row := map[string]any{}
			for i, c := range u.Columns {
				row[c] = r[i]
			}
			key := make([]any, len(u.Key))
			for i, k := range u.Key {
				key[i] = row[k]
			}
			m.table(u.Table)[memKey(m.t, key)] = row
		}
	}
	for _, in := range b.Inserts {
		for _, r := range in.Rows {
			row := map[string]any{}
			for i, c := range in.Columns {
				row[c] = r[i]
			}
			m.table(in.Table)[fmt.Sprint(len(m.table(in.Table)))] = row
		}
	}
	for _, d := range b.Deltas {
		tb := m.table(d.Table)
		for _, r := range d.Rows {
			k := memKey(m.t, r[:len(d.Key)])
			row, ok := tb[k]
			if !ok {
				row = map[string]any{}
				for i, c := range d.Key {
					row[c] = r[i]
				}
				tb[k] = row
			}
			for i, c := range d.Columns {
				row[c] = addValues(m.t, row[c], r[len(d.Key)+i])
			}
		}
		if d.DeleteWhenZero != "" {
			for _, r := range d.Rows {
				k := memKey(m.t, r[:len(d.Key)])
				if row, ok := tb[k]; ok && isZeroValue(row[d.DeleteWhenZero]) {
					delete(tb, k)
				}
			}
		}
	}
	for _, rc := range b.Recomputes {
		tb := m.table(rc.Table)
		for _, key := range rc.Keys {
			row, ok := tb[memKey(m.t, key)]
			if !ok {
				continue
			}
			for _, c := range rc.Set {
				switch c.Func {
				case "div":
					row[c.Column] = nil
					if n, _ := row[c.Den].(int64); n != 0 {
						row[c.Column] = row[c.Num].(decimal.Decimal).DivRound(decimal.NewFromInt(n), 8)
					}
				default:
					var vals []any
					for _, st := range m.table(c.State) {
						match := true
						for i, k := range rc.Key {
							if !sameValue(st[k], key[i]) {
								match = false
							}
						}
						if match {
							vals = append(vals, st[c.Of])
						}
					}
					row[c.Column] = aggregateOf(c.Func, vals)
				}
			}
		}
	}
}

func addValues(t *testing.T, a, b any) any {
	switch y := b.(type) {
	case int64:
		x, _ := a.(int64)
		return x + y
	case decimal.Decimal:
		x, _ := a.(decimal.Decimal)
		return x.Add(y)
	}
	t.Fatalf("delta of type %T", b)
	return nil
}

func isZeroValue(v any) bool {
	switch x := v.(type) {
	case int64:
		return x == 0
	case decimal.Decimal:
		return x.IsZero()
	}
	return false
}

func lessValue(a, b any) bool {
	if c, ok := compareNumbers(a, b); ok {
		return c < 0
	}
	switch x := a.(type) {
	case string:
		return x < b.(string)
	case time.Time:
		return x.Before(b.(time.Time))
	}
	panic(fmt.Sprintf("cannot order %T", a))
}

// aggregateOf is MIN, MAX or COUNT of vals, as SQL computes them.
func aggregateOf(fn string, vals []any) any {
	if fn == "count" {
		return int64(len(vals))
	}
	var best any
	for _, v := range vals {
		if best == nil || (fn == "min" && lessValue(v, best)) || (fn == "max" && lessValue(best, v)) {
			best = v
		}
	}
	return best
}

// dump renders a table as sorted lines of its columns, values normalised
// (decimals without trailing zeros).
func (m *memStore) dump(table string, cols []string) []string {
	var out []string
	for _, row := range m.tables[table] {
		out = append(out, renderRow(row, cols))
	}
	sort.Strings(out)
	return out
}

func renderRow(row map[string]any, cols []string) string {
	parts := make([]string, len(cols))
	for i, c := range cols {
		parts[i] = renderValue(row[c])
	}
	return strings.Join(parts, "|")
}

func renderValue(v any) string {
	switch x := v.(type) {
	case nil:
		return "NULL"
	case decimal.Decimal:
		return x.String()
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	}
	return fmt.Sprint(v)
}
