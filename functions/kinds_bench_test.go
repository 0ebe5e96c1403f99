package functions

import (
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
	chain, err := Build(config.Flow{Name: "bench", Functions: fns}, NewRegistry(), benchCols)
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
