package main

import (
	"reflect"
	"testing"

	"github.com/binflow/binflow/config"
	"github.com/binflow/binflow/connectors"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
	"github.com/shopspring/decimal"
)

// The example's config loads, its chain builds over the orders columns, and
// loyalty counts big new orders per customer in its state, dropping the
// rest.
func TestLoyaltyChain(t *testing.T) {
	cfg, err := config.Load("config.toml")
	if err != nil {
		t.Fatal(err)
	}
	reg := functions.NewRegistry()
	if err := reg.Register("loyalty", functions.TypedSetup(setupLoyalty)); err != nil {
		t.Fatal(err)
	}
	cols := []string{"id", "customer_id", "amount", "status"}
	chain, err := functions.Build(cfg.Flows[0], reg, cols)
	if err != nil {
		t.Fatal(err)
	}
	layout := functions.NewLayout(cols)
	row := func(id, customer int64, amount string) []any {
		return []any{id, customer, decimal.RequireFromString(amount), "new"}
	}
	for _, c := range []functions.Change{
		{Op: schema.Insert, After: row(1, 7, "300")},
		{Op: schema.Insert, After: row(2, 7, "10")},
		{Op: schema.Update, Before: row(2, 7, "10"), After: row(2, 7, "900")},
		{Op: schema.Insert, After: row(3, 7, "250")},
		{Op: schema.Insert, After: row(4, 7, "251")},
		{Op: schema.Delete, Before: row(4, 7, "251")},
	} {
		c.Layout = layout
		if err := chain.Process(&c); err != nil {
			t.Fatal(err)
		}
	}
	var b connectors.Batch
	if err := chain.Flush(&b); err != nil {
		t.Fatal(err)
	}
	if len(b.Upserts) != 2 || !reflect.DeepEqual(b.Upserts[0].Rows, [][]any{{int64(7), int64(3), "gold"}}) {
		t.Fatalf("upserts = %+v", b.Upserts)
	}
	if b.Upserts[1].Table != functions.GoStateTable {
		t.Errorf("state not written with the batch: %+v", b.Upserts[1])
	}
}

func TestLoyaltyParams(t *testing.T) {
	for _, p := range []functions.Params{{"threshold": "x"}, {"gold_after": "many"}, {"limit": "1"}} {
		if _, err := setupLoyalty(p); err == nil {
			t.Errorf("params %v accepted", p)
		}
	}
}
