package storetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// flowErrorStore keeps each flow's last failure (binflow_flow_errors).
type flowErrorStore interface {
	RecordFlowError(ctx context.Context, e connectors.FlowError) error
	FlowErrors(ctx context.Context) ([]connectors.FlowError, error)
}

// flowErrors: a recorded failure reads back exactly (time to the
// microsecond, in UTC), a later one of the same flow replaces it, flows are
// listed in order; a database not migrated has none, and recording there
// says to migrate.
func flowErrors(t *testing.T, h Harness) {
	ctx := context.Background()
	bare, ok := Open(t, h, true).Store.(flowErrorStore)
	if !ok {
		t.Fatalf("%T does not record flow errors", bare)
	}
	if got, err := bare.FlowErrors(ctx); err != nil || len(got) != 0 {
		t.Errorf("FlowErrors of a database not migrated = %v, %v; want none", got, err)
	}
	if err := bare.RecordFlowError(ctx, connectors.FlowError{Flow: "f", Kind: "downstream", Message: "m", At: time.Now()}); err == nil ||
		!strings.Contains(err.Error(), "binflow migrate") {
		t.Errorf("RecordFlowError on a database not migrated: %v; want an error saying to migrate", err)
	}

	s := Open(t, h, false).Store.(flowErrorStore)
	at := time.Date(2026, 3, 4, 5, 6, 7, 123456000, time.FixedZone("x", 3600))
	first := connectors.FlowError{Flow: "orders", Kind: "downstream", Message: "flow orders: commit batch at bin.000002:120 to t: Table 'd.t' doesn't exist — ünïcode",
		At: at, Checkpoint: schema.Position{File: "bin.000002", Pos: 4000}}
	snap := connectors.FlowError{Flow: "a_snapshot", Kind: "internal", Message: "no primary key", At: at.Add(time.Second)}
	for _, e := range []connectors.FlowError{first, snap} {
		if err := s.RecordFlowError(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.FlowErrors(ctx)
	if err != nil {
		t.Fatal(err)
	}
	same := func(a, b connectors.FlowError) bool {
		return a.Flow == b.Flow && a.Kind == b.Kind && a.Message == b.Message && a.At.Equal(b.At) && a.At.Location() == time.UTC &&
			a.Checkpoint == b.Checkpoint
	}
	if len(got) != 2 || !same(got[0], snap) || !same(got[1], first) {
		t.Fatalf("FlowErrors = %+v; want %+v then %+v (by flow, times in UTC)", got, snap, first)
	}
	later := first
	later.Kind, later.Message, later.At, later.Checkpoint = "function", "another", at.Add(time.Hour), schema.Position{File: "bin.000003", Pos: 9}
	if err := s.RecordFlowError(ctx, later); err != nil {
		t.Fatal(err)
	}
	if got, err = s.FlowErrors(ctx); err != nil || len(got) != 2 || !same(got[1], later) {
		t.Errorf("after a later failure: %+v, %v; want it replaced by %+v", got, err, later)
	}
}
