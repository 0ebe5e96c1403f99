package flow

// A flow is fed by the shared binlog reader once it is *attached*. A flow
// that is not (it is snapshotting, or catching up from a checkpoint behind
// the reader, or reloading a checkpoint that `binflow rebuild` or `binflow
// reset` changed) reads on its own until it reaches the reader, then
// attaches; the other flows go on meanwhile. See join and catchUp.

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// More flow states.
const (
	// StateSnapshotting: copying the rows its tables already hold (a new
	// flow, or one being rebuilt); not applying the binlog yet.
	StateSnapshotting State = "snapshotting"
	// StateCatchingUp: applying the binlog from its checkpoint with a
	// reader of its own, until it reaches the shared reader.
	StateCatchingUp State = "catching up"
)

// errResync cancels a running flow whose checkpoint was changed by another
// process.
var errResync = errors.New("checkpoint changed by another process")

// errAttached ends a flow's own binlog stream once it has attached.
var errAttached = errors.New("attached to the shared reader")

// nearBytes is how close (in one binlog file) a catching-up flow must be to
// the shared reader before the reader waits for it to arrive: the wait is
// the time to read at most this much binlog.
const nearBytes = 1 << 20

// watchEvery is how often a running flow checks that its checkpoint is
// still its own (rebuild and reset change it from another process).
const watchEvery = time.Second

// casStore is a Store that commits with a compare-and-set on the
// checkpoint (connectors/mysql.Store does).
type casStore interface {
	ApplyAfter(ctx context.Context, b *connectors.Batch, prev *connectors.Checkpoint) error
}

// guardedStore is each runner's view of the store: with a casStore, every
// batch commits only over the checkpoint the flow committed last, so that a
// checkpoint changed by `binflow rebuild` or `binflow reset` (or a second
// binflow on the same flow) stops the flow's writes instead of mixing with
// them. It is used by one goroutine at a time.
type guardedStore struct {
	Store
	prev *connectors.Checkpoint // the flow's stored checkpoint, nil for none
}

func (g *guardedStore) Apply(ctx context.Context, b *connectors.Batch) error {
	cas, ok := g.Store.(casStore)
	if !ok {
		return g.Store.Apply(ctx, b)
	}
	if err := cas.ApplyAfter(ctx, b, g.prev); err != nil {
		return err
	}
	cp := b.Checkpoint
	g.prev = &cp
	return nil
}

// Unwrap is the store guarded (for what runners read besides Apply, such
// as Go functions' state).
func (g *guardedStore) Unwrap() Store { return g.Store }

func (g *guardedStore) Retryable(err error) bool {
	return !errors.Is(err, connectors.ErrCheckpointMoved) && g.Store.Retryable(err)
}

// guard returns the runner's guarded store.
func (r *runner) guard() *guardedStore {
	g, _ := r.store.(*guardedStore)
	if g == nil {
		g = &guardedStore{Store: r.store}
		r.store = g
	}
	return g
}

// setStored records the checkpoint stored for the flow (nil: none).
func (r *runner) setStored(cp *connectors.Checkpoint) {
	if cp == nil {
		r.guard().prev = nil
		return
	}
	c := *cp
	r.guard().prev = &c
}

// attachState is the engine's record of which flows the reader feeds.
type attachState struct {
	// mu is held by the reader while it routes one transaction, and by a
	// flow attaching, so that a flow attaches between two transactions.
	mu       sync.Mutex
	detached map[*runner]bool
}

// isDetached reads r's state. The reader holds attach.mu while it waits
// for a full queue, so a flow's own goroutine must not call this (it
// would wait for itself): runFlow tracks its state instead.
func (e *Engine) isDetached(r *runner) bool {
	e.attach.mu.Lock()
	defer e.attach.mu.Unlock()
	return e.attach.detached[r]
}

// detach stops feeding r (after its run returned) and readies it to run
// again: queued transactions are dropped (the flow reloads its state and
// reads them again), the open batch is forgotten.
func (e *Engine) detach(r *runner) {
	e.attach.mu.Lock()
	if e.attach.detached == nil {
		e.attach.detached = map[*runner]bool{}
	}
	e.attach.detached[r] = true
	r.done = make(chan struct{})
	r.once = sync.Once{}
drain:
	for {
		select {
		case <-r.in:
		default:
			break drain
		}
	}
	e.attach.mu.Unlock()
	r.spec.Chain.Reset()
	r.rows, r.txns = 0, 0
	r.pendingChanged(0, time.Time{})
}

// readPosLocked is the end of the last transaction the reader routed (or
// where it starts); e.attach.mu must be held, so that it does not move.
func (e *Engine) readPosLocked() schema.Position {
	e.readMu.Lock()
	defer e.readMu.Unlock()
	return e.readPos
}

// runFlow is one flow's goroutine: it joins the reader if the flow is not
// attached (snapshot, catch-up), runs it, and when its checkpoint is
// changed by another process, detaches it and joins again.
func (e *Engine) runFlow(ctx context.Context, r *runner, detached bool) error {
	for {
		if detached {
			err := e.join(ctx, r)
			switch {
			case ctx.Err() != nil:
				return nil
			case errors.Is(err, connectors.ErrCheckpointMoved):
				r.log.Warn().Err(err).Msg("flow changed by another process (binflow rebuild or reset?) while joining; reloading it")
				e.detach(r)
				continue
			case err != nil:
				return err
			}
			detached = false
		}
		rctx, cancel := context.WithCancelCause(ctx)
		watched := e.watch(rctx, r, cancel)
		err := r.run(rctx)
		cancel(nil)
		<-watched
		if ctx.Err() != nil {
			return err
		}
		if !errors.Is(err, connectors.ErrCheckpointMoved) && !errors.Is(context.Cause(rctx), errResync) {
			return err
		}
		r.log.Warn().Msg("checkpoint changed by another process (binflow rebuild or reset?): reloading the flow")
		e.detach(r)
		detached = true
	}
}

// watch checks every watchEvery that the flow's stored checkpoint is the
// one it committed last; when it is gone, or stays different for two
// checks, it cancels the run with errResync. A commit racing a check shows
// a difference for an instant only, never twice.
func (e *Engine) watch(ctx context.Context, r *runner, cancel context.CancelCauseFunc) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(watchEvery)
		defer tick.Stop()
		var suspect *connectors.Checkpoint
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			stored, ok, err := e.store.LoadCheckpoint(ctx, r.spec.Name)
			if err != nil {
				continue // the commits report downstream trouble
			}
			if !ok {
				cancel(errResync)
				return
			}
			r.stats.mu.Lock()
			mine := r.stats.checkpoint
			r.stats.mu.Unlock()
			if mine.Pos.IsZero() {
				continue // moved from another server by GTID: no position of its own until its first commit
			}
			switch {
			case stored.Pos == mine.Pos && stored.GTID == mine.GTID:
				suspect = nil
			case suspect != nil && suspect.Pos == stored.Pos && suspect.GTID == stored.GTID:
				cancel(errResync)
				return
			default:
				suspect = &stored
			}
		}
	}()
	return done
}

// join brings a detached flow to the reader: it loads the flow's checkpoint
// (snapshotting the flow first when it has none and snapshots are on),
// then catches up with a reader of its own and attaches.
func (e *Engine) join(ctx context.Context, r *runner) error {
	r.setState(StateStarting)
	// Go functions' state is that of the checkpoint (none for a snapshot
	// from scratch): read it back before the first change.
	if l, ok := r.stateLoader(); ok && r.spec.Chain.HasState() {
		if err := r.spec.Chain.LoadState(ctx, l); err != nil {
			r.noteError(ErrorDownstream, err)
			return err
		}
	}
	serverID, serverUUID := e.src.Identity()
	cp, ok, err := e.store.LoadCheckpoint(ctx, r.spec.Name)
	if err != nil {
		return fmt.Errorf("flow %s: load checkpoint: %w", r.spec.Name, err)
	}
	switch {
	case ok && cp.ServerID != serverID:
		return fmt.Errorf("flow %s: checkpoint %s was written against upstream server_id %d, but the upstream now is server_id %d; restart binflow to move it (upstream.server_change), or reset it",
			r.spec.Name, cp.Pos, cp.ServerID, serverID)
	case ok:
		r.log.Info().Str("position", cp.Pos.String()).Msg("resuming from checkpoint")
		r.setStored(&cp)
	case e.opts.Snapshot != nil:
		if cp, err = e.snapshotFlow(ctx, r); err != nil {
			return err
		}
		r.setStored(&cp)
	default:
		pos, err := e.src.CurrentPosition(ctx)
		if err != nil {
			return fmt.Errorf("flow %s: read upstream position: %w", r.spec.Name, err)
		}
		gtids, err := e.src.GTIDSetAt(ctx, pos)
		if err != nil {
			return fmt.Errorf("flow %s: %w", r.spec.Name, err)
		}
		cp = connectors.Checkpoint{Flow: r.spec.Name, Pos: pos, GTID: gtids, ServerID: serverID, ServerUUID: serverUUID}
		r.setStored(nil)
		if _, _, err := r.commit(ctx, &connectors.Batch{Checkpoint: cp}); err != nil {
			return fmt.Errorf("flow %s: write initial checkpoint: %w", r.spec.Name, err)
		}
		r.log.Info().Str("position", pos.String()).Msg("no checkpoint, starting at the upstream's current position")
	}
	r.cp = cp
	r.cp.ServerID, r.cp.ServerUUID = serverID, serverUUID
	r.byGTID = false
	r.published(r.cp, false)
	if r.gtids, err = e.src.NewGTIDSet(cp.GTID); err != nil {
		return fmt.Errorf("flow %s: checkpoint GTID set: %w", r.spec.Name, err)
	}
	return e.catchUp(ctx, r)
}

// catchUp streams the binlog from the flow's checkpoint with a reader of
// its own, applying it like run does, until the flow has applied every
// transaction the shared reader routed; then it attaches the flow, between
// two transactions of the shared reader. Once close, it holds the shared
// reader back (a moment: at most nearBytes of binlog) so that it cannot run
// away under a steady load.
func (e *Engine) catchUp(ctx context.Context, r *runner) error {
	e.attach.mu.Lock()
	if rp := e.readPosLocked(); rp.IsZero() || r.cp.Pos.Compare(rp) >= 0 {
		delete(e.attach.detached, r)
		e.attach.mu.Unlock()
		r.log.Info().Str("position", r.cp.Pos.String()).Msg("attached to the binlog reader")
		return nil
	}
	e.attach.mu.Unlock()

	r.setState(StateCatchingUp)
	r.taken, r.serverID, r.serverUUID = r.cp.Pos, r.cp.ServerID, r.cp.ServerUUID
	r.log.Info().Str("from", r.cp.Pos.String()).Msg("catching up with the binlog reader")
	holding := false
	defer func() {
		if holding {
			e.attach.mu.Unlock()
		}
	}()
	lastFlush := time.Now()
	err := e.src.Stream(ctx, r.cp.Pos, func(_ context.Context, txn *schema.Txn) error {
		if err := r.take(txn); err != nil {
			return err
		}
		if r.spec.Chain.Pending() >= r.opts.MaxRows || time.Since(lastFlush) >= r.opts.MaxDelay {
			if err := r.flushNow(ctx); err != nil {
				return err
			}
			lastFlush = time.Now()
		}
		if !holding {
			e.attach.mu.Lock()
			holding = true
		}
		rp := e.readPosLocked()
		if txn.End.Compare(rp) >= 0 {
			if err := r.flushNow(ctx); err != nil {
				return err
			}
			delete(e.attach.detached, r)
			e.attach.mu.Unlock()
			holding = false
			r.log.Info().Str("position", txn.End.String()).Msg("caught up: attached to the binlog reader")
			return errAttached
		}
		if rp.File != txn.End.File || rp.Pos-txn.End.Pos > nearBytes {
			e.attach.mu.Unlock() // far behind: let the reader go on
			holding = false
		}
		return nil
	})
	if errors.Is(err, errAttached) {
		return nil
	}
	if err == nil {
		err = ctx.Err()
	}
	return err
}

// flushNow commits the open batch synchronously (run's committer is not
// running while the flow catches up).
func (r *runner) flushNow(ctx context.Context) error {
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
	r.spec.Chain.Reset()
	started := time.Now()
	attempts, took, err := r.commit(ctx, b)
	if err != nil {
		return err
	}
	r.cp = b.Checkpoint
	rowsOut := b.Len()
	r.stats.batches.Add(1)
	r.stats.rowsOut.Add(uint64(rowsOut))
	r.published(r.cp, true)
	r.log.Debug().Str("position", r.cp.Pos.String()).Int("txns", r.txns).Int("rows_in", r.rows).Int("rows_out", rowsOut).
		Int("attempts", attempts).Dur("commit", took).Dur("took", time.Since(started)).Bool("catching_up", true).Msg("batch committed")
	if r.opts.Observer != nil {
		r.opts.Observer.BatchCommitted(r.spec.Name, BatchStats{Txns: r.txns, RowsIn: r.rows, RowsOut: rowsOut,
			Attempts: attempts, CommitTook: took, Checkpoint: r.cp})
	}
	if r.opts.AfterCommit != nil {
		r.opts.AfterCommit(r.spec.Name, r.cp, r.rows)
	}
	r.rows, r.txns = 0, 0
	r.pendingChanged(0, time.Time{})
	return nil
}
