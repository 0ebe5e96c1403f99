package mysql_test

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/binflow/binflow/connectors"
)

// Inserts append rows; a duplicate key fails the whole batch and leaves
// nothing of it.
func TestApplyInsertAppends(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE hist (id BIGINT NOT NULL, seq INT NOT NULL, op VARCHAR(8) NOT NULL, PRIMARY KEY (id, seq))")
	cols := []string{"id", "seq", "op"}
	s.apply(&connectors.Batch{Inserts: []connectors.Insert{{Table: "hist", Columns: cols,
		Rows: [][]any{{int64(1), int64(0), "insert"}, {int64(1), int64(1), "update"}}}}, Checkpoint: checkpoint("f", 10)})
	s.apply(&connectors.Batch{Inserts: []connectors.Insert{{Table: "hist", Columns: cols,
		Rows: [][]any{{int64(1), int64(2), "delete"}}}}, Checkpoint: checkpoint("f", 20)})
	want := []string{`"1","0","insert"`, `"1","1","update"`, `"1","2","delete"`}
	if got := s.dump("hist"); !reflect.DeepEqual(got, want) {
		t.Fatalf("hist = %v, want %v", got, want)
	}
	err := s.Apply(context.Background(), &connectors.Batch{Inserts: []connectors.Insert{{Table: "hist", Columns: cols,
		Rows: [][]any{{int64(2), int64(0), "insert"}, {int64(1), int64(0), "insert"}}}}, Checkpoint: checkpoint("f", 30)})
	if err == nil || !strings.Contains(err.Error(), "Duplicate") {
		t.Fatalf("duplicate insert: err = %v", err)
	}
	if got := s.dump("hist"); !reflect.DeepEqual(got, want) {
		t.Fatalf("after the failed batch hist = %v, want %v", got, want)
	}
}

// Recomputes set MIN, MAX and COUNT from a state table maintained by deltas
// in the same batch, and averages from a sum and a count, for the keys given.
func TestApplyRecomputeFromState(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE agg (g BIGINT NOT NULL, n BIGINT NOT NULL, total DECIMAL(20,2) NOT NULL, lo DECIMAL(12,2) NULL, hi DECIMAL(12,2) NULL, d BIGINT NOT NULL DEFAULT 0, mean DECIMAL(20,6) NULL, PRIMARY KEY (g))")
	s.exec("CREATE TABLE agg__v (g BIGINT NOT NULL, v DECIMAL(12,2) NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (g, v))")
	set := []connectors.Computed{
		{Column: "lo", Func: "min", State: "agg__v", Of: "v"},
		{Column: "hi", Func: "max", State: "agg__v", Of: "v"},
		{Column: "d", Func: "count", State: "agg__v"},
		{Column: "mean", Func: "div", Num: "total", Den: "n"},
	}
	batch := func(pos uint32, agg, state [][]any, keys [][]any) *connectors.Batch {
		return &connectors.Batch{
			Deltas: []connectors.Delta{
				{Table: "agg", Key: []string{"g"}, Columns: []string{"n", "total"}, Rows: agg, DeleteWhenZero: "n"},
				{Table: "agg__v", Key: []string{"g", "v"}, Columns: []string{"n"}, Rows: state, DeleteWhenZero: "n"},
			},
			Recomputes: []connectors.Recompute{{Table: "agg", Key: []string{"g"}, Keys: keys, Set: set}},
			Checkpoint: checkpoint("f", pos),
		}
	}
	// Group 1: 5, 7, 7; group 2: 3.
	s.apply(batch(10,
		[][]any{{int64(1), int64(3), dec("19")}, {int64(2), int64(1), dec("3")}},
		[][]any{{int64(1), dec("5"), int64(1)}, {int64(1), dec("7"), int64(2)}, {int64(2), dec("3"), int64(1)}},
		[][]any{{int64(1)}, {int64(2)}}))
	want := []string{`"1","3","19.00","5.00","7.00","2","6.333333"`, `"2","1","3.00","3.00","3.00","1","3.000000"`}
	if got := s.dump("agg"); !reflect.DeepEqual(got, want) {
		t.Fatalf("agg = %v, want %v", got, want)
	}
	// Retract the minimum of group 1 and one 7; group 2 empties.
	s.apply(batch(20,
		[][]any{{int64(1), int64(-2), dec("-12")}, {int64(2), int64(-1), dec("-3")}},
		[][]any{{int64(1), dec("5"), int64(-1)}, {int64(1), dec("7"), int64(-1)}, {int64(2), dec("3"), int64(-1)}},
		[][]any{{int64(1)}, {int64(2)}}))
	want = []string{`"1","1","7.00","7.00","7.00","1","7.000000"`}
	if got := s.dump("agg"); !reflect.DeepEqual(got, want) {
		t.Fatalf("agg = %v, want %v", got, want)
	}
	if got := s.dump("agg__v"); !reflect.DeepEqual(got, []string{`"1","7.00","1"`}) {
		t.Fatalf("state = %v", got)
	}
}

func TestRecomputeRejectsBadSpecs(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE agg (g BIGINT PRIMARY KEY, x BIGINT NULL)")
	for _, c := range []connectors.Computed{
		{Column: "x", Func: "median", State: "st", Of: "v"},
		{Column: "x", Func: "min", State: "agg", Of: "v"},
		{Column: "x", Func: "min", Of: "v"},
	} {
		err := s.Apply(context.Background(), &connectors.Batch{Recomputes: []connectors.Recompute{{Table: "agg", Key: []string{"g"},
			Keys: [][]any{{int64(1)}}, Set: []connectors.Computed{c}}}, Checkpoint: checkpoint("f", 10)})
		if err == nil {
			t.Errorf("%+v accepted", c)
		}
	}
}

// A lookup recompute completes joined rows from a state table written in the
// same batch: by the rows' key, and by their match columns (the rows of a
// joined key that changed); a row without a state row gets NULL.
func TestApplyRecomputeLookup(t *testing.T) {
	s := openStore(t, false)
	s.exec("CREATE TABLE enriched (id BIGINT PRIMARY KEY, customer_id BIGINT NULL, name VARCHAR(20) NULL, country CHAR(2) NULL, KEY (customer_id))")
	s.exec("CREATE TABLE enriched__c (cid BIGINT PRIMARY KEY, name VARCHAR(20) NOT NULL, country CHAR(2) NOT NULL)")
	set := []connectors.Computed{
		{Column: "name", Func: "lookup", State: "enriched__c", Of: "name", Match: []string{"customer_id"}, StateKey: []string{"cid"}},
		{Column: "country", Func: "lookup", State: "enriched__c", Of: "country", Match: []string{"customer_id"}, StateKey: []string{"cid"}},
	}
	cols := []string{"id", "customer_id", "name", "country"}
	s.apply(&connectors.Batch{
		Upserts: []connectors.Upsert{
			{Table: "enriched__c", Key: []string{"cid"}, Columns: []string{"cid", "name", "country"},
				Rows: [][]any{{int64(7), "ann", "FR"}, {int64(8), "bob", "DE"}}},
			{Table: "enriched", Key: []string{"id"}, Columns: cols,
				Rows: [][]any{{int64(1), int64(7), nil, nil}, {int64(2), int64(9), nil, nil}, {int64(3), nil, nil, nil}, {int64(4), int64(8), nil, nil}}},
		},
		Recomputes: []connectors.Recompute{{Table: "enriched", Key: []string{"id"}, Keys: [][]any{{int64(1)}, {int64(2)}, {int64(3)}, {int64(4)}}, Set: set}},
		Checkpoint: checkpoint("j", 10),
	})
	want := []string{`"1","7","ann","FR"`, `"2","9",NULL,NULL`, `"3",NULL,NULL,NULL`, `"4","8","bob","DE"`}
	if got := s.dump("enriched"); !reflect.DeepEqual(got, want) {
		t.Fatalf("enriched = %v, want %v", got, want)
	}
	// Customer 7 renamed, 8 deleted, 9 created: the rows matching them change.
	s.apply(&connectors.Batch{
		Deletes: []connectors.Delete{{Table: "enriched__c", Key: []string{"cid"}, Keys: [][]any{{int64(8)}}}},
		Upserts: []connectors.Upsert{{Table: "enriched__c", Key: []string{"cid"}, Columns: []string{"cid", "name", "country"},
			Rows: [][]any{{int64(7), "anne", "FR"}, {int64(9), "cy", "JP"}}}},
		Recomputes: []connectors.Recompute{{Table: "enriched", Key: []string{"customer_id"}, Keys: [][]any{{int64(7)}, {int64(8)}, {int64(9)}}, Set: set}},
		Checkpoint: checkpoint("j", 20),
	})
	want = []string{`"1","7","anne","FR"`, `"2","9","cy","JP"`, `"3",NULL,NULL,NULL`, `"4","8",NULL,NULL`}
	if got := s.dump("enriched"); !reflect.DeepEqual(got, want) {
		t.Fatalf("enriched = %v, want %v", got, want)
	}
}
