package functions

import (
	"context"
	"testing"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// Benchmarks per function kind, in process, over the bench's orders shape
// (benchOrders: mostly inserts, one update in 50, 5000 customers): each
// reports ns/row, rows/s and allocs/row over 100,000 changes, flushing a
// batch whenever 5000 output rows are pending, as the runner does.

const benchRows = 100_000

var benchCols = []string{"id", "customer_id", "amount", "status", "note", "created_at"}

func benchChain(b *testing.B, fns ...config.Function) {
	b.Helper()
	benchChainEnv(b, Env{}, nil, fns...)
}

// benchChainEnv is benchChain with a build environment, and edit changing
// the bench's changes first.
func benchChainEnv(b *testing.B, env Env, edit func([]Change), fns ...config.Function) {
	b.Helper()
	chain, err := BuildTables(config.Flow{Name: "bench", Functions: fns}, NewRegistry(), benchCols, env)
	if err != nil {
		b.Fatal(err)
	}
	cs := benchOrders(benchRows, 5000)
	for i := range cs {
		if cs[i].After != nil {
			cs[i].After[4] = "red,green,blue"
		}
		if cs[i].Before != nil {
			cs[i].Before[4] = "red,green,blue"
		}
		if i%10 == 3 && cs[i].After != nil {
			cs[i].After[3] = "cancelled"
		}
	}
	if edit != nil {
		edit(cs)
	}
	txn := &schema.Txn{End: schema.Position{File: "bin.000001", Pos: 4}}
	flush := func() {
		var batch connectors.Batch
		if err := chain.Flush(&batch); err != nil {
			b.Fatal(err)
		}
		chain.Reset()
	}
	// As the flow runner does: a batch ends once it holds batch.max_rows
	// (default 5000) output rows.
	run := func() {
		for i := range cs {
			cs[i].Txn = txn
			if err := chain.Process(&cs[i]); err != nil {
				b.Fatal(err)
			}
			if chain.Pending() >= 5000 {
				flush()
			}
		}
		flush()
	}
	b.ReportAllocs()
	for b.Loop() {
		run()
	}
	ns := float64(b.Elapsed().Nanoseconds()) / float64(b.N*benchRows)
	b.ReportMetric(ns, "ns/row")
	b.ReportMetric(1e9/ns, "rows/s")
	b.ReportMetric(testing.AllocsPerRun(1, run)/benchRows, "allocs/row")
}

var (
	benchFilter = config.Function{Kind: "filter", Expr: `status != "cancelled" && amount > 100`}
	benchMap    = config.Function{Kind: "map", Set: map[string]string{"total": "amount * 1.2"}}
	benchAgg    = config.Function{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []config.Aggregate{
		{Column: "n", Func: "count"}, {Column: "total", Func: "sum", Of: "total"}}}
	benchAggSink = config.Function{Kind: "sink", Table: "totals", Key: []string{"customer_id"}}
)

// The target: filter → map → aggregate at ≥ 1,000,000 rows/s on one
// core.
func BenchmarkChainFilterMapAggregate(b *testing.B) {
	benchChain(b, benchFilter, benchMap, benchAgg, benchAggSink)
}

func BenchmarkKindFilter(b *testing.B) {
	benchChain(b, benchFilter, config.Function{Kind: "sink", Table: "t", Key: []string{"id"}})
}

func BenchmarkKindMap(b *testing.B) {
	benchChain(b, config.Function{Kind: "map", Set: map[string]string{"total": "amount * 1.2"}, Cast: map[string]string{"total": "decimal(14,2)"},
		Rename: map[string]string{"status": "state"}, Drop: []string{"note"}}, config.Function{Kind: "sink", Table: "t", Key: []string{"id"}})
}

func BenchmarkKindProject(b *testing.B) {
	benchChain(b, config.Function{Kind: "project", Columns: []string{"id", "customer_id", "amount"}}, config.Function{Kind: "sink", Table: "t", Key: []string{"id"}})
}

func BenchmarkKindExpand(b *testing.B) {
	benchChain(b, config.Function{Kind: "expand", Of: "note", As: "tag"}, config.Function{Kind: "sink", Table: "t", Key: []string{"id", "tag"}})
}

func BenchmarkKindAggregateCountSum(b *testing.B) {
	benchChain(b, config.Function{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []config.Aggregate{
		{Column: "n", Func: "count"}, {Column: "total", Func: "sum", Of: "amount"}}}, benchAggSink)
}

func BenchmarkKindAggregateStateful(b *testing.B) {
	benchChain(b, config.Function{Kind: "aggregate", GroupBy: []string{"customer_id"}, Aggregates: []config.Aggregate{
		{Column: "n", Func: "count"}, {Column: "n_amount", Func: "count", Of: "amount"}, {Column: "total", Func: "sum", Of: "amount"},
		{Column: "avg", Func: "avg", Of: "amount"}, {Column: "lo", Func: "min", Of: "amount"}, {Column: "hi", Func: "max", Of: "amount"},
		{Column: "statuses", Func: "count_distinct", Of: "status"}}}, benchAggSink)
}

func BenchmarkKindSinkUpsert(b *testing.B) {
	benchChain(b, config.Function{Kind: "sink", Table: "t", Key: []string{"id"}})
}

func BenchmarkKindSinkAppend(b *testing.B) {
	benchChain(b, config.Function{Kind: "sink", Table: "h", Mode: "append"})
}

var benchCustomerCols = []string{"id", "name", "country"}

// A join of the orders with their customers; one change in 20 is a
// customer's (renamed), which updates the state table and the customer's
// derived rows.
func BenchmarkKindJoin(b *testing.B) {
	customers := schema.NewTable("shop", "customers", columnsOf(benchCustomerCols), []int{0})
	orders := schema.NewTable("shop", "orders", columnsOf(benchCols), []int{0})
	layout := NewLayout(benchCustomerCols)
	edit := func(cs []Change) {
		for i := range cs {
			if i%20 != 7 {
				cs[i].Table = orders
				continue
			}
			id := int64(i % 5000)
			cs[i] = Change{Op: schema.Update, Table: customers, Layout: layout,
				Before: []any{id, "old name", "FR"}, After: []any{id, "new name", "FR"}}
		}
	}
	env := Env{Tables: map[string][]string{"shop.orders": benchCols, "shop.customers": benchCustomerCols}}
	benchChainEnv(b, env, edit,
		config.Function{Kind: "join", Table: "shop.customers", On: map[string]string{"customer_id": "id"},
			Columns: []string{"name", "country"}, State: "customers_state"},
		config.Function{Kind: "sink", Table: "t", Key: []string{"id"}})
}

// benchReader serves every customer id from memory.
type benchReader struct{ row []any }

func (r benchReader) Row(context.Context, []any) ([]any, bool, error) { return r.row, true, nil }
func (benchReader) Retryable(error) bool                              { return false }

// A lookup of each order's customer through a cache holding all 5000 (the
// reads themselves are a server's cost, outside this benchmark).
func BenchmarkKindLookupCached(b *testing.B) {
	env := Env{Readers: func(context.Context, string, string, []string, []string) (RowReader, error) {
		return benchReader{row: []any{"name", "FR"}}, nil
	}}
	benchChainEnv(b, env, nil,
		config.Function{Kind: "lookup", Table: "shop.customers", On: map[string]string{"customer_id": "id"},
			Columns: []string{"name", "country"}, CacheRows: 10000},
		config.Function{Kind: "sink", Table: "t", Key: []string{"id"}})
}
