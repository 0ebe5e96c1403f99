package flow

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-mysql-org/go-mysql/mysql"
	"github.com/rs/zerolog"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
)

// fakeSource replays txns in order, then waits for ctx.
type fakeSource struct {
	txns     []*schema.Txn
	serverID uint32
	from     schema.Position
	fromGTID string
}

func (s *fakeSource) Stream(ctx context.Context, from schema.Position, h func(context.Context, *schema.Txn) error) error {
	s.from = from
	for _, t := range s.txns {
		if t.End.Compare(from) <= 0 {
			continue
		}
		if err := h(ctx, t); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

func (s *fakeSource) CurrentPosition(context.Context) (schema.Position, error) {
	return schema.Position{File: "bin.000001", Pos: 4}, nil
}
func (s *fakeSource) Identity() (uint32, string) { return s.serverID, "" }
func (s *fakeSource) GTIDSetAt(context.Context, schema.Position) (string, error) {
	return "0-1-1", nil
}
func (s *fakeSource) NewGTIDSet(set string) (schema.GTIDSet, error) {
	g, err := mysql.ParseGTIDSet(mysql.MariaDBFlavor, set)
	return fakeGTIDSet{g}, err
}

// StreamFromGTID replays the transactions not in set.
func (s *fakeSource) StreamFromGTID(ctx context.Context, set string, h func(context.Context, *schema.Txn) error) error {
	s.fromGTID = set
	g, err := mysql.ParseGTIDSet(mysql.MariaDBFlavor, set)
	if err != nil {
		return err
	}
	for _, t := range s.txns {
		one, _ := mysql.ParseGTIDSet(mysql.MariaDBFlavor, t.GTID)
		if g.Contain(one) {
			continue
		}
		if err := h(ctx, t); err != nil {
			return err
		}
	}
	<-ctx.Done()
	return ctx.Err()
}

type fakeGTIDSet struct{ mysql.GTIDSet }

func (f fakeGTIDSet) Contains(set string) (bool, error) {
	o, err := mysql.ParseGTIDSet(mysql.MariaDBFlavor, set)
	if err != nil {
		return false, err
	}
	return f.Contain(o), nil
}

// fakeStore records committed batches; failures says how many Apply calls
// fail (retryably) before one succeeds.
type fakeStore struct {
	mu          sync.Mutex
	checkpoints map[string]connectors.Checkpoint
	batches     []*connectors.Batch
	failures    int
	permanent   bool
	attempts    int
}

var errTransient = errors.New("connection refused")

func (s *fakeStore) Apply(_ context.Context, b *connectors.Batch) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.attempts++
	if s.failures > 0 {
		s.failures--
		if s.permanent {
			return errors.New("table missing")
		}
		return errTransient
	}
	s.batches = append(s.batches, b)
	s.checkpoints[b.Checkpoint.Flow] = b.Checkpoint
	return nil
}

func (s *fakeStore) LoadCheckpoint(_ context.Context, flow string) (connectors.Checkpoint, bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	cp, ok := s.checkpoints[flow]
	return cp, ok, nil
}

func (s *fakeStore) Retryable(err error) bool { return errors.Is(err, errTransient) }

func (s *fakeStore) checkpoint(flow string) connectors.Checkpoint {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.checkpoints[flow]
}

var table = schema.NewTable("shop", "orders", []schema.Column{{Name: "id", Type: mysql.MYSQL_TYPE_LONGLONG}, {Name: "customer_id", Type: mysql.MYSQL_TYPE_LONGLONG}}, []int{0})

func txn(pos uint32, ids ...int64) *schema.Txn {
	t := &schema.Txn{End: schema.Position{File: "bin.000001", Pos: pos}, ServerID: 1, GTID: fmt.Sprintf("0-1-%d", pos)}
	for _, id := range ids {
		t.Rows = append(t.Rows, schema.Row{Table: table, Op: schema.Insert, After: []any{id, int64(1)}})
	}
	return t
}

func countSpec(t *testing.T, name string) Spec {
	chain, err := functions.Build(config.Flow{Name: name, Functions: []config.Function{
		{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []config.Aggregate{{Column: "n", Func: "count"}}},
		{Kind: "sink", Table: "t", Key: []string{"customer_id"}},
	}}, functions.NewRegistry(), []string{"id", "customer_id"})
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: name, Tables: []string{"shop.orders"}, Chain: chain}
}

// copySpec mirrors rows by id: one pending output row per distinct id.
func copySpec(t *testing.T, name string) Spec {
	chain, err := functions.Build(config.Flow{Name: name, Functions: []config.Function{
		{Kind: "sink", Table: "t", Key: []string{"id"}},
	}}, functions.NewRegistry(), []string{"id", "customer_id"})
	if err != nil {
		t.Fatal(err)
	}
	return Spec{Name: name, Tables: []string{"shop.orders"}, Chain: chain}
}

func upserted(b *connectors.Batch) int {
	n := 0
	for _, u := range b.Upserts {
		n += len(u.Rows)
	}
	return n
}

func runUntil(t *testing.T, e *Engine, cond func() bool) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx) }()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("condition not reached; engine returned %v", <-done)
		}
		time.Sleep(5 * time.Millisecond)
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
}

func counted(b []*connectors.Batch) int64 {
	var n int64
	for _, x := range b {
		for _, d := range x.Deltas {
			for _, r := range d.Rows {
				n += r[1].(int64)
			}
		}
	}
	return n
}

func TestEngineSkipsWhatEachFlowCommitted(t *testing.T) {
	src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1), txn(200, 2, 3), txn(300, 4)}}
	store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"behind": {Flow: "behind", Pos: schema.Position{File: "bin.000001", Pos: 100}, ServerID: 1},
		"ahead":  {Flow: "ahead", Pos: schema.Position{File: "bin.000001", Pos: 200}, ServerID: 1},
	}}
	e := New(src, store, []Spec{countSpec(t, "behind"), countSpec(t, "ahead")}, Options{MaxDelay: time.Millisecond, Log: zerolog.Nop()})
	runUntil(t, e, func() bool {
		return store.checkpoint("behind").Pos.Pos == 300 && store.checkpoint("ahead").Pos.Pos == 300
	})
	if got := store.checkpoint("behind").GTID; got != "0-1-300" {
		t.Errorf("checkpoint GTID set = %q, want 0-1-300", got)
	}
	if src.from.Pos != 100 {
		t.Errorf("reader started at %s, want the oldest checkpoint 100", src.from)
	}
	var behind, ahead []*connectors.Batch
	for _, b := range store.batches {
		if b.Checkpoint.Flow == "behind" {
			behind = append(behind, b)
		} else {
			ahead = append(ahead, b)
		}
	}
	if counted(behind) != 3 || counted(ahead) != 1 {
		t.Errorf("rows applied: behind %d (want 3), ahead %d (want 1)", counted(behind), counted(ahead))
	}
}

func TestEngineBatchesWholeTransactions(t *testing.T) {
	big := make([]int64, 25)
	for i := range big {
		big[i] = int64(i)
	}
	src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1), txn(200, big...), txn(300, 2)}}
	store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{}}
	e := New(src, store, []Spec{copySpec(t, "f")}, Options{MaxRows: 10, MaxDelay: time.Hour, Log: zerolog.Nop()})
	runUntil(t, e, func() bool { return store.checkpoint("f").Pos.Pos == 200 })
	// Batch 1: the initial checkpoint; batch 2: txn 100 + the 25-row txn 200
	// in full (ids 0..24 and 1: 25 keys), although max_rows is 10.
	last := store.batches[len(store.batches)-1]
	if last.Checkpoint.Pos.Pos != 200 || upserted(last) != 25 {
		t.Errorf("last batch ends at %s with %d rows, want 200 with 25", last.Checkpoint.Pos, upserted(last))
	}
}

func TestEngineRetriesWithoutMovingCheckpoint(t *testing.T) {
	src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1, 2)}}
	store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}, failures: 3}
	e := New(src, store, []Spec{countSpec(t, "f")}, Options{MaxDelay: time.Millisecond, RetryMin: time.Millisecond, Log: zerolog.Nop()})
	runUntil(t, e, func() bool { return store.checkpoint("f").Pos.Pos == 100 })
	if store.attempts != 4 || len(store.batches) != 1 || counted(store.batches) != 2 {
		t.Errorf("attempts %d, batches %d, rows %d; want 4 attempts and the same batch applied once", store.attempts, len(store.batches), counted(store.batches))
	}
}

func TestEngineStopsFlowOnPermanentError(t *testing.T) {
	src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1)}}
	store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}, failures: 1, permanent: true}
	e := New(src, store, []Spec{countSpec(t, "f")}, Options{MaxDelay: time.Millisecond, Log: zerolog.Nop()})
	err := e.Run(context.Background())
	if err == nil || store.checkpoint("f").Pos.Pos != 4 {
		t.Fatalf("Run = %v, checkpoint %s; want an error and the checkpoint unmoved", err, store.checkpoint("f").Pos)
	}
	if want := "flow f: commit batch at bin.000001:100"; !contains(err.Error(), want) {
		t.Errorf("error %q does not say %q", err, want)
	}
}

func TestEngineRefusesCheckpointOfAnotherServer(t *testing.T) {
	src := &fakeSource{serverID: 2}
	store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}}
	e := New(src, store, []Spec{countSpec(t, "f")}, Options{Log: zerolog.Nop()})
	err := e.Run(context.Background())
	if err == nil || !contains(err.Error(), "server_id 1") {
		t.Fatalf("Run = %v, want a refusal naming the other server", err)
	}
}

func contains(s, sub string) bool { return strings.Contains(s, sub) }

func TestEngineMovesToAnotherServerByGTID(t *testing.T) {
	// The new server (id 2) numbers positions differently; its binlog holds
	// the same transactions with the same GTIDs.
	src := &fakeSource{serverID: 2, txns: []*schema.Txn{txn(500, 1), txn(600, 2, 3), txn(700, 4)}}
	for i, g := range []string{"0-1-10", "0-1-11", "0-1-12"} {
		src.txns[i].GTID = g
	}
	checkpoints := func() map[string]connectors.Checkpoint {
		return map[string]connectors.Checkpoint{
			"behind": {Flow: "behind", Pos: schema.Position{File: "old.000009", Pos: 100}, GTID: "0-1-10", ServerID: 1},
			"ahead":  {Flow: "ahead", Pos: schema.Position{File: "old.000009", Pos: 200}, GTID: "0-1-11", ServerID: 1},
		}
	}

	refusing := New(src, &fakeStore{checkpoints: checkpoints()}, []Spec{countSpec(t, "behind"), countSpec(t, "ahead")}, Options{Log: zerolog.Nop()})
	if err := refusing.Run(context.Background()); err == nil || !strings.Contains(err.Error(), `upstream.server_change = "gtid"`) {
		t.Fatalf("without MoveByGTID: %v, want a refusal naming the setting", err)
	}

	store := &fakeStore{checkpoints: checkpoints()}
	e := New(src, store, []Spec{countSpec(t, "behind"), countSpec(t, "ahead")}, Options{MaxDelay: time.Millisecond, MoveByGTID: true, Log: zerolog.Nop()})
	runUntil(t, e, func() bool {
		return store.checkpoint("behind").Pos.Pos == 700 && store.checkpoint("ahead").Pos.Pos == 700
	})
	if src.fromGTID != "0-1-10" {
		t.Errorf("reader started after %q, want the smallest set 0-1-10", src.fromGTID)
	}
	var behind, ahead []*connectors.Batch
	for _, b := range store.batches {
		if b.Checkpoint.Flow == "behind" {
			behind = append(behind, b)
		} else {
			ahead = append(ahead, b)
		}
	}
	if counted(behind) != 3 || counted(ahead) != 1 {
		t.Errorf("rows applied after the move: behind %d (want 3), ahead %d (want 1)", counted(behind), counted(ahead))
	}
	for _, f := range []string{"behind", "ahead"} {
		if cp := store.checkpoint(f); cp.ServerID != 2 || cp.GTID != "0-1-12" {
			t.Errorf("%s checkpoint after the move = %+v, want server_id 2 and GTID set 0-1-12", f, cp)
		}
	}
}

// schemaErr is an upstream event the reader cannot decode, as canal's
// EventError reports it.
type schemaErr struct{}

func (schemaErr) Error() string     { return "binlog at bin.000001:300: table s.t: cannot decode" }
func (schemaErr) SchemaError() bool { return true }

// failingSource replays txns, then fails as a reader does.
type failingSource struct {
	fakeSource
	err error
}

func (s *failingSource) Stream(ctx context.Context, from schema.Position, h func(context.Context, *schema.Txn) error) error {
	for _, t := range s.txns {
		if t.End.Compare(from) > 0 {
			if err := h(ctx, t); err != nil {
				return err
			}
		}
	}
	time.Sleep(20 * time.Millisecond) // the flows take what was routed
	return s.err
}

// When the binlog reader fails, every flow stops as failed with the reader's
// error (naming the flow, its checkpoint, and the reader's table and
// position), counted by kind; Run reports the reader's error once.
func TestEngineFailsEveryFlowWithTheReader(t *testing.T) {
	tests := []struct {
		name string
		err  error
		kind ErrorKind
	}{
		{"undecodable event", schemaErr{}, ErrorSchema},
		{"other reader failure", errors.New("binlog at bin.000001:300: upstream refused binflow's user"), ErrorInternal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src := &failingSource{fakeSource: fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1)}}, err: tt.err}
			store := &fakeStore{checkpoints: map[string]connectors.Checkpoint{
				"a": {Flow: "a", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1},
				"b": {Flow: "b", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}}
			e := New(src, store, []Spec{countSpec(t, "a"), countSpec(t, "b")}, Options{MaxDelay: time.Millisecond, Log: zerolog.Nop()})
			err := e.Run(context.Background())
			if err == nil || strings.Count(err.Error(), tt.err.Error()) != 1 {
				t.Fatalf("Run = %v, want the reader's error once", err)
			}
			for _, f := range e.Status().Flows {
				if f.State != StateFailed {
					t.Errorf("flow %s: state %s, want failed", f.Name, f.State)
				}
				want := "flow " + f.Name + ": stopped at checkpoint bin.000001:"
				if !strings.Contains(f.LastError, want) || !strings.Contains(f.LastError, tt.err.Error()) {
					t.Errorf("flow %s: last error %q, want %q… and the reader's error", f.Name, f.LastError, want)
				}
				if f.LastErrorKind != tt.kind || f.Errors[tt.kind] != 1 {
					t.Errorf("flow %s: last error kind %s (%d counted), want %s", f.Name, f.LastErrorKind, f.Errors[tt.kind], tt.kind)
				}
			}
		})
	}
}

// recordingStore is a fakeStore that records flow failures.
type recordingStore struct {
	fakeStore
	recorded []connectors.FlowError
}

func (s *recordingStore) RecordFlowError(_ context.Context, e connectors.FlowError) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.recorded = append(s.recorded, e)
	return nil
}

// A flow that fails for good has its failure recorded downstream: kind,
// message (through Options.Redact), time and the checkpoint it stopped at.
// The flows that go on record nothing.
func TestEngineRecordsAFailureDownstream(t *testing.T) {
	src := &fakeSource{serverID: 1, txns: []*schema.Txn{txn(100, 1)}}
	store := &recordingStore{fakeStore: fakeStore{checkpoints: map[string]connectors.Checkpoint{
		"f": {Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: 4}, ServerID: 1}}, failures: 1, permanent: true}}
	before := time.Now()
	e := New(src, store, []Spec{countSpec(t, "f")}, Options{MaxDelay: time.Millisecond, Log: zerolog.Nop(),
		Redact: func(s string) string { return strings.ReplaceAll(s, "missing", "[gone]") }})
	if err := e.Run(context.Background()); err == nil {
		t.Fatal("Run succeeded with a permanent failure")
	}
	if len(store.recorded) != 1 {
		t.Fatalf("recorded %d failures, want 1: %+v", len(store.recorded), store.recorded)
	}
	got := store.recorded[0]
	if got.Flow != "f" || got.Kind != string(ErrorDownstream) || got.Message != "flow f: commit batch at bin.000001:100 to t: table [gone]" ||
		got.Checkpoint != (schema.Position{File: "bin.000001", Pos: 4}) || got.At.Before(before) || got.At.After(time.Now()) {
		t.Errorf("recorded %+v", got)
	}
	if f := flowStatus(e, "f"); !f.LastErrorTime.UTC().Equal(got.At) {
		t.Errorf("recorded at %v, /status says %v", got.At, f.LastErrorTime)
	}
}

func TestTruncateUTF8(t *testing.T) {
	for _, tt := range []struct {
		s    string
		n    int
		want string
	}{{"abc", 5, "abc"}, {"abc", 2, "ab"}, {"aé", 2, "a"}, {"aéb", 3, "aé"}} {
		if got := truncateUTF8(tt.s, tt.n); got != tt.want {
			t.Errorf("truncateUTF8(%q, %d) = %q, want %q", tt.s, tt.n, got, tt.want)
		}
	}
}
