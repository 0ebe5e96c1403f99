package sqlstore

// Snapshot progress, compare-and-set commits, and the writes of `binflow
// rebuild` and `binflow reset`, as connectors/mysql has them. Every method
// runs in one transaction that reads (and, where the dialect locks rows,
// locks) the flow's checkpoint row and snapshot row first, so that it
// serialises with a running binflow's commits for the same flow.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/binflow/binflow/connectors"
)

// SnapshotTable is created by the 0003 migration of each dialect.
const SnapshotTable = "binflow_snapshots"

// ErrSnapshotsNotMigrated means the database lacks the snapshot progress
// table (added after binflow_checkpoints).
var ErrSnapshotsNotMigrated = errors.New("table " + SnapshotTable + " is missing: run `binflow migrate -c <config>` first")

const snapshotColumns = `"flow","binlog_file","binlog_pos","gtid","server_id","server_uuid","table_index","table_name",` +
	`"last_key","rows_done","rows_estimate","resumes","started_at"`

func (c *Core) selectSnapshotSQL(lock bool) string {
	q := `SELECT ` + snapshotColumns + ` FROM "` + SnapshotTable + `" WHERE "flow" = ` + c.d.params(1)
	if lock {
		q += c.d.LockClause
	}
	return q
}

func (c *Core) missingSnapshots(err error) error {
	if err != nil && c.d.MissingTable(err) {
		return fmt.Errorf("%w (%w)", ErrSnapshotsNotMigrated, err)
	}
	return err
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func (c *Core) scanSnapshot(ctx context.Context, q rowQuerier, query, flow string) (connectors.SnapshotProgress, bool, error) {
	var (
		p                connectors.SnapshotProgress
		pos, server, tbl int64
		rows, estimate   uint64
		resumes          int64
		started          any
	)
	err := q.QueryRowContext(ctx, query, flow).Scan(&p.Flow, &p.Pos.File, &pos, &p.GTID, &server, &p.ServerUUID,
		&tbl, &p.TableName, &p.LastKey, &rows, &estimate, &resumes, &started)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return p, false, nil
	case err != nil:
		return p, false, c.missingSnapshots(err)
	case pos < 0 || pos > math.MaxUint32 || server < 0 || server > math.MaxUint32:
		return p, false, fmt.Errorf("flow %s: snapshot position %d or server id %d does not fit in 32 bits", flow, pos, server)
	}
	if p.Started, err = c.utcTime(started); err != nil {
		return p, false, fmt.Errorf("flow %s: snapshot started_at: %w", flow, err)
	}
	p.Pos.Pos, p.ServerID, p.Table, p.Rows, p.Estimate, p.Resumes = uint32(pos), uint32(server), int(tbl), rows, estimate, int(resumes)
	return p, true, nil
}

// LoadSnapshot returns the flow's snapshot progress, and false when it has
// none (no snapshot in progress or requested).
func (c *Core) LoadSnapshot(ctx context.Context, flow string) (connectors.SnapshotProgress, bool, error) {
	p, ok, err := c.scanSnapshot(ctx, c.db, c.selectSnapshotSQL(false), flow)
	if err != nil {
		return p, false, fmt.Errorf("%s connector: load snapshot progress of flow %s from %s: %w", c.d.Name, flow, c.where, err)
	}
	return p, ok, nil
}

// Snapshots returns every snapshot in progress, by flow.
func (c *Core) Snapshots(ctx context.Context) (map[string]connectors.SnapshotProgress, error) {
	rows, err := c.db.QueryContext(ctx, `SELECT "flow" FROM "`+SnapshotTable+`"`)
	if err != nil {
		return nil, fmt.Errorf("%s connector: list snapshots in %s: %w", c.d.Name, c.where, c.missingSnapshots(err))
	}
	var flows []string
	for rows.Next() {
		var f string
		if err := rows.Scan(&f); err != nil {
			rows.Close()
			return nil, err
		}
		flows = append(flows, f)
	}
	rows.Close()
	if err := rows.Err(); err != nil {
		return nil, err
	}
	out := make(map[string]connectors.SnapshotProgress, len(flows))
	for _, f := range flows {
		p, ok, err := c.LoadSnapshot(ctx, f)
		if err != nil {
			return nil, err
		}
		if ok {
			out[f] = p
		}
	}
	return out, nil
}

func (c *Core) storeSnapshot(ctx context.Context, tx *sql.Tx, p connectors.SnapshotProgress) error {
	started := p.Started
	if started.IsZero() {
		started = time.Now()
	}
	args := []any{p.Flow, p.Pos.File, int64(p.Pos.Pos), p.GTID, int64(p.ServerID), p.ServerUUID, int64(p.Table), p.TableName,
		p.LastKey, p.Rows, p.Estimate, int64(p.Resumes), started.UTC()}
	for i, v := range args {
		nv, err := c.d.Normalize(v)
		if err != nil {
			return err
		}
		args[i] = nv
	}
	q := `INSERT INTO "` + SnapshotTable + `" (` + snapshotColumns + `) VALUES (` + c.d.params(13) + `) ON CONFLICT ("flow") DO UPDATE SET ` +
		`"binlog_file"=EXCLUDED."binlog_file","binlog_pos"=EXCLUDED."binlog_pos","gtid"=EXCLUDED."gtid",` +
		`"server_id"=EXCLUDED."server_id","server_uuid"=EXCLUDED."server_uuid","table_index"=EXCLUDED."table_index",` +
		`"table_name"=EXCLUDED."table_name","last_key"=EXCLUDED."last_key","rows_done"=EXCLUDED."rows_done",` +
		`"rows_estimate"=EXCLUDED."rows_estimate","resumes"=EXCLUDED."resumes","started_at"=EXCLUDED."started_at",` +
		`"updated_at"=` + c.d.Now
	if _, err := tx.ExecContext(ctx, q, args...); err != nil {
		return fmt.Errorf("store snapshot progress: %w", c.missingSnapshots(err))
	}
	return nil
}

func (c *Core) deleteRow(ctx context.Context, tx *sql.Tx, table, flow string) error {
	_, err := tx.ExecContext(ctx, `DELETE FROM "`+table+`" WHERE "flow" = `+c.d.params(1), flow)
	if err != nil {
		if table == SnapshotTable {
			return fmt.Errorf("delete snapshot progress: %w", c.missingSnapshots(err))
		}
		return fmt.Errorf("delete checkpoint: %w", c.missing(err))
	}
	return nil
}

func describeCheckpoint(cp connectors.Checkpoint, ok bool) string {
	if !ok {
		return "none"
	}
	return cp.Pos.String()
}

// ApplyAfter is Apply with a compare-and-set on the checkpoint: the batch is
// written only if the flow's stored checkpoint is prev (nil: the flow has
// none), the one its writer committed last. If the stored checkpoint already
// equals the batch's, the batch was committed before and nothing is
// written. Any other stored checkpoint fails with
// connectors.ErrCheckpointMoved and writes nothing.
func (c *Core) ApplyAfter(ctx context.Context, b *connectors.Batch, prev *connectors.Checkpoint) error {
	if b == nil {
		return fmt.Errorf("%s connector: apply batch: batch is nil", c.d.Name)
	}
	err := c.InTx(ctx, func(tx *sql.Tx, sc *applyScratch) (bool, error) {
		if err := checkCheckpoint(b.Checkpoint); err != nil {
			return false, err
		}
		stored, ok, err := c.lockedCheckpoint(ctx, tx, b.Checkpoint.Flow)
		if err != nil {
			return false, err
		}
		if ok && SameCheckpoint(stored, b.Checkpoint) {
			return false, nil // committed before
		}
		if ok != (prev != nil) || (ok && !SameCheckpoint(stored, *prev)) {
			want := "none"
			if prev != nil {
				want = prev.Pos.String()
			}
			return false, fmt.Errorf("%w: stored checkpoint is %s, this process last wrote %s", connectors.ErrCheckpointMoved,
				describeCheckpoint(stored, ok), want)
		}
		if err := c.ApplyWrites(ctx, tx, sc, b); err != nil {
			return false, err
		}
		return true, c.StoreCheckpoint(ctx, tx, b.Checkpoint)
	})
	if err != nil {
		return fmt.Errorf("%s connector: apply batch for flow %s: %w", c.d.Name, b.Checkpoint.Flow, err)
	}
	return nil
}

// ApplySnapshot writes one batch of a flow's snapshot with its progress, in
// one transaction, provided the flow has no checkpoint and its stored
// progress is prev (nil: none); otherwise it fails with
// connectors.ErrCheckpointMoved. With next set, next replaces the progress.
// With next nil the snapshot is finished: the progress row is deleted and
// b.Checkpoint becomes the flow's checkpoint. A batch whose progress (or,
// finishing, whose checkpoint) is already stored was committed before and
// is skipped.
func (c *Core) ApplySnapshot(ctx context.Context, b *connectors.Batch, prev, next *connectors.SnapshotProgress) error {
	if b == nil {
		return fmt.Errorf("%s connector: apply snapshot batch: batch is nil", c.d.Name)
	}
	flow := b.Checkpoint.Flow
	if next != nil {
		flow = next.Flow
	}
	err := c.InTx(ctx, func(tx *sql.Tx, sc *applyScratch) (bool, error) {
		if next == nil {
			if err := checkCheckpoint(b.Checkpoint); err != nil {
				return false, err
			}
		}
		cp, hasCP, err := c.lockedCheckpoint(ctx, tx, flow)
		if err != nil {
			return false, err
		}
		stored, hasProgress, err := c.scanSnapshot(ctx, tx, c.selectSnapshotSQL(true), flow)
		if err != nil {
			return false, err
		}
		switch {
		case next != nil && hasProgress && stored.Same(*next) && !hasCP:
			return false, nil // committed before
		case next == nil && !hasProgress && hasCP && SameCheckpoint(cp, b.Checkpoint):
			return false, nil // finished before
		case hasCP:
			return false, fmt.Errorf("%w: the flow has a checkpoint (%s) while its snapshot runs", connectors.ErrCheckpointMoved, cp.Pos)
		case hasProgress != (prev != nil) || (hasProgress && !stored.Same(*prev)):
			return false, fmt.Errorf("%w: its snapshot progress is not the one this process last wrote", connectors.ErrCheckpointMoved)
		}
		if err := c.ApplyWrites(ctx, tx, sc, b); err != nil {
			return false, err
		}
		if next != nil {
			return true, c.storeSnapshot(ctx, tx, *next)
		}
		if err := c.deleteRow(ctx, tx, SnapshotTable, flow); err != nil {
			return false, err
		}
		return true, c.StoreCheckpoint(ctx, tx, b.Checkpoint)
	})
	if err != nil {
		return fmt.Errorf("%s connector: apply snapshot batch for flow %s: %w", c.d.Name, flow, err)
	}
	return nil
}

// RequestRebuild empties a flow's derived tables and replaces its
// checkpoint (and any snapshot progress) with a request for a fresh
// snapshot, in one transaction, dropping the flow's Go function state
// with its checkpoint. It returns the number of derived rows deleted.
func (c *Core) RequestRebuild(ctx context.Context, flow string, tables []string, serverID uint32, serverUUID string) (int64, error) {
	var deleted int64
	hasState, err := c.hasStateTable(ctx)
	if err != nil {
		return 0, fmt.Errorf("%s connector: rebuild flow %s in %s: %w", c.d.Name, flow, c.where, err)
	}
	err = c.InTx(ctx, func(tx *sql.Tx, _ *applyScratch) (bool, error) {
		if _, _, err := c.lockedCheckpoint(ctx, tx, flow); err != nil {
			return false, err
		}
		if _, _, err := c.scanSnapshot(ctx, tx, c.selectSnapshotSQL(true), flow); err != nil {
			return false, err
		}
		for _, t := range tables {
			q, err := QuoteTable(t)
			if err != nil {
				return false, err
			}
			res, err := tx.ExecContext(ctx, "DELETE FROM "+q)
			if err != nil {
				return false, fmt.Errorf("empty derived table %s: %w", t, err)
			}
			n, _ := res.RowsAffected()
			deleted += n
		}
		if err := c.deleteRow(ctx, tx, CheckpointTable, flow); err != nil {
			return false, err
		}
		// Go functions' state is that of the checkpoint: it goes with it.
		if hasState {
			if err := c.deleteState(ctx, tx, flow); err != nil {
				return false, err
			}
		}
		return true, c.storeSnapshot(ctx, tx, connectors.SnapshotProgress{Flow: flow, ServerID: serverID, ServerUUID: serverUUID, Started: time.Now()})
	})
	if err != nil {
		return 0, fmt.Errorf("%s connector: rebuild flow %s in %s: %w", c.d.Name, flow, c.where, err)
	}
	return deleted, nil
}

// SetCheckpoint replaces a flow's checkpoint (and drops any snapshot
// progress) in one transaction, returning the checkpoint it replaced.
func (c *Core) SetCheckpoint(ctx context.Context, cp connectors.Checkpoint) (connectors.Checkpoint, bool, error) {
	var (
		old connectors.Checkpoint
		had bool
	)
	err := c.InTx(ctx, func(tx *sql.Tx, _ *applyScratch) (bool, error) {
		if err := checkCheckpoint(cp); err != nil {
			return false, err
		}
		var err error
		if old, had, err = c.lockedCheckpoint(ctx, tx, cp.Flow); err != nil {
			return false, err
		}
		if err := c.deleteRow(ctx, tx, SnapshotTable, cp.Flow); err != nil {
			return false, err
		}
		return true, c.StoreCheckpoint(ctx, tx, cp)
	})
	if err != nil {
		return old, had, fmt.Errorf("%s connector: set checkpoint of flow %s in %s: %w", c.d.Name, cp.Flow, c.where, err)
	}
	return old, had, nil
}

// TableEmpty reports whether a derived table has no row.
func (c *Core) TableEmpty(ctx context.Context, table string) (bool, error) {
	q, err := QuoteTable(table)
	if err != nil {
		return false, err
	}
	var one int
	err = c.db.QueryRowContext(ctx, "SELECT 1 FROM "+q+" LIMIT 1").Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("%s connector: read table %s: %w", c.d.Name, table, err)
	}
	return false, nil
}
