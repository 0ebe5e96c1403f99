package functions

import (
	"reflect"
	"strings"
	"testing"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

var customerCols = []string{"id", "name", "country", "updated"}

func joinFlowConfig() config.Flow {
	return config.Flow{Name: "enriched", Tables: []string{"shop.orders", "shop.customers"}, Functions: []config.Function{
		{Kind: "filter", Expr: `status != "cancelled"`},
		{Kind: "join", Table: "shop.customers", On: map[string]string{"customer_id": "id"}, Columns: []string{"name", "country"},
			Rename: map[string]string{"country": "customer_country"}, State: "enriched__customers"},
		{Kind: "sink", Table: "enriched", Key: []string{"id"}},
	}}
}

// The changes a join writes for each kind of change on either side: flow
// rows pass on with the joined columns added (filled in by the connector's
// recompute by the sink key); joined rows update the state table and
// recompute the rows of the keys they had and have; joined rows whose read
// columns did not change, or whose key is NULL, write nothing.
func TestJoinWrites(t *testing.T) {
	orders := schema.NewTable("shop", "orders", columnsOf(orderCols), []int{0})
	customers := schema.NewTable("shop", "customers", columnsOf(customerCols), []int{0})
	cust := func(id any, name, country, updated string) []any { return []any{id, name, country, updated} }
	onTable := func(t *schema.Table, c Change) Change { c.Table = t; return c }

	tests := []struct {
		name        string
		changes     []Change
		wantState   [][]any // upserted state rows
		wantGone    [][]any // deleted state keys
		wantByKey   [][]any // sink keys recomputed
		wantByJoin  [][]any // joined keys recomputed
		wantSinkRow []any   // the last upserted derived row
	}{
		{name: "order inserted",
			changes:     []Change{onTable(orders, ins(order(1, 7, "1.00", "new")))},
			wantByKey:   [][]any{{int64(1)}},
			wantSinkRow: []any{int64(1), int64(7), dec("1.00"), "new", nil, nil}},
		{name: "cancelled order filtered before the join",
			changes: []Change{onTable(orders, ins(order(1, 7, "1.00", "cancelled")))}},
		{name: "customer inserted",
			changes:    []Change{onTable(customers, ins(cust(int64(7), "ann", "FR", "t1")))},
			wantState:  [][]any{{int64(7), "ann", "FR"}},
			wantByJoin: [][]any{{int64(7)}}},
		{name: "customer renamed",
			changes:    []Change{onTable(customers, upd(cust(int64(7), "ann", "FR", "t1"), cust(int64(7), "anne", "FR", "t2")))},
			wantState:  [][]any{{int64(7), "anne", "FR"}},
			wantByJoin: [][]any{{int64(7)}}},
		{name: "customer column the join does not read changed",
			changes: []Change{onTable(customers, upd(cust(int64(7), "ann", "FR", "t1"), cust(int64(7), "ann", "FR", "t2")))}},
		{name: "customer given another id",
			changes:    []Change{onTable(customers, upd(cust(int64(7), "ann", "FR", "t1"), cust(int64(9), "ann", "FR", "t1")))},
			wantState:  [][]any{{int64(9), "ann", "FR"}},
			wantGone:   [][]any{{int64(7)}},
			wantByJoin: [][]any{{int64(7)}, {int64(9)}}},
		{name: "customer deleted",
			changes:    []Change{onTable(customers, del(cust(int64(7), "ann", "FR", "t1")))},
			wantGone:   [][]any{{int64(7)}},
			wantByJoin: [][]any{{int64(7)}}},
		{name: "customer inserted then deleted in one batch",
			changes: []Change{onTable(customers, ins(cust(int64(7), "ann", "FR", "t1"))),
				onTable(customers, del(cust(int64(7), "ann", "FR", "t1")))},
			wantGone:   [][]any{{int64(7)}},
			wantByJoin: [][]any{{int64(7)}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := joinFlowConfig()
			chain, err := BuildTables(f, NewRegistry(), orderCols, Env{Tables: map[string][]string{"shop.orders": orderCols, "shop.customers": customerCols}})
			if err != nil {
				t.Fatal(err)
			}
			layouts := Layouts{}
			for i := range tt.changes {
				tt.changes[i].Layout = layouts.Of(tt.changes[i].Table)
				if err := chain.Process(&tt.changes[i]); err != nil {
					t.Fatal(err)
				}
			}
			var b connectors.Batch
			if err := chain.Flush(&b); err != nil {
				t.Fatal(err)
			}
			var state, gone, byKey, byJoin [][]any
			var sinkRow []any
			for _, u := range b.Upserts {
				switch u.Table {
				case "enriched__customers":
					if !reflect.DeepEqual(u.Columns, []string{"id", "name", "country"}) {
						t.Errorf("state columns %q", u.Columns)
					}
					state = append(state, u.Rows...)
				case "enriched":
					if !reflect.DeepEqual(u.Columns, []string{"id", "customer_id", "amount", "status", "name", "customer_country"}) {
						t.Errorf("derived columns %q", u.Columns)
					}
					sinkRow = u.Rows[len(u.Rows)-1]
				}
			}
			for _, d := range b.Deletes {
				if d.Table == "enriched__customers" {
					gone = append(gone, d.Keys...)
				}
			}
			for _, r := range b.Recomputes {
				if r.Table != "enriched" || len(r.Set) != 2 || r.Set[1].Column != "customer_country" || r.Set[1].Of != "country" {
					t.Errorf("recompute %+v", r)
				}
				switch {
				case reflect.DeepEqual(r.Key, []string{"id"}):
					byKey = append(byKey, r.Keys...)
				case reflect.DeepEqual(r.Key, []string{"customer_id"}):
					byJoin = append(byJoin, r.Keys...)
				default:
					t.Errorf("recompute by %q", r.Key)
				}
			}
			for _, c := range []struct {
				what      string
				got, want any
			}{{"state upserts", state, tt.wantState}, {"state deletes", gone, tt.wantGone},
				{"recomputed by key", byKey, tt.wantByKey}, {"recomputed by join key", byJoin, tt.wantByJoin}} {
				if !reflect.DeepEqual(c.got, c.want) {
					t.Errorf("%s = %v, want %v", c.what, c.got, c.want)
				}
			}
			if tt.wantSinkRow != nil && !reflect.DeepEqual(sinkRow, tt.wantSinkRow) {
				t.Errorf("derived row %#v, want %#v", sinkRow, tt.wantSinkRow)
			}
			if pending := chain.Pending(); pending == 0 && (tt.wantState != nil || tt.wantByKey != nil || tt.wantGone != nil) {
				t.Errorf("Pending() = 0 with writes to flush")
			}
			chain.Reset()
			if chain.Pending() != 0 {
				t.Errorf("Pending() = %d after Reset", chain.Pending())
			}
		})
	}
}

func columnsOf(names []string) []schema.Column {
	cols := make([]schema.Column, len(names))
	for i, n := range names {
		cols[i] = schema.Column{Name: n}
	}
	return cols
}

func TestJoinRejects(t *testing.T) {
	tables := map[string][]string{"shop.orders": orderCols, "shop.customers": customerCols}
	tests := []struct {
		name   string
		edit   func(*config.Flow)
		tables map[string][]string
		want   string
	}{
		{"joined column missing", func(f *config.Flow) { f.Functions[1].Columns = []string{"nope"} }, tables, `column "nope" not found in table shop.customers`},
		{"row column missing", func(f *config.Flow) { f.Functions[1].On = map[string]string{"nope": "id"} }, tables, `join shop.customers on: column "nope"`},
		{"name clash", func(f *config.Flow) { f.Functions[1].Rename = nil; f.Functions[1].Columns = []string{"id"} }, tables, `already has a column "id"`},
		{"joined table unknown", func(f *config.Flow) {}, map[string][]string{"shop.orders": orderCols}, "columns of the joined table shop.customers are unknown"},
		{"state is the sink", func(f *config.Flow) { f.Functions[1].State = "enriched" }, tables, "must be set and differ from the sink's table"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := joinFlowConfig()
			tt.edit(&f)
			_, err := BuildTables(f, NewRegistry(), orderCols, Env{Tables: tt.tables})
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "functions[1] (join)") {
				t.Fatalf("err = %v, want it to name functions[1] (join) and contain %q", err, tt.want)
			}
		})
	}

	// The joined table's key must be the joined columns.
	f := joinFlowConfig()
	f.Functions[1].On = map[string]string{"customer_id": "name"}
	chain, err := BuildTables(f, NewRegistry(), orderCols, Env{Tables: tables})
	if err != nil {
		t.Fatal(err)
	}
	customers := schema.NewTable("shop", "customers", columnsOf(customerCols), []int{0})
	c := ins([]any{int64(1), "ann", "FR", "t"})
	c.Table, c.Layout = customers, Layouts{}.Of(customers)
	if err := chain.Process(&c); err == nil || !strings.Contains(err.Error(), `must be the table's primary key ["id"]`) {
		t.Fatalf("join on a non-key column: err = %v", err)
	}
}

// Tables lists a join's state table with its key and the columns a user
// creating it needs.
func TestTablesListsJoinState(t *testing.T) {
	tables := Tables(joinFlowConfig())
	if len(tables) != 2 {
		t.Fatalf("tables %+v, want the sink's and the join's state", tables)
	}
	st := tables[0]
	if st.Name != "enriched__customers" || st.What != "join state" || !reflect.DeepEqual(st.Key, []string{"id"}) || st.Index != 1 ||
		st.Shape != "columns id, name, country with the types they have in shop.customers, primary key (id)" {
		t.Errorf("join state table %+v", st)
	}
	if sink := tables[1]; sink.Name != "enriched" || sink.What != "sink" || sink.Shape != "" {
		t.Errorf("sink table %+v", sink)
	}
}
