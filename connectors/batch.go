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

// Batch is everything one flow writes in one downstream transaction. A
// connector applies Deletes, then Upserts, then Deltas, then stores the
// checkpoint, all or nothing. Producers coalesce writes per key so that the
// three lists never touch the same key of the same table.
type Batch struct {
	Deletes    []Delete
	Upserts    []Upsert
	Deltas     []Delta
	Checkpoint Checkpoint
}

// Len is the number of row writes in the batch.
func (b *Batch) Len() int {
	n := 0
	for i := range b.Deletes {
		n += len(b.Deletes[i].Keys)
	}
	for i := range b.Upserts {
		n += len(b.Upserts[i].Rows)
	}
	for i := range b.Deltas {
		n += len(b.Deltas[i].Rows)
	}
	return n
}
