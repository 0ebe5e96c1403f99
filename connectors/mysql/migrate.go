package mysql

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/hex"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/binflow/binflow/connectors/internal/migrations"
)

// migrationsTable records which migration files were applied, by file name.
const migrationsTable = migrations.Table

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
	return migrations.Up(ctx, s.db.DB, fsys, migrationStatements(), migrationLock{name: migrationLockName(s.database), timeout: migrateLockTimeout})
}

// migrationStatements are MySQL's SQL on binflow_migrations.
func migrationStatements() migrations.Statements {
	return migrations.Statements{
		Create: "CREATE TABLE IF NOT EXISTS `" + migrationsTable + "` (" +
			"`name` VARCHAR(255) NOT NULL PRIMARY KEY, " +
			"`applied_at` TIMESTAMP(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6)" +
			") ENGINE=InnoDB DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin",
		Exists:    "SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = DATABASE() AND table_name = ?",
		Insert:    "INSERT INTO `" + migrationsTable + "` (`name`) VALUES (?)",
		Delete:    "DELETE FROM `" + migrationsTable + "` WHERE `name` = ?",
		AppliedAt: "SELECT `applied_at` FROM `" + migrationsTable + "` WHERE `name` = ?",
		List:      "SELECT `name` FROM `" + migrationsTable + "`",
	}
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
