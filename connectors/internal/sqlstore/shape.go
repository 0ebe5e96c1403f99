package sqlstore

import (
	"errors"
	"fmt"
	"math/bits"
	"strings"
	"sync"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/connectors/internal/stmt"
)

// Statement limits: at most maxRowsPerStatement rows and the dialect's
// placeholders per statement, and about maxArgBytes of argument values.
const (
	maxRowsPerStatement = 1000
	maxArgBytes         = 16 << 20
)

// Aliases of the target table in upserts and recomputes, and of the state
// table in recomputes. Aliases name tables, never columns, so a column of
// any name is still read as itself.
const (
	oldAlias   = `"binflow_old"`
	rowAlias   = `"binflow_row"`
	stateAlias = `"binflow_state"`
)

type statementKind = stmt.Kind

const (
	kindUpsert     = stmt.Upsert
	kindDelete     = stmt.Delete
	kindDelta      = stmt.Delta
	kindZeroDelete = stmt.ZeroDelete
	kindInsert     = stmt.Insert
	kindRecompute  = stmt.Recompute
)

// shape is the SQL of one multi-row statement for one table and column
// list: prefix, then one tuple of perRow placeholders per row, then suffix.
// Placeholders appear only in the tuples.
type shape struct {
	prefix  string
	suffix  string
	perRow  int
	bare    bool // single-value tuples without parentheses (an IN list)
	maxRows int
	keyIdx  []int // where the key values are in a row

	mu    sync.Mutex
	sizes map[int]string // statements built, by row count
}

func (d *Dialect) newShape(prefix, suffix string, perRow int, bare bool, keyIdx []int) (*shape, error) {
	maxRows := min(maxRowsPerStatement, d.MaxParams/perRow)
	if maxRows < 1 {
		return nil, fmt.Errorf("%d columns per row exceed the %d placeholders of a statement", perRow, d.MaxParams)
	}
	return &shape{prefix: prefix, suffix: suffix, perRow: perRow, bare: bare, maxRows: maxRows, keyIdx: keyIdx}, nil
}

// sql returns the statement for n rows. Statements of the sizes chunking
// produces (full chunks, and powers of two when the dialect asks for them)
// are kept; other sizes are built on each call.
func (s *shape) sql(d *Dialect, n int) string {
	keep := n == s.maxRows || (d.PowerOfTwoChunks && n&(n-1) == 0)
	if keep {
		s.mu.Lock()
		q, ok := s.sizes[n]
		s.mu.Unlock()
		if ok {
			return q
		}
	}
	q := s.build(d, n)
	if keep {
		s.mu.Lock()
		if s.sizes == nil {
			s.sizes = make(map[int]string)
		}
		s.sizes[n] = q
		s.mu.Unlock()
	}
	return q
}

func (s *shape) build(d *Dialect, rows int) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + rows*(s.perRow*6+3) + len(s.suffix))
	b.WriteString(s.prefix)
	p := 0
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		if !s.bare {
			b.WriteByte('(')
		}
		for j := range s.perRow {
			if j > 0 {
				b.WriteByte(',')
			}
			d.placeholder(&b, p)
			p++
		}
		if !s.bare {
			b.WriteByte(')')
		}
	}
	b.WriteString(s.suffix)
	return b.String()
}

func leadingIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

func writeIdentList(b *strings.Builder, names []string, what string) error {
	for i, name := range names {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeIdent(b, name); err != nil {
			return fmt.Errorf("%s %d: %w", what, i, err)
		}
	}
	return nil
}

// checkNames rejects an empty list and duplicate names.
func checkNames(names []string, what string) error {
	if len(names) == 0 {
		return fmt.Errorf("no %s columns", what)
	}
	for i, a := range names {
		for _, b := range names[:i] {
			if a == b {
				return fmt.Errorf("%s column %q listed twice", what, a)
			}
		}
	}
	return nil
}

func positions(names, columns []string, what string) ([]int, error) {
	idx := make([]int, len(names))
	for i, name := range names {
		idx[i] = -1
		for j, c := range columns {
			if c == name {
				idx[i] = j
				break
			}
		}
		if idx[i] < 0 {
			return nil, fmt.Errorf("%s column %q is not among the columns %q", what, name, columns)
		}
	}
	return idx, nil
}

func quoted(name string) string {
	q, _ := QuoteIdent(name) // callers checked the name with writeIdent first
	return q
}

// keyIn writes `"k" IN (` or `("k1","k2") IN (` (SQLite: `IN (VALUES `);
// the tuples and ")" follow. It reports whether the tuples are bare.
func (d *Dialect) keyIn(b *strings.Builder, key []string) (bare bool, err error) {
	if len(key) == 1 {
		if err := writeIdent(b, key[0]); err != nil {
			return false, fmt.Errorf("key column 0: %w", err)
		}
		b.WriteString(" IN (")
		return true, nil
	}
	b.WriteByte('(')
	if err := writeIdentList(b, key, "key column"); err != nil {
		return false, err
	}
	b.WriteString(") IN (")
	if d.RowValuesIn {
		b.WriteString("VALUES ")
	}
	return false, nil
}

// writeConflict writes ` ON CONFLICT ("k1","k2") `.
func writeConflict(b *strings.Builder, key []string) error {
	b.WriteString(" ON CONFLICT (")
	if err := writeIdentList(b, key, "key column"); err != nil {
		return err
	}
	b.WriteString(") ")
	return nil
}

// upsertShape: INSERT INTO t AS old (cols) VALUES ... ON CONFLICT (key) DO
// UPDATE SET c = EXCLUDED.c for the non-key columns (DO NOTHING when every
// column is part of the key).
func (d *Dialect) upsertShape(table string, key, columns []string) (*shape, error) {
	if err := checkNames(columns, "upsert"); err != nil {
		return nil, err
	}
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	keyIdx, err := positions(key, columns, "key")
	if err != nil {
		return nil, err
	}
	isKey := make([]bool, len(columns))
	for _, i := range keyIdx {
		isKey[i] = true
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" AS " + oldAlias + " (")
	if err := writeIdentList(&b, columns, "column"); err != nil {
		return nil, err
	}
	b.WriteString(") VALUES ")
	prefix := b.String()

	var s strings.Builder
	if err := writeConflict(&s, key); err != nil {
		return nil, err
	}
	first := true
	for i, c := range columns {
		if isKey[i] {
			continue
		}
		if first {
			s.WriteString("DO UPDATE SET ")
		} else {
			s.WriteByte(',')
		}
		first = false
		q := quoted(c)
		s.WriteString(q + "=EXCLUDED." + q)
	}
	if first {
		s.WriteString("DO NOTHING")
	}
	return d.newShape(prefix, s.String(), len(columns), false, keyIdx)
}

// deleteShape: DELETE FROM t WHERE (key) IN (...).
func (d *Dialect) deleteShape(table string, key []string) (*shape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" WHERE ")
	bare, err := d.keyIn(&b, key)
	if err != nil {
		return nil, err
	}
	return d.newShape(b.String(), ")", len(key), bare, leadingIndexes(len(key)))
}

// deltaShape: INSERT INTO t AS old (key, cols) VALUES ... ON CONFLICT (key)
// DO UPDATE SET c = old.c + EXCLUDED.c (in the dialect's arithmetic).
func (d *Dialect) deltaShape(table string, key, columns []string) (*shape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	if err := checkNames(columns, "delta"); err != nil {
		return nil, err
	}
	for _, c := range columns {
		for _, k := range key {
			if c == k {
				return nil, fmt.Errorf("column %q is both a key and a delta column", c)
			}
		}
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" AS " + oldAlias + " (")
	if err := writeIdentList(&b, key, "key column"); err != nil {
		return nil, err
	}
	b.WriteByte(',')
	if err := writeIdentList(&b, columns, "delta column"); err != nil {
		return nil, err
	}
	b.WriteString(") VALUES ")
	prefix := b.String()

	var s strings.Builder
	if err := writeConflict(&s, key); err != nil {
		return nil, err
	}
	s.WriteString("DO UPDATE SET ")
	for i, c := range columns {
		if i > 0 {
			s.WriteByte(',')
		}
		q := quoted(c)
		s.WriteString(q + "=" + d.Delta(oldAlias+"."+q, "EXCLUDED."+q))
	}
	n := len(key) + len(columns)
	return d.newShape(prefix, s.String(), n, false, leadingIndexes(len(key)))
}

// zeroDeleteShape: DELETE FROM t WHERE <z is 0> AND (key) IN (...).
func (d *Dialect) zeroDeleteShape(table string, key []string, zeroColumn string) (*shape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" WHERE ")
	var z strings.Builder
	if err := writeIdent(&z, zeroColumn); err != nil {
		return nil, fmt.Errorf("delete-when-zero column: %w", err)
	}
	b.WriteString(d.IsZero(z.String()))
	b.WriteString(" AND ")
	bare, err := d.keyIn(&b, key)
	if err != nil {
		return nil, err
	}
	return d.newShape(b.String(), ")", len(key), bare, leadingIndexes(len(key)))
}

// insertShape: INSERT INTO t (cols) VALUES ... (append-only; a duplicate
// key fails the batch).
func (d *Dialect) insertShape(table string, columns []string) (*shape, error) {
	if err := checkNames(columns, "insert"); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("INSERT INTO ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" (")
	if err := writeIdentList(&b, columns, "column"); err != nil {
		return nil, err
	}
	b.WriteString(") VALUES ")
	return d.newShape(b.String(), "", len(columns), false, nil)
}

// recomputeShape: UPDATE t AS row SET c = (SELECT MIN(state.of) FROM s AS
// state WHERE state.k = row.k ...), d = num / den, ... WHERE (key) IN (...).
func (d *Dialect) recomputeShape(table string, key []string, set []connectors.Computed) (*shape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, errors.New("no columns to recompute")
	}
	var b strings.Builder
	b.WriteString("UPDATE ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" AS " + rowAlias + " SET ")
	for _, k := range key {
		if err := writeIdent(&strings.Builder{}, k); err != nil {
			return nil, fmt.Errorf("key column %q: %w", k, err)
		}
	}
	for i, c := range set {
		if i > 0 {
			b.WriteByte(',')
		}
		if err := writeIdent(&b, c.Column); err != nil {
			return nil, fmt.Errorf("recomputed column %d: %w", i, err)
		}
		b.WriteByte('=')
		switch c.Func {
		case "min", "max", "count":
			if c.State == "" || c.State == table {
				return nil, fmt.Errorf("recomputed column %q: state table %q must be set and differ from the table", c.Column, c.State)
			}
			b.WriteString("(SELECT ")
			if c.Func == "count" {
				b.WriteString("COUNT(*)")
			} else {
				b.WriteString(strings.ToUpper(c.Func))
				b.WriteString("(" + stateAlias + ".")
				if err := writeIdent(&b, c.Of); err != nil {
					return nil, fmt.Errorf("recomputed column %q: state column: %w", c.Column, err)
				}
				b.WriteString(d.MinMaxCollate)
				b.WriteByte(')')
			}
			b.WriteString(" FROM ")
			if err := writeTable(&b, c.State); err != nil {
				return nil, fmt.Errorf("recomputed column %q: state %w", c.Column, err)
			}
			b.WriteString(" AS " + stateAlias + " WHERE ")
			for j, k := range key {
				if j > 0 {
					b.WriteString(" AND ")
				}
				q := quoted(k)
				b.WriteString(stateAlias + "." + q + "=" + rowAlias + "." + q)
			}
			b.WriteByte(')')
		case "lookup":
			// A maintained join: the State row whose StateKey equals the
			// row's Match columns, NULL without one.
			if c.State == "" || c.State == table {
				return nil, fmt.Errorf("recomputed column %q: state table %q must be set and differ from the table", c.Column, c.State)
			}
			if len(c.Match) == 0 || len(c.Match) != len(c.StateKey) {
				return nil, fmt.Errorf("recomputed column %q: lookup needs as many match columns (%q) as state key columns (%q)", c.Column, c.Match, c.StateKey)
			}
			b.WriteString("(SELECT " + stateAlias + ".")
			if err := writeIdent(&b, c.Of); err != nil {
				return nil, fmt.Errorf("recomputed column %q: state column: %w", c.Column, err)
			}
			b.WriteString(" FROM ")
			if err := writeTable(&b, c.State); err != nil {
				return nil, fmt.Errorf("recomputed column %q: state %w", c.Column, err)
			}
			b.WriteString(" AS " + stateAlias + " WHERE ")
			for j := range c.Match {
				if j > 0 {
					b.WriteString(" AND ")
				}
				var sk, m strings.Builder
				if err := writeIdent(&sk, c.StateKey[j]); err != nil {
					return nil, fmt.Errorf("recomputed column %q: state key column %d: %w", c.Column, j, err)
				}
				if err := writeIdent(&m, c.Match[j]); err != nil {
					return nil, fmt.Errorf("recomputed column %q: match column %d: %w", c.Column, j, err)
				}
				b.WriteString(stateAlias + "." + sk.String() + "=" + rowAlias + "." + m.String())
			}
			b.WriteByte(')')
		case "div":
			var num, den strings.Builder
			if err := writeIdent(&num, c.Num); err != nil {
				return nil, fmt.Errorf("recomputed column %q: numerator: %w", c.Column, err)
			}
			if err := writeIdent(&den, c.Den); err != nil {
				return nil, fmt.Errorf("recomputed column %q: denominator: %w", c.Column, err)
			}
			b.WriteString(d.Div(num.String(), den.String()))
		default:
			return nil, fmt.Errorf("recomputed column %q: unknown func %q (expected min, max, count, lookup or div)", c.Column, c.Func)
		}
	}
	b.WriteString(" WHERE ")
	bare, err := d.keyIn(&b, key)
	if err != nil {
		return nil, err
	}
	return d.newShape(b.String(), ")", len(key), bare, leadingIndexes(len(key)))
}

// shapeCache keeps the statement shapes of a store.
type shapeCache = stmt.Cache[*shape]

// chunkLen returns how many of rows (at least one) go into the next
// statement: no more than a full chunk, no more than fit in the argument
// budget, and a power of two when the dialect asks for it and the chunk is
// not full.
func (d *Dialect) chunkLen(rows [][]any, s *shape) int {
	size, n := 0, 0
	for n < len(rows) && n < s.maxRows {
		size += estimateRowSize(rows[n])
		if n > 0 && size > maxArgBytes {
			break
		}
		n++
	}
	if d.PowerOfTwoChunks && n < s.maxRows {
		n = 1 << (bits.Len(uint(n)) - 1)
	}
	return n
}

func estimateRowSize(row []any) int {
	n := 2
	for _, v := range row {
		switch v := v.(type) {
		case string:
			n += len(v) + 2
		case []byte:
			n += len(v) + 2
		default:
			n += 24
		}
	}
	return n
}
