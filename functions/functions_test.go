package functions

import (
	"reflect"
	"strings"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

var orderCols = []string{"id", "customer_id", "amount", "status"}

func dec(s string) decimal.Decimal { return decimal.RequireFromString(s) }

func order(id, cust int64, amount, status string) []any {
	return []any{id, cust, dec(amount), status}
}

func ins(after []any) Change  { return Change{Op: schema.Insert, After: after} }
func del(before []any) Change { return Change{Op: schema.Delete, Before: before} }
func upd(b, a []any) Change   { return Change{Op: schema.Update, Before: b, After: a} }
func noNext(*Change) error    { return nil }
func deltaMap(b *connectors.Batch) map[int64][2]string {
	out := map[int64][2]string{}
	for _, d := range b.Deltas {
		for _, r := range d.Rows {
			out[r[0].(int64)] = [2]string{decimal.NewFromInt(r[1].(int64)).String(), r[2].(decimal.Decimal).String()}
		}
	}
	return out
}

func TestAggregateRetractsAndApplies(t *testing.T) {
	cases := []struct {
		name    string
		changes []Change
		want    map[int64][2]string // customer -> (count delta, sum delta)
	}{
		{"inserts add", []Change{ins(order(1, 7, "10.50", "new")), ins(order(2, 7, "0.25", "new"))},
			map[int64][2]string{7: {"2", "10.75"}}},
		{"delete retracts", []Change{del(order(1, 7, "10.50", "new"))},
			map[int64][2]string{7: {"-1", "-10.5"}}},
		{"update moves between groups", []Change{upd(order(1, 7, "10.00", "new"), order(1, 8, "12.00", "new"))},
			map[int64][2]string{7: {"-1", "-10"}, 8: {"1", "12"}}},
		{"update within group changes sum only", []Change{upd(order(1, 7, "10.00", "new"), order(1, 7, "10.01", "paid"))},
			map[int64][2]string{7: {"0", "0.01"}}},
		{"changes that cancel write nothing", []Change{ins(order(1, 7, "5", "new")), del(order(1, 7, "5", "new"))},
			map[int64][2]string{}},
		{"exact decimals", func() []Change {
			var cs []Change
			for i := 0; i < 1000; i++ {
				cs = append(cs, ins(order(int64(i), 1, "0.01", "new")))
			}
			return cs
		}(), map[int64][2]string{1: {"1000", "10"}}},
	}
	layout := NewLayout(orderCols)
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			a, err := NewAggregate("totals", []string{"customer_id"}, []AggSpec{{Column: "n", Func: "count"}, {Column: "total", Func: "sum", Of: "amount"}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range c.changes {
				c.changes[i].Layout = layout
				if err := a.Process(&c.changes[i], noNext); err != nil {
					t.Fatal(err)
				}
			}
			var b connectors.Batch
			if err := a.Flush(&b); err != nil {
				t.Fatal(err)
			}
			if got := deltaMap(&b); !reflect.DeepEqual(got, c.want) {
				t.Errorf("deltas = %v, want %v", got, c.want)
			}
			// Groups that shrank are checked for zero; groups that grew need not be.
			for _, d := range b.Deltas {
				for _, r := range d.Rows {
					shrank := r[1].(int64) < 0
					if d.Table != "totals" || shrank != (d.DeleteWhenZero == "n") {
						t.Errorf("delta %+v: row %v, want table totals and a zero check exactly when the count fell", d, r)
					}
				}
			}
			a.Reset()
			var empty connectors.Batch
			_ = a.Flush(&empty)
			if len(empty.Deltas) != 0 {
				t.Errorf("Reset kept deltas: %+v", empty.Deltas)
			}
		})
	}
}

func TestAggregateNeedsCount(t *testing.T) {
	if _, err := NewAggregate("t", []string{"g"}, []AggSpec{{Column: "s", Func: "sum", Of: "x"}}); err == nil {
		t.Fatal("aggregate without count accepted")
	}
}

func TestSinkKeepsLastStatePerKey(t *testing.T) {
	layout := NewLayout(orderCols)
	cases := []struct {
		name        string
		changes     []Change
		wantUpserts [][]any
		wantDeletes [][]any
	}{
		{"insert then update", []Change{ins(order(1, 1, "1", "new")), upd(order(1, 1, "1", "new"), order(1, 1, "2", "paid"))},
			[][]any{order(1, 1, "2", "paid")}, nil},
		{"insert then delete", []Change{ins(order(1, 1, "1", "new")), del(order(1, 1, "1", "new"))},
			nil, [][]any{{int64(1)}}},
		{"delete then insert", []Change{del(order(1, 1, "1", "new")), ins(order(1, 2, "3", "new"))},
			[][]any{order(1, 2, "3", "new")}, nil},
		{"key change deletes old key", []Change{upd(order(1, 1, "1", "new"), order(9, 1, "1", "new"))},
			[][]any{order(9, 1, "1", "new")}, [][]any{{int64(1)}}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			s := NewSink("copy", []string{"id"})
			for i := range c.changes {
				c.changes[i].Layout = layout
				if err := s.Process(&c.changes[i], noNext); err != nil {
					t.Fatal(err)
				}
			}
			var b connectors.Batch
			if err := s.Flush(&b); err != nil {
				t.Fatal(err)
			}
			var ups, dels [][]any
			for _, u := range b.Upserts {
				ups = append(ups, u.Rows...)
			}
			for _, d := range b.Deletes {
				dels = append(dels, d.Keys...)
			}
			if !reflect.DeepEqual(ups, c.wantUpserts) || !reflect.DeepEqual(dels, c.wantDeletes) {
				t.Errorf("upserts %v deletes %v, want %v and %v", ups, dels, c.wantUpserts, c.wantDeletes)
			}
		})
	}
}

func TestProjectKeepsAndRenames(t *testing.T) {
	p, err := NewProject([]string{"status", "id"}, map[string]string{"status": "state"})
	if err != nil {
		t.Fatal(err)
	}
	var got *Change
	c := upd(order(1, 2, "3", "new"), order(1, 2, "3", "paid"))
	c.Layout = NewLayout(orderCols)
	if err := p.Process(&c, func(ch *Change) error { got = ch; return nil }); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got.Layout.Names, []string{"state", "id"}) ||
		!reflect.DeepEqual(got.Before, []any{"new", int64(1)}) || !reflect.DeepEqual(got.After, []any{"paid", int64(1)}) {
		t.Errorf("got layout %v before %v after %v", got.Layout.Names, got.Before, got.After)
	}
	missing := Change{Op: schema.Insert, Layout: NewLayout([]string{"id"}), After: []any{int64(1)}}
	if err := p.Process(&missing, noNext); err == nil {
		t.Error("project of a missing column succeeded")
	}
}

type in struct {
	ID     int64           `binflow:"id"`
	Amount decimal.Decimal `db:"amount"`
}
type out struct {
	ID    int64  `binflow:"id"`
	Label string `binflow:"label"`
}

func TestTypedGoFunctionInChain(t *testing.T) {
	reg := NewRegistry()
	err := reg.Register("label", Typed(func(ev Event[in], o *Emitter[out]) error {
		if ev.After == nil {
			return o.Delete(&out{ID: ev.Before.ID})
		}
		return o.Upsert(&out{ID: ev.After.ID, Label: ev.After.Amount.StringFixed(1)})
	}))
	if err != nil {
		t.Fatal(err)
	}
	if err := reg.Register("label", Typed(func(Event[in], *Emitter[out]) error { return nil })); err == nil {
		t.Error("duplicate registration accepted")
	}
	f := config.Flow{Name: "f", Tables: []string{"s.t"}, Functions: []config.Function{
		{Kind: "go", Name: "label"}, {Kind: "sink", Table: "labels", Key: []string{"id"}}}}
	chain, err := Build(f, reg, orderCols)
	if err != nil {
		t.Fatal(err)
	}
	layout := NewLayout(orderCols)
	for _, c := range []Change{ins(order(1, 1, "2.25", "new")), ins(order(2, 1, "3", "new")), del(order(2, 1, "3", "new"))} {
		c.Layout = layout
		if err := chain.Process(&c); err != nil {
			t.Fatal(err)
		}
	}
	var b connectors.Batch
	if err := chain.Flush(&b); err != nil {
		t.Fatal(err)
	}
	if len(b.Upserts) != 1 || !reflect.DeepEqual(b.Upserts[0].Rows, [][]any{{int64(1), "2.3"}}) || !reflect.DeepEqual(b.Upserts[0].Columns, []string{"id", "label"}) {
		t.Errorf("upserts = %+v", b.Upserts)
	}
	if len(b.Deletes) != 1 || !reflect.DeepEqual(b.Deletes[0].Keys, [][]any{{int64(2)}}) {
		t.Errorf("deletes = %+v", b.Deletes)
	}
}

func TestBuildRejectsBadChains(t *testing.T) {
	reg := NewRegistry()
	cases := []struct {
		name string
		fns  []config.Function
		want string
	}{
		{"unknown go function", []config.Function{{Kind: "go", Name: "nope"}, {Kind: "sink", Table: "t", Key: []string{"id"}}}, `functions[0] (go): no Go function registered as "nope"`},
		{"unknown column", []config.Function{{Kind: "project", Columns: []string{"nope"}}, {Kind: "sink", Table: "t", Key: []string{"nope"}}}, `functions[0] (project): project: column "nope"`},
		{"sink key missing", []config.Function{{Kind: "project", Columns: []string{"id"}}, {Kind: "sink", Table: "t", Key: []string{"status"}}}, `functions[1] (sink)`},
		{"aggregate of missing column", []config.Function{{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []config.Aggregate{{Column: "n", Func: "count"}, {Column: "s", Func: "sum", Of: "price"}}}, {Kind: "sink", Table: "t"}}, `column "price"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := Build(config.Flow{Name: "f", Functions: c.fns}, reg, orderCols)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
		})
	}
}
