package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// castFlow casts each order's amount to DECIMAL(4,2), which 100.00 and
// more do not fit.
const castFlow = `
[[flows]]
name = "small_amounts"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "map"
  cast = { amount = "decimal(4,2)" }
  [[flows.functions]]
  kind = "project"
  columns = ["id", "amount"]
  [[flows.functions]]
  kind = "sink"
  table = "small_amounts"
  key = ["id"]
`

// A value a function cannot handle stops its flow with an error naming the
// flow, the table, the binlog position and the column, and commits nothing
// of that transaction; the other flows run on, and the flow's checkpoint
// stays just before the transaction (design.md section 5).
func TestValueAFunctionCannotHandleStopsItsFlow(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: castFlow})
	e.streamOnly()
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.small_amounts (id BIGINT PRIMARY KEY, amount DECIMAL(4,2) NOT NULL)")
	p := e.start()
	e.waitCheckpoints(flowCount + 1)
	e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (1, 12.50, 'new', NOW(6))")
	e.caughtUp(30 * time.Second)
	beforeFile, beforePos := e.upstreamPos()

	tx, err := e.up.Begin()
	if err != nil {
		t.Fatal(err)
	}
	for _, amount := range []string{"1.00", "123.45"} {
		if _, err := tx.Exec("INSERT INTO `"+e.shop+"`.orders (customer_id, amount, status, created_at) VALUES (2, ?, 'new', NOW(6))", amount); err != nil {
			t.Fatal(err)
		}
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	file, pos := e.upstreamPos()
	e.waitFor(30*time.Second, "flow small_amounts to stop", func() bool {
		_, stopped := flowErrors(p.out.String())["small_amounts"]
		return stopped
	})
	msg := flowErrors(p.out.String())["small_amounts"]
	for _, want := range []string{"flow small_amounts", "table " + e.shop + ".orders", fmt.Sprintf("%s:%d", file, pos), `"amount"`, "123.45"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the flow stopped with %q, which does not say %q", msg, want)
		}
	}
	// The others go on; the stopped flow kept the transaction's first row out
	// too (transactions are applied whole) and its checkpoint before it.
	e.caughtUpFlows(30*time.Second, "orders_copy", "customer_totals", "big_orders")
	var n int
	if err := e.down.QueryRow("SELECT COUNT(*) FROM `" + e.derived + "`.small_amounts").Scan(&n); err != nil || n != 1 {
		t.Errorf("small_amounts holds %d rows (%v), want 1: nothing of the failed transaction", n, err)
	}
	var cf string
	var cp uint64
	if err := e.down.QueryRow("SELECT binlog_file, binlog_pos FROM `"+e.derived+"`.binflow_checkpoints WHERE flow = 'small_amounts'").Scan(&cf, &cp); err != nil {
		t.Fatal(err)
	}
	if cf != beforeFile || cp != uint64(beforePos) {
		t.Errorf("small_amounts' checkpoint is %s:%d, want %s:%d, just before the failed transaction", cf, cp, beforeFile, beforePos)
	}
	e.stopFailed(p, "small_amounts")
}
