// Package migrations is the downstream migration runner every connector
// shares: goose applies a folder's *.sql files (goose format) that are not
// yet recorded in binflow_migrations, a table that records file names
// rather than goose's version rows. Only the SQL on that table differs
// between stores; a connector passes its statements.
package migrations

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"path"
	"slices"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
	"github.com/pressly/goose/v3/lock"
)

// Table records which migration files were applied, by file name.
const Table = "binflow_migrations"

// Statements are a store's SQL on Table(name, applied_at).
type Statements struct {
	Create string // CREATE TABLE IF NOT EXISTS
	// Exists counts Table; Insert, Delete and AppliedAt take a file name;
	// each has one placeholder.
	Exists, Insert, Delete, AppliedAt string
	List                              string // SELECT name
	// ScanTime turns a scanned applied_at into a time (ok false if it
	// cannot; the time is only informational).
	ScanTime func(v any) (t time.Time, ok bool)
}

// Up applies the files of fsys (one store's folder) not yet recorded in
// Table, in the order of their numeric prefix, each in its own
// transaction with its record, holding locker (nil: none) meanwhile. It
// returns the names of the files applied, those applied before a failure
// included.
func Up(ctx context.Context, db *sql.DB, fsys fs.FS, st Statements, locker lock.SessionLocker) ([]string, error) {
	store, err := newStore(fsys, st)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithStore(store),
		goose.WithDisableGlobalRegistry(true),
		goose.WithAllowOutofOrder(true),
	}
	if locker != nil {
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	provider, err := goose.NewProvider(goose.DialectCustom, db, fsys, opts...)
	if err != nil {
		return nil, err
	}
	results, err := provider.Up(ctx)
	var partial *goose.PartialError
	if errors.As(err, &partial) {
		return resultNames(partial.Applied), fmt.Errorf("%s: %w", path.Base(partial.Failed.Source.Path), partial.Err)
	}
	if err != nil {
		return nil, err
	}
	return resultNames(results), nil
}

func resultNames(results []*goose.MigrationResult) []string {
	names := make([]string, 0, len(results))
	for _, r := range results {
		names = append(names, path.Base(r.Source.Path))
	}
	return names
}

// store is goose's version store on Table. Goose identifies a migration by
// the number its file name starts with; the store maps that number to the
// file's name. Goose's "version 0" (the table exists) is implied by the
// table and not stored.
type store struct {
	st    Statements
	names map[int64]string // version -> file name
}

var _ database.StoreExtender = (*store)(nil)

func newStore(fsys fs.FS, st Statements) (*store, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no .sql migration files")
	}
	m := &store{st: st, names: make(map[int64]string, len(files))}
	for _, f := range files {
		v, err := goose.NumericComponent(f)
		if err != nil {
			return nil, fmt.Errorf("migration file %s: %w", f, err)
		}
		if other, ok := m.names[v]; ok {
			return nil, fmt.Errorf("migration files %s and %s have the same number %d", other, f, v)
		}
		m.names[v] = f
	}
	return m, nil
}

func (m *store) Tablename() string { return Table }

func (m *store) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	_, err := db.ExecContext(ctx, m.st.Create)
	return err
}

func (m *store) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, m.st.Exists, Table).Scan(&n)
	return n > 0, err
}

func (m *store) name(version int64) (string, error) {
	name, ok := m.names[version]
	if !ok {
		return "", fmt.Errorf("no migration file numbered %d", version)
	}
	return name, nil
}

func (m *store) Insert(ctx context.Context, db database.DBTxConn, req database.InsertRequest) error {
	if req.Version == 0 {
		return nil
	}
	name, err := m.name(req.Version)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, m.st.Insert, name)
	return err
}

func (m *store) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	name, err := m.name(version)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, m.st.Delete, name)
	return err
}

func (m *store) GetMigration(ctx context.Context, db database.DBTxConn, version int64) (*database.GetMigrationResult, error) {
	if version == 0 {
		return &database.GetMigrationResult{IsApplied: true}, nil
	}
	name, ok := m.names[version]
	if !ok {
		return nil, database.ErrVersionNotFound
	}
	var at any
	err := db.QueryRowContext(ctx, m.st.AppliedAt, name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, database.ErrVersionNotFound
	}
	if err != nil {
		return nil, err
	}
	res := &database.GetMigrationResult{IsApplied: true}
	if m.st.ScanTime != nil {
		res.Timestamp, _ = m.st.ScanTime(at)
	} else if t, ok := at.(time.Time); ok {
		res.Timestamp = t
	}
	return res, nil
}

// recorded returns the versions of the recorded file names, newest first,
// ending with the implied version 0.
func (m *store) recorded(ctx context.Context, db database.DBTxConn) ([]int64, error) {
	rows, err := db.QueryContext(ctx, m.st.List)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var versions []int64
	for rows.Next() {
		var name string
		if err := rows.Scan(&name); err != nil {
			return nil, err
		}
		v, err := goose.NumericComponent(name)
		if err != nil {
			return nil, fmt.Errorf("recorded migration %q: %w", name, err)
		}
		versions = append(versions, v)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	slices.Sort(versions)
	slices.Reverse(versions)
	return append(versions, 0), nil
}

func (m *store) GetLatestVersion(ctx context.Context, db database.DBTxConn) (int64, error) {
	versions, err := m.recorded(ctx, db)
	if err != nil {
		return 0, err
	}
	return versions[0], nil
}

func (m *store) ListMigrations(ctx context.Context, db database.DBTxConn) ([]*database.ListMigrationsResult, error) {
	versions, err := m.recorded(ctx, db)
	if err != nil {
		return nil, err
	}
	out := make([]*database.ListMigrationsResult, len(versions))
	for i, v := range versions {
		out[i] = &database.ListMigrationsResult{Version: v, IsApplied: true}
	}
	return out, nil
}
