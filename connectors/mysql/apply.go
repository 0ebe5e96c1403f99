package mysql

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/connectors/internal/stmt"
)

// applyScratch holds the buffers one Apply reuses across its statements.
type applyScratch struct {
	args     []any
	shapeKey []byte
}

// Apply writes a batch in one transaction: its deletes, then its upserts,
// then its inserts, then its deltas (each followed by its delete-when-zero),
// then its recomputes, then the flow's checkpoint, then COMMIT. On any error the transaction is rolled back and
// nothing of the batch persists, so the caller may retry the same batch.
//
// Apply is idempotent per checkpoint: if the flow's stored checkpoint already
// equals the batch's (same position, GTID and upstream server), the batch was
// committed before (for instance by an attempt whose COMMIT reply was lost)
// and Apply writes nothing and returns nil.
func (s *Store) Apply(ctx context.Context, b *connectors.Batch) error {
	if b == nil {
		return errors.New("mysql connector: apply batch: batch is nil")
	}
	if err := s.apply(ctx, b); err != nil {
		return fmt.Errorf("mysql connector: apply batch for flow %s: %w", b.Checkpoint.Flow, err)
	}
	return nil
}

func (s *Store) apply(ctx context.Context, b *connectors.Batch) error {
	if err := checkCheckpoint(b.Checkpoint); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *sql.Tx, sc *applyScratch) (bool, error) {
		applied, err := checkpointStored(ctx, tx, b.Checkpoint)
		if err != nil || applied {
			return false, err // applied: committed before, release the checkpoint lock
		}
		if err := s.applyWrites(ctx, tx, sc, b); err != nil {
			return false, err
		}
		return true, storeCheckpoint(ctx, tx, b.Checkpoint)
	})
}

// shape returns the cached statement shape, building it on first use.
func (s *Store) shape(sc *applyScratch, kind statementKind, table string, key, columns []string, zeroColumn string,
	build func() (*stmtShape, error)) (*stmtShape, error) {
	sc.shapeKey = stmt.AppendShapeKey(sc.shapeKey[:0], kind, table, key, columns, zeroColumn)
	return s.shapes.Get(sc.shapeKey, build)
}

func (s *Store) applyDelete(ctx context.Context, tx *sql.Tx, sc *applyScratch, d *connectors.Delete) error {
	if len(d.Keys) == 0 {
		return nil
	}
	shape, err := s.shape(sc, kindDelete, d.Table, d.Key, nil, "", func() (*stmtShape, error) {
		return deleteShape(d.Table, d.Key)
	})
	if err != nil {
		return err
	}
	if err := checkRows(d.Keys, shape, d.Key); err != nil {
		return err
	}
	return s.execChunks(ctx, tx, sc, shape, d.Keys)
}

func (s *Store) applyUpsert(ctx context.Context, tx *sql.Tx, sc *applyScratch, u *connectors.Upsert) error {
	if len(u.Rows) == 0 {
		return nil
	}
	shape, err := s.shape(sc, kindUpsert, u.Table, u.Key, u.Columns, "", func() (*stmtShape, error) {
		return upsertShape(u.Table, u.Key, u.Columns)
	})
	if err != nil {
		return err
	}
	if err := checkRows(u.Rows, shape, u.Key); err != nil {
		return err
	}
	return s.execChunks(ctx, tx, sc, shape, u.Rows)
}

func (s *Store) applyDelta(ctx context.Context, tx *sql.Tx, sc *applyScratch, d *connectors.Delta) error {
	if len(d.Rows) == 0 {
		return nil
	}
	shape, err := s.shape(sc, kindDelta, d.Table, d.Key, d.Columns, "", func() (*stmtShape, error) {
		return deltaShape(d.Table, d.Key, d.Columns)
	})
	if err != nil {
		return err
	}
	if err := checkRows(d.Rows, shape, d.Key); err != nil {
		return err
	}
	if err := stmt.CheckDeltaValues(d.Rows, len(d.Key), d.Columns); err != nil {
		return err
	}
	if err := s.execChunks(ctx, tx, sc, shape, d.Rows); err != nil {
		return err
	}
	if d.DeleteWhenZero == "" {
		return nil
	}
	zero, err := s.shape(sc, kindZeroDelete, d.Table, d.Key, nil, d.DeleteWhenZero, func() (*stmtShape, error) {
		return zeroDeleteShape(d.Table, d.Key, d.DeleteWhenZero)
	})
	if err != nil {
		return err
	}
	if err := s.execChunks(ctx, tx, sc, zero, d.Rows); err != nil {
		return fmt.Errorf("delete rows where %q is 0: %w", d.DeleteWhenZero, err)
	}
	return nil
}

func (s *Store) applyInsert(ctx context.Context, tx *sql.Tx, sc *applyScratch, in *connectors.Insert) error {
	if len(in.Rows) == 0 {
		return nil
	}
	shape, err := s.shape(sc, kindInsert, in.Table, nil, in.Columns, "", func() (*stmtShape, error) {
		return insertShape(in.Table, in.Columns)
	})
	if err != nil {
		return err
	}
	if err := checkRows(in.Rows, shape, nil); err != nil {
		return err
	}
	return s.execChunks(ctx, tx, sc, shape, in.Rows)
}

func (s *Store) applyRecompute(ctx context.Context, tx *sql.Tx, sc *applyScratch, r *connectors.Recompute) error {
	if len(r.Keys) == 0 {
		return nil
	}
	shape, err := s.shape(sc, kindRecompute, r.Table, r.Key, stmt.RecomputeColumns(r.Set), "", func() (*stmtShape, error) {
		return recomputeShape(r.Table, r.Key, r.Set)
	})
	if err != nil {
		return err
	}
	if err := checkRows(r.Keys, shape, r.Key); err != nil {
		return err
	}
	return s.execChunks(ctx, tx, sc, shape, r.Keys)
}

// execChunks runs shape over rows, as many rows per statement as the shape
// and the argument budget allow. Each statement takes the first
// shape.perRow values of each of its rows.
func (s *Store) execChunks(ctx context.Context, tx *sql.Tx, sc *applyScratch, shape *stmtShape, rows [][]any) error {
	for start := 0; start < len(rows); {
		n := chunkLen(rows[start:], shape, s.argBudget)
		args := sc.args[:0]
		for _, row := range rows[start : start+n] {
			args = append(args, row[:shape.perRow]...)
		}
		sc.args = args
		if _, err := tx.ExecContext(ctx, shape.sql(n), args...); err != nil {
			if n == 1 {
				return fmt.Errorf("row %d: %w", start, err)
			}
			return fmt.Errorf("rows %d to %d: %w", start, start+n-1, err)
		}
		start += n
	}
	return nil
}
