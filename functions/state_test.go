package functions

import (
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

type loyaltyIn struct {
	Customer int64           `binflow:"customer_id"`
	Amount   decimal.Decimal `binflow:"amount"`
}

type loyaltyOut struct {
	Customer int64  `binflow:"customer_id"`
	Big      int64  `binflow:"big_orders"`
	Level    string `binflow:"level"`
}

// loyalty counts, per customer, the orders placed at or above a threshold
// (params.threshold), in its state; updates and deletes are dropped.
func loyalty(p Params) (TypedFunc[loyaltyIn, loyaltyOut], error) {
	if err := p.Only("threshold", "gold_after"); err != nil {
		return nil, err
	}
	threshold, err := p.Decimal("threshold", decimal.NewFromInt(100))
	if err != nil {
		return nil, err
	}
	gold, err := p.Int("gold_after", 3)
	if err != nil {
		return nil, err
	}
	return func(ev Event[loyaltyIn], out *Emitter[loyaltyOut]) error {
		if ev.Op != schema.Insert || ev.After.Amount.LessThan(threshold) {
			return nil // drop
		}
		key := strconv.FormatInt(ev.After.Customer, 10)
		n, _, err := out.State().GetInt(key)
		if err != nil {
			return err // fail
		}
		n++
		if err := out.State().PutInt(key, n); err != nil {
			return err
		}
		level := "silver"
		if n >= gold {
			level = "gold"
		}
		return out.Upsert(&loyaltyOut{Customer: ev.After.Customer, Big: n, Level: level})
	}, nil
}

type fakeLoader map[string]map[string][]byte

func (f fakeLoader) LoadState(_ context.Context, flow string) (map[string]map[string][]byte, error) {
	if flow != "f" {
		return nil, nil
	}
	return f, nil
}

func loyaltyFlow(params map[string]string) config.Flow {
	return config.Flow{Name: "f", Functions: []config.Function{
		{Kind: "go", Name: "loyalty", Params: params},
		{Kind: "sink", Table: "loyalty", Key: []string{"customer_id"}},
	}}
}

// State changes go out with the batch that made them, and a chain built
// again (a restart) reads them back: counting continues where the last
// committed batch left it.
func TestGoFunctionStateIsSavedWithTheBatch(t *testing.T) {
	reg := NewRegistry()
	if err := reg.Register("loyalty", TypedSetup(loyalty)); err != nil {
		t.Fatal(err)
	}
	chain, err := Build(loyaltyFlow(map[string]string{"threshold": "50", "gold_after": "2"}), reg, orderCols)
	if err != nil {
		t.Fatal(err)
	}
	if !chain.HasState() {
		t.Fatal("a chain with a Go function has no state")
	}
	layout := NewLayout(orderCols)
	run := func(c *Chain, cs ...Change) connectors.Batch {
		for _, ch := range cs {
			ch.Layout = layout
			if err := c.Process(&ch); err != nil {
				t.Fatal(err)
			}
		}
		var b connectors.Batch
		if err := c.Flush(&b); err != nil {
			t.Fatal(err)
		}
		c.Reset()
		return b
	}
	b := run(chain, ins(order(1, 7, "60", "new")), ins(order(2, 7, "10", "new")), ins(order(3, 8, "99", "new")),
		upd(order(3, 8, "99", "new"), order(3, 8, "100", "paid")), ins(order(4, 7, "50", "new")))
	wantState := connectors.Upsert{Table: GoStateTable, Key: []string{"flow", "function", "k"}, Columns: []string{"flow", "function", "k", "v"},
		Rows: [][]any{{"f", "0:loyalty", []byte("7"), []byte("2")}, {"f", "0:loyalty", []byte("8"), []byte("1")}}}
	if len(b.Upserts) != 2 || !reflect.DeepEqual(b.Upserts[1], wantState) {
		t.Fatalf("upserts = %+v\nwant the sink's then %+v", b.Upserts, wantState)
	}
	if !reflect.DeepEqual(b.Upserts[0].Rows, [][]any{{int64(7), int64(2), "gold"}, {int64(8), int64(1), "silver"}}) {
		t.Errorf("derived rows = %v", b.Upserts[0].Rows)
	}
	// Nothing changed: nothing written.
	if b := run(chain, ins(order(5, 9, "1", "new"))); len(b.Upserts) != 0 || len(b.Deletes) != 0 {
		t.Errorf("a batch without state changes wrote %+v", b)
	}

	// A restart: a new chain, state loaded as committed.
	again, err := Build(loyaltyFlow(map[string]string{"threshold": "50", "gold_after": "2"}), reg, orderCols)
	if err != nil {
		t.Fatal(err)
	}
	committed := fakeLoader{"0:loyalty": {"7": []byte("2"), "8": []byte("1")}, "1:gone": {"x": []byte("y")}}
	if err := again.LoadState(context.Background(), committed); err != nil {
		t.Fatal(err)
	}
	b = run(again, ins(order(6, 8, "70", "new")))
	if !reflect.DeepEqual(b.Upserts[0].Rows, [][]any{{int64(8), int64(2), "gold"}}) {
		t.Errorf("after the restart: %v", b.Upserts[0].Rows)
	}
}

func TestStateKeysAndDeletes(t *testing.T) {
	s := newState("f", 2, "g")
	if err := s.Put("", []byte("x")); err == nil {
		t.Error("empty key accepted")
	}
	if err := s.Put(strings.Repeat("k", MaxStateKey+1), nil); err == nil {
		t.Error("long key accepted")
	}
	v := []byte("abc")
	_ = s.Put("a", v)
	v[0] = 'X'
	if got, _ := s.Get("a"); string(got) != "abc" {
		t.Errorf("Put kept the caller's slice: %q", got)
	}
	_ = s.PutJSON("j", map[string]int{"n": 1})
	var m map[string]int
	if ok, err := s.GetJSON("j", &m); !ok || err != nil || m["n"] != 1 {
		t.Errorf("GetJSON = %v %v %v", m, ok, err)
	}
	s.reset()
	s.Delete("a")
	s.Delete("never")
	var b connectors.Batch
	s.flush(&b)
	if len(b.Deletes) != 1 || !reflect.DeepEqual(b.Deletes[0].Keys, [][]any{{"f", "2:g", []byte("a")}}) || len(b.Upserts) != 0 {
		t.Errorf("batch = %+v", b)
	}
}

func TestParamsErrorsNameTheFunction(t *testing.T) {
	reg := NewRegistry()
	_ = reg.Register("loyalty", TypedSetup(loyalty))
	for params, want := range map[string]string{
		"threshold=abc":  `functions[0] (go): params.threshold: must be a decimal number, got "abc"`,
		"gold_after=1.5": `params.gold_after: must be an integer`,
		"treshold=5":     `params.treshold: unknown parameter (known: threshold, gold_after)`,
	} {
		k, v, _ := strings.Cut(params, "=")
		_, err := Build(loyaltyFlow(map[string]string{k: v}), reg, orderCols)
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), "flow f") {
			t.Errorf("%s: err = %v, want %q", params, err, want)
		}
	}
	if _, err := (Params{}).Required("x"); err == nil {
		t.Error("missing required param accepted")
	}
}

func TestTablesListsSinksAndStateTables(t *testing.T) {
	f := config.Flow{Name: "f", Functions: []config.Function{
		{Kind: "sink", Table: "copy", Key: []string{"id"}},
		{Kind: "aggregate", GroupBy: []string{"g"}, Bucket: config.Bucket{Column: "at", Every: "day", As: "day"}, Aggregates: []config.Aggregate{
			{Column: "n", Func: "count"}, {Column: "lo", Func: "min", Of: "v"}, {Column: "hi", Func: "max", Of: "v"}, {Column: "d", Func: "count_distinct", Of: "w"}}},
		{Kind: "sink", Table: "db.stats", Key: []string{"g", "day"}},
	}}
	want := []Table{
		{Name: "copy", Key: []string{"id"}, Index: 0, What: "sink"},
		{Name: "db.stats__v", Key: []string{"g", "day", "v"}, Index: 1, What: "aggregate state",
			Shape: "columns g, day (typed as in the sink's table), v (typed as the aggregate's input column), then n BIGINT NOT NULL; primary key (g, day, v)"},
		{Name: "db.stats__w", Key: []string{"g", "day", "w"}, Index: 1, What: "aggregate state",
			Shape: "columns g, day (typed as in the sink's table), w (typed as the aggregate's input column), then n BIGINT NOT NULL; primary key (g, day, w)"},
		{Name: "db.stats", Key: []string{"g", "day"}, Index: 2, What: "sink"},
	}
	if got := Tables(f); !reflect.DeepEqual(got, want) {
		t.Errorf("Tables = %+v\nwant %+v", got, want)
	}
}

func TestStateUnavailableFailsPut(t *testing.T) {
	reg := NewRegistry()
	_ = reg.Register("loyalty", TypedSetup(loyalty))
	chain, err := Build(loyaltyFlow(nil), reg, orderCols)
	if err != nil {
		t.Fatal(err)
	}
	chain.StateUnavailable(errors.New("no state here"))
	c := ins(order(1, 7, "600", "new"))
	c.Layout = NewLayout(orderCols)
	if err := chain.Process(&c); err == nil || err.Error() != "no state here" {
		t.Errorf("err = %v", err)
	}
}
