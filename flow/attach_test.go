package flow

import (
	"context"
	"errors"
	"testing"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// casFake is a store with compare-and-set commits over one checkpoint.
type casFake struct {
	fakeStore
	stored *connectors.Checkpoint
}

func (s *casFake) ApplyAfter(_ context.Context, b *connectors.Batch, prev *connectors.Checkpoint) error {
	switch {
	case s.stored != nil && s.stored.Pos == b.Checkpoint.Pos:
		return nil
	case (s.stored == nil) != (prev == nil), s.stored != nil && s.stored.Pos != prev.Pos:
		return connectors.ErrCheckpointMoved
	}
	cp := b.Checkpoint
	s.stored = &cp
	return nil
}

func TestGuardedStoreComparesAndSets(t *testing.T) {
	at := func(pos uint32) *connectors.Batch {
		return &connectors.Batch{Checkpoint: connectors.Checkpoint{Flow: "f", Pos: schema.Position{File: "bin.000001", Pos: pos}}}
	}
	tests := []struct {
		name    string
		steps   []func(g *guardedStore, s *casFake) error
		wantErr []bool
	}{
		{"commits follow each other", []func(*guardedStore, *casFake) error{
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(10)) },
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(20)) },
		}, []bool{false, false}},
		{"a replayed commit is skipped", []func(*guardedStore, *casFake) error{
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(10)) },
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(10)) },
		}, []bool{false, false}},
		{"a checkpoint moved by another process stops the writes", []func(*guardedStore, *casFake) error{
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(10)) },
			func(_ *guardedStore, s *casFake) error { s.stored = &at(5).Checkpoint; return nil },
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(20)) },
		}, []bool{false, false, true}},
		{"a checkpoint deleted by a rebuild stops the writes", []func(*guardedStore, *casFake) error{
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(10)) },
			func(_ *guardedStore, s *casFake) error { s.stored = nil; return nil },
			func(g *guardedStore, _ *casFake) error { return g.Apply(context.Background(), at(20)) },
		}, []bool{false, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := &casFake{fakeStore: fakeStore{checkpoints: map[string]connectors.Checkpoint{}}}
			g := &guardedStore{Store: s}
			for i, step := range tt.steps {
				err := step(g, s)
				if (err != nil) != tt.wantErr[i] {
					t.Fatalf("step %d: %v, want error %v", i, err, tt.wantErr[i])
				}
				if err != nil && (!errors.Is(err, connectors.ErrCheckpointMoved) || g.Retryable(err)) {
					t.Errorf("step %d: %v is not a non-retryable ErrCheckpointMoved", i, err)
				}
			}
		})
	}
}
