package flow

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rs/zerolog"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
)

// runner is one flow's goroutine: it owns the flow's chain and checkpoint.
type runner struct {
	spec    Spec
	opts    Options
	store   Store
	tables  map[string]bool
	in      chan *schema.Txn
	layouts functions.Layouts
	log     zerolog.Logger

	cp    connectors.Checkpoint // last committed (written by the committer once running)
	taken schema.Position       // end of the last transaction taken into a batch

	byGTID     bool   // skip by GTID: the checkpoint came from another server
	serverID   uint32 // the upstream's identity, stamped on every checkpoint
	serverUUID string
	gtids      schema.GTIDSet        // every transaction taken, including the open batch
	pending    connectors.Checkpoint // end of the last transaction in the open batch
	rows       int                   // row changes in the open batch
	txns       int
	first      time.Time // commit time of the open batch's first transaction
	change     functions.Change

	// commits hands built batches to the committer goroutine; unbuffered,
	// so one batch commits while the next one is built, and no more.
	// committed receives a token each time the committer has committed one.
	commits    chan *builtBatch
	committed  chan struct{}
	commitDone chan error

	mu      sync.Mutex
	failure error
	done    chan struct{}
	once    sync.Once

	stats flowStats // what Status reports
}

func (r *runner) fail(err error) {
	r.mu.Lock()
	r.failure = err
	r.mu.Unlock()
	r.stats.mu.Lock()
	// The kind is that of the error noted last when this is it (perhaps
	// wrapped); a failure no one noted is internal.
	if noted := r.stats.lastError; noted == "" || !strings.Contains(err.Error(), noted) || r.stats.lastErrorKind == ErrorTransient {
		r.stats.lastErrorKind = ErrorInternal
	}
	r.stats.lastError, r.stats.lastErrorTime = err.Error(), time.Now()
	r.stats.mu.Unlock()
	r.setState(StateFailed)
	cp := "none yet"
	if !r.cp.Pos.IsZero() {
		cp = r.cp.Pos.String()
	}
	r.log.Error().Err(err).Str("state", string(StateFailed)).Str("checkpoint", cp).Msg("flow stopped")
}

func (r *runner) err() error {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.failure
}

func (r *runner) stopped() bool {
	select {
	case <-r.done:
		return true
	default:
		return false
	}
}

// builtBatch is a batch handed from the runner to the committer.
type builtBatch struct {
	b          *connectors.Batch
	txns, rows int
	oldest     time.Time // commit time of its first transaction
	built      time.Time
}

func (r *runner) run(ctx context.Context) error {
	defer r.once.Do(func() { close(r.done) })
	r.setState(StateRunning)
	// Go functions' state is that of the checkpoint: read it back before
	// the first change.
	if r.spec.Chain.HasState() {
		l, ok := r.stateLoader()
		if !ok {
			// Every connector keeps state; a store without LoadState (a
			// wrapper that hides it) must not silently lose it.
			r.spec.Chain.StateUnavailable(fmt.Errorf("flow %s: this downstream store (%T) cannot load Go function state (binflow_state)", r.spec.Name, r.store))
		} else if err := r.spec.Chain.LoadState(ctx, l); err != nil {
			r.noteError(ErrorDownstream, err)
			return err
		}
	}
	// r.cp belongs to the committer from here on.
	r.taken, r.serverID, r.serverUUID = r.cp.Pos, r.cp.ServerID, r.cp.ServerUUID

	// The committer applies batches in order while this goroutine builds
	// the next one. Exactly-once holds as before: each batch carries the
	// checkpoint of its last transaction and commits atomically with it,
	// batches commit in order, and a failed batch stops the flow before any
	// later one is applied.
	cctx, cancel := context.WithCancel(ctx)
	r.commits, r.committed, r.commitDone = make(chan *builtBatch), make(chan struct{}, 1), make(chan error, 1)
	go func() { r.commitDone <- r.committer(cctx) }()
	defer func() {
		cancel()
		close(r.commits)
		<-r.commitDone
	}()

	timer := time.NewTimer(time.Hour)
	timer.Stop()
	timerOn := false
	// due: the open batch has reached max_rows or max_delay and goes to the
	// committer as soon as it is free. committing: the committer holds a
	// batch it has not committed yet.
	due, committing := false, false
	for {
		// While the committer is busy, the open batch keeps taking
		// transactions as long as it holds no more than max_rows output
		// rows, so a slow downstream gets fewer, larger commits instead of
		// stalling the flow: an aggregate whose groups are all in the batch
		// absorbs any number of transactions at no extra write cost.
		in := r.in
		if committing && r.spec.Chain.Pending() > r.opts.MaxRows {
			in = nil
		}
		select {
		case <-ctx.Done():
			// Stop at a batch boundary: the open batch is dropped, and its
			// transactions are read again after the restart.
			return nil
		case err := <-r.commitDone:
			r.commitDone <- err // for the deferred wait
			return err
		case <-r.committed:
			committing = false
		case txn := <-in:
			if err := r.take(txn); err != nil {
				return r.beforeStop(ctx, err)
			}
			// The batch is bounded by what it will write (keys or groups
			// held), not by what it read: an aggregate folds many input
			// rows into few writes, and fewer, larger batches keep it near
			// the binlog's read rate.
			if r.spec.Chain.Pending() >= r.opts.MaxRows {
				due = true
			} else if r.txns > 0 && !timerOn {
				timer.Reset(r.opts.MaxDelay)
				timerOn = true
			}
		case <-timer.C:
			timerOn = false
			due = true
		}
		if due && !committing {
			handed := r.txns > 0
			if err := r.flush(ctx); err != nil {
				return err
			}
			due, committing = false, handed
			if timerOn {
				timer.Stop()
				timerOn = false
			}
		}
	}
}

// take runs one transaction through the chain, unless the flow already
// committed it (the reader starts at the oldest checkpoint of all flows).
func (r *runner) take(txn *schema.Txn) error {
	if txn.End.Compare(r.taken) <= 0 {
		return nil
	}
	if r.byGTID && txn.GTID != "" {
		// Moved from another server: what it applied is known by GTID only.
		applied, err := r.gtids.Contains(txn.GTID)
		if err != nil {
			err = fmt.Errorf("flow %s: GTID %q at %s: %w", r.spec.Name, txn.GTID, txn.End, err)
			r.noteError(ErrorInternal, err)
			return err
		}
		if applied {
			return nil
		}
	}
	rowsBefore := r.rows
	for i := range txn.Rows {
		row := &txn.Rows[i]
		if !r.tables[row.Table.FullName()] {
			continue
		}
		// One Change reused for every row: functions must not keep it.
		ch := &r.change
		*ch = functions.Change{Op: row.Op, Layout: r.layouts.Of(row.Table), Table: row.Table, Before: row.Before, After: row.After, Txn: txn, Seq: i}
		if err := r.spec.Chain.Process(ch); err != nil {
			err = fmt.Errorf("flow %s: table %s, %s at binlog %s (gtid %q): %w", r.spec.Name, row.Table.FullName(), row.Op, txn.End, txn.GTID, err)
			r.noteError(rowErrorKind(err), err)
			return err
		}
		r.rows++
	}
	if err := r.statement(txn); err != nil {
		return err
	}
	if txn.GTID != "" {
		if err := r.gtids.Update(txn.GTID); err != nil {
			err = fmt.Errorf("flow %s: GTID %q at %s: %w", r.spec.Name, txn.GTID, txn.End, err)
			r.noteError(ErrorInternal, err)
			return err
		}
	}
	r.pending = connectors.Checkpoint{Flow: r.spec.Name, Pos: txn.End, CommitTime: txn.CommitTime,
		ServerID: r.serverID, ServerUUID: r.serverUUID}
	r.taken = txn.End
	if r.txns == 0 {
		r.first = txn.CommitTime
	}
	r.txns++
	r.stats.txns.Add(1)
	r.stats.rowsIn.Add(uint64(r.rows - rowsBefore))
	r.pendingChanged(r.txns, txn.CommitTime)
	return nil
}

// flush builds the open batch and hands it to the committer, waiting while
// the previous batch is still being committed.
func (r *runner) flush(ctx context.Context) error {
	if r.txns == 0 {
		return nil
	}
	r.pending.GTID = r.gtids.String()
	b := &connectors.Batch{Checkpoint: r.pending}
	if err := r.spec.Chain.Flush(b); err != nil {
		err = fmt.Errorf("flow %s: build batch ending at %s: %w", r.spec.Name, r.pending.Pos, err)
		r.noteError(ErrorFunction, err)
		return err
	}
	// The batch owns its rows now (functions build fresh rows in Flush).
	r.spec.Chain.Reset()
	bb := &builtBatch{b: b, txns: r.txns, rows: r.rows, oldest: r.first, built: time.Now()}
	select {
	case r.commits <- bb:
	case err := <-r.commitDone:
		r.commitDone <- err
		return err
	case <-ctx.Done():
		return nil
	}
	r.rows, r.txns = 0, 0
	r.pendingChanged(0, time.Time{})
	return nil
}

// committer applies handed batches in order until the channel closes or a
// batch fails for good.
func (r *runner) committer(ctx context.Context) error {
	for bb := range r.commits {
		r.inflightChanged(bb.txns, bb.oldest)
		attempts, took, err := r.commit(ctx, bb.b)
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		r.cp = bb.b.Checkpoint
		r.inflightChanged(0, time.Time{})
		select {
		case r.committed <- struct{}{}:
		default: // a token is already waiting: the runner knows we are free
		}
		rowsOut := bb.b.Len()
		r.stats.batches.Add(1)
		r.stats.rowsOut.Add(uint64(rowsOut))
		r.published(bb.b.Checkpoint, true)
		r.log.Debug().Str("position", bb.b.Checkpoint.Pos.String()).Int("txns", bb.txns).Int("rows_in", bb.rows).Int("rows_out", rowsOut).
			Int("attempts", attempts).Dur("commit", took).Dur("took", time.Since(bb.built)).Msg("batch committed")
		if r.opts.Observer != nil {
			r.opts.Observer.BatchCommitted(r.spec.Name, BatchStats{Txns: bb.txns, RowsIn: bb.rows, RowsOut: rowsOut,
				Attempts: attempts, CommitTook: took, Checkpoint: bb.b.Checkpoint})
		}
		if r.opts.AfterCommit != nil {
			r.opts.AfterCommit(r.spec.Name, bb.b.Checkpoint, bb.rows)
		}
	}
	return nil
}

// commit applies a batch, retrying transient failures with backoff until
// ctx ends. It returns how many attempts it took and how long the
// successful one took.
func (r *runner) commit(ctx context.Context, b *connectors.Batch) (int, time.Duration, error) {
	wait := r.opts.RetryMin
	var before State
	for attempt := 1; ; attempt++ {
		started := time.Now()
		err := r.store.Apply(ctx, b)
		if err == nil {
			took := time.Since(started)
			if attempt > 1 {
				r.log.Info().Int("attempts", attempt).Str("position", b.Checkpoint.Pos.String()).Msg("downstream write succeeded after retries")
				r.setState(before)
			}
			return attempt, took, nil
		}
		if ctx.Err() != nil {
			return attempt, 0, ctx.Err() // shutting down: the batch is read again after restart
		}
		if !r.store.Retryable(err) {
			err = fmt.Errorf("flow %s: commit batch at %s%s: %w", r.spec.Name, b.Checkpoint.Pos, toTables(b), err)
			r.noteError(ErrorDownstream, err)
			return attempt, 0, err
		}
		r.stats.retries.Add(1)
		r.noteError(ErrorTransient, fmt.Errorf("flow %s: commit batch at %s%s (attempt %d, retrying): %w", r.spec.Name, b.Checkpoint.Pos, toTables(b), attempt, err))
		if attempt == 1 {
			before = r.setState(StateRetrying)
		}
		r.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Str("checkpoint", r.cp.Pos.String()).
			Str("batch_end", b.Checkpoint.Pos.String()).Strs("tables", batchTables(b)).
			Msg("downstream write failed; retrying, checkpoint not moved")
		select {
		case <-ctx.Done():
			return attempt, 0, ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, r.opts.RetryMax)
	}
}

// batchTables names the tables a batch writes (none for a batch that only
// moves the checkpoint).
func batchTables(b *connectors.Batch) []string {
	var names []string
	add := func(t string) {
		if !slices.Contains(names, t) {
			names = append(names, t)
		}
	}
	for i := range b.Deletes {
		add(b.Deletes[i].Table)
	}
	for i := range b.Upserts {
		add(b.Upserts[i].Table)
	}
	for i := range b.Inserts {
		add(b.Inserts[i].Table)
	}
	for i := range b.Deltas {
		add(b.Deltas[i].Table)
	}
	for i := range b.Recomputes {
		add(b.Recomputes[i].Table)
	}
	return names
}

// toTables is " to t1, t2" for error messages, "" without tables.
func toTables(b *connectors.Batch) string {
	names := batchTables(b)
	if len(names) == 0 {
		return ""
	}
	return " to " + strings.Join(names, ", ")
}

// stateLoader is the downstream's reader of Go function state, found behind
// the wrappers of the runner's store (each exposing Unwrap).
func (r *runner) stateLoader() (functions.StateLoader, bool) {
	s := r.store
	for s != nil {
		if l, ok := s.(functions.StateLoader); ok {
			return l, true
		}
		u, ok := s.(interface{ Unwrap() Store })
		if !ok {
			break
		}
		s = u.Unwrap()
	}
	return nil, false
}
