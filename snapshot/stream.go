package snapshot

import (
	"context"
	"errors"
	"sync/atomic"
	"time"

	"github.com/binflow/binflow/canal"
	"github.com/binflow/binflow/schema"
)

// errReached ends a bounded stream from inside its handler.
var errReached = errors.New("end of the binlog range reached")

// untilHeartbeat is how often an idle upstream sends a bounded stream a
// heartbeat; a heartbeat at or past the end of the range ends it when no
// transaction ends exactly there (after a binlog rotation, say).
const untilHeartbeat = 500 * time.Millisecond

// StreamUntil hands h every upstream transaction that ends after from and
// at or before until, in binlog order, then returns nil. It needs o.Stream
// (the upstream's reader options). The binlog at from must still exist.
func (r *Reader) StreamUntil(ctx context.Context, from, until schema.Position, h canal.Handler) error {
	if from.Compare(until) >= 0 {
		return nil
	}
	if err := canal.CheckPurged(ctx, r.db, from.File); err != nil {
		return err
	}
	o := r.opts.Stream
	// A bounded read beside the running reader: its own server_id.
	o.ServerID = canal.EphemeralServerID()
	o.HeartbeatPeriod = untilHeartbeat
	progress := &canal.ReadProgress{}
	o.Progress = progress
	sctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var reached atomic.Bool
	go func() {
		tick := time.NewTicker(untilHeartbeat / 2)
		defer tick.Stop()
		for {
			select {
			case <-sctx.Done():
				return
			case <-tick.C:
				// A heartbeat comes after every event before it was handled.
				if hb := progress.Snapshot().HeartbeatPos; !hb.IsZero() && hb.Compare(until) >= 0 {
					reached.Store(true)
					cancel()
					return
				}
			}
		}
	}()
	err := canal.Stream(sctx, o, from, func(ctx context.Context, txn *schema.Txn) error {
		if txn.End.Compare(until) > 0 {
			reached.Store(true)
			return errReached
		}
		if err := h(ctx, txn); err != nil {
			return err
		}
		if txn.End.Compare(until) >= 0 {
			reached.Store(true)
			return errReached
		}
		return nil
	})
	switch {
	case errors.Is(err, errReached), reached.Load() && ctx.Err() == nil:
		return nil
	case ctx.Err() != nil:
		return ctx.Err()
	}
	return err
}
