package mysql_test

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// applyWrites must know every kind of write a batch has.
func TestApplyWritesCoversBatch(t *testing.T) {
	known := []string{"Deletes", "Upserts", "Inserts", "Deltas", "Recomputes", "Checkpoint"}
	typ := reflect.TypeOf(connectors.Batch{})
	for i := 0; i < typ.NumField(); i++ {
		if name := typ.Field(i).Name; !slices.Contains(known, name) {
			t.Errorf("connectors.Batch has field %s, which connectors/mysql/snapshot.go applyWrites does not apply: add it there (and here)", name)
		}
	}
}

func progress(flow string, rows uint64, key string) connectors.SnapshotProgress {
	return connectors.SnapshotProgress{Flow: flow, Pos: schema.Position{File: "mariadb-bin.000001", Pos: 100}, GTID: "0-1-100",
		ServerID: 1, Table: 0, TableName: "shop.orders", LastKey: key, Rows: rows, Estimate: 10, Started: time.Now()}
}

func countDelta(n int64) connectors.Batch {
	return connectors.Batch{Deltas: []connectors.Delta{{Table: "counts", Key: []string{"k"}, Columns: []string{"n"},
		Rows: [][]any{{"a", n}}}}}
}

func TestApplySnapshotProtocol(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		run  func(t *testing.T, s *testStore) // returns with the expected count in table counts
		want []string
	}{
		{"chunks then finish", func(t *testing.T, s *testStore) {
			p1, p2 := progress("f", 1, `[{"t":"i","v":"1"}]`), progress("f", 2, `[{"t":"i","v":"2"}]`)
			b := countDelta(1)
			mustNil(t, s.ApplySnapshot(ctx, &b, nil, &p1))
			b = countDelta(1)
			mustNil(t, s.ApplySnapshot(ctx, &b, &p1, &p2))
			b = countDelta(1)
			b.Checkpoint = checkpoint("f", 100)
			mustNil(t, s.ApplySnapshot(ctx, &b, &p2, nil))
			if _, ok, _ := s.LoadSnapshot(ctx, "f"); ok {
				t.Error("progress left after the snapshot finished")
			}
			if cp, ok, _ := s.LoadCheckpoint(ctx, "f"); !ok || cp.Pos.Pos != 100 {
				t.Errorf("checkpoint after finish = %v, %v", cp, ok)
			}
		}, []string{`"a","3"`}},
		{"a batch applied twice (lost COMMIT reply) writes once", func(t *testing.T, s *testStore) {
			p1 := progress("f", 1, "k1")
			b := countDelta(1)
			mustNil(t, s.ApplySnapshot(ctx, &b, nil, &p1))
			mustNil(t, s.ApplySnapshot(ctx, &b, nil, &p1))
			b.Checkpoint = checkpoint("f", 100)
			mustNil(t, s.ApplySnapshot(ctx, &b, &p1, nil))
			mustNil(t, s.ApplySnapshot(ctx, &b, &p1, nil))
		}, []string{`"a","2"`}},
		{"progress changed by another process is refused", func(t *testing.T, s *testStore) {
			p1, p2 := progress("f", 1, "k1"), progress("f", 2, "k2")
			b := countDelta(1)
			mustNil(t, s.ApplySnapshot(ctx, &b, nil, &p1))
			other := progress("f", 7, "k7")
			err := s.ApplySnapshot(ctx, &b, &other, &p2)
			if !errors.Is(err, connectors.ErrCheckpointMoved) {
				t.Errorf("ApplySnapshot over another progress: %v, want ErrCheckpointMoved", err)
			}
		}, []string{`"a","1"`}},
		{"a rebuild while the snapshot runs stops its writes", func(t *testing.T, s *testStore) {
			p1, p2 := progress("f", 1, "k1"), progress("f", 2, "k2")
			b := countDelta(1)
			mustNil(t, s.ApplySnapshot(ctx, &b, nil, &p1))
			if _, err := s.RequestRebuild(ctx, "f", []string{"counts"}, 1, ""); err != nil {
				t.Fatal(err)
			}
			b = countDelta(5)
			if err := s.ApplySnapshot(ctx, &b, &p1, &p2); !errors.Is(err, connectors.ErrCheckpointMoved) {
				t.Errorf("ApplySnapshot after a rebuild: %v, want ErrCheckpointMoved", err)
			}
			requested, ok, err := s.LoadSnapshot(ctx, "f")
			if err != nil || !ok || !requested.Pos.IsZero() {
				t.Errorf("after RequestRebuild: progress %+v, %v, %v; want a request (no position)", requested, ok, err)
			}
		}, nil},
		{"compare-and-set commits", func(t *testing.T, s *testStore) {
			c1, c2, c3 := checkpoint("f", 10), checkpoint("f", 20), checkpoint("f", 30)
			b := countDelta(1)
			b.Checkpoint = c1
			mustNil(t, s.ApplyAfter(ctx, &b, nil))
			mustNil(t, s.ApplyAfter(ctx, &b, nil)) // replayed: skipped
			b = countDelta(1)
			b.Checkpoint = c2
			mustNil(t, s.ApplyAfter(ctx, &b, &c1))
			if _, _, err := s.SetCheckpoint(ctx, checkpoint("f", 5)); err != nil {
				t.Fatal(err)
			}
			b = countDelta(1)
			b.Checkpoint = c3
			if err := s.ApplyAfter(ctx, &b, &c2); !errors.Is(err, connectors.ErrCheckpointMoved) {
				t.Errorf("ApplyAfter after a reset: %v, want ErrCheckpointMoved", err)
			}
			if s.Retryable(connectors.ErrCheckpointMoved) {
				t.Error("ErrCheckpointMoved is retryable")
			}
		}, []string{`"a","2"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := openStore(t, false)
			s.exec("CREATE TABLE counts (k VARCHAR(10) PRIMARY KEY, n BIGINT NOT NULL)")
			tt.run(t, s)
			if got := s.dump("counts"); !slices.Equal(got, tt.want) {
				t.Errorf("counts = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTableEmpty(t *testing.T) {
	s := openStore(t, false)
	ctx := context.Background()
	s.exec("CREATE TABLE t (id INT PRIMARY KEY)")
	for _, tt := range []struct {
		insert bool
		want   bool
	}{{false, true}, {true, false}} {
		if tt.insert {
			s.exec("INSERT INTO t VALUES (1)")
		}
		got, err := s.TableEmpty(ctx, "t")
		if err != nil || got != tt.want {
			t.Errorf("TableEmpty = %v, %v; want %v", got, err, tt.want)
		}
	}
	if _, err := s.TableEmpty(ctx, "missing"); err == nil {
		t.Error("TableEmpty of a missing table succeeded")
	}
}

func mustNil(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// Flows snapshotting side by side must not deadlock one another on the
// bookkeeping tables: a FOR UPDATE of a missing checkpoint row takes a gap
// lock, and two transactions inserting into the gap they both hold
// deadlock (error 1213). Each flow here writes its first progress, more
// progress, then its checkpoint, all at once with the others.
func TestConcurrentSnapshotsDoNotDeadlock(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE counts (k VARCHAR(10) PRIMARY KEY, n BIGINT NOT NULL)")
	ctx := context.Background()
	const flows, rounds = 8, 5
	delta := func(flow string) connectors.Batch { // each flow its own row
		return connectors.Batch{Deltas: []connectors.Delta{{Table: "counts", Key: []string{"k"}, Columns: []string{"n"},
			Rows: [][]any{{flow, int64(1)}}}}}
	}
	for round := 0; round < rounds; round++ {
		errs := make(chan error, flows)
		for f := 0; f < flows; f++ {
			name := fmt.Sprintf("r%d_f%d", round, f)
			go func() {
				p1, p2 := progress(name, 1, `[{"t":"i","v":"1"}]`), progress(name, 2, `[{"t":"i","v":"2"}]`)
				b := delta(name)
				if err := s.ApplySnapshot(ctx, &b, nil, &p1); err != nil {
					errs <- err
					return
				}
				b = delta(name)
				if err := s.ApplySnapshot(ctx, &b, &p1, &p2); err != nil {
					errs <- err
					return
				}
				b = delta(name)
				b.Checkpoint = checkpoint(name, 100)
				errs <- s.ApplySnapshot(ctx, &b, &p2, nil)
			}()
		}
		for f := 0; f < flows; f++ {
			if err := <-errs; err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
}
