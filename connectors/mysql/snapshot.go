package mysql

// Snapshot progress, compare-and-set commits, and the writes of `binflow
// rebuild` and `binflow reset`. Every method here runs in one transaction
// that locks the flow's checkpoint row (and snapshot row) first, so that
// they serialise with a running binflow's commits for the same flow.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/binflow/binflow/connectors"
)

// snapshotTable is created by migrations/mysql/0003_binflow_snapshots.sql.
const snapshotTable = "binflow_snapshots"

// ErrSnapshotsNotMigrated means the downstream database lacks the snapshot
// progress table (added after binflow_checkpoints).
var ErrSnapshotsNotMigrated = errors.New("table " + snapshotTable + " is missing: run `binflow migrate -c <config>` first")

const (
	snapshotColumns = "`flow`,`binlog_file`,`binlog_pos`,`gtid`,`server_id`,`server_uuid`,`table_index`,`table_name`," +
		"`last_key`,`rows_done`,`rows_estimate`,`resumes`,`started_at`"

	selectSnapshotSQL = "SELECT " + snapshotColumns + " FROM `" + snapshotTable + "` WHERE `flow` = ?"

	upsertSnapshotSQL = "INSERT INTO `" + snapshotTable + "` (" + snapshotColumns + ") VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)" +
		" ON DUPLICATE KEY UPDATE `binlog_file`=VALUES(`binlog_file`),`binlog_pos`=VALUES(`binlog_pos`),`gtid`=VALUES(`gtid`)," +
		"`server_id`=VALUES(`server_id`),`server_uuid`=VALUES(`server_uuid`),`table_index`=VALUES(`table_index`)," +
		"`table_name`=VALUES(`table_name`),`last_key`=VALUES(`last_key`),`rows_done`=VALUES(`rows_done`)," +
		"`rows_estimate`=VALUES(`rows_estimate`),`resumes`=VALUES(`resumes`),`started_at`=VALUES(`started_at`)"

	deleteSnapshotSQL   = "DELETE FROM `" + snapshotTable + "` WHERE `flow` = ?"
	deleteCheckpointSQL = "DELETE FROM `" + checkpointTable + "` WHERE `flow` = ?"
)

// missingSnapshotTable wraps err in ErrSnapshotsNotMigrated when the server
// says a table does not exist.
func missingSnapshotTable(err error) error {
	var me *mysql.MySQLError
	if errors.As(err, &me) && me.Number == erNoSuchTable {
		return fmt.Errorf("%w (%w)", ErrSnapshotsNotMigrated, err)
	}
	return err
}

func isNoSuchTable(err error) bool {
	var me *mysql.MySQLError
	return errors.As(err, &me) && me.Number == erNoSuchTable
}

type rowQuerier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func scanSnapshot(ctx context.Context, q rowQuerier, query, flow string) (connectors.SnapshotProgress, bool, error) {
	var (
		p       connectors.SnapshotProgress
		pos     uint64
		table   uint64
		started time.Time
	)
	err := q.QueryRowContext(ctx, query, flow).Scan(&p.Flow, &p.Pos.File, &pos, &p.GTID, &p.ServerID, &p.ServerUUID,
		&table, &p.TableName, &p.LastKey, &p.Rows, &p.Estimate, &p.Resumes, &started)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return p, false, nil
	case err != nil:
		return p, false, missingSnapshotTable(err)
	case pos > math.MaxUint32:
		return p, false, fmt.Errorf("flow %s: snapshot binlog position %d does not fit in 32 bits", flow, pos)
	}
	p.Pos.Pos, p.Table, p.Started = uint32(pos), int(table), started.In(time.UTC)
	return p, true, nil
}

// LoadSnapshot returns the flow's snapshot progress, and false when it has
// none (no snapshot in progress or requested).
func (s *Store) LoadSnapshot(ctx context.Context, flow string) (connectors.SnapshotProgress, bool, error) {
	p, ok, err := scanSnapshot(ctx, s.db, selectSnapshotSQL, flow)
	if err != nil {
		return p, false, fmt.Errorf("mysql connector: load snapshot progress of flow %s from database %q: %w", flow, s.database, err)
	}
	return p, ok, nil
}

// Snapshots returns every snapshot in progress, by flow.
func (s *Store) Snapshots(ctx context.Context) (map[string]connectors.SnapshotProgress, error) {
	rows, err := s.db.QueryContext(ctx, "SELECT `flow` FROM `"+snapshotTable+"`")
	if err != nil {
		return nil, fmt.Errorf("mysql connector: list snapshots in database %q: %w", s.database, missingSnapshotTable(err))
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
		p, ok, err := s.LoadSnapshot(ctx, f)
		if err != nil {
			return nil, err
		}
		if ok {
			out[f] = p
		}
	}
	return out, nil
}

func storeSnapshot(ctx context.Context, tx *sql.Tx, p connectors.SnapshotProgress) error {
	started := p.Started
	if started.IsZero() {
		started = time.Now()
	}
	_, err := tx.ExecContext(ctx, upsertSnapshotSQL, p.Flow, p.Pos.File, uint64(p.Pos.Pos), p.GTID, p.ServerID, p.ServerUUID,
		uint64(p.Table), p.TableName, p.LastKey, p.Rows, p.Estimate, p.Resumes, started.UTC())
	if err != nil {
		return fmt.Errorf("store snapshot progress: %w", missingSnapshotTable(err))
	}
	return nil
}

// lockedCheckpoint locks the flow's checkpoint row and returns it.
func lockedCheckpoint(ctx context.Context, tx *sql.Tx, flow string) (connectors.Checkpoint, bool, error) {
	c := connectors.Checkpoint{Flow: flow}
	var pos uint64
	err := tx.QueryRowContext(ctx, lockCheckpointSQL, flow).Scan(&c.Pos.File, &pos, &c.GTID, &c.ServerID, &c.ServerUUID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return c, false, nil
	case err != nil:
		return c, false, fmt.Errorf("lock checkpoint: %w", missingTable(err))
	}
	c.Pos.Pos = uint32(pos)
	return c, true, nil
}

func sameCheckpoint(a, b connectors.Checkpoint) bool {
	return a.Pos == b.Pos && a.GTID == b.GTID && a.ServerID == b.ServerID && a.ServerUUID == b.ServerUUID
}

func describeCheckpoint(c connectors.Checkpoint, ok bool) string {
	if !ok {
		return "none"
	}
	return c.Pos.String()
}

// ApplyAfter is Apply with a compare-and-set on the checkpoint: the batch is
// written only if the flow's stored checkpoint is prev (nil: the flow has
// none), the one its writer committed last. If the stored checkpoint already
// equals the batch's, the batch was committed before (a lost COMMIT reply)
// and nothing is written. Any other stored checkpoint (a rebuild or reset
// happened, or another binflow runs the flow) fails with
// connectors.ErrCheckpointMoved and writes nothing.
func (s *Store) ApplyAfter(ctx context.Context, b *connectors.Batch, prev *connectors.Checkpoint) error {
	if b == nil {
		return errors.New("mysql connector: apply batch: batch is nil")
	}
	if prev == nil { // the flow's first checkpoint
		s.newRows.Lock()
		defer s.newRows.Unlock()
	}
	err := s.inTx(ctx, func(tx *sql.Tx, sc *applyScratch) (bool, error) {
		if err := checkCheckpoint(b.Checkpoint); err != nil {
			return false, err
		}
		stored, ok, err := lockedCheckpoint(ctx, tx, b.Checkpoint.Flow)
		if err != nil {
			return false, err
		}
		if ok && sameCheckpoint(stored, b.Checkpoint) {
			return false, nil // committed before
		}
		if ok != (prev != nil) || (ok && !sameCheckpoint(stored, *prev)) {
			want := "none"
			if prev != nil {
				want = prev.Pos.String()
			}
			return false, fmt.Errorf("%w: stored checkpoint is %s, this process last wrote %s", connectors.ErrCheckpointMoved,
				describeCheckpoint(stored, ok), want)
		}
		if err := s.applyWrites(ctx, tx, sc, b); err != nil {
			return false, err
		}
		return true, storeCheckpoint(ctx, tx, b.Checkpoint)
	})
	if err != nil {
		return fmt.Errorf("mysql connector: apply batch for flow %s: %w", b.Checkpoint.Flow, err)
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
func (s *Store) ApplySnapshot(ctx context.Context, b *connectors.Batch, prev, next *connectors.SnapshotProgress) error {
	if b == nil {
		return errors.New("mysql connector: apply snapshot batch: batch is nil")
	}
	flow := b.Checkpoint.Flow
	if next != nil {
		flow = next.Flow
	}
	if prev == nil || next == nil { // inserts the first progress, or the checkpoint
		s.newRows.Lock()
		defer s.newRows.Unlock()
	}
	err := s.inTx(ctx, func(tx *sql.Tx, sc *applyScratch) (bool, error) {
		if next == nil {
			if err := checkCheckpoint(b.Checkpoint); err != nil {
				return false, err
			}
		}
		cp, hasCP, err := lockedCheckpoint(ctx, tx, flow)
		if err != nil {
			return false, err
		}
		stored, hasProgress, err := scanSnapshot(ctx, tx, selectSnapshotSQL+" FOR UPDATE", flow)
		if err != nil {
			return false, err
		}
		switch {
		case next != nil && hasProgress && stored.Same(*next) && !hasCP:
			return false, nil // committed before
		case next == nil && !hasProgress && hasCP && sameCheckpoint(cp, b.Checkpoint):
			return false, nil // finished before
		case hasCP:
			return false, fmt.Errorf("%w: the flow has a checkpoint (%s) while its snapshot runs", connectors.ErrCheckpointMoved, cp.Pos)
		case hasProgress != (prev != nil) || (hasProgress && !stored.Same(*prev)):
			return false, fmt.Errorf("%w: its snapshot progress is not the one this process last wrote", connectors.ErrCheckpointMoved)
		}
		if err := s.applyWrites(ctx, tx, sc, b); err != nil {
			return false, err
		}
		if next != nil {
			return true, storeSnapshot(ctx, tx, *next)
		}
		if _, err := tx.ExecContext(ctx, deleteSnapshotSQL, flow); err != nil {
			return false, fmt.Errorf("delete snapshot progress: %w", err)
		}
		return true, storeCheckpoint(ctx, tx, b.Checkpoint)
	})
	if err != nil {
		return fmt.Errorf("mysql connector: apply snapshot batch for flow %s: %w", flow, err)
	}
	return nil
}

// RequestRebuild empties a flow's derived tables and replaces its
// checkpoint (and any snapshot progress) with a request for a fresh
// snapshot, in one transaction. A binflow running the flow notices (its
// next commit fails its compare-and-set, or its watch sees the checkpoint
// gone) and snapshots the flow again; a stopped one does so at start. It
// returns the number of derived rows deleted.
func (s *Store) RequestRebuild(ctx context.Context, flow string, tables []string, serverID uint32, serverUUID string) (int64, error) {
	var deleted int64
	s.newRows.Lock()
	defer s.newRows.Unlock()
	err := s.inTx(ctx, func(tx *sql.Tx, _ *applyScratch) (bool, error) {
		if _, _, err := lockedCheckpoint(ctx, tx, flow); err != nil {
			return false, err
		}
		if _, _, err := scanSnapshot(ctx, tx, selectSnapshotSQL+" FOR UPDATE", flow); err != nil {
			return false, err
		}
		for _, t := range tables {
			q, err := quoteTable(t)
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
		if _, err := tx.ExecContext(ctx, deleteCheckpointSQL, flow); err != nil {
			return false, fmt.Errorf("delete checkpoint: %w", err)
		}
		// Go functions' state is that of the checkpoint: it goes with it.
		if _, err := tx.ExecContext(ctx, "DELETE FROM `binflow_state` WHERE `flow` = ?", flow); err != nil && !isNoSuchTable(err) {
			return false, fmt.Errorf("delete Go function state: %w", err)
		}
		return true, storeSnapshot(ctx, tx, connectors.SnapshotProgress{Flow: flow, ServerID: serverID, ServerUUID: serverUUID, Started: time.Now()})
	})
	if err != nil {
		return 0, fmt.Errorf("mysql connector: rebuild flow %s in database %q: %w", flow, s.database, err)
	}
	return deleted, nil
}

// SetCheckpoint replaces a flow's checkpoint (and drops any snapshot
// progress) in one transaction, returning the checkpoint it replaced. A
// running binflow notices at the flow's next commit or checkpoint watch.
func (s *Store) SetCheckpoint(ctx context.Context, c connectors.Checkpoint) (connectors.Checkpoint, bool, error) {
	var (
		old connectors.Checkpoint
		had bool
	)
	err := s.inTx(ctx, func(tx *sql.Tx, _ *applyScratch) (bool, error) {
		if err := checkCheckpoint(c); err != nil {
			return false, err
		}
		var err error
		if old, had, err = lockedCheckpoint(ctx, tx, c.Flow); err != nil {
			return false, err
		}
		if _, err := tx.ExecContext(ctx, deleteSnapshotSQL, c.Flow); err != nil {
			return false, fmt.Errorf("delete snapshot progress: %w", missingSnapshotTable(err))
		}
		return true, storeCheckpoint(ctx, tx, c)
	})
	if err != nil {
		return old, had, fmt.Errorf("mysql connector: set checkpoint of flow %s in database %q: %w", c.Flow, s.database, err)
	}
	return old, had, nil
}

// TableEmpty reports whether a derived table has no row.
func (s *Store) TableEmpty(ctx context.Context, table string) (bool, error) {
	q, err := quoteTable(table)
	if err != nil {
		return false, err
	}
	var one int
	err = s.db.QueryRowContext(ctx, "SELECT 1 FROM "+q+" LIMIT 1").Scan(&one)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return true, nil
	case err != nil:
		return false, fmt.Errorf("mysql connector: read table %s: %w", table, err)
	}
	return false, nil
}

// inTx runs fn in a transaction with an Apply scratch; fn returns whether
// to commit (false rolls back, for a batch found already applied).
func (s *Store) inTx(ctx context.Context, fn func(*sql.Tx, *applyScratch) (bool, error)) (err error) {
	sc, _ := s.scratch.Get().(*applyScratch)
	if sc == nil {
		sc = &applyScratch{}
	}
	defer func() {
		clear(sc.args[:cap(sc.args)])
		s.scratch.Put(sc)
	}()
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	commit, err := fn(tx, sc)
	if err != nil || !commit {
		// On error, that error is the one that matters; otherwise a failed
		// rollback (which releases the checkpoint's row lock) is reported.
		if rbErr := tx.Rollback(); err == nil && rbErr != nil {
			return fmt.Errorf("end transaction: %w", rbErr)
		}
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}

// applyWrites runs a batch's writes in tx, in Apply's order (deletes,
// upserts, inserts, deltas, recomputes). TestApplyWritesCoversBatch fails
// when connectors.Batch gains a kind of write this does not know.
func (s *Store) applyWrites(ctx context.Context, tx *sql.Tx, sc *applyScratch, b *connectors.Batch) error {
	for i := range b.Deletes {
		if err := s.applyDelete(ctx, tx, sc, &b.Deletes[i]); err != nil {
			return fmt.Errorf("delete %d from table %q: %w", i, b.Deletes[i].Table, err)
		}
	}
	for i := range b.Upserts {
		if err := s.applyUpsert(ctx, tx, sc, &b.Upserts[i]); err != nil {
			return fmt.Errorf("upsert %d into table %q: %w", i, b.Upserts[i].Table, err)
		}
	}
	for i := range b.Inserts {
		if err := s.applyInsert(ctx, tx, sc, &b.Inserts[i]); err != nil {
			return fmt.Errorf("insert %d into table %q: %w", i, b.Inserts[i].Table, err)
		}
	}
	for i := range b.Deltas {
		if err := s.applyDelta(ctx, tx, sc, &b.Deltas[i]); err != nil {
			return fmt.Errorf("delta %d on table %q: %w", i, b.Deltas[i].Table, err)
		}
	}
	for i := range b.Recomputes {
		if err := s.applyRecompute(ctx, tx, sc, &b.Recomputes[i]); err != nil {
			return fmt.Errorf("recompute %d of table %q: %w", i, b.Recomputes[i].Table, err)
		}
	}
	return nil
}
