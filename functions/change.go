// Package functions owns what a flow computes: the change records that travel
// through a flow's function chain, the built-in functions (project,
// aggregate, sink), and the registry of user Go functions, a value handed to
// the flow engine rather than a global.
//
// Functions know nothing of the binlog reader, batching policy or retries:
// the flow engine feeds them changes and asks them, at each batch boundary,
// to write what they accumulated into a connectors.Batch.
package functions

import (
	"fmt"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// Layout names the columns of the values a Change carries.
type Layout struct {
	Names []string
	index map[string]int
}

// NewLayout builds a layout over names.
func NewLayout(names []string) *Layout {
	l := &Layout{Names: names, index: make(map[string]int, len(names))}
	for i, n := range names {
		l.index[n] = i
	}
	return l
}

// Index returns the position of a column, or -1.
func (l *Layout) Index(name string) int {
	if i, ok := l.index[name]; ok {
		return i
	}
	return -1
}

// Change is one row change inside a flow. Before is nil for inserts and After
// is nil for deletes; both follow Layout. Table is the upstream table the
// change came from (for error messages and per-table decisions). Txn, when
// set, is the upstream transaction the change belongs to (position, GTID,
// commit time) and Seq the index of its upstream row in Txn.Rows; functions
// that emit new changes carry both over.
//
// The slices of a change are never modified once it is emitted: a function
// that keeps them (a sink until its flush) may do so without copying.
type Change struct {
	Op     schema.Op
	Layout *Layout
	Table  *schema.Table
	Before []any
	After  []any
	Txn    *schema.Txn
	Seq    int
}

// Next passes a change to the rest of the chain.
type Next func(*Change) error

// Function is one step of a chain. Process may emit zero, one or many
// changes to next; it must not keep c or its slices after returning unless it
// copies them.
type Function interface {
	Process(c *Change, next Next) error
}

// Accumulator is a function that holds changes until the batch boundary,
// where it writes them (coalesced) into the batch. Reset drops what was
// written once the batch is committed.
type Accumulator interface {
	Function
	Flush(b *connectors.Batch) error
	Reset()
	// Pending is how many rows Flush would write now (distinct keys or
	// groups): the size of the state held until the batch boundary.
	Pending() int
}

// FromRow wraps an upstream row as a change whose layout is the table's.
// layouts caches one Layout per *schema.Table so that the hot path does not
// allocate one per row.
type Layouts map[*schema.Table]*Layout

// Of returns the layout of t, building it on first use.
func (ls Layouts) Of(t *schema.Table) *Layout {
	if l, ok := ls[t]; ok {
		return l
	}
	names := make([]string, len(t.Columns))
	for i, c := range t.Columns {
		names[i] = c.Name
	}
	l := NewLayout(names)
	ls[t] = l
	return l
}

// ColumnError reports a column a function needs that its input lacks.
type ColumnError struct {
	Function string
	Column   string
	Table    string // upstream table, when known
}

func (e *ColumnError) Error() string {
	if e.Table != "" {
		return fmt.Sprintf("%s: column %q not found in table %s", e.Function, e.Column, e.Table)
	}
	return fmt.Sprintf("%s: column %q not found in its input", e.Function, e.Column)
}

func tableName(t *schema.Table) string {
	if t == nil {
		return ""
	}
	return t.FullName()
}

// resolver maps column names to indexes in each input layout it meets,
// caching per layout (layouts are few: one per upstream table schema).
type resolver struct {
	function string
	names    []string
	lastIn   *Layout
	lastIdx  []int
	cache    map[*Layout][]int
}

func newResolver(function string, names []string) resolver {
	return resolver{function: function, names: names, cache: make(map[*Layout][]int)}
}

func (r *resolver) indexes(c *Change) ([]int, error) {
	if c.Layout == r.lastIn {
		return r.lastIdx, nil
	}
	idx, ok := r.cache[c.Layout]
	if !ok {
		idx = make([]int, len(r.names))
		for i, n := range r.names {
			j := c.Layout.Index(n)
			if j < 0 {
				return nil, &ColumnError{Function: r.function, Column: n, Table: tableName(c.Table)}
			}
			idx[i] = j
		}
		r.cache[c.Layout] = idx
	}
	r.lastIn, r.lastIdx = c.Layout, idx
	return idx, nil
}
