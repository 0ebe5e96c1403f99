package storetest

import (
	"context"
	"reflect"
	"testing"

	"github.com/binflow/binflow/connectors"
)

// stateStore is what Go function state needs of a connector: its loader
// (functions.StateLoader) and rebuild, which drops the state.
type stateStore interface {
	LoadState(ctx context.Context, flow string) (map[string]map[string][]byte, error)
	RequestRebuild(ctx context.Context, flow string, tables []string, serverID uint32, serverUUID string) (int64, error)
}

// stateWrites are a batch's state changes as functions.State writes them:
// upserts and deletes of binflow_state by (flow, function, k).
func stateWrites(flow string, put map[string]map[string][]byte, del map[string][]string) ([]connectors.Upsert, []connectors.Delete) {
	key := []string{"flow", "function", "k"}
	up := connectors.Upsert{Table: "binflow_state", Key: key, Columns: []string{"flow", "function", "k", "v"}}
	d := connectors.Delete{Table: "binflow_state", Key: key}
	for fn, kv := range put {
		for k, v := range kv {
			up.Rows = append(up.Rows, []any{flow, fn, []byte(k), v})
		}
	}
	for fn, ks := range del {
		for _, k := range ks {
			d.Keys = append(d.Keys, []any{flow, fn, []byte(k)})
		}
	}
	return []connectors.Upsert{up}, []connectors.Delete{d}
}

// goFunctionState: state written with batches reads back byte for byte
// (binary keys and values, NUL bytes included), per flow; a deleted key is
// gone; a failed batch changes no state; rebuild drops the flow's state
// and only its; an unmigrated database has none.
func goFunctionState(t *testing.T, h Harness) {
	s := Open(t, h, false)
	ss, ok := s.Store.(stateStore)
	if !ok {
		t.Fatalf("%T does not implement LoadState", s.Store)
	}
	ctx := context.Background()
	load := func(flow string) map[string]map[string][]byte {
		t.Helper()
		got, err := ss.LoadState(ctx, flow)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if got := load("f"); len(got) != 0 {
		t.Fatalf("state of a new flow = %q, want none", got)
	}
	binKey := "\xff\x00k\xe9"
	first := map[string]map[string][]byte{
		"0:loyalty": {"42": []byte("3"), binKey: {0, 1, 2, 0xff}, "empty": {}},
		"2:other":   {"42": []byte(`{"n":1}`)},
	}
	ups, dels := stateWrites("f", first, nil)
	s.apply(&connectors.Batch{Upserts: ups, Deletes: dels, Checkpoint: Checkpoint("f", 10)})
	otherUps, _ := stateWrites("g", map[string]map[string][]byte{"0:loyalty": {"42": []byte("9")}}, nil)
	s.apply(&connectors.Batch{Upserts: otherUps, Checkpoint: Checkpoint("g", 10)})
	if got := load("f"); !reflect.DeepEqual(got, first) {
		t.Fatalf("state read back = %q, want %q", got, first)
	}

	// Overwrite one key, delete another, in one batch.
	ups, dels = stateWrites("f", map[string]map[string][]byte{"0:loyalty": {"42": []byte("4")}}, map[string][]string{"0:loyalty": {binKey}})
	s.apply(&connectors.Batch{Upserts: ups, Deletes: dels, Checkpoint: Checkpoint("f", 20)})
	want := map[string]map[string][]byte{
		"0:loyalty": {"42": []byte("4"), "empty": {}},
		"2:other":   {"42": []byte(`{"n":1}`)},
	}
	if got := load("f"); !reflect.DeepEqual(got, want) {
		t.Fatalf("state after overwrite and delete = %q, want %q", got, want)
	}

	// A batch that fails after its state writes leaves the state as it was.
	ups, dels = stateWrites("f", map[string]map[string][]byte{"0:loyalty": {"42": []byte("5"), "new": []byte("x")}}, map[string][]string{"2:other": {"42"}})
	ups = append(ups, connectors.Upsert{Table: "no_such_table", Key: []string{"id"}, Columns: []string{"id"}, Rows: [][]any{{int64(1)}}})
	if err := s.Apply(ctx, &connectors.Batch{Upserts: ups, Deletes: dels, Checkpoint: Checkpoint("f", 30)}); err == nil {
		t.Fatal("a batch upserting into a missing table succeeded")
	}
	if got := load("f"); !reflect.DeepEqual(got, want) {
		t.Fatalf("state after a failed batch = %q, want %q", got, want)
	}

	// Rebuild drops the flow's state with its checkpoint; other flows keep theirs.
	if _, err := ss.RequestRebuild(ctx, "f", nil, 1, ""); err != nil {
		t.Fatal(err)
	}
	if got := load("f"); len(got) != 0 {
		t.Errorf("state after rebuild = %q, want none", got)
	}
	if got := load("g"); len(got["0:loyalty"]) != 1 {
		t.Errorf("rebuild of flow f dropped flow g's state: %q", got)
	}

	// Not migrated: no state.
	bare := Open(t, h, true)
	if got, err := bare.Store.(stateStore).LoadState(ctx, "f"); err != nil || len(got) != 0 {
		t.Errorf("LoadState without binflow_state = %q, %v; want none", got, err)
	}
}
