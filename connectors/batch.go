// Package connectors owns the downstream side of the data path: the shape of
// a batch of writes (this file) and, in sub-packages, one connector per store
// that applies a batch and its checkpoints in one transaction.
//
// Connectors know nothing of flows, functions or the binlog beyond the
// checkpoint they persist; they never reorder or drop writes.
package connectors

import (
	"time"

	"github.com/binflow/binflow/schema"
)

// Checkpoint is how far one flow has applied the upstream binlog.
type Checkpoint struct {
	Flow string
	// Pos is the position just after the last applied upstream transaction.
	Pos schema.Position
	// GTID of the last applied transaction, when the upstream has GTIDs.
	GTID string
	// ServerID and ServerUUID identify the upstream the position belongs to.
	ServerID   uint32
	ServerUUID string
	// CommitTime is the upstream commit time of the last applied transaction.
	CommitTime time.Time
}

// Upsert writes whole rows, replacing any row with the same key.
type Upsert struct {
	Table   string
	Key     []string // key column names, a prefix-free subset of Columns
	Columns []string
	Rows    [][]any // values in Columns order
}

// Delete removes rows by key.
type Delete struct {
	Table string
	Key   []string
	Keys  [][]any // key values in Key order
}

// Delta adds to numeric columns of the row with a given key, creating the row
// (from zero) when it is missing. Values are int64 or decimal.Decimal.
type Delta struct {
	Table   string
	Key     []string
	Columns []string // the columns to add to
	// Rows hold the key values followed by the deltas, in Key then Columns order.
	Rows [][]any
	// DeleteWhenZero names a column (usually a count): after the deltas are
	// applied, touched rows where it is 0 are deleted.
	DeleteWhenZero string
}

// Insert appends rows to a table (an append-only history): a plain INSERT,
// never replacing a row. A duplicate key is an error.
type Insert struct {
	Table   string
	Columns []string
	Rows    [][]any // values in Columns order
}

// Recompute sets columns of the rows of Table with the given keys from data
// already downstream, after the batch's deltas: an aggregate over a state
// table (MIN, MAX or COUNT of the state rows with the same key), or the ratio
// of two columns of the row itself (an average from a sum and a count). Keys
// without a row are skipped.
type Recompute struct {
	Table string
	Key   []string
	Keys  [][]any // key values in Key order
	Set   []Computed
}

// Computed is one column a Recompute sets.
type Computed struct {
	Column string
	// Func is "min", "max" or "count" over State, "lookup" of a State row,
	// or "div" of Num by Den.
	Func string
	// State is the state table: for min, max and count its first columns
	// are Key (same names), Of is the column MIN and MAX read; COUNT counts
	// the rows. For lookup, Of is the column copied from the State row whose
	// StateKey columns equal the row's Match columns (NULL when there is
	// none): a maintained join.
	State    string
	Of       string
	Match    []string
	StateKey []string
	// Num and Den are columns of Table: Column = Num / Den, or NULL when Den
	// is 0.
	Num, Den string
}

// Batch is everything one flow writes in one downstream transaction. A
// connector applies Deletes, then Upserts, then Inserts, then Deltas, then
// Recomputes, then stores the checkpoint, all or nothing. Producers coalesce
// writes per key so that the lists never touch the same key of the same table
// (Recomputes excepted: they read what the deltas wrote).
type Batch struct {
	Deletes    []Delete
	Upserts    []Upsert
	Inserts    []Insert
	Deltas     []Delta
	Recomputes []Recompute
	Checkpoint Checkpoint
}

// Len is the number of row writes in the batch (Recomputes, which rewrite
// rows the deltas touched, are not counted).
func (b *Batch) Len() int {
	n := 0
	for i := range b.Deletes {
		n += len(b.Deletes[i].Keys)
	}
	for i := range b.Upserts {
		n += len(b.Upserts[i].Rows)
	}
	for i := range b.Inserts {
		n += len(b.Inserts[i].Rows)
	}
	for i := range b.Deltas {
		n += len(b.Deltas[i].Rows)
	}
	// Recomputes rewrite rows the deltas already counted.
	return n
}
