package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
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

// migrationsTable records which migration files were applied, by file name.
const migrationsTable = "binflow_migrations"

// migrationsSubdir is the folder of a migrations directory that holds the
// files for MySQL and MariaDB.
const migrationsSubdir = "mysql"

// migrateLockTimeout is how long Migrate waits for another binflow migrating
// the same database.
const migrateLockTimeout = 60 * time.Second

// Migrate applies the files dir/mysql/*.sql (goose format: "-- +goose Up"
// sections, one statement per ";" at the end of a line unless wrapped in
// StatementBegin/End) that are not yet recorded in binflow_migrations, in
// the order of their numeric prefix. Each file runs in its own transaction
// followed by its record (MySQL commits DDL implicitly, so a file that fails
// half-way may leave its earlier statements applied; write migrations with
// IF NOT EXISTS). It returns the names of the files applied.
//
// Concurrent Migrate calls on one database are serialized with GET_LOCK.
func (s *Store) Migrate(ctx context.Context, dir string) ([]string, error) {
	applied, err := s.migrate(ctx, dir)
	if err != nil {
		return applied, fmt.Errorf("mysql connector: migrate database %q from %s: %w", s.database,
			filepath.Join(dir, migrationsSubdir), err)
	}
	return applied, nil
}

func (s *Store) migrate(ctx context.Context, dir string) ([]string, error) {
	fsys, err := fs.Sub(os.DirFS(dir), migrationsSubdir)
	if err != nil {
		return nil, err
	}
	store, err := newMigrationStore(fsys)
	if err != nil {
		return nil, err
	}
	provider, err := goose.NewProvider(goose.DialectCustom, s.db.DB, fsys,
		goose.WithStore(store),
		goose.WithDisableGlobalRegistry(true),
		goose.WithAllowOutofOrder(true),
		goose.WithSessionLocker(migrationLock{name: migrationLockName(s.database), timeout: migrateLockTimeout}),
	)
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
// applied_at): it records file names rather than goose's version rows. Goose
// identifies a migration by the number its file name starts with; the store
// maps that number to the file's name. Goose's "version 0" (the table
// exists) is implied by the table and not stored.
type migrationStore struct {
	names map[int64]string // version -> file name
}

var _ database.StoreExtender = (*migrationStore)(nil)

func newMigrationStore(fsys fs.FS) (*migrationStore, error) {
	files, err := fs.Glob(fsys, "*.sql")
	if err != nil {
		return nil, err
	}
	if len(files) == 0 {
		return nil, errors.New("no .sql migration files")
	}
	m := &migrationStore{names: make(map[int64]string, len(files))}
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

func (m *migrationStore) Tablename() string { return migrationsTable }

func (m *migrationStore) CreateVersionTable(ctx context.Context, db database.DBTxConn) error {
	_, err := db.ExecContext(ctx, "CREATE TABLE IF NOT EXISTS `"+migrationsTable+"` ("+
		"`name` VARCHAR(255) NOT NULL PRIMARY KEY, "+
		"`applied_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)"+
		") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin")
	return err
}

func (m *migrationStore) TableExists(ctx context.Context, db database.DBTxConn) (bool, error) {
	var n int
	err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM information_schema.tables "+
		"WHERE table_schema = DATABASE() AND table_name = ?", migrationsTable).Scan(&n)
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
	_, err = db.ExecContext(ctx, "INSERT INTO `"+migrationsTable+"` (`name`) VALUES (?)", name)
	return err
}

func (m *migrationStore) Delete(ctx context.Context, db database.DBTxConn, version int64) error {
	name, err := m.name(version)
	if err != nil {
		return err
	}
	_, err = db.ExecContext(ctx, "DELETE FROM `"+migrationsTable+"` WHERE `name` = ?", name)
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
	var at time.Time
	err := db.QueryRowContext(ctx, "SELECT `applied_at` FROM `"+migrationsTable+"` WHERE `name` = ?", name).Scan(&at)
	if errors.Is(err, sql.ErrNoRows) {
		return nil, database.ErrVersionNotFound
	}
	if err != nil {
		return nil, err
	}
	return &database.GetMigrationResult{Timestamp: at, IsApplied: true}, nil
}

// recorded returns the versions of the recorded file names, newest first,
// ending with the implied version 0.
func (m *migrationStore) recorded(ctx context.Context, db database.DBTxConn) ([]int64, error) {
	rows, err := db.QueryContext(ctx, "SELECT `name` FROM `"+migrationsTable+"`")
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

// migrationLock serializes migrations of one database with a server-wide
// named lock held by the migration connection.
type migrationLock struct {
	name    string
	timeout time.Duration
}

// migrationLockName is the GET_LOCK name for a database; names longer than
// the server's 64-character limit are hashed.
func migrationLockName(db string) string {
	name := "binflow_migrate:" + db
	if len(name) <= 64 {
		return name
	}
	sum := sha256.Sum256([]byte(db))
	return "binflow_migrate:" + hex.EncodeToString(sum[:20])
}

func (l migrationLock) SessionLock(ctx context.Context, conn *sql.Conn) error {
	var got sql.NullInt64
	err := conn.QueryRowContext(ctx, "SELECT GET_LOCK(?, ?)", l.name, int(l.timeout.Seconds())).Scan(&got)
	if err != nil {
		return fmt.Errorf("take migration lock %q: %w", l.name, err)
	}
	if !got.Valid || got.Int64 != 1 {
		return fmt.Errorf("take migration lock %q: another migration held it for %s", l.name, l.timeout)
	}
	return nil
}

func (l migrationLock) SessionUnlock(ctx context.Context, conn *sql.Conn) error {
	if _, err := conn.ExecContext(ctx, "DO RELEASE_LOCK(?)", l.name); err != nil {
		return fmt.Errorf("release migration lock %q: %w", l.name, err)
	}
	return nil
}
