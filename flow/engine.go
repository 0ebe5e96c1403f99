// Package flow is the engine: it routes each upstream transaction to the
// flows that select its tables, runs each flow's function chain in upstream
// commit order, groups whole transactions into batches, and commits each
// batch together with the flow's checkpoint in one downstream transaction,
// retrying with backoff and never moving a checkpoint past unwritten data.
//
// It does not read the binlog itself (package canal does) and does not know
// SQL (connectors do); it talks to both through the small interfaces below.
package flow

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/rs/zerolog"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
)

// Store is the downstream as the engine needs it.
type Store interface {
	Apply(ctx context.Context, b *connectors.Batch) error
	LoadCheckpoint(ctx context.Context, flow string) (connectors.Checkpoint, bool, error)
	Retryable(err error) bool
}

// Source streams upstream transactions from a position to a handler (see
// canal.Stream) and tells where the upstream is now.
type Source interface {
	Stream(ctx context.Context, from schema.Position, h func(context.Context, *schema.Txn) error) error
	CurrentPosition(ctx context.Context) (schema.Position, error)
	Identity() (serverID uint32, serverUUID string)
	// GTIDSetAt is the upstream's GTID set at a position ("" if unknown);
	// NewGTIDSet parses one. Checkpoints carry the set so that a flow can
	// later move to another server of the topology.
	GTIDSetAt(ctx context.Context, pos schema.Position) (string, error)
	NewGTIDSet(set string) (schema.GTIDSet, error)
	// StreamFromGTID streams after a GTID set instead of a position: for
	// checkpoints written against another server of the topology.
	StreamFromGTID(ctx context.Context, set string, h func(context.Context, *schema.Txn) error) error
}

// Options tune batching and retries.
type Options struct {
	MaxRows   int           // flush a batch once it holds this many output rows (keys or groups)
	MaxDelay  time.Duration // and at the latest this long after its first transaction
	QueueTxns int           // per-flow input queue length, in transactions
	RetryMin  time.Duration // first wait after a failed downstream write
	RetryMax  time.Duration // longest wait between retries
	Log       zerolog.Logger
	// Start is where a flow without a checkpoint starts; zero means the
	// upstream's current position.
	Start schema.Position
	// MoveByGTID lets flows whose checkpoints name another upstream server
	// resume after their GTID sets on this one (config upstream.server_change
	// = "gtid"); otherwise such checkpoints are refused.
	MoveByGTID bool
	// Snapshot, when set, lets the engine snapshot flows (see
	// SnapshotOptions): a flow being snapshotted or catching up is fed by a
	// reader of its own while the others stream.
	Snapshot *SnapshotOptions
	// AfterCommit, when set, is called after each committed batch (tests).
	AfterCommit func(flow string, cp connectors.Checkpoint, rows int)
	// Observer, when set, is told of each committed batch (metrics).
	Observer Observer
	// Redact, when set, is applied to a failure's message before the store
	// records it (a FlowErrorRecorder): binflow's errors carry no
	// passwords, and this keeps it so.
	Redact func(string) string
}

// FlowErrorRecorder is a store that keeps each flow's last failure
// downstream (binflow_flow_errors), so that `binflow status` shows it while
// binflow is down. Every connector is one.
type FlowErrorRecorder interface {
	RecordFlowError(ctx context.Context, e connectors.FlowError) error
}

// FlowResumeRecorder notes, when binflow starts a flow again, that the
// failure recorded before is behind it: offline status then shows it as
// the flow's last error, no longer as its state.
type FlowResumeRecorder interface {
	FlowResumed(ctx context.Context, flow string, at time.Time) error
}

// recordTimeout bounds recording a failure downstream.
const recordTimeout = 10 * time.Second

// Spec is one flow to run.
type Spec struct {
	Name   string
	Tables []string // "schema.table"
	Chain  *functions.Chain
	// Sinks names the derived tables the chain writes, sinks and aggregate
	// state tables (a new flow's must be empty before its snapshot).
	Sinks []string
}

// Engine runs flows over one upstream and one downstream.
type Engine struct {
	src   Source
	store Store
	opts  Options
	flows []*runner

	// The reader's side, for Status.
	readMu         sync.Mutex
	streaming      bool
	readPos        schema.Position
	readCommitTime time.Time
	readTxns       uint64
	blockedOn      string
	blockedSince   time.Time

	attach attachState   // which flows the reader feeds
	snaps  snapshotState // snapshots in progress, for Status
}

// New builds an engine. Nothing runs until Run.
func New(src Source, store Store, specs []Spec, o Options) *Engine {
	if o.MaxRows <= 0 {
		o.MaxRows = 5000
	}
	if o.MaxDelay <= 0 {
		o.MaxDelay = 200 * time.Millisecond
	}
	if o.QueueTxns <= 0 {
		o.QueueTxns = 256
	}
	if o.RetryMin <= 0 {
		o.RetryMin = 100 * time.Millisecond
	}
	if o.RetryMax <= 0 {
		o.RetryMax = 30 * time.Second
	}
	e := &Engine{src: src, store: store, opts: o}
	for _, s := range specs {
		r := &runner{spec: s, opts: o, store: &guardedStore{Store: store}, tables: map[string]bool{},
			in: make(chan *schema.Txn, o.QueueTxns), layouts: functions.Layouts{}, done: make(chan struct{}),
			log: o.Log.With().Str("flow", s.Name).Logger()}
		for _, t := range s.Tables {
			r.tables[t] = true
		}
		r.stats.state, r.stats.stateSince = StateStarting, time.Now()
		e.flows = append(e.flows, r)
	}
	return e
}

// Run resumes every flow from its checkpoint and streams until ctx is done
// (returning nil: a clean stop at a batch boundary) or every flow has failed.
// A flow that fails stops alone; its error is logged and returned at the end.
func (e *Engine) Run(ctx context.Context) error {
	if len(e.flows) == 0 {
		return errors.New("no flows configured")
	}
	start, startGTID, err := e.resume(ctx)
	if err != nil {
		return err
	}
	// Where the reader starts, before any flow may compare itself with it
	// (a flow joining later attaches once it has applied up to here).
	e.readMu.Lock()
	e.readPos = start
	e.readMu.Unlock()
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	var wg sync.WaitGroup
	failed := make(chan struct{}, len(e.flows))
	for _, r := range e.flows {
		wg.Add(1)
		detached := e.isDetached(r) // the reader has not started: no wait
		go func() {
			defer wg.Done()
			e.recordResumed(r)
			if err := e.runFlow(ctx, r, detached); err != nil && ctx.Err() == nil {
				r.fail(err)
				e.recordFailure(r)
				failed <- struct{}{}
				return
			}
			r.setState(StateStopped)
		}()
	}
	// Stop reading once every flow has failed: nothing consumes the stream.
	go func() {
		for range e.flows {
			select {
			case <-failed:
			case <-ctx.Done():
				return
			}
		}
		cancel()
	}()

	e.readMu.Lock()
	e.streaming, e.readPos = true, start
	e.readMu.Unlock()
	var streamErr error
	if startGTID != "" {
		e.opts.Log.Info().Str("gtid_set", startGTID).Int("flows", len(e.flows)).Msg("streaming binlog after GTID set")
		streamErr = e.src.StreamFromGTID(ctx, startGTID, e.route)
	} else {
		e.opts.Log.Info().Str("position", start.String()).Int("flows", len(e.flows)).Msg("streaming binlog")
		streamErr = e.src.Stream(ctx, start, e.route)
	}
	e.readMu.Lock()
	e.streaming = false
	e.readMu.Unlock()
	cancel()
	wg.Wait()

	var errs []error
	stoppedByReader := map[*runner]bool{}
	if streamErr != nil && !errors.Is(streamErr, context.Canceled) {
		errs = append(errs, fmt.Errorf("binlog reader: %w", streamErr))
		// Every flow still running stopped because the reader did: each
		// shows the reader's error as its own (failed, with the error in
		// /status and the log), not as a clean stop.
		kind := ErrorInternal
		var schemaErr interface{ SchemaError() bool }
		if errors.As(streamErr, &schemaErr) && schemaErr.SchemaError() {
			kind = ErrorSchema
		}
		for _, r := range e.flows {
			if r.err() == nil {
				r.stats.mu.Lock()
				cp := r.stats.checkpoint.Pos
				r.stats.mu.Unlock()
				err := fmt.Errorf("flow %s: stopped at checkpoint %s with the binlog reader: %w", r.spec.Name, cp, streamErr)
				r.noteError(kind, err)
				r.fail(err)
				e.recordFailure(r)
				stoppedByReader[r] = true
			}
		}
	}
	for _, r := range e.flows {
		if err := r.err(); err != nil && !stoppedByReader[r] {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// recordFailure keeps the flow's failure downstream, when the store can:
// its kind, message, time and the checkpoint it stopped at. A store that
// cannot be written is logged: the failure is still in /status while the
// process runs.
func (e *Engine) recordFailure(r *runner) {
	rec, ok := e.store.(FlowErrorRecorder)
	if !ok {
		return
	}
	r.stats.mu.Lock()
	fe := connectors.FlowError{Flow: r.spec.Name, Kind: string(r.stats.lastErrorKind), Message: r.stats.lastError,
		At: r.stats.lastErrorTime.UTC(), Checkpoint: r.stats.checkpoint.Pos}
	r.stats.mu.Unlock()
	if e.opts.Redact != nil {
		fe.Message = e.opts.Redact(fe.Message)
	}
	fe.Message = truncateUTF8(fe.Message, connectors.MaxFlowErrorMessage)
	// Recorded also while binflow shuts down: the failure came first.
	ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
	defer cancel()
	if err := rec.RecordFlowError(ctx, fe); err != nil {
		r.log.Warn().Err(err).Msg("cannot record the flow's failure downstream; `binflow status` shows it only while binflow runs")
	}
}

// recordResumed notes downstream, in the background, that the flow runs
// again (see FlowResumeRecorder). Only a failure recorded before now is
// marked, so a failure of this run, even one recorded first, stands.
func (e *Engine) recordResumed(r *runner) {
	rec, ok := e.store.(FlowResumeRecorder)
	if !ok {
		return
	}
	at := time.Now()
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), recordTimeout)
		defer cancel()
		if err := rec.FlowResumed(ctx, r.spec.Name, at); err != nil {
			r.log.Warn().Err(err).Msg("cannot note downstream that the flow runs again; offline `binflow status` may show its last failure as its state")
		}
	}()
}

// truncateUTF8 cuts s to at most n bytes, at a character boundary.
func truncateUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// resume loads each flow's checkpoint, giving new flows one at the
// upstream's current position (written at once, so a crash before their
// first batch cannot make them skip what happened meanwhile), and returns the
// oldest position, where the reader starts.
//
// When a checkpoint was written against another server and MoveByGTID is
// set, positions mean nothing here: the reader starts after the smallest
// GTID set of all flows (returned as startGTID), and moved flows skip what
// they applied by GTID instead of by position.
func (e *Engine) resume(ctx context.Context) (start schema.Position, startGTID string, err error) {
	serverID, serverUUID := e.src.Identity()
	moved := false
	for _, r := range e.flows {
		cp, ok, err := e.store.LoadCheckpoint(ctx, r.spec.Name)
		if err != nil {
			return start, "", fmt.Errorf("flow %s: load checkpoint: %w", r.spec.Name, err)
		}
		stored := cp // as the downstream holds it, for the flow's compare-and-set commits
		if ok && cp.ServerID != serverID {
			if !e.opts.MoveByGTID {
				return start, "", fmt.Errorf("flow %s: checkpoint %s was written against upstream server_id %d, but the upstream now is server_id %d; refusing to mix binlogs of different servers (to move to another server of the same replication topology, set upstream.server_change = \"gtid\"; otherwise reset the flow's checkpoint)",
					r.spec.Name, cp.Pos, cp.ServerID, serverID)
			}
			if cp.GTID == "" {
				return start, "", fmt.Errorf("flow %s: checkpoint %s of server_id %d has no GTID set, so it cannot be moved to server_id %d; reset the flow's checkpoint",
					r.spec.Name, cp.Pos, cp.ServerID, serverID)
			}
			r.log.Warn().Uint32("from_server_id", cp.ServerID).Uint32("to_server_id", serverID).Str("gtid_set", cp.GTID).
				Msg("checkpoint of another server: resuming after its GTID set")
			r.byGTID, moved = true, true
			cp.Pos = schema.Position{}
		}
		if !ok {
			snap, err := e.snapshotting(ctx, r)
			if err != nil {
				return start, "", err
			}
			if snap {
				// Snapshotted on its own goroutine (runFlow) while the
				// others stream; it attaches to the reader afterwards.
				e.detach(r)
				continue
			}
		}
		if !ok {
			r.setStored(nil)
			pos := e.opts.Start
			if pos.IsZero() {
				if pos, err = e.src.CurrentPosition(ctx); err != nil {
					return start, "", fmt.Errorf("flow %s: read upstream position: %w", r.spec.Name, err)
				}
			}
			gtids, err := e.src.GTIDSetAt(ctx, pos)
			if err != nil {
				return start, "", fmt.Errorf("flow %s: %w", r.spec.Name, err)
			}
			cp = connectors.Checkpoint{Flow: r.spec.Name, Pos: pos, GTID: gtids, ServerID: serverID, ServerUUID: serverUUID}
			if _, _, err := r.commit(ctx, &connectors.Batch{Checkpoint: cp}); err != nil {
				return start, "", fmt.Errorf("flow %s: write initial checkpoint: %w", r.spec.Name, err)
			}
			r.log.Info().Str("position", pos.String()).Msg("new flow: no checkpoint, starting here")
		} else {
			r.setStored(&stored)
			r.log.Info().Str("position", cp.Pos.String()).Msg("resuming from checkpoint")
		}
		r.cp = cp
		r.cp.ServerID, r.cp.ServerUUID = serverID, serverUUID
		r.published(r.cp, false)
		if r.gtids, err = e.src.NewGTIDSet(cp.GTID); err != nil {
			return start, "", fmt.Errorf("flow %s: checkpoint GTID set: %w", r.spec.Name, err)
		}
		if !r.byGTID && (start.IsZero() || cp.Pos.Compare(start) < 0) {
			start = cp.Pos
		}
	}
	if start.IsZero() && !moved {
		// Every flow is snapshotting: read from here, the snapshots'
		// positions are later.
		if start, err = e.src.CurrentPosition(ctx); err != nil {
			return start, "", fmt.Errorf("read upstream position: %w", err)
		}
	}
	if !moved {
		return start, "", nil
	}
	// The reader starts after the GTID set every other flow's set contains.
	for _, candidate := range e.flows {
		if candidate.gtids.String() == "" {
			continue
		}
		smallest := true
		for _, r := range e.flows {
			if in, err := r.gtids.Contains(candidate.gtids.String()); err != nil || !in {
				smallest = false
				break
			}
		}
		if smallest {
			return start, candidate.gtids.String(), nil
		}
	}
	return start, "", fmt.Errorf("moving flows to server_id %d by GTID: no flow's GTID set is contained in all the others', so there is no single place to start; stop binflow when the flows have caught up, or reset the diverging flows", serverID)
}

// route hands a transaction to every live flow. Flows see every transaction,
// even those without their tables, so their checkpoints keep up with the
// binlog; a full queue blocks the reader (backpressure).
func (e *Engine) route(ctx context.Context, txn *schema.Txn) error {
	// A flow attaches between two transactions (see catchUp).
	e.attach.mu.Lock()
	defer e.attach.mu.Unlock()
	for _, r := range e.flows {
		if r.stopped() || e.attach.detached[r] {
			continue
		}
		select {
		case r.in <- txn:
			continue
		default:
		}
		e.blocked(r.spec.Name)
		select {
		case r.in <- txn:
		case <-r.done:
		case <-ctx.Done():
			e.blocked("")
			return ctx.Err()
		}
		e.blocked("")
	}
	// Recorded once every flow has it, so that a flow with an empty queue
	// and ReadPos at the upstream's end has seen everything.
	e.readMu.Lock()
	e.readPos, e.readCommitTime = txn.End, txn.CommitTime
	e.readTxns++
	e.readMu.Unlock()
	return nil
}

// blocked records that the reader waits for flow's queue ("" when it no
// longer waits).
func (e *Engine) blocked(flow string) {
	e.readMu.Lock()
	e.blockedOn = flow
	if flow != "" {
		e.blockedSince = time.Now()
	}
	e.readMu.Unlock()
}
