// Command custom-function is a binflow binary of your own: binflow with one
// Go function registered on the registry, named in config like a built-in.
// Every binflow command works as in binflow itself (run, with /metrics and
// the status page at [http] listen; check, migrate, status, rebuild, verify,
// reset): main only registers the function and hands the registry to
// package cli.
//
//	go build -o loyalty ./examples/custom-function
//	./loyalty migrate -c examples/custom-function/config.toml
//	./loyalty run     -c examples/custom-function/config.toml
//	./loyalty status  -c examples/custom-function/config.toml
//
// The function, loyalty, counts per customer the orders placed at or above
// a threshold (params.threshold) and labels customers "gold" after
// params.gold_after of them. The count lives in the function's state, which
// binflow saves with each batch and checkpoint (table binflow_state), so a
// crash or kill -9 neither loses nor repeats a count.
//
// migrate applies binflow's migrations (downstream.migrations), then this
// binary's own: the loyalty table, from migrations/ next to the config
// (cli.Options.Migrations), one folder per dialect. See "Go functions" in
// the repository's README.md.
package main

import (
	"fmt"
	"os"
	"strconv"

	"github.com/shopspring/decimal"

	"github.com/binflow/binflow/cli"
	"github.com/binflow/binflow/functions"
	"github.com/binflow/binflow/schema"
)

// Order is what loyalty reads of an upstream orders row.
type Order struct {
	CustomerID int64           `binflow:"customer_id"`
	Amount     decimal.Decimal `binflow:"amount"`
}

// Loyalty is a row of the derived table loyalty.
type Loyalty struct {
	CustomerID int64  `binflow:"customer_id"`
	BigOrders  int64  `binflow:"big_orders"`
	Level      string `binflow:"level"`
}

// setupLoyalty reads the function's params (once per flow) and returns it.
// Unknown or malformed params stop binflow at start, naming the flow, the
// function's index and the param.
func setupLoyalty(p functions.Params) (functions.TypedFunc[Order, Loyalty], error) {
	if err := p.Only("threshold", "gold_after"); err != nil {
		return nil, err
	}
	threshold, err := p.Decimal("threshold", decimal.NewFromInt(100))
	if err != nil {
		return nil, err
	}
	goldAfter, err := p.Int("gold_after", 3)
	if err != nil {
		return nil, err
	}
	return func(ev functions.Event[Order], out *functions.Emitter[Loyalty]) error {
		// Drop what is not a new big order: emit nothing, return nil.
		if ev.Op != schema.Insert || ev.After.Amount.LessThan(threshold) {
			return nil
		}
		key := strconv.FormatInt(ev.After.CustomerID, 10)
		n, _, err := out.State().GetInt(key)
		if err != nil {
			return err // fail: the flow stops, naming table and binlog position
		}
		n++
		if err := out.State().PutInt(key, n); err != nil {
			return err
		}
		level := "silver"
		if n >= goldAfter {
			level = "gold"
		}
		return out.Upsert(&Loyalty{CustomerID: ev.After.CustomerID, BigOrders: n, Level: level}) // emit
	}, nil
}

func main() {
	cli.SetMemoryLimit() // binflow's footprint bound, as cmd/binflow
	reg := functions.NewRegistry()
	if err := reg.Register("loyalty", functions.TypedSetup(setupLoyalty)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr, reg, cli.Options{Migrations: []string{"migrations"}}))
}
