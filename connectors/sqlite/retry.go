package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"

	"modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"

	"github.com/binflow/binflow/connectors/internal/sqlstore"
)

// retryableCodes are SQLite's primary result codes after which the same
// batch may succeed: another process holds the lock past the busy timeout,
// the disk is full or failing, memory ran out.
var retryableCodes = map[int]string{
	sqlite3.SQLITE_BUSY:     "database is locked (busy)",
	sqlite3.SQLITE_LOCKED:   "table is locked",
	sqlite3.SQLITE_NOMEM:    "out of memory",
	sqlite3.SQLITE_IOERR:    "disk I/O error",
	sqlite3.SQLITE_FULL:     "database or disk is full",
	sqlite3.SQLITE_PROTOCOL: "locking protocol",
}

// Retryable reports whether applying the same batch again may succeed:
// SQLITE_BUSY and SQLITE_LOCKED (another writer held the file longer than
// the busy timeout), I/O errors, a full disk, out of memory. Errors about
// the data or the schema (missing table, constraint, wrong type in a STRICT
// table) and a file that cannot be opened or is read-only are not.
//
// A timed-out attempt (context.DeadlineExceeded) is retryable; a canceled
// context is not.
func (s *Store) Retryable(err error) bool { return retryable(err) }

// Retryable is Store.Retryable for errors met before a Store exists (Open).
func Retryable(err error) bool { return retryable(err) }

func retryable(err error) bool {
	if err == nil {
		return false
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		_, ok := retryableCodes[se.Code()&0xff]
		return ok
	}
	switch {
	case errors.Is(err, sqlstore.ErrNotMigrated), errors.Is(err, context.Canceled):
		return false
	case errors.Is(err, context.DeadlineExceeded), errors.Is(err, driver.ErrBadConn), errors.Is(err, sql.ErrConnDone):
		return true
	}
	return false
}
