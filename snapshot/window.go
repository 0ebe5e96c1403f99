package snapshot

// The "windows" snapshot method: no long consistent view. A table is read
// in windows of a few chunks, each window reconciled with the binlog
// written meanwhile (see flow/snapshotwindows.go and README.md,
// "Snapshots"). What a window needs from the upstream is here: where a
// snapshot starts, the window's rows, the position W whose transactions
// they all include and the binlog end H after them; and the merge of the
// rows read with the binlog images recorded for the window.

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	gomysql "github.com/go-mysql-org/go-mysql/mysql"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/schema"
)

// ErrNoGTIDs is returned by the windows method on a MySQL upstream without
// GTIDs: without them binflow cannot tell when every transaction up to a
// binlog position is visible to its reads.
var ErrNoGTIDs = errors.New("a snapshot of a MySQL upstream needs GTIDs (gtid_mode = ON): binflow waits for @@GLOBAL.gtid_executed " +
	"to include every transaction up to a binlog position before reading a window; enable GTIDs " +
	"(gtid_mode = ON, enforce_gtid_consistency = ON), or set upstream.start = \"current\" to stream without a snapshot")

// Window is one window of a table read by the windows method.
type Window struct {
	// Rows are the rows read, in primary-key order; Done says the table
	// has no row after the last one (the window extends to its end).
	Rows [][]any
	Done bool
	// Since (W): every transaction at or before it is in Rows; one after it
	// may be or not. End (H): the binlog end taken after the reads; every
	// transaction in Rows is at or before it.
	Since, End schema.Position
}

// WindowStart is where a windows snapshot starts: a binlog position and
// the GTID set there (every transaction up to it, exactly). On MariaDB the
// position of a consistent view (opened and closed at once); on MySQL the
// start of the current binlog file, whose Previous_gtids event gives the
// set exactly (SHOW MASTER STATUS's Executed_Gtid_Set may lag its
// position). It fails with ErrNoGTIDs on MySQL without GTIDs.
func (r *Reader) WindowStart(ctx context.Context) (schema.Position, string, error) {
	if r.opts.Flavor != gomysql.MySQLFlavor {
		v, err := r.Begin(ctx)
		if err != nil {
			return schema.Position{}, "", err
		}
		v.Close()
		return v.Pos, v.GTID, nil
	}
	return mysqlWindowStart(ctx, mysqlServer{r.db})
}

// ReadWindow reads up to about maxRows rows of t after the key after (nil:
// from the first row), chunkRows per query, for a snapshot whose copied
// range stands at pos, with the GTID set gtid there.
//
// MariaDB: in a short consistent view, whose position is Since. MySQL:
// without a view, each query seeing the latest committed rows, after
// waiting until @@GLOBAL.gtid_executed includes gtid: the binlog is
// written before the storage engine commits, and gtid_executed is updated
// after, so every transaction up to pos is then visible; Since is pos.
func (r *Reader) ReadWindow(ctx context.Context, t *Table, after []any, chunkRows, maxRows int, pos schema.Position, gtid string) (*Window, error) {
	w := &Window{}
	var q querier = r.db
	if r.opts.Flavor == gomysql.MySQLFlavor {
		if err := waitExecuted(ctx, mysqlServer{r.db}, gtid, time.Millisecond, time.Minute); err != nil {
			return nil, err
		}
		w.Since = pos
	} else {
		v, err := r.Begin(ctx)
		if err != nil {
			return nil, err
		}
		defer v.Close()
		q, w.Since = v.conn, v.Pos
	}
	for len(w.Rows) < maxRows {
		rows, err := readChunk(ctx, q, t, after, chunkRows)
		if err != nil {
			return nil, err
		}
		w.Rows = append(w.Rows, rows...)
		if len(rows) < chunkRows {
			w.Done = true
			break
		}
		after = t.KeyOf(rows[len(rows)-1])
	}
	var err error
	if w.End, err = canal.BinlogEnd(ctx, r.db); err != nil {
		return nil, err
	}
	return w, nil
}

// gtidServer is what the MySQL windows method asks the server; mysqlServer
// asks a real one, tests a fake.
type gtidServer interface {
	// gtidMode is @@GLOBAL.gtid_mode.
	gtidMode(ctx context.Context) (string, error)
	// executed reports whether @@GLOBAL.gtid_executed includes set.
	executed(ctx context.Context, set string) (bool, error)
	// binlogEnd is SHOW MASTER STATUS's position.
	binlogEnd(ctx context.Context) (schema.Position, error)
	// previousGTIDs is the set of a binlog file's Previous_gtids event.
	previousGTIDs(ctx context.Context, file string) (string, error)
}

// checkGTIDs fails with ErrNoGTIDs unless gtid_mode is ON.
func checkGTIDs(ctx context.Context, s gtidServer) error {
	mode, err := s.gtidMode(ctx)
	if err != nil {
		return fmt.Errorf("read @@GLOBAL.gtid_mode: %w", err)
	}
	if !strings.EqualFold(mode, "ON") {
		return fmt.Errorf("gtid_mode is %s: %w", mode, ErrNoGTIDs)
	}
	return nil
}

func mysqlWindowStart(ctx context.Context, s gtidServer) (schema.Position, string, error) {
	if err := checkGTIDs(ctx, s); err != nil {
		return schema.Position{}, "", err
	}
	end, err := s.binlogEnd(ctx)
	if err != nil {
		return schema.Position{}, "", err
	}
	set, err := s.previousGTIDs(ctx, end.File)
	if err != nil {
		return schema.Position{}, "", fmt.Errorf("GTID set at the start of %s: %w", end.File, err)
	}
	return schema.Position{File: end.File, Pos: 4}, set, nil
}

// waitExecuted waits until gtid_executed includes set, polling from poll
// (doubling, up to 50 ms), and fails after timeout. gtid_mode must be ON:
// otherwise no set tells what is committed.
func waitExecuted(ctx context.Context, s gtidServer, set string, poll, timeout time.Duration) error {
	if err := checkGTIDs(ctx, s); err != nil {
		return err
	}
	deadline := time.Now().Add(timeout)
	for {
		ok, err := s.executed(ctx, set)
		if err != nil {
			return fmt.Errorf("wait for @@GLOBAL.gtid_executed to include %q: %w", set, err)
		}
		if ok {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("@@GLOBAL.gtid_executed did not include %q (the GTID set of the snapshot's binlog position) within %s", set, timeout)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(poll):
		}
		poll = min(2*poll, 50*time.Millisecond)
	}
}

// mysqlServer is a MySQL server's gtidServer.
type mysqlServer struct{ db *sql.DB }

func (m mysqlServer) gtidMode(ctx context.Context) (string, error) {
	var mode string
	err := m.db.QueryRowContext(ctx, "SELECT @@GLOBAL.gtid_mode").Scan(&mode)
	return mode, err
}

func (m mysqlServer) executed(ctx context.Context, set string) (bool, error) {
	var ok bool
	err := m.db.QueryRowContext(ctx, "SELECT GTID_SUBSET(?, @@GLOBAL.gtid_executed)", set).Scan(&ok)
	return ok, err
}

func (m mysqlServer) binlogEnd(ctx context.Context) (schema.Position, error) {
	return canal.BinlogEnd(ctx, m.db)
}

func (m mysqlServer) previousGTIDs(ctx context.Context, file string) (string, error) {
	rows, err := m.db.QueryContext(ctx, "SHOW BINLOG EVENTS IN '"+strings.ReplaceAll(file, "'", "''")+"' LIMIT 4")
	if err != nil {
		return "", err
	}
	defer rows.Close()
	for rows.Next() {
		var name, typ, info string
		var pos, server, end int64
		if err := rows.Scan(&name, &pos, &typ, &server, &end, &info); err != nil {
			return "", err
		}
		if typ == "Previous_gtids" {
			// The set is printed with ",\n" between server UUIDs.
			return strings.Join(strings.Fields(info), ""), nil
		}
	}
	if err := rows.Err(); err != nil {
		return "", err
	}
	return "", fmt.Errorf("binlog %s has no Previous_gtids event", file)
}

// Image is a binlog row image recorded for a window: the row with Key as a
// transaction left it (Row nil: deleted).
type Image struct {
	Key []any
	Row []any
}

// MergeWindow returns a window's rows as they are at its binlog end H:
// the rows read (in key order; keyOf gives a row's key), each key with an
// image replaced by its last image (images are in binlog order) or removed
// when that image is a delete, plus the keys not read whose last image is a
// row. compare orders keys as the server does (equal keys under the
// collation are the same row). The result is in key order.
func MergeWindow(read [][]any, keyOf func([]any) []any, images []Image, compare func(a, b []any) (int, error)) ([][]any, error) {
	if len(images) == 0 {
		return read, nil
	}
	var cmpErr error
	cmp := func(a, b []any) int {
		n, err := compare(a, b)
		if err != nil && cmpErr == nil {
			cmpErr = err
		}
		return n
	}
	last := slices.Clone(images)
	slices.SortStableFunc(last, func(a, b Image) int { return cmp(a.Key, b.Key) })
	// The last of each run of equal keys (binlog order kept by the stable sort).
	n := 0
	for i := range last {
		if i+1 < len(last) && cmp(last[i].Key, last[i+1].Key) == 0 {
			continue
		}
		last[n] = last[i]
		n++
	}
	last = last[:n]
	if cmpErr != nil {
		return nil, cmpErr
	}
	// Each image is found in the rows read by binary search: a few compares
	// per image, not one per row read (a compare in a collation may ask
	// the server).
	out := make([][]any, 0, len(read)+len(last))
	i := 0
	for _, im := range last {
		lo, hi := i, len(read)
		for lo < hi {
			mid := int(uint(lo+hi) >> 1)
			if cmp(keyOf(read[mid]), im.Key) < 0 {
				lo = mid + 1
			} else {
				hi = mid
			}
		}
		out = append(out, read[i:lo]...)
		i = lo
		if i < len(read) && cmp(keyOf(read[i]), im.Key) == 0 {
			i++ // replaced or deleted
		}
		if im.Row != nil {
			out = append(out, im.Row)
		}
	}
	out = append(out, read[i:]...)
	if cmpErr != nil {
		return nil, cmpErr
	}
	return out, nil
}
