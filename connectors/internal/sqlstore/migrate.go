package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/database"
)

// MigrationsTable records which migration files were applied, by file name.
const MigrationsTable = "binflow_migrations"

// Migrate applies the files dir/<subdir>/*.sql (goose format: "-- +goose
// Up" sections, one statement per ";" at the end of a line unless wrapped in
// StatementBegin/End) that are not yet recorded in binflow_migrations, in
// the order of their numeric prefix. Each file runs in its own transaction
// with its record (DDL is transactional in PostgreSQL and SQLite: a file
// that fails leaves nothing). It returns the names of the files applied.
func (c *Core) Migrate(ctx context.Context, dir string) ([]string, error) {
	applied, err := c.migrate(ctx, dir)
	if err != nil {
		return applied, fmt.Errorf("%s connector: migrate %s from %s: %w", c.d.Name, c.where,
			filepath.Join(dir, c.d.MigrationsSubdir), err)
	}
	return applied, nil
}

func (c *Core) migrate(ctx context.Context, dir string) ([]string, error) {
	fsys, err := fs.Sub(os.DirFS(dir), c.d.MigrationsSubdir)
	if err != nil {
		return nil, err
	}
	store, err := newMigrationStore(fsys, c.d)
	if err != nil {
		return nil, err
	}
	opts := []goose.ProviderOption{
		goose.WithStore(store),
		goose.WithDisableGlobalRegistry(true),
		goose.WithAllowOutofOrder(true),
	}
	if c.d.MigrationLocker != nil {
		opts = append(opts, goose.WithSessionLocker(c.d.MigrationLocker))
	}
	provider, err := goose.NewProvider(goose.DialectCustom, c.db, fsys, opts...)
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

// migrationStore is goose's version store on binflow_migrations(name,
// applied_at), recording file names as connectors/mysql does.
type migrationStore struct {
	d     *Dialect
	names map[int64]string // version -> file name
}

var _ database.StoreExtender = (*migrationStore)(nil)

func newMigrationStore(fsys fs.FS, d *Dialect) (*migrationStore, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no .sql migration files")
	}
	m := &migrationStore{d: d, names: make(map[int64]string, len(files))}
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

func (m *migrationStore) Tablename() string { return MigrationsTable }

func (m *migrationStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	_, err := db.ExecContext(ctx, m.d.MigrationsDDL)
	return err
}

func (m *migrationStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, m.d.MigrationsExists, MigrationsTable).Scan(&n)
	return n > 0, err
}

func (m *migrationStore) name(version int64) (string, error) {
	name, ok := m.names[version]
	if !ok {
		return "", fmt.Errorf("no migration file numbered %d", version)
	}
	return name, nil
}

func (m *migrationStore) Insert(ctx context.Context, db database.DBTxConn, req database.InsertRequest) error {
	if req.Version == 0 {
		return nil
	}
	name, err := m.name(req.Version)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `INSERT INTO "`+MigrationsTable+`" ("name") VALUES (`+m.d.params(1)+`)`, name)
	return err
}

func (m *migrationStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	name, err := m.name(version)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, `DELETE FROM "`+MigrationsTable+`" WHERE "name" = `+m.d.params(1), name)
	return err
}

func (m *migrationStore) GetMigration(ctx context.Context, db database.DBTxConn, version int64) (*database.GetMigrationResult, error) {
	if version == 0 {
		return &database.GetMigrationResult{IsApplied: true}, nil
	}
	name, ok := m.names[version]
	if !ok {
		return nil, database.ErrVersionNotFound
	}
	var at any
	err := db.QueryRowContext(ctx, `SELECT "applied_at" FROM "`+MigrationsTable+`" WHERE "name" = `+m.d.params(1), name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, database.ErrVersionNotFound
	}
	if err != nil {
		return nil, err
	}
	res := &database.GetMigrationResult{IsApplied: true}
	if t, err := m.d.ScanTime(at); err == nil {
		if t, ok := t.(time.Time); ok {
			res.Timestamp = t
		}
	}
	return res, nil
}

// recorded returns the versions of the recorded file names, newest first,
// ending with the implied version 0.
func (m *migrationStore) recorded(ctx context.Context, db database.DBTxConn) ([]int64, error) {
	rows, err := db.QueryContext(ctx, `SELECT "name" FROM "`+MigrationsTable+`"`)
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

func (m *migrationStore) GetLatestVersion(ctx context.Context, db database.DBTxConn) (int64, error) {
	versions, err := m.recorded(ctx, db)
	if err != nil {
		return 0, err
	}
	return versions[0], nil
}

func (m *migrationStore) ListMigrations(ctx context.Context, db database.DBTxConn) ([]*database.ListMigrationsResult, error) {
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
