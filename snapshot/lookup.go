package snapshot

import (
	"context"
	"fmt"
	"strings"

	"github.com/binflow/binflow/canal"
)

// Lookup reads single rows of a table by the values of some of its columns,
// typed like the binlog's rows: what a lookup function enriches rows with.
type Lookup struct {
	t       *Table
	q       querier
	query   string
	columns []int // of t, the values Row returns
	nOn     int
}

// Lookup prepares reads of table's columns by on, its columns that identify
// one row (a key: Row refuses a match of two rows).
func (r *Reader) Lookup(ctx context.Context, table string, on, columns []string) (*Lookup, error) {
	t, err := r.describe(ctx, table)
	if err != nil {
		return nil, err
	}
	find := func(name string) (int, error) {
		for i := range t.cols {
			if t.cols[i].name == name {
				return i, nil
			}
		}
		return 0, fmt.Errorf("table %s has no column %q", table, name)
	}
	l := &Lookup{t: t, q: r.db, nOn: len(on)}
	db, name, _ := strings.Cut(table, ".")
	var b strings.Builder
	b.WriteString(t.selectAll(db, name) + " WHERE ")
	for i, c := range on {
		j, err := find(c)
		if err != nil {
			return nil, err
		}
		if i > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString(quote(c) + " = " + t.cols[j].placeholder())
	}
	b.WriteString(" LIMIT 2")
	l.query = b.String()
	for _, c := range columns {
		j, err := find(c)
		if err != nil {
			return nil, err
		}
		l.columns = append(l.columns, j)
	}
	return l, nil
}

// Row returns the columns of the row whose on columns equal key, and
// whether there is one. A NULL in key matches nothing, as in SQL.
func (l *Lookup) Row(ctx context.Context, key []any) ([]any, bool, error) {
	if len(key) != l.nOn {
		return nil, false, fmt.Errorf("lookup in %s: %d key values for %d columns", l.t.Name, len(key), l.nOn)
	}
	args := make([]any, len(key))
	for i, v := range key {
		if v == nil {
			return nil, false, nil
		}
		args[i] = bindValue(v)
	}
	rows, err := readRows(ctx, l.q, l.t, l.query, args, 2)
	if err != nil {
		return nil, false, err
	}
	switch len(rows) {
	case 0:
		return nil, false, nil
	case 1:
		out := make([]any, len(l.columns))
		for i, j := range l.columns {
			out[i] = rows[0][j]
		}
		return out, true, nil
	}
	return nil, false, fmt.Errorf("lookup in %s: two rows match %v; the columns looked up by must identify one row", l.t.Name, key)
}

// Retryable says whether a lookup that failed with err may succeed later
// (the server restarting, the network dropping) rather than never (a
// missing table or column, a denied grant).
func (l *Lookup) Retryable(err error) bool { return canal.Transient(err) }
