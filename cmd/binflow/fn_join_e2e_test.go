package main

import (
	"fmt"
	"strings"
	"testing"
	"time"
)

// joinFlow enriches the orders a filter keeps with their customer's name
// and country, maintained as customers change.
const joinFlow = `
[[flows]]
name = "joined_orders"
tables = ["SHOP.orders", "SHOP.customers"]
  [[flows.functions]]
  kind = "filter"
  expr = 'status != "cancelled"'
  [[flows.functions]]
  kind = "project"
  columns = ["id", "customer_id", "amount", "status"]
  [[flows.functions]]
  kind = "join"
  table = "SHOP.customers"
  on = { customer_id = "id" }
  columns = ["name", "country"]
  rename = { country = "customer_country" }
  state = "joined_orders__customers"
  [[flows.functions]]
  kind = "sink"
  table = "joined_orders"
  key = ["id"]
`

// moveCustomers changes customers the way the standard workload does not:
// their names, and their ids (the joined key itself).
func (e *env) moveCustomers(n int) {
	e.t.Helper()
	for i := 0; i < n && e.nextCustomer > 0; i++ {
		id := e.rng.Int63n(e.nextCustomer) + 1
		if e.rng.Intn(2) == 0 {
			e.exec(e.up, "UPDATE `"+e.shop+"`.customers SET name = ? WHERE id = ?", fmt.Sprintf("renamed %d", e.rng.Intn(1000)), id)
			continue
		}
		// Swap a customer's id with a free one and back later: orders of the
		// old id lose their customer, orders of the new one gain it.
		e.exec(e.up, "UPDATE IGNORE `"+e.shop+"`.customers SET id = ? WHERE id = ?", id+e.nextCustomer, id)
	}
}

// A join of orders with customers stays equal to the LEFT JOIN on the
// upstream through a snapshot of existing rows, inserts, updates on both
// sides (orders moving between customers, customers renamed, moved to other
// countries, given other ids, deleted), deletes, a kill -9 and a restart.
func TestJoinMatchesSQL(t *testing.T) {
	forEachStore(t, func(t *testing.T, store string) {
		e := newEnv(t, envOptions{store: store, maxRows: 150, extraFlow: joinFlow})
		e.createTables(
			storeDDL{
				mysql: `CREATE TABLE D.joined_orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, amount DECIMAL(12,2) NOT NULL,
					status VARCHAR(20) NOT NULL, name VARCHAR(100) NULL, customer_country CHAR(2) NULL, KEY (customer_id))`,
				postgres: `CREATE TABLE joined_orders (id BIGINT PRIMARY KEY, customer_id BIGINT NOT NULL, amount NUMERIC(12,2) NOT NULL,
					status VARCHAR(20) NOT NULL, name VARCHAR(100) NULL, customer_country CHAR(2) NULL)`,
				sqlite: `CREATE TABLE joined_orders (id INTEGER PRIMARY KEY, customer_id INTEGER NOT NULL, amount TEXT NOT NULL,
					status TEXT NOT NULL, name TEXT NULL, customer_country TEXT NULL) STRICT`,
			},
			storeDDL{
				mysql:    "CREATE TABLE D.joined_orders__customers (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, country CHAR(2) NOT NULL)",
				postgres: "CREATE TABLE joined_orders__customers (id BIGINT PRIMARY KEY, name VARCHAR(100) NOT NULL, country CHAR(2) NOT NULL)",
				sqlite:   "CREATE TABLE joined_orders__customers (id INTEGER PRIMARY KEY, name TEXT NOT NULL, country TEXT NOT NULL) STRICT",
			},
		)
		writeFile(t, e.configPath, replaceShop(readFile(t, e.configPath), e.shop))

		// Rows before binflow starts reach the join through its snapshot.
		e.load(30, 10, 15)
		p := e.start()
		e.waitCheckpoints(flowCount + 1)
		e.load(40, 10, 15)
		e.moveCustomers(10)
		e.kill9(p)
		e.load(40, 10, 15)
		e.moveCustomers(10)
		p = e.start()
		e.load(30, 10, 15)
		e.moveCustomers(10)
		e.caughtUp(60 * time.Second)

		s := "`" + e.shop + "`."
		checks := []struct{ name, derived, oracle string }{
			{"joined_orders",
				"SELECT id, customer_id, amount, status, name, customer_country FROM " + e.tbl("joined_orders"),
				"SELECT o.id, o.customer_id, o.amount, o.status, c.name, c.country FROM " + s + "orders o LEFT JOIN " + s +
					"customers c ON c.id = o.customer_id WHERE o.status <> 'cancelled'"},
			{"joined_orders__customers",
				"SELECT id, name, country FROM " + e.tbl("joined_orders__customers"),
				"SELECT id, name, country FROM " + s + "customers"},
		}
		for _, c := range checks {
			got, want := e.snapshot(e.down, c.derived), e.snapshot(e.up, c.oracle)
			if diff := diffRows(got, want); diff != "" {
				t.Errorf("%s in %s differs from its SQL recomputation (%d rows, %d expected):\n%s", c.name, store, len(got), len(want), diff)
			}
			if len(want) < 5 {
				t.Errorf("%s: only %d rows expected; the workload proves little", c.name, len(want))
			}
		}
		var matched, unmatched int
		if err := e.down.QueryRow("SELECT COUNT(name), COUNT(*) - COUNT(name) FROM "+e.tbl("joined_orders")).Scan(&matched, &unmatched); err != nil {
			t.Fatal(err)
		}
		if matched == 0 || unmatched == 0 {
			t.Errorf("the workload should leave orders with and without a customer; got %d and %d", matched, unmatched)
		}
		e.verify()
		out, code := e.runCommand("verify", "joined_orders")
		if code != 0 || !strings.Contains(out, "match the recomputation") {
			t.Errorf("binflow verify joined_orders on a correct join: exit %d\n%s", code, out)
		}
		// A joined column changed by hand is a difference verify reports.
		var edited int64
		if err := e.down.QueryRow("SELECT MIN(id) FROM " + e.tbl("joined_orders") + " WHERE name IS NOT NULL").Scan(&edited); err != nil {
			t.Fatal(err)
		}
		e.exec(e.down, fmt.Sprintf("UPDATE %s SET customer_country = 'XX' WHERE id = %d", e.tbl("joined_orders"), edited))
		out, code = e.runCommand("verify", "joined_orders")
		if code != 1 || !strings.Contains(out, "1 differing") || !strings.Contains(out, `customer_country: "XX"`) {
			t.Errorf("binflow verify joined_orders after a hand edit: exit %d\n%s", code, out)
		}
		e.stop(p)
	})
}
