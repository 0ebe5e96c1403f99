package sqlstore

import (
	"context"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/binflow/binflow/connectors/internal/migrations"
)

// MigrationsTable records which migration files were applied, by file name.
const MigrationsTable = migrations.Table

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
	return migrations.Up(ctx, c.db, fsys, c.migrationStatements(), c.d.MigrationLocker)
}

func (c *Core) migrationStatements() migrations.Statements {
	d := c.d
	return migrations.Statements{
		Create:    d.MigrationsDDL,
		Exists:    d.MigrationsExists,
		Insert:    `INSERT INTO "` + MigrationsTable + `" ("name") VALUES (` + d.params(1) + `)`,
		Delete:    `DELETE FROM "` + MigrationsTable + `" WHERE "name" = ` + d.params(1),
		AppliedAt: `SELECT "applied_at" FROM "` + MigrationsTable + `" WHERE "name" = ` + d.params(1),
		List:      `SELECT "name" FROM "` + MigrationsTable + `"`,
		ScanTime: func(v any) (time.Time, bool) {
			t, err := d.ScanTime(v)
			tt, ok := t.(time.Time)
			return tt, err == nil && ok
		},
	}
}
