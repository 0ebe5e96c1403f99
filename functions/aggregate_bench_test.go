package functions

import (
	"fmt"
	"math/rand"
	"testing"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// benchOrders builds n changes on the bench's orders table shape: mostly
// inserts, one update in 50 (half moving the order to another customer),
// spread over groups customers, with DECIMAL(12,2) amounts as go-mysql
// decodes them.
func benchOrders(n, groups int) []Change {
	rng := rand.New(rand.NewSource(1))
	layout := NewLayout([]string{"id", "customer_id", "amount", "status", "note", "created_at"})
	amount := func() decimal.Decimal {
		return decimal.RequireFromString(fmt.Sprintf("%d.%02d", rng.Intn(1000), rng.Intn(100)))
	}
	row := func(id int64) []any {
		return []any{id, int64(rng.Intn(groups) + 1), amount(), "paid", nil, nil}
	}
	cs := make([]Change, n)
	for i := range cs {
		if i%50 == 49 {
			before := row(int64(i))
			after := append([]any(nil), before...)
			if i%100 == 99 {
				after[1] = int64(rng.Intn(groups) + 1)
			} else {
				after[2] = amount()
			}
			cs[i] = Change{Op: schema.Update, Layout: layout, Before: before, After: after}
			continue
		}
		cs[i] = Change{Op: schema.Insert, Layout: layout, After: row(int64(i))}
	}
	return cs
}

// BenchmarkAggregate is the bench's customer_totals flow over one batch of
// 100k changes into 5000 groups: Process each, then Flush and Reset.
func BenchmarkAggregate(b *testing.B) {
	const n = 100_000
	cs := benchOrders(n, 5000)
	a, err := NewAggregate("customer_totals", []string{"customer_id"},
		[]AggSpec{{Column: "order_count", Func: "count"}, {Column: "total_amount", Func: "sum", Of: "amount"}})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		for i := range cs {
			if err := a.Process(&cs[i], noNext); err != nil {
				b.Fatal(err)
			}
		}
		var batch connectors.Batch
		if err := a.Flush(&batch); err != nil {
			b.Fatal(err)
		}
		a.Reset()
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n), "ns/row")
	b.ReportMetric(float64(testing.AllocsPerRun(1, func() {
		for i := range cs {
			_ = a.Process(&cs[i], noNext)
		}
		var batch connectors.Batch
		_ = a.Flush(&batch)
		a.Reset()
	}))/n, "allocs/row")
}
