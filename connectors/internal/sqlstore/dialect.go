// Package sqlstore is the write path shared by the downstream connectors of
// stores that speak standard SQL upserts (INSERT ... ON CONFLICT (key) DO
// UPDATE) and double-quoted identifiers: PostgreSQL (connectors/postgres)
// and SQLite (connectors/sqlite). A connector describes its dialect (how
// placeholders are written, how a delta adds up, how values are stored,
// which errors mean a missing table, how to list a table's unique keys) and
// gets a Core that applies batches with their checkpoint in one
// transaction, reads checkpoints back, checks derived tables and runs the
// migrations of its folder.
//
// It is internal: the connectors are the API.
package sqlstore

import (
	"context"
	"database/sql"
	"strconv"
	"strings"

	"github.com/pressly/goose/v3/lock"

	"github.com/binflow/binflow/connectors/internal/stmt"
)

// Dialect is what differs between the stores of this package.
type Dialect struct {
	// Name prefixes errors: "<Name> connector: ...".
	Name string
	// Numbered placeholders ($1, $2, ...) instead of "?".
	Numbered bool
	// MaxParams is the store's limit of placeholders per statement.
	MaxParams int
	// PowerOfTwoChunks splits a partial chunk into power-of-two statements,
	// so that a store caching prepared statements by text sees a handful of
	// statements per shape rather than one per row count.
	PowerOfTwoChunks bool
	// RowValuesIn writes a composite key list as IN (VALUES (...), ...)
	// (SQLite) instead of IN ((...), ...) (PostgreSQL, which infers the
	// placeholder types from the row constructors).
	RowValuesIn bool
	// UniqueRows: one statement may not touch a key twice (PostgreSQL's ON
	// CONFLICT DO UPDATE refuses to); rows with the same key are merged
	// first: the last upsert wins, deltas add up.
	UniqueRows bool
	// LockClause follows the checkpoint SELECT that starts a batch, to lock
	// the flow's row (" FOR UPDATE"); "" where the transaction already holds
	// the store's write lock (SQLite's BEGIN IMMEDIATE).
	LockClause string
	// Normalize turns a value of a batch into what the driver stores (exact
	// decimals as text, times in UTC, ...).
	Normalize func(v any) (any, error)
	// Delta is the DO UPDATE expression of a delta column: the stored value
	// (old, e.g. "binflow_old"."c") plus the new one (excluded, e.g.
	// EXCLUDED."c").
	Delta func(old, excluded string) string
	// IsZero is the condition, on a quoted column, of delete-when-zero.
	IsZero func(col string) string
	// Div is the expression of a recomputed ratio num / den (NULL when den
	// is 0), on quoted columns.
	Div func(num, den string) string
	// MinMaxCollate follows the argument of a recomputed MIN or MAX (SQLite:
	// a collation that orders decimal text numerically).
	MinMaxCollate string
	// FlowOrder is the ORDER BY of Checkpoints (byte order of flow names).
	FlowOrder string
	// Now is the SQL of the current time, for updated_at columns.
	Now string
	// MissingTable reports whether err says a table does not exist.
	MissingTable func(err error) bool
	// UniqueKeys lists a table's unique keys (primary key included), and
	// whether the table exists.
	UniqueKeys func(ctx context.Context, db *sql.DB, schema, table string) (exists bool, keys []UniqueKey, err error)
	// ScanTime turns a stored time (a time.Time, or text) back into a time.
	ScanTime func(v any) (t any, err error)
	// ReadTxSQL starts the read-only transaction of ReadTables, one
	// consistent view of the store.
	ReadTxSQL string
	// ScanValue types a non-NULL value ReadTables read from a column of
	// the given database type (nil: as the driver returns it).
	ScanValue func(dbType string, v any) (any, error)

	// Migrations: the folder under the migrations directory, the DDL of
	// binflow_migrations, the query counting it (one placeholder: its name),
	// and the lock held while migrating (nil: none).
	MigrationsSubdir string
	MigrationsDDL    string
	MigrationsExists string
	MigrationLocker  lock.SessionLocker
}

// UniqueKey is one unique index or constraint of a table.
type UniqueKey struct {
	Name    string
	Columns []string
}

// placeholder writes the i-th (0-based) placeholder.
func (d *Dialect) placeholder(b *strings.Builder, i int) {
	if d.Numbered {
		b.WriteByte('$')
		b.WriteString(strconv.Itoa(i + 1))
		return
	}
	b.WriteByte('?')
}

// params returns n placeholders separated by commas, numbered from 1.
func (d *Dialect) params(n int) string {
	var b strings.Builder
	for i := range n {
		if i > 0 {
			b.WriteByte(',')
		}
		d.placeholder(&b, i)
	}
	return b.String()
}

// QuoteIdent quotes one identifier (a schema, table or column name) with
// double quotes, doubling any double quote inside it, so that any name,
// however hostile, is read as exactly that name. Empty names and names
// containing NUL cannot be quoted and are rejected.
func QuoteIdent(name string) (string, error) {
	var b strings.Builder
	if err := writeIdent(&b, name); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeIdent(b *strings.Builder, name string) error { return stmt.WriteIdent(b, name, '"') }

// SplitTable splits "schema.table" at its first dot; schema is "" for a
// bare table name.
func SplitTable(name string) (schema, table string) {
	if s, t, ok := strings.Cut(name, "."); ok {
		return s, t
	}
	return "", name
}

// QuoteTable quotes a table name that may be qualified by its schema:
// "s.t" becomes "s"."t". The name is split at its first dot, so a table
// whose own name contains a dot must be qualified by its schema.
func QuoteTable(name string) (string, error) {
	var b strings.Builder
	if err := writeTable(&b, name); err != nil {
		return "", err
	}
	return b.String(), nil
}

func writeTable(b *strings.Builder, name string) error {
	return stmt.WriteTable(b, name, '"', "schema")
}
