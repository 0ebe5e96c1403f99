package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/connectors/internal/stmt"
)

// CheckpointTable is created by the 0001 migration of each dialect.
const CheckpointTable = "binflow_checkpoints"

// maxFlowNameLen is the length of the flow column, in characters (as in
// MySQL, so that a flow name fits every store).
const maxFlowNameLen = 191

// ErrNotMigrated means the downstream database lacks binflow's tables.
var ErrNotMigrated = errors.New("table " + CheckpointTable + " is missing: run `binflow migrate -c <config>` first")

// Core is an open store of one dialect. It is safe for concurrent use; each
// Apply runs in its own transaction.
type Core struct {
	db      *sql.DB
	d       *Dialect
	where   string // the store, for errors: `database "x"`, `file "/p"`
	shapes  shapeCache
	scratch sync.Pool // of *applyScratch

	lockSQL, storeSQL, selectSQL string
}

type applyScratch struct {
	args     []any
	shapeKey []byte
}

// New wraps an open pool. where names the store in errors.
func New(db *sql.DB, d *Dialect, where string) *Core {
	c := &Core{db: db, d: d, where: where}
	const cols = `"flow","binlog_file","binlog_pos","gtid","server_id","server_uuid","commit_time"`
	c.lockSQL = `SELECT "binlog_file","binlog_pos","gtid","server_id","server_uuid" FROM "` + CheckpointTable +
		`" WHERE "flow" = ` + d.params(1) + d.LockClause
	c.storeSQL = `INSERT INTO "` + CheckpointTable + `" (` + cols + `) VALUES (` + d.params(7) + `)` +
		` ON CONFLICT ("flow") DO UPDATE SET "binlog_file"=EXCLUDED."binlog_file","binlog_pos"=EXCLUDED."binlog_pos",` +
		`"gtid"=EXCLUDED."gtid","server_id"=EXCLUDED."server_id","server_uuid"=EXCLUDED."server_uuid",` +
		`"commit_time"=EXCLUDED."commit_time","updated_at"=` + d.Now
	c.selectSQL = `SELECT ` + cols + ` FROM "` + CheckpointTable + `"`
	return c
}

// DB is the underlying pool, for callers that need plain queries.
func (c *Core) DB() *sql.DB { return c.db }

// Dialect is the store's dialect.
func (c *Core) Dialect() *Dialect { return c.d }

// Close closes the pool.
func (c *Core) Close() error {
	if err := c.db.Close(); err != nil {
		return fmt.Errorf("%s connector: close: %w", c.d.Name, err)
	}
	return nil
}

func (c *Core) missing(err error) error {
	if err != nil && c.d.MissingTable(err) {
		return fmt.Errorf("%w (%w)", ErrNotMigrated, err)
	}
	return err
}

// Apply writes a batch in one transaction: its deletes, then its upserts,
// then its inserts, then its deltas (each followed by its delete-when-zero),
// then its recomputes, then the flow's checkpoint, then COMMIT. On any error
// the transaction is rolled back and nothing of the batch persists, so the
// caller may retry the same batch.
//
// Apply is idempotent per checkpoint: if the flow's stored checkpoint
// already equals the batch's (same position, GTID and upstream server), the
// batch was committed before (by an attempt whose COMMIT reply was lost)
// and Apply writes nothing and returns nil.
func (c *Core) Apply(ctx context.Context, b *connectors.Batch) error {
	if b == nil {
		return fmt.Errorf("%s connector: apply batch: batch is nil", c.d.Name)
	}
	if err := c.apply(ctx, b); err != nil {
		return fmt.Errorf("%s connector: apply batch for flow %s: %w", c.d.Name, b.Checkpoint.Flow, err)
	}
	return nil
}

func (c *Core) apply(ctx context.Context, b *connectors.Batch) error {
	if err := checkCheckpoint(b.Checkpoint); err != nil {
		return err
	}
	return c.InTx(ctx, func(tx *sql.Tx, sc *applyScratch) (bool, error) {
		stored, ok, err := c.lockedCheckpoint(ctx, tx, b.Checkpoint.Flow)
		if err != nil {
			return false, err
		}
		if ok && SameCheckpoint(stored, b.Checkpoint) {
			return false, nil // committed before
		}
		if err := c.ApplyWrites(ctx, tx, sc, b); err != nil {
			return false, err
		}
		return true, c.StoreCheckpoint(ctx, tx, b.Checkpoint)
	})
}

// InTx runs fn in a transaction with an Apply scratch; fn returns whether
// to commit (false rolls back, for a batch found already applied).
func (c *Core) InTx(ctx context.Context, fn func(*sql.Tx, *applyScratch) (bool, error)) error {
	sc, _ := c.scratch.Get().(*applyScratch)
	if sc == nil {
		sc = &applyScratch{}
	}
	defer func() {
		clear(sc.args[:cap(sc.args)]) // drop references to the batch's values
		c.scratch.Put(sc)
	}()
	tx, err := c.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("begin transaction: %w", err)
	}
	commit, err := fn(tx, sc)
	if err != nil || !commit {
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

// ApplyWrites runs a batch's writes in tx, in Apply's order.
func (c *Core) ApplyWrites(ctx context.Context, tx *sql.Tx, sc *applyScratch, b *connectors.Batch) error {
	for i := range b.Deletes {
		if err := c.applyDelete(ctx, tx, sc, &b.Deletes[i]); err != nil {
			return fmt.Errorf("delete %d from table %q: %w", i, b.Deletes[i].Table, err)
		}
	}
	for i := range b.Upserts {
		if err := c.applyUpsert(ctx, tx, sc, &b.Upserts[i]); err != nil {
			return fmt.Errorf("upsert %d into table %q: %w", i, b.Upserts[i].Table, err)
		}
	}
	for i := range b.Inserts {
		if err := c.applyInsert(ctx, tx, sc, &b.Inserts[i]); err != nil {
			return fmt.Errorf("insert %d into table %q: %w", i, b.Inserts[i].Table, err)
		}
	}
	for i := range b.Deltas {
		if err := c.applyDelta(ctx, tx, sc, &b.Deltas[i]); err != nil {
			return fmt.Errorf("delta %d on table %q: %w", i, b.Deltas[i].Table, err)
		}
	}
	for i := range b.Recomputes {
		if err := c.applyRecompute(ctx, tx, sc, &b.Recomputes[i]); err != nil {
			return fmt.Errorf("recompute %d of table %q: %w", i, b.Recomputes[i].Table, err)
		}
	}
	return nil
}

func (c *Core) shape(sc *applyScratch, kind statementKind, table string, key, columns []string, zero string,
	build func() (*shape, error)) (*shape, error) {
	sc.shapeKey = stmt.AppendShapeKey(sc.shapeKey[:0], kind, table, key, columns, zero)
	return c.shapes.Get(sc.shapeKey, build)
}

func (c *Core) applyDelete(ctx context.Context, tx *sql.Tx, sc *applyScratch, d *connectors.Delete) error {
	if len(d.Keys) == 0 {
		return nil
	}
	s, err := c.shape(sc, kindDelete, d.Table, d.Key, nil, "", func() (*shape, error) { return c.d.deleteShape(d.Table, d.Key) })
	if err != nil {
		return err
	}
	if err := checkRows(d.Keys, s, d.Key); err != nil {
		return err
	}
	return c.execChunks(ctx, tx, sc, s, d.Keys)
}

func (c *Core) applyUpsert(ctx context.Context, tx *sql.Tx, sc *applyScratch, u *connectors.Upsert) error {
	if len(u.Rows) == 0 {
		return nil
	}
	s, err := c.shape(sc, kindUpsert, u.Table, u.Key, u.Columns, "", func() (*shape, error) {
		return c.d.upsertShape(u.Table, u.Key, u.Columns)
	})
	if err != nil {
		return err
	}
	if err := checkRows(u.Rows, s, u.Key); err != nil {
		return err
	}
	rows := u.Rows
	if c.d.UniqueRows {
		if rows, err = uniqueRows(rows, s.keyIdx, false); err != nil {
			return err
		}
	}
	return c.execChunks(ctx, tx, sc, s, rows)
}

func (c *Core) applyInsert(ctx context.Context, tx *sql.Tx, sc *applyScratch, in *connectors.Insert) error {
	if len(in.Rows) == 0 {
		return nil
	}
	s, err := c.shape(sc, kindInsert, in.Table, nil, in.Columns, "", func() (*shape, error) {
		return c.d.insertShape(in.Table, in.Columns)
	})
	if err != nil {
		return err
	}
	if err := checkRows(in.Rows, s, nil); err != nil {
		return err
	}
	return c.execChunks(ctx, tx, sc, s, in.Rows)
}

func (c *Core) applyDelta(ctx context.Context, tx *sql.Tx, sc *applyScratch, d *connectors.Delta) error {
	if len(d.Rows) == 0 {
		return nil
	}
	s, err := c.shape(sc, kindDelta, d.Table, d.Key, d.Columns, "", func() (*shape, error) {
		return c.d.deltaShape(d.Table, d.Key, d.Columns)
	})
	if err != nil {
		return err
	}
	if err := checkRows(d.Rows, s, d.Key); err != nil {
		return err
	}
	if err := stmt.CheckDeltaValues(d.Rows, len(d.Key), d.Columns); err != nil {
		return err
	}
	rows := d.Rows
	if c.d.UniqueRows {
		if rows, err = uniqueRows(rows, s.keyIdx, true); err != nil {
			return err
		}
	}
	if err := c.execChunks(ctx, tx, sc, s, rows); err != nil {
		return err
	}
	if d.DeleteWhenZero == "" {
		return nil
	}
	zero, err := c.shape(sc, kindZeroDelete, d.Table, d.Key, nil, d.DeleteWhenZero, func() (*shape, error) {
		return c.d.zeroDeleteShape(d.Table, d.Key, d.DeleteWhenZero)
	})
	if err != nil {
		return err
	}
	if err := c.execChunks(ctx, tx, sc, zero, rows); err != nil {
		return fmt.Errorf("delete rows where %q is 0: %w", d.DeleteWhenZero, err)
	}
	return nil
}

func (c *Core) applyRecompute(ctx context.Context, tx *sql.Tx, sc *applyScratch, r *connectors.Recompute) error {
	if len(r.Keys) == 0 {
		return nil
	}
	s, err := c.shape(sc, kindRecompute, r.Table, r.Key, stmt.RecomputeColumns(r.Set), "", func() (*shape, error) {
		return c.d.recomputeShape(r.Table, r.Key, r.Set)
	})
	if err != nil {
		return err
	}
	if err := checkRows(r.Keys, s, r.Key); err != nil {
		return err
	}
	return c.execChunks(ctx, tx, sc, s, r.Keys)
}

// execChunks runs s over rows, as many rows per statement as the shape
// allows; each statement takes the first s.perRow values of its rows.
func (c *Core) execChunks(ctx context.Context, tx *sql.Tx, sc *applyScratch, s *shape, rows [][]any) error {
	for start := 0; start < len(rows); {
		n := c.d.chunkLen(rows[start:], s)
		args := sc.args[:0]
		for r, row := range rows[start : start+n] {
			for i, v := range row[:s.perRow] {
				nv, err := c.d.Normalize(v)
				if err != nil {
					return fmt.Errorf("row %d, value %d: %w", start+r, i, err)
				}
				args = append(args, nv)
			}
		}
		sc.args = args
		if _, err := tx.ExecContext(ctx, s.sql(c.d, n), args...); err != nil {
			if n == 1 {
				return fmt.Errorf("row %d: %w", start, err)
			}
			return fmt.Errorf("rows %d to %d: %w", start, start+n-1, err)
		}
		start += n
	}
	return nil
}

// checkCheckpoint rejects a checkpoint that cannot be stored faithfully.
func checkCheckpoint(cp connectors.Checkpoint) error {
	switch {
	case cp.Flow == "":
		return errors.New("checkpoint has no flow name")
	case utf8.RuneCountInString(cp.Flow) > maxFlowNameLen:
		return fmt.Errorf("flow name is longer than %d characters", maxFlowNameLen)
	case strings.IndexByte(cp.Flow, 0) >= 0:
		return errors.New("flow name contains a NUL byte")
	case cp.Pos.File == "":
		return errors.New("checkpoint has no binlog file")
	}
	return nil
}

// CheckCheckpoint is checkCheckpoint for the connectors' other writes.
func CheckCheckpoint(cp connectors.Checkpoint) error { return checkCheckpoint(cp) }

// SameCheckpoint reports whether two checkpoints are at the same place of
// the same upstream.
func SameCheckpoint(a, b connectors.Checkpoint) bool {
	return a.Pos == b.Pos && a.GTID == b.GTID && a.ServerID == b.ServerID && a.ServerUUID == b.ServerUUID
}

// lockedCheckpoint reads (and, where the dialect locks rows, locks) the
// flow's checkpoint row in tx.
func (c *Core) lockedCheckpoint(ctx context.Context, tx *sql.Tx, flow string) (connectors.Checkpoint, bool, error) {
	cp := connectors.Checkpoint{Flow: flow}
	var pos, serverID int64
	err := tx.QueryRowContext(ctx, c.lockSQL, flow).Scan(&cp.Pos.File, &pos, &cp.GTID, &serverID, &cp.ServerUUID)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return cp, false, nil
	case err != nil:
		return cp, false, fmt.Errorf("lock checkpoint: %w", c.missing(err))
	}
	if err := setPosition(&cp, pos, serverID); err != nil {
		return cp, false, err
	}
	return cp, true, nil
}

// LockedCheckpoint is lockedCheckpoint for the connectors' other writes.
func (c *Core) LockedCheckpoint(ctx context.Context, tx *sql.Tx, flow string) (connectors.Checkpoint, bool, error) {
	return c.lockedCheckpoint(ctx, tx, flow)
}

func setPosition(cp *connectors.Checkpoint, pos, serverID int64) error {
	if pos < 0 || pos > math.MaxUint32 {
		return fmt.Errorf("flow %s: binlog position %d does not fit in 32 bits", cp.Flow, pos)
	}
	if serverID < 0 || serverID > math.MaxUint32 {
		return fmt.Errorf("flow %s: server id %d does not fit in 32 bits", cp.Flow, serverID)
	}
	cp.Pos.Pos, cp.ServerID = uint32(pos), uint32(serverID)
	return nil
}

// StoreCheckpoint writes the flow's checkpoint in tx.
func (c *Core) StoreCheckpoint(ctx context.Context, tx *sql.Tx, cp connectors.Checkpoint) error {
	var commitTime any
	if !cp.CommitTime.IsZero() {
		var err error
		if commitTime, err = c.d.Normalize(cp.CommitTime.UTC()); err != nil {
			return err
		}
	}
	_, err := tx.ExecContext(ctx, c.storeSQL, cp.Flow, cp.Pos.File, int64(cp.Pos.Pos), cp.GTID, int64(cp.ServerID), cp.ServerUUID, commitTime)
	if err != nil {
		return fmt.Errorf("store checkpoint %s: %w", cp.Pos, c.missing(err))
	}
	return nil
}

// LoadCheckpoint returns the flow's stored checkpoint, and false when the
// flow has none yet.
func (c *Core) LoadCheckpoint(ctx context.Context, flow string) (connectors.Checkpoint, bool, error) {
	rows, err := c.queryCheckpoints(ctx, ` WHERE "flow" = `+c.d.params(1), flow)
	if err != nil {
		return connectors.Checkpoint{}, false, fmt.Errorf("%s connector: load checkpoint for flow %s from %s: %w", c.d.Name, flow, c.where, err)
	}
	if len(rows) == 0 {
		return connectors.Checkpoint{}, false, nil
	}
	return rows[0], true, nil
}

// Checkpoints returns every stored checkpoint, ordered by flow (byte order).
func (c *Core) Checkpoints(ctx context.Context) ([]connectors.Checkpoint, error) {
	rows, err := c.queryCheckpoints(ctx, c.d.FlowOrder)
	if err != nil {
		return nil, fmt.Errorf("%s connector: load checkpoints from %s: %w", c.d.Name, c.where, err)
	}
	return rows, nil
}

func (c *Core) queryCheckpoints(ctx context.Context, where string, args ...any) ([]connectors.Checkpoint, error) {
	rows, err := c.db.QueryContext(ctx, c.selectSQL+where, args...)
	if err != nil {
		return nil, c.missing(err)
	}
	defer rows.Close()
	var out []connectors.Checkpoint
	for rows.Next() {
		cp, err := c.scanCheckpoint(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, cp)
	}
	if err := rows.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

// scanCheckpoint reads a row of selectSQL.
func (c *Core) scanCheckpoint(row interface{ Scan(dest ...any) error }) (connectors.Checkpoint, error) {
	var (
		cp            connectors.Checkpoint
		pos, serverID int64
		commitTime    any
	)
	if err := row.Scan(&cp.Flow, &cp.Pos.File, &pos, &cp.GTID, &serverID, &cp.ServerUUID, &commitTime); err != nil {
		return cp, err
	}
	if err := setPosition(&cp, pos, serverID); err != nil {
		return cp, err
	}
	t, err := c.utcTime(commitTime)
	if err != nil {
		return cp, fmt.Errorf("flow %s: commit_time: %w", cp.Flow, err)
	}
	cp.CommitTime = t
	return cp, nil
}

// utcTime reads a stored time (the dialect's ScanTime) in UTC; NULL is the
// zero time.
func (c *Core) utcTime(v any) (time.Time, error) {
	t, err := c.d.ScanTime(v)
	if err != nil {
		return time.Time{}, err
	}
	if t, ok := t.(time.Time); ok {
		return t.In(time.UTC), nil
	}
	return time.Time{}, nil
}

// CheckTable verifies, before any write, that a derived table exists and
// that its unique keys make upserts by key safe: one unique key must be
// exactly the key columns (ON CONFLICT names it), and no other unique key
// may exist, because an upsert colliding on it would fail or, worse, hit an
// unrelated row.
func (c *Core) CheckTable(ctx context.Context, table string, key []string) error {
	schemaName, name := SplitTable(table)
	exists, keys, err := c.d.UniqueKeys(ctx, c.db, schemaName, name)
	if err != nil {
		return fmt.Errorf("check derived table %s: %w", table, err)
	}
	if !exists {
		return fmt.Errorf("derived table %s does not exist downstream (%s): create it (binflow migrate applies migrations/)", table, c.where)
	}
	if len(keys) == 0 {
		return fmt.Errorf("derived table %s has no primary or unique key; binflow upserts by key (%s): add PRIMARY KEY (%s)",
			table, strings.Join(key, ", "), strings.Join(key, ", "))
	}
	want := slices.Sorted(slices.Values(key))
	for _, k := range keys {
		if !slices.Equal(slices.Sorted(slices.Values(k.Columns)), want) {
			return fmt.Errorf("derived table %s has unique key %s (%s) besides the flow's key (%s): an upsert colliding on it would overwrite an unrelated row; make (%s) the only unique key",
				table, k.Name, strings.Join(k.Columns, ", "), strings.Join(key, ", "), strings.Join(key, ", "))
		}
	}
	return nil
}
