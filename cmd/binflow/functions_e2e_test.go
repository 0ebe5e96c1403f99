package main

import (
	"fmt"
	"testing"
	"time"
)

// A config-only filter → aggregate chain stays equal to the same SQL with a
// WHERE clause, through updates that move rows in and out of the filter and
// between groups, and a kill -9, in every store.
func TestFilterThenAggregateMatchesSQL(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, extraFlow: `
[[flows]]
name = "paid_totals"
tables = ["SHOP.orders"]
  [[flows.functions]]
  kind = "filter"
  expr = 'status != "cancelled" && amount > 100'
  [[flows.functions]]
  kind = "aggregate"
  group_by = ["customer_id"]
  aggregates = [
    { column = "order_count", func = "count" },
    { column = "total_amount", func = "sum", of = "amount" },
  ]
  [[flows.functions]]
  kind = "sink"
  table = "paid_totals"
`})
		e.createTables(storeDDL{
			mysql:    "CREATE TABLE D.paid_totals (customer_id BIGINT PRIMARY KEY, order_count BIGINT NOT NULL, total_amount DECIMAL(30,2) NOT NULL)",
			postgres: "CREATE TABLE paid_totals (customer_id BIGINT PRIMARY KEY, order_count BIGINT NOT NULL, total_amount NUMERIC(30,2) NOT NULL)",
			sqlite:   "CREATE TABLE paid_totals (customer_id INTEGER PRIMARY KEY, order_count INTEGER NOT NULL, total_amount TEXT NOT NULL) STRICT",
		})
		p := e.start()
		e.load(100, 10, 15)
		e.kill9(p)
		e.load(100, 10, 15)
		p = e.start()
		e.caughtUp(60 * time.Second)
		e.verify()
		got := e.snapshot(e.down, "SELECT customer_id, order_count, total_amount FROM "+e.tbl("paid_totals"))
		want := e.snapshot(e.up, "SELECT customer_id, COUNT(*), CAST(SUM(amount) AS DECIMAL(30,2)) FROM `"+e.shop+"`.orders WHERE status <> 'cancelled' AND amount > 100 GROUP BY customer_id")
		if diff := diffRows(got, want); diff != "" {
			t.Errorf("paid_totals in %s differs from its SQL recomputation (%d rows, %d expected):\n%s", store, len(got), len(want), diff)
		}
		if len(want) == 0 {
			t.Fatal("the workload produced no rows passing the filter; the test proves nothing")
		}
		e.stop(p)
	})
}

// Many tables feed one flow: two shards of orders copied into one table,
// equal to the UNION of both.
func TestManyTablesIntoOneFlow(t *testing.T) {
	e := newEnv(t, envOptions{extraFlow: `
[[flows]]
name = "all_orders"
tables = ["SHOP.orders", "SHOP.orders_eu"]
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount"]
  [[flows.functions]]
  kind = "sink"
  table = "all_orders"
  key = ["id"]
`})
	e.exec(e.up, "CREATE TABLE `"+e.shop+"`.orders_eu LIKE `"+e.shop+"`.orders")
	e.exec(e.up, "ALTER TABLE `"+e.shop+"`.orders_eu AUTO_INCREMENT = 1000000")
	e.exec(e.down, "CREATE TABLE `"+e.derived+"`.all_orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL)")
	writeFile(t, e.configPath, replaceShop(readFile(t, e.configPath), e.shop))
	p := e.start()
	e.load(30, 10, 10)
	for i := 0; i < 20; i++ {
		e.exec(e.up, "INSERT INTO `"+e.shop+"`.orders_eu (customer_id, amount, status, created_at) VALUES (?, ?, 'new', NOW())", i%5, fmt.Sprintf("%d.50", i))
	}
	e.exec(e.up, "UPDATE `"+e.shop+"`.orders_eu SET amount = amount + 1 WHERE customer_id = 2")
	e.exec(e.up, "DELETE FROM `"+e.shop+"`.orders_eu WHERE customer_id = 3")
	e.caughtUp(30 * time.Second)
	e.verify()
	got := e.snapshot(e.down, "SELECT id, customer_id, amount FROM `"+e.derived+"`.all_orders")
	want := e.snapshot(e.up, "SELECT id, customer_id, amount FROM `"+e.shop+"`.orders UNION ALL SELECT id, customer_id, amount FROM `"+e.shop+"`.orders_eu")
	if diff := diffRows(got, want); diff != "" {
		t.Errorf("all_orders differs from the union of both tables:\n%s", diff)
	}
	e.stop(p)
}
