package functions

import (
	"fmt"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// Sink (KisFlow's save mode) writes its input to a derived table, and passes
// every change on unchanged, so a flow may fan out to several sinks. Modes:
//
//   - upsert (default) keeps the table equal to its input, keyed by key
//     columns: inserts and updates upsert, deletes delete, an update that
//     changes the key deletes the old key. Within a batch only the last state
//     of each key is written.
//   - append keeps a history: one row per change, the row's image (after
//     the change; before it for a delete) and op, binlog_file, binlog_pos
//     (the position just after the upstream transaction), binlog_row (the
//     number of the row among those the sink appended for that transaction)
//     and commit_time. Its key is (binlog_file, binlog_pos, binlog_row), so
//     a replayed transaction could not be appended twice even without the
//     exactly-once checkpoint. Rows copied by a snapshot have no binlog
//     position and are not appended.
//   - delete deletes the key of every row inserted or updated into its input
//     (say, the orders a filter selects as cancelled, from another flow's
//     table); deletes reaching it write nothing.
type Sink struct {
	table   string
	key     []string
	mode    string
	resolve resolver
	// The keys touched since the last Reset: entries in first-seen order
	// (for deterministic writes), found by encoded key, or by value for a
	// one-column integer key (the common id), which needs no encoding.
	pending map[string]int32
	ints    map[int64]int32
	entries []sinkEntry
	keyBuf  []byte

	// append mode
	appends  map[*Layout]int // layout -> index in inserts
	inserts  []connectors.Insert
	nappend  int
	lastTxn  *schema.Txn
	txnRows  int64
	appendTo []string // output columns per layout are its names plus these
}

type sinkEntry struct {
	layout *Layout
	row    []any // full row to upsert; nil means delete
	key    []any
}

// NewSink builds an upsert sink writing to table with the given key columns.
func NewSink(table string, key []string) *Sink {
	s, _ := NewSinkMode(table, key, config.ModeUpsert)
	return s
}

// NewSinkMode builds a sink of a mode: "upsert", "append" or "delete".
func NewSinkMode(table string, key []string, mode string) (*Sink, error) {
	s := &Sink{table: table, key: key, mode: mode, pending: map[string]int32{}, ints: map[int64]int32{}}
	switch mode {
	case config.ModeUpsert, config.ModeDelete, "":
		s.mode = config.ModeUpsert
		if mode == config.ModeDelete {
			s.mode = mode
		}
		s.resolve = newResolver("sink "+table, key)
	case config.ModeAppend:
		s.key = config.AppendKey()
		s.appends = map[*Layout]int{}
		s.appendTo = []string{config.AppendOp, config.AppendFile, config.AppendPos, config.AppendRow, config.AppendCommitTime}
	default:
		return nil, fmt.Errorf("sink %s: unknown mode %q (expected upsert, append or delete)", table, mode)
	}
	return s, nil
}

// Check verifies the key columns exist in the sink's input columns (an
// append sink's input must not have the history columns it adds).
func (s *Sink) Check(in []string) error {
	l := NewLayout(in)
	if s.mode == config.ModeAppend {
		for _, c := range s.appendTo {
			if l.Index(c) >= 0 {
				return fmt.Errorf("append sink %s: its input has a column %q, which the sink adds itself; rename or drop it with a map first", s.table, c)
			}
		}
		return nil
	}
	for _, k := range s.key {
		if l.Index(k) < 0 {
			return &ColumnError{Function: "sink " + s.table + " key", Column: k}
		}
	}
	return nil
}

// Process records the change's effect on the table and passes it on.
func (s *Sink) Process(c *Change, next Next) error {
	var err error
	switch s.mode {
	case config.ModeAppend:
		err = s.append(c)
	case config.ModeDelete:
		if c.After != nil {
			var idx []int
			if idx, err = s.resolve.indexes(c); err == nil {
				err = s.record(c.Layout, idx, c.After, nil)
			}
		}
	default:
		err = s.upsert(c)
	}
	if err != nil {
		return err
	}
	return next(c)
}

// append adds one history row. Rows without a binlog position (copied by
// a snapshot) are not history: they are passed on, not appended.
func (s *Sink) append(c *Change) error {
	if c.Txn == nil {
		return nil
	}
	img := c.After
	if img == nil {
		img = c.Before
	}
	if c.Txn != s.lastTxn {
		s.lastTxn, s.txnRows = c.Txn, 0
	}
	file, pos := c.Txn.End.File, c.Txn.End.Pos
	var commit any
	if !c.Txn.CommitTime.IsZero() {
		commit = c.Txn.CommitTime.UTC()
	}
	row := make([]any, len(img), len(img)+len(s.appendTo))
	copy(row, img)
	row = append(row, c.Op.String(), file, int64(pos), s.txnRows, commit)
	s.txnRows++
	i, ok := s.appends[c.Layout]
	if !ok {
		cols := append(append([]string(nil), c.Layout.Names...), s.appendTo...)
		s.inserts = append(s.inserts, connectors.Insert{Table: s.table, Columns: cols})
		i = len(s.inserts) - 1
		s.appends[c.Layout] = i
	}
	s.inserts[i].Rows = append(s.inserts[i].Rows, row)
	s.nappend++
	return nil
}

// upsert records the change's effect on its key.
func (s *Sink) upsert(c *Change) error {
	idx, err := s.resolve.indexes(c)
	if err != nil {
		return err
	}
	if c.Before != nil && (c.Op == schema.Delete || c.After != nil) {
		if c.After == nil {
			return s.record(c.Layout, idx, c.Before, nil)
		}
		// An update moves the row when its key changes: delete the old key.
		same := true
		for _, j := range idx {
			if !sameValue(c.Before[j], c.After[j]) {
				same = false
				break
			}
		}
		if !same {
			if err := s.record(c.Layout, idx, c.Before, nil); err != nil {
				return err
			}
		}
	}
	if c.After != nil {
		return s.record(c.Layout, idx, c.After, c.After)
	}
	return nil
}

func (s *Sink) record(l *Layout, idx []int, keyRow, row []any) error {
	var i int32
	if k, ok := intKey(keyRow, idx, len(idx)); ok {
		var found bool
		if i, found = s.ints[k]; !found {
			i = int32(len(s.entries))
			s.entries = append(s.entries, sinkEntry{})
			s.ints[k] = i
		}
	} else {
		var err error
		s.keyBuf, err = appendKeyOf(s.keyBuf[:0], keyRow, idx)
		if err != nil {
			return fmt.Errorf("sink %s: %w", s.table, err)
		}
		var found bool
		if i, found = s.pending[string(s.keyBuf)]; !found {
			i = int32(len(s.entries))
			s.entries = append(s.entries, sinkEntry{})
			s.pending[string(s.keyBuf)] = i
		}
	}
	e := &s.entries[i]
	e.layout, e.row = l, row
	if row == nil {
		e.key = make([]any, len(idx))
		for i, j := range idx {
			e.key[i] = keyRow[j]
		}
	}
	return nil
}

// Flush writes the last state of every touched key, or the appended rows.
func (s *Sink) Flush(b *connectors.Batch) error {
	for _, in := range s.inserts {
		if len(in.Rows) > 0 {
			b.Inserts = append(b.Inserts, in)
		}
	}
	if len(s.entries) == 0 {
		return nil
	}
	var del *connectors.Delete
	ups := map[*Layout]int{} // layout -> index in b.Upserts
	for i := range s.entries {
		e := &s.entries[i]
		if e.row == nil {
			if del == nil {
				b.Deletes = append(b.Deletes, connectors.Delete{Table: s.table, Key: s.key})
				del = &b.Deletes[len(b.Deletes)-1]
			}
			del.Keys = append(del.Keys, e.key)
			continue
		}
		i, ok := ups[e.layout]
		if !ok {
			b.Upserts = append(b.Upserts, connectors.Upsert{Table: s.table, Key: s.key, Columns: e.layout.Names})
			i = len(b.Upserts) - 1
			ups[e.layout] = i
		}
		b.Upserts[i].Rows = append(b.Upserts[i].Rows, e.row)
	}
	return nil
}

// Pending is the number of keys touched (or rows appended) since the last
// Reset.
func (s *Sink) Pending() int { return len(s.entries) + s.nappend }

// Reset forgets the flushed state. The flushed batch keeps the appended
// rows: the sink starts new slices rather than reusing them.
func (s *Sink) Reset() {
	clear(s.pending)
	clear(s.ints)
	clear(s.entries) // the batch keeps the rows, not the entries
	s.entries = s.entries[:0]
	clear(s.appends)
	s.inserts, s.nappend, s.lastTxn = nil, 0, nil
}

func sameValue(a, b any) bool {
	ka, err1 := appendKey(nil, a)
	kb, err2 := appendKey(nil, b)
	return err1 == nil && err2 == nil && string(ka) == string(kb)
}
