package functions

import (
	"fmt"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// Sink (KisFlow's save mode) keeps a derived table equal to its input, keyed
// by key columns: inserts and updates upsert, deletes delete, an update that
// changes the key deletes the old key. Within a batch only the last state of
// each key is written.
type Sink struct {
	table   string
	key     []string
	resolve resolver
	pending map[string]*sinkEntry
	order   []string // keys in first-seen order, for deterministic writes
	keyBuf  []byte
}

type sinkEntry struct {
	layout *Layout
	row    []any // full row to upsert; nil means delete
	key    []any
}

// NewSink builds a sink writing to table with the given key columns.
func NewSink(table string, key []string) *Sink {
	return &Sink{table: table, key: key, resolve: newResolver("sink "+table, key), pending: map[string]*sinkEntry{}}
}

// Check verifies the key columns exist in the sink's input columns.
func (s *Sink) Check(in []string) error {
	l := NewLayout(in)
	for _, k := range s.key {
		if l.Index(k) < 0 {
			return &ColumnError{Function: "sink " + s.table + " key", Column: k}
		}
	}
	return nil
}

// Process records the change's effect on its key.
func (s *Sink) Process(c *Change, _ Next) error {
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
	var err error
	s.keyBuf, err = appendKeyOf(s.keyBuf[:0], keyRow, idx)
	if err != nil {
		return fmt.Errorf("sink %s: %w", s.table, err)
	}
	e, ok := s.pending[string(s.keyBuf)]
	if !ok {
		k := string(s.keyBuf)
		e = &sinkEntry{}
		s.pending[k] = e
		s.order = append(s.order, k)
	}
	e.layout, e.row = l, row
	if row == nil {
		e.key = make([]any, len(idx))
		for i, j := range idx {
			e.key[i] = keyRow[j]
		}
	}
	return nil
}

// Flush writes the last state of every touched key.
func (s *Sink) Flush(b *connectors.Batch) error {
	if len(s.order) == 0 {
		return nil
	}
	var del *connectors.Delete
	ups := map[*Layout]int{} // layout -> index in b.Upserts
	for _, k := range s.order {
		e := s.pending[k]
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

// Pending is the number of keys touched since the last Reset.
func (s *Sink) Pending() int { return len(s.order) }

// Reset forgets the flushed state.
func (s *Sink) Reset() {
	clear(s.pending)
	s.order = s.order[:0]
}

func sameValue(a, b any) bool {
	ka, err1 := appendKey(nil, a)
	kb, err2 := appendKey(nil, b)
	return err1 == nil && err2 == nil && string(ka) == string(kb)
}
