package functions

import (
	"fmt"
	"slices"
	"strings"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// Join maintains a LEFT JOIN of the flow's rows with another upstream table
// (the joined table) on key columns: its sink's table holds every row of
// the flow with the joined row's columns added (NULL without a match), and
// stays so when either side changes.
//
// The joined table's rows are kept downstream, in a state table keyed by the
// joined columns, written in the same transaction as the sink and the
// checkpoint. The derived rows are completed in SQL by the connector after
// the batch's writes (a connectors.Recompute with "lookup" columns): the
// rows the batch wrote, by the sink's key, and the rows whose join columns
// equal a joined key that changed. So every derived row equals its flow row
// joined with the joined table as of the checkpoint: exact under updates of
// either side, join keys that change, deletes, restarts and kill -9, with no
// state in memory beyond the batch and no reads from the upstream.
//
// The joined table's changes bypass the functions before the join (they
// see the flow's own rows only) and update the sink's table in place, so a
// join is followed by its sink (validated with the config).
type Join struct {
	joined       string // "db.table"
	joinedDB     string
	joinedName   string
	rowOn        []string // columns of the flow row
	joinedOn     []string // columns of the joined table: its primary key
	columns      []string // columns of the joined table added
	names        []string // their names in the row
	state        string
	sinkTable    string
	sinkKey      []string
	joinedRead   resolver // joinedOn then columns, in joined-table layouts
	sinkKeyRead  resolver // the sink key, in input layouts
	adds         addedColumns
	checkedTable *schema.Table
	set          []connectors.Computed

	// Pending until the batch is flushed: the state rows written (nil:
	// deleted) by encoded joined key, in first-seen order; the sink keys of
	// the rows passed on; the joined keys whose derived rows must be
	// completed again.
	stateIndex map[string]int
	stateKeys  [][]any
	stateRows  [][]any
	rowKeys    keySet
	joinedKeys keySet
	buf        []byte
	slab       valueSlab
	scratch    Change // the change passed on: next may not keep it
}

// JoinConfig configures a Join.
type JoinConfig struct {
	Table    string   // the joined upstream table, "db.table"
	RowOn    []string // columns of the flow row ...
	JoinedOn []string // ... equal to these columns of the joined table
	Columns  []string // columns of the joined table to add
	Names    []string // their names in the row (default Columns)
	State    string   // downstream state table
	Sink     string   // the sink's table
	SinkKey  []string // the sink's key
}

// NewJoin builds a join.
func NewJoin(c JoinConfig) (*Join, error) {
	db, name, ok := cutTable(c.Table)
	if !ok {
		return nil, fmt.Errorf("join: table must be \"db.table\", got %q", c.Table)
	}
	if len(c.RowOn) == 0 || len(c.RowOn) != len(c.JoinedOn) {
		return nil, fmt.Errorf("join %s: on needs pairs of columns, got %q = %q", c.Table, c.RowOn, c.JoinedOn)
	}
	if len(c.Columns) == 0 {
		return nil, fmt.Errorf("join %s: no columns to add", c.Table)
	}
	names := c.Names
	if names == nil {
		names = c.Columns
	}
	if c.State == "" || c.State == c.Sink {
		return nil, fmt.Errorf("join %s: its state table %q must be set and differ from the sink's table", c.Table, c.State)
	}
	j := &Join{
		joined: c.Table, joinedDB: db, joinedName: name,
		rowOn: c.RowOn, joinedOn: c.JoinedOn, columns: c.Columns, names: names,
		state: c.State, sinkTable: c.Sink, sinkKey: c.SinkKey,
		joinedRead:  newResolver("join "+c.Table, append(slices.Clone(c.JoinedOn), c.Columns...)),
		sinkKeyRead: newResolver("join "+c.Table+" (sink key)", c.SinkKey),
		adds:        newAddedColumns("join "+c.Table, "joined", c.RowOn, names),
		stateIndex:  map[string]int{},
	}
	for i, col := range c.Columns {
		j.set = append(j.set, connectors.Computed{Column: names[i], Func: "lookup", State: c.State, Of: col, Match: c.RowOn, StateKey: c.JoinedOn})
	}
	return j, nil
}

func cutTable(full string) (db, name string, ok bool) {
	db, name, ok = strings.Cut(full, ".")
	return db, name, ok && db != "" && name != ""
}

// reads reports whether t is the joined table, whose changes reach the
// join directly.
func (j *Join) reads(t *schema.Table) bool {
	return t != nil && t.Name == j.joinedName && t.Schema == j.joinedDB
}

// Output adds the joined columns to the row's.
func (j *Join) Output(in []string) ([]string, error) { return j.adds.output(in) }

// CheckJoined verifies the joined table has the columns the join reads.
func (j *Join) CheckJoined(columns []string) error {
	have := NewLayout(columns)
	for _, c := range append(slices.Clone(j.joinedOn), j.columns...) {
		if have.Index(c) < 0 {
			return &ColumnError{Function: "join", Column: c, Table: j.joined}
		}
	}
	return nil
}

// Process passes a flow row on with the joined columns added (NULL: the
// connector fills them in after the batch's writes), or records a change of
// the joined table.
func (j *Join) Process(c *Change, next Next) error {
	if j.reads(c.Table) {
		return j.joinedChange(c)
	}
	out, err := j.adds.layout(c.Layout)
	if err != nil {
		return err
	}
	if c.After != nil {
		idx, err := j.sinkKeyRead.indexes(c)
		if err != nil {
			return err
		}
		if err := j.rowKeys.add(c.After, idx); err != nil {
			return fmt.Errorf("join %s: sink key: %w", j.joined, err)
		}
	}
	j.scratch = *c
	j.scratch.Layout = out
	j.scratch.Before = j.extend(c.Before)
	j.scratch.After = j.extend(c.After)
	return next(&j.scratch)
}

func (j *Join) extend(row []any) []any {
	if row == nil {
		return nil
	}
	out := j.slab.take(len(row) + len(j.names))
	copy(out, row)
	return out
}

// valueSlab hands out value slices carved from larger allocations, so
// that the rows a function emits cost one allocation per few hundred.
// Slices are never handed out twice: emitted rows are kept unchanged.
type valueSlab struct{ free []any }

func (s *valueSlab) take(n int) []any {
	if len(s.free) < n {
		s.free = make([]any, max(n*256, 4096))
	}
	out := s.free[:n:n]
	s.free = s.free[n:]
	return out
}

// joinedChange records a joined row's new state and the joined keys whose
// derived rows change. Rows with a NULL in a joined column match nothing.
func (j *Join) joinedChange(c *Change) error {
	if c.Table != j.checkedTable {
		if err := j.checkKey(c.Table); err != nil {
			return err
		}
		j.checkedTable = c.Table
	}
	idx, err := j.joinedRead.indexes(c)
	if err != nil {
		return err
	}
	nk := len(j.joinedOn)
	if c.Before != nil && c.After != nil && sameAt(c.Before, c.After, idx) {
		return nil // no column the join reads changed
	}
	if c.Before != nil && !nullAt(c.Before, idx[:nk]) {
		if err := j.record(c.Before, idx, false); err != nil {
			return err
		}
	}
	if c.After != nil && !nullAt(c.After, idx[:nk]) {
		if err := j.record(c.After, idx, true); err != nil {
			return err
		}
	}
	return nil
}

// checkKey refuses a joined table whose primary key is not the joined
// columns: the state table keeps one row per joined key.
func (j *Join) checkKey(t *schema.Table) error {
	if len(t.PrimaryKey) == 0 {
		return nil // the binlog does not say; the state table's key decides
	}
	var pk []string
	for _, i := range t.PrimaryKey {
		pk = append(pk, t.Columns[i].Name)
	}
	if len(pk) != len(j.joinedOn) || !sameNames(pk, j.joinedOn) {
		return fmt.Errorf("join %s: the joined columns %q must be the table's primary key %q (one joined row per key)", j.joined, j.joinedOn, pk)
	}
	return nil
}

func sameNames(a, b []string) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

func (j *Join) record(row []any, idx []int, present bool) error {
	nk := len(j.joinedOn)
	var err error
	j.buf, err = appendKeyOf(j.buf[:0], row, idx[:nk])
	if err != nil {
		return fmt.Errorf("join %s: %w", j.joined, err)
	}
	i, found := j.stateIndex[string(j.buf)]
	if !found {
		i = len(j.stateKeys)
		j.stateIndex[string(j.buf)] = i
		key := make([]any, nk)
		for k := range key {
			key[k] = row[idx[k]]
		}
		j.stateKeys = append(j.stateKeys, key)
		j.stateRows = append(j.stateRows, nil)
		j.joinedKeys.addEncoded(string(j.buf), key)
	}
	if !present {
		j.stateRows[i] = nil
		return nil
	}
	vals := make([]any, len(idx))
	for k, c := range idx {
		vals[k] = row[c]
	}
	j.stateRows[i] = vals
	return nil
}

func sameAt(a, b []any, idx []int) bool {
	for _, i := range idx {
		if !sameValue(a[i], b[i]) {
			return false
		}
	}
	return true
}

func nullAt(row []any, idx []int) bool {
	for _, i := range idx {
		if row[i] == nil {
			return true
		}
	}
	return false
}

// Flush writes the state table's changes, then completes the derived rows
// of the batch: those written by the sink (by its key) and those whose join
// columns match a changed joined key.
func (j *Join) Flush(b *connectors.Batch) error {
	var del connectors.Delete
	var up connectors.Upsert
	for i, row := range j.stateRows {
		if row == nil {
			del.Keys = append(del.Keys, j.stateKeys[i])
		} else {
			up.Rows = append(up.Rows, row)
		}
	}
	if len(del.Keys) > 0 {
		del.Table, del.Key = j.state, j.joinedOn
		b.Deletes = append(b.Deletes, del)
	}
	if len(up.Rows) > 0 {
		up.Table, up.Key, up.Columns = j.state, j.joinedOn, append(slices.Clone(j.joinedOn), j.columns...)
		b.Upserts = append(b.Upserts, up)
	}
	if len(j.rowKeys.keys) > 0 {
		b.Recomputes = append(b.Recomputes, connectors.Recompute{Table: j.sinkTable, Key: j.sinkKey, Keys: j.rowKeys.keys, Set: j.set})
	}
	if len(j.joinedKeys.keys) > 0 {
		b.Recomputes = append(b.Recomputes, connectors.Recompute{Table: j.sinkTable, Key: j.rowOn, Keys: j.joinedKeys.keys, Set: j.set})
	}
	return nil
}

// Pending counts the state rows and derived rows the next flush writes.
func (j *Join) Pending() int {
	return len(j.stateKeys) + len(j.rowKeys.keys) + len(j.joinedKeys.keys)
}

// Reset forgets what was flushed.
func (j *Join) Reset() {
	clear(j.stateIndex)
	j.stateKeys, j.stateRows = nil, nil
	j.rowKeys.reset()
	j.joinedKeys.reset()
}

// keySet collects distinct keys in first-seen order; one-column integer
// keys (the common id) need no encoding.
type keySet struct {
	index map[string]struct{}
	ints  map[int64]struct{}
	keys  [][]any
	buf   []byte
	slab  valueSlab
}

func (s *keySet) add(row []any, idx []int) error {
	if k, ok := intKey(row, idx, len(idx)); ok {
		if s.ints == nil {
			s.ints = map[int64]struct{}{}
		}
		if _, seen := s.ints[k]; seen {
			return nil
		}
		s.ints[k] = struct{}{}
		key := s.slab.take(1)
		key[0] = row[idx[0]]
		s.keys = append(s.keys, key)
		return nil
	}
	var err error
	s.buf, err = appendKeyOf(s.buf[:0], row, idx)
	if err != nil {
		return err
	}
	if _, ok := s.index[string(s.buf)]; ok {
		return nil
	}
	key := s.slab.take(len(idx))
	for k, i := range idx {
		key[k] = row[i]
	}
	s.addEncoded(string(s.buf), key)
	return nil
}

func (s *keySet) addEncoded(enc string, key []any) {
	if s.index == nil {
		s.index = map[string]struct{}{}
	}
	if _, ok := s.index[enc]; ok {
		return
	}
	s.index[enc] = struct{}{}
	s.keys = append(s.keys, key)
}

func (s *keySet) reset() {
	clear(s.index)
	clear(s.ints)
	s.keys = nil
}

// addedColumns is what a join and a lookup share: the row columns they
// match on, the columns they add after the row's, and the output layout of
// each input layout.
type addedColumns struct {
	function string // "join db.t", for errors
	what     string // "joined", "looked-up"
	rowOn    []string
	names    []string
	out      map[*Layout]*Layout
}

func newAddedColumns(function, what string, rowOn, names []string) addedColumns {
	return addedColumns{function: function, what: what, rowOn: rowOn, names: names, out: map[*Layout]*Layout{}}
}

// output is in with the added columns after it; the matched columns must
// be there, the added ones not.
func (a *addedColumns) output(in []string) ([]string, error) {
	have := NewLayout(in)
	for _, c := range a.rowOn {
		if have.Index(c) < 0 {
			return nil, &ColumnError{Function: a.function + " on", Column: c}
		}
	}
	for _, n := range a.names {
		if have.Index(n) >= 0 {
			return nil, fmt.Errorf("%s: the row already has a column %q; rename the %s column (rename = { %s = \"...\" })", a.function, n, a.what, n)
		}
	}
	return append(slices.Clone(in), a.names...), nil
}

// layout is the output layout for rows of layout in, built once.
func (a *addedColumns) layout(in *Layout) (*Layout, error) {
	if out, ok := a.out[in]; ok {
		return out, nil
	}
	names, err := a.output(in.Names)
	if err != nil {
		return nil, err
	}
	out := NewLayout(names)
	a.out[in] = out
	return out, nil
}
