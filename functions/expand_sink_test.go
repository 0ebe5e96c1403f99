package functions

import (
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

func TestExpandFormats(t *testing.T) {
	cases := []struct {
		cfg  ExpandConfig
		in   any
		want []any
		err  string
	}{
		{ExpandConfig{Of: "tags"}, "a,b,c", []any{"a", "b", "c"}, ""},
		{ExpandConfig{Of: "tags"}, "", nil, ""},
		{ExpandConfig{Of: "tags"}, nil, nil, ""},
		{ExpandConfig{Of: "tags", Format: "split", Separator: " | "}, []byte("x | y"), []any{"x", "y"}, ""},
		{ExpandConfig{Of: "tags", Format: "json"}, `["a", 1, 2.50, true, null, {"k": [1]}]`,
			[]any{"a", int64(1), dec("2.50"), int64(1), nil, `{"k":[1]}`}, ""},
		{ExpandConfig{Of: "tags", Format: "json"}, `null`, nil, ""},
		{ExpandConfig{Of: "tags", Format: "json"}, `{"a": 1}`, nil, "not a JSON array"},
		{ExpandConfig{Of: "tags"}, int64(3), nil, "cannot split"},
	}
	for _, c := range cases {
		x, err := NewExpand(c.cfg)
		if err != nil {
			t.Fatal(err)
		}
		got, err := x.elements(c.in)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%v: err = %v, want %q", c.in, err, c.err)
			}
			continue
		}
		if err != nil || len(got) != len(c.want) {
			t.Errorf("%v: %v, %v; want %v", c.in, got, err, c.want)
			continue
		}
		for i := range got {
			if !sameDelta(got[i], c.want[i]) && !(isDec(got[i]) && isDec(c.want[i])) {
				t.Errorf("%v: element %d = %#v, want %#v", c.in, i, got[i], c.want[i])
			}
		}
	}
	for _, bad := range []ExpandConfig{{Of: "t", Format: "xml"}, {Of: "t", Format: "split"}, {Of: "t", As: "p", Position: "p"}} {
		if _, err := NewExpand(bad); err == nil {
			t.Errorf("%+v accepted", bad)
		}
	}
}

// expand → sink keyed by (id, tag): after updates that add, remove and
// reorder elements and deletes, the table holds exactly the live elements.
func TestExpandIntoSinkStaysExact(t *testing.T) {
	cols := []string{"id", "tags", "note"}
	f := config.Flow{Name: "f", Functions: []config.Function{
		{Kind: "expand", Of: "tags", As: "tag", Position: "pos"},
		{Kind: "sink", Table: "tags", Key: []string{"id", "tag"}},
	}}
	chain, err := Build(f, NewRegistry(), cols)
	if err != nil {
		t.Fatal(err)
	}
	layout := NewLayout(cols)
	store := newMemStore(t)
	live := map[int64]string{}
	steps := [][]Change{
		{ins([]any{int64(1), "a,b", "x"}), ins([]any{int64(2), "c", "y"}), ins([]any{int64(3), "", "z"})},
		{upd([]any{int64(1), "a,b", "x"}, []any{int64(1), "b,a,d", "x2"}), del([]any{int64(2), "c", "y"})},
		{upd([]any{int64(1), "b,a,d", "x2"}, []any{int64(1), "d", "x2"}), upd([]any{int64(3), "", "z"}, []any{int64(3), "e,f", "z"})},
	}
	lives := []map[int64]string{{1: "a,b", 2: "c", 3: ""}, {1: "b,a,d", 3: ""}, {1: "d", 3: "e,f"}}
	for i, batch := range steps {
		for _, c := range batch {
			c.Layout = layout
			if err := chain.Process(&c); err != nil {
				t.Fatal(err)
			}
		}
		var b connectors.Batch
		if err := chain.Flush(&b); err != nil {
			t.Fatal(err)
		}
		chain.Reset()
		store.apply(&b)
		live = lives[i]
		var want []string
		for id, tags := range live {
			if tags == "" {
				continue
			}
			for p, tag := range strings.Split(tags, ",") {
				want = append(want, renderRow(map[string]any{"id": id, "tag": tag, "pos": int64(p + 1)}, []string{"id", "tag", "pos"}))
			}
		}
		if got := store.dump("tags", []string{"id", "tag", "pos"}); !reflect.DeepEqual(got, sortedStrings(want)) {
			t.Fatalf("step %d: %v, want %v", i, got, sortedStrings(want))
		}
	}
}

// A sink in the middle writes and passes every change on: one flow fans out
// to an upsert copy, an append-only history with positions, and (after a
// filter) a delete sink.
func TestSinkModesAndFanOut(t *testing.T) {
	f := config.Flow{Name: "f", Functions: []config.Function{
		{Kind: "sink", Table: "copy", Key: []string{"id"}, Mode: "upsert"},
		{Kind: "sink", Table: "history", Key: config.AppendKey(), Mode: "append"},
		{Kind: "filter", Expr: `status == "cancelled"`},
		{Kind: "sink", Table: "active", Key: []string{"id"}, Mode: "delete"},
	}}
	chain, err := Build(f, NewRegistry(), orderCols)
	if err != nil {
		t.Fatal(err)
	}
	layout := NewLayout(orderCols)
	commit := time.Date(2026, 2, 3, 4, 5, 6, 0, time.UTC)
	txn1 := &schema.Txn{End: schema.Position{File: "bin.000002", Pos: 900}, CommitTime: commit}
	txn2 := &schema.Txn{End: schema.Position{File: "bin.000002", Pos: 1200}, CommitTime: commit.Add(time.Second)}
	changes := []Change{
		ins(order(1, 7, "10", "new")), ins(order(2, 7, "20", "new")),
		upd(order(1, 7, "10", "new"), order(1, 7, "10", "cancelled")), del(order(2, 7, "20", "new")),
	}
	for i := range changes {
		changes[i].Layout = layout
		changes[i].Txn, changes[i].Seq = txn1, i
		if i >= 2 {
			changes[i].Txn = txn2
		}
		if err := chain.Process(&changes[i]); err != nil {
			t.Fatal(err)
		}
	}
	if chain.Pending() != 2+4+1 {
		t.Errorf("pending = %d, want 7", chain.Pending())
	}
	var b connectors.Batch
	if err := chain.Flush(&b); err != nil {
		t.Fatal(err)
	}
	store := newMemStore(t)
	store.apply(&b)
	if got := store.dump("copy", orderCols); !reflect.DeepEqual(got, []string{"1|7|10|cancelled"}) {
		t.Errorf("copy = %v", got)
	}
	hcols := append(append([]string(nil), orderCols...), "op", "binlog_file", "binlog_pos", "binlog_row", "commit_time")
	want := []string{
		"1|7|10|new|insert|bin.000002|900|0|2026-02-03T04:05:06Z",
		"2|7|20|new|insert|bin.000002|900|1|2026-02-03T04:05:06Z",
		"1|7|10|cancelled|update|bin.000002|1200|0|2026-02-03T04:05:07Z",
		"2|7|20|new|delete|bin.000002|1200|1|2026-02-03T04:05:07Z",
	}
	if got := store.dump("history", hcols); !reflect.DeepEqual(got, sortedStrings(want)) {
		t.Errorf("history =\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(sortedStrings(want), "\n"))
	}
	if len(b.Deletes) != 2 || b.Deletes[1].Table != "active" || !reflect.DeepEqual(b.Deletes[1].Keys, [][]any{{int64(1)}}) {
		t.Errorf("deletes = %+v, want copy's key 2 and active's key 1", b.Deletes)
	}
	chain.Reset()
	if chain.Pending() != 0 {
		t.Errorf("pending after reset = %d", chain.Pending())
	}
	// The flushed batch still owns its rows after Reset.
	if len(b.Inserts) != 1 || len(b.Inserts[0].Rows) != 4 {
		t.Errorf("inserts after reset = %+v", b.Inserts)
	}
}

func TestSinkModeErrors(t *testing.T) {
	if _, err := NewSinkMode("t", []string{"id"}, "merge"); err == nil {
		t.Error("unknown mode accepted")
	}
	s, _ := NewSinkMode("h", nil, "append")
	if err := s.Check([]string{"id", "op"}); err == nil || !strings.Contains(err.Error(), `column "op"`) {
		t.Errorf("append over an op column: %v", err)
	}
	_, err := Build(config.Flow{Name: "f", Functions: []config.Function{
		{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []config.Aggregate{{Column: "n", Func: "count"}}},
		{Kind: "sink", Table: "t", Key: []string{"customer_id"}},
		{Kind: "sink", Table: "u", Key: []string{"customer_id"}},
	}}, NewRegistry(), orderCols)
	if err == nil || !strings.Contains(err.Error(), "functions[1] (sink): an aggregate's sink must be the last") {
		t.Errorf("err = %v", err)
	}
}
