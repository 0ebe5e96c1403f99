package connectors

import (
	"errors"
	"time"

	"github.com/binflow/binflow/schema"
)

// SnapshotProgress is how far a flow's initial snapshot (or rebuild) has got.
// A connector stores it in the same transaction as the derived rows it
// describes, so after a crash the rows downstream are exactly those of the
// chunks it lists: every row of the tables before Table, and the rows of
// Table up to and including LastKey, as of the upstream's binlog position
// Pos.
type SnapshotProgress struct {
	Flow string
	// Pos is the binlog position the copied rows reflect (the consistent
	// view's, then moved forward by catch-up after a restart); zero for a
	// snapshot requested (by `binflow rebuild`) but not started.
	Pos  schema.Position
	GTID string
	// ServerID and ServerUUID identify the upstream Pos belongs to.
	ServerID   uint32
	ServerUUID string
	// Table is the index, in the flow's table list, of the table being
	// copied (the number of tables once all are); TableName names it.
	Table     int
	TableName string
	// LastKey is the encoded primary key of the last row copied of Table,
	// empty when none is.
	LastKey string
	// Rows copied so far and the estimate of the total (information_schema).
	Rows, Estimate uint64
	// Resumes counts the restarts the snapshot survived.
	Resumes int
	Started time.Time
}

// Same reports whether p and o describe the same point of the same
// snapshot (the fields a connector compares to recognise a batch it has
// already committed).
func (p SnapshotProgress) Same(o SnapshotProgress) bool {
	return p.Flow == o.Flow && p.Pos == o.Pos && p.GTID == o.GTID && p.ServerID == o.ServerID &&
		p.ServerUUID == o.ServerUUID && p.Table == o.Table && p.LastKey == o.LastKey && p.Rows == o.Rows
}

// ErrCheckpointMoved means a flow's checkpoint or snapshot progress in the
// downstream is not the one the writer last committed: something else (a
// `binflow rebuild` or `binflow reset`, or another binflow running the same
// flow) changed it. Nothing of the batch was written; the writer must reload
// the flow's state before writing again.
var ErrCheckpointMoved = errors.New("the flow's checkpoint was changed by another process")
