package flow

// The initial snapshot of a flow: the rows its tables already hold, read in
// primary-key chunks from one consistent view of the upstream and applied
// as inserts through the flow's chain, then the flow's checkpoint set to
// the view's binlog position, so that streaming continues with no gap and
// no double count.
//
// Each downstream transaction of a snapshot carries its progress (the
// view's position, the table being copied and the primary key of the last
// row copied), so a crash loses at most the chunks since the last commit.
// A restarted snapshot opens a new view at a later position P2 while the
// rows already copied reflect the recorded position P1. It first applies
// the binlog from P1 to P2, but only the changes to rows inside the copied
// range (every row of the tables already done, the rows of the current
// table up to the recorded key; an update crossing the range's boundary
// applies its inside half), which brings the copied rows to P2; then it
// copies the rest of the range at P2. Every row is then counted once, as it
// is at P2, and streaming continues from P2. See README.md, "Snapshots".
//
// That is the view method. The windows method (snapshotwindows.go) needs
// no view: it repeats the resume step window by window.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
	"github.com/binflow/binflow/snapshot"
)

// SnapshotOptions turn snapshots on.
type SnapshotOptions struct {
	// Reader reads the upstream's tables and consistent views.
	Reader *snapshot.Reader
	// New snapshots flows that have neither a checkpoint nor snapshot
	// progress (upstream.start = "snapshot"); without it such flows start
	// at Options.Start. Flows whose rebuild was requested, or whose
	// snapshot was interrupted, are snapshotted either way.
	New bool
	// ChunkRows is the rows per keyset query; MaxRows and MaxDelay bound a
	// snapshot's downstream transactions like Options.MaxRows/MaxDelay.
	ChunkRows int
	MaxRows   int
	MaxDelay  time.Duration
	// Method is how rows are read consistently with the binlog:
	// SnapshotView ("" too) or SnapshotWindows. See README.md, "Snapshots".
	Method string
	// Progress, when set, is told of each flow's snapshot as it advances
	// (after each chunk, and once done). It is called on the flow's
	// goroutine: it must be quick and must not block.
	Progress func(SnapshotStatus)
}

// SnapshotStatus is a flow's snapshot at one instant.
type SnapshotStatus struct {
	Flow string
	// Phase is "catching up" (a resumed snapshot replaying the binlog over
	// the rows already copied), "copying" or "done".
	Phase string
	// Table is the table being copied; Position the binlog position of the
	// view (or of the catch-up, or of the last window).
	Table    string
	Position schema.Position
	// Rows copied so far (also by earlier runs of the same snapshot) of an
	// estimated total (information_schema.TABLES).
	Rows, Estimate uint64
	// Started is when the snapshot began (its first run); Resumes how often
	// it was resumed after a crash or stop, ResumedAtRows the rows it had
	// copied when this run resumed it.
	Started       time.Time
	Resumes       int
	ResumedAtRows uint64
}

// Snapshot methods.
const (
	SnapshotView    = "view"
	SnapshotWindows = "windows"
)

// Snapshot phases.
const (
	SnapshotCatchingUp = "catching up"
	SnapshotCopying    = "copying"
	SnapshotDone       = "done"
)

// SnapshotStore is the downstream as snapshots need it; connectors/mysql's
// Store is one.
type SnapshotStore interface {
	LoadSnapshot(ctx context.Context, flow string) (connectors.SnapshotProgress, bool, error)
	ApplySnapshot(ctx context.Context, b *connectors.Batch, prev, next *connectors.SnapshotProgress) error
	TableEmpty(ctx context.Context, table string) (bool, error)
}

// snapshotState holds each snapshotting flow's latest status.
type snapshotState struct {
	mu    sync.Mutex
	flows map[string]SnapshotStatus
}

func (e *Engine) snapshotNoted(s SnapshotStatus) {
	e.snaps.mu.Lock()
	if e.snaps.flows == nil {
		e.snaps.flows = map[string]SnapshotStatus{}
	}
	if s.Phase == SnapshotDone {
		delete(e.snaps.flows, s.Flow)
	} else {
		e.snaps.flows[s.Flow] = s
	}
	e.snaps.mu.Unlock()
	if p := e.opts.Snapshot.Progress; p != nil {
		p(s)
	}
}

// snapshotOf returns a flow's snapshot status, if it is snapshotting.
func (e *Engine) snapshotOf(flow string) (SnapshotStatus, bool) {
	e.snaps.mu.Lock()
	defer e.snaps.mu.Unlock()
	s, ok := e.snaps.flows[flow]
	return s, ok
}

// snapshotting reports whether a flow without a checkpoint is to be
// snapshotted: snapshots are on for new flows, or the flow has snapshot
// progress (a rebuild was requested, or a snapshot interrupted).
func (e *Engine) snapshotting(ctx context.Context, r *runner) (bool, error) {
	if e.opts.Snapshot == nil {
		return false, nil
	}
	if e.opts.Snapshot.New {
		return true, nil
	}
	store, ok := e.store.(SnapshotStore)
	if !ok {
		return false, nil
	}
	_, has, err := store.LoadSnapshot(ctx, r.spec.Name)
	if err != nil {
		return false, fmt.Errorf("flow %s: %w", r.spec.Name, err)
	}
	return has, nil
}

// snapshotFlow snapshots a flow without a checkpoint, resuming its recorded
// progress if any, and returns the checkpoint it ends with (committed).
func (e *Engine) snapshotFlow(ctx context.Context, r *runner) (connectors.Checkpoint, error) {
	so := e.opts.Snapshot
	name := r.spec.Name
	fail := func(err error) (connectors.Checkpoint, error) {
		return connectors.Checkpoint{}, fmt.Errorf("flow %s: snapshot: %w", name, err)
	}
	store, ok := e.store.(SnapshotStore)
	if !ok {
		return fail(errors.New("the downstream store cannot record snapshot progress"))
	}
	serverID, serverUUID := e.src.Identity()
	prog, has, err := store.LoadSnapshot(ctx, name)
	if err != nil {
		return fail(err)
	}
	fresh := !has || prog.Pos.IsZero()
	if !fresh && prog.ServerID != serverID {
		return fail(fmt.Errorf("its progress was recorded against upstream server_id %d, but the upstream now is server_id %d; start it again with `binflow rebuild %s`",
			prog.ServerID, serverID, name))
	}
	if !has {
		// A new flow: what is downstream already would be counted twice.
		for _, t := range r.spec.Sinks {
			empty, err := store.TableEmpty(ctx, t)
			if err != nil {
				return fail(err)
			}
			if !empty {
				return fail(fmt.Errorf("the flow has no checkpoint but its derived table %s already has rows, which a snapshot would count twice; "+
					"empty it with `binflow rebuild %s` (which deletes them), or set upstream.start = \"current\" to stream without a snapshot", t, name))
			}
		}
	}
	r.setState(StateSnapshotting)
	// Metadata first (information_schema is not part of a view), then the
	// view, which holds its connection until the snapshot ends.
	tables := make([]*snapshot.Table, len(r.spec.Tables))
	var estimate uint64
	for i, t := range r.spec.Tables {
		if tables[i], err = so.Reader.Table(ctx, t); err != nil {
			return fail(err)
		}
		n, err := so.Reader.Estimate(ctx, t)
		if err != nil {
			return fail(err)
		}
		estimate += n
	}
	windows := so.Method == SnapshotWindows
	var view *snapshot.View
	var start schema.Position
	var startGTID string
	switch {
	case windows && fresh:
		if start, startGTID, err = so.Reader.WindowStart(ctx); err != nil {
			return fail(err)
		}
	case windows: // resumed from the recorded position, below
	default:
		if view, err = so.Reader.Begin(ctx); err != nil {
			return fail(err)
		}
		defer view.Close()
		start, startGTID = view.Pos, view.GTID
	}
	s := &snapshotRun{e: e, r: r, store: store, tables: tables, view: view, windows: windows,
		next: connectors.SnapshotProgress{Flow: name, Pos: start, GTID: startGTID, ServerID: serverID, ServerUUID: serverUUID,
			TableName: tables[0].Name, Estimate: estimate, Started: time.Now()}}
	if fresh {
		if has {
			p := prog
			s.prev = &p // requested by a rebuild
		}
		if windows {
			r.log.Info().Str("position", start.String()).Strs("tables", r.spec.Tables).Uint64("rows_estimate", estimate).
				Msg("snapshot: copying the tables in windows reconciled with the binlog (no long view)")
		} else {
			r.log.Info().Str("position", view.Pos.String()).Strs("tables", r.spec.Tables).Uint64("rows_estimate", estimate).
				Msg("snapshot: consistent view opened, copying the tables")
		}
	} else {
		p := prog
		s.prev = &p
		s.next = prog
		s.next.Resumes++
		s.next.Estimate = max(estimate, prog.Rows)
		s.resumedAt = prog.Rows
		if prog.Table > len(tables) || (prog.Table < len(tables) && prog.TableName != tables[prog.Table].Name) {
			return fail(fmt.Errorf("the flow's tables changed since its snapshot began (it was at table %d, %q); start it again with `binflow rebuild %s`",
				prog.Table, prog.TableName, name))
		}
		if s.lastKey, err = snapshot.DecodeKey(prog.LastKey); err != nil {
			return fail(err)
		}
		if windows {
			// The windows go on from the recorded position: the first
			// window's binlog brings the copied range up to date.
			r.log.Info().Str("table", prog.TableName).Str("after_key", prog.LastKey).Uint64("rows_done", prog.Rows).
				Int("resumes", s.next.Resumes).Str("recorded_position", prog.Pos.String()).
				Msg("snapshot: resuming after the last committed chunk; windows go on from the recorded position")
			cp, err := s.copyWindows(ctx)
			if err != nil {
				return fail(err)
			}
			return cp, nil
		}
		r.log.Info().Str("table", prog.TableName).Str("after_key", prog.LastKey).Uint64("rows_done", prog.Rows).
			Int("resumes", s.next.Resumes).Str("recorded_position", prog.Pos.String()).Str("position", view.Pos.String()).
			Msg("snapshot: resuming after the last committed chunk; catching up the copied rows from the recorded position to the new view's")
		if err := s.catchUp(ctx, view.Pos); err != nil {
			return fail(err)
		}
		s.next.Pos, s.next.GTID = view.Pos, view.GTID
	}
	run := s.copy
	if windows {
		run = s.copyWindows
	}
	cp, err := run(ctx)
	if err != nil {
		return fail(err)
	}
	return cp, nil
}

// snapshotRun is one run of a flow's snapshot.
type snapshotRun struct {
	e      *Engine
	r      *runner
	store  SnapshotStore
	tables []*snapshot.Table
	view   *snapshot.View // nil with windows
	// windows: the windows method, without a view (snapshotwindows.go: a
	// file name ending in _windows would build on Windows only).
	windows bool
	// prev is the progress stored downstream (nil: none), next the
	// progress of what the chain holds once committed.
	prev       *connectors.SnapshotProgress
	next       connectors.SnapshotProgress
	lastKey    []any // of tables[next.Table], nil for none
	resumedAt  uint64
	lastCommit time.Time

	index  map[string]int          // table name -> index in tables (tableOf)
	keyIdx map[*schema.Table][]int // a definition's primary-key columns (imageKey)
}

// tableOf is the index in s.tables of the flow's table named name.
func (s *snapshotRun) tableOf(name string) (int, bool) {
	if s.index == nil {
		s.index = make(map[string]int, len(s.tables))
		for i, t := range s.tables {
			s.index[t.Name] = i
		}
	}
	j, ok := s.index[name]
	return j, ok
}

// imageKey is the primary key of a binlog row image of s.tables[j], whose
// definition in the binlog is t.
func (s *snapshotRun) imageKey(j int, t *schema.Table, img []any) ([]any, error) {
	idx, ok := s.keyIdx[t]
	if !ok {
		var err error
		if idx, err = t.Resolve(s.tables[j].KeyNames()); err != nil {
			return nil, err
		}
		if s.keyIdx == nil {
			s.keyIdx = map[*schema.Table][]int{}
		}
		s.keyIdx[t] = idx
	}
	key := make([]any, len(idx))
	for i, k := range idx {
		key[i] = img[k]
	}
	return key, nil
}

// advance records that the copied range is exact as of txn's end, and
// commits when the chain holds snapshot.max_rows rows or max_delay has
// passed (a valid point to resume from); it reports whether it committed.
func (s *snapshotRun) advance(ctx context.Context, txn *schema.Txn, gtids schema.GTIDSet) (bool, error) {
	if txn.GTID != "" {
		if err := gtids.Update(txn.GTID); err != nil {
			return false, fmt.Errorf("GTID %q at %s: %w", txn.GTID, txn.End, err)
		}
	}
	s.next.Pos, s.next.GTID = txn.End, gtids.String()
	so := s.e.opts.Snapshot
	if s.r.spec.Chain.Pending() < so.MaxRows && time.Since(s.lastCommit) < so.MaxDelay {
		return false, nil
	}
	return true, s.commit(ctx, false)
}

// where says, for errors, where the snapshot stands: its view's position,
// the table being copied and the last key copied of it.
func (s *snapshotRun) where() string {
	w := "view at " + s.next.Pos.String()
	if s.windows {
		w = "windows at " + s.next.Pos.String()
	}
	if s.next.TableName != "" {
		w += ", table " + s.next.TableName
	}
	if s.next.LastKey != "" {
		if key, err := snapshot.DecodeKey(s.next.LastKey); err == nil {
			parts := make([]string, len(key))
			for i, v := range key {
				parts[i] = fmt.Sprint(v)
			}
			w += " after key (" + strings.Join(parts, ", ") + ")"
		} else {
			w += " after key " + s.next.LastKey
		}
	}
	return w
}

func (s *snapshotRun) status(phase string) SnapshotStatus {
	table := ""
	if s.next.Table < len(s.tables) {
		table = s.tables[s.next.Table].Name
	}
	return SnapshotStatus{Flow: s.r.spec.Name, Phase: phase, Table: table, Position: s.next.Pos, Rows: s.next.Rows,
		Estimate: max(s.next.Estimate, s.next.Rows), Started: s.next.Started, Resumes: s.next.Resumes, ResumedAtRows: s.resumedAt}
}

// catchUp brings the copied rows from the recorded position to until.
func (s *snapshotRun) catchUp(ctx context.Context, until schema.Position) error {
	so := s.e.opts.Snapshot
	var cmp *snapshot.KeyComparer
	if s.next.Table < len(s.tables) {
		cmp = so.Reader.Comparer(s.tables[s.next.Table])
	}
	covered := func(j int, t *schema.Table, img []any) (bool, error) {
		switch {
		case j < s.next.Table:
			return true, nil
		case j > s.next.Table || s.lastKey == nil:
			return false, nil
		}
		key, err := s.imageKey(j, t, img)
		if err != nil {
			return false, err
		}
		n, err := cmp.Compare(ctx, key, s.lastKey)
		return n <= 0, err
	}
	gtids, err := s.e.src.NewGTIDSet(s.next.GTID)
	if err != nil {
		return err
	}
	s.e.snapshotNoted(s.status(SnapshotCatchingUp))
	s.lastCommit = time.Now()
	var change functions.Change
	return so.Reader.StreamUntil(ctx, s.next.Pos, until, func(_ context.Context, txn *schema.Txn) error {
		for i := range txn.Rows {
			row := &txn.Rows[i]
			j, ok := s.tableOf(row.Table.FullName())
			if !ok {
				continue
			}
			var before, after []any
			for _, img := range []struct {
				in  []any
				out *[]any
			}{{row.Before, &before}, {row.After, &after}} {
				if img.in == nil {
					continue
				}
				in, err := covered(j, row.Table, img.in)
				if err != nil {
					return fmt.Errorf("table %s at binlog %s: %w", row.Table.FullName(), txn.End, err)
				}
				if in {
					*img.out = img.in
				}
			}
			if err := s.applyInside(txn, i, before, after, &change); err != nil {
				return err
			}
		}
		committed, err := s.advance(ctx, txn, gtids)
		if committed && err == nil {
			s.e.snapshotNoted(s.status(SnapshotCatchingUp))
		}
		return err
	})
}

// applyInside applies the images of row change i of txn that are inside
// the copied range (before, after; nil: outside or none) through the chain:
// an update whose key crossed the range's boundary applies its inside half.
func (s *snapshotRun) applyInside(txn *schema.Txn, i int, before, after []any, change *functions.Change) error {
	r, row := s.r, &txn.Rows[i]
	op := schema.Update
	switch {
	case before == nil && after == nil:
		return nil
	case before == nil:
		op = schema.Insert
	case after == nil:
		op = schema.Delete
	}
	*change = functions.Change{Op: op, Layout: r.layouts.Of(row.Table), Table: row.Table, Before: before, After: after, Txn: txn, Seq: i}
	if err := r.spec.Chain.Process(change); err != nil {
		err = fmt.Errorf("table %s, %s at binlog %s (gtid %q): %w", row.Table.FullName(), op, txn.End, txn.GTID, err)
		r.noteError(ErrorFunction, err)
		return err
	}
	r.stats.rowsIn.Add(1)
	return nil
}

// chunk is one keyset query's rows, read ahead of the chain.
type chunk struct {
	table int
	rows  [][]any
	last  []any // key of the last row, nil for none
	done  bool  // the table has no more rows
	err   error
}

// copy reads the tables from the recorded point on in the view, in chunks
// read ahead by a goroutine, applies them and commits, and ends with the
// commit that sets the flow's checkpoint.
func (s *snapshotRun) copy(ctx context.Context) (connectors.Checkpoint, error) {
	so, r := s.e.opts.Snapshot, s.r
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	chunks := make(chan chunk, 2)
	first, firstKey := s.next.Table, s.lastKey
	go func() {
		defer close(chunks)
		for ti := first; ti < len(s.tables); ti++ {
			after := []any(nil)
			if ti == first {
				after = firstKey
			}
			for {
				rows, err := s.view.Chunk(ctx, s.tables[ti], after, so.ChunkRows)
				c := chunk{table: ti, rows: rows, err: err, done: len(rows) < so.ChunkRows}
				if len(rows) > 0 {
					after = s.tables[ti].KeyOf(rows[len(rows)-1])
					c.last = after
				}
				select {
				case chunks <- c:
				case <-ctx.Done():
					return
				}
				if err != nil {
					return
				}
				if c.done {
					break
				}
			}
		}
	}()
	s.e.snapshotNoted(s.status(SnapshotCopying))
	s.lastCommit = time.Now()
	var change functions.Change
	for c := range chunks {
		if c.err != nil {
			return connectors.Checkpoint{}, c.err
		}
		t := s.tables[c.table]
		layout := r.layouts.Of(t.Schema)
		for _, row := range c.rows {
			change = functions.Change{Op: schema.Insert, Layout: layout, Table: t.Schema, After: row}
			if err := r.spec.Chain.Process(&change); err != nil {
				key, _ := snapshot.EncodeKey(t.KeyOf(row))
				err = fmt.Errorf("table %s, row with primary key %s (snapshot at %s): %w", t.Name, key, s.view.Pos, err)
				r.noteError(ErrorFunction, err)
				return connectors.Checkpoint{}, err
			}
		}
		r.stats.rowsIn.Add(uint64(len(c.rows)))
		s.next.Rows += uint64(len(c.rows))
		s.next.Table, s.next.TableName = c.table, t.Name
		if c.last != nil {
			key, err := snapshot.EncodeKey(c.last)
			if err != nil {
				return connectors.Checkpoint{}, fmt.Errorf("table %s, view at %s: %w", t.Name, s.view.Pos, err)
			}
			s.next.LastKey = key
		}
		if c.done {
			s.next.Table, s.next.LastKey, s.next.TableName = c.table+1, "", ""
			if c.table+1 < len(s.tables) {
				s.next.TableName = s.tables[c.table+1].Name
			}
		}
		if r.spec.Chain.Pending() >= so.MaxRows || time.Since(s.lastCommit) >= so.MaxDelay {
			if err := s.commit(ctx, false); err != nil {
				return connectors.Checkpoint{}, err
			}
		}
		s.e.snapshotNoted(s.status(SnapshotCopying))
	}
	if err := ctx.Err(); err != nil {
		return connectors.Checkpoint{}, err
	}
	if s.next.Table < len(s.tables) {
		return connectors.Checkpoint{}, fmt.Errorf("internal error: the copy stopped at table %s", s.tables[s.next.Table].Name)
	}
	if err := s.commit(ctx, true); err != nil {
		return connectors.Checkpoint{}, err
	}
	return s.done(), nil
}

// done reports the snapshot done and returns its checkpoint (committed).
func (s *snapshotRun) done() connectors.Checkpoint {
	r := s.r
	cp := connectors.Checkpoint{Flow: r.spec.Name, Pos: s.next.Pos, GTID: s.next.GTID, ServerID: s.next.ServerID, ServerUUID: s.next.ServerUUID}
	st := s.status(SnapshotDone)
	s.e.snapshotNoted(st)
	r.log.Info().Str("position", cp.Pos.String()).Uint64("rows", s.next.Rows).Int("resumes", s.next.Resumes).
		Dur("took", time.Since(s.next.Started)).Msg("snapshot done: streaming from its position")
	return cp
}

// commit writes what the chain holds with the progress (last: with the
// flow's checkpoint instead, ending the snapshot), retrying transient
// failures like batches do.
func (s *snapshotRun) commit(ctx context.Context, last bool) error {
	r := s.r
	b := &connectors.Batch{}
	var next *connectors.SnapshotProgress
	if last {
		// The position the copied rows stand at: the view's (after
		// catchUp or from the start), or the last window's end.
		b.Checkpoint = connectors.Checkpoint{Flow: r.spec.Name, Pos: s.next.Pos, GTID: s.next.GTID, ServerID: s.next.ServerID, ServerUUID: s.next.ServerUUID}
	} else {
		p := s.next
		next = &p
	}
	if err := r.spec.Chain.Flush(b); err != nil {
		err = fmt.Errorf("build snapshot batch, %s: %w", s.where(), err)
		r.noteError(ErrorFunction, err)
		return err
	}
	r.spec.Chain.Reset()
	wait := r.opts.RetryMin
	started := time.Now()
	for attempt := 1; ; attempt++ {
		err := s.store.ApplySnapshot(ctx, b, s.prev, next)
		if err == nil {
			break
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		err = fmt.Errorf("commit snapshot batch, %s%s: %w", s.where(), toTables(b), err)
		if !r.store.Retryable(err) {
			r.noteError(ErrorDownstream, err)
			return err
		}
		r.stats.retries.Add(1)
		r.noteError(ErrorTransient, err)
		r.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Str("table", s.next.TableName).
			Str("position", s.next.Pos.String()).Msg("snapshot: downstream write failed; retrying")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, r.opts.RetryMax)
	}
	if next != nil {
		s.prev = next
	} else {
		s.prev = nil
	}
	s.lastCommit = time.Now()
	rowsOut := b.Len()
	r.stats.batches.Add(1)
	r.stats.rowsOut.Add(uint64(rowsOut))
	if r.opts.Observer != nil {
		r.opts.Observer.BatchCommitted(r.spec.Name, BatchStats{RowsOut: rowsOut, Attempts: 1, CommitTook: time.Since(started), Checkpoint: b.Checkpoint})
	}
	r.log.Debug().Str("table", s.next.TableName).Str("after_key", s.next.LastKey).Uint64("rows_done", s.next.Rows).
		Int("rows_out", rowsOut).Dur("commit", time.Since(started)).Msg("snapshot batch committed")
	return nil
}
