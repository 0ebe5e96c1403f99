package flow

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/rs/zerolog"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// recorder is an Observer that keeps what it is told.
type recorder struct {
	mu      sync.Mutex
	batches []BatchStats
}

func (r *recorder) BatchCommitted(_ string, b BatchStats) {
	r.mu.Lock()
	r.batches = append(r.batches, b)
	r.mu.Unlock()
}

func (r *recorder) rowsOut() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, b := range r.batches {
		n += b.RowsOut
	}
	return n
}

func flowStatus(e *Engine, name string) FlowStatus {
	for _, f := range e.Status().Flows {
		if f.Name == name {
			return f
		}
	}
	return FlowStatus{}
}

func committedAt(at time.Time, t *schema.Txn) *schema.Txn { t.CommitTime = at; return t }

func TestStatusCountsWhatAFlowApplies(t *testing.T) {
	commit := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	src := &fakeSource{serverID: 1, txns: []*schema.Txn{committedAt(commit, txn(100, 1, 2)), committedAt(commit, txn(200, 3)), committedAt(commit, txn(300))}}
	store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}}
	obs := &recorder{}
	e := New(src, store, []Spec{copySpec(t, "f")}, Options{MaxDelay: time.Millisecond, Log: zerolog.Nop(), Observer: obs, QueueTxns: 7})
	if f := flowStatus(e, "f"); f.State != StateStarting || f.QueueCapacity != 7 {
		t.Errorf("before Run: state %q, capacity %d", f.State, f.QueueCapacity)
	}

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	waitFor(t, func() bool { return flowStatus(e, "f").Checkpoint.Pos.Pos == 300 })
	f, st := flowStatus(e, "f"), e.Status()
	if f.State != StateRunning || f.Txns != 3 || f.RowsIn != 3 || f.RowsOut != 3 || f.Batches == 0 || f.PendingTxns != 0 ||
		f.Checkpoint.CommitTime != commit || f.LastCommitTime.IsZero() || f.Tables[0] != "shop.orders" {
		t.Errorf("after three transactions: %+v", f)
	}
	if !st.Streaming || st.ReadPos.Pos != 300 || st.ReadTxns != 3 || st.ReadCommitTime != commit || st.BlockedOn != "" {
		t.Errorf("reader side: %+v", st)
	}
	if obs.rowsOut() != 3 {
		t.Errorf("observer saw %d rows out, want 3", obs.rowsOut())
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if f := flowStatus(e, "f"); f.State != StateStopped {
		t.Errorf("after shutdown: state %q", f.State)
	}
	if e.Status().Streaming {
		t.Error("still streaming after Run returned")
	}
}

func TestStatusShowsRetriesAndFailures(t *testing.T) {
	t.Run("transient", func(t *testing.T) {
		src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1)}}
		store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
			"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}, failures: 2}
		e := New(src, store, []Spec{countSpec(t, "f")}, Options{MaxDelay: time.Millisecond, RetryMin: time.Millisecond, Log: zerolog.Nop()})
		runUntil(t, e, func() bool { return store.checkpoint("f").Pos.Pos == 100 })
		f := flowStatus(e, "f")
		if f.Retries != 2 || f.Errors[ErrorTransient] != 2 || f.LastErrorKind != ErrorTransient || f.LastErrorTime.IsZero() ||
			!strings.Contains(f.LastError, "flow f: commit batch at bin.000001:100 to t (attempt 2, retrying): connection refused") {
			t.Errorf("after two transient failures: %+v", f)
		}
	})
	t.Run("permanent", func(t *testing.T) {
		src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1)}}
		store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
			"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}, failures: 1, permanent: true}
		e := New(src, store, []Spec{countSpec(t, "f")}, Options{MaxDelay: time.Millisecond, Log: zerolog.Nop()})
		if err := e.Run(context.Background()); err == nil {
			t.Fatal("Run succeeded with a permanent failure")
		}
		f := flowStatus(e, "f")
		if f.State != StateFailed || f.Errors[ErrorDownstream] != 1 || f.LastErrorKind != ErrorDownstream ||
			f.LastError != "flow f: commit batch at bin.000001:100 to t: table missing" || f.PendingTxns != 1 {
			t.Errorf("after a permanent failure: %+v", f)
		}
	})
}

// blockingStore holds every Apply after the first until released.
type blockingStore struct {
	fakeStore
	release chan struct{}
	applied chan struct{}
	once    sync.Once
}

func (s *blockingStore) Apply(ctx context.Context, b *connectors.Batch) error {
	if len(b.Upserts)+len(b.Deltas)+len(b.Deletes) > 0 {
		s.once.Do(func() { close(s.applied) })
		select {
		case <-s.release:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
	return s.fakeStore.Apply(ctx, b)
}

func TestStatusShowsOpenBatchAndBackpressure(t *testing.T) {
	first := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	var txns []*schema.Txn
	for i := range 10 {
		txns = append(txns, committedAt(first.Add(time.Duration(i)*time.Second), txn(uint32(100*(i+1)), int64(i))))
	}
	src := &fakeSource{serverID: 1, txns: txns}
	store := &blockingStore{fakeStore: fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}},
		release: make(chan struct{}), applied: make(chan struct{})}
	// One row per batch: the first batch's commit blocks; meanwhile the
	// open batch takes transactions until it holds more than max_rows rows
	// (two), the queue of 2 fills, and the reader waits: 3 transactions
	// pending (1 committing, 2 open).
	e := New(src, store, []Spec{copySpec(t, "f")}, Options{MaxRows: 1, MaxDelay: time.Hour, QueueTxns: 2, Log: zerolog.Nop()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	defer func() {
		cancel()
		<-done
	}()
	<-store.applied
	waitFor(t, func() bool {
		st := e.Status()
		return st.BlockedOn == "f" && st.Flows[0].PendingTxns == 3 && st.Flows[0].QueueTxns == 2
	})
	st := e.Status()
	f := st.Flows[0]
	if f.PendingTxns != 3 || f.OldestPendingCommit != first || f.QueueTxns != 2 || st.BlockedSince.IsZero() {
		t.Errorf("blocked: reader %+v, flow %+v", st, f)
	}
	close(store.release)
	waitFor(t, func() bool { return flowStatus(e, "f").Checkpoint.Pos.Pos == 1000 })
	if st := e.Status(); st.BlockedOn != "" || st.Flows[0].PendingTxns != 0 || st.Flows[0].Txns != 10 {
		t.Errorf("released: %+v", st)
	}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached within 5s")
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// A failed batch's error names every table it writes, whatever the kind of
// write (an append sink's inserts and a recompute included), each once.
func TestBatchTablesNamesEveryKindOfWrite(t *testing.T) {
	b := &connectors.Batch{
		Deletes:    []connectors.Delete{{Table: "a"}},
		Upserts:    []connectors.Upsert{{Table: "b"}, {Table: "a"}},
		Inserts:    []connectors.Insert{{Table: "history"}},
		Deltas:     []connectors.Delta{{Table: "totals"}},
		Recomputes: []connectors.Recompute{{Table: "stats"}, {Table: "totals"}},
	}
	if got, want := toTables(b), " to a, b, history, totals, stats"; got != want {
		t.Errorf("toTables = %q, want %q", got, want)
	}
	if got := toTables(&connectors.Batch{}); got != "" {
		t.Errorf("toTables of a batch without writes = %q, want \"\"", got)
	}
}
