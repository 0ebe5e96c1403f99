package postgres

import (
	"context"
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"

	"github.com/binflow/binflow/connectors/internal/connerr"
	"github.com/binflow/binflow/connectors/internal/sqlstore"
)

// SQLSTATEs this package looks at.
const (
	undefinedTable    = "42P01"
	invalidSchemaName = "3F000"
)

// retryableStates are server errors after which the same batch may
// succeed: the transaction lost a race (serialization failure, deadlock),
// the server is short of resources or connections, shutting down or
// starting, read-only during a failover, or the statement timed out.
var retryableStates = map[string]string{
	"40001": "serialization_failure",
	"40P01": "deadlock_detected",
	"40003": "statement_completion_unknown",
	"53000": "insufficient_resources",
	"53100": "disk_full",
	"53200": "out_of_memory",
	"53300": "too_many_connections",
	"55P03": "lock_not_available",
	"55006": "object_in_use",
	"57014": "query_canceled (statement_timeout)",
	"57P01": "admin_shutdown",
	"57P02": "crash_shutdown",
	"57P03": "cannot_connect_now",
	"57P05": "idle_session_timeout",
	"25006": "read_only_sql_transaction",
	"58030": "io_error",
}

// Retryable reports whether applying the same batch again may succeed:
// connection-level failures (class 08 and network errors), and server
// errors that are transient (serialization failures 40001, deadlocks 40P01,
// lock timeouts, too many connections, a server shutting down, starting or
// read-only). Errors about the data or the schema (a missing table or
// column, a value out of range, a duplicate key, bad SQL) are not, nor are
// authentication failures.
//
// A timed-out attempt (context.DeadlineExceeded) is retryable; a canceled
// context is not. A caller whose own context is done must stop whatever
// Retryable says.
func (s *Store) Retryable(err error) bool { return retryable(err) }

// Retryable is Store.Retryable for errors met before a Store exists (Open).
func Retryable(err error) bool { return retryable(err) }

func retryable(err error) bool {
	if err == nil {
		return false
	}
	if state := sqlState(err); state != "" {
		if _, ok := retryableStates[state]; ok {
			return true
		}
		return strings.HasPrefix(state, "08") // connection_exception
	}
	switch {
	case errors.Is(err, sqlstore.ErrNotMigrated), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded), pgconn.Timeout(err), pgconn.SafeToRetry(err):
		return true
	}
	var connectErr *pgconn.ConnectError
	if errors.As(err, &connectErr) {
		return true // not a server's refusal (that has a SQLSTATE): the server is out of reach
	}
	return connerr.Lost(err) || connerr.TextSays(err, "conn closed", "unexpected EOF")
}
