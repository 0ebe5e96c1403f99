// Package schema owns table schemas and the typed row: what one binlog row
// change looks like once decoded (table, op, before/after images as typed Go
// values, position, GTID, commit time).
//
// It must not know about flows, functions or downstream stores, and it never
// queries a server: schemas come from the binlog's table map events (with
// binlog_row_metadata=FULL) or are handed in by the caller.
package schema

import (
	"fmt"
	"time"
)

// Op is the kind of row change.
type Op uint8

const (
	Insert Op = iota + 1
	Update
	Delete
)

func (o Op) String() string {
	switch o {
	case Insert:
		return "insert"
	case Update:
		return "update"
	case Delete:
		return "delete"
	}
	return fmt.Sprintf("op(%d)", uint8(o))
}

// Position is a binlog coordinate: the file name and the byte offset of the
// next event to read in that file.
type Position struct {
	File string
	Pos  uint32
}

func (p Position) String() string { return fmt.Sprintf("%s:%d", p.File, p.Pos) }

// IsZero reports whether p is unset.
func (p Position) IsZero() bool { return p.File == "" }

// Compare orders positions: binlog file names share a base name and end in a
// zero-padded sequence number, so they order lexically; ties fall to offsets.
// It returns -1, 0 or +1.
func (p Position) Compare(o Position) int {
	switch {
	case len(p.File) != len(o.File):
		// A sequence number that outgrew its padding is longer, hence later.
		if len(p.File) < len(o.File) {
			return -1
		}
		return 1
	case p.File < o.File:
		return -1
	case p.File > o.File:
		return 1
	case p.Pos < o.Pos:
		return -1
	case p.Pos > o.Pos:
		return 1
	}
	return 0
}

// GTIDSet is a set of upstream transactions by GTID, in the upstream's
// flavor.
type GTIDSet interface {
	// Update adds one GTID ("0-1-42" on MariaDB, "uuid:42" on MySQL).
	Update(gtid string) error
	// Contains reports whether a GTID set (or a single GTID) is within this one.
	Contains(set string) (bool, error)
	String() string
}

// Row is one row change of one upstream table.
//
// Values in Before and After are, per column type, what SELECT returns for
// the row through go-sql-driver/mysql with parseTime=true and loc=UTC:
//
//	NULL (any type)                    nil
//	TINYINT..BIGINT, BOOL, YEAR        int64 (YEAR 0000: 0)
//	  UNSIGNED                         uint64
//	BIT(n)                             uint64
//	DECIMAL                            decimal.Decimal (exact)
//	FLOAT / DOUBLE                     float32 / float64
//	CHAR, VARCHAR, TEXT                string, UTF-8 (other charsets converted)
//	ENUM, SET                          string (SET members joined by ",")
//	JSON                               string of JSON text
//	BINARY(n)                          []byte of n bytes (zero padding restored)
//	VARBINARY, BLOB, GEOMETRY          []byte (empty: []byte{}, never nil)
//	DATE                               time.Time at midnight UTC
//	DATETIME                           time.Time, its wall clock read as UTC
//	TIMESTAMP                          time.Time, the instant, in UTC
//	zero dates ("0000-00-00 ...")      time.Time{}
//	partial dates ("2024-00-10")       string as the server prints it
//	TIME                               string as SELECT prints it ("-838:59:59.000000")
//	INET6, UUID (MariaDB)              string as SELECT prints it ("::ffff:1.2.3.4")
//
// Before is nil for inserts, After is nil for deletes.
type Row struct {
	Table  *Table
	Op     Op
	Before []any
	After  []any
}

// Image returns the image that describes the row as it is after the change,
// or as it was before a delete.
func (r *Row) Image() []any {
	if r.Op == Delete {
		return r.Before
	}
	return r.After
}

// Txn is one upstream transaction: every row it changed, in binlog order,
// and the coordinates that identify it.
type Txn struct {
	// GTID of the transaction when the upstream has GTIDs ("0-1-42" on
	// MariaDB, "uuid:42" on MySQL); empty otherwise.
	GTID string
	// End is the position just after the transaction's commit event: the
	// place to resume from once the transaction is applied.
	End Position
	// CommitTime is the upstream's timestamp of the commit event.
	CommitTime time.Time
	// ServerID of the upstream server that wrote the transaction.
	ServerID uint32
	Rows     []Row
	// Query is set for statements logged as queries (DDL), with the default
	// schema they ran in; such transactions carry no rows.
	Query       string
	QuerySchema string
	// Changes is what Query does to tables as the binlog reader parsed it
	// (nothing for statements that change no table's rows or name);
	// QueryErr is set instead when the statement could not be parsed, and
	// then a flow whose table it may concern (MentionsTable) must stop
	// rather than guess.
	Changes  []TableChange
	QueryErr error
}
