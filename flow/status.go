package flow

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// State is where a flow is in its life.
type State string

// Flow states. Only StateRunning and StateRetrying apply transactions;
// StateFailed and StateStopped are final for the process.
const (
	StateStarting State = "starting" // loading or writing its checkpoint; not applying yet
	StateRunning  State = "running"  // applying transactions as they are read
	StateRetrying State = "retrying" // a downstream write failed transiently: retrying with backoff, checkpoint not moved
	StateFailed   State = "failed"   // stopped by an error a retry cannot fix; the other flows go on
	StateStopped  State = "stopped"  // shut down at a batch boundary
)

// ErrorKind classifies a flow's errors.
type ErrorKind string

// Error kinds.
const (
	ErrorTransient  ErrorKind = "transient"  // a downstream write failed and is retried
	ErrorDownstream ErrorKind = "downstream" // a downstream write failed in a way no retry can fix
	ErrorFunction   ErrorKind = "function"   // a function failed on a row, or building a batch failed
	ErrorSchema     ErrorKind = "schema"     // a schema change stopped the flow: a statement on its table, or a column it uses gone
	ErrorInternal   ErrorKind = "internal"   // anything else that stops a flow (a malformed GTID, say)
)

// ErrorKinds lists every ErrorKind, in a stable order.
var ErrorKinds = []ErrorKind{ErrorTransient, ErrorDownstream, ErrorFunction, ErrorSchema, ErrorInternal}

// Observer is told of every committed batch (metrics). It is called on the
// flow's goroutine, so it must be quick and must not block.
type Observer interface {
	BatchCommitted(flow string, b BatchStats)
}

// BatchStats describes one committed batch.
type BatchStats struct {
	Txns    int // upstream transactions in the batch
	RowsIn  int // row changes of the flow's tables the batch read
	RowsOut int // row writes it made downstream
	// Attempts is how many times the batch was applied (1 without retries);
	// CommitTook is how long the successful attempt took.
	Attempts   int
	CommitTook time.Duration
	Checkpoint connectors.Checkpoint
}

// Status is the engine at one instant: the reader's side and every flow.
type Status struct {
	// Streaming is true once every flow has its checkpoint and the binlog
	// is being read.
	Streaming bool
	// ReadPos is the end of the last transaction read and handed to the
	// flows; ReadCommitTime its upstream commit time; ReadTxns how many
	// transactions were read.
	ReadPos        schema.Position
	ReadCommitTime time.Time
	ReadTxns       uint64
	// BlockedOn names the flow whose full queue holds the reader back
	// (backpressure), since BlockedSince; "" when the reader is not waiting.
	BlockedOn    string
	BlockedSince time.Time
	Flows        []FlowStatus
}

// FlowStatus is one flow at one instant.
type FlowStatus struct {
	Name       string
	Tables     []string
	State      State
	StateSince time.Time
	// Checkpoint is the last committed one; LastCommitTime when (wall clock)
	// this process committed a batch last, zero if it has not.
	Checkpoint     connectors.Checkpoint
	LastCommitTime time.Time
	// PendingTxns transactions are in the open batch: read, not committed.
	// OldestPendingCommit is the upstream commit time of the first of them.
	PendingTxns         int
	OldestPendingCommit time.Time
	// Queue holds transactions routed to the flow and not yet taken.
	QueueTxns, QueueCapacity int
	// Counters since the process started.
	Txns, RowsIn, RowsOut, Batches, Retries uint64
	Errors                                  map[ErrorKind]uint64
	// LastError is the latest error (transient ones included), at LastErrorTime.
	LastError     string
	LastErrorKind ErrorKind
	LastErrorTime time.Time
	// Snapshot is the flow's snapshot while it is snapshotting (nil
	// otherwise): rows copied of the estimate, the table being copied.
	Snapshot *SnapshotStatus
}

// flowStats is what a runner publishes for Status. Counters are atomics
// (the runner adds to them per transaction); the rest is under mu.
type flowStats struct {
	txns, rowsIn, rowsOut, batches, retries atomic.Uint64
	errors                                  [5]atomic.Uint64 // indexed like ErrorKinds
	pendingTxns                             atomic.Int64

	mu                  sync.Mutex
	state               State
	stateSince          time.Time
	checkpoint          connectors.Checkpoint
	lastCommitTime      time.Time
	oldestPendingCommit time.Time
	openTxns            int       // transactions in the open batch
	openFirst           time.Time // commit time of its first
	inflightTxns        int       // transactions in the batch being committed
	inflightOldest      time.Time // commit time of its first
	lastError           string
	lastErrorKind       ErrorKind
	lastErrorTime       time.Time
}

func errorIndex(k ErrorKind) int {
	for i, kind := range ErrorKinds {
		if kind == k {
			return i
		}
	}
	return errorIndex(ErrorInternal)
}

// Status returns the engine's state now. It is safe to call at any time,
// also before and after Run.
func (e *Engine) Status() Status {
	e.readMu.Lock()
	s := Status{Streaming: e.streaming, ReadPos: e.readPos, ReadCommitTime: e.readCommitTime, ReadTxns: e.readTxns,
		BlockedOn: e.blockedOn, BlockedSince: e.blockedSince}
	e.readMu.Unlock()
	for _, r := range e.flows {
		f := r.status()
		if snap, ok := e.snapshotOf(r.spec.Name); ok {
			f.Snapshot = &snap
		}
		s.Flows = append(s.Flows, f)
	}
	return s
}

func (r *runner) status() FlowStatus {
	st := &r.stats
	f := FlowStatus{
		Name: r.spec.Name, Tables: r.spec.Tables,
		QueueTxns: len(r.in), QueueCapacity: cap(r.in),
		PendingTxns: int(st.pendingTxns.Load()),
		Txns:        st.txns.Load(), RowsIn: st.rowsIn.Load(), RowsOut: st.rowsOut.Load(),
		Batches: st.batches.Load(), Retries: st.retries.Load(),
		Errors: make(map[ErrorKind]uint64, len(ErrorKinds)),
	}
	for i, k := range ErrorKinds {
		f.Errors[k] = st.errors[i].Load()
	}
	st.mu.Lock()
	f.State, f.StateSince = st.state, st.stateSince
	f.Checkpoint, f.LastCommitTime = st.checkpoint, st.lastCommitTime
	if f.PendingTxns > 0 {
		f.OldestPendingCommit = st.oldestPendingCommit
	}
	f.LastError, f.LastErrorKind, f.LastErrorTime = st.lastError, st.lastErrorKind, st.lastErrorTime
	st.mu.Unlock()
	return f
}

// setState moves the flow to s, logging the change at info (a failure is
// logged at error by fail). It returns the previous state.
func (r *runner) setState(s State) State {
	st := &r.stats
	st.mu.Lock()
	prev := st.state
	if prev != s {
		st.state, st.stateSince = s, time.Now()
	}
	cp := st.checkpoint.Pos
	st.mu.Unlock()
	if prev != s && s != StateFailed && prev != "" {
		r.log.Info().Str("state", string(s)).Str("previous", string(prev)).Str("checkpoint", cp.String()).Msg("flow state changed")
	}
	return prev
}

func (r *runner) state() State {
	r.stats.mu.Lock()
	defer r.stats.mu.Unlock()
	return r.stats.state
}

// noteError counts an error of a kind and keeps it as the flow's last.
func (r *runner) noteError(kind ErrorKind, err error) {
	st := &r.stats
	st.errors[errorIndex(kind)].Add(1)
	st.mu.Lock()
	st.lastError, st.lastErrorKind, st.lastErrorTime = err.Error(), kind, time.Now()
	st.mu.Unlock()
}

// published records a committed checkpoint for Status.
func (r *runner) published(cp connectors.Checkpoint, batch bool) {
	st := &r.stats
	st.mu.Lock()
	st.checkpoint = cp
	if batch {
		st.lastCommitTime = time.Now()
	}
	st.mu.Unlock()
}

// pendingChanged publishes the open batch's size; first is the commit
// time of its first transaction, set when the batch opens.
func (r *runner) pendingChanged(txns int, first time.Time) {
	st := &r.stats
	st.mu.Lock()
	st.openTxns = txns
	if txns <= 1 {
		st.openFirst = first
	}
	st.publishPendingLocked()
	st.mu.Unlock()
}

// inflightChanged publishes the batch being committed (txns 0: none).
func (r *runner) inflightChanged(txns int, oldest time.Time) {
	st := &r.stats
	st.mu.Lock()
	st.inflightTxns, st.inflightOldest = txns, oldest
	st.publishPendingLocked()
	st.mu.Unlock()
}

// publishPendingLocked derives what is not yet applied from the batch in
// commit and the open batch: the oldest unapplied transaction is the
// committing batch's first, else the open batch's first.
func (st *flowStats) publishPendingLocked() {
	st.pendingTxns.Store(int64(st.inflightTxns + st.openTxns))
	switch {
	case st.inflightTxns > 0:
		st.oldestPendingCommit = st.inflightOldest
	case st.openTxns > 0:
		st.oldestPendingCommit = st.openFirst
	}
}
