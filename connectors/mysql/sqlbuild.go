package mysql

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/connectors/internal/stmt"
)

// Statement limits. A statement carries at most maxRowsPerStatement rows and
// maxPlaceholders placeholders, and its arguments are estimated to stay under
// a byte budget that Open derives from the server's max_allowed_packet.
const (
	maxRowsPerStatement = 1000
	maxPlaceholders     = 65535
	maxArgBytes         = 4 << 20
	minArgBytes         = 64 << 10
)

// statementKind tells which multi-row statement a shape is for.
type statementKind = stmt.Kind

const (
	kindUpsert     = stmt.Upsert
	kindDelete     = stmt.Delete
	kindDelta      = stmt.Delta
	kindZeroDelete = stmt.ZeroDelete
	kindInsert     = stmt.Insert
	kindRecompute  = stmt.Recompute
)

// stmtShape is the SQL of one multi-row statement for one table and column
// list, split around the row tuple it repeats once per row:
//
//	prefix tuple,tuple,...,tuple suffix
type stmtShape struct {
	prefix  string
	tuple   string // "(?,?,?)", or "?" for a single-column IN list
	suffix  string
	perRow  int   // placeholders per row
	maxRows int   // rows of a full chunk
	keyIdx  []int // where the key values are in a row

	fullOnce sync.Once
	full     string // the statement for maxRows rows, built on first use
}

// sql returns the statement for rows rows. The statement of a full chunk is
// built once per shape; other sizes are built on each call.
func (s *stmtShape) sql(rows int) string {
	if rows == s.maxRows {
		s.fullOnce.Do(func() { s.full = s.build(rows) })
		return s.full
	}
	return s.build(rows)
}

// build writes the statement for rows rows with a single allocation.
func (s *stmtShape) build(rows int) string {
	var b strings.Builder
	b.Grow(len(s.prefix) + rows*(len(s.tuple)+1) + len(s.suffix))
	b.WriteString(s.prefix)
	for i := range rows {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(s.tuple)
	}
	b.WriteString(s.suffix)
	return b.String()
}

func newShape(prefix, tuple, suffix string, perRow int, keyIdx []int) (*stmtShape, error) {
	maxRows := min(maxRowsPerStatement, maxPlaceholders/perRow)
	if maxRows < 1 {
		return nil, fmt.Errorf("%d columns per row exceed the %d placeholders of a statement", perRow, maxPlaceholders)
	}
	return &stmtShape{prefix: prefix, tuple: tuple, suffix: suffix, perRow: perRow, maxRows: maxRows, keyIdx: keyIdx}, nil
}

// leadingIndexes returns 0, 1, ..., n-1: the key positions of rows that
// start with their key.
func leadingIndexes(n int) []int {
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	return idx
}

// tupleOf returns "(?,?,...)" with n placeholders, or "?" when n is 1 and
// bare is set.
func tupleOf(n int, bare bool) string {
	if n == 1 && bare {
		return "?"
	}
	return "(" + strings.Repeat("?,", n-1) + "?)"
}

// writeIdentList writes "`a`,`b`,...".
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

// positions returns the index in columns of each name, or an error naming
// the first one missing.
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

// writeKeyIn writes "(`k1`,`k2`) IN (" or "`k` IN (".
func writeKeyIn(b *strings.Builder, key []string) error {
	if len(key) == 1 {
		if err := writeIdent(b, key[0]); err != nil {
			return fmt.Errorf("key column 0: %w", err)
		}
	} else {
		b.WriteByte('(')
		if err := writeIdentList(b, key, "key column"); err != nil {
			return err
		}
		b.WriteByte(')')
	}
	b.WriteString(" IN (")
	return nil
}

// upsertShape: INSERT INTO t (cols) VALUES (...),... ON DUPLICATE KEY UPDATE
// non-key columns to the new values (a no-op assignment when every column is
// part of the key).
func upsertShape(table string, key, columns []string) (*stmtShape, error) {
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
	b.WriteString(" (")
	if err := writeIdentList(&b, columns, "column"); err != nil {
		return nil, err
	}
	b.WriteString(") VALUES ")
	prefix := b.String()

	var s strings.Builder
	s.WriteString(" ON DUPLICATE KEY UPDATE ")
	first := true
	for i, c := range columns {
		if isKey[i] {
			continue
		}
		if !first {
			s.WriteByte(',')
		}
		first = false
		q, _ := QuoteIdent(c) // checked by writeIdentList above
		s.WriteString(q)
		s.WriteString("=VALUES(")
		s.WriteString(q)
		s.WriteByte(')')
	}
	if first {
		q, _ := QuoteIdent(columns[keyIdx[0]])
		s.WriteString(q)
		s.WriteByte('=')
		s.WriteString(q)
	}
	return newShape(prefix, tupleOf(len(columns), false), s.String(), len(columns), keyIdx)
}

// deleteShape: DELETE FROM t WHERE (k1,k2) IN ((?,?),...).
func deleteShape(table string, key []string) (*stmtShape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" WHERE ")
	if err := writeKeyIn(&b, key); err != nil {
		return nil, err
	}
	return newShape(b.String(), tupleOf(len(key), true), ")", len(key), leadingIndexes(len(key)))
}

// deltaShape: INSERT INTO t (keys, cols) VALUES ... ON DUPLICATE KEY UPDATE
// c = c + VALUES(c).
func deltaShape(table string, key, columns []string) (*stmtShape, error) {
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
	b.WriteString(" (")
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
	s.WriteString(" ON DUPLICATE KEY UPDATE ")
	for i, c := range columns {
		if i > 0 {
			s.WriteByte(',')
		}
		q, _ := QuoteIdent(c)
		s.WriteString(q)
		s.WriteByte('=')
		s.WriteString(q)
		s.WriteString("+VALUES(")
		s.WriteString(q)
		s.WriteByte(')')
	}
	n := len(key) + len(columns)
	return newShape(prefix, tupleOf(n, false), s.String(), n, leadingIndexes(len(key)))
}

// zeroDeleteShape: DELETE FROM t WHERE z = 0 AND (k1,k2) IN ((?,?),...).
func zeroDeleteShape(table string, key []string, zeroColumn string) (*stmtShape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("DELETE FROM ")
	if err := writeTable(&b, table); err != nil {
		return nil, err
	}
	b.WriteString(" WHERE ")
	if err := writeIdent(&b, zeroColumn); err != nil {
		return nil, fmt.Errorf("delete-when-zero column: %w", err)
	}
	b.WriteString(" = 0 AND ")
	if err := writeKeyIn(&b, key); err != nil {
		return nil, err
	}
	return newShape(b.String(), tupleOf(len(key), true), ")", len(key), leadingIndexes(len(key)))
}

// insertShape: INSERT INTO t (cols) VALUES (...),... (append-only; a
// duplicate key fails the batch).
func insertShape(table string, columns []string) (*stmtShape, error) {
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
	return newShape(b.String(), tupleOf(len(columns), false), "", len(columns), nil)
}

// recomputeShape: UPDATE t SET c = (SELECT MIN(s.of) FROM state AS s WHERE
// s.k1 = t.k1 AND ...), d = num / NULLIF(den, 0), ... WHERE (k1,k2) IN (...).
// The subqueries read the state rows of each updated row's key (the state
// table's primary key starts with the key, so each is an index range).
func recomputeShape(table string, key []string, set []connectors.Computed) (*stmtShape, error) {
	if err := checkNames(key, "key"); err != nil {
		return nil, err
	}
	if len(set) == 0 {
		return nil, errors.New("no columns to recompute")
	}
	var outer strings.Builder
	if err := writeTable(&outer, table); err != nil {
		return nil, err
	}
	var b strings.Builder
	b.WriteString("UPDATE ")
	b.WriteString(outer.String())
	b.WriteString(" SET ")
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
				b.WriteString("(`s`.")
				if err := writeIdent(&b, c.Of); err != nil {
					return nil, fmt.Errorf("recomputed column %q: state column: %w", c.Column, err)
				}
				b.WriteByte(')')
			}
			b.WriteString(" FROM ")
			if err := writeTable(&b, c.State); err != nil {
				return nil, fmt.Errorf("recomputed column %q: state %w", c.Column, err)
			}
			b.WriteString(" AS `s` WHERE ")
			for j, k := range key {
				if j > 0 {
					b.WriteString(" AND ")
				}
				b.WriteString("`s`.")
				_ = writeIdent(&b, k) // checked by checkNames and below
				b.WriteByte('=')
				b.WriteString(outer.String())
				b.WriteByte('.')
				if err := writeIdent(&b, k); err != nil {
					return nil, fmt.Errorf("key column %d: %w", j, err)
				}
			}
			b.WriteByte(')')
		case "lookup":
			if err := writeLookup(&b, outer.String(), table, c); err != nil {
				return nil, err
			}
		case "div":
			if err := writeIdent(&b, c.Num); err != nil {
				return nil, fmt.Errorf("recomputed column %q: numerator: %w", c.Column, err)
			}
			b.WriteString("/NULLIF(")
			if err := writeIdent(&b, c.Den); err != nil {
				return nil, fmt.Errorf("recomputed column %q: denominator: %w", c.Column, err)
			}
			b.WriteString(",0)")
		default:
			return nil, fmt.Errorf("recomputed column %q: unknown func %q (expected min, max, count, lookup or div)", c.Column, c.Func)
		}
	}
	b.WriteString(" WHERE ")
	if err := writeKeyIn(&b, key); err != nil {
		return nil, err
	}
	return newShape(b.String(), tupleOf(len(key), true), ")", len(key), leadingIndexes(len(key)))
}

// writeLookup writes a maintained join's subquery: (SELECT `s`.of FROM
// state AS `s` WHERE `s`.k1 = row.m1 AND ...), NULL without a state row.
// The state table's key is StateKey, so the subquery reads one index entry.
func writeLookup(b *strings.Builder, outer, table string, c connectors.Computed) error {
	if c.State == "" || c.State == table {
		return fmt.Errorf("recomputed column %q: state table %q must be set and differ from the table", c.Column, c.State)
	}
	if len(c.Match) == 0 || len(c.Match) != len(c.StateKey) {
		return fmt.Errorf("recomputed column %q: lookup needs as many match columns (%q) as state key columns (%q)", c.Column, c.Match, c.StateKey)
	}
	b.WriteString("(SELECT `s`.")
	if err := writeIdent(b, c.Of); err != nil {
		return fmt.Errorf("recomputed column %q: state column: %w", c.Column, err)
	}
	b.WriteString(" FROM ")
	if err := writeTable(b, c.State); err != nil {
		return fmt.Errorf("recomputed column %q: state %w", c.Column, err)
	}
	b.WriteString(" AS `s` WHERE ")
	for j := range c.Match {
		if j > 0 {
			b.WriteString(" AND ")
		}
		b.WriteString("`s`.")
		if err := writeIdent(b, c.StateKey[j]); err != nil {
			return fmt.Errorf("recomputed column %q: state key column %d: %w", c.Column, j, err)
		}
		b.WriteByte('=')
		b.WriteString(outer)
		b.WriteByte('.')
		if err := writeIdent(b, c.Match[j]); err != nil {
			return fmt.Errorf("recomputed column %q: match column %d: %w", c.Column, j, err)
		}
	}
	b.WriteByte(')')
	return nil
}

// shapeCache keeps the statement shapes of a store.
type shapeCache = stmt.Cache[*stmtShape]

// chunkLen returns how many of rows (at least one) go into the next
// statement of shape s: no more than a full chunk, and no more than fit in
// the argument byte budget.
func chunkLen(rows [][]any, s *stmtShape, budget int) int {
	size := 0
	n := 0
	for n < len(rows) && n < s.maxRows {
		size += estimateRowSize(rows[n])
		if n > 0 && size > budget {
			break
		}
		n++
	}
	return n
}

// estimateRowSize estimates the bytes a row's values take in the statement
// text once the driver interpolates them.
func estimateRowSize(row []any) int {
	n := 2
	for _, v := range row {
		n += estimateValueSize(v) + 1
	}
	return n
}

func estimateValueSize(v any) int {
	switch v := v.(type) {
	case nil:
		return 4
	case string:
		return len(v) + 2
	case []byte:
		return len(v) + 10 // _binary'...'
	case int64, uint64, int, int32, uint32, int16, uint16, int8, uint8, uint:
		return 20
	case float64, float32:
		return 24
	case bool:
		return 1
	case time.Time:
		return 28
	case decimal.Decimal:
		return 70 // DECIMAL(65,30) with sign and point
	}
	return 64
}

// checkRows checks that every row has one value per placeholder of s and no
// NULL in its key.
func checkRows(rows [][]any, s *stmtShape, key []string) error {
	return stmt.CheckRows(rows, s.perRow, s.keyIdx, key)
}
