package flow

import (
	"context"
	"fmt"
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

	cp      connectors.Checkpoint // last committed
	gtids   schema.GTIDSet        // every transaction applied, including the open batch
	pending connectors.Checkpoint // end of the last transaction in the open batch
	rows    int                   // row changes in the open batch
	txns    int

	mu      sync.Mutex
	failure error
	done    chan struct{}
	once    sync.Once
}

func (r *runner) fail(err error) {
	r.mu.Lock()
	r.failure = err
	r.mu.Unlock()
	r.log.Error().Err(err).Str("checkpoint", r.cp.Pos.String()).Msg("flow stopped")
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

func (r *runner) run(ctx context.Context) error {
	defer r.once.Do(func() { close(r.done) })
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	timerOn := false
	for {
		select {
		case <-ctx.Done():
			// Stop at a batch boundary: the open batch is dropped, and its
			// transactions are read again after the restart.
			return nil
		case txn := <-r.in:
			if err := r.take(txn); err != nil {
				return err
			}
			// The batch is bounded by what it will write (keys or groups
			// held), not by what it read: an aggregate folds many input
			// rows into few writes, and fewer, larger batches keep it near
			// the binlog's read rate.
			if r.spec.Chain.Pending() >= r.opts.MaxRows {
				if err := r.flush(ctx); err != nil {
					return err
				}
			} else if r.txns > 0 && !timerOn {
				timer.Reset(r.opts.MaxDelay)
				timerOn = true
			}
		case <-timer.C:
			timerOn = false
			if err := r.flush(ctx); err != nil {
				return err
			}
		}
	}
}

// take runs one transaction through the chain, unless the flow already
// committed it (the reader starts at the oldest checkpoint of all flows).
func (r *runner) take(txn *schema.Txn) error {
	if txn.End.Compare(r.cp.Pos) <= 0 {
		return nil
	}
	for i := range txn.Rows {
		row := &txn.Rows[i]
		if !r.tables[row.Table.FullName()] {
			continue
		}
		ch := functions.Change{Op: row.Op, Layout: r.layouts.Of(row.Table), Table: row.Table, Before: row.Before, After: row.After}
		if err := r.spec.Chain.Process(&ch); err != nil {
			return fmt.Errorf("flow %s: table %s, %s at binlog %s (gtid %q): %w", r.spec.Name, row.Table.FullName(), row.Op, txn.End, txn.GTID, err)
		}
		r.rows++
	}
	if txn.Query != "" {
		r.log.Info().Str("query", txn.Query).Str("position", txn.End.String()).Msg("statement in binlog")
	}
	if txn.GTID != "" {
		if err := r.gtids.Update(txn.GTID); err != nil {
			return fmt.Errorf("flow %s: GTID %q at %s: %w", r.spec.Name, txn.GTID, txn.End, err)
		}
	}
	r.pending = connectors.Checkpoint{Flow: r.spec.Name, Pos: txn.End, CommitTime: txn.CommitTime,
		ServerID: r.cp.ServerID, ServerUUID: r.cp.ServerUUID}
	r.txns++
	return nil
}

// flush commits the open batch with its checkpoint, retrying transient
// downstream failures with backoff until ctx ends.
func (r *runner) flush(ctx context.Context) error {
	if r.txns == 0 {
		return nil
	}
	r.pending.GTID = r.gtids.String()
	b := &connectors.Batch{Checkpoint: r.pending}
	if err := r.spec.Chain.Flush(b); err != nil {
		return fmt.Errorf("flow %s: build batch ending at %s: %w", r.spec.Name, r.pending.Pos, err)
	}
	started := time.Now()
	if err := r.commit(ctx, b); err != nil {
		return err
	}
	r.spec.Chain.Reset()
	r.cp = r.pending
	r.log.Debug().Str("position", r.cp.Pos.String()).Int("txns", r.txns).Int("rows_in", r.rows).Int("rows_out", b.Len()).
		Dur("took", time.Since(started)).Msg("batch committed")
	if r.opts.AfterCommit != nil {
		r.opts.AfterCommit(r.spec.Name, r.cp, r.rows)
	}
	r.rows, r.txns = 0, 0
	return nil
}

func (r *runner) commit(ctx context.Context, b *connectors.Batch) error {
	wait := r.opts.RetryMin
	for attempt := 1; ; attempt++ {
		err := r.store.Apply(ctx, b)
		if err == nil {
			if attempt > 1 {
				r.log.Info().Int("attempts", attempt).Str("position", b.Checkpoint.Pos.String()).Msg("downstream write succeeded after retries")
			}
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err() // shutting down: the batch is read again after restart
		}
		if !r.store.Retryable(err) {
			return fmt.Errorf("flow %s: commit batch at %s: %w", r.spec.Name, b.Checkpoint.Pos, err)
		}
		r.log.Warn().Err(err).Int("attempt", attempt).Dur("retry_in", wait).Str("checkpoint", r.cp.Pos.String()).
			Msg("downstream write failed; retrying, checkpoint not moved")
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(wait):
		}
		wait = min(wait*2, r.opts.RetryMax)
	}
}
