package functions

import (
	"fmt"
	"math/rand"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

var itemCols = []string{"id", "g", "amount", "product", "name", "created_at"}

// randomItem is a row of itemCols: a few groups, nullable amounts, repeated
// products and names, times over three days.
func randomItem(rng *rand.Rand, id int64) []any {
	var amount any
	if rng.Intn(6) > 0 {
		amount = decimal.New(int64(rng.Intn(2000)-500), -2)
	}
	base := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	return []any{id, int64(rng.Intn(5)), amount, int64(rng.Intn(8)), fmt.Sprint("n", rng.Intn(6)),
		base.Add(time.Duration(rng.Intn(72*60)) * time.Minute)}
}

// expected computes the derived table from the live rows, as SQL would.
func expectedAggregate(live map[int64][]any, bucket string) []string {
	type group struct {
		key      []any
		rows     [][]any
		products map[int64]bool
	}
	groups := map[string]*group{}
	for _, r := range live {
		key := []any{r[1]}
		if bucket != "" {
			t, _ := truncTime(r[5], uint8(indexOf(bucketUnits, bucket)))
			key = append(key, t)
		}
		k := fmt.Sprint(key...)
		g, ok := groups[k]
		if !ok {
			g = &group{key: key, products: map[int64]bool{}}
			groups[k] = g
		}
		g.rows = append(g.rows, r)
	}
	var out []string
	for _, g := range groups {
		n := int64(len(g.rows))
		var nAmount int64
		sum := decimal.Zero
		var amounts, products, names, times []any
		seen := map[int64]bool{}
		for _, r := range g.rows {
			if r[2] != nil {
				nAmount++
				sum = sum.Add(r[2].(decimal.Decimal))
				amounts = append(amounts, r[2])
			}
			if !seen[r[3].(int64)] {
				seen[r[3].(int64)] = true
				products = append(products, r[3])
			}
			names = append(names, r[4])
			times = append(times, r[5])
		}
		var avg any
		if nAmount > 0 {
			avg = sum.DivRound(decimal.NewFromInt(nAmount), 8)
		}
		row := map[string]any{"g": g.key[0], "n": n, "n_amount": nAmount, "total": sum, "avg_amount": avg,
			"lo": aggregateOf("min", amounts), "hi": aggregateOf("max", amounts), "products": int64(len(products)),
			"first_name": aggregateOf("min", names), "last_at": aggregateOf("max", times)}
		if bucket != "" {
			row["day"] = g.key[1]
		}
		out = append(out, renderRow(row, aggOutCols(bucket)))
	}
	return sortedStrings(out)
}

func indexOf(list []string, s string) int {
	for i, x := range list {
		if x == s {
			return i
		}
	}
	return -1
}

func sortedStrings(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

func aggOutCols(bucket string) []string {
	cols := []string{"g"}
	if bucket != "" {
		cols = append(cols, "day")
	}
	return append(cols, "n", "n_amount", "total", "avg_amount", "lo", "hi", "products", "first_name", "last_at")
}

func statefulAggregateFlow(bucket string) config.Flow {
	agg := config.Function{Kind: "aggregate", GroupBy: []string{"g"}, Aggregates: []config.Aggregate{
		{Column: "n", Func: "count"},
		{Column: "n_amount", Func: "count", Of: "amount"},
		{Column: "total", Func: "sum", Of: "amount"},
		{Column: "avg_amount", Func: "avg", Of: "amount"},
		{Column: "lo", Func: "min", Of: "amount"},
		{Column: "hi", Func: "max", Of: "amount"},
		{Column: "products", Func: "count_distinct", Of: "product"},
		{Column: "first_name", Func: "min", Of: "name"},
		{Column: "last_at", Func: "max", Of: "created_at"},
	}}
	if bucket != "" {
		agg.Bucket = config.Bucket{Column: "created_at", Every: bucket, As: "day"}
	}
	return config.Flow{Name: "f", Functions: []config.Function{agg, {Kind: "sink", Table: "stats", Key: agg.AggregateKey()}}}
}

// Random batches of inserts, updates (moving rows between groups and
// buckets, changing the minimum, NULLing amounts) and deletes, applied to an
// in-memory downstream: after every batch the derived table equals the
// recomputation from the live rows, and the state tables hold exactly the
// live (group, value) pairs.
func TestStatefulAggregatesMatchRecomputation(t *testing.T) {
	for _, bucket := range []string{"", "day"} {
		t.Run("bucket="+bucket, func(t *testing.T) {
			chain, err := Build(statefulAggregateFlow(bucket), NewRegistry(), itemCols)
			if err != nil {
				t.Fatal(err)
			}
			rng := rand.New(rand.NewSource(3))
			layout := NewLayout(itemCols)
			live := map[int64][]any{}
			var ids []int64
			next := int64(1)
			store := newMemStore(t)
			for batch := range 150 {
				for range rng.Intn(40) + 1 {
					var c Change
					switch op := rng.Intn(5); {
					case op < 2 || len(ids) == 0:
						r := randomItem(rng, next)
						live[next], ids = r, append(ids, next)
						next++
						c = Change{Op: schema.Insert, After: r}
					case op < 4:
						id := ids[rng.Intn(len(ids))]
						before := live[id]
						after := append([]any(nil), before...)
						fresh := randomItem(rng, id)
						for _, col := range []int{1, 2, 3, 4, 5} {
							if rng.Intn(2) == 0 {
								after[col] = fresh[col]
							}
						}
						live[id] = after
						c = Change{Op: schema.Update, Before: before, After: after}
					default:
						i := rng.Intn(len(ids))
						id := ids[i]
						c = Change{Op: schema.Delete, Before: live[id]}
						delete(live, id)
						ids = append(ids[:i], ids[i+1:]...)
					}
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
				got, want := store.dump("stats", aggOutCols(bucket)), expectedAggregate(live, bucket)
				if !reflect.DeepEqual(got, want) {
					t.Fatalf("batch %d: derived table\n%s\nwant\n%s", batch, strings.Join(got, "\n"), strings.Join(want, "\n"))
				}
				// Bounded state: one state row per live (group, value).
				pairs := map[string]bool{}
				for _, r := range live {
					if r[2] != nil {
						pairs[fmt.Sprint(r[1], r[5], r[2])] = true
					}
				}
				if bucket == "" && len(store.tables["stats__amount"]) != countPairs(live, 2) {
					t.Fatalf("batch %d: %d state rows for amount, want %d", batch, len(store.tables["stats__amount"]), countPairs(live, 2))
				}
			}
			if len(live) < 20 {
				t.Fatalf("only %d live rows at the end: the workload proves little", len(live))
			}
		})
	}
}

// countPairs is the number of distinct (g, column col) pairs with a non-NULL
// value among the live rows.
func countPairs(live map[int64][]any, col int) int {
	pairs := map[string]bool{}
	for _, r := range live {
		if r[col] != nil {
			k, _ := appendKeyOf(nil, []any{r[1], r[col]}, []int{0, 1})
			pairs[string(k)] = true
		}
	}
	return len(pairs)
}

// The writes of one batch: counts and sums as deltas, state counts as deltas
// (deleting values that reach 0), then one recompute of the touched groups.
func TestStatefulAggregateBatchShape(t *testing.T) {
	a, err := NewAggregateOf(AggConfig{Table: "t", GroupBy: []string{"g"}, Aggs: []AggSpec{
		{Column: "n", Func: "count"}, {Column: "lo", Func: "min", Of: "v"}, {Column: "d", Func: "count_distinct", Of: "v"}}})
	if err != nil {
		t.Fatal(err)
	}
	layout := NewLayout([]string{"g", "v"})
	for _, c := range []Change{
		{Op: schema.Insert, After: []any{int64(1), int64(5)}},
		{Op: schema.Insert, After: []any{int64(1), int64(5)}},
		{Op: schema.Delete, Before: []any{int64(2), int64(7)}},
		{Op: schema.Update, Before: []any{int64(3), int64(1)}, After: []any{int64(3), int64(2)}},
	} {
		c.Layout = layout
		if err := a.Process(&c, noNext); err != nil {
			t.Fatal(err)
		}
	}
	var b connectors.Batch
	if err := a.Flush(&b); err != nil {
		t.Fatal(err)
	}
	want := connectors.Batch{
		Deltas: []connectors.Delta{
			{Table: "t", Key: []string{"g"}, Columns: []string{"n"}, Rows: [][]any{{int64(1), int64(2)}}},
			{Table: "t", Key: []string{"g"}, Columns: []string{"n"}, Rows: [][]any{{int64(2), int64(-1)}}, DeleteWhenZero: "n"},
			{Table: "t__v", Key: []string{"g", "v"}, Columns: []string{"n"}, Rows: [][]any{{int64(1), int64(5), int64(2)}, {int64(3), int64(2), int64(1)}}},
			{Table: "t__v", Key: []string{"g", "v"}, Columns: []string{"n"}, Rows: [][]any{{int64(2), int64(7), int64(-1)}, {int64(3), int64(1), int64(-1)}}, DeleteWhenZero: "n"},
		},
		Recomputes: []connectors.Recompute{{Table: "t", Key: []string{"g"}, Keys: [][]any{{int64(1)}, {int64(2)}, {int64(3)}},
			Set: []connectors.Computed{{Column: "lo", Func: "min", State: "t__v", Of: "v"}, {Column: "d", Func: "count", State: "t__v", Of: "v"}}}},
	}
	if !reflect.DeepEqual(b, want) {
		t.Errorf("batch\n%+v\nwant\n%+v", b, want)
	}
	if a.Pending() != 3+4 {
		t.Errorf("pending = %d, want 7 (3 groups, 4 state pairs)", a.Pending())
	}
}

func TestAggregateConfigErrors(t *testing.T) {
	cases := []struct {
		cfg  AggConfig
		want string
	}{
		{AggConfig{Table: "t", GroupBy: []string{"g"}, Aggs: []AggSpec{{Column: "n", Func: "count"}, {Column: "a", Func: "avg", Of: "x"}}},
			`a = avg(x) is derived from sum(x) and count(x)`},
		{AggConfig{Table: "t", GroupBy: []string{"g"}, Aggs: []AggSpec{{Column: "n", Func: "count"}, {Column: "m", Func: "min", Of: "g"}}},
			`reads a group-by column`},
		{AggConfig{Table: "t", GroupBy: []string{"g"}, Aggs: []AggSpec{{Column: "n", Func: "count"}, {Column: "m", Func: "max", Of: "n"}}},
			`uses column "n" for its counts`},
		{AggConfig{Table: "t", GroupBy: []string{"g"}, Aggs: []AggSpec{{Column: "c", Func: "count", Of: "x"}}},
			`needs a count aggregate (without of)`},
		{AggConfig{Table: "t", Bucket: &Bucket{Column: "at", Every: "week"}, Aggs: []AggSpec{{Column: "n", Func: "count"}}},
			`bucket every "week"`},
		{AggConfig{Table: "t", GroupBy: []string{"g"}, Aggs: []AggSpec{{Column: "n", Func: "count"}, {Column: "m", Func: "median", Of: "x"}}},
			`unknown function "median"`},
	}
	for _, c := range cases {
		if _, err := NewAggregateOf(c.cfg); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%+v: err = %v, want %q", c.cfg, err, c.want)
		}
	}
}

func TestBucketTruncates(t *testing.T) {
	at := time.Date(2026, 5, 17, 13, 42, 7, 123000, time.FixedZone("x", 3600))
	want := map[string]time.Time{
		"minute": time.Date(2026, 5, 17, 12, 42, 0, 0, time.UTC),
		"hour":   time.Date(2026, 5, 17, 12, 0, 0, 0, time.UTC),
		"day":    time.Date(2026, 5, 17, 0, 0, 0, 0, time.UTC),
		"month":  time.Date(2026, 5, 1, 0, 0, 0, 0, time.UTC),
	}
	for unit, w := range want {
		got, err := truncTime(at, uint8(indexOf(bucketUnits, unit)))
		if err != nil || !got.(time.Time).Equal(w) || got.(time.Time).Location() != time.UTC {
			t.Errorf("%s: %v, %v; want %v", unit, got, err, w)
		}
	}
	if _, err := truncTime("0000-00-00 00:00:00", 0); err == nil {
		t.Error("zero date bucketed")
	}
}
