package functions

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/schema"
)

// fakeReader serves rows of a customers table by id, counting reads, and
// fails the first failures reads with err.
type fakeReader struct {
	rows     map[int64][]any
	reads    int
	failures int
	err      error
}

var errTransient = errors.New("connection lost")

func (f *fakeReader) Row(_ context.Context, key []any) ([]any, bool, error) {
	f.reads++
	if f.failures > 0 {
		f.failures--
		return nil, false, f.err
	}
	row, ok := f.rows[key[0].(int64)]
	return row, ok, nil
}

func (f *fakeReader) Retryable(err error) bool { return errors.Is(err, errTransient) }

func lookupFlow(missing string, cacheRows int, after ...config.Function) config.Flow {
	fns := []config.Function{{Kind: "lookup", Table: "shop.customers", On: map[string]string{"customer_id": "id"},
		Columns: []string{"name"}, Rename: map[string]string{"name": "customer_name"}, Missing: missing, CacheRows: cacheRows}}
	fns = append(fns, after...)
	if len(after) == 0 {
		fns = append(fns, config.Function{Kind: "sink", Table: "enriched", Key: []string{"id"}})
	}
	return config.Flow{Name: "f", Tables: []string{"shop.orders"}, Functions: fns}
}

func buildLookup(t *testing.T, f config.Flow, r *fakeReader) *Chain {
	t.Helper()
	readers := func(_ context.Context, from, table string, on, columns []string) (RowReader, error) {
		if from != "upstream" || table != "shop.customers" || !reflect.DeepEqual(on, []string{"id"}) || !reflect.DeepEqual(columns, []string{"name"}) {
			t.Fatalf("reader opened for %s %s on %q columns %q", from, table, on, columns)
		}
		return r, nil
	}
	chain, err := BuildTables(f, NewRegistry(), orderCols, Env{Readers: readers})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

// What reaches the sink for each rule for rows without a match, and for
// rows with one; before images carry NULL looked-up columns.
func TestLookupEnrichesRows(t *testing.T) {
	orders := schema.NewTable("shop", "orders", columnsOf(orderCols), []int{0})
	tests := []struct {
		name      string
		missing   string
		change    Change
		wantRows  [][]any // upserted
		wantGone  [][]any // deleted keys
		wantError string
	}{
		{"match", "", ins(order(1, 7, "1.00", "new")), [][]any{{int64(1), int64(7), dec("1.00"), "new", "ann"}}, nil, ""},
		{"no match gets NULL", "null", ins(order(1, 9, "1.00", "new")), [][]any{{int64(1), int64(9), dec("1.00"), "new", nil}}, nil, ""},
		{"no match dropped", "drop", ins(order(1, 9, "1.00", "new")), nil, nil, ""},
		{"update losing its match deletes the row", "drop", upd(order(1, 7, "1.00", "new"), order(1, 9, "1.00", "new")), nil, [][]any{{int64(1)}}, ""},
		{"delete passes", "drop", del(order(1, 9, "1.00", "new")), nil, [][]any{{int64(1)}}, ""},
		{"no match fails", "fail", ins(order(1, 9, "1.00", "new")), nil, nil, `lookup shop.customers: no row matches [customer_id] = [9]`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			chain := buildLookup(t, lookupFlow(tt.missing, 0), &fakeReader{rows: map[int64][]any{7: {"ann"}}})
			c := tt.change
			c.Table, c.Layout = orders, Layouts{}.Of(orders)
			err := chain.Process(&c)
			if tt.wantError != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantError) {
					t.Fatalf("err = %v, want %q", err, tt.wantError)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			var b connectors.Batch
			if err := chain.Flush(&b); err != nil {
				t.Fatal(err)
			}
			var rows, gone [][]any
			for _, u := range b.Upserts {
				if !reflect.DeepEqual(u.Columns, append(append([]string{}, orderCols...), "customer_name")) {
					t.Errorf("columns %q", u.Columns)
				}
				rows = append(rows, u.Rows...)
			}
			for _, d := range b.Deletes {
				gone = append(gone, d.Keys...)
			}
			if !reflect.DeepEqual(rows, tt.wantRows) || !reflect.DeepEqual(gone, tt.wantGone) {
				t.Errorf("upserts %v deletes %v, want %v and %v", rows, gone, tt.wantRows, tt.wantGone)
			}
		})
	}
}

// The cache serves repeated keys (misses included) until its TTL; a
// transient read error is retried; another stops the flow.
func TestLookupCacheAndRetries(t *testing.T) {
	orders := schema.NewTable("shop", "orders", columnsOf(orderCols), []int{0})
	process := func(chain *Chain, cust int64) error {
		c := ins(order(1, cust, "1.00", "new"))
		c.Table, c.Layout = orders, Layouts{}.Of(orders)
		return chain.Process(&c)
	}
	r := &fakeReader{rows: map[int64][]any{7: {"ann"}}}
	chain := buildLookup(t, lookupFlow("", 10), r)
	for _, cust := range []int64{7, 7, 9, 9, 7} {
		if err := process(chain, cust); err != nil {
			t.Fatal(err)
		}
	}
	if r.reads != 2 {
		t.Errorf("%d reads for keys 7, 7, 9, 9, 7 through a cache; want 2", r.reads)
	}
	uncached := &fakeReader{rows: r.rows}
	chain = buildLookup(t, lookupFlow("", 0), uncached)
	for _, cust := range []int64{7, 7} {
		if err := process(chain, cust); err != nil {
			t.Fatal(err)
		}
	}
	if uncached.reads != 2 {
		t.Errorf("%d reads without a cache; want 2", uncached.reads)
	}

	f := lookupFlow("", 10)
	f.Functions[0].CacheTTL = config.Duration{Duration: 20 * time.Millisecond}
	expiring := &fakeReader{rows: r.rows}
	chain = buildLookup(t, f, expiring)
	_ = process(chain, 7)
	time.Sleep(60 * time.Millisecond)
	_ = process(chain, 7)
	if expiring.reads != 2 {
		t.Errorf("%d reads across the cache TTL; want 2", expiring.reads)
	}

	flaky := &fakeReader{rows: r.rows, failures: 2, err: errTransient}
	if err := process(buildLookup(t, lookupFlow("", 0), flaky), 7); err != nil || flaky.reads != 3 {
		t.Errorf("transient errors: err %v after %d reads; want success on the third", err, flaky.reads)
	}
	broken := &fakeReader{rows: r.rows, failures: 1, err: errors.New("Error 1146: table doesn't exist")}
	if err := process(buildLookup(t, lookupFlow("", 0), broken), 7); err == nil || !strings.Contains(err.Error(), "1146") || broken.reads != 1 {
		t.Errorf("permanent error: err %v after %d reads; want it reported at once", err, broken.reads)
	}
}

// Functions that would need the looked-up values of before images may
// not follow a lookup.
func TestLookupRefusesRetractingFunctions(t *testing.T) {
	sink := config.Function{Kind: "sink", Table: "t", Key: []string{"id"}}
	tests := []struct {
		name  string
		after []config.Function
		want  string
	}{
		{"filter", []config.Function{{Kind: "filter", Expr: "true"}, sink}, `a function of kind "filter" cannot follow a lookup`},
		{"aggregate", []config.Function{{Kind: "aggregate", GroupBy: []string{"customer_name"}, Aggregates: []config.Aggregate{{Column: "n", Func: "count"}}}, {Kind: "sink", Table: "t", Key: []string{"customer_name"}}}, `a function of kind "aggregate" cannot follow a lookup`},
		{"sink keyed on a looked-up column", []config.Function{{Kind: "sink", Table: "t", Key: []string{"customer_name"}}}, `key column "customer_name" is looked up`},
		{"project and map", []config.Function{{Kind: "project", Columns: []string{"id", "customer_name"}}, {Kind: "map", Set: map[string]string{"n": "customer_name + '!'"}}, sink}, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			readers := func(context.Context, string, string, []string, []string) (RowReader, error) {
				return &fakeReader{}, nil
			}
			_, err := BuildTables(lookupFlow("", 0, tt.after...), NewRegistry(), orderCols, Env{Readers: readers})
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "functions[1]") {
				t.Fatalf("err = %v, want functions[1] and %q", err, tt.want)
			}
		})
	}
}
