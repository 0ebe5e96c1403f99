// Package sqlite is the downstream connector for an embedded SQLite
// database file, through modernc.org/sqlite (pure Go, no cgo): binflow's
// default store when a config names no downstream server. It applies a
// flow's batch of writes and its checkpoint in one transaction, reads
// checkpoints back, classifies errors as retryable or not, checks derived
// tables and runs the migrations of migrations/sqlite.
//
// Durability. The file is in WAL mode with synchronous = NORMAL: a commit
// survives a crash of binflow (kill -9 included); a power loss may undo the
// last commits, but a batch and its checkpoint always commit or vanish
// together, so binflow then re-applies them: still exactly once. Every
// transaction is BEGIN IMMEDIATE (it takes the write lock at once, so two
// writers never deadlock on a lock upgrade) and the store uses one
// connection, so binflow's flows take turns; other processes may read the
// file meanwhile (WAL), and a writer of another process is waited for up to
// the busy timeout (SQLITE_BUSY after it is retryable).
//
// Types. SQLite stores INTEGER (64-bit signed), REAL, TEXT and BLOB, so:
//   - exact decimals (decimal.Decimal) are stored as TEXT with their scale
//     ("12.50"): declare such columns TEXT (not DECIMAL or NUMERIC, whose
//     affinity turns "12.50" into the float 12.5). Deltas stay exact because
//     they add in SQL through binflow_add(a, b), a function of this
//     connector written in Go with exact decimal arithmetic (integers stay
//     INTEGER while they fit). binflow_div(a, b) computes ratios (AVG from
//     SUM and COUNT) with the dividend's scale plus 4 digits, as MySQL does,
//     and MIN and MAX order text that reads as a number numerically (the
//     collation binflow_decimal): a text column whose values all look like
//     numbers is ordered as numbers. These functions exist only in
//     binflow's connections: other readers see plain TEXT.
//   - a BIGINT UNSIGNED column holds values above 2^63-1: declare it TEXT;
//     such values are stored as their decimal text, smaller ones as
//     integers.
//   - times are TEXT in UTC, "2006-01-02 15:04:05.000000" (fixed six
//     fractional digits, so text order is time order and SQLite's date
//     functions read them).
//   - booleans are 0 and 1.
//
// Declare derived tables STRICT (as migrations/sqlite does): SQLite then
// refuses a value of the wrong type instead of converting it, so that a
// mistake fails the batch rather than silently losing precision.
//
// Other packages import it as sqliteconn.
package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors/internal/sqlstore"
)

// Options says where the database file is.
type Options struct {
	// Path of the database file; it is created when missing (its folder
	// must exist).
	Path string
	// BusyTimeout is how long a write waits for another process's write
	// lock; 0 means defaultBusyTimeout.
	BusyTimeout time.Duration
}

const defaultBusyTimeout = 10 * time.Second

// TimeLayout is how times are stored (UTC).
const TimeLayout = "2006-01-02 15:04:05.000000"

// ErrNotMigrated means the database lacks binflow's tables.
var ErrNotMigrated = sqlstore.ErrNotMigrated

// Store is an open database file. It is safe for concurrent use; Applies
// take turns on its one connection. Its methods (Apply, LoadCheckpoint,
// Checkpoints, CheckTable, Migrate, DB, Close) are those of the shared
// core; Retryable is SQLite's.
type Store struct {
	*sqlstore.Core
}

var (
	registerOnce sync.Once
	registerErr  error
)

// Open opens (creating if needed) the database file and checks it can be
// read.
func Open(ctx context.Context, o Options) (*Store, error) {
	fail := func(err error) error {
		return fmt.Errorf("sqlite connector: open %q: %w", o.Path, err)
	}
	switch {
	case o.Path == "":
		return nil, fail(errors.New("path is empty"))
	case strings.ContainsAny(o.Path, "?#\x00"):
		return nil, fail(errors.New("path contains ?, # or NUL"))
	}
	registerOnce.Do(func() { registerErr = registerFunctions() })
	if registerErr != nil {
		return nil, fail(registerErr)
	}
	busy := o.BusyTimeout
	if busy <= 0 {
		busy = defaultBusyTimeout
	}
	q := url.Values{}
	q.Add("_pragma", fmt.Sprintf("busy_timeout(%d)", busy.Milliseconds()))
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "synchronous(NORMAL)")
	q.Set("_txlock", "immediate")
	// Without this, SQLite reads a double-quoted name that is no column as
	// a string literal: a misspelt column would compare as text, silently.
	q.Set("_dqs", "0")
	db, err := sql.Open("sqlite", o.Path+"?"+q.Encode())
	if err != nil {
		return nil, fail(err)
	}
	// One connection: SQLite has one writer at a time, and waiting in the
	// pool beats SQLITE_BUSY. Keep it open: the pragmas are per connection.
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	db.SetConnMaxLifetime(0)
	db.SetConnMaxIdleTime(0)
	var mode string
	if err := db.QueryRowContext(ctx, "PRAGMA journal_mode").Scan(&mode); err != nil {
		_ = db.Close()
		return nil, fail(err)
	}
	return &Store{Core: sqlstore.New(db, Dialect(), fmt.Sprintf("file %q", o.Path))}, nil
}

// QuoteIdent quotes one identifier with double quotes, doubling any double
// quote inside it; empty names and names with NUL are rejected.
func QuoteIdent(name string) (string, error) { return sqlstore.QuoteIdent(name) }

// Dialect is SQLite's: "?" placeholders, IN (VALUES ...) for composite
// keys, exact decimal arithmetic through binflow_add, the write lock taken
// by BEGIN IMMEDIATE.
func Dialect() *sqlstore.Dialect {
	return &sqlstore.Dialect{
		Name:          "sqlite",
		MaxParams:     32766, // SQLITE_MAX_VARIABLE_NUMBER
		RowValuesIn:   true,
		Normalize:     normalize,
		Delta:         func(old, excluded string) string { return "binflow_add(" + old + "," + excluded + ")" },
		IsZero:        func(col string) string { return "binflow_is_zero(" + col + ")" },
		Div:           func(num, den string) string { return "binflow_div(" + num + "," + den + ")" },
		MinMaxCollate: " COLLATE binflow_decimal",
		FlowOrder:     ` ORDER BY "flow"`,
		Now:           "strftime('%Y-%m-%d %H:%M:%f','now')",
		MissingTable: func(err error) bool {
			return err != nil && strings.Contains(err.Error(), "no such table")
		},
		UniqueKeys:       uniqueKeys,
		ScanTime:         scanTime,
		ReadTxSQL:        "BEGIN DEFERRED", // takes no write lock, as _txlock=immediate would
		MigrationsSubdir: "sqlite",
		MigrationsDDL: `CREATE TABLE IF NOT EXISTS "` + sqlstore.MigrationsTable + `" (` +
			`"name" TEXT NOT NULL PRIMARY KEY, "applied_at" TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f','now'))) STRICT`,
		MigrationsExists: "SELECT COUNT(*) FROM sqlite_master WHERE type = 'table' AND name = ?",
	}
}

func normalize(v any) (any, error) {
	switch v := v.(type) {
	case decimal.Decimal:
		return sqlstore.FormatDecimal(v), nil
	case uint64:
		return sqlstore.Uint64(v), nil
	case uint:
		return sqlstore.Uint64(uint64(v)), nil
	case int:
		return int64(v), nil
	case time.Time:
		return v.UTC().Format(TimeLayout), nil
	case bool:
		if v {
			return int64(1), nil
		}
		return int64(0), nil
	case float32:
		return float64(v), nil
	}
	return v, nil
}

// StoredForm is a value as this connector stores it: exact decimals and
// times as their text, unsigned integers as int64 (or text above 2^63-1),
// booleans as 0 and 1. A value read back from the store is already in this
// form. binflow verify compares computed values with stored ones by it.
func StoredForm(v any) any {
	s, err := normalize(v)
	if err != nil {
		return v
	}
	return s
}

var timeLayouts = []string{TimeLayout, "2006-01-02 15:04:05.999999999", "2006-01-02T15:04:05.999999999Z07:00", "2006-01-02"}

// ParseTime reads a time stored by this connector (or by SQLite's date
// functions) as UTC.
func ParseTime(s string) (time.Time, error) {
	for _, layout := range timeLayouts {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t.UTC(), nil
		}
	}
	return time.Time{}, fmt.Errorf("cannot read %q as a time (want %q in UTC)", s, TimeLayout)
}

func scanTime(v any) (any, error) {
	switch v := v.(type) {
	case nil:
		return nil, nil
	case time.Time:
		return v.UTC(), nil
	case string:
		return ParseTime(v)
	case []byte:
		return ParseTime(string(v))
	}
	return nil, fmt.Errorf("unexpected %T", v)
}

// uniqueKeys lists the primary key and the unique indexes of a table.
func uniqueKeys(ctx context.Context, db *sql.DB, schema, table string) (bool, []sqlstore.UniqueKey, error) {
	if schema == "" {
		schema = "main"
	}
	strs := func(query string, args ...any) ([]sql.NullString, error) {
		rows, err := db.QueryContext(ctx, query, args...)
		if err != nil {
			return nil, err
		}
		defer rows.Close()
		var out []sql.NullString
		for rows.Next() {
			var s sql.NullString
			if err := rows.Scan(&s); err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, rows.Err()
	}
	var schemas int
	if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM pragma_database_list WHERE name = ?", schema).Scan(&schemas); err != nil {
		return false, nil, err
	}
	if schemas == 0 {
		return false, nil, nil
	}
	cols, err := strs("SELECT name FROM pragma_table_info(?, ?)", table, schema)
	if err != nil || len(cols) == 0 {
		return false, nil, err
	}
	var keys []sqlstore.UniqueKey
	pk, err := strs("SELECT name FROM pragma_table_info(?, ?) WHERE pk > 0 ORDER BY pk", table, schema)
	if err != nil {
		return true, nil, err
	}
	if len(pk) > 0 {
		keys = append(keys, sqlstore.UniqueKey{Name: "PRIMARY KEY", Columns: names(pk)})
	}
	indexes, err := strs(`SELECT name FROM pragma_index_list(?, ?) WHERE "unique" = 1 AND origin <> 'pk' ORDER BY name`, table, schema)
	if err != nil {
		return true, nil, err
	}
	for _, index := range indexes {
		cols, err := strs("SELECT name FROM pragma_index_info(?, ?) ORDER BY seqno", index.String, schema)
		if err != nil {
			return true, nil, err
		}
		keys = append(keys, sqlstore.UniqueKey{Name: index.String, Columns: names(cols)})
	}
	return true, keys, nil
}

func names(ns []sql.NullString) []string {
	out := make([]string, len(ns))
	for i, n := range ns {
		out[i] = n.String
		if !n.Valid {
			out[i] = "(expression)"
		}
	}
	return out
}
