package flow

// The "windows" snapshot method: no long consistent view and no
// binlog_snapshot_position, so that MySQL can snapshot (and MariaDB need
// not hold undo history for one long transaction).
//
// The copied range R (the tables done, the current table up to lastKey) is
// always exact as of the position P (s.next.Pos), as the progress a resumed
// snapshot starts from is. Each window:
//
//  1. reads the current table after lastKey, about max_rows rows, in chunks
//     (snapshot.Reader.ReadWindow): the window's key range is (lastKey,
//     last key read], or to the table's end when it ended. Every
//     transaction at or before W (Window.Since) is in the rows read; any
//     transaction in them is at or before H (Window.End, the binlog end
//     taken after the reads);
//  2. streams the binlog from min(P, W) to H once: a change after P to a row
//     inside R goes through the chain (as catchUp does; an update crossing
//     R's boundary applies its inside half), which brings R to H; an image
//     after W whose key is in the window's range is recorded (a before image
//     as a delete, an after image as the row);
//  3. merges (snapshot.MergeWindow): a key with a recorded image is as its
//     last image left it (the binlog orders the changes of one row); a key
//     without is as it was at W, which the rows read show: they include
//     every transaction up to W, and any later one they include is at or
//     before H, so it would have been recorded. These are the window's rows
//     at H; fed as inserts, R grows by the window's range, exact at H;
//  4. P = H, lastKey = the range's end (the next table when the table
//     ended), and commits like copy does: a crash resumes from there.

import (
	"context"
	"fmt"
	"slices"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/snapshot"
)

// copyWindows copies the tables from the recorded point on, window by
// window, and ends with the commit that sets the flow's checkpoint.
func (s *snapshotRun) copyWindows(ctx context.Context) (connectors.Checkpoint, error) {
	so, r := s.e.opts.Snapshot, s.r
	s.e.snapshotNoted(s.status(SnapshotCopying))
	s.lastCommit = time.Now()
	var cmp *snapshot.KeyComparer
	cmpOf := -1
	var change functions.Change
	for s.next.Table < len(s.tables) {
		ti := s.next.Table
		t := s.tables[ti]
		if cmpOf != ti {
			cmp, cmpOf = so.Reader.Comparer(t), ti
		}
		w, err := so.Reader.ReadWindow(ctx, t, s.lastKey, so.ChunkRows, so.MaxRows, s.next.Pos, s.next.GTID)
		if err != nil {
			return connectors.Checkpoint{}, fmt.Errorf("%s: %w", s.where(), err)
		}
		var end []any // the window's last key; nil: to the table's end
		if !w.Done {
			end = t.KeyOf(w.Rows[len(w.Rows)-1])
		}
		p := s.next.Pos // R is exact as of p
		if w.End.Compare(p) < 0 {
			return connectors.Checkpoint{}, fmt.Errorf("%s: the upstream's binlog end %s is before the snapshot's position", s.where(), w.End)
		}
		from := p
		if w.Since.Compare(from) < 0 {
			from = w.Since
		}
		gtids, err := s.e.src.NewGTIDSet(s.next.GTID)
		if err != nil {
			return connectors.Checkpoint{}, err
		}
		var images []snapshot.Image
		err = so.Reader.StreamUntil(ctx, from, w.End, func(_ context.Context, txn *schema.Txn) error {
			applyR := txn.End.Compare(p) > 0
			record := txn.End.Compare(w.Since) > 0
			for i := range txn.Rows {
				row := &txn.Rows[i]
				j, ok := s.tableOf(row.Table.FullName())
				switch {
				case !ok || j > ti:
					continue
				case j < ti:
					if applyR {
						if err := s.applyInside(txn, i, row.Before, row.After, &change); err != nil {
							return err
						}
					}
					continue
				}
				var before, after []any
				for _, img := range []struct {
					in     []any
					out    *[]any
					record []any // what the window records: nil for a before image (deleted)
				}{{row.Before, &before, nil}, {row.After, &after, row.After}} {
					if img.in == nil {
						continue
					}
					key, err := s.imageKey(j, row.Table, img.in)
					if err != nil {
						return fmt.Errorf("table %s at binlog %s: %w", row.Table.FullName(), txn.End, err)
					}
					c := 1 // against lastKey: nil is before every key
					if s.lastKey != nil {
						if c, err = cmp.Compare(ctx, key, s.lastKey); err != nil {
							return fmt.Errorf("table %s at binlog %s: %w", row.Table.FullName(), txn.End, err)
						}
					}
					if c <= 0 { // inside R
						if applyR {
							*img.out = img.in
						}
						continue
					}
					if !record {
						continue
					}
					if end != nil {
						if c, err = cmp.Compare(ctx, key, end); err != nil {
							return fmt.Errorf("table %s at binlog %s: %w", row.Table.FullName(), txn.End, err)
						}
						if c > 0 { // after the window: read by a later one
							continue
						}
					}
					if img.record != nil && len(img.record) != len(t.Schema.Columns) {
						return fmt.Errorf("table %s at binlog %s: the row has %d columns, the table had %d when the snapshot began",
							row.Table.FullName(), txn.End, len(img.record), len(t.Schema.Columns))
					}
					images = append(images, snapshot.Image{Key: key, Row: slices.Clone(img.record)})
				}
				if applyR {
					if err := s.applyInside(txn, i, before, after, &change); err != nil {
						return err
					}
				}
			}
			if !applyR {
				return nil
			}
			// R is exact as of the transaction's end: a commit there is a
			// valid point to resume from (the window is read again).
			_, err := s.advance(ctx, txn, gtids)
			return err
		})
		if err != nil {
			return connectors.Checkpoint{}, err
		}
		rows, err := snapshot.MergeWindow(w.Rows, t.KeyOf, images, func(a, b []any) (int, error) { return cmp.Compare(ctx, a, b) })
		if err != nil {
			return connectors.Checkpoint{}, fmt.Errorf("%s: %w", s.where(), err)
		}
		layout := r.layouts.Of(t.Schema)
		for _, row := range rows {
			change = functions.Change{Op: schema.Insert, Layout: layout, Table: t.Schema, After: row}
			if err := r.spec.Chain.Process(&change); err != nil {
				key, _ := snapshot.EncodeKey(t.KeyOf(row))
				err = fmt.Errorf("table %s, row with primary key %s (snapshot window ending at %s): %w", t.Name, key, w.End, err)
				r.noteError(ErrorFunction, err)
				return connectors.Checkpoint{}, err
			}
		}
		r.stats.rowsIn.Add(uint64(len(rows)))
		s.next.Rows += uint64(len(rows))
		s.next.Pos, s.next.GTID = w.End, gtids.String()
		if w.Done {
			s.lastKey = nil
			s.next.Table, s.next.LastKey, s.next.TableName = ti+1, "", ""
			if ti+1 < len(s.tables) {
				s.next.TableName = s.tables[ti+1].Name
			}
		} else {
			key, err := snapshot.EncodeKey(end)
			if err != nil {
				return connectors.Checkpoint{}, fmt.Errorf("table %s, %s: %w", t.Name, s.where(), err)
			}
			s.lastKey, s.next.LastKey = end, key
		}
		if r.spec.Chain.Pending() >= so.MaxRows || time.Since(s.lastCommit) >= so.MaxDelay {
			if err := s.commit(ctx, false); err != nil {
				return connectors.Checkpoint{}, err
			}
		}
		s.e.snapshotNoted(s.status(SnapshotCopying))
	}
	if err := s.commit(ctx, true); err != nil {
		return connectors.Checkpoint{}, err
	}
	return s.done(), nil
}
