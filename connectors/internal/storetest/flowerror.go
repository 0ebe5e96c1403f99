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

	// binflow starts the flow again: the failure is behind it; a start
	// before the failure (a failure of that run) leaves it standing; a new
	// failure stands again.
	r, ok := s.(interface {
		FlowResumed(ctx context.Context, flow string, at time.Time) error
	})
	if !ok {
		t.Fatalf("%T does not record that a flow runs again", s)
	}
	resumed := func() time.Time {
		t.Helper()
		got, err := s.FlowErrors(ctx)
		if err != nil || len(got) != 2 {
			t.Fatalf("FlowErrors = %+v, %v", got, err)
		}
		return got[1].Resumed
	}
	if err := r.FlowResumed(ctx, "orders", later.At.Add(-time.Minute)); err != nil {
		t.Fatal(err)
	}
	if got := resumed(); !got.IsZero() {
		t.Errorf("a start before the failure marked it resumed at %v", got)
	}
	start := later.At.Add(time.Minute)
	if err := r.FlowResumed(ctx, "orders", start); err != nil {
		t.Fatal(err)
	}
	if got := resumed(); !got.Equal(start) || got.Location() != time.UTC {
		t.Errorf("Resumed = %v, want %v in UTC", got, start)
	}
	if err := r.FlowResumed(ctx, "orders", start.Add(time.Hour)); err != nil {
		t.Fatal(err)
	}
	if got := resumed(); !got.Equal(start) {
		t.Errorf("a second start moved Resumed to %v, want the first, %v", got, start)
	}
	again := later
	again.At = start.Add(2 * time.Hour)
	if err := s.RecordFlowError(ctx, again); err != nil {
		t.Fatal(err)
	}
	if got := resumed(); !got.IsZero() {
		t.Errorf("a new failure kept Resumed %v; want none", got)
	}
	if err := r.FlowResumed(ctx, "nobody", start); err != nil {
		t.Errorf("FlowResumed of a flow without a failure: %v", err)
	}
}
