package mysql

import (
	"context"
	"errors"

	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/connectors/internal/connerr"
)

// Server error numbers this package looks at.
const (
	erNoSuchTable = 1146
)

// retryableErrors are server errors after which the same batch may succeed:
// the server is busy, shutting down, read-only for a failover, or the
// connection or transaction was cut.
var retryableErrors = map[uint16]string{
	1021: "disk full, waiting",
	1040: "too many connections",
	1053: "server shutdown in progress",
	1152: "aborted connection",
	1158: "network read error",
	1159: "network read timeout",
	1160: "network write error",
	1161: "network write timeout",
	1203: "user has too many connections",
	1205: "lock wait timeout",
	1213: "deadlock",
	1290: "server running with --read-only",
	1317: "query interrupted",
	1412: "table definition changed, retry transaction",
	1637: "too many active concurrent transactions",
	1792: "read-only transaction",
	1836: "server in read-only mode",
	1927: "connection killed",
	1969: "statement timeout",
	2006: "server has gone away",
	2013: "lost connection during query",
	3024: "query execution interrupted, maximum statement execution time exceeded",
	4031: "client disconnected by server for inactivity",
}

// Retryable reports whether applying the same batch again may succeed:
// connection-level failures, and server errors that are transient (lock
// waits, deadlocks, too many connections, a server shutting down or
// read-only during a failover, an interrupted query). Errors about the data
// or the schema (missing table or column, a value too long or out of range,
// a duplicate key, SQL syntax) are not retryable.
//
// A timed-out attempt (context.DeadlineExceeded) is retryable; a canceled
// context is not. Retryable does not see the caller's context: a caller whose
// own context is done must stop whatever Retryable says.
func (s *Store) Retryable(err error) bool { return retryable(err) }

// Retryable is Store.Retryable for errors met before a Store exists (Open).
func Retryable(err error) bool { return retryable(err) }

func retryable(err error) bool {
	if err == nil {
		return false
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		_, ok := retryableErrors[me.Number]
		return ok
	}
	switch {
	case errors.Is(err, ErrNotMigrated):
		return false
	case errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded):
		return true
	case errors.Is(err, mysql.ErrInvalidConn),
		errors.Is(err, mysql.ErrPktSync),
		errors.Is(err, mysql.ErrPktSyncMul),
		errors.Is(err, mysql.ErrBusyBuffer):
		return true
	}
	return connerr.Lost(err) || connerr.TextSays(err, "invalid connection")
}
